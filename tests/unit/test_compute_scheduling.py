"""Server states and the scheduler on a real (SQLite) database with the real Placement
service: Nova's status mapping, resources asked of Placement, host filters (service
up and enabled, zones, aggregates, server-group affinity and anti-affinity, hosts a
build failed on), the spread and pack weighers, and the ERROR path with its fault."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from nubo.compute import hosts, scheduler, states
from nubo.compute import models as m
from nubo.compute.drivers.base import HostResources
from nubo.compute.service import ComputeService
from nubo.config import Config
from nubo.db import migrate
from nubo.db.engine import Database
from nubo.placement.service import PlacementService

SMALL = HostResources(vcpus=2, memory_mb=2048, disk_gb=20, hypervisor_type="fake",
                      hypervisor_version=1)  # fmt: skip
BIG = HostResources(vcpus=8, memory_mb=16384, disk_gb=200, hypervisor_type="fake",
                    hypervisor_version=1)  # fmt: skip
FLAVOR = {"id": "1", "name": "f", "vcpus": 1, "memory_mb": 512, "root_gb": 1,
          "ephemeral_gb": 0, "swap_mb": 0, "rxtx_factor": 1.0, "extra_specs": {}}  # fmt: skip


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[ComputeService]:
    cfg = Config(data_dir=str(tmp_path))
    cfg.compute.host = "h1"
    cfg.compute.reserved_host_memory_mb = 0
    db = Database(cfg.database_url)
    migrate.upgrade(db.engine)
    yield ComputeService(cfg, db, None, None, None, PlacementService(cfg, db))  # type: ignore[arg-type]
    db.dispose()


def add_host(svc: ComputeService, name: str, resources: HostResources = SMALL) -> None:
    with svc.db.session() as s:
        hosts.register_host(svc, s, name, resources, "fake", "127.0.0.1")
        hosts.heartbeat(svc, s, name, "nova-compute")


def new_server(
    svc: ComputeService, flavor: dict[str, object] | None = None, **columns: object
) -> str:
    server_id = str(uuid.uuid4())
    with svc.db.session() as s:
        s.add(
            m.Server(
                id=server_id, project_id="p", user_id="u", name="vm",
                flavor=dict(flavor or FLAVOR), vm_state=states.BUILDING,
                task_state=states.SCHEDULING, **columns,
            )
        )  # fmt: skip
    return server_id


def placed(svc: ComputeService, server_id: str) -> m.Server:
    scheduler.schedule(svc, server_id)
    with svc.db.reader() as s:
        row = s.get(m.Server, server_id)
        assert row is not None
        s.expunge(row)
        return row


@pytest.mark.parametrize(
    ("vm_state", "task_state", "status"),
    [
        (states.BUILDING, states.SPAWNING, "BUILD"),
        (states.ACTIVE, None, "ACTIVE"),
        (states.ACTIVE, states.REBOOTING, "REBOOT"),
        (states.ACTIVE, states.REBOOTING_HARD, "HARD_REBOOT"),
        (states.ACTIVE, states.POWERING_OFF, "ACTIVE"),
        (states.STOPPED, None, "SHUTOFF"),
        (states.STOPPED, states.RESIZE_PREP, "RESIZE"),
        (states.RESIZED, None, "VERIFY_RESIZE"),
        (states.RESIZED, states.RESIZE_REVERTING, "REVERT_RESIZE"),
        (states.ERROR, None, "ERROR"),
        (states.ERROR, states.REBUILDING, "REBUILD"),
        (states.SHELVED_OFFLOADED, None, "SHELVED_OFFLOADED"),
        ("unheard-of", None, "UNKNOWN"),
    ],
)
def test_status_follows_novas_table(vm_state: str, task_state: str | None, status: str) -> None:
    assert states.status(vm_state, task_state) == status


def test_resources_asked_of_placement() -> None:
    flavor = {**FLAVOR, "root_gb": 2, "ephemeral_gb": 3, "swap_mb": 1025}
    assert scheduler.resources_of(flavor) == {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 7}
    assert "DISK_GB" not in scheduler.resources_of({**FLAVOR, "root_gb": 0})


def test_a_server_is_placed_and_its_resources_claimed(svc: ComputeService) -> None:
    add_host(svc, "h1")
    row = placed(svc, new_server(svc))
    assert row.host == "h1"
    assert row.task_state == states.NETWORKING
    assert row.availability_zone == "nova"
    with svc.db.reader() as s:
        (alloc,) = svc.placement.allocations_of(s, row.id).values()
    assert alloc == {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}


def test_no_host_means_error_with_a_fault(svc: ComputeService) -> None:
    row = placed(svc, new_server(svc))
    assert row.vm_state == states.ERROR
    assert row.task_state is None
    assert row.fault is not None
    assert row.fault["message"].startswith("No valid host was found.")


def test_too_big_for_every_host(svc: ComputeService) -> None:
    add_host(svc, "h1")
    row = placed(svc, new_server(svc, {**FLAVOR, "memory_mb": 4096}))
    assert row.vm_state == states.ERROR
    assert row.fault is not None and "not enough resources" in row.fault["message"]


def test_capacity_runs_out_one_claim_at_a_time(svc: ComputeService) -> None:
    add_host(svc, "h1")  # 2048 MB: four 512 MB servers
    rows = [placed(svc, new_server(svc)) for _ in range(5)]
    assert [r.vm_state for r in rows].count(states.ERROR) == 1
    assert rows[-1].vm_state == states.ERROR


def test_disabled_and_failed_hosts_are_skipped(svc: ComputeService) -> None:
    add_host(svc, "h1")
    add_host(svc, "h2")
    with svc.db.session() as s:
        service = s.scalars(
            select(m.ComputeService).where(
                m.ComputeService.host == "h1", m.ComputeService.binary == "nova-compute"
            )
        ).one()
        service.disabled = True
    assert placed(svc, new_server(svc)).host == "h2"
    assert placed(svc, new_server(svc, attempted_hosts=["h2"])).vm_state == states.ERROR


def test_spread_and_pack(svc: ComputeService) -> None:
    add_host(svc, "h1", SMALL)
    add_host(svc, "h2", BIG)
    assert placed(svc, new_server(svc)).host == "h2"  # spread: most free memory
    svc.config.compute.weigher = "pack"
    assert placed(svc, new_server(svc)).host == "h1"


def test_zones_and_aggregate_extra_specs(svc: ComputeService) -> None:
    add_host(svc, "h1")
    add_host(svc, "h2")
    with svc.db.session() as s:
        s.add(m.Aggregate(name="fast", availability_zone="az2", hosts=["h2"],
                          metadata_items={"ssd": "true"}))  # fmt: skip
    zoned = placed(svc, new_server(svc, scheduler_hints={"availability_zone": "az2"}))
    assert (zoned.host, zoned.availability_zone) == ("h2", "az2")
    ssd = {**FLAVOR, "extra_specs": {"aggregate_instance_extra_specs:ssd": "true"}}
    assert placed(svc, new_server(svc, ssd)).host == "h2"
    missing = {**FLAVOR, "extra_specs": {"aggregate_instance_extra_specs:gpu": "yes"}}
    assert placed(svc, new_server(svc, missing)).vm_state == states.ERROR


@pytest.mark.parametrize(
    ("policy", "same_host"),
    [
        ("affinity", True),
        ("anti-affinity", False),
        ("soft-affinity", True),
        ("soft-anti-affinity", False),
    ],
)
def test_server_group_policies(svc: ComputeService, policy: str, same_host: bool) -> None:
    add_host(svc, "h1", BIG)
    add_host(svc, "h2", BIG)
    group = str(uuid.uuid4())
    with svc.db.session() as s:
        s.add(m.ServerGroup(id=group, name="g", project_id="p", user_id="u", policy=policy))
    first, second = new_server(svc, server_group_id=group), new_server(svc, server_group_id=group)
    with svc.db.session() as s:
        s.add_all([m.ServerGroupMember(group_id=group, server_id=i) for i in (first, second)])
    a, b = placed(svc, first), placed(svc, second)
    assert (a.host == b.host) is same_host


def test_anti_affinity_without_a_free_host_fails(svc: ComputeService) -> None:
    add_host(svc, "h1", BIG)
    group = str(uuid.uuid4())
    with svc.db.session() as s:
        s.add(m.ServerGroup(id=group, name="g", project_id="p", user_id="u",
                            policy="anti-affinity"))  # fmt: skip
    ids = [new_server(svc, server_group_id=group) for _ in range(2)]
    with svc.db.session() as s:
        s.add_all([m.ServerGroupMember(group_id=group, server_id=i) for i in ids])
    assert placed(svc, ids[0]).host == "h1"
    second = placed(svc, ids[1])
    assert second.vm_state == states.ERROR
    assert second.fault is not None and "anti-affinity" in second.fault["message"]
