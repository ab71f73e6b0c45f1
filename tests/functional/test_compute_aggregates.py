"""Host aggregates (/os-aggregates): CRUD, host membership and metadata, the
availability zones they define, their Placement mirror, errors and the CLI.

Compute hosts are registered under made-up names on the running cloud's database
(``hosts.register_host``, as a compute agent does) and removed after each test.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

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
AGGREGATES = f"{NOVA}/os-aggregates"
ZONES = f"{NOVA}/os-availability-zone"
RESOURCES = HostResources(
    vcpus=2, memory_mb=4096, disk_gb=20, hypervisor_type="fake", hypervisor_version=1
)
FIELDS = {"id", "name", "availability_zone", "created_at", "updated_at", "deleted_at",
          "deleted", "hosts", "metadata"}  # fmt: skip


@pytest.fixture(scope="module")
def live(cloud) -> Iterator[ComputeService]:
    cfg = Config(data_dir=str(cloud.data_dir))
    cfg.database.url = cloud.database_url
    db = Database(cfg.database_url)
    try:
        yield ComputeService(cfg, db, None, None, None, PlacementService(cfg, db))  # type: ignore[arg-type]
    finally:
        db.dispose()


@pytest.fixture
def new_host(live, unique) -> Iterator[Callable[[], dict[str, Any]]]:
    made: list[str] = []

    def make() -> dict[str, Any]:
        name = unique("agg-cn")
        made.append(name)
        with live.db.session() as s:
            node = hosts.register_host(live, s, name, RESOURCES, "fake", "192.0.2.45")
            return {"name": name, "node_uuid": node.uuid}

    yield make
    with live.db.session() as s:
        s.execute(m.Server.__table__.delete().where(m.Server.host.in_(made)))
        for name in made:
            hosts.forget_host(live, s, name)


@pytest.fixture
def aggregate(http, unique) -> Iterator[Callable[..., dict[str, Any]]]:
    """``aggregate(zone=None)`` creates one; each is emptied and deleted after."""
    made: list[int] = []

    def make(zone: str | None = None, name: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name or unique("agg")}
        if zone:
            body["availability_zone"] = zone
        r = http.post(AGGREGATES, json={"aggregate": body}, headers=v("2.41"))
        created: dict[str, Any] = http.expect(r, 200)["aggregate"]
        made.append(created["id"])
        return created

    yield make
    for agg_id in made:
        r = http.get(f"{AGGREGATES}/{agg_id}")
        if r.status_code != 200:
            continue
        for host in r.json()["aggregate"]["hosts"]:
            http.post(f"{AGGREGATES}/{agg_id}/action", json={"remove_host": {"host": host}})
        http.delete(f"{AGGREGATES}/{agg_id}")


def action(http, agg_id: int, body: dict[str, Any], version: str = "2.41"):
    return http.post(f"{AGGREGATES}/{agg_id}/action", json=body, headers=v(version))


def test_create_show_update_delete(http, aggregate, unique):
    created = aggregate(zone="az-" + uuid.uuid4().hex[:6])
    # create answers without hosts and metadata (Nova's shape), with the uuid from 2.41
    assert set(created) == (FIELDS - {"hosts", "metadata"}) | {"uuid"}
    assert created["deleted"] is False and created["updated_at"] is None
    shown = http.expect(http.get(f"{AGGREGATES}/{created['id']}", headers=v("2.41")), 200)
    agg = shown["aggregate"]
    assert set(agg) == FIELDS | {"uuid"} and agg["uuid"] == created["uuid"]
    assert agg["hosts"] == [] and agg["metadata"] == {
        "availability_zone": created["availability_zone"]
    }
    old = http.expect(http.get(f"{AGGREGATES}/{created['id']}", headers=v("2.40")), 200)
    assert "uuid" not in old["aggregate"]
    listed = http.expect(http.get(AGGREGATES), 200)["aggregates"]
    assert created["id"] in {a["id"] for a in listed}

    new_name = unique("renamed")
    body = {"aggregate": {"name": f"  {new_name} ", "availability_zone": "az-other"}}
    updated = http.expect(http.put(f"{AGGREGATES}/{created['id']}", json=body), 200)["aggregate"]
    assert updated["name"] == new_name and updated["availability_zone"] == "az-other"
    assert updated["updated_at"] is not None

    r = http.delete(f"{AGGREGATES}/{created['id']}")
    assert r.status_code == 200 and not r.content
    message = nova_error(http.get(f"{AGGREGATES}/{created['id']}"), 404)
    assert message == f"Aggregate {created['id']} could not be found."


def test_create_and_update_errors(http, aggregate):
    first = aggregate()
    r = http.post(AGGREGATES, json={"aggregate": {"name": first["name"]}})
    assert nova_error(r, 409) == f"Aggregate {first['name']} already exists."
    for body in [
        {},
        {"aggregate": {}},
        {"aggregate": {"name": ""}},
        {"aggregate": {"name": " padded"}},
        {"aggregate": {"name": "x" * 256}},
        {"aggregate": {"name": "ok", "availability_zone": "a:b"}},
        {"aggregate": {"name": "ok", "bogus": 1}},
    ]:
        nova_error(http.post(AGGREGATES, json=body), 400)
    second = aggregate()
    r = http.put(f"{AGGREGATES}/{second['id']}", json={"aggregate": {"name": first["name"]}})
    nova_error(r, 409)
    nova_error(http.put(f"{AGGREGATES}/{second['id']}", json={"aggregate": {}}), 400)
    assert "integer" in nova_error(http.get(f"{AGGREGATES}/abc"), 400)
    nova_error(http.get(f"{AGGREGATES}/99999999"), 404)
    nova_error(http.delete(f"{AGGREGATES}/99999999"), 404)
    r = action(http, second["id"], {"explode": {}})
    assert "explode" in nova_error(r, 400)
    nova_error(action(http, second["id"], {"add_host": {}}), 400)


def test_hosts_and_zones(http, aggregate, new_host):
    zone = "az-" + uuid.uuid4().hex[:8]
    agg = aggregate(zone=zone)
    host = new_host()
    r = action(http, agg["id"], {"add_host": {"host": host["name"]}})
    added = http.expect(r, 200)["aggregate"]
    assert added["hosts"] == [host["name"]] and added["uuid"] == agg["uuid"]
    # the host's zone follows the aggregate
    services = http.get(f"{NOVA}/os-services?host={host['name']}").json()["services"]
    assert services[0]["zone"] == zone
    zones = http.expect(http.get(ZONES, token=http.demo_token), 200)["availabilityZoneInfo"]
    assert {"zoneName": zone, "zoneState": {"available": True}, "hosts": None} in zones

    moved = "az-" + uuid.uuid4().hex[:8]
    body = {"aggregate": {"availability_zone": moved}}
    http.expect(http.put(f"{AGGREGATES}/{agg['id']}", json=body), 200)
    services = http.get(f"{NOVA}/os-services?host={host['name']}").json()["services"]
    assert services[0]["zone"] == moved

    r = action(http, agg["id"], {"add_host": {"host": host["name"]}})
    assert nova_error(r, 409) == f"Aggregate {agg['id']} already has host {host['name']}."
    other = aggregate(zone="az-" + uuid.uuid4().hex[:8])
    r = action(http, other["id"], {"add_host": {"host": host["name"]}})
    assert "already in availability zone" in nova_error(r, 409)
    r = action(http, agg["id"], {"add_host": {"host": "no-such-host"}})
    assert nova_error(r, 404) == "Compute host no-such-host could not be found."
    r = http.delete(f"{AGGREGATES}/{agg['id']}")
    assert "not empty" in nova_error(r, 400)

    removed = http.expect(action(http, agg["id"], {"remove_host": {"host": host["name"]}}), 200)
    assert removed["aggregate"]["hosts"] == []
    r = action(http, agg["id"], {"remove_host": {"host": host["name"]}})
    assert nova_error(r, 404) == f"Cannot remove host {host['name']} in aggregate {agg['id']}"
    services = http.get(f"{NOVA}/os-services?host={host['name']}").json()["services"]
    assert services[0]["zone"] == "nova"


def test_zone_change_refused_while_servers_run(http, live, aggregate, new_host):
    agg = aggregate()
    host = new_host()
    http.expect(action(http, agg["id"], {"add_host": {"host": host["name"]}}), 200)
    with live.db.session() as s:
        s.add(m.Server(id=str(uuid.uuid4()), project_id="p", user_id="u", name="busy",
                       flavor={"vcpus": 1}, host=host["name"], vm_state="active",
                       launched_at=utcnow()))  # fmt: skip
    body = {"aggregate": {"availability_zone": "az-" + uuid.uuid4().hex[:8]}}
    r = http.put(f"{AGGREGATES}/{agg['id']}", json=body)
    assert "contain instances" in nova_error(r, 400)
    zoned = aggregate(zone="az-" + uuid.uuid4().hex[:8])
    r = action(http, zoned["id"], {"add_host": {"host": host["name"]}})
    assert "availability zone of the host would change" in nova_error(r, 409)


def test_set_metadata(http, aggregate):
    agg = aggregate()
    body = {"set_metadata": {"metadata": {"ssd": "true", "tier": "gold"}}}
    shown = http.expect(action(http, agg["id"], body), 200)["aggregate"]
    assert shown["metadata"] == {"ssd": "true", "tier": "gold"}
    body = {"set_metadata": {"metadata": {"tier": None, "availability_zone": "az-meta"}}}
    shown = http.expect(action(http, agg["id"], body), 200)["aggregate"]
    assert shown["metadata"] == {"ssd": "true", "availability_zone": "az-meta"}
    assert shown["availability_zone"] == "az-meta"
    for bad in [{"k": 1}, {"": "x"}, {"k/slash": "x"}, {"k": "x" * 256}]:
        nova_error(action(http, agg["id"], {"set_metadata": {"metadata": bad}}), 400)
    body = {"set_metadata": {"metadata": {"availability_zone": None}}}
    assert "empty named availability zone" in nova_error(action(http, agg["id"], body), 400)


def test_membership_reaches_placement(http, aggregate, new_host):
    agg = aggregate()
    host = new_host()
    url = f"/placement/resource_providers/{host['node_uuid']}/aggregates"
    headers = {"OpenStack-API-Version": "placement 1.19"}
    http.expect(action(http, agg["id"], {"add_host": {"host": host["name"]}}), 200)
    assert http.expect(http.get(url, headers=headers), 200)["aggregates"] == [agg["uuid"]]
    http.expect(action(http, agg["id"], {"remove_host": {"host": host["name"]}}), 200)
    assert http.expect(http.get(url, headers=headers), 200)["aggregates"] == []


def test_image_cache_request(http, aggregate):
    agg = aggregate()
    url = f"{AGGREGATES}/{agg['id']}/images"
    image = str(uuid.uuid4())
    r = http.post(url, json={"cache": [{"id": image}]}, headers=v("2.81"))
    assert r.status_code == 202, r.text
    r = http.post(url, json={"cache": [{"id": image}, {"id": image}]}, headers=v("2.81"))
    assert nova_error(r, 400) == "Duplicate images in request"
    nova_error(http.post(url, json={"cache": []}, headers=v("2.81")), 400)
    nova_error(http.post(url, json={"cache": [{"id": image}]}, headers=v("2.80")), 404)


def test_members_are_forbidden(http, aggregate):
    agg = aggregate()
    demo = http.demo_token
    nova_error(http.get(AGGREGATES, token=demo), 403)
    nova_error(http.get(f"{AGGREGATES}/{agg['id']}", token=demo), 403)
    r = http.post(AGGREGATES, json={"aggregate": {"name": "nope"}}, token=demo)
    nova_error(r, 403)
    r = http.post(
        f"{AGGREGATES}/{agg['id']}/action",
        json={"set_metadata": {"metadata": {"a": "b"}}},
        token=demo,
    )
    nova_error(r, 403)
    nova_error(http.delete(f"{AGGREGATES}/{agg['id']}", token=demo), 403)


def test_cli(run_cli, new_host, unique, http):
    name = unique("cli-agg")
    zone = "az-" + uuid.uuid4().hex[:8]
    host = new_host()
    created = run_cli("aggregate", "create", "--zone", zone, name)
    try:
        assert created["name"] == name and created["availability_zone"] == zone
        run_cli("aggregate", "add", "host", name, host["name"], json_output=True)
        run_cli("aggregate", "set", "--property", "ssd=true", name)
        shown = run_cli("aggregate", "show", name)
        assert host["name"] in shown["hosts"]
        assert shown["properties"] == {"ssd": "true"}
        assert name in {a["Name"] for a in run_cli("aggregate", "list")}
        zones = run_cli("availability", "zone", "list", "--compute")
        assert {"Zone Name": zone, "Zone Status": "available"} in zones
        run_cli("aggregate", "remove", "host", name, host["name"], json_output=True)
    finally:
        run_cli("aggregate", "delete", name)
    with pytest.raises(run_cli.Error):
        run_cli("aggregate", "show", name)
