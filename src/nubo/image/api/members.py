"""Image members: sharing an image with other projects."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.image import schemas, views
from nubo.image.api.common import caller, images, route


@route("POST", "/v2/images/{image_id}/members", body=schemas.MEMBER_CREATE)
def create_member(req: ApiRequest) -> Reply:
    p = req.params
    row = images(req).members.add(caller(req), p["image_id"], req.json()["member"])
    return Reply(200, views.member(row))


@route("GET", "/v2/images/{image_id}/members")
def list_members(req: ApiRequest) -> Reply:
    rows = images(req).members.list_members(caller(req), req.params["image_id"])
    return Reply(200, {"members": [views.member(r) for r in rows], "schema": "/v2/schemas/members"})


@route("GET", "/v2/images/{image_id}/members/{member_id}")
def show_member(req: ApiRequest) -> Reply:
    p = req.params
    row = images(req).members.get(caller(req), p["image_id"], p["member_id"])
    return Reply(200, views.member(row))


@route("PUT", "/v2/images/{image_id}/members/{member_id}", body=schemas.MEMBER_UPDATE)
def update_member(req: ApiRequest) -> Reply:
    p = req.params
    status = req.json()["status"]
    row = images(req).members.update(caller(req), p["image_id"], p["member_id"], status)
    return Reply(200, views.member(row))


@route("DELETE", "/v2/images/{image_id}/members/{member_id}")
def delete_member(req: ApiRequest) -> Reply:
    p = req.params
    images(req).members.delete(caller(req), p["image_id"], p["member_id"])
    return Reply(204)
