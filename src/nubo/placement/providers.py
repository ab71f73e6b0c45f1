"""Resource providers: create, rename, re-parent, delete; provider trees; locking and
generations; the traits and aggregates a provider carries.

Every change a client makes to a provider's inventories, traits, aggregates or
allocations goes through ``lock`` (row locks, in a fixed order, so two writers never
deadlock) and ``bump`` (a conditional UPDATE of the generation): a writer that read
an older generation gets a 409 ``placement.concurrent_update`` instead of silently
overwriting someone else's change.
"""

from __future__ import annotations

import uuid as uuidlib
from collections import defaultdict
from collections.abc import Iterable
from typing import Final

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from nubo.db.base import utcnow
from nubo.errors import BadRequest, Conflict, NotFound
from nubo.placement import codes
from nubo.placement import models as m
from nubo.placement.standards import STANDARD_TRAITS

UNSET: Final = object()


def parse_uuid(value: object, what: str = "uuid") -> str:
    """A UUID in its canonical dashed lower-case form; anything else is a 400."""
    try:
        return str(uuidlib.UUID(str(value)))
    except (ValueError, TypeError):
        raise BadRequest(f"Invalid {what}: {value!r} is not a valid UUID.") from None


def canonical(value: str) -> str:
    """The canonical form of a UUID in a path, or the text itself (which then matches
    nothing) when it is not one."""
    try:
        return str(uuidlib.UUID(value))
    except ValueError:
        return value


def find(s: Session, uuid: str) -> m.ResourceProvider | None:
    return s.get(m.ResourceProvider, canonical(uuid))


def get(s: Session, uuid: str) -> m.ResourceProvider:
    row = find(s, uuid)
    if row is None:
        raise NotFound(
            f"No resource provider with uuid {uuid} found.", kind=codes.PROVIDER_NOT_FOUND
        )
    return row


