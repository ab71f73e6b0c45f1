"""Which providers can satisfy a request: the provider filters of
``GET /resource_providers`` and the allocation candidates of
``GET /allocation_candidates`` (request groups, provider trees, sharing providers).

The search works on one snapshot of every provider, inventory, usage, trait and
aggregate, read in a handful of queries; a private cloud's provider count keeps
that cheap, and the arithmetic stays in plain Python where it can be tested.

Semantics, following the Placement API reference:
* the unsuffixed group may spread its resource classes over several providers of
  one tree (from 1.29; before, one provider) plus sharing providers
  (``MISC_SHARES_VIA_AGGREGATE``) in an aggregate with that tree; its required
  traits must be found among the providers it uses and its forbidden traits on none;
* a suffixed group is satisfied by a single provider;
* ``group_policy=isolate`` keeps suffixed groups on different providers;
* amounts of several groups landing on one provider are summed for capacity.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from nubo.placement import inventories, providers
from nubo.placement import models as m
from nubo.placement.inventories import Inventory
from nubo.placement.standards import SHARES_VIA_AGGREGATE

# the most allocation requests one search returns (the rest are not enumerated)
MAX_CANDIDATES = 1000


@dataclass(frozen=True)
class Provider:
    uuid: str
    name: str
    generation: int
    parent_uuid: str | None
    root_uuid: str


@dataclass
class Snapshot:
    """Every provider with what the search needs to know about it."""

    providers: dict[str, Provider]
    inventory: Mapping[str, dict[str, Inventory]]
    used: Mapping[str, dict[str, int]]
    traits: Mapping[str, set[str]]
    aggregates: Mapping[str, set[str]]
    members: dict[str, list[str]] = field(default_factory=dict)  # root -> its tree

    def __post_init__(self) -> None:
        trees: dict[str, list[str]] = defaultdict(list)
        for p in self.providers.values():
            trees[p.root_uuid].append(p.uuid)
        self.members = {root: sorted(uuids) for root, uuids in trees.items()}

    def free(self, uuid: str, rc: str) -> int:
        inv = self.inventory.get(uuid, {}).get(rc)
        if inv is None:
            return 0
        return inv.capacity - self.used.get(uuid, {}).get(rc, 0)

    def fits(self, uuid: str, rc: str, amount: int) -> bool:
        inv = self.inventory.get(uuid, {}).get(rc)
        return inv is not None and inventories.fits(inv, self.used.get(uuid, {}).get(rc, 0), amount)

    def is_ancestor_or_self(self, ancestor: str, uuid: str) -> bool:
        current: str | None = uuid
        while current is not None:
            if current == ancestor:
                return True
            current = self.providers[current].parent_uuid
        return False


def load(s: Session) -> Snapshot:
    rows = s.scalars(select(m.ResourceProvider)).all()
    found = {
        r.uuid: Provider(r.uuid, r.name, r.generation, r.parent_uuid, r.root_uuid) for r in rows
    }
    return Snapshot(
        providers=found,
        inventory=inventories.of_providers(s),
        used=inventories.usage(s),
        traits=providers.traits_of(s),
        aggregates=providers.aggregates_of(s),
    )


@dataclass
class TraitFilter:
    """``required``: every set needs one of its traits (a plain trait is a set of one);
    ``forbidden``: none of these."""

    required: list[frozenset[str]] = field(default_factory=list)
    forbidden: set[str] = field(default_factory=set)

    def names(self) -> set[str]:
        every = set(self.forbidden)
        for any_of in self.required:
            every |= any_of
        return every

    def accepts(self, traits: set[str]) -> bool:
        return all(traits & any_of for any_of in self.required) and not traits & self.forbidden


@dataclass
class AggregateFilter:
    """``member_of``: every set needs one aggregate of it; ``forbidden``: none of these."""

    member_of: list[frozenset[str]] = field(default_factory=list)
    forbidden: set[str] = field(default_factory=set)

    def accepts(self, aggregates: set[str]) -> bool:
        return (
            all(aggregates & any_of for any_of in self.member_of)
            and not aggregates & self.forbidden
        )


@dataclass
class RequestGroup:
    """One request group: ``suffix`` "" is the unsuffixed group."""

    suffix: str = ""
    resources: dict[str, int] = field(default_factory=dict)
    traits: TraitFilter = field(default_factory=TraitFilter)
    aggregates: AggregateFilter = field(default_factory=AggregateFilter)
    in_tree: str | None = None

    @property
    def same_provider(self) -> bool:
        return self.suffix != ""


def matching_providers(
    snap: Snapshot,
    *,
    name: str | None = None,
    uuid: str | None = None,
    in_tree: str | None = None,
    resources: Mapping[str, int] | None = None,
    traits: TraitFilter | None = None,
    aggregates: AggregateFilter | None = None,
) -> list[Provider]:
    """Providers passing every given filter, each on its own (GET /resource_providers)."""
    tree_root = None
    if in_tree is not None:
        anchor = snap.providers.get(in_tree)
        if anchor is None:
            return []
        tree_root = anchor.root_uuid
    found = []
    for p in snap.providers.values():
        if name is not None and p.name != name:
            continue
        if uuid is not None and p.uuid != uuid:
            continue
        if tree_root is not None and p.root_uuid != tree_root:
            continue
        if resources and not all(snap.fits(p.uuid, rc, n) for rc, n in resources.items()):
            continue
        if traits is not None and not traits.accepts(snap.traits.get(p.uuid, set())):
            continue
        if aggregates is not None and not aggregates.accepts(snap.aggregates.get(p.uuid, set())):
            continue
        found.append(p)
    return sorted(found, key=lambda p: (p.name, p.uuid))


# -- allocation candidates -----------------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    """One way to serve a group: which provider gives each resource class (a group
    without resources is served by the one provider that matches its filters)."""

    classes: dict[str, str]
    providers: tuple[str, ...]

    @classmethod
    def of(cls, classes: dict[str, str]) -> Assignment:
        return cls(classes, tuple(sorted(set(classes.values()))))


@dataclass
class Candidate:
    """One allocation request: per provider the summed amounts, and which providers
    serve each group (``mappings``, microversion 1.34)."""

    allocations: dict[str, dict[str, int]]
    mappings: dict[str, list[str]]

    def key(self) -> tuple[tuple[str, tuple[tuple[str, int], ...]], ...]:
        return tuple(
            (p, tuple(sorted(classes.items()))) for p, classes in sorted(self.allocations.items())
        )


@dataclass
class Search:
    """An allocation-candidates request."""

    groups: list[RequestGroup]
    isolate: bool = False
    nested: bool = True  # microversion 1.29: trees; before, one provider per tree
    limit: int | None = None
    root_traits: TraitFilter | None = None
    same_subtree: list[list[str]] = field(default_factory=list)


def _sharing(snap: Snapshot, pool: Iterable[str]) -> list[str]:
    """Sharing providers outside ``pool`` in an aggregate with a provider of it."""
    members = set(pool)
    aggregates: set[str] = set()
    for uuid in members:
        aggregates |= snap.aggregates.get(uuid, set())
    return sorted(
        uuid
        for uuid, traits in snap.traits.items()
        if SHARES_VIA_AGGREGATE in traits
        and uuid not in members
        and uuid in snap.providers
        and snap.aggregates.get(uuid, set()) & aggregates
    )


def _provider_ok(snap: Snapshot, group: RequestGroup, uuid: str) -> bool:
    """The group's aggregate and tree filters, for a provider serving it (its own
    aggregates or those of its tree's root count)."""
    p = snap.providers[uuid]
    aggs = snap.aggregates.get(uuid, set()) | snap.aggregates.get(p.root_uuid, set())
    if not group.aggregates.accepts(aggs):
        return False
    if group.in_tree is not None:
        anchor = snap.providers.get(group.in_tree)
        if anchor is None or p.root_uuid != anchor.root_uuid:
            return False
    return True


