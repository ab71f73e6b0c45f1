"""Availability zones: /os-availability-zone (any user) and its /detail (admin,
with each zone's hosts and their services)."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.compute import hosts
from nubo.compute.api.common import caller, compute, router


@router.route("GET", "/v2.1/os-availability-zone")
def list_zones(req: ApiRequest) -> Reply:
    zones = hosts.availability_zones(compute(req), caller(req), detail=False)
    return Reply(200, {"availabilityZoneInfo": zones})


@router.route("GET", "/v2.1/os-availability-zone/detail")
def list_zones_detail(req: ApiRequest) -> Reply:
    zones = hosts.availability_zones(compute(req), caller(req), detail=True)
    return Reply(200, {"availabilityZoneInfo": zones})
