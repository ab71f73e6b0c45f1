"""Interface attachments: ``/servers/{id}/os-interface`` (list, attach, show, detach)."""

from __future__ import annotations

from typing import Any

from nubo.api.routing import ApiRequest, Reply
from nubo.compute import server_interfaces
from nubo.compute.api.common import caller, compute, router
from nubo.errors import BadRequest

BASE = "/v2.1/servers/{server_id}/os-interface"


def _optional_string(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and (not isinstance(value, str) or len(value) > 255):
        raise BadRequest(f"Invalid input for field/attribute {key}. Value: {value!r}.")
    return value


@router.route("GET", BASE)
def list_interfaces(req: ApiRequest) -> Reply:
    items = server_interfaces.list_interfaces(
        compute(req), caller(req), req.params["server_id"], req.at_least("2.70")
    )
    return Reply(200, {"interfaceAttachments": items})


@router.route("GET", BASE + "/{port_id}")
def show_interface(req: ApiRequest) -> Reply:
    item = server_interfaces.show_interface(
        compute(req),
        caller(req),
        req.params["server_id"],
        req.params["port_id"],
        req.at_least("2.70"),
    )
    return Reply(200, {"interfaceAttachment": item})


@router.route("POST", BASE, body_optional=True)
def attach_interface(req: ApiRequest) -> Reply:
    body = req.json() or {}
    attachment: dict[str, Any] = {}
    if body:
        if not isinstance(body, dict) or not isinstance(body.get("interfaceAttachment"), dict):
            raise BadRequest(
                "Invalid input for field/attribute interfaceAttachment. "
                "'interfaceAttachment' is a required property"
            )
        attachment = body["interfaceAttachment"]
    allowed = (
        {"net_id", "port_id", "fixed_ips", "tag"}
        if req.at_least("2.49")
        else {
            "net_id",
            "port_id",
            "fixed_ips",
        }
    )
    extra = sorted(set(attachment) - allowed)
    if extra:
        raise BadRequest(
            "Invalid input for field/attribute interfaceAttachment. Additional properties are "
            f"not allowed ({', '.join(repr(k) for k in extra)} were unexpected)"
        )
    fixed_ip = None
    fixed_ips = attachment.get("fixed_ips")
    if fixed_ips is not None:
        if (
            not isinstance(fixed_ips, list)
            or len(fixed_ips) > 1
            or not all(
                isinstance(f, dict) and isinstance(f.get("ip_address"), str) for f in fixed_ips
            )
        ):
            raise BadRequest(
                "Invalid input for field/attribute fixed_ips: at most one {'ip_address': ...}."
            )
        fixed_ip = fixed_ips[0]["ip_address"] if fixed_ips else None
    svc, who, server_id = compute(req), caller(req), req.params["server_id"]
    port_id = server_interfaces.attach(
        svc,
        who,
        server_id,
        net_id=_optional_string(attachment, "net_id"),
        port_id=_optional_string(attachment, "port_id"),
        fixed_ip=fixed_ip,
        tag=_optional_string(attachment, "tag"),
    )
    item = server_interfaces.show_interface(svc, who, server_id, port_id, req.at_least("2.70"))
    return Reply(200, {"interfaceAttachment": item})


@router.route("DELETE", BASE + "/{port_id}")
def detach_interface(req: ApiRequest) -> Reply:
    server_interfaces.detach(
        compute(req), caller(req), req.params["server_id"], req.params["port_id"]
    )
    return Reply(202)