def _group_options(snap: Snapshot, group: RequestGroup, pool: Sequence[str]) -> list[Assignment]:
    usable = [u for u in pool if _provider_ok(snap, group, u)]
    if group.same_provider:
        return [
            Assignment({rc: u for rc in group.resources}, (u,))
            for u in usable
            if all(snap.fits(u, rc, n) for rc, n in group.resources.items())
            and group.traits.accepts(snap.traits.get(u, set()))
        ]
    per_class = [
        [u for u in usable if snap.fits(u, rc, n)] for rc, n in sorted(group.resources.items())
    ]
    classes = sorted(group.resources)
    options = []
    for chosen in itertools.product(*per_class):
        used = set(chosen)
        traits: set[str] = set()
        for u in used:
            traits |= snap.traits.get(u, set())
        if not group.traits.accepts(traits):
            continue
        options.append(Assignment.of(dict(zip(classes, chosen, strict=True))))
        if len(options) >= MAX_CANDIDATES:
            break
    return options


def _combine(
    snap: Snapshot, search: Search, chosen: Sequence[tuple[RequestGroup, Assignment]]
) -> Candidate | None:
    if search.isolate:
        seen: set[str] = set()
        for group, assignment in chosen:
            if not group.same_provider:
                continue
            mine = set(assignment.providers)
            if mine & seen:
                return None
            seen |= mine
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    mappings: dict[str, list[str]] = {}
    for group, assignment in chosen:
        for rc, uuid in assignment.classes.items():
            totals[uuid][rc] += group.resources[rc]
        mappings[group.suffix] = list(assignment.providers)
    for uuid, classes in totals.items():
        for rc, amount in classes.items():
            if amount > snap.free(uuid, rc):
                return None
    for suffixes in search.same_subtree:
        involved = [u for s in suffixes for u in mappings.get(s, [])]
        if involved and not any(
            all(snap.is_ancestor_or_self(top, u) for u in involved) for top in involved
        ):
            return None
    return Candidate({u: dict(c) for u, c in totals.items()}, mappings)


