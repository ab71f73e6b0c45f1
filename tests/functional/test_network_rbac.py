"""RBAC policies (/v2.0/rbac-policies): sharing a network with one project or all,
granting external access, who sees which policy, validation, duplicates, quota, and
refusing to take access away from a project that still has something on the
network. Driven over raw HTTP, openstacksdk and the ``openstack network rbac`` CLI.

Ports, subnets and routers "of another project on the network" are written straight
into the cloud's database here, so these tests do not depend on those APIs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from openstack import exceptions as sdk_exc
from sqlalchemy import delete

from nubo.config import Config
from nubo.db.engine import Database
from nubo.network import models as m

NET = "/network/v2.0"
NETWORKS = f"{NET}/networks"
RBAC = f"{NET}/rbac-policies"
FIELDS = {"id", "project_id", "tenant_id", "object_type", "object_id", "action", "target_tenant"}


def neutron_error(r, status: int, kind: str | None = None) -> str:
    assert r.status_code == status, r.text
    error = r.json()["NeutronError"]
    if kind is not None:
        assert error["type"] == kind, error
    return str(error["message"])


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def db(cloud) -> Iterator[Database]:
    """The running cloud's database (to put other projects' ports on networks)."""
    cfg = Config(data_dir=str(cloud.data_dir))
    cfg.database.url = cloud.database_url
    database = Database(cfg.database_url)
    yield database
    database.dispose()


class Planted:
    """Rows written behind the API's back, removed on request or at teardown."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.rows: list[tuple[Any, str]] = []

    def _add(self, row: Any) -> str:
        with self.db.session() as s:
            s.add(row)
            s.flush()
            ident = str(row.id)
        self.rows.append((type(row), ident))
        return ident

    def port(self, network_id: str, project_id: str) -> str:
        mac = "fa:16:3e:" + ":".join(f"{b:02x}" for b in uuid.uuid4().bytes[:3])
        return self._add(m.Port(network_id=network_id, project_id=project_id, mac_address=mac))

    def subnet(self, network_id: str, project_id: str) -> str:
        return self._add(
            m.Subnet(network_id=network_id, project_id=project_id, cidr="10.77.0.0/24")
        )

    def router(self, gw_network_id: str, project_id: str) -> str:
        return self._add(m.Router(project_id=project_id, gw_network_id=gw_network_id))

    def remove(self, ident: str) -> None:
        for model, row_id in list(self.rows):
            if row_id == ident:
                with self.db.session() as s:
                    s.execute(delete(model).where(model.id == row_id))
                self.rows.remove((model, row_id))

    def clear(self) -> None:
        for _model, row_id in list(reversed(self.rows)):
            self.remove(row_id)


@pytest.fixture
def planted(db) -> Iterator[Planted]:
    p = Planted(db)
    yield p
    p.clear()


@pytest.fixture(scope="module")
def demo_project(http) -> str:
    return str(
        http.expect(http.get(f"{NET}/quotas/project", token=http.demo_token), 200)["project"][
            "project_id"
        ]
    )


@pytest.fixture(scope="module")
def admin_project(http) -> str:
    return str(http.expect(http.get(f"{NET}/quotas/project"), 200)["project"]["project_id"])


@pytest.fixture(scope="module")
def other(http) -> dict[str, str]:
    """A third project with a member: its id and a token."""
    project = http.make_project()
    user = http.make_user(project_id=project["id"], role="member")
    token = http.token(user["name"], user["password"], scope={"project": {"id": project["id"]}})
    return {"project_id": project["id"], "token": token}


@pytest.fixture
def networks(http, unique) -> Iterator[Any]:
    """``networks(token=..., **attrs)`` creates a network (admin by default) and
    deletes it afterwards (with its policies)."""
    made: list[str] = []

    def make(token: Any = None, **attrs: Any) -> dict[str, Any]:
        kwargs = {} if token is None else {"token": token}
        body = {"network": {"name": unique("rbac"), **attrs}}
        net = http.expect(http.post(NETWORKS, json=body, **kwargs), 201)["network"]
        made.append(net["id"])
        return dict(net)

    yield make
    for net_id in made:
        http.delete(f"{NETWORKS}/{net_id}")


def create(http, token: Any = None, **attrs: Any):
    kwargs = {} if token is None else {"token": token}
    return http.post(RBAC, json={"rbac_policy": attrs}, **kwargs)


