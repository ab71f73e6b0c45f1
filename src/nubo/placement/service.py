"""The placement service facade (resource providers, inventories, allocations).
No HTTP in here; the compute scheduler calls it in its own transaction.

Resource logic lives in one module per resource (providers, inventories,
allocations, candidates, resource_classes, traits); this object is what other
services hold. Every method works in the caller's session ``s``, so a claim commits
or rolls back with the caller's own writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from nubo.config import Config
from nubo.db.engine import Database
from nubo.placement import allocations, candidates, inventories, providers
from nubo.placement.candidates import AggregateFilter, Snapshot, TraitFilter
from nubo.placement.inventories import Inventory

SERVICE_TYPE = "placement"

__all__ = ["SERVICE_TYPE", "Inventory", "PlacementService", "ProviderSummary"]


@dataclass(frozen=True)
class ProviderSummary:
    """A provider that can take a request: what it has and what is already used."""

    uuid: str
    name: str
    generation: int
    capacity: dict[str, int]
    used: dict[str, int]
    traits: frozenset[str] = field(default_factory=frozenset)
    aggregates: frozenset[str] = field(default_factory=frozenset)
    parent_uuid: str | None = None
    root_uuid: str | None = None

    def free(self, rc: str) -> int:
        return self.capacity.get(rc, 0) - self.used.get(rc, 0)


class PlacementService:
    def __init__(self, config: Config, db: Database) -> None:
        self.config = config
        self.db = db

    # -- providers -------------------------------------------------------------------

    def ensure_provider(
        self, s: Session, uuid: str, name: str, parent_uuid: str | None = None
    ) -> None:
        """Create the provider, or bring an existing one's name (and parent, when
        given) up to date. A name another provider holds is a 409."""
        row = providers.find(s, uuid)
        if row is None:
            providers.create_provider(s, name, uuid, parent_uuid)
            return
        if row.name != name or (parent_uuid is not None and row.parent_uuid != parent_uuid):
            providers.update_provider(
                s,
                row.uuid,
                name,
                parent_uuid if parent_uuid is not None else providers.UNSET,
                allow_reparent=True,
            )

    def delete_provider(self, s: Session, uuid: str) -> None:
        """Remove a provider (409 while it has allocations or children)."""
        providers.delete_provider(s, uuid)

    def set_inventory(self, s: Session, uuid: str, inventory: Mapping[str, Inventory]) -> None:
        """Replace all of the provider's inventories. Removing a class that has
        allocations is a 409 ``placement.inventory.inuse``; shrinking a class below
        its usage is allowed (logged), as upstream."""
        have = inventories.of_provider(s, providers.get(s, uuid).uuid)
        if {rc: inv.as_dict() for rc, inv in have.items()} == {
            rc: inv.as_dict() for rc, inv in inventory.items()
        }:
            return  # a periodic report that changes nothing keeps the generation
        inventories.replace(s, uuid, inventory)

    def inventory(self, s: Session, uuid: str) -> dict[str, Inventory]:
        return inventories.of_provider(s, providers.get(s, uuid).uuid)

    def set_traits(self, s: Session, uuid: str, traits: Iterable[str]) -> None:
        """Replace the provider's traits (400 for unknown ones)."""
        providers.set_traits(s, uuid, traits, None)

    def provider_aggregates(self, s: Session, uuid: str) -> list[str]:
        row = providers.get(s, uuid)
        return sorted(providers.aggregates_of(s, [row.uuid]).get(row.uuid, set()))

    def set_provider_aggregates(self, s: Session, uuid: str, aggregates: Iterable[str]) -> None:
        providers.set_aggregates(s, uuid, aggregates, None)

    def provider_usages(self, s: Session, uuid: str) -> dict[str, int]:
        row = providers.get(s, uuid)
        used = inventories.usage(s, [row.uuid]).get(row.uuid, {})
        return {rc: used.get(rc, 0) for rc in inventories.of_provider(s, row.uuid)} | used

    # -- scheduling ----------------------------------------------------------------------

    def candidates(
        self,
        s: Session,
        resources: Mapping[str, int],
        *,
        member_of: Sequence[Sequence[str]] = (),
        required_traits: Iterable[str] = (),
        forbidden_traits: Iterable[str] = (),
    ) -> list[ProviderSummary]:
        """Providers that alone fit every amount in ``resources`` (capacity and unit
        rules), have every required trait and none forbidden, and are in one aggregate
        of each ``member_of`` list; sorted by name."""
        snap = candidates.load(s)
        found = candidates.matching_providers(
            snap,
            resources={rc: n for rc, n in resources.items() if n},
            traits=TraitFilter([frozenset([t]) for t in required_traits], set(forbidden_traits)),
            aggregates=AggregateFilter([frozenset(group) for group in member_of if group]),
        )
        return [self._summary(snap, p.uuid) for p in found]

    @staticmethod
    def _summary(snap: Snapshot, uuid: str) -> ProviderSummary:
        p = snap.providers[uuid]
        stock = snap.inventory.get(uuid, {})
        return ProviderSummary(
            uuid=p.uuid,
            name=p.name,
            generation=p.generation,
            capacity={rc: inv.capacity for rc, inv in stock.items()},
            used={rc: snap.used.get(uuid, {}).get(rc, 0) for rc in stock},
            traits=frozenset(snap.traits.get(uuid, set())),
            aggregates=frozenset(snap.aggregates.get(uuid, set())),
            parent_uuid=p.parent_uuid,
            root_uuid=p.root_uuid,
        )

    # -- allocations -------------------------------------------------------------------

    def claim(
        self,
        s: Session,
        consumer_uuid: str,
        project_id: str,
        user_id: str,
        amounts: Mapping[str, Mapping[str, int]],
        *,
        consumer_type: str | None = None,
    ) -> None:
        """Replace the consumer's allocations with ``amounts`` (provider -> class ->
        amount) atomically; ``nubo.errors.Conflict`` when a provider lacks capacity or
        inventory, or another writer got in between."""
        wanted = {
            providers.canonical(p): {rc: n for rc, n in classes.items() if n}
            for p, classes in amounts.items()
        }
        allocations.replace(
            s,
            [
                allocations.ConsumerRequest(
                    consumer_uuid,
                    {p: c for p, c in wanted.items() if c},
                    project_id=project_id,
                    user_id=user_id,
                    consumer_type=consumer_type,
                )
            ],
        )

    def release(self, s: Session, consumer_uuid: str) -> None:
        """Drop every allocation of the consumer (nothing to do is fine)."""
        allocations.release(s, consumer_uuid)

    def allocations_of(self, s: Session, consumer_uuid: str) -> dict[str, dict[str, int]]:
        """provider -> resource class -> amount the consumer holds."""
        return allocations.of_consumer(s, consumer_uuid)

    def move(self, s: Session, from_consumer: str, to_consumer: str) -> None:
        """Hand one consumer's allocations to another (replacing the target's)."""
        allocations.move(s, from_consumer, to_consumer)

    def usages(self, s: Session, project_id: str, user_id: str | None = None) -> dict[str, int]:
        """resource class -> amount a project's (and user's) consumers hold."""
        return allocations.usages(s, project_id, user_id)
