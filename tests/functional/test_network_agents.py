"""Network agents (/v2.0/agents) and availability zones (/v2.0/availability_zones).

Agents are reported by each host's network agent through ``agents.heartbeat``; these
tests call it on the running cloud's database for made-up hosts, as a remote host's
agent would, then drive the API over raw HTTP, openstacksdk and the CLI.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from openstack import exceptions as sdk_exc
from sqlalchemy import delete, update

from nubo.config import Config
from nubo.db.engine import Database
from nubo.network import agents
from nubo.network import models as m
from nubo.network.service import NetworkService

NET = "/network/v2.0"
AGENTS = f"{NET}/agents"
ROLES = [
    ("Linux bridge agent", "nubo-network-agent"),
    ("DHCP agent", "nubo-network-agent"),
    ("L3 agent", "nubo-network-agent"),
    ("Metadata agent", "nubo-network-agent"),
]
FIELDS = {
    "id", "agent_type", "binary", "topic", "host", "admin_state_up", "alive", "created_at",
    "started_at", "heartbeat_timestamp", "description", "availability_zone",
    "configurations", "resources_synced",
}  # fmt: skip


def neutron_error(r, status: int, kind: str | None = None) -> str:
    assert r.status_code == status, r.text
    error = r.json()["NeutronError"]
    if kind is not None:
        assert error["type"] == kind, error
    return str(error["message"])


@pytest.fixture(scope="module")
def live(cloud) -> Iterator[NetworkService]:
    """The network service layer on the running cloud's database."""
    cfg = Config(data_dir=str(cloud.data_dir))
    cfg.database.url = cloud.database_url
    db = Database(cfg.database_url)
    try:
        yield NetworkService(cfg, db, None)  # type: ignore[arg-type]
    finally:
        db.dispose()


@pytest.fixture
def host(live, unique) -> Iterator[dict[str, Any]]:
    """A made-up host that reported all four roles; its agents are removed after."""
    name = unique("host")
    conf = {"tunneling_ip": "192.0.2.7", "tunnel_types": ["vxlan"]}
    ids = {t: agents.heartbeat(live, name, t, b, conf) for t, b in ROLES}
    yield {"name": name, "ids": ids, "conf": conf}
    with live.db.session() as s:
        s.execute(delete(m.Agent).where(m.Agent.host == name))


def by_type(http, host_name: str) -> dict[str, dict[str, Any]]:
    listed = http.expect(http.get(f"{AGENTS}?host={host_name}"), 200)["agents"]
    return {a["agent_type"]: a for a in listed}


def test_heartbeat_makes_one_agent_per_role(http, host):
    seen = by_type(http, host["name"])
    assert set(seen) == {t for t, _ in ROLES}
    for agent_type, agent in seen.items():
        assert set(agent) == FIELDS
        assert agent["id"] == host["ids"][agent_type]
        assert agent["host"] == host["name"] and agent["binary"] == "nubo-network-agent"
        assert agent["alive"] is True and agent["admin_state_up"] is True
        assert agent["configurations"] == host["conf"]
        assert agent["resources_synced"] is None and agent["description"] == ""
        # Neutron's agent timestamps: "YYYY-MM-DD HH:MM:SS"
        dt.datetime.strptime(agent["heartbeat_timestamp"], "%Y-%m-%d %H:%M:%S")
    assert seen["DHCP agent"]["topic"] == "dhcp_agent"
    assert seen["L3 agent"]["topic"] == "l3_agent"
    assert seen["Linux bridge agent"]["topic"] == "N/A"
    assert seen["DHCP agent"]["availability_zone"] == "nova"
    assert seen["L3 agent"]["availability_zone"] == "nova"
    assert seen["Linux bridge agent"]["availability_zone"] is None


