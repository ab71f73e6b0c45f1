"""Compute services (/os-services), hypervisors (/os-hypervisors), the legacy hosts API
(/os-hosts), availability zones (/os-availability-zone) and extensions (/extensions).

Hosts are registered with ``hosts.register_host`` on the running cloud's database,
as a remote host's compute agent would, under made-up names; each test removes its
hosts after. The tests marked "cloud's own host" expect the compute agent of the
cloud to have registered ``compute_host`` (the lead's agent does at start).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import update

from nubo.compute import hosts
from nubo.compute import models as m
from nubo.compute.drivers.base import HostResources
from nubo.compute.service import ComputeService
from nubo.config import Config
from nubo.db.base import utcnow
from nubo.db.engine import Database
from nubo.placement.service import PlacementService

from .compute import nova_error, v

NOVA = "/compute/v2.1"
SERVICES = f"{NOVA}/os-services"
HYPERVISORS = f"{NOVA}/os-hypervisors"
ZONES = f"{NOVA}/os-availability-zone"
RESOURCES = HostResources(
    vcpus=4, memory_mb=8192, disk_gb=40, hypervisor_type="fake", hypervisor_version=1001,
    cpu_info={"arch": "x86_64", "model": "fake"},
)  # fmt: skip
SERVICE_FIELDS = {"id", "binary", "host", "zone", "status", "state", "updated_at",
                  "disabled_reason", "forced_down"}  # fmt: skip
OLD_FIGURES = {"vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used",
               "local_gb_used", "free_ram_mb", "free_disk_gb", "current_workload",
               "running_vms", "disk_available_least", "cpu_info"}  # fmt: skip


@pytest.fixture(scope="module")
def live(cloud) -> Iterator[ComputeService]:
    """The compute service layer on the running cloud's database."""
    cfg = Config(data_dir=str(cloud.data_dir))
    cfg.database.url = cloud.database_url
    db = Database(cfg.database_url)
    try:
        yield ComputeService(cfg, db, None, None, None, PlacementService(cfg, db))  # type: ignore[arg-type]
    finally:
        db.dispose()


@pytest.fixture
def new_host(live, unique) -> Iterator[Callable[..., dict[str, Any]]]:
    """``new_host()`` registers a made-up compute host; all are removed after the test."""
    made: list[str] = []

    def make(resources: HostResources = RESOURCES) -> dict[str, Any]:
        name = unique("cn")
        made.append(name)
        with live.db.session() as s:
            node = hosts.register_host(live, s, name, resources, "fake", "192.0.2.44")
            service = hosts.find_service(s, name, hosts.COMPUTE)
            assert service is not None
            return {"name": name, "node_id": node.id, "node_uuid": node.uuid,
                    "service_id": service.id, "service_uuid": service.uuid}  # fmt: skip

    yield make
    with live.db.session() as s:
        s.execute(m.Server.__table__.delete().where(m.Server.host.in_(made)))
        for name in made:
            hosts.forget_host(live, s, name)


def add_server(live, host: str, project: str | None = None, **flavor: int) -> str:
    server_id = str(uuid.uuid4())
    sizes = {"vcpus": 1, "memory_mb": 512, "root_gb": 5, "ephemeral_gb": 0, **flavor}
    with live.db.session() as s:
        s.add(
            m.Server(
                id=server_id, project_id=project or uuid.uuid4().hex, user_id="u",
                name=f"vm-{host}",
                flavor={"name": "test", **sizes}, host=host, vm_state="active",
                launched_at=utcnow(),
            )
        )  # fmt: skip
    return server_id


def services_of(http, host: str, version: str = "2.53") -> list[dict[str, Any]]:
    r = http.get(f"{SERVICES}?host={host}", headers=v(version))
    return list(http.expect(r, 200)["services"])


# -- os-services ---------------------------------------------------------------------------


def test_registered_host_is_an_up_compute_service(http, new_host):
    host = new_host()
    (service,) = services_of(http, host["name"])
    assert set(service) == SERVICE_FIELDS
    assert service["id"] == host["service_uuid"]
    assert service["binary"] == "nova-compute" and service["zone"] == "nova"
    assert (service["status"], service["state"]) == ("enabled", "up")
    assert service["forced_down"] is False and service["disabled_reason"] is None
    dt.datetime.strptime(service["updated_at"], "%Y-%m-%dT%H:%M:%S.%f")
    # integer ids before 2.53, no forced_down before 2.11
    (old,) = services_of(http, host["name"], "2.10")
    assert old["id"] == host["service_id"] and "forced_down" not in old
    assert services_of(http, host["name"], "2.11")[0]["forced_down"] is False
    listed = http.expect(http.get(f"{SERVICES}?binary=nova-compute"), 200)["services"]
    assert host["name"] in {s["host"] for s in listed}
    assert all(s["binary"] == "nova-compute" for s in listed)


