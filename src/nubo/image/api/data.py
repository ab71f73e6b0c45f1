"""Image data: upload and download, staging and import."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.errors import UnsupportedMediaType
from nubo.image import schemas, views
from nubo.image.api.common import caller, content_length, images, route

OCTET_STREAM = "application/octet-stream"


def _octet_stream(req: ApiRequest) -> None:
    media_type = req.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != OCTET_STREAM:
        raise UnsupportedMediaType(
            f"Content type {media_type or '(none)'} is not supported; send {OCTET_STREAM}."
        )


@route("PUT", "/v2/images/{image_id}/file", stream=True)
def upload_image(req: ApiRequest) -> Reply:
    _octet_stream(req)
    images(req).data.upload(
        caller(req), req.params["image_id"], req.body_chunks(), content_length(req)
    )
    return Reply(204)


@route("GET", "/v2/images/{image_id}/file")
def download_image(req: ApiRequest) -> Reply:
    got = images(req).data.download(caller(req), req.params["image_id"], req.headers.get("range"))
    if got is None:
        return Reply(204)
    headers = {"content-length": str(got.end - got.start + 1)}
    if got.image.checksum:
        headers["content-md5"] = got.image.checksum
    if got.partial:
        headers["content-range"] = f"bytes {got.start}-{got.end}/{got.total}"
    return Reply(
        206 if got.partial else 200, None, headers, content_type=OCTET_STREAM, stream=got.chunks
    )


@route("PUT", "/v2/images/{image_id}/stage", stream=True)
def stage_image(req: ApiRequest) -> Reply:
    _octet_stream(req)
    images(req).data.stage(
        caller(req), req.params["image_id"], req.body_chunks(), content_length(req)
    )
    return Reply(204)


@route("POST", "/v2/images/{image_id}/import", body=schemas.IMPORT)
def import_image(req: ApiRequest) -> Reply:
    images(req).data.start_import(caller(req), req.params["image_id"], req.json())
    return Reply(202)


@route("GET", "/v2/images/{image_id}/tasks")
def list_image_tasks(req: ApiRequest) -> Reply:
    rows = images(req).data.tasks(caller(req), req.params["image_id"])
    return Reply(200, {"tasks": [views.task(r) for r in rows]})
