"""Availability zones of the network service: /v2.0/availability_zones."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.network import agents
from nubo.network.api.common import caller, list_of, route, service


@route("GET", "/v2.0/availability_zones")
def list_availability_zones(req: ApiRequest) -> Reply:
    zones = agents.availability_zones(service(req), caller(req))
    return list_of(req, "availability_zones", zones)
