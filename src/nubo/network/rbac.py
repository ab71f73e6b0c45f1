"""Who may see and use a network (or another shareable object) besides its owner:
RBAC policies, the only source of ``shared`` and of per-project external access."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import or_, select, true
from sqlalchemy.orm import Session

from nubo.network import models as m

SHARED = "access_as_shared"
EXTERNAL = "access_as_external"
WILDCARD = "*"


def grants(
    s: Session, object_type: str, object_ids: Iterable[str]
) -> dict[str, set[tuple[str, str]]]:
    """object id -> {(action, target project)} for the given objects."""
    ids = list(object_ids)
    out: dict[str, set[tuple[str, str]]] = {i: set() for i in ids}
    if not ids:
        return out
    rows = s.execute(
        select(m.RbacPolicy.object_id, m.RbacPolicy.action, m.RbacPolicy.target_tenant).where(
            m.RbacPolicy.object_type == object_type, m.RbacPolicy.object_id.in_(ids)
        )
    )
    for object_id, action, target in rows:
        out[object_id].add((action, target))
    return out


def granted_ids(s: Session, object_type: str, project_id: str) -> dict[str, set[str]]:
    """action -> ids of objects shared with ``project_id`` (directly or with everyone)."""
    out: dict[str, set[str]] = {SHARED: set(), EXTERNAL: set()}
    rows = s.execute(
        select(m.RbacPolicy.object_id, m.RbacPolicy.action).where(
            m.RbacPolicy.object_type == object_type,
            m.RbacPolicy.target_tenant.in_((project_id, WILDCARD)),
        )
    )
    for object_id, action in rows:
        out.setdefault(action, set()).add(object_id)
    return out


def visible_shared(s: Session, model: Any, object_type: str, project_id: str, admin: bool) -> Any:
    """A WHERE clause for the rows of a model with a ``shared`` column (subnet pools,
    address scopes) a project can see: its own, shared ones, and those an RBAC policy
    shares with it; everything for an admin."""
    if admin:
        return true()
    granted = granted_ids(s, object_type, project_id)[SHARED]
    return or_(model.project_id == project_id, model.shared.is_(True), model.id.in_(granted))


def is_shared_with(grant_set: set[tuple[str, str]], project_id: str) -> bool:
    return (SHARED, WILDCARD) in grant_set or (SHARED, project_id) in grant_set


def set_wildcard(
    s: Session, object_type: str, object_id: str, action: str, owner: str, on: bool
) -> None:
    """Create or remove the ``*`` policy behind ``shared=True`` / ``router:external``."""
    row = s.scalar(
        select(m.RbacPolicy).where(
            m.RbacPolicy.object_type == object_type,
            m.RbacPolicy.object_id == object_id,
            m.RbacPolicy.action == action,
            m.RbacPolicy.target_tenant == WILDCARD,
        )
    )
    if on and row is None:
        s.add(
            m.RbacPolicy(
                project_id=owner,
                object_type=object_type,
                object_id=object_id,
                action=action,
                target_tenant=WILDCARD,
            )
        )
    elif not on and row is not None:
        s.delete(row)


def drop_all(s: Session, object_type: str, object_id: str) -> None:
    for row in s.scalars(
        select(m.RbacPolicy).where(
            m.RbacPolicy.object_type == object_type, m.RbacPolicy.object_id == object_id
        )
    ):
        s.delete(row)