def _anchors(snap: Snapshot, search: Search) -> Iterator[tuple[str, list[str]]]:
    """(root, pool of providers) for every tree a candidate may come from."""
    if search.nested:
        for root, members in sorted(snap.members.items()):
            yield root, members + _sharing(snap, members)
    else:
        for uuid in sorted(snap.providers):
            yield uuid, [uuid, *_sharing(snap, [uuid])]


def allocation_candidates(snap: Snapshot, search: Search) -> list[Candidate]:
    """The allocation requests that satisfy ``search``, without duplicates."""
    found: list[Candidate] = []
    keys: set[object] = set()
    cap = min(search.limit or MAX_CANDIDATES, MAX_CANDIDATES)
    for root, pool in _anchors(snap, search):
        if search.root_traits is not None and not search.root_traits.accepts(
            snap.traits.get(snap.providers[root].root_uuid, set())
        ):
            continue
        # the unsuffixed group without resources (only traits or aggregates) describes
        # the tree: its filters apply to the root
        bare = [g for g in search.groups if not g.resources and not g.same_provider]
        root_uuid = snap.providers[root].root_uuid
        if any(
            not g.traits.accepts(snap.traits.get(root_uuid, set()))
            or not _provider_ok(snap, g, root_uuid)
            for g in bare
        ):
            continue
        options = [
            (g, _group_options(snap, g, pool))
            for g in search.groups
            if g.resources or g.same_provider
        ]
        if any(not opts for _g, opts in options):
            continue
        for combo in itertools.product(*(opts for _g, opts in options)):
            chosen = [(g, a) for (g, _opts), a in zip(options, combo, strict=True)]
            candidate = _combine(snap, search, chosen)
            if candidate is None:
                continue
            key = candidate.key()
            if key in keys:
                continue
            keys.add(key)
            found.append(candidate)
            if len(found) >= cap:
                return found
    return found


def summary_providers(snap: Snapshot, found: Iterable[Candidate], nested: bool) -> list[str]:
    """The providers the summaries describe: those in the candidates and, from 1.29,
    the rest of their trees."""
    uuids: set[str] = set()
    for candidate in found:
        for uuid in candidate.allocations:
            uuids.add(uuid)
            if nested:
                uuids |= set(snap.members.get(snap.providers[uuid].root_uuid, []))
    return sorted(uuids)
