"""Per-project image quotas through unified limits (Keystone registered and project
limits of the ``image`` service), under Glance's resource names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nubo.errors import QuotaExceeded
from nubo.image.models import Image

MIB = 1 << 20

# resource name -> (default registered limit, what it counts)
DEFAULTS: dict[str, tuple[int, str]] = {
    "image_count_total": (100, "images"),
    "image_count_uploading": (10, "images being uploaded or imported"),
    "image_size_total": (10240, "MiB of image data"),
    "image_stage_total": (10240, "MiB of staged image data"),
}

UPLOADING = ("saving", "uploading", "importing")

LimitOf = Callable[[str, str], int | None]  # (project_id, resource) -> limit or None


@dataclass
class Usage:
    limit: int | None
    usage: int


class Quotas:
    def __init__(self, limit_of: LimitOf) -> None:
        self.limit_of = limit_of

    def usage(self, s: Session, project_id: str, resource: str) -> int:
        if resource in ("image_size_total", "image_stage_total"):
            return _mib(self._bytes(s, project_id, resource))
        query = select(func.count()).where(Image.owner == project_id)
        if resource == "image_count_uploading":
            query = query.where(Image.status.in_(UPLOADING))
        return int(s.scalar(query) or 0)

    @staticmethod
    def _bytes(s: Session, project_id: str, resource: str) -> int:
        if resource == "image_size_total":
            column, present = Image.size, Image.location.is_not(None)
        else:
            column, present = Image.staged_size, Image.staged_size.is_not(None)
        query = select(func.coalesce(func.sum(column), 0)).where(Image.owner == project_id, present)
        return int(s.scalar(query) or 0)

    def report(self, s: Session, project_id: str) -> dict[str, Usage]:
        return {
            name: Usage(self.limit_of(project_id, name), self.usage(s, project_id, name))
            for name in DEFAULTS
        }

    def check(self, s: Session, project_id: str | None, resource: str, adding: int = 1) -> None:
        """413 when ``adding`` more would take the project past its limit."""
        if project_id is None:
            return
        limit = self.limit_of(project_id, resource)
        if limit is None:
            return
        used = self.usage(s, project_id, resource)
        if used + adding > limit:
            raise QuotaExceeded(
                f"Quota exceeded for {resource}: {DEFAULTS[resource][1]} limit is {limit}, "
                f"{used} in use."
            )

    def bytes_left(self, s: Session, project_id: str | None, resource: str) -> int | None:
        """Bytes a new upload may still add under a size quota (None: unlimited)."""
        if project_id is None:
            return None
        limit = self.limit_of(project_id, resource)
        if limit is None:
            return None
        used = self._bytes(s, project_id, resource)
        return max(limit * MIB - used, 0)


def _mib(nbytes: int) -> int:
    return -(-int(nbytes) // MIB)  # round up: one byte over a MiB counts as two MiB
