"""Traits: ``/traits`` and a provider's ``/resource_providers/{uuid}/traits`` (1.6)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from nubo.api.routing import ApiRequest, Reply
from nubo.api.validation import parse_bool
from nubo.errors import BadRequest, NotFound
from nubo.placement import codes, providers, traits
from nubo.placement import models as m
from nubo.placement.api.common import body, check_query, placement, reply, require, router

P = "placement:traits:"
RP = "placement:resource_providers:traits:"
PATH = "/resource_providers/{uuid}/traits"

UPDATE = {
    "type": "object",
    "properties": {
        "traits": {
            "type": "array",
            "items": {"type": "string", "pattern": "^[A-Z0-9_]+$", "maxLength": 255},
            "uniqueItems": True,
        },
        "resource_provider_generation": {"type": "integer"},
    },
    "required": ["traits", "resource_provider_generation"],
    "additionalProperties": False,
}


@router.route("GET", "/traits", policy=P + "list")
def list_traits(req: ApiRequest) -> Reply:
    require(req, "1.6")
    check_query(req, ["name", "associated"])
    query = req.query
    only: set[str] | None = None
    prefix: str | None = None
    if "name" in query:
        text = query["name"]
        if text.startswith("in:"):
            only = {t.strip() for t in text[3:].split(",")}
        elif text.startswith("startswith:"):
            prefix = text[len("startswith:") :]
        else:
            raise BadRequest(
                "Badly formed name parameter. Expected name query string parameter in form: "
                f"?name=startswith:CUSTOM_ or ?name=in:HW_CPU_X86_AVX,CUSTOM_GOLD. Got: {text}",
                kind=codes.QUERY_BAD_VALUE,
            )
    associated = parse_bool(query["associated"], "associated") if "associated" in query else None
    with placement(req).db.reader() as s:
        found = traits.names(s, only=only, prefix=prefix, associated=associated)
    return reply(req, {"traits": found})


@router.route("GET", "/traits/{name}", policy=P + "show")
def show_trait(req: ApiRequest) -> Reply:
    require(req, "1.6")
    name = req.params["name"]
    with placement(req).db.reader() as s:
        if not traits.exists(s, name):
            raise NotFound(f"No such trait(s): {name}.")
    return Reply(204, headers=_cache(req))


def _cache(req: ApiRequest) -> dict[str, str]:
    return dict(reply(req, None).headers)


@router.route("PUT", "/traits/{name}", policy=P + "update", body_optional=True)
def create_trait(req: ApiRequest) -> Reply:
    require(req, "1.6")
    name = req.params["name"]
    with placement(req).db.session() as s:
        created = traits.ensure(s, name)
    headers = {"location": f"{req.service_url}/traits/{name}"}
    return Reply(201 if created else 204, headers=headers)


@router.route("DELETE", "/traits/{name}", policy=P + "delete")
def delete_trait(req: ApiRequest) -> Reply:
    require(req, "1.6")
    with placement(req).db.session() as s:
        traits.delete_trait(s, req.params["name"])
    return Reply(204)


def _provider_traits(s: Session, row: m.ResourceProvider) -> dict[str, Any]:
    return {
        "traits": sorted(providers.traits_of(s, [row.uuid]).get(row.uuid, set())),
        "resource_provider_generation": row.generation,
    }


@router.route("GET", PATH, policy=RP + "list")
def list_provider_traits(req: ApiRequest) -> Reply:
    require(req, "1.6")
    check_query(req, [])
    with placement(req).db.reader() as s:
        row = providers.get(s, req.params["uuid"])
        return reply(req, _provider_traits(s, row))


@router.route("PUT", PATH, policy=RP + "update")
def update_provider_traits(req: ApiRequest) -> Reply:
    require(req, "1.6")
    data = body(req, UPDATE)
    with placement(req).db.session() as s:
        row = providers.get(s, req.params["uuid"])
        providers.set_traits(s, row.uuid, data["traits"], data["resource_provider_generation"])
        return reply(req, _provider_traits(s, row))


@router.route("DELETE", PATH, policy=RP + "delete")
def delete_provider_traits(req: ApiRequest) -> Reply:
    require(req, "1.6")
    with placement(req).db.session() as s:
        row = providers.get(s, req.params["uuid"])
        providers.set_traits(s, row.uuid, [], None)
    return Reply(204)
