"""Allocations: ``/allocations/{consumer_uuid}``, ``POST /allocations`` (1.13) and a
project's totals at ``/usages`` (1.9)."""

from __future__ import annotations

import copy
import uuid as uuidlib
from typing import Any

from nubo.api.routing import ApiRequest, Reply
from nubo.api.validation import Schema
from nubo.errors import BadRequest
from nubo.placement import allocations, providers
from nubo.placement.allocations import UNCHECKED, Amounts, ConsumerRequest
from nubo.placement.api.common import (
    RC_PATTERN,
    UUID_PATTERN,
    body,
    check_query,
    placement,
    reply,
    require,
    router,
)
from nubo.placement.standards import NAME_RE

P = "placement:allocations:"

_ID = {"type": "string", "minLength": 1, "maxLength": 255}
_RESOURCES = {
    "type": "object",
    "minProperties": 1,
    "patternProperties": {RC_PATTERN: {"type": "integer", "minimum": 1, "maximum": 2147483647}},
    "additionalProperties": False,
}
_TYPE = {"type": "string", "pattern": RC_PATTERN, "minLength": 1, "maxLength": 255}
_GROUP = "^$|^[a-zA-Z0-9_-]{1,64}$"
_MAPPINGS = {
    "type": "object",
    "minProperties": 1,
    "patternProperties": {
        _GROUP: {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "pattern": UUID_PATTERN},
        }
    },
    "additionalProperties": False,
}