def test_service_goes_down_without_heartbeat(http, live, new_host):
    host = new_host()
    old = utcnow() - dt.timedelta(seconds=90)
    with live.db.session() as s:
        s.execute(
            update(m.ComputeService)
            .where(m.ComputeService.host == host["name"])
            .values(last_seen_up=old, updated_at=old)
        )
    assert services_of(http, host["name"])[0]["state"] == "down"
    with live.db.session() as s:
        hosts.heartbeat(live, s, host["name"])
    assert services_of(http, host["name"])[0]["state"] == "up"


def test_update_service_v253(http, new_host):
    host = new_host()
    url = f"{SERVICES}/{host['service_uuid']}"
    body = {"status": "disabled", "disabled_reason": "maintenance"}
    shown = http.expect(http.put(url, json=body, headers=v("2.53")), 200)["service"]
    assert set(shown) == SERVICE_FIELDS
    assert shown["status"] == "disabled" and shown["disabled_reason"] == "maintenance"
    assert services_of(http, host["name"])[0]["status"] == "disabled"
    shown = http.expect(http.put(url, json={"forced_down": True}, headers=v("2.53")), 200)
    assert shown["service"]["forced_down"] is True and shown["service"]["state"] == "down"
    body = {"status": "enabled", "forced_down": "false"}
    shown = http.expect(http.put(url, json=body, headers=v("2.53")), 200)["service"]
    assert (shown["status"], shown["state"], shown["disabled_reason"]) == ("enabled", "up", None)

    message = nova_error(http.put(url, json={}, headers=v("2.53")), 400)
    assert "No updates were requested" in message
    body = {"status": "enabled", "disabled_reason": "x"}
    assert "disabled_reason" in nova_error(http.put(url, json=body, headers=v("2.53")), 400)
    assert "status" in nova_error(http.put(url, json={"status": "off"}, headers=v("2.53")), 400)
    r = http.put(f"{SERVICES}/not-a-uuid", json={"status": "enabled"}, headers=v("2.53"))
    assert nova_error(r, 400) == "Invalid uuid not-a-uuid"
    missing = str(uuid.uuid4())
    r = http.put(f"{SERVICES}/{missing}", json={"status": "enabled"}, headers=v("2.53"))
    assert nova_error(r, 404) == f"Service {missing} could not be found."


def test_only_compute_services_can_be_updated(http, live):
    with live.db.session() as s:
        hosts.register_control_services(live, s, "functional-api-host")
    try:
        (sched,) = [
            s for s in services_of(http, "functional-api-host") if s["binary"] == "nova-scheduler"
        ]
        assert sched["zone"] == "internal"
        r = http.put(f"{SERVICES}/{sched['id']}", json={"status": "disabled"}, headers=v("2.53"))
        assert "Only nova-compute services can be updated" in nova_error(r, 400)
    finally:
        with live.db.session() as s:
            hosts.forget_host(live, s, "functional-api-host")


def test_update_service_before_253(http, new_host):
    host = new_host()
    who = {"host": host["name"], "binary": "nova-compute"}
    r = http.put(f"{SERVICES}/disable", json=who, headers=v("2.11"))
    assert http.expect(r, 200) == {"service": {**who, "status": "disabled"}}
    body = {**who, "disabled_reason": "fan broken"}
    r = http.put(f"{SERVICES}/disable-log-reason", json=body, headers=v("2.11"))
    assert http.expect(r, 200)["service"] == {**body, "status": "disabled"}
    (service,) = services_of(http, host["name"], "2.11")
    assert service["disabled_reason"] == "fan broken"
    r = http.put(f"{SERVICES}/force-down", json={**who, "forced_down": True}, headers=v("2.11"))
    assert http.expect(r, 200)["service"] == {**who, "forced_down": True}
    assert services_of(http, host["name"])[0]["state"] == "down"
    r = http.put(f"{SERVICES}/enable", json=who, headers=v("2.11"))
    assert http.expect(r, 200)["service"]["status"] == "enabled"

    # force-down is 2.11; unknown actions, bad bodies, unknown hosts
    r = http.put(f"{SERVICES}/force-down", json={**who, "forced_down": False}, headers=v("2.10"))
    assert nova_error(r, 404) == "Unknown action"
    assert "Missing disabled reason" in nova_error(
        http.put(f"{SERVICES}/disable-log-reason", json=who, headers=v("2.11")), 400
    )
    assert "host" in nova_error(
        http.put(f"{SERVICES}/enable", json={"binary": "nova-compute"}, headers=v("2.11")), 400
    )
    r = http.put(f"{SERVICES}/enable", json={**who, "host": "nowhere"}, headers=v("2.11"))
    assert "nowhere" in nova_error(r, 404)


