"""The network service facade: what handlers and the agent share. No HTTP in here.

Resource logic lives in one module per resource (networks, subnets, ports ...), as
functions taking this object; it holds the database, the configuration, and the
dataplane wake-up: every write the dataplane cares about calls ``changed(s)`` in its
transaction, bumping a generation counter that agents compare against.
"""

from __future__ import annotations

import socket
import threading

from sqlalchemy import update
from sqlalchemy.orm import Session

from nubo.config import Config
from nubo.db.engine import Database
from nubo.identity.service import Identity
from nubo.network import models as m

SERVICE_TYPE = "network"


class NetworkService:
    def __init__(self, config: Config, db: Database, identity: Identity) -> None:
        self.config = config
        self.db = db
        self.identity = identity
        self.host = config.network.host or socket.gethostname()
        # set after every committed dataplane change; the in-process agent waits on it
        self.wakeup = threading.Event()

    def changed(self, s: Session) -> None:
        """Record, in the caller's transaction, that the dataplane must converge again."""
        result = s.execute(
            update(m.DataplaneGeneration)
            .where(m.DataplaneGeneration.id == 1)
            .values(generation=m.DataplaneGeneration.generation + 1)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            s.add(m.DataplaneGeneration(id=1, generation=1))
        s.info["network_changed"] = True
        self.wakeup.set()

    def generation(self, s: Session) -> int:
        row = s.get(m.DataplaneGeneration, 1)
        return row.generation if row else 0

    def vni_range(self) -> tuple[int, int]:
        low, _, high = self.config.network.vni_ranges.partition(":")
        return int(low), int(high or low)
