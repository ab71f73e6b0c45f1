"""The images proxy: ``/images`` (list, detail, show, delete; to 2.35) and
``/images/{id}/metadata`` (to 2.38). Newer microversions get 404, as from Nova."""

from __future__ import annotations

from typing import Any

from nubo.api.routing import ApiRequest, Reply
from nubo.compute.api.common import caller, compute, next_links, router
from nubo.compute.proxies import images
from nubo.compute.server_metadata import check_metadata
from nubo.errors import BadRequest, NotFound

BASE = "/v2.1/images"
META = BASE + "/{image_id}/metadata"


def _gate(req: ApiRequest, newest: str = "2.35") -> None:
    """Nova serves the proxy up to ``newest``; later it is gone (404)."""
    if req.at_least(_next(newest)):
        raise NotFound("The resource could not be found.")


def _next(version: str) -> str:
    major, minor = version.split(".")
    return f"{major}.{int(minor) + 1}"


def _image_url(req: ApiRequest) -> str:
    return f"{req.base_url}/image"


def _view(req: ApiRequest, image: Any, detail: bool = True) -> dict[str, Any]:
    return images.view(image, req.service_url, _image_url(req), detail=detail)


def _list(req: ApiRequest, detail: bool) -> Reply:
    _gate(req)
    query = images.parse_query(req.query_items)
    rows = images.list_images(compute(req), caller(req), query)
    items = [_view(req, r, detail) for r in rows]
    body: dict[str, Any] = {"images": items}
    links = next_links(req, items, query.limit, "images")
    if links:
        body["images_links"] = links
    return Reply(200, body)


@router.route("GET", BASE)
def list_images(req: ApiRequest) -> Reply:
    return _list(req, detail=False)


@router.route("GET", BASE + "/detail")
def list_images_detail(req: ApiRequest) -> Reply:
    return _list(req, detail=True)


@router.route("DELETE", BASE)
def delete_without_id(req: ApiRequest) -> Reply:
    # ``DELETE /images/`` (an empty id): no such image
    raise NotFound("The resource could not be found.")


@router.route("GET", BASE + "/{image_id}")
def show_image(req: ApiRequest) -> Reply:
    _gate(req)
    image = images.get_image(compute(req), caller(req), req.params["image_id"])
    return Reply(200, {"image": _view(req, image)})


@router.route("DELETE", BASE + "/{image_id}")
def delete_image(req: ApiRequest) -> Reply:
    _gate(req)
    images.delete_image(compute(req), caller(req), req.params["image_id"])
    return Reply(204)


# -- metadata ---------------------------------------------------------------------------------


def _body(req: ApiRequest, key: str) -> Any:
    body = req.json()
    if not isinstance(body, dict) or key not in body:
        raise BadRequest(f"Invalid input for field/attribute {key}. '{key}' is a required property")
    extra = sorted(set(body) - {key})
    if extra:
        raise BadRequest(
            f"Additional properties are not allowed ({', '.join(repr(k) for k in extra)} "
            "were unexpected)"
        )
    return body[key]


@router.route("GET", META)
def list_metadata(req: ApiRequest) -> Reply:
    _gate(req, "2.38")
    items = images.metadata(compute(req), caller(req), req.params["image_id"])
    return Reply(200, {"metadata": items})


@router.route("POST", META)
def create_metadata(req: ApiRequest) -> Reply:
    _gate(req, "2.38")
    values = check_metadata(_body(req, "metadata"))
    merged = images.update_metadata(
        compute(req), caller(req), req.params["image_id"], values, replace=False
    )
    return Reply(200, {"metadata": merged})


@router.route("PUT", META)
def replace_metadata(req: ApiRequest) -> Reply:
    _gate(req, "2.38")
    values = check_metadata(_body(req, "metadata"))
    images.update_metadata(compute(req), caller(req), req.params["image_id"], values, replace=True)
    return Reply(200, {"metadata": values})


@router.route("GET", META + "/{key}")
def show_metadata_item(req: ApiRequest) -> Reply:
    _gate(req, "2.38")
    key = req.params["key"]
    value = images.metadata_item(compute(req), caller(req), req.params["image_id"], key)
    return Reply(200, {"meta": {key: value}})


@router.route("PUT", META + "/{key}")
def update_metadata_item(req: ApiRequest) -> Reply:
    _gate(req, "2.38")
    key = req.params["key"]
    meta = _body(req, "meta")
    if isinstance(meta, dict) and len(meta) != 1:
        raise BadRequest(
            f"Invalid input for field/attribute meta. Value: {meta!r}. "
            "It must have exactly one property"
        )
    item = check_metadata(meta, "meta")
    if key not in item:
        raise BadRequest("Request body and URI mismatch")
    images.update_metadata(compute(req), caller(req), req.params["image_id"], item, replace=False)
    return Reply(200, {"meta": item})


@router.route("DELETE", META + "/{key}")
def delete_metadata_item(req: ApiRequest) -> Reply:
    _gate(req, "2.38")
    images.delete_metadata_item(
        compute(req), caller(req), req.params["image_id"], req.params["key"]
    )
    return Reply(204)
