"""Agents, availability zones, quotas and RBAC policies in the service layer on a real
(SQLite) database, plus the list helpers' edge cases they rely on."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from nubo.api.policy import PolicyEngine
from nubo.config import Config
from nubo.db import migrate
from nubo.db.engine import Database
from nubo.errors import BadRequest, Conflict, Forbidden, NotFound
from nubo.network import agents, networks, quotas, rbac_policies
from nubo.network import models as m
from nubo.network.access import Caller
from nubo.network.listing import listing
from nubo.network.policies import RULES
from nubo.network.service import NetworkService

POLICY = PolicyEngine()
POLICY.register(RULES)


def caller(project: str, admin: bool = False) -> Caller:
    roles = ["admin", "member", "reader"] if admin else ["member", "reader"]
    creds = {"roles": roles, "project_id": project, "user_id": f"u-{project}"}
    return Caller(
        project_id=project,
        is_admin=admin,
        allowed=lambda rule, target: POLICY.allowed(rule, creds, target),
    )


ADMIN = caller("admin-project", admin=True)
ALICE = caller("alice")
BOB = caller("bob")


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[NetworkService]:
    cfg = Config(data_dir=str(tmp_path))
    db = Database(cfg.database_url)
    migrate.upgrade(db.engine)
    service = NetworkService(cfg, db, None)  # type: ignore[arg-type]
    yield service
    db.dispose()


# -- agents and zones ----------------------------------------------------------------------


def test_heartbeat_inserts_then_updates(svc: NetworkService) -> None:
    first = agents.heartbeat(svc, "h1", "DHCP agent", "nubo-network-agent", {"a": 1})
    with svc.db.reader() as s:
        generation = svc.generation(s)
    assert agents.heartbeat(svc, "h1", "DHCP agent", "nubo-network-agent", {"a": 1}) == first
    with svc.db.reader() as s:
        assert svc.generation(s) == generation  # nothing changed: no dataplane work
    agents.heartbeat(svc, "h1", "DHCP agent", "nubo-network-agent", {"a": 2})
    with svc.db.reader() as s:
        assert svc.generation(s) == generation + 1  # a moved endpoint wakes the hosts
    shown = agents.get_agent(svc, ADMIN, first)
    assert shown["configurations"] == {"a": 2} and shown["alive"] is True
    assert shown["availability_zone"] == "nova" and shown["topic"] == "dhcp_agent"
    bridge = agents.heartbeat(svc, "h1", "Linux bridge agent", "nubo-network-agent", {})
    assert agents.get_agent(svc, ADMIN, bridge)["availability_zone"] is None


def test_dead_agent(svc: NetworkService) -> None:
    agent_id = agents.heartbeat(svc, "h1", "L3 agent", "b", {})
    with svc.db.session() as s:
        old = dt.datetime.now(dt.UTC) - agents.AGENT_DOWN_TIME - dt.timedelta(seconds=1)
        s.execute(update(m.Agent).values(heartbeat_at=old))
    assert agents.get_agent(svc, ADMIN, agent_id)["alive"] is False


def test_agents_are_admin_only(svc: NetworkService) -> None:
    agent_id = agents.heartbeat(svc, "h1", "L3 agent", "b", {})
    assert agents.list_agents(svc, ALICE, {}) == []
    with pytest.raises(NotFound):
        agents.get_agent(svc, ALICE, agent_id)
    with pytest.raises(NotFound):
        agents.update_agent(svc, ALICE, agent_id, {"description": "x"})
    with pytest.raises(NotFound):
        agents.delete_agent(svc, ALICE, agent_id)
    agents.delete_agent(svc, ADMIN, agent_id)
    assert agents.list_agents(svc, ADMIN, {}) == []


def test_zones_default_before_any_agent(svc: NetworkService) -> None:
    assert agents.availability_zones(svc, ALICE) == [
        {"name": "nova", "resource": "network", "state": "available"},
        {"name": "nova", "resource": "router", "state": "available"},
    ]
    dhcp = agents.heartbeat(svc, "h1", "DHCP agent", "b", {}, availability_zone="az1")
    agents.heartbeat(svc, "h2", "DHCP agent", "b", {}, availability_zone="az1")
    agents.update_agent(svc, ADMIN, dhcp, {"admin_state_up": False})
    # one of the zone's two DHCP agents is still up; no L3 agent: no router zone
    assert agents.availability_zones(svc, ALICE) == [
        {"name": "az1", "resource": "network", "state": "available"}
    ]


# -- quotas ------------------------------------------------------------------------------------


def test_quota_limits_validation(svc: NetworkService) -> None:
    with svc.db.session() as s:
        assert quotas.update(s, "p", {"network": "5"})["network"] == 5
        for bad in (-2, "x", None, True, 2**31, [1], 1e400):
            with pytest.raises(BadRequest):
                quotas.update(s, "p", {"network": bad})
        with pytest.raises(BadRequest, match="Unrecognized attribute"):
            quotas.update(s, "p", {"nope": 1})
        assert quotas.all_quotas(s)[0]["network"] == 5


def test_quota_api_rules(svc: NetworkService) -> None:
    assert quotas.show_quota(svc, ALICE, "alice")["network"] == 100
    with pytest.raises(Forbidden):
        quotas.show_quota(svc, ALICE, "bob")
    with pytest.raises(Forbidden):
        quotas.list_quotas(svc, ALICE)
    with pytest.raises(Forbidden):
        quotas.update_quota(svc, ALICE, "alice", {"quota": {"network": 1}})
    limits = quotas.update_quota(svc, ADMIN, "alice", {"quota": {"network": 1, "force": True}})
    assert limits["network"] == 1
    networks.create_network(svc, ALICE, {"name": "n"})
    with pytest.raises(Conflict):
        networks.create_network(svc, ALICE, {"name": "n2"})
    with pytest.raises(BadRequest, match="already used 1"):
        quotas.update_quota(svc, ADMIN, "alice", {"quota": {"network": 0, "check_limit": True}})
    quotas.reset_quota(svc, ADMIN, "alice")
    assert quotas.quota_details(svc, ALICE, "alice")["network"] == {
        "limit": 100,
        "used": 1,
        "reserved": 0,
    }


# -- rbac policies -------------------------------------------------------------------------------


def test_rbac_wildcard_needs_admin(svc: NetworkService) -> None:
    net = networks.create_network(svc, ALICE, {"name": "n"})
    attrs = {"object_type": "network", "object_id": net["id"], "action": "access_as_shared"}
    with pytest.raises(Forbidden):
        rbac_policies.create_policy(svc, ALICE, {**attrs, "target_tenant": "*"})
    policy = rbac_policies.create_policy(svc, ALICE, {**attrs, "target_tenant": "bob"})
    assert networks.get_network(svc, BOB, net["id"])["shared"] is True
    with pytest.raises(Forbidden):
        rbac_policies.update_policy(svc, ALICE, policy["id"], {"target_tenant": "*"})
    with pytest.raises(NotFound):
        rbac_policies.get_policy(svc, BOB, policy["id"])
    wild = rbac_policies.create_policy(svc, ADMIN, {**attrs, "target_tenant": "*"})
    assert wild["project_id"] == ADMIN.project_id
    assert networks.get_network(svc, caller("carol"), net["id"])["shared"] is True


def test_rbac_duplicate_and_in_use(svc: NetworkService) -> None:
    net = networks.create_network(svc, ALICE, {"name": "n"})
    attrs = {"object_type": "network", "object_id": net["id"], "action": "access_as_shared",
             "target_tenant": "bob"}  # fmt: skip
    policy = rbac_policies.create_policy(svc, ALICE, attrs)
    with pytest.raises(Conflict, match="already exists"):
        rbac_policies.create_policy(svc, ALICE, attrs)
    with svc.db.session() as s:
        s.add(m.Port(network_id=net["id"], project_id="bob", mac_address="fa:16:3e:00:00:01"))
    with pytest.raises(Conflict) as caught:
        rbac_policies.delete_policy(svc, ALICE, policy["id"])
    assert caught.value.type_name == "RbacPolicyInUse"
    with pytest.raises(Conflict):
        rbac_policies.update_policy(svc, ALICE, policy["id"], {"target_tenant": "carol"})


# -- lists ---------------------------------------------------------------------------------------


def test_empty_lists_sort_and_id_less_items_page() -> None:
    assert listing([], [("sort_key", "anything")], "things", "u", {"id"}) == {"things": []}
    with pytest.raises(BadRequest):
        listing([], [("sort_key", "x"), ("sort_dir", "sideways")], "things", "u", {"x"})
    zones = [{"name": "a"}, {"name": "b"}]
    body = listing(zones, [("limit", "1")], "zones", "u", {"name"})
    assert body == {"zones": [{"name": "a"}]}