def lock(s: Session, uuids: Iterable[str]) -> dict[str, m.ResourceProvider]:
    """Lock the providers' rows (FOR UPDATE on PostgreSQL; SQLite write transactions
    are serialised already) in uuid order and return the fresh rows that exist."""
    wanted = sorted({canonical(u) for u in uuids})
    if not wanted:
        return {}
    rows = s.scalars(
        select(m.ResourceProvider)
        .where(m.ResourceProvider.uuid.in_(wanted))
        .order_by(m.ResourceProvider.uuid)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    return {row.uuid: row for row in rows}


def lock_one(s: Session, uuid: str) -> m.ResourceProvider:
    row = lock(s, [uuid]).get(canonical(uuid))
    if row is None:
        raise NotFound(
            f"No resource provider with uuid {uuid} found.", kind=codes.PROVIDER_NOT_FOUND
        )
    return row


def check_generation(row: m.ResourceProvider, expected: int | None) -> None:
    """The client's view of the provider must be current (None: not checked)."""
    if expected is not None and expected != row.generation:
        raise codes.concurrent(
            f"resource provider generation conflict: {row.uuid} is at generation "
            f"{row.generation}, not {expected}. Please update the generation and try again."
        )


def bump(s: Session, row: m.ResourceProvider) -> None:
    """Advance the provider's generation, only from the generation this transaction
    read: a concurrent writer that got there first makes this a 409."""
    s.flush()
    result = s.execute(
        update(m.ResourceProvider)
        .where(m.ResourceProvider.uuid == row.uuid)
        .where(m.ResourceProvider.generation == row.generation)
        .values(generation=m.ResourceProvider.generation + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise codes.concurrent(
            f"resource provider {row.uuid} was changed by another request. "
            "Please re-read it and try again."
        )
    set_committed_value(row, "generation", row.generation + 1)


# -- trees ---------------------------------------------------------------------------


def children_of(s: Session, uuid: str) -> list[str]:
    return list(
        s.scalars(select(m.ResourceProvider.uuid).where(m.ResourceProvider.parent_uuid == uuid))
    )


def subtree(s: Session, uuid: str) -> list[str]:
    """The provider and all its descendants."""
    found = [uuid]
    frontier = [uuid]
    while frontier:
        nxt = list(
            s.scalars(
                select(m.ResourceProvider.uuid).where(m.ResourceProvider.parent_uuid.in_(frontier))
            )
        )
        found += nxt
        frontier = nxt
    return found


# -- create / update / delete ------------------------------------------------------------


def create_provider(
    s: Session, name: str, uuid: str | None = None, parent_uuid: str | None = None
) -> m.ResourceProvider:
    """A new provider; 409 ``placement.duplicate_name`` when the name or uuid exists."""
    rp_uuid = parse_uuid(uuid) if uuid else str(uuidlib.uuid4())
    root = rp_uuid
    if parent_uuid is not None:
        parent = find(s, parent_uuid)
        if parent is None:
            raise BadRequest(
                f"parent provider UUID {parent_uuid} does not exist.",
                kind=codes.PROVIDER_NOT_FOUND,
            )
        parent_uuid, root = parent.uuid, parent.root_uuid
    if s.get(m.ResourceProvider, rp_uuid) is not None:
        raise Conflict(
            f"Conflicting resource provider uuid: {rp_uuid} already exists.",
            kind=codes.DUPLICATE_NAME,
        )
    _check_name_free(s, name)
    row = m.ResourceProvider(
        uuid=rp_uuid, name=name, generation=0, parent_uuid=parent_uuid, root_uuid=root
    )
    try:
        with s.begin_nested():
            s.add(row)
            s.flush()
    except IntegrityError:
        raise Conflict(
            f"Conflicting resource provider name: {name} already exists.",
            kind=codes.DUPLICATE_NAME,
        ) from None
    return row


def _check_name_free(s: Session, name: str, but: str | None = None) -> None:
    other = s.scalar(select(m.ResourceProvider.uuid).where(m.ResourceProvider.name == name))
    if other is not None and other != but:
        raise Conflict(
            f"Conflicting resource provider name: {name} already exists.",
            kind=codes.DUPLICATE_NAME,
        )


def update_provider(
    s: Session,
    uuid: str,
    name: str,
    parent_uuid: str | object | None = UNSET,
    *,
    allow_reparent: bool = False,
) -> m.ResourceProvider:
    """Rename a provider and, when ``parent_uuid`` is given, attach it under a parent.
    Moving an attached provider elsewhere (or detaching it) needs ``allow_reparent``
    (microversion 1.37); a provider never moves under itself or its descendants."""
    row = lock_one(s, uuid)
    if name != row.name:
        _check_name_free(s, name, but=row.uuid)
        row.name = name
    if parent_uuid is not UNSET and parent_uuid != row.parent_uuid:
        _reparent(s, row, parent_uuid if isinstance(parent_uuid, str) else None, allow_reparent)
    row.updated_at = utcnow()
    try:
        with s.begin_nested():
            s.flush()
    except IntegrityError:
        raise Conflict(
            f"Conflicting resource provider name: {name} already exists.",
            kind=codes.DUPLICATE_NAME,
        ) from None
    return row


def _reparent(s: Session, row: m.ResourceProvider, parent_uuid: str | None, allow: bool) -> None:
    if row.parent_uuid is not None and not allow:
        raise BadRequest(
            "The resource provider's parent provider UUID cannot be changed or unset "
            "before microversion 1.37."
        )
    tree = subtree(s, row.uuid)
    if parent_uuid is None:
        new_root = row.uuid
    else:
        parent = find(s, parent_uuid)
        if parent is None:
            raise BadRequest(
                f"parent provider UUID {parent_uuid} does not exist.",
                kind=codes.PROVIDER_NOT_FOUND,
            )
        if parent.uuid in tree:
            raise BadRequest("creating loop in the provider tree is not allowed.")
        parent_uuid, new_root = parent.uuid, parent.root_uuid
    row.parent_uuid = parent_uuid
    s.execute(
        update(m.ResourceProvider)
        .where(m.ResourceProvider.uuid.in_(tree))
        .values(root_uuid=new_root)
        .execution_options(synchronize_session=False)
    )
    set_committed_value(row, "root_uuid", new_root)


def delete_provider(s: Session, uuid: str) -> None:
    """Remove a provider with its inventories, traits and aggregates; refused while it
    has allocations or children."""
    row = lock_one(s, uuid)
    if s.scalar(select(m.Allocation.id).where(m.Allocation.provider_uuid == row.uuid).limit(1)):
        raise Conflict(
            f"Unable to delete resource provider {row.uuid}: Resource provider has allocations.",
            kind=codes.PROVIDER_IN_USE,
        )
    if children_of(s, row.uuid):
        raise Conflict(
            f"Unable to delete parent resource provider {row.uuid}: It has child resource "
            "providers.",
            kind=codes.PROVIDER_CANNOT_DELETE_PARENT,
        )
    for model in (m.Inventory, m.ProviderTrait, m.ProviderAggregate):
        s.execute(delete(model).where(model.provider_uuid == row.uuid))
    s.delete(row)
    s.flush()


# -- traits and aggregates of providers ----------------------------------------------------


def traits_of(s: Session, uuids: Iterable[str] | None = None) -> dict[str, set[str]]:
    query = select(m.ProviderTrait.provider_uuid, m.ProviderTrait.trait)
    if uuids is not None:
        query = query.where(m.ProviderTrait.provider_uuid.in_(list(uuids)))
    found: dict[str, set[str]] = defaultdict(set)
    for provider, trait in s.execute(query):
        found[provider].add(trait)
    return found


def aggregates_of(s: Session, uuids: Iterable[str] | None = None) -> dict[str, set[str]]:
    query = select(m.ProviderAggregate.provider_uuid, m.ProviderAggregate.aggregate_uuid)
    if uuids is not None:
        query = query.where(m.ProviderAggregate.provider_uuid.in_(list(uuids)))
    found: dict[str, set[str]] = defaultdict(set)
    for provider, aggregate in s.execute(query):
        found[provider].add(aggregate)
    return found


def unknown_traits(s: Session, names: Iterable[str]) -> list[str]:
    """Those of ``names`` that are neither standard nor custom traits, sorted."""
    wanted = set(names) - STANDARD_TRAITS
    if not wanted:
        return []
    known = set(s.scalars(select(m.Trait.name).where(m.Trait.name.in_(sorted(wanted)))))
    return sorted(wanted - known)


def set_traits(s: Session, uuid: str, traits: Iterable[str], generation: int | None) -> None:
    """Replace the provider's traits (400 for unknown traits)."""
    wanted = set(traits)
    missing = unknown_traits(s, wanted)
    if missing:
        raise BadRequest("No such trait(s): " + ", ".join(missing) + ".")
    row = lock_one(s, uuid)
    check_generation(row, generation)
    have = traits_of(s, [row.uuid]).get(row.uuid, set())
    if have - wanted:
        s.execute(
            delete(m.ProviderTrait)
            .where(m.ProviderTrait.provider_uuid == row.uuid)
            .where(m.ProviderTrait.trait.in_(sorted(have - wanted)))
        )
    for trait in sorted(wanted - have):
        s.add(m.ProviderTrait(provider_uuid=row.uuid, trait=trait))
    bump(s, row)


def set_aggregates(
    s: Session, uuid: str, aggregates: Iterable[str], generation: int | None
) -> None:
    """Replace the provider's aggregate associations."""
    wanted = {parse_uuid(a, "aggregate uuid") for a in aggregates}
    row = lock_one(s, uuid)
    check_generation(row, generation)
    have = aggregates_of(s, [row.uuid]).get(row.uuid, set())
    if have - wanted:
        s.execute(
            delete(m.ProviderAggregate)
            .where(m.ProviderAggregate.provider_uuid == row.uuid)
            .where(m.ProviderAggregate.aggregate_uuid.in_(sorted(have - wanted)))
        )
    for aggregate in sorted(wanted - have):
        s.add(m.ProviderAggregate(provider_uuid=row.uuid, aggregate_uuid=aggregate))
    bump(s, row)
