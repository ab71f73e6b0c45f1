"""Inventories: ``/resource_providers/{uuid}/inventories[/{resource_class}]``."""

from __future__ import annotations

from typing import Any

from nubo.api.routing import ApiRequest, Reply
from nubo.errors import MethodNotAllowed, NotFound
from nubo.placement import inventories, providers
from nubo.placement import models as m
from nubo.placement.api.common import (
    RC_PATTERN,
    body,
    check_query,
    placement,
    reply,
    router,
)
from nubo.placement.inventories import MAX_INT, Inventory

P = "placement:resource_providers:inventories:"
PATH = "/resource_providers/{uuid}/inventories"

_INT = {"type": "integer", "maximum": MAX_INT}
_FIELDS: dict[str, Any] = {
    "total": {**_INT, "minimum": 1},
    "reserved": {**_INT, "minimum": 0},
    "min_unit": {**_INT, "minimum": 1},
    "max_unit": {**_INT, "minimum": 1},
    "step_size": {**_INT, "minimum": 1},
    "allocation_ratio": {"type": "number", "minimum": 0, "maximum": 3.40282e38},
}
_GENERATION = {"type": "integer"}
RECORD = {
    "type": "object",
    "properties": _FIELDS,
    "required": ["total"],
    "additionalProperties": False,
}
REPLACE_ALL = {
    "type": "object",
    "properties": {
        "resource_provider_generation": _GENERATION,
        "inventories": {
            "type": "object",
            "patternProperties": {RC_PATTERN: RECORD},
            "additionalProperties": False,
        },
    },
    "required": ["resource_provider_generation", "inventories"],
    "additionalProperties": False,
}
CREATE_ONE = {
    "type": "object",
    "properties": {
        **_FIELDS,
        "resource_provider_generation": _GENERATION,
        "resource_class": {"type": "string", "pattern": RC_PATTERN},
    },
    "required": ["total", "resource_class"],
    "additionalProperties": False,
}
UPDATE_ONE = {
    "type": "object",
    "properties": {**_FIELDS, "resource_provider_generation": _GENERATION},
    "required": ["total", "resource_provider_generation"],
    "additionalProperties": False,
}


def inventory_from(data: dict[str, Any]) -> Inventory:
    """An inventory from a body, with the API's defaults (max_unit: the largest int)."""
    return Inventory(
        total=data["total"],
        reserved=data.get("reserved", 0),
        min_unit=data.get("min_unit", 1),
        max_unit=data.get("max_unit", MAX_INT),
        step_size=data.get("step_size", 1),
        allocation_ratio=float(data.get("allocation_ratio", 1.0)),
    )


def _all(row: m.ResourceProvider, stock: dict[str, Inventory]) -> dict[str, Any]:
    return {
        "inventories": {rc: inv.as_dict() for rc, inv in sorted(stock.items())},
        "resource_provider_generation": row.generation,
    }


def _one(row: m.ResourceProvider, inv: Inventory) -> dict[str, Any]:
    return {**inv.as_dict(), "resource_provider_generation": row.generation}


@router.route("GET", PATH, policy=P + "list")
def list_inventories(req: ApiRequest) -> Reply:
    check_query(req, [])
    with placement(req).db.reader() as s:
        row = providers.get(s, req.params["uuid"])
        return reply(req, _all(row, inventories.of_provider(s, row.uuid)))


@router.route("PUT", PATH, policy=P + "update")
def replace_inventories(req: ApiRequest) -> Reply:
    data = body(req, REPLACE_ALL)
    wanted = {rc: inventory_from(raw) for rc, raw in data["inventories"].items()}
    with placement(req).db.session() as s:
        providers.get(s, req.params["uuid"])
        row = inventories.replace(
            s,
            req.params["uuid"],
            wanted,
            generation=data["resource_provider_generation"],
            reserved_may_equal_total=req.at_least("1.26"),
        )
        return reply(req, _all(row, inventories.of_provider(s, row.uuid)))


@router.route("POST", PATH, policy=P + "create")
def create_inventory(req: ApiRequest) -> Reply:
    data = body(req, CREATE_ONE)
    rc = data["resource_class"]
    with placement(req).db.session() as s:
        row = inventories.set_one(
            s,
            providers.get(s, req.params["uuid"]).uuid,
            rc,
            inventory_from(data),
            generation=data.get("resource_provider_generation"),
            create=True,
            reserved_may_equal_total=req.at_least("1.26"),
        )
        item = _one(row, inventories.of_provider(s, row.uuid)[rc])
    location = f"{req.service_url}/resource_providers/{row.uuid}/inventories/{rc}"
    return reply(req, item, 201, headers={"location": location})


@router.route("DELETE", PATH, policy=P + "delete")
def delete_inventories(req: ApiRequest) -> Reply:
    if not req.at_least("1.5"):  # before 1.5 the collection has no DELETE
        raise MethodNotAllowed("The method DELETE is not allowed for this resource.")
    with placement(req).db.session() as s:
        row = providers.get(s, req.params["uuid"])
        inventories.replace(s, row.uuid, {})
    return Reply(204)


@router.route("GET", PATH + "/{resource_class}", policy=P + "show")
def show_inventory(req: ApiRequest) -> Reply:
    check_query(req, [])
    rc = req.params["resource_class"]
    with placement(req).db.reader() as s:
        row = providers.get(s, req.params["uuid"])
        inv = inventories.of_provider(s, row.uuid).get(rc)
        if inv is None:
            raise NotFound(f"No inventory of class {rc} for {row.uuid}")
        return reply(req, _one(row, inv))


@router.route("PUT", PATH + "/{resource_class}", policy=P + "update")
def update_inventory(req: ApiRequest) -> Reply:
    data = body(req, UPDATE_ONE)
    rc = req.params["resource_class"]
    with placement(req).db.session() as s:
        row = inventories.set_one(
            s,
            providers.get(s, req.params["uuid"]).uuid,
            rc,
            inventory_from(data),
            generation=data["resource_provider_generation"],
            create=False,
            reserved_may_equal_total=req.at_least("1.26"),
        )
        return reply(req, _one(row, inventories.of_provider(s, row.uuid)[rc]))


@router.route("DELETE", PATH + "/{resource_class}", policy=P + "delete")
def delete_inventory(req: ApiRequest) -> Reply:
    with placement(req).db.session() as s:
        row = providers.get(s, req.params["uuid"])
        inventories.delete_one(s, row.uuid, req.params["resource_class"])
    return Reply(204)