def test_heartbeat_updates_in_place(http, live, host):
    before = by_type(http, host["name"])["Linux bridge agent"]
    moved = {"tunneling_ip": "192.0.2.8", "tunnel_types": ["vxlan"]}
    again = agents.heartbeat(
        live, host["name"], "Linux bridge agent", "nubo-network-agent", moved, started=True
    )
    assert again == before["id"]
    after = by_type(http, host["name"])["Linux bridge agent"]
    assert after["configurations"] == moved
    assert after["created_at"] == before["created_at"]
    assert len(by_type(http, host["name"])) == 4


def test_alive_follows_the_heartbeat(http, live, host):
    agent_id = host["ids"]["L3 agent"]
    old = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=120)
    with live.db.session() as s:
        s.execute(update(m.Agent).where(m.Agent.id == agent_id).values(heartbeat_at=old))
    shown = http.expect(http.get(f"{AGENTS}/{agent_id}"), 200)["agent"]
    assert shown["alive"] is False
    dead = http.expect(http.get(f"{AGENTS}?host={host['name']}&alive=false"), 200)["agents"]
    assert [a["id"] for a in dead] == [agent_id]
    agents.heartbeat(live, host["name"], "L3 agent", "nubo-network-agent", host["conf"])
    assert http.expect(http.get(f"{AGENTS}/{agent_id}"), 200)["agent"]["alive"] is True


def test_update_and_delete(http, live, host):
    agent_id = host["ids"]["DHCP agent"]
    url = f"{AGENTS}/{agent_id}"
    body = {"agent": {"admin_state_up": False, "description": "draining"}}
    updated = http.expect(http.put(url, json=body), 200)["agent"]
    assert updated["admin_state_up"] is False and updated["description"] == "draining"
    assert http.expect(http.get(url), 200)["agent"]["description"] == "draining"
    for attr, value in [("host", "x"), ("agent_type", "x"), ("alive", True)]:
        r = http.put(url, json={"agent": {attr: value}})
        assert neutron_error(r, 400) == f"Cannot update read-only attribute {attr}"
    neutron_error(http.put(url, json={"agent": {"bogus": 1}}), 400)
    neutron_error(http.put(url, json={"agent": {"admin_state_up": "maybe"}}), 400)
    neutron_error(http.post(AGENTS, json={"agent": {}}), 405)

    assert http.delete(url).status_code == 204
    message = neutron_error(http.get(url), 404, "AgentNotFound")
    assert message == f"Agent {agent_id} could not be found."
    neutron_error(http.delete(url), 404, "AgentNotFound")
    # the host reports again: a new row
    new_id = agents.heartbeat(live, host["name"], "DHCP agent", "nubo-network-agent", {})
    assert new_id != agent_id


def test_non_admins_see_no_agents(http, host):
    demo = http.demo_token
    assert http.expect(http.get(AGENTS, token=demo), 200) == {"agents": []}
    agent_id = host["ids"]["DHCP agent"]
    url = f"{AGENTS}/{agent_id}"
    neutron_error(http.get(url, token=demo), 404, "AgentNotFound")
    neutron_error(http.put(url, token=demo, json={"agent": {"description": "x"}}), 404)
    neutron_error(http.delete(url, token=demo), 404)
    assert http.expect(http.get(url), 200)["agent"]["description"] == ""
    neutron_error(http.get(f"{AGENTS}/{uuid.uuid4()}"), 404, "AgentNotFound")


def test_list_filters_and_fields(http, host):
    listed = http.get(f"{AGENTS}?host={host['name']}&agent_type=L3 agent&fields=id&fields=topic")
    assert http.expect(listed, 200)["agents"] == [
        {"id": host["ids"]["L3 agent"], "topic": "l3_agent"}
    ]
    up = http.expect(http.get(f"{AGENTS}?host={host['name']}&admin_state_up=true"), 200)
    assert len(up["agents"]) == 4
    ordered = http.get(f"{AGENTS}?host={host['name']}&sort_key=agent_type&sort_dir=desc")
    types = [a["agent_type"] for a in http.expect(ordered, 200)["agents"]]
    assert types == sorted(types, reverse=True)


