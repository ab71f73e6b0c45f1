"""Registering the guest images nubo builds in its own image service.

Done through the service layer (no HTTP), as the admin project, so it works
before or while the API runs; the image is public and registered once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from sqlalchemy import select

from nubo.identity.resources import DEFAULT_DOMAIN_ID
from nubo.image.access import Caller
from nubo.image.models import Image
from nubo.image.service import ImageService
from nubo.image.store import CHUNK


def _chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


def register_guest_image(
    service: ImageService, name: str, path: Path, properties: Mapping[str, str]
) -> tuple[str, bool]:
    """Upload ``path`` as the public qcow2 image ``name`` unless an active one exists.
    Returns the image id and whether it was created now."""
    identity = service.identity
    with service.db.reader() as s:
        admin = identity.resources.find_project(s, name="admin", domain_id=DEFAULT_DOMAIN_ID)
        existing = s.scalar(
            select(Image).where(
                Image.name == name, Image.owner == admin.id, Image.status == "active"
            )
        )
        if existing is not None:
            return existing.id, False
        admin_id = admin.id
    caller = Caller(admin_id, True, lambda _rule, _target: True)
    body = {
        "name": name,
        "visibility": "public",
        "disk_format": "qcow2",
        "container_format": "bare",
        **properties,
    }
    image, _tags = service.images.create(caller, body)
    service.data.upload(caller, image.id, _chunks(path), path.stat().st_size)
    return image.id, True
