"""The image service facade: stores, quotas and the managers handlers call.

No HTTP in here. Imports run in a small background pool; on start ``resume``
finishes or undoes whatever a previous process left half done, so no image stays
in saving or importing.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from nubo.config import Config
from nubo.db.base import utcnow
from nubo.db.engine import Database
from nubo.identity.service import Identity
from nubo.image.data import ImageData
from nubo.image.images import Images
from nubo.image.members import Members
from nubo.image.models import Image
from nubo.image.quotas import DEFAULTS, Quotas
from nubo.image.store import FileStore
from nubo.image.web import WebDownload

log = logging.getLogger(__name__)

SERVICE_TYPE = "image"
STAGING_STORE = "os_glance_staging_store"


class ImageService:
    def __init__(self, config: Config, db: Database, identity: Identity) -> None:
        self.config = config
        self.db = db
        self.identity = identity
        root = config.image_store_path
        self.store = FileStore(root, "file")
        self.staging = FileStore(root / "staging", STAGING_STORE)
        self.web = WebDownload(config.image.web_download_allowed_hosts)
        self.quotas = Quotas(self._limit_of)
        self.images = Images(self)
        self.data = ImageData(self)
        self.members = Members(self)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="image-import")

    def _limit_of(self, project_id: str, resource: str) -> int | None:
        limit = self.identity.limits.effective_limit(
            project_id, SERVICE_TYPE, resource, self.config.identity.region
        )
        return None if limit is None or limit < 0 else limit

    def register_limits(self) -> None:
        self.identity.limits.register_defaults(
            SERVICE_TYPE,
            {name: (value, f"Default {what}") for name, (value, what) in DEFAULTS.items()},
        )

    def import_methods(self) -> list[str]:
        return ["glance-direct", "web-download"] if self.web.enabled else ["glance-direct"]

    def run_import(self, image_id: str, uri: str | None) -> None:
        self._pool.submit(self.data.finish_import, image_id, uri)

    def drop_data(self, image_id: str, location: str | None, staged: bool) -> None:
        if location:
            self.store.delete(image_id)
        if staged:
            self.staging.delete(image_id)

    def resume(self) -> None:
        """After a restart: an interrupted upload goes back to queued, an interrupted
        glance-direct import runs again from its staged data (web-download starts over
        as queued: the URI was not kept)."""
        with self.db.session() as s:
            for image in s.scalars(select(Image).where(Image.status.in_(("saving", "importing")))):
                if image.status == "importing" and image.staged_size is not None:
                    self.run_import(image.id, None)
                    continue
                log.info(
                    "image %s was %s when nubo stopped: back to queued", image.id, image.status
                )
                image.status = "queued"
                image.updated_at = utcnow()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
