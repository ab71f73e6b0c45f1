"""Traits: the standard ones (in code) and custom ``CUSTOM_*`` ones (rows)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from nubo.errors import BadRequest, Conflict, NotFound
from nubo.placement import models as m
from nubo.placement.standards import STANDARD_TRAITS, is_custom


def exists(s: Session, name: str) -> bool:
    return name in STANDARD_TRAITS or s.get(m.Trait, name) is not None


def names(
    s: Session,
    *,
    only: set[str] | None = None,
    prefix: str | None = None,
    associated: bool | None = None,
) -> list[str]:
    """Every trait, sorted; ``only`` restricts to those names, ``prefix`` to names
    starting with it, ``associated`` to traits some provider has (or none has)."""
    every = set(STANDARD_TRAITS) | set(s.scalars(select(m.Trait.name)))
    if only is not None:
        every &= only
    if prefix is not None:
        every = {t for t in every if t.startswith(prefix)}
    if associated is not None:
        used = set(s.scalars(select(m.ProviderTrait.trait).distinct()))
        every = every & used if associated else every - used
    return sorted(every)


def ensure(s: Session, name: str) -> bool:
    """Create the custom trait unless it exists; True when created."""
    if not is_custom(name):
        raise BadRequest(
            f"The trait is invalid: {name!r}. A valid trait must be no longer than 255 "
            'characters, start with the prefix "CUSTOM_" and use following characters: '
            '"A"-"Z", "0"-"9" and "_"'
        )
    if exists(s, name):
        return False
    s.add(m.Trait(name=name))
    s.flush()
    return True


def delete_trait(s: Session, name: str) -> None:
    if name in STANDARD_TRAITS:
        raise BadRequest(f"Cannot delete standard trait {name}.")
    row = s.get(m.Trait, name)
    if row is None:
        raise NotFound(f"No such trait(s): {name}.")
    holder = s.scalar(select(m.ProviderTrait.provider_uuid).where(m.ProviderTrait.trait == name))
    if holder is not None:
        raise Conflict(f"The trait {name} is in use by a resource provider.")
    s.delete(row)
    s.flush()
