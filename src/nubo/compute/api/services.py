"""Compute services: /os-services (admin).

Before 2.53 a service is named by host and binary in the body of
``PUT /os-services/{enable,disable,disable-log-reason,force-down}``; from 2.53 by its
uuid in the path (``PUT``/``DELETE /os-services/{uuid}``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from nubo.api.routing import ApiRequest, Reply
from nubo.api.validation import validate
from nubo.compute import hosts
from nubo.compute.api.common import caller, compute, router
from nubo.errors import BadRequest, NotFound

_TRUE = (True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes")
_FALSE = (False, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no")
BOOLEAN: dict[str, Any] = {"type": ["boolean", "string"], "enum": [*_TRUE, *_FALSE]}
HOST: dict[str, Any] = {
    "type": "string",
    "pattern": "^[a-zA-Z0-9-._]*$",
    "minLength": 1,
    "maxLength": 255,
}
_REASON = {"type": "string", "minLength": 1, "maxLength": 255}
_BINARY = {"type": "string", "minLength": 1, "maxLength": 255}


def to_bool(value: Any) -> bool:
    return value in _TRUE


def strict_query(req: ApiRequest, allowed: Iterable[str], since: str) -> None:
    """From microversion ``since`` on, unknown query parameters are a 400."""
    if not req.at_least(since):
        return
    known = set(allowed)
    for key, value in req.query_items:
        if key not in known:
            raise BadRequest(
                f"Invalid input for query parameters {key}. Value: {value}. "
                f"Additional properties are not allowed ('{key}' was unexpected)"
            )


def query_bool(req: ApiRequest, name: str) -> bool:
    value = req.query.get(name)
    if value is None:
        return False
    if value not in _TRUE and value not in _FALSE:
        raise BadRequest(
            f"Invalid input for query parameters {name}. Value: {value}. "
            f"'{value}' is not a valid boolean"
        )
    return to_bool(value)


def check_uuid(value: str) -> None:
    try:
        uuid.UUID(value)
    except ValueError:
        raise BadRequest(f"Invalid uuid {value}") from None


def check_integer(value: str, name: str = "id") -> int:
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"Invalid input received: {name} must be an integer") from None


def _schema(version_211: bool) -> dict[str, Any]:
    props: dict[str, Any] = {"host": HOST, "binary": _BINARY, "disabled_reason": _REASON}
    if version_211:
        props["forced_down"] = BOOLEAN
    return {
        "type": "object",
        "properties": props,
        "required": ["host", "binary"],
        "additionalProperties": False,
    }


_UPDATE_V21 = _schema(False)
_UPDATE_V211 = _schema(True)
_UPDATE_V253: dict[str, Any] = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["enabled", "disabled"]},
        "disabled_reason": _REASON,
        "forced_down": BOOLEAN,
    },
    "additionalProperties": False,
}


@router.route("GET", "/v2.1/os-services")
def list_services(req: ApiRequest) -> Reply:
    strict_query(req, ("host", "binary"), "2.75")
    items = hosts.list_services(
        compute(req),
        caller(req),
        host=req.query.get("host"),
        binary=req.query.get("binary"),
        uuid_ids=req.at_least("2.53"),
        forced_down=req.at_least("2.11"),
    )
    return Reply(200, {"services": items})


@router.route("PUT", "/v2.1/os-services/{service_id}")
def update_service(req: ApiRequest) -> Reply:
    svc = compute(req)
    who = caller(req)
    service_id = req.params["service_id"]
    if req.at_least("2.53"):
        check_uuid(service_id)
        body = req.json()
        validate(body, _UPDATE_V253)
        if "status" not in body and "forced_down" not in body:
            raise BadRequest(
                "No updates were requested. Fields 'status' or 'forced_down' should be specified."
            )
        changes: dict[str, Any] = {}
        if body.get("status") == "enabled":
            if body.get("disabled_reason"):
                raise BadRequest("Specifying 'disabled_reason' with status 'enabled' is invalid.")
            changes["disabled"] = False
        elif body.get("status") == "disabled":
            changes["disabled"] = True
            changes["disabled_reason"] = body.get("disabled_reason")
        if "forced_down" in body:
            changes["forced_down"] = to_bool(body["forced_down"])
        return Reply(200, {"service": hosts.update_service(svc, who, service_id, changes)})
    actions = ["enable", "disable", "disable-log-reason"]
    if req.at_least("2.11"):
        actions.append("force-down")
    if service_id not in actions:
        raise NotFound("Unknown action")
    body = req.json()
    validate(body, _UPDATE_V211 if req.at_least("2.11") else _UPDATE_V21)
    host, binary = body["host"], body["binary"]
    reply: dict[str, Any] = {"host": host, "binary": binary}
    if service_id == "enable":
        changes = {"disabled": False}
        reply["status"] = "enabled"
    elif service_id == "disable":
        changes = {"disabled": True}
        reply["status"] = "disabled"
    elif service_id == "disable-log-reason":
        if "disabled_reason" not in body:
            raise BadRequest("Missing disabled reason field")
        changes = {"disabled": True, "disabled_reason": body["disabled_reason"]}
        reply["status"] = "disabled"
        reply["disabled_reason"] = body["disabled_reason"]
    else:
        if "forced_down" not in body:
            raise BadRequest("Missing forced_down field")
        changes = {"forced_down": to_bool(body["forced_down"])}
        reply["forced_down"] = changes["forced_down"]
    hosts.update_service_by_host(svc, who, host, binary, changes)
    return Reply(200, {"service": reply})


@router.route("DELETE", "/v2.1/os-services/{service_id}")
def delete_service(req: ApiRequest) -> Reply:
    service_id = req.params["service_id"]
    uuid_ids = req.at_least("2.53")
    if uuid_ids:
        check_uuid(service_id)
    else:
        check_integer(service_id)
    hosts.delete_service(compute(req), caller(req), service_id, uuid_ids)
    return Reply(204)
