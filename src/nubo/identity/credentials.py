"""Application credentials, stored credentials and EC2 credentials."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nubo.identity.service import Identity


class Credentials:
    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.db = identity.db
