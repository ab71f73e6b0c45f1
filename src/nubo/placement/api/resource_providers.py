"""Resource providers: ``/resource_providers`` and ``/resource_providers/{uuid}``, with
their usages and allocations."""

from __future__ import annotations

from typing import Any

from nubo.api.routing import ApiRequest, Reply
from nubo.api.validation import Schema
from nubo.errors import BadRequest
from nubo.placement import allocations, candidates, inventories, providers
from nubo.placement import models as m
from nubo.placement.api.common import (
    UUID_PATTERN,
    body,
    check_query,
    latest,
    link,
    parse_member_of,
    parse_required,
    parse_resources,
    placement,
    reply,
    router,
)
from nubo.placement.providers import parse_uuid
from nubo.placement.resource_classes import unknown_classes

P = "placement:resource_providers:"

_NAME: Schema = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[^\\u0000]+$"}
_PARENT: Schema = {"anyOf": [{"type": "string", "pattern": UUID_PATTERN}, {"type": "null"}]}
CREATE: Schema = {
    "type": "object",
    "properties": {"name": _NAME, "uuid": {"type": "string", "pattern": UUID_PATTERN}},
    "required": ["name"],
    "additionalProperties": False,
}
CREATE_1_14 = {**CREATE, "properties": {**CREATE["properties"], "parent_provider_uuid": _PARENT}}
UPDATE: Schema = {
    "type": "object",
    "properties": {"name": _NAME},
    "required": ["name"],
    "additionalProperties": False,
}
UPDATE_1_14 = {**UPDATE, "properties": {**UPDATE["properties"], "parent_provider_uuid": _PARENT}}


def view(req: ApiRequest, p: candidates.Provider | m.ResourceProvider) -> dict[str, Any]:
    base = f"/resource_providers/{p.uuid}"
    links = [{"rel": "self", "href": link(req, base)}]
    if req.at_least("1.1"):
        links.append({"rel": "aggregates", "href": link(req, base + "/aggregates")})
    links += [
        {"rel": "inventories", "href": link(req, base + "/inventories")},
        {"rel": "usages", "href": link(req, base + "/usages")},
    ]
    if req.at_least("1.6"):
        links.append({"rel": "traits", "href": link(req, base + "/traits")})
    if req.at_least("1.11"):
        links.append({"rel": "allocations", "href": link(req, base + "/allocations")})
    item: dict[str, Any] = {
        "uuid": p.uuid,
        "name": p.name,
        "generation": p.generation,
        "links": links,
    }
    if req.at_least("1.14"):
        item["parent_provider_uuid"] = p.parent_uuid
        item["root_provider_uuid"] = p.root_uuid
    return item


@router.route("GET", "/resource_providers", policy=P + "list")
def list_resource_providers(req: ApiRequest) -> Reply:
    allowed, repeatable = ["name", "uuid"], []
    for version, param in (
        ("1.3", "member_of"),
        ("1.4", "resources"),
        ("1.14", "in_tree"),
        ("1.18", "required"),
    ):
        if req.at_least(version):
            allowed.append(param)
    if req.at_least("1.24"):
        repeatable.append("member_of")
    if req.at_least("1.39"):
        repeatable.append("required")
    check_query(req, allowed, repeatable)
    query = req.query
    uuid = parse_uuid(query["uuid"], "uuid") if "uuid" in query else None
    in_tree = parse_uuid(query["in_tree"], "in_tree") if "in_tree" in query else None
    aggregates = parse_member_of(req, req.query_all("member_of"))
    traits = parse_required(req, req.query_all("required"))
    resources = parse_resources(query["resources"]) if "resources" in query else None
    with placement(req).db.reader() as s:
        if resources:
            missing = unknown_classes(s, resources)
            if missing:
                raise BadRequest(
                    "Invalid resource class in resources parameter: No such resource "
                    f"class {missing[0]}."
                )
        unknown = providers.unknown_traits(s, traits.names())
        if unknown:
            raise BadRequest("No such trait(s): " + ", ".join(unknown) + ".")
        snap = candidates.load(s)
    found = candidates.matching_providers(
        snap,
        name=query.get("name"),
        uuid=uuid,
        in_tree=in_tree,
        resources=resources,
        traits=traits,
        aggregates=aggregates,
    )
    return reply(req, {"resource_providers": [view(req, p) for p in found]})


@router.route("POST", "/resource_providers", policy=P + "create")
def create_resource_provider(req: ApiRequest) -> Reply:
    data = body(req, CREATE_1_14 if req.at_least("1.14") else CREATE)
    with placement(req).db.session() as s:
        row = providers.create_provider(
            s, data["name"], data.get("uuid"), data.get("parent_provider_uuid")
        )
        item = view(req, row)
    location = {"location": f"{req.service_url}/resource_providers/{row.uuid}"}
    if req.at_least("1.20"):
        return reply(req, item, 200, headers=location)
    return Reply(201, None, location)


@router.route("GET", "/resource_providers/{uuid}", policy=P + "show")
def show_resource_provider(req: ApiRequest) -> Reply:
    check_query(req, [])
    with placement(req).db.reader() as s:
        row = providers.get(s, req.params["uuid"])
        return reply(req, view(req, row), modified=latest(row.created_at, row.updated_at))


@router.route("PUT", "/resource_providers/{uuid}", policy=P + "update")
def update_resource_provider(req: ApiRequest) -> Reply:
    data = body(req, UPDATE_1_14 if req.at_least("1.14") else UPDATE)
    parent = data.get("parent_provider_uuid", providers.UNSET)
    with placement(req).db.session() as s:
        row = providers.update_provider(
            s, req.params["uuid"], data["name"], parent, allow_reparent=req.at_least("1.37")
        )
        return reply(req, view(req, row))


@router.route("DELETE", "/resource_providers/{uuid}", policy=P + "delete")
def delete_resource_provider(req: ApiRequest) -> Reply:
    with placement(req).db.session() as s:
        providers.delete_provider(s, req.params["uuid"])
    return Reply(204)


@router.route("GET", "/resource_providers/{uuid}/usages", policy=P + "usages")
def show_provider_usages(req: ApiRequest) -> Reply:
    check_query(req, [])
    with placement(req).db.reader() as s:
        row = providers.get(s, req.params["uuid"])
        used = inventories.usage(s, [row.uuid]).get(row.uuid, {})
        stock = inventories.of_provider(s, row.uuid)
        usages = {rc: used.get(rc, 0) for rc in stock} | used
        data = {"resource_provider_generation": row.generation, "usages": usages}
        return reply(req, data)


@router.route("GET", "/resource_providers/{uuid}/allocations", policy=P + "allocations:list")
def list_provider_allocations(req: ApiRequest) -> Reply:
    check_query(req, [])
    with placement(req).db.reader() as s:
        row = providers.get(s, req.params["uuid"])
        held = allocations.of_provider(s, row.uuid)
        data = {
            "allocations": {c: {"resources": r} for c, r in sorted(held.items())},
            "resource_provider_generation": row.generation,
        }
        return reply(req, data)
