"""Tags on any taggable resource: /v2.0/{collection}/{id}/tags[/{tag}]."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from nubo.api.routing import ApiRequest, Reply
from nubo.errors import BadRequest, NotFound
from nubo.network import networks, tags
from nubo.network.access import Caller, touch
from nubo.network.api.common import caller, route, service

Finder = Callable[[Session, Caller, str], Any]

# collection -> (resource name for policy, finder that 404s on what the caller can't see)
TAGGABLE: dict[str, tuple[str, Finder]] = {
    "networks": ("network", networks.find),
}


def register(collection: str, resource: str, finder: Finder) -> None:
    """Make a collection taggable (each resource module calls this for its own)."""
    TAGGABLE[collection] = (resource, finder)


def _target(s: Session, req: ApiRequest, write: bool) -> Any:
    collection = req.params["collection"]
    if collection not in TAGGABLE:
        raise NotFound(f"Resource {collection} does not support tags.")
    resource, finder = TAGGABLE[collection]
    who = caller(req)
    row = finder(s, who, req.params["resource_id"])
    if write:
        who.check(f"update_{resource}", {"project_id": row.project_id})
    return row


@route("GET", "/v2.0/{collection}/{resource_id}/tags")
def list_tags(req: ApiRequest) -> Reply:
    with service(req).db.reader() as s:
        row = _target(s, req, False)
        return Reply(200, {"tags": tags.of(s, req.params["collection"], row.id)})


@route("GET", "/v2.0/{collection}/{resource_id}/tags/{tag}")
def check_tag(req: ApiRequest) -> Reply:
    with service(req).db.reader() as s:
        row = _target(s, req, False)
        if req.params["tag"] not in tags.of(s, req.params["collection"], row.id):
            raise NotFound(f"Tag {req.params['tag']} could not be found.", kind="TagNotFound")
    return Reply(204)


@route("PUT", "/v2.0/{collection}/{resource_id}/tags")
def replace_tags(req: ApiRequest) -> Reply:
    data = req.json()
    if not isinstance(data, dict) or not isinstance(data.get("tags"), list):
        raise BadRequest("Invalid input for operation: a body {'tags': [...]} is required.")
    with service(req).db.session() as s:
        row = _target(s, req, True)
        result = tags.replace(s, req.params["collection"], row.id, data["tags"])
        touch(row)
    return Reply(200, {"tags": result})


@route("PUT", "/v2.0/{collection}/{resource_id}/tags/{tag}")
def add_tag(req: ApiRequest) -> Reply:
    tag = tags.check(req.params["tag"])
    with service(req).db.session() as s:
        row = _target(s, req, True)
        tags.add(s, req.params["collection"], row.id, tag)
        touch(row)
    return Reply(201)


@route("DELETE", "/v2.0/{collection}/{resource_id}/tags")
def delete_tags(req: ApiRequest) -> Reply:
    with service(req).db.session() as s:
        row = _target(s, req, True)
        tags.drop_many(s, req.params["collection"], [row.id])
        touch(row)
    return Reply(204)


@route("DELETE", "/v2.0/{collection}/{resource_id}/tags/{tag}")
def delete_tag(req: ApiRequest) -> Reply:
    with service(req).db.session() as s:
        row = _target(s, req, True)
        if not tags.remove(s, req.params["collection"], row.id, req.params["tag"]):
            raise NotFound(f"Tag {req.params['tag']} could not be found.", kind="TagNotFound")
        touch(row)
    return Reply(204)