def share(http, net_id: str, target: str, action: str = "access_as_shared", token: Any = None):
    r = create(
        http, token, object_type="network", object_id=net_id, action=action, target_tenant=target
    )
    return http.expect(r, 201)["rbac_policy"]


def sees(http, token: str, net_id: str) -> bool:
    r = http.get(f"{NETWORKS}/{net_id}", token=token)
    assert r.status_code in (200, 404), r.text
    return r.status_code == 200


# -- sharing ----------------------------------------------------------------------------------


def test_share_with_one_project(http, networks, demo_project, admin_project, other):
    net = networks()
    assert not sees(http, http.demo_token, net["id"])
    policy = share(http, net["id"], demo_project)
    assert set(policy) == FIELDS
    assert policy["object_type"] == "network" and policy["object_id"] == net["id"]
    assert policy["action"] == "access_as_shared" and policy["target_tenant"] == demo_project
    assert policy["project_id"] == policy["tenant_id"] == admin_project

    shown = http.expect(http.get(f"{NETWORKS}/{net['id']}", token=http.demo_token), 200)
    assert shown["network"]["shared"] is True
    assert not sees(http, other["token"], net["id"])
    # the owner does not see it as shared: it is shared with someone else
    assert http.expect(http.get(f"{NETWORKS}/{net['id']}"), 200)["network"]["shared"] is False

    # the owner sees its policy; the target does not (as in Neutron)
    listed = http.expect(http.get(f"{RBAC}?object_id={net['id']}"), 200)["rbac_policies"]
    assert listed == [policy]
    assert http.expect(http.get(f"{RBAC}/{policy['id']}"), 200)["rbac_policy"] == policy
    mine = http.expect(http.get(RBAC, token=http.demo_token), 200)["rbac_policies"]
    assert policy["id"] not in {p["id"] for p in mine}
    r = http.get(f"{RBAC}/{policy['id']}", token=http.demo_token)
    message = neutron_error(r, 404, "RbacPolicyNotFound")
    assert message == f"RBAC policy of type unknown with ID {policy['id']} not found"
    neutron_error(http.delete(f"{RBAC}/{policy['id']}", token=http.demo_token), 404)
    body = {"rbac_policy": {"target_tenant": demo_project}}
    neutron_error(http.put(f"{RBAC}/{policy['id']}", token=http.demo_token, json=body), 404)

    assert http.delete(f"{RBAC}/{policy['id']}").status_code == 204
    assert not sees(http, http.demo_token, net["id"])
    neutron_error(http.get(f"{RBAC}/{policy['id']}"), 404, "RbacPolicyNotFound")


def test_wildcard_share_makes_the_network_shared(http, networks, other):
    net = networks()
    policy = share(http, net["id"], "*")
    for token in (http.admin_token, http.demo_token, other["token"]):
        shown = http.expect(http.get(f"{NETWORKS}/{net['id']}", token=token), 200)
        assert shown["network"]["shared"] is True
    assert net["id"] in {
        n["id"]
        for n in http.expect(http.get(f"{NETWORKS}?shared=true", token=other["token"]), 200)[
            "networks"
        ]
    }
    assert http.delete(f"{RBAC}/{policy['id']}").status_code == 204
    assert http.expect(http.get(f"{NETWORKS}/{net['id']}"), 200)["network"]["shared"] is False
    assert not sees(http, other["token"], net["id"])


def test_shared_network_attribute_shows_as_a_wildcard_policy(http, networks):
    net = networks(shared=True)
    listed = http.expect(http.get(f"{RBAC}?object_id={net['id']}"), 200)["rbac_policies"]
    assert [(p["action"], p["target_tenant"]) for p in listed] == [("access_as_shared", "*")]
    neutron_error(
        create(http, object_type="network", object_id=net["id"], action="access_as_shared",
               target_tenant="*"),
        409,
        "DuplicateRbacPolicy",
    )  # fmt: skip


def test_duplicate_is_409(http, networks, demo_project):
    net = networks()
    share(http, net["id"], demo_project)
    r = create(http, object_type="network", object_id=net["id"], action="access_as_shared",
               target_tenant=demo_project)  # fmt: skip
    assert neutron_error(r, 409, "DuplicateRbacPolicy") == (
        "An RBAC policy already exists with those values."
    )


