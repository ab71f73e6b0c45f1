"""Hosts (legacy): /os-hosts, /os-hosts/{host} and its startup, shutdown and reboot
actions (admin). Removed at 2.43 (404 from then on): os-hypervisors and os-services
replace them. See ``nubo.compute.legacy_hosts`` for what the actions do.
"""

from __future__ import annotations

from typing import Any

from nubo.api.routing import ApiRequest, Reply
from nubo.api.validation import validate
from nubo.compute import legacy_hosts
from nubo.compute.api.common import caller, compute, router
from nubo.errors import NotFound

_SWITCH: dict[str, Any] = {
    "type": "string",
    "enum": ["enable", "disable", "Enable", "Disable", "ENABLE", "DISABLE"],
}
_UPDATE: dict[str, Any] = {
    "type": "object",
    "properties": {"status": _SWITCH, "maintenance_mode": _SWITCH},
    "anyOf": [{"required": ["status"]}, {"required": ["maintenance_mode"]}],
    "additionalProperties": False,
}


def _until_242(req: ApiRequest) -> None:
    if req.at_least("2.43"):
        raise NotFound(f"API version {req.version} is not supported on this method.")


def _switch(value: str | None) -> bool | None:
    return None if value is None else value.lower() == "enable"


@router.route("GET", "/v2.1/os-hosts")
def list_hosts(req: ApiRequest) -> Reply:
    _until_242(req)
    found = legacy_hosts.list_hosts(compute(req), caller(req), req.query.get("zone"))
    return Reply(200, {"hosts": found})


@router.route("GET", "/v2.1/os-hosts/{host}")
def show_host(req: ApiRequest) -> Reply:
    _until_242(req)
    rows = legacy_hosts.show_host(compute(req), caller(req), req.params["host"])
    return Reply(200, {"host": rows})


@router.route("PUT", "/v2.1/os-hosts/{host}")
def update_host(req: ApiRequest) -> Reply:
    _until_242(req)
    who = caller(req)
    who.check("os-hosts:update")
    body = req.json()
    validate(body, _UPDATE)
    result = legacy_hosts.update_host(
        compute(req),
        who,
        req.params["host"],
        enabled=_switch(body.get("status")),
        maintenance=_switch(body.get("maintenance_mode")),
    )
    return Reply(200, result)


def _power(action: str) -> None:
    def handler(req: ApiRequest) -> Reply:
        _until_242(req)
        result = legacy_hosts.power_action(compute(req), caller(req), req.params["host"], action)
        return Reply(200, result)

    handler.__name__ = f"{action}_host"
    router.route("GET", f"/v2.1/os-hosts/{{host}}/{action}")(handler)


for _action in legacy_hosts.POWER_ACTIONS:
    _power(_action)
