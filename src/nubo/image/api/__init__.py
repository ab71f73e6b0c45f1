"""The image API (Glance v2) on the shared framework."""

from __future__ import annotations

from nubo.api.faults import Family
from nubo.api.routing import Service
from nubo.image.api import data, discovery, images, members  # noqa: F401 - register routes
from nubo.image.api.common import router


def build_service() -> Service:
    return Service("image", "image", "/image", Family.GLANCE, router, strict_slashes=True)


__all__ = ["build_service"]
