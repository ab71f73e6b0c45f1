"""The network API (Neutron v2.0) on the shared framework."""

from __future__ import annotations

from nubo.api.faults import Family
from nubo.api.routing import Service
from nubo.network.api import discovery, networks, tags  # noqa: F401 - register routes
from nubo.network.api.common import router


def build_service() -> Service:
    return Service("network", "network", "/network", Family.NEUTRON, router)


__all__ = ["build_service"]