def test_delete_compute_service(http, live, new_host):
    host = new_host()
    other = new_host()
    server = add_server(live, host["name"])
    url = f"{SERVICES}/{host['service_uuid']}"
    assert "hosting instances" in nova_error(http.delete(url, headers=v("2.53")), 409)
    with live.db.session() as s:
        s.execute(update(m.Server).where(m.Server.id == server).values(deleted_at=utcnow()))
    assert http.delete(url, headers=v("2.53")).status_code == 204
    assert services_of(http, host["name"]) == []
    r = http.get(f"{HYPERVISORS}/{host['node_uuid']}", headers=v("2.53"))
    nova_error(r, 404)
    # its resource provider went with it
    r = http.get(f"/placement/resource_providers/{host['node_uuid']}")
    assert r.status_code == 404, r.text
    nova_error(http.delete(url, headers=v("2.53")), 404)
    # integer ids before 2.53
    assert "integer" in nova_error(http.delete(f"{SERVICES}/abc", headers=v("2.52")), 400)
    r = http.delete(f"{SERVICES}/{other['service_id']}", headers=v("2.52"))
    assert r.status_code == 204, r.text


def test_admin_apis_are_forbidden_to_members(http, new_host):
    host = new_host()
    demo = http.demo_token
    for method, path in [
        ("GET", SERVICES),
        ("PUT", f"{SERVICES}/{host['service_uuid']}"),
        ("DELETE", f"{SERVICES}/{host['service_uuid']}"),
        ("GET", HYPERVISORS),
        ("GET", f"{HYPERVISORS}/detail"),
        ("GET", f"{HYPERVISORS}/{host['node_uuid']}"),
        ("GET", f"{HYPERVISORS}/statistics"),
        ("GET", f"{ZONES}/detail"),
    ]:
        kwargs = {"json": {"status": "disabled"}} if method == "PUT" else {}
        r = http.request(method, path, token=demo, headers=v("2.53"), **kwargs)
        assert "os_compute_api:" in nova_error(r, 403), path
    # nothing changed
    assert services_of(http, host["name"])[0]["status"] == "enabled"


# -- os-hypervisors -----------------------------------------------------------------------------


def test_hypervisor_list_and_detail(http, live, new_host):
    host = new_host()
    listed = http.expect(http.get(HYPERVISORS, headers=v("2.53")), 200)["hypervisors"]
    mine = [h for h in listed if h["hypervisor_hostname"] == host["name"]]
    assert mine == [{"id": host["node_uuid"], "hypervisor_hostname": host["name"],
                     "state": "up", "status": "enabled"}]  # fmt: skip
    detail = http.expect(http.get(f"{HYPERVISORS}/detail", headers=v("2.53")), 200)
    (shown,) = [h for h in detail["hypervisors"] if h["id"] == host["node_uuid"]]
    assert shown["hypervisor_type"] == "fake" and shown["hypervisor_version"] == 1001
    assert shown["host_ip"] == "192.0.2.44"
    assert shown["service"] == {"id": host["service_uuid"], "host": host["name"],
                                "disabled_reason": None}  # fmt: skip
    assert shown["cpu_info"] == {"arch": "x86_64", "model": "fake"}
    assert (shown["vcpus"], shown["memory_mb"], shown["local_gb"]) == (4, 8192, 40)
    assert shown["running_vms"] == 0 and shown["vcpus_used"] == 0
    # integer ids and cpu_info as a JSON string before 2.28
    old = http.expect(http.get(f"{HYPERVISORS}/detail", headers=v("2.27")), 200)
    (shown,) = [h for h in old["hypervisors"] if h["id"] == host["node_id"]]
    assert isinstance(shown["cpu_info"], str) and '"arch"' in shown["cpu_info"]


