"""Consumers and their allocations: the one place capacity is spent.

``replace`` rewrites the allocations of one or more consumers in the caller's
transaction. It locks the consumers, then every provider involved (each set in
sorted order, consumers before providers, so concurrent writers queue instead of
deadlocking), re-reads usage under those locks, checks every provider's capacity and
the inventories' unit rules, writes, and bumps the generations. On SQLite the write
transaction is serialised (BEGIN IMMEDIATE); on PostgreSQL the row locks and the
conditional generation UPDATEs do the same work.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from nubo.db.base import utcnow
from nubo.errors import BadRequest, Conflict, NotFound
from nubo.placement import codes, inventories, providers
from nubo.placement import models as m
from nubo.placement.standards import INCOMPLETE_CONSUMER

UNCHECKED: Final = object()

Amounts = dict[str, dict[str, int]]  # provider uuid -> resource class -> amount


@dataclass
class ConsumerRequest:
    """What one consumer's allocations should become.

    ``generation``: UNCHECKED (no check), None (the consumer must be new) or the
    generation the client last saw. ``project_id``/``user_id``/``consumer_type`` None
    keep what the consumer has (new consumers get the placeholder project/user).
    """

    uuid: str
    allocations: Amounts
    project_id: str | None = None
    user_id: str | None = None
    generation: int | object | None = UNCHECKED
    consumer_type: str | None = None


def _lock_consumers(s: Session, uuids: Iterable[str]) -> dict[str, m.Consumer]:
    wanted = sorted(set(uuids))
    rows = s.scalars(
        select(m.Consumer)
        .where(m.Consumer.uuid.in_(wanted))
        .order_by(m.Consumer.uuid)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    return {row.uuid: row for row in rows}


def _check_consumer_generation(req: ConsumerRequest, row: m.Consumer | None) -> None:
    if req.generation is UNCHECKED:
        return
    if row is None:
        if req.generation is not None:
            raise codes.concurrent(
                f"consumer generation conflict - expected {req.generation} but consumer "
                f"{req.uuid} does not exist. Please refresh and try again."
            )
        return
    if req.generation is None:
        raise codes.concurrent(
            f"consumer generation conflict - expected null but got {row.generation}. "
            f"Consumer {req.uuid} already exists; please refresh and try again."
        )
    if req.generation != row.generation:
        raise codes.concurrent(
            f"consumer generation conflict - expected {req.generation} but got "
            f"{row.generation}. Please refresh and try again."
        )


def current(s: Session, consumer_uuids: Iterable[str]) -> dict[str, Amounts]:
    """consumer -> provider -> resource class -> amount."""
    found: dict[str, Amounts] = defaultdict(lambda: defaultdict(dict))
    rows = s.execute(
        select(
            m.Allocation.consumer_uuid,
            m.Allocation.provider_uuid,
            m.Allocation.resource_class,
            m.Allocation.used,
        ).where(m.Allocation.consumer_uuid.in_(sorted(set(consumer_uuids))))
    )
    for consumer, provider, rc, used in rows:
        found[consumer][provider][rc] = used
    return {c: {p: dict(r) for p, r in a.items()} for c, a in found.items()}


def replace(s: Session, requests: list[ConsumerRequest], *, check_units: bool = True) -> None:
    """Make each consumer's allocations exactly what its request says (an empty
    request removes them all and the consumer with them). Raises 400 for unknown
    providers, 409 for missing inventory, unit violations, exceeded capacity and
    generation conflicts; nothing is written unless everything fits."""
    by_consumer = {req.uuid: req for req in requests}
    consumers = _lock_consumers(s, by_consumer)
    for req in by_consumer.values():
        _check_consumer_generation(req, consumers.get(req.uuid))
    old = current(s, by_consumer)
    touched: set[str] = set()
    for req in by_consumer.values():
        touched |= set(req.allocations)
        touched |= set(old.get(req.uuid, {}))
    locked = providers.lock(s, touched)
    for req in by_consumer.values():
        for provider in req.allocations:
            if provider not in locked:
                raise BadRequest(
                    f"Allocation for resource provider '{provider}' that does not exist."
                )
    _check_capacity(s, locked, by_consumer, old, check_units)
    _write(s, by_consumer, consumers, old)
    for provider in sorted(touched):
        providers.bump(s, locked[provider])


def _check_capacity(
    s: Session,
    locked: Mapping[str, m.ResourceProvider],
    by_consumer: Mapping[str, ConsumerRequest],
    old: Mapping[str, Amounts],
    check_units: bool,
) -> None:
    stock = inventories.of_providers(s, locked)
    used = inventories.usage(s, locked)
    after: dict[tuple[str, str], int] = defaultdict(int)
    before: dict[tuple[str, str], int] = {}
    for provider, classes in used.items():
        for rc, amount in classes.items():
            before[(provider, rc)] = amount
            after[(provider, rc)] += amount
    for consumer in by_consumer:
        for provider, classes in old.get(consumer, {}).items():
            for rc, amount in classes.items():
                after[(provider, rc)] -= amount
    for consumer, req in sorted(by_consumer.items()):
        previous = old.get(consumer, {})
        for provider, classes in sorted(req.allocations.items()):
            for rc, amount in sorted(classes.items()):
                inv = stock.get(provider, {}).get(rc)
                if inv is None:
                    raise Conflict(
                        f"Unable to allocate inventory: Inventory for '{rc}' on resource "
                        f"provider '{provider}' invalid."
                    )
                unchanged = previous.get(provider, {}).get(rc) == amount
                problem = inventories.unit_problem(inv, amount)
                if problem and check_units and not unchanged:
                    raise Conflict(
                        f"Unable to allocate inventory: Unable to create allocation for "
                        f"'{rc}' on resource provider '{provider}'. The requested amount "
                        f"would violate inventory constraints ({problem})."
                    )
                after[(provider, rc)] += amount
    for (provider, rc), total in sorted(after.items()):
        inv = stock.get(provider, {}).get(rc)
        # an operation that does not raise a provider's usage never fails on capacity
        # (an over-committed host can still shrink or move its allocations)
        if inv is None or total <= before.get((provider, rc), 0):
            continue
        if total > inv.capacity:
            raise Conflict(
                f"Unable to allocate inventory: Unable to create allocation for '{rc}' on "
                f"resource provider '{provider}'. The requested amount would exceed the "
                f"capacity ({total} of {inv.capacity})."
            )


def _write(
    s: Session,
    by_consumer: Mapping[str, ConsumerRequest],
    consumers: dict[str, m.Consumer],
    old: Mapping[str, Amounts],
) -> None:
    now = utcnow()
    for consumer, req in sorted(by_consumer.items()):
        if old.get(consumer):
            s.execute(delete(m.Allocation).where(m.Allocation.consumer_uuid == consumer))
        row = consumers.get(consumer)
        wanted = {p: {rc: n for rc, n in c.items()} for p, c in req.allocations.items() if c}
        if not wanted:
            if row is not None:
                s.delete(row)
                s.flush()
            continue
        if row is None:
            row = m.Consumer(
                uuid=consumer,
                project_id=req.project_id or INCOMPLETE_CONSUMER,
                user_id=req.user_id or INCOMPLETE_CONSUMER,
                consumer_type=req.consumer_type,
                generation=1,
                created_at=now,
            )
            try:
                with s.begin_nested():
                    s.add(row)
                    s.flush()
            except IntegrityError:
                raise codes.concurrent(
                    f"consumer {consumer} was created by another request at the same time. "
                    "Please refresh and try again."
                ) from None
        else:
            changes: dict[str, object] = {"generation": row.generation + 1, "updated_at": now}
            if req.project_id:
                changes["project_id"] = req.project_id
            if req.user_id:
                changes["user_id"] = req.user_id
            if req.consumer_type:
                changes["consumer_type"] = req.consumer_type
            result = s.execute(
                update(m.Consumer)
                .where(m.Consumer.uuid == consumer)
                .where(m.Consumer.generation == row.generation)
                .values(**changes)
                .execution_options(synchronize_session=False)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise codes.concurrent(
                    f"consumer {consumer} was changed by another request. "
                    "Please refresh and try again."
                )
            for key, value in changes.items():
                set_committed_value(row, key, value)
        for provider, classes in sorted(wanted.items()):
            for rc, amount in sorted(classes.items()):
                s.add(
                    m.Allocation(
                        consumer_uuid=consumer,
                        provider_uuid=provider,
                        resource_class=rc,
                        used=amount,
                        created_at=now,
                    )
                )
    s.flush()


# -- reading -------------------------------------------------------------------------------


def of_consumer(s: Session, consumer: str) -> Amounts:
    return current(s, [consumer]).get(consumer, {})


def consumer(s: Session, uuid: str) -> m.Consumer | None:
    return s.get(m.Consumer, uuid)


def of_provider(s: Session, provider: str) -> dict[str, dict[str, int]]:
    """consumer -> resource class -> amount on one provider."""
    found: dict[str, dict[str, int]] = defaultdict(dict)
    rows = s.execute(
        select(m.Allocation.consumer_uuid, m.Allocation.resource_class, m.Allocation.used).where(
            m.Allocation.provider_uuid == provider
        )
    )
    for consumer_uuid, rc, used in rows:
        found[consumer_uuid][rc] = used
    return dict(found)


def release(s: Session, consumer_uuid: str) -> bool:
    """Remove every allocation of the consumer; False when it had none."""
    if not of_consumer(s, consumer_uuid):
        return False
    replace(s, [ConsumerRequest(consumer_uuid, {})])
    return True


def delete_all(s: Session, consumer_uuid: str) -> None:
    if not release(s, consumer_uuid):
        raise NotFound(f"No allocations for consumer '{consumer_uuid}'")


def move(s: Session, source: str, target: str) -> None:
    """Hand ``source``'s allocations to ``target`` (replacing target's), e.g. a resize
    keeps the old flavor's resources under the migration's uuid."""
    held = of_consumer(s, source)
    row = consumer(s, source)
    replace(
        s,
        [
            ConsumerRequest(
                target,
                held,
                project_id=row.project_id if row else None,
                user_id=row.user_id if row else None,
                consumer_type=row.consumer_type if row else None,
            ),
            ConsumerRequest(source, {}),
        ],
        check_units=False,
    )


def usages(
    s: Session, project_id: str, user_id: str | None = None, consumer_type: str | None = None
) -> dict[str, int]:
    """resource class -> amount the project's (and user's) consumers hold;
    ``consumer_type`` "unknown" means consumers without a type, "all" any."""
    query = (
        select(m.Allocation.resource_class, func.sum(m.Allocation.used))
        .join(m.Consumer, m.Consumer.uuid == m.Allocation.consumer_uuid)
        .where(m.Consumer.project_id == project_id)
        .group_by(m.Allocation.resource_class)
    )
    if user_id is not None:
        query = query.where(m.Consumer.user_id == user_id)
    if consumer_type == "unknown":
        query = query.where(m.Consumer.consumer_type.is_(None))
    elif consumer_type not in (None, "all"):
        query = query.where(m.Consumer.consumer_type == consumer_type)
    return {rc: int(total or 0) for rc, total in s.execute(query)}


def usages_by_type(
    s: Session, project_id: str, user_id: str | None = None, consumer_type: str | None = None
) -> dict[str, dict[str, int]]:
    """consumer type ("unknown" for none) -> {"consumer_count": n, rc: amount ...}
    (microversion 1.38); ``consumer_type`` "all" folds every type into one "all"."""
    query = (
        select(
            m.Consumer.consumer_type,
            m.Allocation.consumer_uuid,
            m.Allocation.resource_class,
            m.Allocation.used,
        )
        .join(m.Consumer, m.Consumer.uuid == m.Allocation.consumer_uuid)
        .where(m.Consumer.project_id == project_id)
    )
    if user_id is not None:
        query = query.where(m.Consumer.user_id == user_id)
    groups: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    counted: dict[str, set[str]] = defaultdict(set)
    for kind, consumer_uuid, rc, used in s.execute(query):
        key = kind or "unknown"
        if consumer_type == "all":
            key = "all"
        elif consumer_type is not None and key != consumer_type:
            continue
        groups[key][rc] += used
        counted[key].add(consumer_uuid)
    result: dict[str, dict[str, int]] = {}
    for key, classes in groups.items():
        result[key] = {"consumer_count": len(counted[key]), **classes}
    return result
