"""Server tags (2.26+): ``/servers/{id}/tags`` and ``/servers/{id}/tags/{tag}``."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.compute import server_metadata
from nubo.compute.api.common import caller, compute, router
from nubo.errors import BadRequest, NotFound

BASE = "/v2.1/servers/{server_id}/tags"


def _since_2_26(req: ApiRequest) -> None:
    if not req.at_least("2.26"):
        raise NotFound("The resource could not be found.")


@router.route("GET", BASE)
def list_tags(req: ApiRequest) -> Reply:
    _since_2_26(req)
    tags = server_metadata.list_tags(compute(req), caller(req), req.params["server_id"])
    return Reply(200, {"tags": tags})


@router.route("PUT", BASE)
def replace_tags(req: ApiRequest) -> Reply:
    _since_2_26(req)
    body = req.json()
    if not isinstance(body, dict) or "tags" not in body:
        raise BadRequest("Invalid input for field/attribute tags. 'tags' is a required property")
    if set(body) != {"tags"}:
        raise BadRequest("Additional properties are not allowed: only 'tags' is expected")
    tags = server_metadata.replace_tags(
        compute(req), caller(req), req.params["server_id"], body["tags"]
    )
    return Reply(200, {"tags": tags})


@router.route("DELETE", BASE)
def delete_tags(req: ApiRequest) -> Reply:
    _since_2_26(req)
    server_metadata.delete_tags(compute(req), caller(req), req.params["server_id"])
    return Reply(204)


@router.route("GET", BASE + "/{tag}")
def check_tag(req: ApiRequest) -> Reply:
    _since_2_26(req)
    server_metadata.has_tag(compute(req), caller(req), req.params["server_id"], req.params["tag"])
    return Reply(204)


@router.route("PUT", BASE + "/{tag}", body_optional=True)
def add_tag(req: ApiRequest) -> Reply:
    _since_2_26(req)
    server_id, tag = req.params["server_id"], req.params["tag"]
    if server_metadata.add_tag(compute(req), caller(req), server_id, tag):
        location = f"{req.service_url}/v2.1/servers/{server_id}/tags/{tag}"
        return Reply(201, headers={"location": location})
    return Reply(204)


@router.route("DELETE", BASE + "/{tag}")
def delete_tag(req: ApiRequest) -> Reply:
    _since_2_26(req)
    server_metadata.delete_tag(
        compute(req), caller(req), req.params["server_id"], req.params["tag"]
    )
    return Reply(204)
