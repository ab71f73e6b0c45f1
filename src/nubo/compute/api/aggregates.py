"""Host aggregates: /os-aggregates (admin). Create, update, add_host, remove_host and
set_metadata answer 200 with the aggregate (create without hosts and metadata),
delete answers 200 with no body, as Nova does; 2.41 adds ``uuid``, 2.81 image caching.
"""

from __future__ import annotations

from typing import Any

from nubo.api.routing import ApiRequest, Reply
from nubo.api.validation import validate
from nubo.compute import aggregates
from nubo.compute.api.common import caller, compute, router
from nubo.compute.api.services import HOST, check_integer
from nubo.errors import BadRequest, NotFound

_NAME = {"type": "string", "minLength": 1, "maxLength": 255}
_ZONE = {"type": ["string", "null"], "minLength": 1, "maxLength": 255}
_CREATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "aggregate": {
            "type": "object",
            "properties": {"name": _NAME, "availability_zone": _ZONE},
            "required": ["name"],
            "additionalProperties": False,
        }
    },
    "required": ["aggregate"],
    "additionalProperties": False,
}
_UPDATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "aggregate": {
            "type": "object",
            "properties": {"name": _NAME, "availability_zone": _ZONE},
            "additionalProperties": False,
            "anyOf": [{"required": ["name"]}, {"required": ["availability_zone"]}],
        }
    },
    "required": ["aggregate"],
    "additionalProperties": False,
}


def _host_action(action: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            action: {
                "type": "object",
                "properties": {"host": HOST},
                "required": ["host"],
                "additionalProperties": False,
            }
        },
        "required": [action],
        "additionalProperties": False,
    }


_ACTIONS: dict[str, dict[str, Any]] = {
    "add_host": _host_action("add_host"),
    "remove_host": _host_action("remove_host"),
    "set_metadata": {
        "type": "object",
        "properties": {
            "set_metadata": {
                "type": "object",
                "properties": {
                    "metadata": {
                        "type": "object",
                        "patternProperties": {
                            "^[a-zA-Z0-9-_:. ]{1,255}$": {
                                "type": ["string", "null"],
                                "maxLength": 255,
                            }
                        },
                        "additionalProperties": False,
                    }
                },
                "required": ["metadata"],
                "additionalProperties": False,
            }
        },
        "required": ["set_metadata"],
        "additionalProperties": False,
    },
}
_IMAGES: dict[str, Any] = {
    "type": "object",
    "properties": {
        "cache": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {"id": {"type": "string", "minLength": 1, "maxLength": 36}},
                "required": ["id"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["cache"],
    "additionalProperties": False,
}


def _name(value: str, *, strip: bool) -> str:
    """Nova's ``name`` format: printable, no leading or trailing whitespace (an
    update may send them; they are stripped)."""
    text = value.strip() if strip else value
    if not text or text != text.strip() or not text.isprintable():
        raise BadRequest(
            f"Invalid input for field/attribute name. Value: {value}. The name must be "
            "printable characters and can not start or end with whitespace."
        )
    return text


def _zone(value: str | None) -> str | None:
    if value is None:
        return None
    if value != value.strip() or ":" in value or not value.isprintable():
        raise BadRequest(
            f"Invalid input for field/attribute availability_zone. Value: {value}. "
            "An availability zone name must be printable characters except ':' and can "
            "not start or end with whitespace."
        )
    return value


def _id(req: ApiRequest) -> int:
    return check_integer(req.params["aggregate_id"])


def _reply(req: ApiRequest, row: Any, members: bool = True) -> Reply:
    body = aggregates.view(row, show_uuid=req.at_least("2.41"), members=members)
    return Reply(200, {"aggregate": body})


@router.route("GET", "/v2.1/os-aggregates")
def list_aggregates(req: ApiRequest) -> Reply:
    rows = aggregates.list_aggregates(compute(req), caller(req))
    show_uuid = req.at_least("2.41")
    return Reply(200, {"aggregates": [aggregates.view(r, show_uuid=show_uuid) for r in rows]})


@router.route("POST", "/v2.1/os-aggregates")
def create_aggregate(req: ApiRequest) -> Reply:
    body = req.json()
    validate(body, _CREATE)
    attrs = body["aggregate"]
    name = _name(attrs["name"], strip=False)
    zone = _zone(attrs.get("availability_zone"))
    row = aggregates.create_aggregate(compute(req), caller(req), name, zone)
    return _reply(req, row, members=False)


@router.route("GET", "/v2.1/os-aggregates/{aggregate_id}")
def show_aggregate(req: ApiRequest) -> Reply:
    who = caller(req)
    who.check("os-aggregates:show")
    return _reply(req, aggregates.get_aggregate(compute(req), who, _id(req)))


@router.route("PUT", "/v2.1/os-aggregates/{aggregate_id}")
def update_aggregate(req: ApiRequest) -> Reply:
    body = req.json()
    validate(body, _UPDATE)
    attrs = body["aggregate"]
    changes: dict[str, Any] = {}
    if "name" in attrs:
        changes["name"] = _name(attrs["name"], strip=True)
    if "availability_zone" in attrs:
        changes["zone"] = _zone(attrs["availability_zone"])
    row = aggregates.update_aggregate(compute(req), caller(req), _id(req), **changes)
    return _reply(req, row)


@router.route("DELETE", "/v2.1/os-aggregates/{aggregate_id}")
def delete_aggregate(req: ApiRequest) -> Reply:
    who = caller(req)
    who.check("os-aggregates:delete")
    aggregates.delete_aggregate(compute(req), who, _id(req))
    return Reply(200)


@router.route("POST", "/v2.1/os-aggregates/{aggregate_id}/action")
def aggregate_action(req: ApiRequest) -> Reply:
    body = req.json()
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("The request body must hold exactly one action.")
    (action,) = body
    schema = _ACTIONS.get(action)
    if schema is None:
        raise BadRequest(f"There is no such action: {action}")
    who = caller(req)
    who.check(f"os-aggregates:{action}")
    validate(body, schema)
    svc = compute(req)
    aggregate_id = _id(req)
    if action == "add_host":
        row = aggregates.add_host(svc, who, aggregate_id, body[action]["host"])
    elif action == "remove_host":
        row = aggregates.remove_host(svc, who, aggregate_id, body[action]["host"])
    else:
        row = aggregates.set_metadata(svc, who, aggregate_id, body[action]["metadata"])
    return _reply(req, row)


@router.route("POST", "/v2.1/os-aggregates/{aggregate_id}/images")
def cache_images(req: ApiRequest) -> Reply:
    if not req.at_least("2.81"):
        raise NotFound("The resource could not be found.")
    body = req.json()
    validate(body, _IMAGES)
    image_ids = [entry["id"] for entry in body["cache"]]
    aggregates.cache_images(compute(req), caller(req), _id(req), image_ids)
    return Reply(202)
