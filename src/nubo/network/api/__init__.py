"""The network API (Neutron v2.0) on the shared framework."""

from __future__ import annotations

from nubo.api.faults import Family
from nubo.api.routing import Service
from nubo.network.api import (  # noqa: F401 - each module registers its routes
    address_scopes,
    agents,
    availability_zones,
    discovery,
    floating_ips,
    ip_availability,
    networks,
    port_forwardings,
    ports,
    quotas,
    rbac_policies,
    routers,
    security_groups,
    subnetpools,
    subnets,
    tags,
)
from nubo.network.api.common import router


def build_service() -> Service:
    return Service("network", "network", "/network", Family.NEUTRON, router)


__all__ = ["build_service"]
