"""Inventories: how much of each resource class a provider has, and the capacity
arithmetic every claim and candidate search shares.

capacity = int((total - reserved) * allocation_ratio); a single allocation must lie
within [min_unit, max_unit] and be a multiple of step_size.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from nubo.db.base import utcnow
from nubo.errors import BadRequest, Conflict, NotFound
from nubo.placement import codes, providers
from nubo.placement import models as m
from nubo.placement.resource_classes import unknown_classes

log = logging.getLogger(__name__)

MAX_INT = 2147483647


@dataclass(frozen=True)
class Inventory:
    """One resource class's inventory on a provider (``max_unit`` None: ``total``)."""

    total: int
    reserved: int = 0
    min_unit: int = 1
    max_unit: int | None = None
    step_size: int = 1
    allocation_ratio: float = 1.0

    @property
    def max(self) -> int:
        return self.total if self.max_unit is None else self.max_unit

    @property
    def capacity(self) -> int:
        return capacity(self.total, self.reserved, self.allocation_ratio)

    @classmethod
    def of(cls, row: m.Inventory) -> Inventory:
        return cls(
            total=row.total,
            reserved=row.reserved,
            min_unit=row.min_unit,
            max_unit=row.max_unit,
            step_size=row.step_size,
            allocation_ratio=row.allocation_ratio,
        )

    def as_dict(self) -> dict[str, int | float]:
        return {
            "total": self.total,
            "reserved": self.reserved,
            "min_unit": self.min_unit,
            "max_unit": self.max,
            "step_size": self.step_size,
            "allocation_ratio": self.allocation_ratio,
        }


def capacity(total: int, reserved: int, allocation_ratio: float) -> int:
    """What may be allocated in all: the unreserved part times the overcommit ratio."""
    return int((total - reserved) * allocation_ratio)


def unit_problem(inv: Inventory, amount: int) -> str | None:
    """Why ``amount`` cannot be one allocation of this inventory (None: it can)."""
    if amount < inv.min_unit:
        return f"the amount {amount} is below min_unit {inv.min_unit}"
    if amount > inv.max:
        return f"the amount {amount} is above max_unit {inv.max}"
    if amount % inv.step_size:
        return f"the amount {amount} is not a multiple of step_size {inv.step_size}"
    return None


def fits(inv: Inventory, used: int, amount: int) -> bool:
    """Whether one more allocation of ``amount`` fits beside ``used``."""
    return unit_problem(inv, amount) is None and used + amount <= inv.capacity


def validate(rc: str, inv: Inventory, provider_uuid: str, reserved_may_equal_total: bool) -> None:
    """400 for an inventory that makes no sense: nothing left to allocate (before 1.26
    a capacity of 0 counts as nothing), values out of range, min_unit above max_unit."""
    where = f"Invalid inventory for '{rc}' on resource provider '{provider_uuid}'."
    for name, value in (
        ("total", inv.total),
        ("reserved", inv.reserved),
        ("min_unit", inv.min_unit),
        ("max_unit", inv.max),
        ("step_size", inv.step_size),
    ):
        lowest = 0 if name == "reserved" else 1
        if not lowest <= value <= MAX_INT:
            raise BadRequest(f"{where} The {name} value {value} is out of range.")
    if inv.allocation_ratio < 0:
        raise BadRequest(f"{where} The allocation_ratio must not be negative.")
    if inv.capacity < 0 or (inv.capacity == 0 and not reserved_may_equal_total):
        more = "greater than" if reserved_may_equal_total else "greater than or equal to"
        raise BadRequest(f"{where} The reserved value is {more} total.")
    if inv.min_unit > inv.max:
        raise BadRequest(f"{where} The min_unit {inv.min_unit} is above max_unit {inv.max}.")


def of_provider(s: Session, uuid: str) -> dict[str, Inventory]:
    rows = s.scalars(select(m.Inventory).where(m.Inventory.provider_uuid == uuid))
    return {row.resource_class: Inventory.of(row) for row in rows}


def of_providers(s: Session, uuids: Iterable[str] | None = None) -> dict[str, dict[str, Inventory]]:
    query = select(m.Inventory)
    if uuids is not None:
        query = query.where(m.Inventory.provider_uuid.in_(list(uuids)))
    found: dict[str, dict[str, Inventory]] = defaultdict(dict)
    for row in s.scalars(query):
        found[row.provider_uuid][row.resource_class] = Inventory.of(row)
    return found