def test_openstacksdk(admin_conn, demo_conn, host):
    listed = {a.agent_type: a for a in admin_conn.network.agents(host=host["name"])}
    assert set(listed) == {t for t, _ in ROLES}
    dhcp = admin_conn.network.get_agent(host["ids"]["DHCP agent"])
    assert dhcp.is_alive is True and dhcp.availability_zone == "nova"
    assert dhcp.configuration == host["conf"]
    updated = admin_conn.network.update_agent(dhcp, description="via sdk")
    assert updated.description == "via sdk"
    assert list(demo_conn.network.agents()) == []
    admin_conn.network.delete_agent(dhcp, ignore_missing=False)
    with pytest.raises(sdk_exc.NotFoundException):
        admin_conn.network.get_agent(dhcp.id)


def test_cli(run_cli, host):
    listed = run_cli("network", "agent", "list", "--host", host["name"])
    assert {row["Agent Type"] for row in listed} == {t for t, _ in ROLES}
    assert all(row["Alive"] is True and row["State"] is True for row in listed)
    agent_id = host["ids"]["L3 agent"]
    shown = run_cli("network", "agent", "show", agent_id)
    assert shown["agent_type"] == "L3 agent" and shown["host"] == host["name"]
    run_cli("network", "agent", "set", "--disable", "--description", "cli", agent_id)
    shown = run_cli("network", "agent", "show", agent_id)
    assert shown["admin_state_up"] is False and shown["description"] == "cli"
    assert run_cli("network", "agent", "list", cloud="nubo-demo") == []
    run_cli("network", "agent", "delete", agent_id)
    with pytest.raises(run_cli.Error):
        run_cli("network", "agent", "show", agent_id)


# -- availability zones ------------------------------------------------------------------------


def zones(http, token: Any = None) -> list[dict[str, str]]:
    kwargs = {} if token is None else {"token": token}
    return list(http.expect(http.get(f"{NET}/availability_zones", **kwargs), 200)[
        "availability_zones"
    ])  # fmt: skip


def test_zones_come_from_dhcp_and_l3_agents(http, live, unique):
    zone = unique("az")
    name = unique("az-host")
    dhcp = agents.heartbeat(live, name, "DHCP agent", "b", {}, availability_zone=zone)
    agents.heartbeat(live, name, "L3 agent", "b", {}, availability_zone=zone)
    agents.heartbeat(live, name, "Linux bridge agent", "b", {}, availability_zone="ignored")
    try:
        mine = [z for z in zones(http, http.demo_token) if z["name"] in (zone, "ignored")]
        assert sorted(mine, key=lambda z: z["resource"]) == [
            {"name": zone, "resource": "network", "state": "available"},
            {"name": zone, "resource": "router", "state": "available"},
        ]
        body = {"agent": {"admin_state_up": False}}
        http.expect(http.put(f"{AGENTS}/{dhcp}", json=body), 200)
        mine = {z["resource"]: z["state"] for z in zones(http) if z["name"] == zone}
        assert mine == {"network": "unavailable", "router": "available"}
        filtered = http.get(f"{NET}/availability_zones?name={zone}&resource=router")
        assert http.expect(filtered, 200)["availability_zones"] == [
            {"name": zone, "resource": "router", "state": "available"}
        ]
    finally:
        with live.db.session() as s:
            s.execute(delete(m.Agent).where(m.Agent.host == name))


def test_zone_cli(run_cli, live, unique):
    zone = unique("az")
    name = unique("az-host")
    agents.heartbeat(live, name, "DHCP agent", "b", {}, availability_zone=zone)
    try:
        listed = run_cli("availability", "zone", "list", "--network", "--long")
        assert {"Zone Name": zone, "Zone Status": "available", "Zone Resource": "network",
                "Host Name": "", "Service Name": "", "Service Status": ""} in listed  # fmt: skip
    finally:
        with live.db.session() as s:
            s.execute(delete(m.Agent).where(m.Agent.host == name))