def test_hypervisor_show_counts_its_servers(http, live, new_host):
    host = new_host()
    server = add_server(live, host["name"], vcpus=2, memory_mb=1024, root_gb=10)
    url = f"{HYPERVISORS}/{host['node_uuid']}"
    shown = http.expect(http.get(url, headers=v("2.53")), 200)["hypervisor"]
    assert shown["vcpus_used"] == 2 and shown["running_vms"] == 1
    assert shown["local_gb_used"] == 10 and shown["free_disk_gb"] == 30
    assert (
        shown["memory_mb_used"] >= 1024 and shown["free_ram_mb"] == 8192 - shown["memory_mb_used"]
    )
    assert "servers" not in shown
    shown = http.expect(http.get(f"{url}?with_servers=true", headers=v("2.53")), 200)
    assert shown["hypervisor"]["servers"] == [{"name": f"vm-{host['name']}", "uuid": server}]
    # 2.88: no resource figures, an uptime field instead
    shown = http.expect(http.get(url, headers=v("2.88")), 200)["hypervisor"]
    assert not OLD_FIGURES & set(shown)
    assert "uptime" in shown and shown["uptime"] is None
    # integer ids before 2.53
    shown = http.expect(http.get(f"{HYPERVISORS}/{host['node_id']}", headers=v("2.52")), 200)
    assert shown["hypervisor"]["hypervisor_hostname"] == host["name"]


def test_hypervisor_errors(http, new_host):
    host = new_host()
    assert nova_error(http.get(f"{HYPERVISORS}/nope", headers=v("2.53")), 400) == (
        "Invalid uuid nope"
    )
    missing = str(uuid.uuid4())
    r = http.get(f"{HYPERVISORS}/{missing}", headers=v("2.53"))
    assert nova_error(r, 404) == f"Hypervisor with ID '{missing}' could not be found."
    nova_error(http.get(f"{HYPERVISORS}/{host['node_uuid']}", headers=v("2.52")), 404)
    r = http.get(f"{HYPERVISORS}?with_servers=maybe", headers=v("2.53"))
    assert "with_servers" in nova_error(r, 400)
    assert "bogus" in nova_error(http.get(f"{HYPERVISORS}?bogus=1", headers=v("2.53")), 400)
    r = http.get(f"{HYPERVISORS}?hypervisor_hostname_pattern=cn&limit=1", headers=v("2.53"))
    assert "Paging over hypervisors" in nova_error(r, 400)
    r = http.get(f"{HYPERVISORS}?marker={missing}", headers=v("2.53"))
    assert "not found" in nova_error(r, 400)
    r = http.get(f"{HYPERVISORS}?hypervisor_hostname_pattern=zz-none", headers=v("2.53"))
    assert "No hypervisor matching" in nova_error(r, 404)


def test_hypervisor_pattern_and_paging(http, new_host):
    first, second = new_host(), new_host()
    r = http.get(f"{HYPERVISORS}?hypervisor_hostname_pattern={first['name']}", headers=v("2.53"))
    found = http.expect(r, 200)
    assert [h["id"] for h in found["hypervisors"]] == [first["node_uuid"]]
    assert "hypervisors_links" not in found
    # before 2.53 the pattern is a path segment
    r = http.get(f"{HYPERVISORS}/{second['name']}/search", headers=v("2.52"))
    assert [h["id"] for h in http.expect(r, 200)["hypervisors"]] == [second["node_id"]]
    r = http.get(f"{HYPERVISORS}/{second['name']}/servers", headers=v("2.52"))
    assert http.expect(r, 200)["hypervisors"][0]["hypervisor_hostname"] == second["name"]
    nova_error(http.get(f"{HYPERVISORS}/{second['name']}/search", headers=v("2.53")), 404)
    # walk every page of one
    seen: list[str] = []
    url = f"{HYPERVISORS}?limit=1"
    while url:
        page = http.expect(http.get(url, headers=v("2.53")), 200)
        assert len(page["hypervisors"]) <= 1
        seen += [h["id"] for h in page["hypervisors"]]
        links = page.get("hypervisors_links", [])
        url = links[0]["href"] if links else ""
    assert {first["node_uuid"], second["node_uuid"]} <= set(seen)
    assert len(seen) == len(set(seen))