def usage(s: Session, uuids: Iterable[str] | None = None) -> dict[str, dict[str, int]]:
    """provider -> resource class -> amount allocated."""
    query = select(
        m.Allocation.provider_uuid, m.Allocation.resource_class, func.sum(m.Allocation.used)
    ).group_by(m.Allocation.provider_uuid, m.Allocation.resource_class)
    if uuids is not None:
        query = query.where(m.Allocation.provider_uuid.in_(list(uuids)))
    found: dict[str, dict[str, int]] = defaultdict(dict)
    for provider, rc, used in s.execute(query):
        found[provider][rc] = int(used or 0)
    return found


def replace(
    s: Session,
    uuid: str,
    wanted: Mapping[str, Inventory],
    *,
    generation: int | None = None,
    reserved_may_equal_total: bool = True,
    check_in_use: bool = True,
) -> m.ResourceProvider:
    """Make the provider's inventories exactly ``wanted``.

    Removing a class that still has allocations is a 409 ``placement.inventory.inuse``;
    shrinking below what is allocated is allowed (as upstream) and logged, so a host
    that lost memory can still report it. ``check_in_use=False`` leaves that check to
    the caller (the reshaper moves allocations in the same transaction).
    """
    row = providers.lock_one(s, uuid)
    providers.check_generation(row, generation)
    missing = unknown_classes(s, wanted)
    if missing:
        raise BadRequest(
            f"Unknown resource class in inventory for resource provider {row.uuid}: "
            + ", ".join(missing)
        )
    for rc, inv in wanted.items():
        validate(rc, inv, row.uuid, reserved_may_equal_total)
    current = {
        r.resource_class: r
        for r in s.scalars(select(m.Inventory).where(m.Inventory.provider_uuid == row.uuid))
    }
    used = usage(s, [row.uuid]).get(row.uuid, {})
    removed = sorted(set(current) - set(wanted))
    if check_in_use:
        busy = [rc for rc in removed if used.get(rc)]
        if busy:
            raise Conflict(
                f"update conflict: Inventory for '{', '.join(busy)}' on resource provider "
                f"'{row.uuid}' in use.",
                kind=codes.INVENTORY_INUSE,
            )
    if removed:
        s.execute(
            delete(m.Inventory)
            .where(m.Inventory.provider_uuid == row.uuid)
            .where(m.Inventory.resource_class.in_(removed))
        )
    now = utcnow()
    for rc, inv in wanted.items():
        existing = current.get(rc)
        if existing is None:
            existing = m.Inventory(provider_uuid=row.uuid, resource_class=rc, created_at=now)
            s.add(existing)
        else:
            existing.updated_at = now
        existing.total = inv.total
        existing.reserved = inv.reserved
        existing.min_unit = inv.min_unit
        existing.max_unit = inv.max
        existing.step_size = inv.step_size
        existing.allocation_ratio = inv.allocation_ratio
        if used.get(rc, 0) > inv.capacity:
            log.warning(
                "resource provider %s is now over capacity for %s: %d used of %d",
                row.uuid,
                rc,
                used[rc],
                inv.capacity,
            )
    providers.bump(s, row)
    return row


def set_one(
    s: Session,
    uuid: str,
    rc: str,
    inv: Inventory,
    *,
    generation: int | None,
    create: bool,
    reserved_may_equal_total: bool,
) -> m.ResourceProvider:
    """Create (``create``: 409 if present) or update (404 if absent) one class."""
    row = providers.lock_one(s, uuid)
    providers.check_generation(row, generation)
    current = of_provider(s, row.uuid)
    if create and rc in current:
        raise Conflict(
            f"Update conflict: Inventory for '{rc}' on resource provider '{row.uuid}' "
            "already exists.",
        )
    if not create and rc not in current:
        raise BadRequest(
            f"No inventory record with resource class for resource provider {row.uuid}: {rc}"
        )
    current[rc] = inv
    return replace(
        s, row.uuid, current, generation=None, reserved_may_equal_total=reserved_may_equal_total
    )


def delete_one(s: Session, uuid: str, rc: str, *, generation: int | None = None) -> None:
    row = providers.lock_one(s, uuid)
    providers.check_generation(row, generation)
    current = of_provider(s, row.uuid)
    if rc not in current:
        raise NotFound(f"No inventory of class {rc} found for delete.")
    del current[rc]
    replace(s, row.uuid, current)