def test_creating_a_policy_bumps_the_network_revision(http, networks, demo_project):
    net = networks()
    share(http, net["id"], demo_project)
    after = http.expect(http.get(f"{NETWORKS}/{net['id']}"), 200)["network"]
    assert after["revision_number"] > net["revision_number"]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"object_type": "bogus"}, "'bogus' is not a valid RBAC object type"),
        ({"object_type": "security_group"}, "not supported"),
        ({"object_type": 5}, "not a valid RBAC object type"),
        ({"action": "access_as_owner"}, "Invalid input for action"),
        ({"target_tenant": None}, "Invalid input for target_tenant"),
        ({"target_tenant": "a" * 256}, "exceeds maximum length of 255"),
        ({"object_id": "not-a-uuid"}, "Invalid input for object_id"),
        ({"object_id": None}, "Invalid input for object_id"),
        ({"target_tenant": "DROP"}, None),  # sanity: the base body is valid
        ({"bogus": 1}, "Unrecognized attribute(s) 'bogus'"),
        ({"id": str(uuid.uuid4())}, "Unrecognized attribute(s) 'id'"),
    ],
)
def test_invalid_policies_are_400(http, networks, change, fragment):
    net = networks()
    body = {"object_type": "network", "object_id": net["id"], "action": "access_as_shared",
            "target_tenant": uuid.uuid4().hex, **change}  # fmt: skip
    r = create(http, **body)
    if fragment is None:
        assert r.status_code == 201, r.text
        return
    assert fragment in neutron_error(r, 400), r.text


@pytest.mark.parametrize("missing", ["object_type", "object_id", "action", "target_tenant"])
def test_required_attributes(http, networks, missing):
    net = networks()
    body = {"object_type": "network", "object_id": net["id"], "action": "access_as_shared",
            "target_tenant": uuid.uuid4().hex}  # fmt: skip
    del body[missing]
    assert missing in neutron_error(create(http, **body), 400)


def test_unknown_network_is_404(http):
    missing = str(uuid.uuid4())
    r = create(http, object_type="network", object_id=missing, action="access_as_shared",
               target_tenant="*")  # fmt: skip
    assert neutron_error(r, 404, "NetworkNotFound") == f"Network {missing} could not be found."


def test_only_the_attribute_target_tenant_may_change(http, networks, demo_project):
    net = networks()
    policy = share(http, net["id"], demo_project)
    for attr, value in [("action", "access_as_external"), ("object_id", net["id"]),
                        ("object_type", "network"), ("project_id", "x")]:  # fmt: skip
        r = http.put(f"{RBAC}/{policy['id']}", json={"rbac_policy": {attr: value}})
        assert neutron_error(r, 400) == f"Cannot update read-only attribute {attr}"


# -- members ------------------------------------------------------------------------------------


def test_member_shares_its_own_network(http, networks, demo_project, other):
    net = networks(token=http.demo_token)
    demo = http.demo_token
    policy = share(http, net["id"], other["project_id"], token=demo)
    assert policy["project_id"] == demo_project
    assert sees(http, other["token"], net["id"])
    shown = http.expect(http.get(f"{RBAC}/{policy['id']}", token=demo), 200)["rbac_policy"]
    assert shown == policy
    # the admin sees every project's policies
    assert http.expect(http.get(f"{RBAC}/{policy['id']}"), 200)["rbac_policy"] == policy

    # only an admin may share with everyone
    r = create(http, demo, object_type="network", object_id=net["id"],
               action="access_as_shared", target_tenant="*")  # fmt: skip
    assert "create_rbac_policy:target_tenant" in neutron_error(r, 403)
    r = http.put(f"{RBAC}/{policy['id']}", token=demo, json={"rbac_policy": {"target_tenant": "*"}})
    assert "update_rbac_policy:target_tenant" in neutron_error(r, 403)

    # nothing of the other project's is on it: the policy may move to another target
    moved = http.put(
        f"{RBAC}/{policy['id']}", token=demo, json={"rbac_policy": {"target_tenant": "elsewhere"}}
    )
    assert http.expect(moved, 200)["rbac_policy"]["target_tenant"] == "elsewhere"
    assert not sees(http, other["token"], net["id"])
    assert http.delete(f"{RBAC}/{policy['id']}", token=demo).status_code == 204