def test_statistics_and_uptime_end_at_288(http, new_host):
    host = new_host(HostResources(vcpus=3, memory_mb=1000, disk_gb=7, hypervisor_type="fake",
                                  hypervisor_version=1))  # fmt: skip
    stats = http.expect(http.get(f"{HYPERVISORS}/statistics"), 200)["hypervisor_statistics"]
    assert stats["count"] >= 1 and stats["vcpus"] >= 3 and stats["local_gb"] >= 7
    nova_error(http.get(f"{HYPERVISORS}/statistics", headers=v("2.88")), 404)
    url = f"{HYPERVISORS}/{host['node_uuid']}/uptime"
    nova_error(http.get(url, headers=v("2.88")), 404)
    # only the cloud's own host knows its uptime
    nova_error(http.get(url, headers=v("2.53")), 501)


def test_cloud_host_uptime(http, live):
    """Cloud's own host: needs the compute agent to have registered it."""
    listed = http.expect(
        http.get(f"{HYPERVISORS}?hypervisor_hostname_pattern={live.host}", headers=v("2.53")),
        200,
    )["hypervisors"]
    (own,) = [h for h in listed if h["hypervisor_hostname"] == live.host]
    r = http.get(f"{HYPERVISORS}/{own['id']}/uptime", headers=v("2.53"))
    body = http.expect(r, 200)["hypervisor"]
    assert "load average" in body["uptime"]
    shown = http.expect(http.get(f"{HYPERVISORS}/{own['id']}", headers=v("2.88")), 200)
    assert "load average" in shown["hypervisor"]["uptime"]


# -- availability zones ---------------------------------------------------------------------------


def test_availability_zones(http, live, new_host):
    host = new_host()
    with live.db.session() as s:
        hosts.register_control_services(live, s, "functional-api-host")
    try:
        zones = http.expect(http.get(ZONES, token=http.demo_token), 200)["availabilityZoneInfo"]
        assert {"zoneName": "nova", "zoneState": {"available": True}, "hosts": None} in zones
        assert "internal" not in {z["zoneName"] for z in zones}
        detail = http.expect(http.get(f"{ZONES}/detail"), 200)["availabilityZoneInfo"]
        by_name = {z["zoneName"]: z for z in detail}
        entry = by_name["nova"]["hosts"][host["name"]]["nova-compute"]
        assert entry["available"] is True and entry["active"] is True
        internal = by_name["internal"]["hosts"]["functional-api-host"]
        assert set(internal) == {"nova-scheduler", "nova-conductor"}
        nova_error(http.get(f"{ZONES}/detail", token=http.demo_token), 403)
    finally:
        with live.db.session() as s:
            hosts.forget_host(live, s, "functional-api-host")


# -- the cloud's own host and the CLI -----------------------------------------------------------


def test_cloud_host_services(http, live):
    """Cloud's own host: compute, scheduler and conductor (needs the agent wired)."""
    listed = http.expect(http.get(f"{SERVICES}?host={live.host}", headers=v("2.53")), 200)
    by_binary = {s["binary"]: s for s in listed["services"]}
    assert {"nova-compute", "nova-scheduler", "nova-conductor"} <= set(by_binary)
    assert by_binary["nova-compute"]["state"] == "up"
    assert by_binary["nova-scheduler"]["zone"] == "internal"


def test_cli(run_cli, new_host):
    host = new_host()
    listed = run_cli("compute", "service", "list", "--host", host["name"])
    assert [(s["Binary"], s["Host"], s["Zone"], s["Status"], s["State"]) for s in listed] == [
        ("nova-compute", host["name"], "nova", "enabled", "up")
    ]
    run_cli("compute", "service", "set", "--disable", "--disable-reason", "cli",
            host["name"], "nova-compute")  # fmt: skip
    (service,) = run_cli("compute", "service", "list", "--host", host["name"], "--long")
    assert service["Status"] == "disabled" and service["Disabled Reason"] == "cli"
    run_cli("compute", "service", "set", "--enable", host["name"], "nova-compute")

    hypervisors = run_cli("hypervisor", "list")
    assert host["name"] in {h["Hypervisor Hostname"] for h in hypervisors}
    shown = run_cli("hypervisor", "show", host["name"])
    assert shown["hypervisor_hostname"] == host["name"] and shown["host_ip"] == "192.0.2.44"
    stats = run_cli("hypervisor", "stats", "show")
    assert stats["count"] >= 1
    zones = run_cli("availability", "zone", "list", "--compute")
    assert {"Zone Name": "nova", "Zone Status": "available"} in zones
    with pytest.raises(run_cli.Error):
        run_cli("compute", "service", "list", cloud="nubo-demo")


