"""Resource classes: the standard ones (in code) and custom ``CUSTOM_*`` ones (rows)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from nubo.db.base import utcnow
from nubo.errors import BadRequest, Conflict, NotFound
from nubo.placement import codes
from nubo.placement import models as m
from nubo.placement.standards import STANDARD_RESOURCE_CLASSES, is_custom

_STANDARD = frozenset(STANDARD_RESOURCE_CLASSES)


def names(s: Session) -> list[str]:
    """Every resource class: the standard ones in their order, then the custom ones."""
    custom = s.scalars(select(m.ResourceClass.name).order_by(m.ResourceClass.name))
    return [*STANDARD_RESOURCE_CLASSES, *custom]


def exists(s: Session, name: str) -> bool:
    return name in _STANDARD or s.get(m.ResourceClass, name) is not None


def unknown_classes(s: Session, wanted: Iterable[str]) -> list[str]:
    """Those of ``wanted`` that are no resource class, sorted."""
    rest = set(wanted) - _STANDARD
    if not rest:
        return []
    known = set(s.scalars(select(m.ResourceClass.name).where(m.ResourceClass.name.in_(rest))))
    return sorted(rest - known)


def get(s: Session, name: str) -> str:
    if not exists(s, name):
        raise NotFound(f"No such resource class {name}.")
    return name


def _check_custom(name: str) -> None:
    if not is_custom(name):
        raise BadRequest(
            f"Invalid resource class name {name!r}: a custom resource class must start with "
            "'CUSTOM_', use only the characters A-Z, 0-9 and _, and be at most 255 characters."
        )


def create(s: Session, name: str) -> None:
    """A new custom class; 409 when it exists."""
    _check_custom(name)
    if exists(s, name):
        raise Conflict(
            f"Conflicting resource class already exists: {name}", kind=codes.DUPLICATE_NAME
        )
    s.add(m.ResourceClass(name=name))
    s.flush()


def ensure(s: Session, name: str) -> bool:
    """Create the custom class unless it exists; True when created."""
    _check_custom(name)
    if exists(s, name):
        return False
    s.add(m.ResourceClass(name=name))
    s.flush()
    return True


def _in_use(s: Session, name: str) -> bool:
    used = s.scalar(select(m.Allocation.id).where(m.Allocation.resource_class == name).limit(1))
    stocked = s.scalar(
        select(m.Inventory.provider_uuid).where(m.Inventory.resource_class == name).limit(1)
    )
    return used is not None or stocked is not None


def rename(s: Session, name: str, new_name: str) -> None:
    """Rename a custom class (microversions before 1.7)."""
    if name in _STANDARD:
        raise BadRequest(f"Cannot update standard resource class {name}")
    row = s.get(m.ResourceClass, name)
    if row is None:
        raise NotFound(f"No such resource class {name}.")
    _check_custom(new_name)
    if new_name == name:
        return
    if exists(s, new_name):
        raise Conflict(f"Resource class already exists: {new_name}", kind=codes.DUPLICATE_NAME)
    if _in_use(s, name):
        raise Conflict(f"Resource class {name} is in use in inventory or allocations.")
    s.delete(row)
    s.add(m.ResourceClass(name=new_name, updated_at=utcnow()))
    s.flush()


def delete_class(s: Session, name: str) -> None:
    if name in _STANDARD:
        raise BadRequest(f"Cannot delete standard resource class {name}")
    row = s.get(m.ResourceClass, name)
    if row is None:
        raise NotFound(f"No such resource class {name}.")
    if _in_use(s, name):
        raise Conflict(
            f"Unable to delete resource class {name}: Resource class is in use in "
            "inventory or allocations."
        )
    s.delete(row)
    s.flush()
