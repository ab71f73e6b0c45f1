"""Placement in the service layer on a real (SQLite) database: capacity arithmetic,
inventories, claims and their conflicts (also from many threads at once), consumer
and provider generations, moves, usages, provider trees, the candidate search
(single providers, trees, sharing providers, request groups) and the reshaper; and
the placement error body."""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from nubo.api.faults import Family, render
from nubo.api.microversions import Version, VersionNotAcceptable
from nubo.config import Config
from nubo.db import migrate
from nubo.db.engine import Database
from nubo.errors import BadRequest, Conflict, NotFound
from nubo.placement import (
    allocations,
    candidates,
    codes,
    inventories,
    providers,
    reshaper,
    resource_classes,
    traits,
)
from nubo.placement import models as m
from nubo.placement.allocations import ConsumerRequest
from nubo.placement.candidates import AggregateFilter, RequestGroup, Search, TraitFilter
from nubo.placement.inventories import Inventory, capacity, unit_problem
from nubo.placement.service import PlacementService


def new_uuid() -> str:
    return str(uuid.uuid4())


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated database, copied for every test (migrating is the slow part)."""
    path = tmp_path_factory.mktemp("placement-template")
    db = Database(f"sqlite:///{path / 'nubo.db'}")
    migrate.upgrade(db.engine)
    db.dispose()
    return path / "nubo.db"


@pytest.fixture
def svc(tmp_path: Path, template: Path) -> Iterator[PlacementService]:
    shutil.copy(template, tmp_path / "nubo.db")
    cfg = Config(data_dir=str(tmp_path))
    db = Database(cfg.database_url)
    yield PlacementService(cfg, db)
    db.dispose()


def host(
    svc: PlacementService,
    name: str,
    vcpus: int = 4,
    ram: int = 2048,
    *,
    parent: str | None = None,
    ratio: float = 1.0,
    **extra: Inventory,
) -> str:
    """A provider with VCPU and MEMORY_MB (0 leaves a class out) plus ``extra``."""
    rp = new_uuid()
    stock: dict[str, Inventory] = dict(extra)
    if vcpus:
        stock["VCPU"] = Inventory(total=vcpus, allocation_ratio=ratio)
    if ram:
        stock["MEMORY_MB"] = Inventory(total=ram)
    with svc.db.session() as s:
        svc.ensure_provider(s, rp, name, parent)
        if stock:
            svc.set_inventory(s, rp, stock)
    return rp


def claim(svc: PlacementService, consumer: str, amounts: dict[str, dict[str, int]]) -> None:
    with svc.db.session() as s:
        svc.claim(s, consumer, "proj", "user", amounts)


def generation(svc: PlacementService, rp: str) -> int:
    with svc.db.reader() as s:
        return providers.get(s, rp).generation


# -- capacity arithmetic -------------------------------------------------------------------


def test_capacity_is_unreserved_times_ratio() -> None:
    assert capacity(10, 2, 1.5) == 12
    assert capacity(4, 0, 16.0) == 64
    assert capacity(3, 0, 0.5) == 1  # rounded down
    assert Inventory(total=8, reserved=8).capacity == 0


def test_unit_rules() -> None:
    inv = Inventory(total=100, min_unit=10, max_unit=50, step_size=5)
    assert unit_problem(inv, 10) is None
    assert unit_problem(inv, 50) is None
    assert "min_unit" in (unit_problem(inv, 5) or "")
    assert "max_unit" in (unit_problem(inv, 55) or "")
    assert "step_size" in (unit_problem(inv, 12) or "")
    # without max_unit an inventory allows up to its total in one allocation
    assert unit_problem(Inventory(total=4), 4) is None
    assert unit_problem(Inventory(total=4), 5) is not None


def test_inventory_validation() -> None:
    rp = new_uuid()
    inventories.validate("VCPU", Inventory(total=4, reserved=4), rp, True)
    with pytest.raises(BadRequest, match="greater than or equal to total"):
        inventories.validate("VCPU", Inventory(total=4, reserved=4), rp, False)
    with pytest.raises(BadRequest, match="greater than total"):
        inventories.validate("VCPU", Inventory(total=4, reserved=5), rp, True)
    with pytest.raises(BadRequest, match="min_unit"):
        inventories.validate("VCPU", Inventory(total=4, min_unit=3, max_unit=2), rp, True)
    with pytest.raises(BadRequest, match="total"):
        inventories.validate("VCPU", Inventory(total=0), rp, True)


# -- providers and inventories -------------------------------------------------------------


def test_ensure_provider_creates_then_renames(svc: PlacementService) -> None:
    rp = host(svc, "node-a")
    with svc.db.session() as s:
        svc.ensure_provider(s, rp, "node-a")  # nothing to do
        svc.ensure_provider(s, rp, "node-b")
    with svc.db.reader() as s:
        row = providers.get(s, rp)
        assert (row.name, row.root_uuid, row.parent_uuid) == ("node-b", rp, None)
    other = new_uuid()
    with pytest.raises(Conflict) as err, svc.db.session() as s:
        svc.ensure_provider(s, other, "node-b")
    assert err.value.kind == codes.DUPLICATE_NAME


def test_set_inventory_replaces_and_bumps_generation_only_on_change(
    svc: PlacementService,
) -> None:
    rp = host(svc, "n", DISK_GB=Inventory(total=1))
    before = generation(svc, rp)
    same = {
        "VCPU": Inventory(total=4),
        "MEMORY_MB": Inventory(total=2048),
        "DISK_GB": Inventory(total=1, max_unit=1),
    }
    with svc.db.session() as s:
        svc.set_inventory(s, rp, same)
    assert generation(svc, rp) == before
    with svc.db.session() as s:
        svc.set_inventory(s, rp, {"VCPU": Inventory(total=8)})
        assert set(svc.inventory(s, rp)) == {"VCPU"}
    assert generation(svc, rp) == before + 1


def test_unknown_resource_class_in_inventory(svc: PlacementService) -> None:
    rp = host(svc, "n")
    with pytest.raises(BadRequest, match="CUSTOM_NOPE"), svc.db.session() as s:
        svc.set_inventory(s, rp, {"CUSTOM_NOPE": Inventory(total=1)})
    with svc.db.session() as s:
        resource_classes.create(s, "CUSTOM_NOPE")
        svc.set_inventory(s, rp, {"CUSTOM_NOPE": Inventory(total=1)})


def test_inventory_in_use_cannot_go_but_may_shrink(svc: PlacementService) -> None:
    rp = host(svc, "n", vcpus=4, ram=2048)
    claim(svc, new_uuid(), {rp: {"VCPU": 3, "MEMORY_MB": 1024}})
    with pytest.raises(Conflict) as err, svc.db.session() as s:
        svc.set_inventory(s, rp, {"VCPU": Inventory(total=4)})
    assert err.value.kind == codes.INVENTORY_INUSE
    assert "MEMORY_MB" in err.value.message
    # shrinking below usage is allowed (logged); new claims then fail
    with svc.db.session() as s:
        svc.set_inventory(s, rp, {"VCPU": Inventory(total=2), "MEMORY_MB": Inventory(total=2048)})
    with pytest.raises(Conflict, match="exceed the capacity"):
        claim(svc, new_uuid(), {rp: {"VCPU": 1}})


def test_delete_provider_rules(svc: PlacementService) -> None:
    root = host(svc, "root")
    child = host(svc, "child", parent=root)
    consumer = new_uuid()
    claim(svc, consumer, {child: {"VCPU": 1}})
    with pytest.raises(Conflict) as err, svc.db.session() as s:
        svc.delete_provider(s, root)
    assert err.value.kind == codes.PROVIDER_CANNOT_DELETE_PARENT
    with pytest.raises(Conflict) as err, svc.db.session() as s:
        svc.delete_provider(s, child)
    assert err.value.kind == codes.PROVIDER_IN_USE
    with svc.db.session() as s:
        svc.release(s, consumer)
        svc.delete_provider(s, child)
        svc.delete_provider(s, root)
    with pytest.raises(NotFound), svc.db.session() as s:
        svc.delete_provider(s, root)


def test_reparenting_moves_the_subtree_and_refuses_loops(svc: PlacementService) -> None:
    a, b = host(svc, "a"), host(svc, "b")
    c = host(svc, "c", parent=b)
    with svc.db.session() as s:
        with pytest.raises(BadRequest, match=r"1\.37"):
            providers.update_provider(s, c, "c", a)
        providers.update_provider(s, b, "b", a)  # b had no parent: allowed
        assert providers.get(s, c).root_uuid == a
        with pytest.raises(BadRequest, match="loop"):
            providers.update_provider(s, a, "a", c, allow_reparent=True)
        providers.update_provider(s, b, "b", None, allow_reparent=True)
        assert providers.get(s, c).root_uuid == b
        assert providers.get(s, b).parent_uuid is None


# -- claims ----------------------------------------------------------------------------------


def test_claim_counts_overcommit_and_reserved(svc: PlacementService) -> None:
    rp = host(svc, "n", vcpus=4, ram=0, ratio=2.0)
    with svc.db.session() as s:
        svc.set_inventory(
            s,
            rp,
            {
                "VCPU": Inventory(total=4, max_unit=4, allocation_ratio=2.0),
                "MEMORY_MB": Inventory(total=1024, reserved=512),
            },
        )
    claim(svc, new_uuid(), {rp: {"VCPU": 4, "MEMORY_MB": 256}})
    claim(svc, new_uuid(), {rp: {"VCPU": 4, "MEMORY_MB": 256}})  # 8 of 8 VCPU, 512 of 512
    with pytest.raises(Conflict, match=r"'VCPU'.*exceed the capacity"):
        claim(svc, new_uuid(), {rp: {"VCPU": 1}})
    with pytest.raises(Conflict, match=r"'MEMORY_MB'.*exceed the capacity"), svc.db.session() as s:
        svc.set_inventory(
            s,
            rp,
            {
                "VCPU": Inventory(total=5, max_unit=4, allocation_ratio=2.0),
                "MEMORY_MB": Inventory(total=1024, reserved=512),
            },
        )
        svc.claim(s, new_uuid(), "p", "u", {rp: {"VCPU": 1, "MEMORY_MB": 1}})


def test_claim_refuses_unit_violations_missing_inventory_and_unknown_providers(
    svc: PlacementService,
) -> None:
    rp = host(svc, "n", vcpus=0, ram=0, DISK_GB=Inventory(total=100, min_unit=10, step_size=5))
    with pytest.raises(Conflict, match="inventory constraints"):
        claim(svc, new_uuid(), {rp: {"DISK_GB": 12}})
    with pytest.raises(Conflict, match=r"'VCPU' on resource provider .* invalid"):
        claim(svc, new_uuid(), {rp: {"VCPU": 1}})
    with pytest.raises(BadRequest, match="does not exist"):
        claim(svc, new_uuid(), {new_uuid(): {"VCPU": 1}})
    claim(svc, new_uuid(), {rp: {"DISK_GB": 15}})


def test_claim_replaces_the_consumers_allocations(svc: PlacementService) -> None:
    a = host(svc, "a", vcpus=4)
    b = host(svc, "b", vcpus=4)
    consumer = new_uuid()
    claim(svc, consumer, {a: {"VCPU": 4}})
    # re-claiming the same consumer does not count its old allocation twice
    claim(svc, consumer, {a: {"VCPU": 4, "MEMORY_MB": 512}})
    claim(svc, consumer, {b: {"VCPU": 2}})
    with svc.db.reader() as s:
        assert svc.allocations_of(s, consumer) == {b: {"VCPU": 2}}
        assert svc.provider_usages(s, a) == {"VCPU": 0, "MEMORY_MB": 0}
        assert svc.usages(s, "proj") == {"VCPU": 2}
        assert svc.usages(s, "proj", "someone-else") == {}


def test_claim_bumps_every_provider_it_touches(svc: PlacementService) -> None:
    a, b = host(svc, "a"), host(svc, "b")
    ga, gb = generation(svc, a), generation(svc, b)
    consumer = new_uuid()
    claim(svc, consumer, {a: {"VCPU": 1}})
    claim(svc, consumer, {b: {"VCPU": 1}})
    assert (generation(svc, a), generation(svc, b)) == (ga + 2, gb + 1)


def test_reducing_on_an_overcommitted_provider_is_allowed(svc: PlacementService) -> None:
    rp = host(svc, "n", vcpus=4)
    consumer = new_uuid()
    claim(svc, consumer, {rp: {"VCPU": 4}})
    with svc.db.session() as s:
        svc.set_inventory(s, rp, {"VCPU": Inventory(total=2), "MEMORY_MB": Inventory(total=2048)})
    claim(svc, consumer, {rp: {"VCPU": 2}})  # units fine, usage goes down
    with pytest.raises(Conflict):
        claim(svc, consumer, {rp: {"VCPU": 3}})


def test_release_and_move(svc: PlacementService) -> None:
    rp = host(svc, "n", vcpus=4)
    server, migration = new_uuid(), new_uuid()
    claim(svc, server, {rp: {"VCPU": 3, "MEMORY_MB": 1024}})
    with svc.db.session() as s:
        svc.move(s, server, migration)
        assert svc.allocations_of(s, server) == {}
        assert svc.allocations_of(s, migration) == {rp: {"VCPU": 3, "MEMORY_MB": 1024}}
        held = allocations.consumer(s, migration)
        assert held is not None and held.project_id == "proj"
        # the migration keeps the old flavor while the server claims the new one
        svc.claim(s, server, "proj", "user", {rp: {"VCPU": 1}})
        assert svc.provider_usages(s, rp)["VCPU"] == 4
        svc.release(s, migration)
        svc.release(s, migration)  # twice is fine
        assert svc.provider_usages(s, rp)["VCPU"] == 1
        assert allocations.consumer(s, migration) is None
    with pytest.raises(NotFound), svc.db.session() as s:
        allocations.delete_all(s, migration)


def test_consumer_generations(svc: PlacementService) -> None:
    rp = host(svc, "n")
    consumer = new_uuid()

    def put(gen: int | None, vcpus: int) -> None:
        with svc.db.session() as s:
            allocations.replace(
                s, [ConsumerRequest(consumer, {rp: {"VCPU": vcpus}}, "p", "u", gen)]
            )

    with pytest.raises(Conflict) as err:
        put(3, 1)  # the consumer does not exist yet
    assert err.value.kind == codes.CONCURRENT_UPDATE
    put(None, 1)
    with svc.db.reader() as s:
        row = allocations.consumer(s, consumer)
        assert row is not None and row.generation == 1
    with pytest.raises(Conflict, match="expected null"):
        put(None, 2)
    with pytest.raises(Conflict, match="expected 0 but got 1"):
        put(0, 2)
    put(1, 2)
    with svc.db.reader() as s:
        row = allocations.consumer(s, consumer)
        assert row is not None and row.generation == 2


def test_stale_provider_generation_is_a_concurrent_update(svc: PlacementService) -> None:
    rp = host(svc, "n")
    with svc.db.session() as s:
        row = providers.get(s, rp)
        seen = row.generation
        # another writer bumps the generation behind this session's back
        s.execute(
            update(m.ResourceProvider)
            .where(m.ResourceProvider.uuid == rp)
            .values(generation=seen + 5)
            .execution_options(synchronize_session=False)
        )
        with pytest.raises(Conflict) as err:
            providers.bump(s, row)
        assert err.value.kind == codes.CONCURRENT_UPDATE
        with pytest.raises(Conflict, match="generation conflict"):
            providers.set_traits(s, rp, ["HW_CPU_X86_AVX"], seen)


def test_parallel_claims_never_overbook(svc: PlacementService) -> None:
    """Many threads, each with its own connection, claim one VCPU at once: exactly the
    capacity succeeds, whatever the interleaving."""
    rp = host(svc, "n", vcpus=5)
    results: list[str] = []
    start = threading.Barrier(12)

    def worker() -> None:
        start.wait()
        try:
            claim(svc, new_uuid(), {rp: {"VCPU": 1}})
            results.append("ok")
        except Conflict:
            results.append("conflict")

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["conflict"] * 7 + ["ok"] * 5
    with svc.db.reader() as s:
        assert svc.provider_usages(s, rp)["VCPU"] == 5


# -- resource classes and traits -----------------------------------------------------------


def test_custom_resource_classes(svc: PlacementService) -> None:
    rp = host(svc, "n")
    with svc.db.session() as s:
        assert resource_classes.ensure(s, "CUSTOM_GPU") is True
        assert resource_classes.ensure(s, "CUSTOM_GPU") is False
        with pytest.raises(BadRequest):
            resource_classes.create(s, "GPU")
        with pytest.raises(Conflict):
            resource_classes.create(s, "CUSTOM_GPU")
        with pytest.raises(BadRequest, match="standard"):
            resource_classes.delete_class(s, "VCPU")
        svc.set_inventory(s, rp, {"CUSTOM_GPU": Inventory(total=2)})
        with pytest.raises(Conflict, match="in use"):
            resource_classes.delete_class(s, "CUSTOM_GPU")
        assert resource_classes.names(s)[:3] == ["VCPU", "MEMORY_MB", "DISK_GB"]
        assert "CUSTOM_GPU" in resource_classes.names(s)


def test_traits(svc: PlacementService) -> None:
    rp = host(svc, "n")
    with svc.db.session() as s:
        with pytest.raises(BadRequest, match="No such trait"):
            svc.set_traits(s, rp, ["CUSTOM_FAST"])
        assert traits.ensure(s, "CUSTOM_FAST")
        svc.set_traits(s, rp, ["CUSTOM_FAST", "HW_CPU_X86_AVX2"])
        assert traits.names(s, prefix="CUSTOM_") == ["CUSTOM_FAST"]
        assert traits.names(s, associated=True) == ["CUSTOM_FAST", "HW_CPU_X86_AVX2"]
        assert "COMPUTE_NODE" in traits.names(s, associated=False)
        with pytest.raises(Conflict):
            traits.delete_trait(s, "CUSTOM_FAST")
        with pytest.raises(BadRequest):
            traits.delete_trait(s, "HW_CPU_X86_AVX2")
        with pytest.raises(BadRequest):
            traits.ensure(s, "fast")
        svc.set_traits(s, rp, [])
        traits.delete_trait(s, "CUSTOM_FAST")
        with pytest.raises(NotFound):
            traits.delete_trait(s, "CUSTOM_FAST")


# -- candidates --------------------------------------------------------------------------------


def test_candidates_filter_by_capacity_traits_and_aggregates(svc: PlacementService) -> None:
    big = host(svc, "big", vcpus=16, ram=65536)
    small = host(svc, "small", vcpus=2, ram=1024)
    agg = new_uuid()
    with svc.db.session() as s:
        svc.set_traits(s, big, ["HW_CPU_X86_AVX2"])
        svc.set_provider_aggregates(s, small, [agg])
        assert svc.provider_aggregates(s, small) == [agg]
    with svc.db.reader() as s:
        names = [p.name for p in svc.candidates(s, {"VCPU": 2, "MEMORY_MB": 1024})]
        assert names == ["big", "small"]
        assert [p.name for p in svc.candidates(s, {"VCPU": 3})] == ["big"]
        assert [p.name for p in svc.candidates(s, {"VCPU": 1}, member_of=[[agg]])] == ["small"]
        found = svc.candidates(s, {"VCPU": 1}, required_traits=["HW_CPU_X86_AVX2"])
        assert [p.name for p in found] == ["big"]
        assert found[0].capacity["VCPU"] == 16 and found[0].free("VCPU") == 16
        found = svc.candidates(s, {"VCPU": 1}, forbidden_traits=["HW_CPU_X86_AVX2"])
        assert [p.name for p in found] == ["small"]
    claim(svc, new_uuid(), {small: {"VCPU": 2}})
    with svc.db.reader() as s:
        summary = {p.name: p for p in svc.candidates(s, {"MEMORY_MB": 1})}
        assert summary["small"].used == {"VCPU": 2, "MEMORY_MB": 0}
        assert [p.name for p in svc.candidates(s, {"VCPU": 1})] == ["big"]


def _search(svc: PlacementService, search: Search) -> list[candidates.Candidate]:
    with svc.db.reader() as s:
        return candidates.allocation_candidates(candidates.load(s), search)


def test_nested_tree_spreads_the_unsuffixed_group(svc: PlacementService) -> None:
    root = host(svc, "cn", vcpus=4, ram=4096)
    nic = host(svc, "nic", vcpus=0, ram=0, parent=root, SRIOV_NET_VF=Inventory(total=8))
    ask = RequestGroup(resources={"VCPU": 1, "SRIOV_NET_VF": 2})
    found = _search(svc, Search([ask]))
    assert [c.allocations for c in found] == [{root: {"VCPU": 1}, nic: {"SRIOV_NET_VF": 2}}]
    assert found[0].mappings == {"": sorted([root, nic])}
    # before 1.29 a candidate is one provider (plus sharing ones): none fits here
    assert _search(svc, Search([ask], nested=False)) == []
    with svc.db.reader() as s:
        snap = candidates.load(s)
    assert candidates.summary_providers(snap, found, True) == sorted([root, nic])


def test_sharing_provider_lends_disk_to_its_aggregate(svc: PlacementService) -> None:
    agg = new_uuid()
    cn = host(svc, "cn", vcpus=4, ram=4096)
    far = host(svc, "far", vcpus=4, ram=4096)
    pool = host(svc, "pool", vcpus=0, ram=0, DISK_GB=Inventory(total=1000))
    with svc.db.session() as s:
        svc.set_traits(s, pool, ["MISC_SHARES_VIA_AGGREGATE"])
        svc.set_provider_aggregates(s, pool, [agg])
        svc.set_provider_aggregates(s, cn, [agg])
    found = _search(svc, Search([RequestGroup(resources={"VCPU": 1, "DISK_GB": 100})]))
    assert [c.allocations for c in found] == [{cn: {"VCPU": 1}, pool: {"DISK_GB": 100}}]
    assert far not in found[0].allocations
    # the sharing provider alone serves a disk-only request
    alone = _search(svc, Search([RequestGroup(resources={"DISK_GB": 10})], nested=False))
    assert {next(iter(c.allocations)) for c in alone} == {pool}


def test_request_groups_isolate_and_sum(svc: PlacementService) -> None:
    root = host(svc, "cn", vcpus=4, ram=0)
    pf1 = host(svc, "pf1", vcpus=0, ram=0, parent=root, SRIOV_NET_VF=Inventory(total=2))
    pf2 = host(svc, "pf2", vcpus=0, ram=0, parent=root, SRIOV_NET_VF=Inventory(total=2))
    groups = [
        RequestGroup(resources={"VCPU": 1}),
        RequestGroup(suffix="1", resources={"SRIOV_NET_VF": 2}),
        RequestGroup(suffix="2", resources={"SRIOV_NET_VF": 1}),
    ]
    isolated = _search(svc, Search(groups, isolate=True))
    assert sorted((c.mappings["1"], c.mappings["2"]) for c in isolated) == sorted(
        [([pf1], [pf2]), ([pf2], [pf1])]
    )
    # without isolation both groups may land on one VF provider, if its capacity allows:
    # 2 + 1 VFs never fit on one provider with 2
    shared = _search(svc, Search(groups))
    assert len(shared) == 2
    assert _search(svc, Search(groups, limit=1))[0].allocations[root] == {"VCPU": 1}


def test_group_traits_aggregates_and_same_subtree(svc: PlacementService) -> None:
    root = host(svc, "cn", vcpus=4, ram=0)
    numa0 = host(svc, "numa0", vcpus=2, ram=0, parent=root)
    numa1 = host(svc, "numa1", vcpus=2, ram=0, parent=root)
    nic0 = host(svc, "nic0", vcpus=0, ram=0, parent=numa0, SRIOV_NET_VF=Inventory(total=4))
    with svc.db.session() as s:
        svc.set_traits(s, numa1, ["HW_NUMA_ROOT"])
        svc.set_traits(s, numa0, ["HW_NUMA_ROOT", "HW_CPU_X86_AVX2"])
    cpu = RequestGroup(
        suffix="_CPU",
        resources={"VCPU": 2},
        traits=TraitFilter([frozenset(["HW_NUMA_ROOT"])]),
    )
    vf = RequestGroup(suffix="_NET", resources={"SRIOV_NET_VF": 1})
    together = _search(svc, Search([cpu, vf], isolate=True, same_subtree=[["_CPU", "_NET"]]))
    assert [c.mappings for c in together] == [{"_CPU": [numa0], "_NET": [nic0]}]
    apart = _search(svc, Search([cpu, vf], isolate=True))
    assert sorted(c.mappings["_CPU"][0] for c in apart) == sorted([numa0, numa1])
    avoid = RequestGroup(
        suffix="_CPU", resources={"VCPU": 1}, traits=TraitFilter([], {"HW_CPU_X86_AVX2"})
    )
    found = _search(svc, Search([avoid]))
    assert {c.mappings["_CPU"][0] for c in found} == {root, numa1}
    agg = new_uuid()
    with svc.db.session() as s:
        svc.set_provider_aggregates(s, root, [agg])
    in_agg = RequestGroup(resources={"VCPU": 4}, aggregates=AggregateFilter([frozenset([agg])]))
    assert [c.allocations for c in _search(svc, Search([in_agg]))] == [{root: {"VCPU": 4}}]
    not_agg = RequestGroup(resources={"VCPU": 1}, aggregates=AggregateFilter([], {agg}))
    assert _search(svc, Search([not_agg])) == []
    rooted = Search([RequestGroup(resources={"VCPU": 1})], root_traits=TraitFilter([], {"X"}))
    assert len(_search(svc, rooted)) == 3


# -- reshaper ------------------------------------------------------------------------------


def test_reshape_moves_inventory_and_allocations_to_a_child(svc: PlacementService) -> None:
    root = host(svc, "cn", vcpus=4, ram=1024, VGPU=Inventory(total=2))
    gpu = host(svc, "gpu0", vcpus=0, ram=0, parent=root)
    server = new_uuid()
    claim(svc, server, {root: {"VCPU": 1, "VGPU": 1}})
    with svc.db.session() as s:
        gens = {u: providers.get(s, u).generation for u in (root, gpu)}
        cur = allocations.consumer(s, server)
        assert cur is not None
        reshaper.reshape(
            s,
            {
                root: (
                    gens[root],
                    {"VCPU": Inventory(total=4), "MEMORY_MB": Inventory(total=1024)},
                ),
                gpu: (gens[gpu], {"VGPU": Inventory(total=2)}),
            },
            [ConsumerRequest(server, {root: {"VCPU": 1}, gpu: {"VGPU": 1}}, "proj", "user", 1)],
        )
    with svc.db.reader() as s:
        assert svc.allocations_of(s, server) == {root: {"VCPU": 1}, gpu: {"VGPU": 1}}
    # leaving an allocation without inventory is refused as a whole
    with pytest.raises(Conflict) as err, svc.db.session() as s:
        reshaper.reshape(s, {gpu: (None, {})}, [])
    assert err.value.kind == codes.INVENTORY_INUSE


# -- the error body ------------------------------------------------------------------------------


def test_placement_error_body() -> None:
    err = codes.concurrent("changed")
    body, ctype = render(Family.PLACEMENT, err, "req-7")
    assert ctype == "application/json"
    assert json.loads(body) == {
        "errors": [
            {
                "status": 409,
                "title": "Conflict",
                "detail": "changed",
                "code": "placement.concurrent_update",
                "request_id": "req-7",
            }
        ]
    }
    plain = json.loads(render(Family.PLACEMENT, NotFound("gone"), "r")[0])["errors"][0]
    assert plain["code"] == "placement.undefined_code"
    refused = VersionNotAcceptable("no", Version(1, 0), Version(1, 39))
    error = json.loads(render(Family.PLACEMENT, refused, "r")[0])["errors"][0]
    assert (error["status"], error["min_version"], error["max_version"]) == (406, "1.0", "1.39")