# -- extensions ------------------------------------------------------------------------------------


def test_extensions(http):
    listed = http.expect(http.get(f"{NOVA}/extensions", token=http.demo_token), 200)["extensions"]
    aliases = {e["alias"] for e in listed}
    assert {"os-aggregates", "os-hypervisors", "os-services", "os-keypairs"} <= aliases
    for e in listed:
        assert set(e) == {"alias", "name", "description", "links", "namespace", "updated"}
    assert {"os-hosts", "os-consoles"} <= aliases
    assert "Hosts" in {e["name"] for e in listed}
    assert [e["alias"] for e in listed] == sorted(aliases)
    shown = http.expect(http.get(f"{NOVA}/extensions/os-services"), 200)["extension"]
    assert shown["name"] == "Services"
    shown = http.expect(http.get(f"{NOVA}/extensions/os-consoles"), 200)["extension"]
    assert (shown["alias"], shown["name"]) == ("os-consoles", "Consoles")
    nova_error(http.get(f"{NOVA}/extensions/os-nothing"), 404)


# -- os-hosts (legacy, up to 2.42) -------------------------------------------------------------

HOSTS = f"{NOVA}/os-hosts"


def test_os_hosts_list_and_zones(http, live, new_host):
    host = new_host()
    listed = http.expect(http.get(HOSTS), 200)["hosts"]
    assert {"host_name": host["name"], "service": "compute", "zone": "nova"} in listed
    assert all(set(h) == {"host_name", "service", "zone"} for h in listed)
    # the cloud's own scheduler and conductor live in the internal zone
    own = {(h["service"], h["zone"]) for h in listed if h["host_name"] == live.host}
    assert {("scheduler", "internal"), ("conductor", "internal")} <= own
    in_nova = http.expect(http.get(f"{HOSTS}?zone=nova"), 200)["hosts"]
    assert host["name"] in {h["host_name"] for h in in_nova}
    assert {h["zone"] for h in in_nova} == {"nova"}
    internal = http.expect(http.get(f"{HOSTS}?zone=internal"), 200)["hosts"]
    assert internal and {h["service"] for h in internal} <= {"scheduler", "conductor"}
    assert http.expect(http.get(f"{HOSTS}?zone=xxx"), 200) == {"hosts": []}
    assert len(http.expect(http.get(f"{HOSTS}?zone="), 200)["hosts"]) == len(listed)
    # disabled services are left out, as in Nova
    r = http.put(f"{SERVICES}/{host['service_uuid']}", json={"status": "disabled"},
                 headers=v("2.53"))  # fmt: skip
    http.expect(r, 200)
    listed = http.expect(http.get(HOSTS), 200)["hosts"]
    assert host["name"] not in {h["host_name"] for h in listed}
    # gone from 2.43
    nova_error(http.get(HOSTS, headers=v("2.43")), 404)
    http.expect(http.get(HOSTS, headers=v("2.42")), 200)


def test_os_hosts_show_sums_servers_by_project(http, live, new_host):
    host = new_host()
    name = host["name"]
    alpha, beta = "alpha-" + uuid.uuid4().hex[:8], "beta-" + uuid.uuid4().hex[:8]
    add_server(live, name, alpha, vcpus=2, memory_mb=1024, root_gb=10, ephemeral_gb=5)
    add_server(live, name, beta, vcpus=1, memory_mb=512, root_gb=5)
    add_server(live, name, alpha, vcpus=1, memory_mb=256, root_gb=1)
    rows = [r["resource"] for r in http.expect(http.get(f"{HOSTS}/{name}"), 200)["host"]]
    assert all(set(r) == {"host", "project", "cpu", "memory_mb", "disk_gb"} for r in rows)
    assert all(r["host"] == name for r in rows)
    by_project = {r["project"]: (r["cpu"], r["memory_mb"], r["disk_gb"]) for r in rows}
    assert [r["project"] for r in rows] == ["(total)", "(used_now)", "(used_max)", alpha, beta]
    assert by_project["(total)"] == (4, 8192, 40)
    assert by_project["(used_max)"] == (4, 1792, 21)
    assert by_project[alpha] == (3, 1280, 16) and by_project[beta] == (1, 512, 5)
    # in use now: the servers plus the memory the host keeps for itself
    cpu, memory, disk = by_project["(used_now)"]
    assert (cpu, disk) == (4, 21) and memory >= 1792
    r = http.get(f"{HOSTS}/nonexistent_hostname")
    assert nova_error(r, 404) == "Compute host nonexistent_hostname could not be found."
    nova_error(http.get(f"{HOSTS}/{name}", headers=v("2.43")), 404)


