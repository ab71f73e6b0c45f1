"""The compute API (Nova v2.1) on the shared framework."""

from __future__ import annotations

import importlib

from nubo.api.faults import Family
from nubo.api.routing import Service
from nubo.compute.api.common import VERSIONS, response_headers, router

# each module registers its routes on import; the order is the matching order
MODULES = (
    "discovery",
    "servers",
    "server_actions",
    "server_metadata",
    "server_tags",
    "server_ips",
    "interfaces",
    "instance_actions",
    "consoles",
    "console_proxy",
    "services",
    "hypervisors",
    "os_hosts",
    "availability_zones",
    "aggregates",
    "usage",
    "migrations",
    "extensions",
    "flavors",
    "keypairs",
    "quotas",
    "limits",
    "server_groups",
    "images",
    "security_groups",
    "floating_ips",
    "networks",
    "audit_log",
    "external_events",
    "diagnostics",
    "deferred_delete",
)


def build_service() -> Service:
    for name in MODULES:
        importlib.import_module(f"nubo.compute.api.{name}")
    return Service(
        "compute",
        "compute",
        "/compute",
        Family.NOVA,
        router,
        extra_headers=response_headers,
        versions=VERSIONS,
    )


__all__ = ["build_service"]
