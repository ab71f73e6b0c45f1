"""Server external events (``POST /os-server-external-events``, admin or service) and
the ``injectNetworkInfo`` server action (admin)."""

from __future__ import annotations

import uuid
from typing import Any

from nubo.api.routing import ApiRequest, Reply
from nubo.compute import external_events
from nubo.compute.api.common import caller, compute, router
from nubo.compute.api.server_actions_registry import action
from nubo.errors import BadRequest

STATUSES = ("failed", "completed", "in-progress")
# event names by the microversion that introduced them
NAMES = (
    ("2.1", "network-changed"),
    ("2.1", "network-vif-plugged"),
    ("2.1", "network-vif-unplugged"),
    ("2.1", "network-vif-deleted"),
    ("2.51", "volume-extended"),
    ("2.76", "power-update"),
    ("2.82", "accelerator-request-bound"),
    ("2.93", "volume-reimaged"),
)
FIELDS = frozenset({"server_uuid", "name", "status", "tag"})


def _invalid(field: str, value: Any, why: str) -> BadRequest:
    return BadRequest(f"Invalid input for field/attribute {field}. Value: {value!r}. {why}")


def _event(req: ApiRequest, item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise _invalid("events", item, f"{item!r} is not of type 'object'")
    extra = sorted(set(item) - FIELDS)
    if extra:
        raise _invalid(
            "events",
            item,
            f"Additional properties are not allowed ({', '.join(map(repr, extra))} were "
            "unexpected)",
        )
    for key in ("server_uuid", "name"):
        if key not in item:
            raise _invalid("events", item, f"'{key}' is a required property")
    server = item["server_uuid"]
    try:
        if not isinstance(server, str):
            raise ValueError(server)
        uuid.UUID(server)
    except ValueError:
        raise _invalid("server_uuid", server, f"{server!r} is not a 'uuid'") from None
    names = [name for since, name in NAMES if req.at_least(since)]
    if item["name"] not in names:
        raise _invalid("name", item["name"], f"{item['name']!r} is not one of {names}")
    if "status" in item and item["status"] not in STATUSES:
        raise _invalid("status", item["status"], f"{item['status']!r} is not one of {STATUSES}")
    tag = item.get("tag")
    if "tag" in item and (not isinstance(tag, str) or len(tag) > 255):
        raise _invalid("tag", tag, "It must be a string of at most 255 characters")
    return dict(item)


@router.route("POST", "/v2.1/os-server-external-events")
def create_events(req: ApiRequest) -> Reply:
    body = req.json()
    if not isinstance(body, dict) or "events" not in body:
        raise BadRequest(
            "Invalid input for field/attribute events. 'events' is a required property"
        )
    extra = sorted(set(body) - {"events"})
    if extra:
        raise BadRequest(
            f"Additional properties are not allowed ({', '.join(map(repr, extra))} were unexpected)"
        )
    items = body["events"]
    if not isinstance(items, list) or not items:
        raise _invalid("events", items, "It must be a non-empty array")
    events = [_event(req, item) for item in items]
    status, replies = external_events.create_events(compute(req), caller(req), events)
    return Reply(status, {"events": replies})


@action("injectNetworkInfo")
def inject_network_info(req: ApiRequest, server_id: str, args: Any) -> Reply:
    if args not in (None, {}):
        raise _invalid("injectNetworkInfo", args, f"{args!r} is not of type 'null'")
    external_events.inject_network_info(compute(req), caller(req), server_id)
    return Reply(202)
