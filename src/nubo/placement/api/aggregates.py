"""A provider's aggregates: ``/resource_providers/{uuid}/aggregates`` (1.1)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from nubo.api.routing import ApiRequest, Reply
from nubo.placement import models as m
from nubo.placement import providers
from nubo.placement.api.common import (
    UUID_PATTERN,
    body,
    check_query,
    placement,
    reply,
    require,
    router,
)

P = "placement:resource_providers:aggregates:"
PATH = "/resource_providers/{uuid}/aggregates"

_LIST = {"type": "array", "items": {"type": "string", "pattern": UUID_PATTERN}, "uniqueItems": True}
UPDATE = _LIST
UPDATE_1_19 = {
    "type": "object",
    "properties": {"aggregates": _LIST, "resource_provider_generation": {"type": "integer"}},
    "required": ["aggregates", "resource_provider_generation"],
    "additionalProperties": False,
}


def _view(req: ApiRequest, s: Session, row: m.ResourceProvider) -> dict[str, Any]:
    data: dict[str, Any] = {
        "aggregates": sorted(providers.aggregates_of(s, [row.uuid]).get(row.uuid, set()))
    }
    if req.at_least("1.19"):
        data["resource_provider_generation"] = row.generation
    return data


@router.route("GET", PATH, policy=P + "list")
def list_provider_aggregates(req: ApiRequest) -> Reply:
    require(req, "1.1")
    check_query(req, [])
    with placement(req).db.reader() as s:
        row = providers.get(s, req.params["uuid"])
        return reply(req, _view(req, s, row))


@router.route("PUT", PATH, policy=P + "update")
def update_provider_aggregates(req: ApiRequest) -> Reply:
    require(req, "1.1")
    if req.at_least("1.19"):
        data = body(req, UPDATE_1_19)
        wanted, generation = data["aggregates"], data["resource_provider_generation"]
    else:
        wanted, generation = body(req, UPDATE), None
    with placement(req).db.session() as s:
        row = providers.get(s, req.params["uuid"])
        providers.set_aggregates(s, row.uuid, wanted, generation)
        return reply(req, _view(req, s, row))
