"""Security groups and rules: the default group, CRUD with openstacksdk, the CLI and raw
HTTP, Neutron's error shapes, isolation between projects, quotas, and groups in use by
ports."""

from __future__ import annotations

import concurrent.futures
import uuid
from typing import Any

import pytest

SG = "/network/v2.0/security-groups"
RULES = "/network/v2.0/security-group-rules"
NETWORKS = "/network/v2.0/networks"
PORTS = "/network/v2.0/ports"


# -- helpers ----------------------------------------------------------------------------


def fresh_project(http) -> dict[str, Any]:
    """A new project with a member user: {"id", "token"}."""
    project = http.make_project()
    user = http.make_user(project_id=project["id"], role="member")
    token = http.token(user["name"], user["password"], scope={"project": {"id": project["id"]}})
    return {"id": project["id"], "token": token}


def make_group(http, token, name: str, **fields: Any) -> dict[str, Any]:
    body = {"security_group": {"name": name, **fields}}
    return http.expect(http.post(SG, token=token, json=body), 201)["security_group"]


def make_rule(http, token, group_id: str, **fields: Any) -> dict[str, Any]:
    fields.setdefault("direction", "ingress")
    body = {"security_group_rule": {"security_group_id": group_id, **fields}}
    return http.expect(http.post(RULES, token=token, json=body), 201)["security_group_rule"]


def rule_error(http, token, group_id: str, status: int, **fields: Any) -> dict[str, Any]:
    fields.setdefault("direction", "ingress")
    body = {"security_group_rule": {"security_group_id": group_id, **fields}}
    error: dict[str, Any] = http.expect(http.post(RULES, token=token, json=body), status)[
        "NeutronError"
    ]
    return error


def shape(rule: dict[str, Any]) -> tuple[Any, ...]:
    return (
        rule["direction"],
        rule["ethertype"],
        rule["protocol"],
        rule["remote_ip_prefix"],
        rule["remote_group_id"],
    )


def groups_named(http, token, name: str, **params: Any) -> list[dict[str, Any]]:
    params = {"name": name, **params}
    found: list[dict[str, Any]] = http.expect(http.get(SG, token=token, params=params), 200)[
        "security_groups"
    ]
    return found


# -- the default group ----------------------------------------------------------------------


def test_a_new_project_gets_its_default_group_with_four_rules(http):
    project = fresh_project(http)
    groups = http.expect(http.get(SG, token=project["token"]), 200)["security_groups"]
    assert [g["name"] for g in groups] == ["default"]
    default = groups[0]
    assert default["project_id"] == default["tenant_id"] == project["id"]
    assert default["description"] == "Default security group"
    assert default["stateful"] is True
    assert default["shared"] is False
    rules = default["security_group_rules"]
    assert sorted(shape(r) for r in rules) == sorted(
        [
            ("egress", "IPv4", None, None, None),
            ("egress", "IPv6", None, None, None),
            ("ingress", "IPv4", None, None, default["id"]),
            ("ingress", "IPv6", None, None, default["id"]),
        ]
    )
    assert all(r["belongs_to_default_sg"] is True for r in rules)
    assert all(r["project_id"] == project["id"] for r in rules)

    # listed again: the same group, not another one
    again = http.expect(http.get(SG, token=project["token"]), 200)["security_groups"]
    assert [g["id"] for g in again] == [default["id"]]
    # the rule list shows the same four rules
    listed = http.expect(http.get(RULES, token=project["token"]), 200)["security_group_rules"]
    assert {r["id"] for r in listed} == {r["id"] for r in rules}


def test_listing_rules_also_makes_the_default_group(http):
    project = fresh_project(http)
    rules = http.expect(http.get(RULES, token=project["token"]), 200)["security_group_rules"]
    assert len(rules) == 4
    assert len({r["security_group_id"] for r in rules}) == 1


