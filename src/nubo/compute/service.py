"""The compute service facade: what handlers, the scheduler and the compute agent
share. No HTTP in here.

Resource logic lives in one module per resource (flavors, keypairs, servers ...), as
functions taking this object. Writes that give a host's agent work call
``changed(s, host)`` in their transaction, bumping that host's generation counter,
which the agent polls (and ``wakeup`` short-cuts the poll in this process).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlalchemy.orm import Session

from nubo.compute import models as m
from nubo.config import Config
from nubo.db.engine import Database
from nubo.identity.service import Identity
from nubo.image.service import ImageService
from nubo.network.service import NetworkService

if TYPE_CHECKING:
    from nubo.placement.service import PlacementService

SERVICE_TYPE = "compute"


class ComputeService:
    def __init__(
        self,
        config: Config,
        db: Database,
        identity: Identity,
        image: ImageService,
        network: NetworkService,
        placement: PlacementService,
    ) -> None:
        self.config = config
        self.db = db
        self.identity = identity
        self.image = image
        self.network = network
        self.placement = placement
        self.host = config.compute_host
        # set after every write that gives an agent work; the in-process agent waits on it
        self.wakeup = threading.Event()

    def changed(self, s: Session, host: str | None) -> None:
        """Record, in the caller's transaction, that ``host``'s agent has work."""
        if not host:
            self.wakeup.set()
            return
        result = s.execute(
            update(m.HostGeneration)
            .where(m.HostGeneration.host == host)
            .values(generation=m.HostGeneration.generation + 1)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            s.add(m.HostGeneration(host=host, generation=1))
        self.wakeup.set()

    def generation(self, s: Session, host: str) -> int:
        row = s.get(m.HostGeneration, host)
        return row.generation if row else 0
