"""The reshaper (1.30): move inventories and the allocations against them between
providers in one transaction, e.g. when a host splits VGPU inventory from its root
provider into per-GPU children."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from nubo.errors import BadRequest, Conflict
from nubo.placement import allocations, codes, inventories, providers
from nubo.placement.allocations import ConsumerRequest
from nubo.placement.inventories import Inventory


def reshape(
    s: Session,
    stock: Mapping[str, tuple[int | None, Mapping[str, Inventory]]],
    requests: list[ConsumerRequest],
    *,
    reserved_may_equal_total: bool = True,
) -> None:
    """``stock``: provider -> (generation the client saw, its new inventories);
    ``requests``: the new allocations of every consumer that moves."""
    for uuid in sorted(stock):
        if providers.find(s, uuid) is None:
            raise BadRequest(f"Resource provider {uuid} in inventories not found.")
    locked = providers.lock(s, stock)
    for uuid, (generation, wanted) in sorted(stock.items()):
        row = locked[providers.canonical(uuid)]
        providers.check_generation(row, generation)
        inventories.replace(
            s,
            row.uuid,
            wanted,
            reserved_may_equal_total=reserved_may_equal_total,
            check_in_use=False,
        )
    allocations.replace(s, requests)
    # every allocation must still have an inventory to draw from
    used = inventories.usage(s, locked)
    for uuid in sorted(locked):
        have = inventories.of_provider(s, uuid)
        orphaned = sorted(rc for rc, n in used.get(uuid, {}).items() if n and rc not in have)
        if orphaned:
            raise Conflict(
                f"Unable to reshape: Inventory for '{', '.join(orphaned)}' on resource "
                f"provider '{uuid}' in use.",
                kind=codes.INVENTORY_INUSE,
            )