def test_concurrent_first_lists_make_one_default_group(http):
    project = fresh_project(http)

    def list_groups(_: int) -> list[str]:
        r = http.get(SG, token=project["token"])
        assert r.status_code == 200, r.text
        return [g["id"] for g in r.json()["security_groups"] if g["name"] == "default"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        seen = list(pool.map(list_groups, range(16)))
    assert all(len(ids) == 1 for ids in seen)
    assert len({ids[0] for ids in seen}) == 1
    everything = http.expect(http.get(SG, params={"project_id": project["id"]}), 200)
    assert len([g for g in everything["security_groups"] if g["name"] == "default"]) == 1


def test_the_default_group_cannot_be_renamed_or_deleted_by_its_project(http):
    project = fresh_project(http)
    token = project["token"]
    default = groups_named(http, token, "default")[0]

    r = http.put(f"{SG}/{default['id']}", token=token, json={"security_group": {"name": "x"}})
    error = http.expect(r, 409)["NeutronError"]
    assert error["type"] == "SecurityGroupCannotUpdateDefault"
    assert error["message"] == "Updating default security group not allowed."

    # its description may change
    r = http.put(
        f"{SG}/{default['id']}", token=token, json={"security_group": {"description": "ours"}}
    )
    assert http.expect(r, 200)["security_group"]["description"] == "ours"

    error = http.expect(http.delete(f"{SG}/{default['id']}", token=token), 409)["NeutronError"]
    assert error["type"] == "SecurityGroupCannotRemoveDefault"
    assert groups_named(http, token, "default")[0]["id"] == default["id"]


def test_an_admin_cleans_up_a_projects_default_group(http):
    """What Tempest does for the projects it made: list the project's default group as
    admin (which makes it if missing) and delete it."""
    project = http.make_project()
    found = groups_named(http, http.admin_token, "default", project_id=project["id"])
    assert len(found) == 1 and found[0]["project_id"] == project["id"]
    http.expect(http.delete(f"{SG}/{found[0]['id']}"), 204)
    assert http.get(f"{SG}/{found[0]['id']}").status_code == 404
    # used again, the project gets a new one
    again = groups_named(http, http.admin_token, "default", project_id=project["id"])
    assert len(again) == 1 and again[0]["id"] != found[0]["id"]


def test_no_group_may_be_named_default(http, unique):
    token = http.demo_token
    for name in ("default", "Default"):
        r = http.post(SG, token=token, json={"security_group": {"name": name}})
        error = http.expect(r, 409)["NeutronError"]
        assert error["type"] == "SecurityGroupDefaultAlreadyExists"
        assert error["message"] == "Default security group already exists."
    group = make_group(http, token, unique("sg"))
    r = http.put(f"{SG}/{group['id']}", token=token, json={"security_group": {"name": "default"}})
    assert http.expect(r, 409)["NeutronError"]["type"] == "SecurityGroupDefaultAlreadyExists"
    http.expect(http.delete(f"{SG}/{group['id']}", token=token), 204)


# -- groups ---------------------------------------------------------------------------------


def test_group_crud_with_openstacksdk(demo_conn, unique):
    net = demo_conn.network
    name = unique("sg")
    group = net.create_security_group(name=name, description="web servers")
    try:
        assert group.name == name
        assert group.description == "web servers"
        assert group.stateful is True
        assert group.revision_number == 0
        # every new group allows all egress
        assert sorted((r["direction"], r["ethertype"]) for r in group.security_group_rules) == [
            ("egress", "IPv4"),
            ("egress", "IPv6"),
        ]
        assert all(r["belongs_to_default_sg"] is False for r in group.security_group_rules)
        assert group.id in {g.id for g in net.security_groups()}
        assert [g.id for g in net.security_groups(name=name)] == [group.id]

        updated = net.update_security_group(group, name=name + "-2", description="changed")
        assert (updated.name, updated.description) == (name + "-2", "changed")
        assert updated.revision_number == 1
        shown = net.get_security_group(group.id)
        assert (shown.name, shown.description) == (name + "-2", "changed")

        rule = net.create_security_group_rule(
            security_group_id=group.id,
            direction="ingress",
            protocol="tcp",
            port_range_min=80,
            port_range_max=443,
            remote_ip_prefix="192.0.2.0/24",
        )
        assert (rule.port_range_min, rule.port_range_max) == (80, 443)
        assert rule.id in {r.id for r in net.security_group_rules(security_group_id=group.id)}
        # a rule change is a change of its group
        assert net.get_security_group(group.id).revision_number == 2
        net.delete_security_group_rule(rule)
        assert rule.id not in {r.id for r in net.security_group_rules()}
    finally:
        net.delete_security_group(group, ignore_missing=True)
    assert net.find_security_group(group.id) is None


def test_group_crud_with_the_cli(run_cli, unique):
    name = unique("sg")
    created = run_cli("security", "group", "create", "--description", "db", name, cloud="nubo-demo")
    assert created["name"] == name
    assert created["description"] == "db"
    assert len(created["rules"]) == 2

    listed = run_cli("security", "group", "list", cloud="nubo-demo")
    assert {"default", name} <= {g["Name"] for g in listed}

    renamed = unique("sg")
    run_cli(
        "security",
        "group",
        "set",
        "--name",
        renamed,
        "--description",
        "database",
        name,
        cloud="nubo-demo",
    )
    shown = run_cli("security", "group", "show", renamed, cloud="nubo-demo")
    assert (shown["id"], shown["description"]) == (created["id"], "database")

    run_cli("security", "group", "delete", renamed, cloud="nubo-demo")
    with pytest.raises(run_cli.Error):
        run_cli("security", "group", "show", created["id"], cloud="nubo-demo")


def test_rule_crud_with_the_cli(run_cli, unique):
    group = run_cli("security", "group", "create", unique("sg"), cloud="nubo-demo")
    try:
        rule = run_cli(
            "security",
            "group",
            "rule",
            "create",
            "--protocol",
            "tcp",
            "--dst-port",
            "22:22",
            "--remote-ip",
            "10.1.2.3/16",
            "--description",
            "ssh",
            group["id"],
            cloud="nubo-demo",
            json_output=True,
        )
        assert rule["protocol"] == "tcp"
        assert (rule["port_range_min"], rule["port_range_max"]) == (22, 22)
        assert rule["remote_ip_prefix"] == "10.1.2.3/16"
        assert rule["normalized_cidr"] == "10.1.0.0/16"
        assert rule["description"] == "ssh"

        icmp = run_cli(
            "security",
            "group",
            "rule",
            "create",
            "--ethertype",
            "IPv6",
            "--protocol",
            "icmp",
            "--icmp-type",
            "128",
            "--icmp-code",
            "0",
            group["id"],
            cloud="nubo-demo",
            json_output=True,
        )
        assert icmp["protocol"] == "ipv6-icmp"  # Neutron's canonical name
        assert (icmp["port_range_min"], icmp["port_range_max"]) == (128, 0)

        listed = run_cli(
            "security", "group", "rule", "list", group["id"], cloud="nubo-demo", json_output=True
        )
        assert {rule["id"], icmp["id"]} <= {r["ID"] for r in listed}
        assert len(listed) == 4  # and the two egress rules

        shown = run_cli(
            "security", "group", "rule", "show", rule["id"], cloud="nubo-demo", json_output=True
        )
        assert shown["id"] == rule["id"]

        # the same rule again is refused, naming the rule that exists
        with pytest.raises(run_cli.Error) as info:
            run_cli(
                "security",
                "group",
                "rule",
                "create",
                "--protocol",
                "6",
                "--dst-port",
                "22",
                "--remote-ip",
                "10.1.0.0/16",
                group["id"],
                cloud="nubo-demo",
                json_output=True,
            )
        assert f"Rule id is {rule['id']}" in info.value.stderr

        run_cli("security", "group", "rule", "delete", rule["id"], cloud="nubo-demo")
        listed = run_cli(
            "security", "group", "rule", "list", group["id"], cloud="nubo-demo", json_output=True
        )
        assert rule["id"] not in {r["ID"] for r in listed}
    finally:
        run_cli("security", "group", "delete", group["id"], cloud="nubo-demo")


def test_stateless_groups(http, unique):
    token = http.demo_token
    group = make_group(http, token, unique("sg"), stateful=False)
    assert group["stateful"] is False
    r = http.put(f"{SG}/{group['id']}", token=token, json={"security_group": {"stateful": True}})
    assert http.expect(r, 200)["security_group"]["stateful"] is True
    http.expect(http.delete(f"{SG}/{group['id']}", token=token), 204)


def test_group_tags(http, unique):
    token = http.demo_token
    tag = unique("tag")
    group = make_group(http, token, unique("sg"), tags=[tag])
    assert group["tags"] == [tag]
    path = f"{SG}/{group['id']}/tags"
    http.expect(http.put(f"{path}/second", token=token), 201)
    assert sorted(http.expect(http.get(path, token=token), 200)["tags"]) == sorted([tag, "second"])
    tagged = http.expect(http.get(SG, token=token, params={"tags": tag}), 200)["security_groups"]
    assert [g["id"] for g in tagged] == [group["id"]]
    other = fresh_project(http)
    assert http.get(path, token=other["token"]).status_code == 404
    http.expect(http.delete(f"{SG}/{group['id']}", token=token), 204)


def test_list_fields_sorting_and_pages(http, unique):
    project = fresh_project(http)
    token = project["token"]
    names = [unique("sg") for _ in range(3)]
    for name in names:
        make_group(http, token, name)
    body = http.expect(
        http.get(SG, token=token, params={"fields": ["id", "name"], "sort_key": "name"}), 200
    )
    assert [g["name"] for g in body["security_groups"]] == sorted([*names, "default"])
    assert set(body["security_groups"][0]) == {"id", "name"}
    page = http.expect(http.get(SG, token=token, params={"limit": 2}), 200)
    assert len(page["security_groups"]) == 2
    assert page["security_groups_links"][0]["rel"] == "next"


def test_deleting_a_group_deletes_its_rules_and_rules_naming_it(http, unique):
    token = http.demo_token
    first = make_group(http, token, unique("sg"))
    second = make_group(http, token, unique("sg"))
    own = make_rule(http, token, first["id"], protocol="tcp")
    naming = make_rule(http, token, second["id"], remote_group_id=first["id"])
    assert naming["remote_group_id"] == first["id"]

    http.expect(http.delete(f"{SG}/{first['id']}", token=token), 204)
    assert http.get(f"{RULES}/{own['id']}", token=token).status_code == 404
    assert http.get(f"{RULES}/{naming['id']}", token=token).status_code == 404
    left = http.expect(http.get(f"{SG}/{second['id']}", token=token), 200)["security_group"]
    assert naming["id"] not in {r["id"] for r in left["security_group_rules"]}
    http.expect(http.delete(f"{SG}/{second['id']}", token=token), 204)


def test_group_errors(http, unique):
    token = http.demo_token
    missing = str(uuid.uuid4())
    for method in ("get", "delete"):
        error = http.expect(getattr(http, method)(f"{SG}/{missing}", token=token), 404)
        assert error["NeutronError"] == {
            "type": "SecurityGroupNotFound",
            "message": f"Security group {missing} does not exist",
            "detail": "",
        }
    r = http.put(f"{SG}/{missing}", token=token, json={"security_group": {"name": "x"}})
    assert http.expect(r, 404)["NeutronError"]["type"] == "SecurityGroupNotFound"

    bad_bodies = [
        {"security_group": {"name": True}},
        {"security_group": {"name": "x" * 256}},
        {"security_group": {"name": "x", "colour": "red"}},
        {"security_group": {"name": "x", "shared": True}},
        {"security_group": {"name": "x", "stateful": "perhaps"}},
        {"security_group": "x"},
        {"nothing": {}},
    ]
    for body in bad_bodies:
        error = http.expect(http.post(SG, token=token, json=body), 400)["NeutronError"]
        assert error["message"], body

    group = make_group(http, token, unique("sg"))
    r = http.put(
        f"{SG}/{group['id']}", token=token, json={"security_group": {"project_id": "other"}}
    )
    assert http.expect(r, 400)["NeutronError"]["message"]
    r = http.put(
        f"{SG}/{group['id']}",
        token=token,
        headers={"If-Match": "revision_number=7"},
        json={"security_group": {"description": "x"}},
    )
    assert http.expect(r, 412)["NeutronError"]["type"] == "RevisionNumberConstraintFailed"
    http.expect(http.delete(f"{SG}/{group['id']}", token=token), 204)


# -- rules ------------------------------------------------------------------------------------


def test_rule_views(http, unique):
    token = http.demo_token
    group = make_group(http, token, unique("sg"))
    rule = make_rule(
        http,
        token,
        group["id"],
        protocol=17,
        port_range_min=53,
        port_range_max=53,
        ethertype="ipv4",
        remote_ip_prefix="198.51.100.7",
        description="dns",
    )
    assert rule["protocol"] == "17"
    assert rule["ethertype"] == "IPv4"
    assert rule["remote_ip_prefix"] == "198.51.100.7/32"
    assert rule["normalized_cidr"] == "198.51.100.7/32"
    assert set(rule) >= {
        "id",
        "security_group_id",
        "direction",
        "ethertype",
        "protocol",
        "port_range_min",
        "port_range_max",
        "remote_ip_prefix",
        "normalized_cidr",
        "remote_group_id",
        "remote_address_group_id",
        "description",
        "project_id",
        "tenant_id",
        "created_at",
        "updated_at",
        "revision_number",
        "belongs_to_default_sg",
    }
    assert rule["remote_address_group_id"] is None
    assert rule["belongs_to_default_sg"] is False
    shown = http.expect(http.get(f"{RULES}/{rule['id']}", token=token), 200)
    assert shown["security_group_rule"] == rule
    only = http.expect(
        http.get(f"{RULES}/{rule['id']}", token=token, params={"fields": "protocol"}), 200
    )
    assert only["security_group_rule"] == {"protocol": "17"}

    # the whole port range is stored as no range; "any" is no protocol
    wide = make_rule(
        http, token, group["id"], protocol="tcp", port_range_min=1, port_range_max=65535
    )
    assert (wide["port_range_min"], wide["port_range_max"]) == (None, None)
    anything = make_rule(http, token, group["id"], protocol="any", ethertype="IPv6")
    assert anything["protocol"] is None

    listed = http.expect(
        http.get(RULES, token=token, params={"security_group_id": group["id"], "protocol": "17"}),
        200,
    )["security_group_rules"]
    assert [r["id"] for r in listed] == [rule["id"]]
    http.expect(http.delete(f"{SG}/{group['id']}", token=token), 204)


def test_bulk_rules(http, unique):
    token = http.demo_token
    group = make_group(http, token, unique("sg"))
    body = {
        "security_group_rules": [
            {
                "security_group_id": group["id"],
                "direction": "ingress",
                "protocol": "tcp",
                "port_range_min": port,
                "port_range_max": port,
            }
            for port in (22, 80, 443)
        ]
    }
    created = http.expect(http.post(RULES, token=token, json=body), 201)["security_group_rules"]
    assert [r["port_range_min"] for r in created] == [22, 80, 443]

    # a duplicate inside the request, or of an existing rule: none is created
    body["security_group_rules"][0]["port_range_min"] = 8080
    body["security_group_rules"][0]["port_range_max"] = 8080
    error = http.expect(http.post(RULES, token=token, json=body), 409)["NeutronError"]
    assert error["type"] == "SecurityGroupRuleExists"
    twice = {"security_group_rules": [body["security_group_rules"][0]] * 2}
    error = http.expect(http.post(RULES, token=token, json=twice), 409)["NeutronError"]
    assert error["type"] == "DuplicateSecurityGroupRuleInPost"
    rules = http.expect(
        http.get(RULES, token=token, params={"security_group_id": group["id"]}), 200
    )
    assert 8080 not in {r["port_range_min"] for r in rules["security_group_rules"]}

    other = make_group(http, token, unique("sg"))
    mixed = {
        "security_group_rules": [
            {"security_group_id": group["id"], "direction": "egress", "protocol": "udp"},
            {"security_group_id": other["id"], "direction": "egress", "protocol": "udp"},
        ]
    }
    error = http.expect(http.post(RULES, token=token, json=mixed), 400)["NeutronError"]
    assert error["type"] == "SecurityGroupNotSingleGroupRules"
    for g in (group, other):
        http.expect(http.delete(f"{SG}/{g['id']}", token=token), 204)


def test_rule_errors(http, unique):
    token = http.demo_token
    group = make_group(http, token, unique("sg"))
    gid = group["id"]

    error = rule_error(http, token, gid, 400, protocol="bad_protocol_name")
    assert error["type"] == "SecurityGroupRuleInvalidProtocol"
    assert error["detail"] == ""
    assert rule_error(http, token, gid, 400, ethertype="IPv5")["type"] == (
        "SecurityGroupRuleInvalidEtherType"
    )
    error = rule_error(http, token, gid, 400, direction="sideways")
    assert error["message"].startswith("Invalid input for direction")
    for prefix in ("192.168.1./24", "192.168.1.1/33", "bad_prefix", "256"):
        assert rule_error(http, token, gid, 400, remote_ip_prefix=prefix)["type"] == "InvalidCIDR"
    error = rule_error(http, token, gid, 400, ethertype="IPv6", remote_ip_prefix="10.0.0.0/8")
    assert error["message"] == "Conflicting value ethertype IPv6 for CIDR 10.0.0.0/8"
    error = rule_error(http, token, gid, 400, remote_ip_prefix="10.0.0.0/8", remote_group_id=gid)
    assert error["type"] == "SecurityGroupMultipleRemoteEntites"
    error = rule_error(http, token, gid, 400, protocol="tcp", port_range_min=80, port_range_max=79)
    assert "port_range_min must be <= port_range_max" in error["message"]
    error = rule_error(http, token, gid, 400, protocol="tcp", port_range_min=-16, port_range_max=80)
    assert error["message"] == "Invalid value for port -16"
    error = rule_error(http, token, gid, 400, protocol="icmp", port_range_min=1, port_range_max=256)
    assert "Invalid value for ICMP code" in error["message"]
    error = rule_error(http, token, gid, 400, protocol="icmp", port_range_max=6)
    assert "ICMP type (port-range-min) is missing" in error["message"]
    error = rule_error(http, token, gid, 400, protocol="gre", port_range_min=1, port_range_max=2)
    assert error["type"] == "SecurityGroupInvalidProtocolForPort"
    error = rule_error(http, token, gid, 400, ethertype="IPv4", protocol="ipv6-icmp")
    assert error["type"] == "SecurityGroupEthertypeConflictWithProtocol"
    error = rule_error(http, token, gid, 400, remote_address_group_id=str(uuid.uuid4()))
    assert "not supported" in error["message"]
    error = http.expect(
        http.post(RULES, token=token, json={"security_group_rule": {"direction": "ingress"}}), 400
    )["NeutronError"]
    assert "security_group_id" in error["message"]

    # groups that do not exist: the rule's own, and a remote one
    missing = str(uuid.uuid4())
    error = rule_error(http, token, missing, 404)
    assert error == {
        "type": "SecurityGroupNotFound",
        "message": f"Security group {missing} does not exist",
        "detail": "",
    }
    for remote in ("bad_group_id", missing):
        assert rule_error(http, token, gid, 404, remote_group_id=remote)["type"] == (
            "SecurityGroupNotFound"
        )
    for method in ("get", "delete"):
        error = http.expect(getattr(http, method)(f"{RULES}/{missing}", token=token), 404)
        assert error["NeutronError"]["type"] == "SecurityGroupRuleNotFound"
        assert error["NeutronError"]["message"] == f"Security group rule {missing} does not exist"

    # rules have no update
    rule = make_rule(http, token, gid, protocol="tcp")
    r = http.put(f"{RULES}/{rule['id']}", token=token, json={"security_group_rule": {}})
    assert r.status_code == 405
    http.expect(http.delete(f"{SG}/{gid}", token=token), 204)


# -- isolation ----------------------------------------------------------------------------------


def test_another_projects_groups_and_rules_are_404(http, unique):
    owner = fresh_project(http)
    other = fresh_project(http)
    group = make_group(http, owner["token"], unique("sg"))
    rule = make_rule(http, owner["token"], group["id"], protocol="tcp")
    mine = make_group(http, other["token"], unique("sg"))
    token = other["token"]

    assert http.get(f"{SG}/{group['id']}", token=token).status_code == 404
    r = http.put(f"{SG}/{group['id']}", token=token, json={"security_group": {"name": "x"}})
    assert r.status_code == 404
    assert http.delete(f"{SG}/{group['id']}", token=token).status_code == 404
    assert http.get(f"{RULES}/{rule['id']}", token=token).status_code == 404
    assert http.delete(f"{RULES}/{rule['id']}", token=token).status_code == 404
    # no rules in their group, nor rules of ours naming their group
    rule_error(http, token, group["id"], 404, protocol="udp")
    rule_error(http, token, mine["id"], 404, remote_group_id=group["id"])

    listed = http.expect(http.get(SG, token=token), 200)["security_groups"]
    assert {g["project_id"] for g in listed} == {other["id"]}
    rules = http.expect(http.get(RULES, token=token), 200)["security_group_rules"]
    assert rule["id"] not in {r["id"] for r in rules}
    assert {r["project_id"] for r in rules} == {other["id"]}
    # asking for the other project's groups by filter shows nothing, and makes nothing
    filtered = http.expect(http.get(SG, token=token, params={"project_id": owner["id"]}), 200)
    assert filtered["security_groups"] == []

    # an admin sees and manages everyone's
    admin_view = http.expect(http.get(f"{SG}/{group['id']}"), 200)["security_group"]
    assert admin_view["project_id"] == owner["id"]
    admin_rule = make_rule(http, http.admin_token, group["id"], protocol="udp")
    assert admin_rule["project_id"] == owner["id"]
    assert http.get(f"{RULES}/{admin_rule['id']}", token=owner["token"]).status_code == 200
    http.expect(http.delete(f"{SG}/{group['id']}"), 204)


# -- quotas ---------------------------------------------------------------------------------


def test_security_group_quota(http, unique):
    """Ten groups per project by default, the default group included."""
    project = fresh_project(http)
    token = project["token"]
    for _ in range(9):
        make_group(http, token, unique("sg"))
    r = http.post(SG, token=token, json={"security_group": {"name": unique("sg")}})
    error = http.expect(r, 409)["NeutronError"]
    assert error["type"] == "OverQuota"
    assert "security_group" in error["message"]
    assert len(http.expect(http.get(SG, token=token), 200)["security_groups"]) == 10


def test_security_group_rule_quota(http, unique):
    """A hundred rules per project by default; the rules every group is made with count."""
    project = fresh_project(http)
    token = project["token"]
    group = make_group(http, token, unique("sg"))  # 4 default rules + 2 egress rules

    def bulk(ports: range) -> dict[str, Any]:
        return {
            "security_group_rules": [
                {
                    "security_group_id": group["id"],
                    "direction": "ingress",
                    "protocol": "tcp",
                    "port_range_min": p,
                    "port_range_max": p,
                }
                for p in ports
            ]
        }

    error = http.expect(http.post(RULES, token=token, json=bulk(range(1000, 1095))), 409)
    assert error["NeutronError"]["type"] == "OverQuota"
    assert "security_group_rule" in error["NeutronError"]["message"]
    created = http.expect(http.post(RULES, token=token, json=bulk(range(1000, 1094))), 201)
    assert len(created["security_group_rules"]) == 94
    error = rule_error(http, token, group["id"], 409, protocol="udp")
    assert error["type"] == "OverQuota"


# -- groups in use by ports (needs the ports API) -------------------------------------------------


def make_port(http, token, unique, **fields: Any) -> dict[str, Any]:
    network = http.expect(
        http.post(NETWORKS, token=token, json={"network": {"name": unique("net")}}), 201
    )["network"]
    body = {"port": {"network_id": network["id"], **fields}}
    port: dict[str, Any] = http.expect(http.post(PORTS, token=token, json=body), 201)["port"]
    return port


def test_a_group_in_use_cannot_be_deleted_nor_change_statefulness(http, unique):
    token = http.demo_token
    group = make_group(http, token, unique("sg"))
    port = make_port(http, token, unique, security_groups=[group["id"]])
    assert port["security_groups"] == [group["id"]]

    error = http.expect(http.delete(f"{SG}/{group['id']}", token=token), 409)["NeutronError"]
    assert error["type"] == "SecurityGroupInUse"
    assert error["message"] == f"Security Group {group['id']} in use."
    r = http.put(f"{SG}/{group['id']}", token=token, json={"security_group": {"stateful": False}})
    assert http.expect(r, 409)["NeutronError"]["type"] == "SecurityGroupInUse"
    # other changes are fine
    r = http.put(f"{SG}/{group['id']}", token=token, json={"security_group": {"description": "x"}})
    http.expect(r, 200)

    http.expect(http.delete(f"{PORTS}/{port['id']}", token=token), 204)
    http.expect(http.delete(f"{SG}/{group['id']}", token=token), 204)
    http.expect(http.delete(f"{NETWORKS}/{port['network_id']}", token=token), 204)


def test_a_port_of_a_new_project_gets_its_default_group(http, unique):
    project = fresh_project(http)
    port = make_port(http, project["token"], unique)
    default = groups_named(http, project["token"], "default")
    assert len(default) == 1
    assert port["security_groups"] == [default[0]["id"]]
