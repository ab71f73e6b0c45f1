"""Remote consoles (2.6+: ``POST /servers/{id}/remote-consoles``), console token
details (``/os-console-auth-tokens/{token}``, admin) and the server password
(``/servers/{id}/os-server-password``)."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.compute import server_consoles, server_metadata
from nubo.compute.api.common import caller, compute, router
from nubo.errors import BadRequest, NotFound

PROTOCOLS = ("vnc", "spice", "rdp", "serial")
TYPES = ("novnc", "xvpvnc", "rdp-html5", "spice-html5", "serial")


@router.route("POST", "/v2.1/servers/{server_id}/remote-consoles")
def create_remote_console(req: ApiRequest) -> Reply:
    if not req.at_least("2.6"):
        raise NotFound("The resource could not be found.")
    body = req.json()
    console = body.get("remote_console") if isinstance(body, dict) else None
    if not isinstance(console, dict):
        raise BadRequest(
            "Invalid input for field/attribute remote_console. 'remote_console' is a required "
            "property"
        )
    protocols = (*PROTOCOLS, "mks") if req.at_least("2.8") else PROTOCOLS
    types = (*TYPES, "webmks") if req.at_least("2.8") else TYPES
    if req.at_least("2.99"):
        types = (*types, "spice-direct")
    protocol, kind = console.get("protocol"), console.get("type")
    if protocol not in protocols:
        raise BadRequest(
            f"Invalid input for field/attribute protocol. Value: {protocol!r}. "
            f"{protocol!r} is not one of {list(protocols)}"
        )
    if kind not in types:
        raise BadRequest(
            f"Invalid input for field/attribute type. Value: {kind!r}. "
            f"{kind!r} is not one of {list(types)}"
        )
    assert isinstance(protocol, str) and isinstance(kind, str)
    if protocol == "rdp":
        raise BadRequest("Unavailable console type rdp.")
    url = server_consoles.remote_console(
        compute(req), caller(req), req.params["server_id"], protocol, kind, req.service_url
    )
    return Reply(200, {"remote_console": {"protocol": protocol, "type": kind, "url": url}})


@router.route("GET", "/v2.1/os-console-auth-tokens/{token}")
def show_console_token(req: ApiRequest) -> Reply:
    if not req.at_least("2.31"):
        raise BadRequest("The requested console type details are not accessible")
    console = server_consoles.token_connection(compute(req), caller(req), req.params["token"])
    return Reply(200, {"console": console})


@router.route("GET", "/v2.1/servers/{server_id}/os-server-password")
def show_password(req: ApiRequest) -> Reply:
    password = server_metadata.show_password(compute(req), caller(req), req.params["server_id"])
    return Reply(200, {"password": password})


@router.route("DELETE", "/v2.1/servers/{server_id}/os-server-password")
def clear_password(req: ApiRequest) -> Reply:
    server_metadata.clear_password(compute(req), caller(req), req.params["server_id"])
    return Reply(204)