def test_member_cannot_share_what_it_does_not_own(http, networks, demo_project):
    private = networks()
    r = create(http, http.demo_token, object_type="network", object_id=private["id"],
               action="access_as_shared", target_tenant=demo_project)  # fmt: skip
    neutron_error(r, 404, "NetworkNotFound")
    # shared with demo: visible, but still not demo's to share (Neutron answers 400)
    shared = networks()
    share(http, shared["id"], demo_project)
    r = create(http, http.demo_token, object_type="network", object_id=shared["id"],
               action="access_as_shared", target_tenant=uuid.uuid4().hex)  # fmt: skip
    assert "Only admins can manipulate policies" in neutron_error(r, 400, "InvalidInput")


def test_target_update_keeps_everything_else(http, networks, demo_project, other):
    net = networks()
    policy = share(http, net["id"], demo_project)
    updated = http.put(
        f"{RBAC}/{policy['id']}", json={"rbac_policy": {"target_tenant": other["project_id"]}}
    )
    updated = http.expect(updated, 200)["rbac_policy"]
    assert updated["target_tenant"] == other["project_id"]
    assert {k: v for k, v in updated.items() if k != "target_tenant"} == {
        k: v for k, v in policy.items() if k != "target_tenant"
    }
    assert sees(http, other["token"], net["id"]) and not sees(http, http.demo_token, net["id"])
    # an update to what another policy already says is a duplicate
    second = share(http, net["id"], demo_project)
    r = http.put(
        f"{RBAC}/{second['id']}", json={"rbac_policy": {"target_tenant": other["project_id"]}}
    )
    neutron_error(r, 409, "DuplicateRbacPolicy")


def test_list_filters_and_fields(http, networks, demo_project, other):
    net = networks()
    a = share(http, net["id"], demo_project)
    b = share(http, net["id"], other["project_id"])
    both = http.expect(http.get(f"{RBAC}?object_id={net['id']}"), 200)["rbac_policies"]
    assert {p["id"] for p in both} == {a["id"], b["id"]}
    one = http.expect(http.get(f"{RBAC}?object_id={net['id']}&target_tenant={demo_project}"), 200)
    assert [p["id"] for p in one["rbac_policies"]] == [a["id"]]
    by_id = http.expect(http.get(f"{RBAC}?id={b['id']}"), 200)["rbac_policies"]
    assert [p["id"] for p in by_id] == [b["id"]]
    for fields in (["id"], ["id", "action"], ["object_type", "object_id"],
                   ["project_id", "target_tenant"]):  # fmt: skip
        query = "&".join(f"fields={f}" for f in fields)
        listed = http.expect(http.get(f"{RBAC}?object_id={net['id']}&{query}"), 200)
        assert all(set(p) == set(fields) for p in listed["rbac_policies"])
    none = http.expect(http.get(f"{RBAC}?object_id={net['id']}&action=access_as_external"), 200)
    assert none["rbac_policies"] == []
    paged = http.expect(http.get(f"{RBAC}?object_id={net['id']}&limit=1"), 200)
    assert len(paged["rbac_policies"]) == 1 and "rbac_policies_links" in paged


def test_quota(http, unique):
    project = http.make_project()
    user = http.make_user(project_id=project["id"], role="member")
    token = http.token(user["name"], user["password"], scope={"project": {"id": project["id"]}})
    quota_url = f"{NET}/quotas/{project['id']}"
    http.expect(http.put(quota_url, json={"quota": {"rbac_policy": 1}}), 200)
    try:
        net = http.post(NETWORKS, token=token, json={"network": {"name": unique("q")}})
        net_id = http.expect(net, 201)["network"]["id"]
        share(http, net_id, uuid.uuid4().hex, token=token)
        r = create(http, token, object_type="network", object_id=net_id,
                   action="access_as_shared", target_tenant=uuid.uuid4().hex)  # fmt: skip
        assert (
            neutron_error(r, 409, "OverQuota") == "Quota exceeded for resources: ['rbac_policy']."
        )
        http.delete(f"{NETWORKS}/{net_id}", token=token)
    finally:
        http.delete(quota_url)


# -- taking access away ---------------------------------------------------------------------------