# before 1.12: a list of {"resource_provider": {"uuid"}, "resources"}
_LIST_FORM: Schema = {
    "type": "object",
    "properties": {
        "allocations": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "resource_provider": {
                        "type": "object",
                        "properties": {"uuid": {"type": "string", "pattern": UUID_PATTERN}},
                        "required": ["uuid"],
                        "additionalProperties": False,
                    },
                    "resources": _RESOURCES,
                },
                "required": ["resource_provider", "resources"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["allocations"],
    "additionalProperties": False,
}


def allocation_schema(req: ApiRequest, *, post: bool = False) -> Schema:
    """The body of one consumer's allocations at this microversion."""
    if not req.at_least("1.12"):
        schema = copy.deepcopy(_LIST_FORM)
        if req.at_least("1.8"):
            schema["properties"] |= {"project_id": _ID, "user_id": _ID}
            schema["required"] += ["project_id", "user_id"]
        return schema
    schema = {
        "type": "object",
        "properties": {
            "allocations": {
                "type": "object",
                # an empty object removes the consumer's allocations (POST; PUT from 1.28)
                "minProperties": 0 if post or req.at_least("1.28") else 1,
                "patternProperties": {
                    UUID_PATTERN: {
                        "type": "object",
                        "properties": {"generation": {"type": "integer"}, "resources": _RESOURCES},
                        "required": ["resources"],
                        "additionalProperties": False,
                    }
                },
                "additionalProperties": False,
            },
            "project_id": _ID,
            "user_id": _ID,
        },
        "required": ["allocations", "project_id", "user_id"],
        "additionalProperties": False,
    }
    if req.at_least("1.28"):
        schema["properties"]["consumer_generation"] = {"type": ["integer", "null"]}
        schema["required"].append("consumer_generation")
    if req.at_least("1.34"):
        schema["properties"]["mappings"] = _MAPPINGS
    if req.at_least("1.38"):
        schema["properties"]["consumer_type"] = _TYPE
        schema["required"].append("consumer_type")
    return schema


def consumer_uuid_of(text: str) -> str:
    try:
        return str(uuidlib.UUID(text))
    except ValueError:
        raise BadRequest(f"Malformed consumer_uuid: {text}") from None


def consumer_request(req: ApiRequest, consumer: str, data: dict[str, Any]) -> ConsumerRequest:
    amounts: Amounts = {}
    raw = data["allocations"]
    if isinstance(raw, list):
        for item in raw:
            provider = providers.parse_uuid(item["resource_provider"]["uuid"], "provider uuid")
            amounts.setdefault(provider, {}).update(item["resources"])
    else:
        for provider, item in raw.items():
            amounts[providers.parse_uuid(provider, "provider uuid")] = dict(item["resources"])
    return ConsumerRequest(
        consumer,
        amounts,
        project_id=data.get("project_id"),
        user_id=data.get("user_id"),
        generation=data["consumer_generation"] if req.at_least("1.28") else UNCHECKED,
        consumer_type=data.get("consumer_type"),
    )


@router.route("GET", "/allocations/{consumer_uuid}", policy=P + "list")
def list_allocations(req: ApiRequest) -> Reply:
    check_query(req, [])
    try:
        consumer_uuid = str(uuidlib.UUID(req.params["consumer_uuid"]))
    except ValueError:
        consumer_uuid = req.params["consumer_uuid"]
    with placement(req).db.reader() as s:
        held = allocations.of_consumer(s, consumer_uuid)
        rows = {p: providers.find(s, p) for p in held}
        consumer = allocations.consumer(s, consumer_uuid)
    listed: dict[str, Any] = {}
    for p, classes in sorted(held.items()):
        row = rows[p]
        listed[p] = {"generation": row.generation if row else None, "resources": classes}
    data: dict[str, Any] = {"allocations": listed}
    if consumer is not None and req.at_least("1.12"):
        data["project_id"] = consumer.project_id
        data["user_id"] = consumer.user_id
        if req.at_least("1.28"):
            data["consumer_generation"] = consumer.generation
        if req.at_least("1.38"):
            data["consumer_type"] = consumer.consumer_type or "unknown"
    modified = consumer.updated_at or consumer.created_at if consumer else None
    return reply(req, data, modified=modified)


@router.route("PUT", "/allocations/{consumer_uuid}", policy=P + "update")
def update_allocations(req: ApiRequest) -> Reply:
    consumer_uuid = consumer_uuid_of(req.params["consumer_uuid"])
    data = body(req, allocation_schema(req))
    with placement(req).db.session() as s:
        allocations.replace(s, [consumer_request(req, consumer_uuid, data)])
    return Reply(204)


@router.route("DELETE", "/allocations/{consumer_uuid}", policy=P + "delete")
def delete_allocations(req: ApiRequest) -> Reply:
    with placement(req).db.session() as s:
        allocations.delete_all(s, providers.canonical(req.params["consumer_uuid"]))
    return Reply(204)


@router.route("POST", "/allocations", policy=P + "manage")
def manage_allocations(req: ApiRequest) -> Reply:
    require(req, "1.13")
    data = body(
        req,
        {
            "type": "object",
            "minProperties": 1,
            "patternProperties": {UUID_PATTERN: allocation_schema(req, post=True)},
            "additionalProperties": False,
        },
    )
    requests = [consumer_request(req, consumer_uuid_of(c), item) for c, item in data.items()]
    with placement(req).db.session() as s:
        allocations.replace(s, requests)
    return Reply(204)


@router.route("GET", "/usages", policy="placement:usages")
def show_usages(req: ApiRequest) -> Reply:
    require(req, "1.9")
    allowed = ["project_id", "user_id"] + (["consumer_type"] if req.at_least("1.38") else [])
    check_query(req, allowed)
    query = req.query
    if not query.get("project_id"):
        raise BadRequest("Invalid query string parameters: 'project_id' is a required property")
    kind = query.get("consumer_type")
    if kind is not None and not (kind in ("all", "unknown") or _valid_type(kind)):
        raise BadRequest(f"Invalid query string parameters: '{kind}' is not a valid consumer_type")
    with placement(req).db.reader() as s:
        if req.at_least("1.38"):
            usages: Any = allocations.usages_by_type(
                s, query["project_id"], query.get("user_id"), kind
            )
        else:
            usages = allocations.usages(s, query["project_id"], query.get("user_id"))
    return reply(req, {"usages": usages})


def _valid_type(kind: str) -> bool:
    return bool(NAME_RE.match(kind)) and len(kind) <= 255
