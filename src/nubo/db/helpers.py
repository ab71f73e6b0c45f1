"""Small helpers every service layer uses with its sessions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nubo.errors import Conflict, NotFound

T = TypeVar("T")


def get_or_404(session: Session, model: type[T], ident: Any, what: str) -> T:
    """Load a row by primary key or raise NotFound ``Could not find <what>: <id>.``"""
    row = session.get(model, ident) if ident is not None else None
    if row is None:
        raise NotFound(f"Could not find {what}: {ident}.")
    return row


@contextmanager
def conflict_on_duplicate(session: Session, message: str) -> Iterator[None]:
    """Turn a unique-constraint violation during flush into a 409."""
    try:
        with session.begin_nested():
            yield
            session.flush()
    except IntegrityError as exc:
        raise Conflict(message) from exc


def flush_or_conflict(session: Session, message: str) -> None:
    """Write pending changes now; a unique-constraint violation becomes a 409."""
    with conflict_on_duplicate(session, message):
        pass


def add_if_absent(session: Session, row: Any) -> None:
    """Insert ``row`` unless an equal key exists (idempotent PUTs, safe under races)."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        pass


def merge_options(current: dict[str, Any] | None, changes: dict[str, Any] | None) -> dict[str, Any]:
    """Keystone's ``options`` update: set the given keys, drop those set to null."""
    merged = dict(current or {})
    for key, value in (changes or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