def test_os_hosts_update(http, new_host):
    host = new_host()
    url = f"{HOSTS}/{host['name']}"
    r = http.put(url, json={"status": "disable"})
    assert http.expect(r, 200) == {"host": host["name"], "status": "disabled"}
    assert services_of(http, host["name"])[0]["status"] == "disabled"
    r = http.put(url, json={"status": "Enable"})
    assert http.expect(r, 200) == {"host": host["name"], "status": "enabled"}
    assert services_of(http, host["name"])[0]["status"] == "enabled"
    # bad bodies: unknown values, nothing to do, nulls, other keys
    for body in [
        {"status": "invalid", "maintenance_mode": "enable"},
        {"status": "enable", "maintenance_mode": "invalid"},
        {},
        {"status": None, "maintenance_mode": None},
        {"status": "enable", "color": "red"},
    ]:
        nova_error(http.put(url, json=body), 400)
    r = http.put(f"{HOSTS}/nonexistent_hostname", json={"status": "enable",
                                                      "maintenance_mode": "enable"})  # fmt: skip
    nova_error(r, 404)
    # no nubo driver has a maintenance mode: 501, and nothing changed
    r = http.put(url, json={"status": "disable", "maintenance_mode": "enable"})
    assert nova_error(r, 501) == "The requested functionality is not supported."
    assert services_of(http, host["name"])[0]["status"] == "enabled"
    nova_error(http.put(url, json={"status": "disable"}, headers=v("2.43")), 404)


def test_os_hosts_power_actions(http, new_host):
    host = new_host()
    for action in ("startup", "shutdown", "reboot"):
        nova_error(http.get(f"{HOSTS}/nonexistent_hostname/{action}"), 404)
        r = http.get(f"{HOSTS}/{host['name']}/{action}")
        assert nova_error(r, 501) == "The requested functionality is not supported."
        nova_error(http.get(f"{HOSTS}/{host['name']}/{action}", headers=v("2.43")), 404)


def test_os_hosts_are_admin_only(http, new_host):
    host = new_host()
    demo = http.demo_token
    rules = {
        ("GET", HOSTS): "list",
        ("GET", f"{HOSTS}/{host['name']}"): "show",
        ("PUT", f"{HOSTS}/{host['name']}"): "update",
        ("GET", f"{HOSTS}/{host['name']}/startup"): "start",
        ("GET", f"{HOSTS}/{host['name']}/shutdown"): "shutdown",
        ("GET", f"{HOSTS}/{host['name']}/reboot"): "reboot",
    }
    for (method, path), rule in rules.items():
        kwargs = {"json": {"status": "disable"}} if method == "PUT" else {}
        r = http.request(method, path, token=demo, **kwargs)
        assert f"os_compute_api:os-hosts:{rule}" in nova_error(r, 403), path
    assert services_of(http, host["name"])[0]["status"] == "enabled"


def test_os_hosts_cli(run_cli, new_host):
    host = new_host()
    listed = run_cli("host", "list", "--zone", "nova")
    assert {"Host Name": host["name"], "Service": "compute", "Zone": "nova"} in listed
    shown = run_cli("host", "show", host["name"])
    assert shown[0] == {"Host": host["name"], "Project": "(total)", "CPU": 4,
                        "Memory MB": 8192, "Disk GB": 40}  # fmt: skip
    run_cli("host", "set", "--disable", host["name"])
    listed = run_cli("host", "list")
    assert host["name"] not in {h["Host Name"] for h in listed}
    run_cli("host", "set", "--enable", host["name"])
    assert host["name"] in {h["Host Name"] for h in run_cli("host", "list")}