def test_ports_of_the_target_keep_the_policy(http, networks, planted, demo_project, other):
    net = networks()
    specific = share(http, net["id"], demo_project)
    port = planted.port(net["id"], demo_project)
    r = http.delete(f"{RBAC}/{specific['id']}")
    message = neutron_error(r, 409, "RbacPolicyInUse")
    assert message.startswith(f"RBAC policy on object {net['id']} cannot be removed")
    body = {"rbac_policy": {"target_tenant": other["project_id"]}}
    neutron_error(http.put(f"{RBAC}/{specific['id']}", json=body), 409, "RbacPolicyInUse")

    # a wildcard covers the port: the specific policy may go
    wild = share(http, net["id"], "*")
    assert http.delete(f"{RBAC}/{specific['id']}").status_code == 204
    # now the wildcard is what the port depends on
    neutron_error(http.delete(f"{RBAC}/{wild['id']}"), 409, "RbacPolicyInUse")
    neutron_error(http.put(f"{RBAC}/{wild['id']}", json=body), 409, "RbacPolicyInUse")
    # moving the wildcard to the port's project keeps it covered
    moved = http.put(f"{RBAC}/{wild['id']}", json={"rbac_policy": {"target_tenant": demo_project}})
    http.expect(moved, 200)
    planted.remove(port)
    assert http.delete(f"{RBAC}/{wild['id']}").status_code == 204


def test_subnets_of_the_target_keep_the_policy(http, networks, planted, demo_project):
    net = networks()
    policy = share(http, net["id"], demo_project)
    subnet = planted.subnet(net["id"], demo_project)
    neutron_error(http.delete(f"{RBAC}/{policy['id']}"), 409, "RbacPolicyInUse")
    planted.remove(subnet)
    assert http.delete(f"{RBAC}/{policy['id']}").status_code == 204


def test_owner_resources_never_block(http, networks, planted, admin_project, demo_project):
    net = networks()
    policy = share(http, net["id"], demo_project)
    wild = share(http, net["id"], "*")
    planted.port(net["id"], admin_project)
    planted.port(net["id"], "")  # a router gateway or floating IP port: nobody's
    assert http.delete(f"{RBAC}/{policy['id']}").status_code == 204
    assert http.delete(f"{RBAC}/{wild['id']}").status_code == 204


def test_sharing_with_oneself_protects_nothing(http, networks, planted, demo_project):
    net = networks(token=http.demo_token)
    self_share = share(http, net["id"], demo_project, token=http.demo_token)
    planted.port(net["id"], demo_project)
    moved = http.put(
        f"{RBAC}/{self_share['id']}",
        token=http.demo_token,
        json={"rbac_policy": {"target_tenant": uuid.uuid4().hex}},
    )
    http.expect(moved, 200)
    assert http.delete(f"{RBAC}/{self_share['id']}", token=http.demo_token).status_code == 204


def test_unsharing_keeps_projects_with_their_own_grant(
    http, networks, planted, demo_project, other
):
    net = networks(shared=True)
    share(http, net["id"], demo_project)
    planted.port(net["id"], demo_project)
    planted.port(net["id"], "")  # a router gateway or floating IP port: nobody's
    url = f"{NETWORKS}/{net['id']}"
    unshared = http.expect(http.put(url, json={"network": {"shared": False}}), 200)
    assert unshared["network"]["shared"] is False
    assert sees(http, http.demo_token, net["id"])
    # with only the wildcard letting the other project in, its port blocks unsharing
    http.expect(http.put(url, json={"network": {"shared": True}}), 200)
    planted.port(net["id"], other["project_id"])
    r = http.put(url, json={"network": {"shared": False}})
    neutron_error(r, 409, "InvalidSharedSetting")
    planted.subnet(net["id"], other["project_id"])
    neutron_error(http.put(url, json={"network": {"shared": False}}), 409, "InvalidSharedSetting")


# -- external access -------------------------------------------------------------------------------


def test_access_as_external_makes_the_network_external_for_the_target(
    http, networks, demo_project, other
):
    net = networks()
    assert net["router:external"] is False
    policy = share(http, net["id"], demo_project, action="access_as_external")
    assert http.expect(http.get(f"{NETWORKS}/{net['id']}"), 200)["network"]["router:external"]
    external = http.get(f"{NETWORKS}?router:external=true", token=http.demo_token)
    assert net["id"] in {n["id"] for n in http.expect(external, 200)["networks"]}
    shown = http.expect(http.get(f"{NETWORKS}/{net['id']}", token=http.demo_token), 200)
    assert shown["network"]["shared"] is False
    assert not sees(http, other["token"], net["id"])
    # the last external grant gone, the network is internal again
    assert http.delete(f"{RBAC}/{policy['id']}").status_code == 204
    after = http.expect(http.get(f"{NETWORKS}/{net['id']}"), 200)["network"]
    assert after["router:external"] is False
    assert not sees(http, http.demo_token, net["id"])


