"""Tags on any network resource (``/v2.0/{collection}/{id}/tags``)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from nubo.errors import BadRequest
from nubo.network import models as m

MAX_LENGTH = 255


def of_many(s: Session, collection: str, ids: Iterable[str]) -> dict[str, list[str]]:
    wanted = list(ids)
    out: dict[str, list[str]] = {}
    if not wanted:
        return out
    rows = s.execute(
        select(m.Tag.resource_id, m.Tag.tag).where(
            m.Tag.resource_type == collection, m.Tag.resource_id.in_(wanted)
        )
    )
    for resource_id, tag in rows:
        out.setdefault(resource_id, []).append(tag)
    return out


def of(s: Session, collection: str, resource_id: str) -> list[str]:
    return sorted(of_many(s, collection, [resource_id]).get(resource_id, []))


def check(tag: object) -> str:
    if not isinstance(tag, str) or not tag or len(tag) > MAX_LENGTH or "," in tag or "/" in tag:
        raise BadRequest(f"Invalid input for operation: '{tag}' is not a valid tag.")
    return tag


def add(s: Session, collection: str, resource_id: str, tag: str) -> None:
    if s.get(m.Tag, (collection, resource_id, tag)) is None:
        s.add(m.Tag(resource_type=collection, resource_id=resource_id, tag=tag))


def replace(s: Session, collection: str, resource_id: str, new: Iterable[str]) -> list[str]:
    wanted = sorted({check(t) for t in new})
    drop_many(s, collection, [resource_id])
    s.flush()
    for tag in wanted:
        s.add(m.Tag(resource_type=collection, resource_id=resource_id, tag=tag))
    return wanted


def remove(s: Session, collection: str, resource_id: str, tag: str) -> bool:
    row = s.get(m.Tag, (collection, resource_id, tag))
    if row is None:
        return False
    s.delete(row)
    return True


def drop_many(s: Session, collection: str, ids: Iterable[str]) -> None:
    wanted = list(ids)
    if wanted:
        s.execute(
            delete(m.Tag).where(m.Tag.resource_type == collection, m.Tag.resource_id.in_(wanted))
        )
