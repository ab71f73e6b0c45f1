"""Images: create, list, show, JSON-patch update, delete, tags, (de)activation."""

from __future__ import annotations

from urllib.parse import urlencode

from nubo.api.routing import ApiRequest, Reply
from nubo.errors import UnsupportedMediaType
from nubo.image import patch, views
from nubo.image.api.common import caller, images, route

NO_CONTENT = Reply(204)


def _import_headers(req: ApiRequest) -> dict[str, str]:
    svc = images(req)
    return {
        "openstack-image-import-methods": ",".join(svc.import_methods()),
        "openstack-image-store-ids": svc.store.name,
    }


@route("POST", "/v2/images", policy="get_images")
def create_image(req: ApiRequest) -> Reply:
    svc = images(req)
    row, tags = svc.images.create(caller(req), req.json())
    headers = {"location": f"{req.service_url}/v2/images/{row.id}", **_import_headers(req)}
    return Reply(201, views.image(row, tags, svc.store.name), headers)


@route("GET", "/v2/images", policy="get_images")
def list_images(req: ApiRequest) -> Reply:
    svc = images(req)
    rows, tags, q = svc.images.list_images(caller(req), req.query_items)
    body = {
        "images": [views.image(r, tags.get(r.id, []), svc.store.name) for r in rows],
        "schema": "/v2/schemas/images",
        "first": "/v2/images" + (f"?{urlencode(req.query_items)}" if req.query_items else ""),
    }
    if rows and len(rows) == q.limit:
        kept = [(k, v) for k, v in req.query_items if k != "marker"]
        body["next"] = "/v2/images?" + urlencode([*kept, ("marker", rows[-1].id)])
    return Reply(200, body)


@route("GET", "/v2/images/{image_id}", policy="get_image")
def show_image(req: ApiRequest) -> Reply:
    svc = images(req)
    row, tags = svc.images.get(caller(req), req.params["image_id"])
    return Reply(200, views.image(row, tags, svc.store.name))


@route("PATCH", "/v2/images/{image_id}")
def update_image(req: ApiRequest) -> Reply:
    media_type = req.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in patch.MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"Content type {media_type or '(none)'} is not supported; send {patch.MEDIA_TYPES[0]}."
        )
    svc = images(req)
    row, tags = svc.images.update(caller(req), req.params["image_id"], req.json(), media_type)
    return Reply(200, views.image(row, tags, svc.store.name))


@route("DELETE", "/v2/images/{image_id}")
def delete_image(req: ApiRequest) -> Reply:
    images(req).images.delete(caller(req), req.params["image_id"])
    return NO_CONTENT


@route("PUT", "/v2/images/{image_id}/tags/{tag}")
def add_tag(req: ApiRequest) -> Reply:
    images(req).images.add_tag(caller(req), req.params["image_id"], req.params["tag"])
    return NO_CONTENT


@route("DELETE", "/v2/images/{image_id}/tags/{tag}")
def delete_tag(req: ApiRequest) -> Reply:
    images(req).images.delete_tag(caller(req), req.params["image_id"], req.params["tag"])
    return NO_CONTENT


@route("POST", "/v2/images/{image_id}/actions/deactivate")
def deactivate_image(req: ApiRequest) -> Reply:
    images(req).images.deactivate(caller(req), req.params["image_id"])
    return NO_CONTENT


@route("POST", "/v2/images/{image_id}/actions/reactivate")
def reactivate_image(req: ApiRequest) -> Reply:
    images(req).images.reactivate(caller(req), req.params["image_id"])
    return NO_CONTENT
