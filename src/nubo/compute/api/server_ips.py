"""A server's addresses: ``/servers/{id}/ips`` and ``/servers/{id}/ips/{network_label}``."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.compute import server_interfaces
from nubo.compute.api.common import caller, compute, router


@router.route("GET", "/v2.1/servers/{server_id}/ips")
def list_ips(req: ApiRequest) -> Reply:
    found = server_interfaces.ips(compute(req), caller(req), req.params["server_id"])
    return Reply(200, {"addresses": found})


@router.route("GET", "/v2.1/servers/{server_id}/ips/{network_label}")
def show_ips(req: ApiRequest) -> Reply:
    found = server_interfaces.ips(
        compute(req), caller(req), req.params["server_id"], req.params["network_label"]
    )
    return Reply(200, found)
