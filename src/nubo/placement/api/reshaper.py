"""``POST /reshaper`` (1.30)."""

from __future__ import annotations

from typing import Any

from nubo.api.routing import ApiRequest, Reply
from nubo.placement import reshaper
from nubo.placement.api.allocations import allocation_schema, consumer_request, consumer_uuid_of
from nubo.placement.api.common import RC_PATTERN, UUID_PATTERN, body, placement, require, router
from nubo.placement.api.inventories import RECORD, inventory_from
from nubo.placement.providers import parse_uuid


def _schema_for(req: ApiRequest) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "inventories": {
                "type": "object",
                "patternProperties": {
                    UUID_PATTERN: {
                        "type": "object",
                        "properties": {
                            "resource_provider_generation": {"type": "integer"},
                            "inventories": {
                                "type": "object",
                                "patternProperties": {RC_PATTERN: RECORD},
                                "additionalProperties": False,
                            },
                        },
                        "required": ["resource_provider_generation", "inventories"],
                        "additionalProperties": False,
                    }
                },
                "additionalProperties": False,
            },
            "allocations": {
                "type": "object",
                "patternProperties": {UUID_PATTERN: allocation_schema(req, post=True)},
                "additionalProperties": False,
            },
        },
        "required": ["inventories", "allocations"],
        "additionalProperties": False,
    }


@router.route("POST", "/reshaper", policy="placement:reshaper:reshape")
def reshape(req: ApiRequest) -> Reply:
    require(req, "1.30")
    data = body(req, _schema_for(req))
    stock = {
        parse_uuid(uuid, "resource provider uuid"): (
            item["resource_provider_generation"],
            {rc: inventory_from(raw) for rc, raw in item["inventories"].items()},
        )
        for uuid, item in data["inventories"].items()
    }
    requests = [
        consumer_request(req, consumer_uuid_of(c), item) for c, item in data["allocations"].items()
    ]
    with placement(req).db.session() as s:
        reshaper.reshape(s, stock, requests, reserved_may_equal_total=req.at_least("1.26"))
    return Reply(204)