def test_external_grants_in_use_by_routers(http, networks, planted, demo_project, admin_project):
    net = networks(**{"router:external": True})
    wild = http.expect(http.get(f"{RBAC}?object_id={net['id']}&action=access_as_external"), 200)[
        "rbac_policies"
    ]
    assert [(p["target_tenant"], p["project_id"]) for p in wild] == [("*", admin_project)]
    wild_id = wild[0]["id"]
    router = planted.router(net["id"], demo_project)
    neutron_error(http.delete(f"{RBAC}/{wild_id}"), 409, "RbacPolicyInUse")
    specific = share(http, net["id"], demo_project, action="access_as_external")
    assert http.delete(f"{RBAC}/{wild_id}").status_code == 204
    assert http.expect(http.get(f"{NETWORKS}/{net['id']}"), 200)["network"]["router:external"]
    neutron_error(http.delete(f"{RBAC}/{specific['id']}"), 409, "RbacPolicyInUse")
    planted.remove(router)
    assert http.delete(f"{RBAC}/{specific['id']}").status_code == 204
    assert not http.expect(http.get(f"{NETWORKS}/{net['id']}"), 200)["network"]["router:external"]


def test_wildcard_of_default_external_network_stays(http, networks):
    net = networks(**{"router:external": True, "is_default": True})
    wild = http.expect(http.get(f"{RBAC}?object_id={net['id']}&action=access_as_external"), 200)[
        "rbac_policies"
    ][0]
    message = neutron_error(http.delete(f"{RBAC}/{wild['id']}"), 409, "RbacPolicyInUse")
    assert "Default external networks must be shared to everyone." in message
    http.expect(http.put(f"{NETWORKS}/{net['id']}", json={"network": {"is_default": False}}), 200)


def test_internal_again_drops_every_external_grant(http, networks, demo_project):
    net = networks(**{"router:external": True})
    share(http, net["id"], demo_project, action="access_as_external")
    url = f"{NETWORKS}/{net['id']}"
    http.expect(http.put(url, json={"network": {"router:external": False}}), 200)
    left = http.expect(http.get(f"{RBAC}?object_id={net['id']}"), 200)["rbac_policies"]
    assert left == []
    assert not sees(http, http.demo_token, net["id"])


# -- clients -------------------------------------------------------------------------------------


def test_openstacksdk(admin_conn, demo_conn, networks, demo_project, other):
    net = networks()
    policy = admin_conn.network.create_rbac_policy(
        object_type="network",
        object_id=net["id"],
        action="access_as_shared",
        target_project_id=demo_project,
    )
    assert policy.target_project_id == demo_project
    assert demo_conn.network.get_network(net["id"]).is_shared is True
    assert policy.id in {p.id for p in admin_conn.network.rbac_policies(object_id=net["id"])}
    assert admin_conn.network.get_rbac_policy(policy.id).action == "access_as_shared"
    with pytest.raises(sdk_exc.NotFoundException):
        demo_conn.network.get_rbac_policy(policy.id)
    updated = admin_conn.network.update_rbac_policy(policy, target_project_id=other["project_id"])
    assert updated.target_project_id == other["project_id"]
    admin_conn.network.delete_rbac_policy(policy, ignore_missing=False)
    with pytest.raises(sdk_exc.NotFoundException):
        admin_conn.network.get_rbac_policy(policy.id)


def test_cli(run_cli, networks, other):
    net = networks()
    created = run_cli(
        "network", "rbac", "create", "--type", "network", "--action", "access_as_shared",
        "--target-project", "demo", net["id"],
    )  # fmt: skip
    assert created["object_id"] == net["id"]
    listed = run_cli("network", "rbac", "list", "--long")
    assert {"ID": created["id"], "Object Type": "network", "Object ID": net["id"],
            "Action": "access_as_shared"} in listed  # fmt: skip
    shown = run_cli("network", "rbac", "show", created["id"])
    assert shown["target_project_id"] == created["target_project_id"]
    run_cli("network", "rbac", "set", "--target-project", other["project_id"], created["id"])
    assert (
        run_cli("network", "rbac", "show", created["id"])["target_project_id"]
        == (other["project_id"])
    )
    run_cli("network", "rbac", "delete", created["id"])
    with pytest.raises(run_cli.Error):
        run_cli("network", "rbac", "show", created["id"])
