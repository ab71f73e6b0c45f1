"""Network quotas (/v2.0/quotas, quota_details): reading one's own, the admin reading
and setting anyone's, validation, usage details, resets, enforcement on create, and
the clients (openstacksdk, ``openstack quota``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

NET = "/network/v2.0"
QUOTAS = f"{NET}/quotas"
RESOURCES = {
    "network", "subnet", "port", "router", "floatingip", "security_group",
    "security_group_rule", "subnetpool", "rbac_policy",
}  # fmt: skip
DEFAULTS = {"network": 100, "subnet": 100, "port": 500, "router": 10, "floatingip": 50,
            "security_group": 10, "security_group_rule": 100, "rbac_policy": 10}  # fmt: skip


def neutron_error(r, status: int, kind: str | None = None) -> str:
    assert r.status_code == status, r.text
    error = r.json()["NeutronError"]
    if kind is not None:
        assert error["type"] == kind, error
    return str(error["message"])


@pytest.fixture
def member(http) -> Iterator[dict[str, Any]]:
    """A fresh project with a member (its quotas are ours to change); reset after."""
    project = http.make_project()
    user = http.make_user(project_id=project["id"], role="member")
    token = http.token(user["name"], user["password"], scope={"project": {"id": project["id"]}})
    yield {"project_id": project["id"], "name": project["name"], "token": token}
    http.delete(f"{QUOTAS}/{project['id']}")


def test_own_quotas_are_the_defaults(http, member):
    quota = http.expect(http.get(f"{QUOTAS}/{member['project_id']}", token=member["token"]), 200)
    assert set(quota) == {"quota"}
    assert set(quota["quota"]) == RESOURCES
    assert {k: quota["quota"][k] for k in DEFAULTS} == DEFAULTS
    default = http.get(f"{QUOTAS}/{member['project_id']}/default", token=member["token"])
    assert http.expect(default, 200) == quota


def test_tenant_and_project_endpoints(http, member):
    tenant = http.expect(http.get(f"{QUOTAS}/tenant", token=member["token"]), 200)
    assert tenant == {"tenant": {"tenant_id": member["project_id"]}}
    project = http.expect(http.get(f"{QUOTAS}/project", token=member["token"]), 200)
    assert project == {"project": {"project_id": member["project_id"]}}


def test_admin_sets_shows_lists_and_resets(http, member):
    url = f"{QUOTAS}/{member['project_id']}"
    updated = http.expect(http.put(url, json={"quota": {"network": 3, "port": -1}}), 200)
    assert updated["quota"]["network"] == 3 and updated["quota"]["port"] == -1
    assert updated["quota"]["subnet"] == 100
    shown = http.expect(http.get(url, token=member["token"]), 200)["quota"]
    assert shown == updated["quota"]
    listed = http.expect(http.get(QUOTAS), 200)["quotas"]
    entry = next(q for q in listed if q["project_id"] == member["project_id"])
    assert entry["tenant_id"] == member["project_id"]
    assert entry["network"] == 3 and entry["port"] == -1 and entry["router"] == 10
    # the defaults stay the defaults
    assert http.expect(http.get(f"{url}/default"), 200)["quota"]["network"] == 100

    assert http.delete(url).status_code == 204
    assert http.expect(http.get(url), 200)["quota"]["network"] == 100
    listed = http.expect(http.get(QUOTAS), 200)["quotas"]
    assert member["project_id"] not in {q["project_id"] for q in listed}
    assert http.delete(url).status_code == 204  # resetting again is harmless


def test_members_cannot_set_or_read_others(http, member):
    own = f"{QUOTAS}/{member['project_id']}"
    token = member["token"]
    assert "update_quota" in neutron_error(
        http.put(own, token=token, json={"quota": {"network": 1000}}), 403
    )
    assert "delete_quota" in neutron_error(http.delete(own, token=token), 403)
    admin_project = http.expect(http.get(f"{QUOTAS}/project"), 200)["project"]["project_id"]
    for path in ("", "/default", "/details"):
        r = http.get(f"{QUOTAS}/{admin_project}{path}", token=token)
        assert "get_quota" in neutron_error(r, 403)
    assert "get_quota" in neutron_error(http.get(QUOTAS, token=token), 403)


@pytest.mark.parametrize(
    ("quota", "message"),
    [
        ({"bogus": 1}, "Unrecognized attribute(s) 'bogus'"),
        ({"network": -2}, "Invalid input for network. Reason: '-2' is too small"),
        ({"network": 2**40}, "is too large"),
        ({"network": "many"}, "'many' is not an integer"),
        ({"network": None}, "is not an integer"),
        ({"network": [1]}, "is not an integer"),
        ({"network": True}, "is not an integer"),
        ({"check_limit": "x"}, "Invalid input for check_limit"),
    ],
)
def test_invalid_limits_are_400(http, member, quota, message):
    r = http.put(f"{QUOTAS}/{member['project_id']}", json={"quota": quota})
    assert message in neutron_error(r, 400)


@pytest.mark.parametrize("body", [{}, {"quota": 5}, {"quota": None}, [1], {"quotas": {}}])
def test_malformed_bodies_are_400(http, member, body):
    neutron_error(http.put(f"{QUOTAS}/{member['project_id']}", json=body), 400)


def test_string_limits_are_converted(http, member):
    r = http.put(f"{QUOTAS}/{member['project_id']}", json={"quota": {"router": "7"}})
    assert http.expect(r, 200)["quota"]["router"] == 7


def test_enforced_on_create_and_details(http, member, unique):
    url = f"{QUOTAS}/{member['project_id']}"
    token = member["token"]
    http.expect(http.put(url, json={"quota": {"network": 1}}), 200)
    made = http.post(f"{NET}/networks", token=token, json={"network": {"name": unique("q")}})
    net_id = http.expect(made, 201)["network"]["id"]
    try:
        r = http.post(f"{NET}/networks", token=token, json={"network": {"name": unique("q")}})
        message = neutron_error(r, 409, "OverQuota")
        assert message == "Quota exceeded for resources: ['network']."
        details = http.expect(http.get(f"{url}/details", token=token), 200)["quota"]
        assert set(details) == RESOURCES
        assert details["network"] == {"limit": 1, "used": 1, "reserved": 0}
        assert details["router"] == {"limit": 10, "used": 0, "reserved": 0}
        # check_limit refuses a limit under what is used; force skips the check
        r = http.put(url, json={"quota": {"network": 0, "check_limit": True}})
        assert "must be greater than or equal to already used 1" in neutron_error(r, 400)
        r = http.put(url, json={"quota": {"network": 0, "check_limit": True, "force": True}})
        assert http.expect(r, 200)["quota"]["network"] == 0
        # unlimited
        http.expect(http.put(url, json={"quota": {"network": -1}}), 200)
        extra = http.post(f"{NET}/networks", token=token, json={"network": {"name": "x"}})
        http.delete(f"{NET}/networks/{http.expect(extra, 201)['network']['id']}", token=token)
    finally:
        http.delete(f"{NET}/networks/{net_id}", token=token)


def test_openstacksdk(admin_conn, member):
    project = member["project_id"]
    updated = admin_conn.network.update_quota(project, networks=9, ports=40)
    assert updated.networks == 9 and updated.ports == 40
    quota = admin_conn.network.get_quota(project)
    assert quota.networks == 9 and quota.routers == 10
    details = admin_conn.network.get_quota(project, details=True)
    assert details.networks == {"limit": 9, "used": 0, "reserved": 0}
    assert admin_conn.network.get_quota_default(project).networks == 100
    assert project in {q.project_id for q in admin_conn.network.quotas()}
    admin_conn.network.delete_quota(project)
    assert admin_conn.network.get_quota(project).networks == 100


def _rows(listing: Any) -> dict[str, Any]:
    """``openstack quota show -f json`` as {resource: limit}, whatever its layout."""
    if isinstance(listing, dict):
        return listing
    return {row["Resource"]: row["Limit"] for row in listing}


def test_cli(run_cli, member):
    name = member["name"]
    run_cli("quota", "set", "--networks", "6", "--ports", "60", "--rbac-policies", "4", name)
    shown = _rows(run_cli("quota", "show", "--network", name))
    assert shown["networks"] == 6 and shown["ports"] == 60 and shown["rbac_policies"] == 4
    # with no service named, OSC asks every service the catalog lists
    assert _rows(run_cli("quota", "show", name))["networks"] == 6
    usage = run_cli("quota", "show", "--usage", "--network", name)
    row = next(r for r in usage if r["Resource"] == "networks")
    assert row["Limit"] == 6 and row["In Use"] == 0
    listed = run_cli("quota", "list", "--network")
    assert any(r["Project ID"] == member["project_id"] and r["Networks"] == 6 for r in listed)
    with pytest.raises(run_cli.Error):
        run_cli("quota", "set", "--networks", "-5", name)
    run_cli("quota", "delete", "--network", name)
    assert _rows(run_cli("quota", "show", "--network", name))["networks"] == 100
