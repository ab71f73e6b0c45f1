"""The identity API (Keystone v3) on the shared framework."""

from __future__ import annotations

from nubo.api.faults import Family
from nubo.api.routing import Service
from nubo.identity.api import (  # noqa: F401 - modules register their routes
    auth,
    catalog,
    credentials,
    discovery,
    extensions,
    limits,
    resources,
    roles,
    trusts,
    users,
)
from nubo.identity.api.common import router
from nubo.identity.api.discovery import versions


def build_service() -> Service:
    return Service("identity", "identity", "/identity", Family.KEYSTONE, router)


__all__ = ["build_service", "versions"]
