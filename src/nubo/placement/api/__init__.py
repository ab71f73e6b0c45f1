"""The placement API on the shared framework."""

from __future__ import annotations

import importlib

from nubo.api.faults import Family
from nubo.api.routing import Service
from nubo.placement.api.common import VERSIONS, router

# each module registers its routes on import; the order is the matching order
MODULES = (
    "root",
    "resource_providers",
    "inventories",
    "aggregates",
    "traits",
    "resource_classes",
    "allocations",
    "allocation_candidates",
    "reshaper",
)


def build_service() -> Service:
    for name in MODULES:
        importlib.import_module(f"nubo.placement.api.{name}")
    return Service(
        "placement", "placement", "/placement", Family.PLACEMENT, router, versions=VERSIONS
    )


__all__ = ["build_service"]
