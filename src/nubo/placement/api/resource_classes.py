"""Resource classes: ``/resource_classes`` (custom ones from 1.2)."""

from __future__ import annotations

from typing import Any

from nubo.api.routing import ApiRequest, Reply
from nubo.placement import resource_classes
from nubo.placement.api.common import body, check_query, link, placement, reply, require, router

P = "placement:resource_classes:"

NAMED = {
    "type": "object",
    "properties": {"name": {"type": "string", "pattern": "^CUSTOM_[A-Z0-9_]+$", "maxLength": 255}},
    "required": ["name"],
    "additionalProperties": False,
}


def _view(req: ApiRequest, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "links": [{"rel": "self", "href": link(req, f"/resource_classes/{name}")}],
    }


@router.route("GET", "/resource_classes", policy=P + "list")
def list_resource_classes(req: ApiRequest) -> Reply:
    require(req, "1.2")
    check_query(req, [])
    with placement(req).db.reader() as s:
        names = resource_classes.names(s)
    return reply(req, {"resource_classes": [_view(req, n) for n in names]})


@router.route("POST", "/resource_classes", policy=P + "create")
def create_resource_class(req: ApiRequest) -> Reply:
    require(req, "1.2")
    name = body(req, NAMED)["name"]
    with placement(req).db.session() as s:
        resource_classes.create(s, name)
    return Reply(201, headers={"location": f"{req.service_url}/resource_classes/{name}"})


@router.route("GET", "/resource_classes/{name}", policy=P + "show")
def show_resource_class(req: ApiRequest) -> Reply:
    require(req, "1.2")
    check_query(req, [])
    with placement(req).db.reader() as s:
        name = resource_classes.get(s, req.params["name"])
    return reply(req, _view(req, name))


@router.route("PUT", "/resource_classes/{name}", policy=P + "update", body_optional=True)
def update_resource_class(req: ApiRequest) -> Reply:
    require(req, "1.2")
    name = req.params["name"]
    if req.at_least("1.7"):
        # from 1.7 PUT creates the class if needed and takes no body
        with placement(req).db.session() as s:
            created = resource_classes.ensure(s, name)
        headers = {"location": f"{req.service_url}/resource_classes/{name}"}
        return Reply(201 if created else 204, headers=headers)
    new_name = body(req, NAMED)["name"]
    with placement(req).db.session() as s:
        resource_classes.rename(s, name, new_name)
    return reply(req, _view(req, new_name))


@router.route("DELETE", "/resource_classes/{name}", policy=P + "delete")
def delete_resource_class(req: ApiRequest) -> Reply:
    require(req, "1.2")
    with placement(req).db.session() as s:
        resource_classes.delete_class(s, req.params["name"])
    return Reply(204)
