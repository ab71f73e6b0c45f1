"""Compute hosts, aggregates and tenant usage in the service layer on a real (SQLite)
database with the real Placement service: host registration and its resource
provider, heartbeats, zones, aggregate rules and their Placement mirror, service
deletion, hypervisor figures and usage arithmetic."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from nubo.api.policy import PolicyEngine
from nubo.compute import aggregates, hosts, hypervisors, usage
from nubo.compute import models as m
from nubo.compute.access import Caller
from nubo.compute.drivers.base import HostResources
from nubo.compute.policies import RULES
from nubo.compute.service import ComputeService
from nubo.config import Config
from nubo.db import migrate
from nubo.db.base import utcnow
from nubo.db.engine import Database
from nubo.errors import BadRequest, Conflict, Forbidden, NotFound
from nubo.placement.service import PlacementService

POLICY = PolicyEngine()
POLICY.register(RULES)
RESOURCES = HostResources(
    vcpus=8, memory_mb=16384, disk_gb=100, hypervisor_type="fake", hypervisor_version=1
)


def caller(project: str, admin: bool = False) -> Caller:
    roles = ["admin", "member", "reader"] if admin else ["member", "reader"]
    creds = {"roles": roles, "project_id": project, "user_id": f"u-{project}"}
    return Caller(
        project_id=project,
        user_id=f"u-{project}",
        is_admin=admin,
        allowed=lambda rule, target: POLICY.allowed(rule, creds, target),
    )


ADMIN = caller("admin-project", admin=True)
ALICE = caller("alice")


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[ComputeService]:
    cfg = Config(data_dir=str(tmp_path))
    cfg.compute.host = "api-host"
    db = Database(cfg.database_url)
    migrate.upgrade(db.engine)
    placement = PlacementService(cfg, db)
    yield ComputeService(cfg, db, None, None, None, placement)  # type: ignore[arg-type]
    db.dispose()


def register(svc: ComputeService, host: str, resources: HostResources = RESOURCES) -> str:
    with svc.db.session() as s:
        return hosts.register_host(svc, s, host, resources, "fake", "192.0.2.10").uuid


def add_server(
    svc: ComputeService,
    host: str | None,
    *,
    project: str = "alice",
    vcpus: int = 2,
    memory_mb: int = 2048,
    root_gb: int = 10,
    launched: dt.datetime | None = None,
    terminated: dt.datetime | None = None,
    task_state: str | None = None,
) -> str:
    flavor = {"name": "m1.small", "vcpus": vcpus, "memory_mb": memory_mb, "root_gb": root_gb,
              "ephemeral_gb": 1, "swap_mb": 0}  # fmt: skip
    server_id = str(uuid.uuid4())
    with svc.db.session() as s:
        s.add(
            m.Server(
                id=server_id,
                project_id=project,
                user_id=f"u-{project}",
                name=f"vm-{server_id[:6]}",
                flavor=flavor,
                host=host,
                vm_state="deleted" if terminated else "active",
                task_state=task_state,
                created_at=launched or utcnow(),
                launched_at=launched,
                terminated_at=terminated,
                deleted_at=terminated,
            )
        )
    return server_id


# -- registration and heartbeats --------------------------------------------------------


def test_register_host_creates_node_service_and_provider(svc: ComputeService) -> None:
    node_uuid = register(svc, "cn1")
    with svc.db.session() as s:
        node = hosts.node_of_host(s, "cn1")
        assert node is not None and node.uuid == node_uuid
        assert (node.vcpus, node.memory_mb, node.local_gb) == (8, 16384, 100)
        assert node.driver == "fake" and node.host_ip == "192.0.2.10"
        service = hosts.find_service(s, "cn1", hosts.COMPUTE)
        assert service is not None and hosts.is_up(service)
        inventory = svc.placement.inventory(s, node_uuid)
    assert set(inventory) == {"VCPU", "MEMORY_MB", "DISK_GB"}
    assert inventory["VCPU"].total == 8
    assert inventory["VCPU"].allocation_ratio == svc.config.compute.cpu_allocation_ratio
    assert inventory["MEMORY_MB"].reserved == svc.config.compute.reserved_host_memory_mb
    assert inventory["DISK_GB"].total == 100


def test_register_again_updates_in_place(svc: ComputeService) -> None:
    first = register(svc, "cn1")
    bigger = HostResources(
        vcpus=16, memory_mb=32768, disk_gb=200, hypervisor_type="QEMU", hypervisor_version=8
    )
    assert register(svc, "cn1", bigger) == first
    with svc.db.session() as s:
        assert len(list(s.scalars(select(m.ComputeNode)))) == 1
        assert len(hosts.compute_services(s)) == 1
        node = hosts.node_of_host(s, "cn1")
        assert node is not None and node.hypervisor_type == "QEMU"
        assert svc.placement.inventory(s, first)["VCPU"].total == 16


def test_host_with_no_disk_reports_no_disk_inventory(svc: ComputeService) -> None:
    tiny = HostResources(
        vcpus=1, memory_mb=128, disk_gb=0, hypervisor_type="fake", hypervisor_version=1
    )
    node_uuid = register(svc, "tiny")
    with svc.db.session() as s:
        hosts.register_host(svc, s, "tiny", tiny, "fake", "127.0.0.1")
        inventory = svc.placement.inventory(s, node_uuid)
    assert set(inventory) == {"VCPU", "MEMORY_MB"}
    # the reservation never swallows the whole host
    assert inventory["MEMORY_MB"].reserved < 128


def test_heartbeat_and_down_detection(svc: ComputeService) -> None:
    register(svc, "cn1")
    with svc.db.session() as s:
        row = hosts.find_service(s, "cn1", hosts.COMPUTE)
        assert row is not None and row.last_seen_up is not None
        later = row.last_seen_up + hosts.DOWN_AFTER + dt.timedelta(seconds=1)
        assert hosts.is_up(row, row.last_seen_up + dt.timedelta(seconds=59))
        assert not hosts.is_up(row, later)
        row.last_seen_up = utcnow() - dt.timedelta(minutes=5)
    with svc.db.session() as s:
        assert hosts.enabled_hosts(svc, s) == []
        hosts.heartbeat(svc, s, "cn1")
    with svc.db.session() as s:
        assert hosts.enabled_hosts(svc, s) == ["cn1"]
        row = hosts.find_service(s, "cn1", hosts.COMPUTE)
        assert row is not None
        row.forced_down = True
    with svc.db.session() as s:
        assert hosts.enabled_hosts(svc, s) == []


def test_control_services_live_in_the_internal_zone(svc: ComputeService) -> None:
    register(svc, "cn1")
    with svc.db.session() as s:
        hosts.register_control_services(svc, s)
    listed = hosts.list_services(svc, ADMIN)
    by_binary = {r["binary"]: r for r in listed}
    assert set(by_binary) == {"nova-compute", "nova-scheduler", "nova-conductor"}
    assert by_binary["nova-scheduler"]["host"] == "api-host"
    assert by_binary["nova-scheduler"]["zone"] == "internal"
    assert by_binary["nova-compute"]["zone"] == "nova"
    assert all(r["state"] == "up" and r["status"] == "enabled" for r in listed)
    only = hosts.list_services(svc, ADMIN, binary="nova-compute", uuid_ids=False)
    assert [r["id"] for r in only] == [by_binary["nova-compute"]["id"]] or isinstance(
        only[0]["id"], int
    )
    with pytest.raises(Forbidden):
        hosts.list_services(svc, ALICE)


def test_update_service_refuses_non_compute(svc: ComputeService) -> None:
    with svc.db.session() as s:
        hosts.register_control_services(svc, s)
        sched = hosts.find_service(s, "api-host", hosts.SCHEDULER)
        assert sched is not None
        sched_uuid = sched.uuid
    with pytest.raises(BadRequest, match="Only nova-compute"):
        hosts.update_service(svc, ADMIN, sched_uuid, {"disabled": True})
    with pytest.raises(NotFound, match="Could not find binary"):
        hosts.update_service_by_host(svc, ADMIN, "nowhere", "nova-compute", {"disabled": True})


def test_disabled_host_leaves_the_scheduler_and_its_zone(svc: ComputeService) -> None:
    register(svc, "cn1")
    register(svc, "cn2")
    with svc.db.session() as s:
        row = hosts.find_service(s, "cn2", hosts.COMPUTE)
        assert row is not None
        service_uuid = row.uuid
    view = hosts.update_service(
        svc, ADMIN, service_uuid, {"disabled": True, "disabled_reason": "maintenance"}
    )
    assert view["status"] == "disabled" and view["disabled_reason"] == "maintenance"
    with svc.db.session() as s:
        assert hosts.enabled_hosts(svc, s) == ["cn1"]
    view = hosts.update_service(svc, ADMIN, service_uuid, {"disabled": False})
    assert view["status"] == "enabled" and view["disabled_reason"] is None


# -- zones and aggregates --------------------------------------------------------------


def test_zone_comes_from_the_aggregate(svc: ComputeService) -> None:
    register(svc, "cn1")
    register(svc, "cn2")
    agg = aggregates.create_aggregate(svc, ADMIN, "rack1", "az1")
    aggregates.add_host(svc, ADMIN, agg.id, "cn1")
    with svc.db.session() as s:
        assert hosts.zone_of_host(svc, s, "cn1") == "az1"
        assert hosts.zone_of_host(svc, s, "cn2") == "nova"
        assert hosts.hosts_in_zone(svc, s, "az1") == ["cn1"]
        assert hosts.zone_names(svc, s) == {"az1", "nova"}
    aggregates.update_aggregate(svc, ADMIN, agg.id, zone="az2")
    with svc.db.session() as s:
        assert hosts.zone_of_host(svc, s, "cn1") == "az2"
    zones = hosts.availability_zones(svc, ADMIN, detail=False)
    assert {z["zoneName"] for z in zones} == {"az2", "nova"}
    assert all(z["zoneState"]["available"] and z["hosts"] is None for z in zones)


def test_availability_zone_detail_and_unavailable_zones(svc: ComputeService) -> None:
    register(svc, "cn1")
    with svc.db.session() as s:
        hosts.register_control_services(svc, s)
        row = hosts.find_service(s, "cn1", hosts.COMPUTE)
        assert row is not None
        service_uuid = row.uuid
    detail = {z["zoneName"]: z for z in hosts.availability_zones(svc, ADMIN, detail=True)}
    assert set(detail) == {"internal", "nova"}
    assert set(detail["internal"]["hosts"]["api-host"]) == {"nova-scheduler", "nova-conductor"}
    compute = detail["nova"]["hosts"]["cn1"]["nova-compute"]
    assert compute["available"] and compute["active"] and compute["updated_at"]
    with pytest.raises(Forbidden):
        hosts.availability_zones(svc, ALICE, detail=True)
    hosts.update_service(svc, ADMIN, service_uuid, {"disabled": True})
    listed = hosts.availability_zones(svc, ALICE, detail=False)
    assert listed == [{"zoneName": "nova", "zoneState": {"available": False}, "hosts": None}]


def test_host_in_one_zone_only(svc: ComputeService) -> None:
    register(svc, "cn1")
    first = aggregates.create_aggregate(svc, ADMIN, "a1", "az1")
    second = aggregates.create_aggregate(svc, ADMIN, "a2", "az2")
    plain = aggregates.create_aggregate(svc, ADMIN, "a3", None)
    aggregates.add_host(svc, ADMIN, first.id, "cn1")
    with pytest.raises(Conflict, match="already in availability zone"):
        aggregates.add_host(svc, ADMIN, second.id, "cn1")
    # an aggregate without a zone takes the host
    aggregates.add_host(svc, ADMIN, plain.id, "cn1")
    # and cannot then be given a conflicting zone
    with pytest.raises(BadRequest, match="already in availability zone"):
        aggregates.update_aggregate(svc, ADMIN, plain.id, zone="az3")
    with pytest.raises(BadRequest, match="empty named"):
        aggregates.set_metadata(svc, ADMIN, first.id, {"availability_zone": None})
    with pytest.raises(Conflict, match="already has host"):
        aggregates.add_host(svc, ADMIN, first.id, "cn1")
    with pytest.raises(NotFound, match="Compute host nowhere"):
        aggregates.add_host(svc, ADMIN, first.id, "nowhere")
    with pytest.raises(NotFound, match="Cannot remove host"):
        aggregates.remove_host(svc, ADMIN, second.id, "cn1")
    with pytest.raises(Conflict, match="already exists"):
        aggregates.create_aggregate(svc, ADMIN, "a1", None)


def test_servers_pin_their_host_zone(svc: ComputeService) -> None:
    register(svc, "cn1")
    add_server(svc, "cn1", launched=utcnow())
    agg = aggregates.create_aggregate(svc, ADMIN, "a1", "az1")
    with pytest.raises(Conflict, match="would change"):
        aggregates.add_host(svc, ADMIN, agg.id, "cn1")
    plain = aggregates.create_aggregate(svc, ADMIN, "a2", None)
    aggregates.add_host(svc, ADMIN, plain.id, "cn1")
    with pytest.raises(BadRequest, match="contain instances"):
        aggregates.update_aggregate(svc, ADMIN, plain.id, zone="az1")


def test_metadata_merge_and_zone_key(svc: ComputeService) -> None:
    agg = aggregates.create_aggregate(svc, ADMIN, "a1", None)
    aggregates.set_metadata(svc, ADMIN, agg.id, {"ssd": "true", "gpu": "no"})
    row = aggregates.set_metadata(
        svc, ADMIN, agg.id, {"gpu": None, "missing": None, "availability_zone": "az9"}
    )
    body = aggregates.view(row, show_uuid=True)
    assert body["metadata"] == {"ssd": "true", "availability_zone": "az9"}
    assert body["availability_zone"] == "az9"
    assert body["uuid"] == row.uuid and body["hosts"] == []
    assert "uuid" not in aggregates.view(row, show_uuid=False)


def test_membership_is_mirrored_into_placement(svc: ComputeService) -> None:
    node_uuid = register(svc, "cn1")
    agg = aggregates.create_aggregate(svc, ADMIN, "a1", "az1")
    aggregates.add_host(svc, ADMIN, agg.id, "cn1")
    with svc.db.session() as s:
        assert svc.placement.provider_aggregates(s, node_uuid) == [agg.uuid]
        found = svc.placement.candidates(s, {"VCPU": 1}, member_of=[[agg.uuid]])
        assert [c.uuid for c in found] == [node_uuid]
    # a re-registration keeps the membership
    register(svc, "cn1")
    with pytest.raises(BadRequest, match="not empty"):
        aggregates.delete_aggregate(svc, ADMIN, agg.id)
    aggregates.remove_host(svc, ADMIN, agg.id, "cn1")
    with svc.db.session() as s:
        assert svc.placement.provider_aggregates(s, node_uuid) == []
    aggregates.delete_aggregate(svc, ADMIN, agg.id)
    with pytest.raises(NotFound):
        aggregates.get_aggregate(svc, ADMIN, agg.id)


def test_aggregates_are_admin_only(svc: ComputeService) -> None:
    with pytest.raises(Forbidden):
        aggregates.create_aggregate(svc, ALICE, "mine", None)
    with pytest.raises(Forbidden):
        aggregates.list_aggregates(svc, ALICE)


# -- deleting a compute service ------------------------------------------------------------


def test_delete_compute_service(svc: ComputeService) -> None:
    node_uuid = register(svc, "cn1")
    agg = aggregates.create_aggregate(svc, ADMIN, "a1", None)
    aggregates.add_host(svc, ADMIN, agg.id, "cn1")
    server = add_server(svc, "cn1", launched=utcnow())
    with svc.db.session() as s:
        row = hosts.find_service(s, "cn1", hosts.COMPUTE)
        assert row is not None
        service_uuid = row.uuid
    with pytest.raises(Conflict, match="hosting instances"):
        hosts.delete_service(svc, ADMIN, service_uuid, uuid_ids=True)
    with svc.db.session() as s:
        row_server = s.get(m.Server, server)
        assert row_server is not None
        row_server.deleted_at = utcnow()
        s.add(
            m.Migration(
                server_id=server, project_id="alice", user_id="u", migration_type="resize",
                status="migrating", source_compute="cn1", dest_compute="cn1",
            )
        )  # fmt: skip
    with pytest.raises(Conflict, match="in-progress migrations"):
        hosts.delete_service(svc, ADMIN, service_uuid, uuid_ids=True)
    with svc.db.session() as s:
        for mig in s.scalars(select(m.Migration)):
            mig.status = "confirmed"
    hosts.delete_service(svc, ADMIN, service_uuid, uuid_ids=True)
    with svc.db.session() as s:
        assert hosts.node_of_host(s, "cn1") is None
        assert hosts.find_service(s, "cn1", hosts.COMPUTE) is None
        with pytest.raises(NotFound):
            svc.placement.inventory(s, node_uuid)
    assert aggregates.get_aggregate(svc, ADMIN, agg.id).hosts == []
    with pytest.raises(NotFound, match="could not be found"):
        hosts.delete_service(svc, ADMIN, service_uuid, uuid_ids=True)


def test_reregistered_host_takes_over_its_old_provider(svc: ComputeService) -> None:
    node_uuid = register(svc, "cn1")
    with svc.db.session() as s:
        # an allocation outliving its server keeps the provider alive
        svc.placement.claim(s, str(uuid.uuid4()), "alice", "u", {node_uuid: {"VCPU": 1}})
        row = hosts.find_service(s, "cn1", hosts.COMPUTE)
        assert row is not None
        service_uuid = row.uuid
    hosts.delete_service(svc, ADMIN, service_uuid, uuid_ids=True)
    with svc.db.session() as s:
        assert hosts.node_of_host(s, "cn1") is None
        assert svc.placement.inventory(s, node_uuid)
    assert register(svc, "cn1") == node_uuid
    with svc.db.session() as s:
        assert hosts.host_of_providers(s, [node_uuid, str(uuid.uuid4())]) == {node_uuid: "cn1"}


# -- hypervisors -------------------------------------------------------------------------------


def test_hypervisor_figures_come_from_its_servers(svc: ComputeService) -> None:
    register(svc, "cn1")
    register(svc, "cn2")
    add_server(svc, "cn1", launched=utcnow())
    add_server(svc, "cn1", vcpus=1, memory_mb=512, root_gb=1, task_state="rebooting")
    gone = utcnow()
    add_server(svc, "cn1", launched=gone, terminated=gone)  # deleted: not counted
    found = hypervisors.list_hypervisors(svc, ADMIN, detail=True, uuid_ids=True, with_usage=True)
    by_host = {h.node.host: hypervisors.usage_fields(h) for h in found}
    reserved = svc.config.compute.reserved_host_memory_mb
    assert by_host["cn1"]["vcpus_used"] == 3
    assert by_host["cn1"]["memory_mb_used"] == 2048 + 512 + reserved
    assert by_host["cn1"]["local_gb_used"] == 11 + 2
    assert by_host["cn1"]["running_vms"] == 2 and by_host["cn1"]["current_workload"] == 1
    assert by_host["cn1"]["free_disk_gb"] == 100 - 13
    assert by_host["cn2"]["running_vms"] == 0
    stats = hypervisors.statistics(svc, ADMIN)
    assert stats["count"] == 2 and stats["vcpus"] == 16 and stats["running_vms"] == 2
    assert stats["memory_mb_used"] == 2048 + 512 + 2 * reserved
    with pytest.raises(Forbidden):
        hypervisors.statistics(svc, ALICE)


def test_hypervisor_search_and_paging(svc: ComputeService) -> None:
    for name in ("alpha-1", "alpha-2", "beta-1"):
        register(svc, name)
    found = hypervisors.list_hypervisors(svc, ADMIN, detail=False, uuid_ids=True, pattern="alpha")
    assert [h.node.host for h in found] == ["alpha-1", "alpha-2"]
    with pytest.raises(NotFound, match="No hypervisor matching"):
        hypervisors.list_hypervisors(svc, ADMIN, detail=False, uuid_ids=True, pattern="gamma")
    # LIKE wildcards in the pattern are literal
    with pytest.raises(NotFound):
        hypervisors.list_hypervisors(svc, ADMIN, detail=False, uuid_ids=True, pattern="%")
    page = hypervisors.list_hypervisors(svc, ADMIN, detail=False, uuid_ids=True, limit=2)
    assert [h.node.host for h in page] == ["alpha-1", "alpha-2"]
    rest = hypervisors.list_hypervisors(
        svc, ADMIN, detail=False, uuid_ids=True, limit=2, marker=page[-1].node.uuid
    )
    assert [h.node.host for h in rest] == ["beta-1"]
    with pytest.raises(BadRequest, match="marker"):
        hypervisors.list_hypervisors(svc, ADMIN, detail=False, uuid_ids=True, marker="nope")
    by_int = hypervisors.get_hypervisor(svc, ADMIN, str(page[0].node.id), uuid_ids=False)
    assert by_int.node.host == "alpha-1"
    with pytest.raises(NotFound):
        hypervisors.get_hypervisor(svc, ADMIN, str(uuid.uuid4()), uuid_ids=True)


def test_uptime_only_for_the_local_host(svc: ComputeService) -> None:
    local = register(svc, "api-host")
    remote = register(svc, "cn9")
    _, text = hypervisors.uptime(svc, ADMIN, local, uuid_ids=True)
    assert " up " in text and "load average" in text
    with pytest.raises(Exception, match="only known"):
        hypervisors.uptime(svc, ADMIN, remote, uuid_ids=True)


# -- usage -------------------------------------------------------------------------------------


def test_usage_clips_server_lives_to_the_period(svc: ComputeService) -> None:
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    hour = dt.timedelta(hours=1)
    # alice: one server for the whole period, one deleted halfway, one never launched
    whole = add_server(svc, "cn1", launched=t0 - hour)
    half = add_server(svc, "cn1", launched=t0, terminated=t0 + 5 * hour)
    add_server(svc, "cn1", launched=None)
    # bob: one that ended before the period
    add_server(svc, "cn1", project="bob", launched=t0 - 5 * hour, terminated=t0 - hour)
    start, stop = t0, t0 + 10 * hour
    totals, servers = usage.tenant_usages(svc, ADMIN, start, stop)
    assert [t["tenant_id"] for t in totals] == ["alice"]
    alice = totals[0]
    assert alice["total_hours"] == pytest.approx(15.0)
    assert alice["total_vcpus_usage"] == pytest.approx(30.0)
    assert alice["total_memory_mb_usage"] == pytest.approx(15.0 * 2048)
    assert alice["total_local_gb_usage"] == pytest.approx(15.0 * 11)
    assert alice["start"] == "2024-01-01T00:00:00.000000"
    by_id = {u["instance_id"]: u for u in alice["server_usages"]}
    assert set(by_id) == {whole, half}
    assert by_id[half]["state"] == "terminated" and by_id[half]["hours"] == pytest.approx(5.0)
    assert by_id[half]["uptime"] == 5 * 3600
    assert by_id[whole]["state"] == "active" and by_id[whole]["ended_at"] is None
    assert len(servers) == 2
    brief, _ = usage.tenant_usages(svc, ADMIN, start, stop, detailed=False)
    assert "server_usages" not in brief[0]


def test_usage_policy_and_paging(svc: ComputeService) -> None:
    t0 = utcnow() - dt.timedelta(days=1)
    ids = sorted(add_server(svc, "cn1", launched=t0) for _ in range(3))
    start, stop = usage.period(None, None)
    start = t0 - dt.timedelta(hours=1)
    own, _ = usage.tenant_usages(svc, ALICE, start, stop, project_id="alice")
    assert own[0]["tenant_id"] == "alice"
    with pytest.raises(Forbidden):
        usage.tenant_usages(svc, ALICE, start, stop, project_id="bob")
    with pytest.raises(Forbidden):
        usage.tenant_usages(svc, ALICE, start, stop)
    _, first = usage.tenant_usages(svc, ADMIN, start, stop, limit=2)
    assert [u["instance_id"] for u in first] == ids[:2]
    _, rest = usage.tenant_usages(svc, ADMIN, start, stop, limit=2, marker=ids[1])
    assert [u["instance_id"] for u in rest] == ids[2:]
    with pytest.raises(BadRequest, match="Marker"):
        usage.tenant_usages(svc, ADMIN, start, stop, marker=str(uuid.uuid4()))


@pytest.mark.parametrize(
    ("start", "end", "ok"),
    [
        ("2024-01-01T00:00:00", "2024-01-02T00:00:00", True),
        ("2024-01-01T00:00:00.5", "2024-01-02 00:00:00.000001", True),
        ("2024-01-01T00:00:00Z", "2024-01-02T00:00:00+00:00", True),
        ("2024-01-02T00:00:00", "2024-01-01T00:00:00", False),
        ("yesterday", None, False),
        ("2024-01-01T00:00:00", "2024-01-01T00:00:00", False),
    ],
)
def test_usage_period_parsing(start: str, end: str | None, ok: bool) -> None:
    if ok:
        begin, stop = usage.period(start, end)
        assert begin < stop and begin.tzinfo is not None
    else:
        with pytest.raises(BadRequest):
            usage.period(start, end)


def test_usage_end_is_capped_at_now() -> None:
    _, stop = usage.period("2024-01-01T00:00:00", "2999-01-01T00:00:00")
    assert stop <= utcnow()


def test_hours_are_never_negative() -> None:
    now = utcnow()
    server: Any = m.Server(launched_at=now, flavor={})
    assert usage.hours_in(server, now + dt.timedelta(hours=2), now + dt.timedelta(hours=1)) == 0
