"""The floating IPs proxy: ``/os-floating-ips`` (to 2.35) and the ``addFloatingIp`` /
``removeFloatingIp`` server actions (to 2.43). Newer microversions get 404."""

from __future__ import annotations

import ipaddress
from typing import Any

from nubo.api.routing import ApiRequest, Reply
from nubo.compute.api.common import caller, compute, router
from nubo.compute.api.security_groups import gate
from nubo.compute.api.server_actions_registry import action
from nubo.compute.proxies import floating_ips
from nubo.errors import BadRequest, NotFound

BASE = "/v2.1/os-floating-ips"


@router.route("GET", BASE)
def list_fips(req: ApiRequest) -> Reply:
    gate(req)
    return Reply(200, {"floating_ips": floating_ips.list_fips(compute(req), caller(req))})


@router.route("POST", BASE, body_optional=True)
def create_fip(req: ApiRequest) -> Reply:
    gate(req)
    body = req.json()
    pool = None
    if body:
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object")
        pool = body.get("pool")
        if pool is not None and not isinstance(pool, str):
            raise BadRequest(f"Invalid input for field/attribute pool. Value: {pool!r}.")
    fip = floating_ips.create_fip(compute(req), caller(req), pool or None)
    return Reply(200, {"floating_ip": fip})


@router.route("DELETE", BASE)
def delete_without_id(req: ApiRequest) -> Reply:
    raise NotFound("The resource could not be found.")


@router.route("GET", BASE + "/{fip_id}")
def show_fip(req: ApiRequest) -> Reply:
    gate(req)
    fip = floating_ips.show_fip(compute(req), caller(req), req.params["fip_id"])
    return Reply(200, {"floating_ip": fip})


@router.route("DELETE", BASE + "/{fip_id}")
def delete_fip(req: ApiRequest) -> Reply:
    gate(req)
    floating_ips.delete_fip(compute(req), caller(req), req.params["fip_id"])
    return Reply(202)


# -- server actions --------------------------------------------------------------------------


def _address(name: str, args: Any, key: str, required: bool = True) -> str | None:
    value = args.get(key)
    if value is None and not required:
        return None
    if value is None:
        raise BadRequest(
            f"Invalid input for field/attribute {name}. '{key}' is a required property"
        )
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        ipaddress.ip_address(value)
    except ValueError:
        raise BadRequest(
            f"Invalid input for field/attribute {key}. Value: {value!r}. "
            f"{value!r} is not a 'ipv4' or 'ipv6' address"
        ) from None
    return value


def _args(name: str, args: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(args, dict):
        raise BadRequest(
            f"Invalid input for field/attribute {name}. Value: {args!r}. "
            f"{args!r} is not of type 'object'"
        )
    extra = sorted(set(args) - set(allowed))
    if extra:
        raise BadRequest(
            f"Invalid input for field/attribute {name}. Additional properties are not allowed "
            f"({', '.join(repr(k) for k in extra)} were unexpected)"
        )
    return args


def _action_gate(req: ApiRequest) -> None:
    """Nova removed the floating IP actions at 2.44."""
    if req.at_least("2.44"):
        raise NotFound("The resource could not be found.")


@action("addFloatingIp")
def add_floating_ip(req: ApiRequest, server_id: str, args: Any) -> Reply:
    _action_gate(req)
    body = _args("addFloatingIp", args, ("address", "fixed_address"))
    address = _address("addFloatingIp", body, "address")
    fixed = _address("addFloatingIp", body, "fixed_address", required=False)
    assert address is not None
    floating_ips.add_to_server(compute(req), caller(req), server_id, address, fixed)
    return Reply(202)


@action("removeFloatingIp")
def remove_floating_ip(req: ApiRequest, server_id: str, args: Any) -> Reply:
    _action_gate(req)
    body = _args("removeFloatingIp", args, ("address",))
    address = _address("removeFloatingIp", body, "address")
    assert address is not None
    floating_ips.remove_from_server(compute(req), caller(req), server_id, address)
    return Reply(202)
