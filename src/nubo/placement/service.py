"""The placement service facade (resource providers, inventories, allocations).
No HTTP in here; the compute scheduler calls it in its own transaction."""

from __future__ import annotations

from nubo.config import Config
from nubo.db.engine import Database

SERVICE_TYPE = "placement"


class PlacementService:
    def __init__(self, config: Config, db: Database) -> None:
        self.config = config
        self.db = db
