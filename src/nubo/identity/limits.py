"""Unified limits: registered (default) limits and project limits."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nubo.identity.service import Identity


class Limits:
    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.db = identity.db
