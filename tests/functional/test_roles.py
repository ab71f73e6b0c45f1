"""Roles, implied roles, grants (direct, via groups, inherited) and role assignments."""

from __future__ import annotations

import pytest


def _token_roles(http, user, scope):
    r = http.password_auth(user["name"], user["password"], scope=scope)
    assert r.status_code == 201, r.text
    return {x["name"] for x in r.json()["token"]["roles"]}


def test_default_roles_and_inferences(http):
    names = {r["name"] for r in http.expect(http.get("roles"), 200)["roles"]}
    assert {"admin", "manager", "member", "reader", "service"} <= names
    rules = http.expect(http.get("role_inferences"), 200)["role_inferences"]
    implied = {(r["prior_role"]["name"], i["name"]) for r in rules for i in r["implies"]}
    # Keystone 2024.2+: admin implies manager implies member implies reader
    assert {("admin", "manager"), ("manager", "member"), ("member", "reader")} <= implied
    assert ("admin", "member") not in implied


def test_role_crud_with_the_cli(run_cli, http, unique):
    name = unique("role")
    created = run_cli("role", "create", "--description", "does things", name)
    assert created["name"] == name
    assert created["domain_id"] is None
    assert created["description"] == "does things"
    assert run_cli("role", "show", name)["id"] == created["id"]

    renamed = unique("role")
    run_cli("role", "set", "--name", renamed, name)
    assert http.get(f"roles/{created['id']}").json()["role"]["name"] == renamed
    assert created["id"] in {r["ID"] for r in run_cli("role", "list")}

    run_cli("role", "delete", renamed)
    assert http.get(f"roles/{created['id']}").status_code == 404


def test_duplicate_role_name_conflicts(http, unique):
    name = unique("role")
    http.make_role(name)
    r = http.post("roles", json={"role": {"name": name}})
    assert r.status_code == 409
    assert r.json()["error"]["title"] == "Conflict"


def test_domain_specific_roles(http, unique):
    domain = http.make_domain()
    name = unique("drole")
    role = http.make_role(name, domain_id=domain["id"])
    assert role["domain_id"] == domain["id"]
    # the same name is free globally and in other domains
    assert http.make_role(name)["domain_id"] is None
    global_names = [r["name"] for r in http.get(f"roles?name={name}").json()["roles"]]
    assert global_names == [name]
    in_domain = http.expect(http.get(f"roles?domain_id={domain['id']}"), 200)["roles"]
    assert [r["id"] for r in in_domain] == [role["id"]]
    # it may only be granted inside its domain
    elsewhere = http.make_project()
    user = http.make_user()
    r = http.put(f"projects/{elsewhere['id']}/users/{user['id']}/roles/{role['id']}")
    assert r.status_code == 403


def test_implied_roles_with_the_cli(run_cli, http):
    prior, implied = http.make_role(), http.make_role()
    created = run_cli("implied", "role", "create", "--implied-role", implied["name"], prior["name"])
    assert created == {"prior_role": prior["id"], "implies": implied["id"]}
    rows = run_cli("implied", "role", "list")
    assert {
        "Prior Role ID": prior["id"],
        "Prior Role Name": prior["name"],
        "Implied Role ID": implied["id"],
        "Implied Role Name": implied["name"],
    } in rows

    project = http.make_project()
    user = http.make_user(project_id=project["id"], role=prior["name"])
    scope = {"project": {"id": project["id"]}}
    assert _token_roles(http, user, scope) == {prior["name"], implied["name"]}

    run_cli("implied", "role", "delete", "--implied-role", implied["id"], prior["id"])
    path = f"roles/{prior['id']}/implies/{implied['id']}"
    assert http.get(path).status_code == 404
    assert _token_roles(http, user, scope) == {prior["name"]}


def test_implied_roles_raw(http):
    a, b, c = http.make_role(), http.make_role(), http.make_role()
    r = http.put(f"roles/{a['id']}/implies/{b['id']}")
    assert r.status_code == 201
    inference = r.json()["role_inference"]
    assert inference["prior_role"]["id"] == a["id"]
    assert inference["implies"]["id"] == b["id"]
    http.expect(http.put(f"roles/{b['id']}/implies/{c['id']}"), 201)
    assert http.head(f"roles/{a['id']}/implies/{b['id']}").status_code == 204
    listed = http.expect(http.get(f"roles/{a['id']}/implies"), 200)["role_inference"]
    assert [i["id"] for i in listed["implies"]] == [b["id"]]
    # chains are followed
    project = http.make_project()
    user = http.make_user(project_id=project["id"], role=a["name"])
    assert _token_roles(http, user, {"project": {"id": project["id"]}}) == {
        a["name"],
        b["name"],
        c["name"],
    }
    # a cycle is refused, and nothing may imply admin
    cycle = http.put(f"roles/{c['id']}/implies/{a['id']}")
    assert cycle.status_code == 400
    assert "cycle" in cycle.json()["error"]["message"]
    assert http.put(f"roles/{a['id']}/implies/{http.role_id('admin')}").status_code == 403
    assert http.put(f"roles/{a['id']}/implies/{'0' * 32}").status_code == 404


def test_role_add_remove_and_assignment_list_with_the_cli(run_cli, http):
    project = http.make_project()
    user = http.make_user()
    role = http.make_role()
    run_cli("role", "add", "--user", user["name"], "--project", project["name"], role["name"])
    run_cli("role", "add", "--user", user["id"], "--project", project["id"], "member")

    rows = run_cli("role", "assignment", "list", "--user", user["id"], "--names")
    assert sorted((r["Role"], r["User"], r["Project"], r["Inherited"]) for r in rows) == sorted(
        [
            (role["name"], f"{user['name']}@Default", f"{project['name']}@Default", False),
            ("member", f"{user['name']}@Default", f"{project['name']}@Default", False),
        ]
    )

    # effective: member brings reader along
    rows = run_cli("role", "assignment", "list", "--user", user["id"], "--effective", "--names")
    assert {r["Role"] for r in rows} == {role["name"], "member", "reader"}
    assert {r["Project"] for r in rows} == {f"{project['name']}@Default"}

    run_cli("role", "remove", "--user", user["id"], "--project", project["id"], role["name"])
    rows = http.expect(http.get(f"role_assignments?user.id={user['id']}"), 200)
    assert [a["role"]["id"] for a in rows["role_assignments"]] == [http.role_id("member")]


def test_grants_raw(http):
    project = http.make_project()
    user = http.make_user()
    role = http.make_role()
    path = f"projects/{project['id']}/users/{user['id']}/roles/{role['id']}"
    assert http.head(path).status_code == 404
    assert http.put(path).status_code == 204
    assert http.head(path).status_code == 204
    listed = http.expect(http.get(f"projects/{project['id']}/users/{user['id']}/roles"), 200)
    assert [r["id"] for r in listed["roles"]] == [role["id"]]
    assert http.delete(path).status_code == 204
    assert http.delete(path).status_code == 404
    assert (
        http.put(f"projects/{project['id']}/users/{'0' * 32}/roles/{role['id']}").status_code == 404
    )
    assert http.put(f"projects/{'0' * 32}/users/{user['id']}/roles/{role['id']}").status_code == 404
    assert (
        http.put(f"projects/{project['id']}/users/{user['id']}/roles/{'0' * 32}").status_code == 404
    )


def test_effective_assignments_through_a_group(http):
    project = http.make_project()
    group = http.make_group()
    user = http.make_user()
    http.expect(http.put(f"groups/{group['id']}/users/{user['id']}"), 204)
    http.grant("member", group=group["id"], project=project["id"])

    r = http.expect(http.get(f"role_assignments?user.id={user['id']}&effective"), 200)
    found = {(a["role"]["id"], a["scope"]["project"]["id"]) for a in r["role_assignments"]}
    assert found == {
        (http.role_id("member"), project["id"]),
        (http.role_id("reader"), project["id"]),
    }
    membership = [a["links"].get("membership") for a in r["role_assignments"]]
    assert all(m and m.endswith(f"/groups/{group['id']}/users/{user['id']}") for m in membership)
    # without effective, the user has no assignment of their own
    r = http.expect(http.get(f"role_assignments?user.id={user['id']}"), 200)
    assert r["role_assignments"] == []


def test_inherited_domain_grant_with_the_cli(run_cli, http):
    domain = http.make_domain()
    project = http.make_project(domain_id=domain["id"])
    user = http.make_user()
    role = http.make_role()
    run_cli(
        "role", "add", "--user", user["id"], "--domain", domain["id"], "--inherited", role["id"]
    )
    # the grant applies to the projects of the domain, not to the domain itself
    assert _token_roles(http, user, {"project": {"id": project["id"]}}) == {role["name"]}
    scope = {"domain": {"id": domain["id"]}}
    assert http.password_auth(user["name"], user["password"], scope=scope).status_code == 401

    rows = run_cli("role", "assignment", "list", "--user", user["id"], "--names")
    assert [(r["Role"], r["Domain"], r["Inherited"]) for r in rows] == [
        (role["name"], domain["name"], True)
    ]
    rows = run_cli("role", "assignment", "list", "--user", user["id"], "--effective", "--names")
    assert [(r["Role"], r["Project"]) for r in rows] == [
        (role["name"], f"{project['name']}@{domain['name']}")
    ]

    run_cli(
        "role",
        "remove",
        "--user",
        user["id"],
        "--domain",
        domain["id"],
        "--inherited",
        role["id"],
    )
    scope = {"project": {"id": project["id"]}}
    assert http.password_auth(user["name"], user["password"], scope=scope).status_code == 401


def test_inherited_project_grant_reaches_the_subtree(http):
    parent = http.make_project()
    child = http.make_project(parent_id=parent["id"])
    grandchild = http.make_project(parent_id=child["id"])
    user = http.make_user()
    http.grant("member", user=user["id"], project=parent["id"], inherited=True)
    for p in (child, grandchild):
        assert _token_roles(http, user, {"project": {"id": p["id"]}}) == {"member", "reader"}
    # not the project the grant is on
    scope = {"project": {"id": parent["id"]}}
    assert http.password_auth(user["name"], user["password"], scope=scope).status_code == 401
    path = http.grant_path("member", user=user["id"], project=parent["id"], inherited=True)
    assert http.head(path).status_code == 204
    r = http.expect(
        http.get(
            f"role_assignments?scope.project.id={parent['id']}&include_subtree=true&effective"
        ),
        200,
    )
    reached = {
        a["scope"]["project"]["id"] for a in r["role_assignments"] if a["user"]["id"] == user["id"]
    }
    assert reached == {child["id"], grandchild["id"]}


def test_system_grants(http):
    user = http.make_user()
    http.grant("reader", user=user["id"], system=True)
    listed = http.expect(http.get(f"system/users/{user['id']}/roles"), 200)["roles"]
    assert [r["name"] for r in listed] == ["reader"]
    r = http.expect(http.get(f"role_assignments?user.id={user['id']}&scope.system=all"), 200)
    assert [a["scope"] for a in r["role_assignments"]] == [{"system": {"all": True}}]
    http.revoke("reader", user=user["id"], system=True)
    assert http.get(f"system/users/{user['id']}/roles").json()["roles"] == []


def test_deleting_a_role_removes_its_assignments_and_tokens(http):
    project = http.make_project()
    role = http.make_role()
    user = http.make_user(project_id=project["id"], role=role["name"])
    token = http.token(user["name"], user["password"], scope={"project": {"id": project["id"]}})
    http.expect(http.delete(f"roles/{role['id']}"), 204)
    assert not http.is_valid(token)
    r = http.expect(http.get(f"role_assignments?user.id={user['id']}"), 200)
    assert r["role_assignments"] == []


def test_assignment_filters_are_checked(http):
    r = http.get("role_assignments?scope.project.id=a&scope.domain.id=b")
    assert r.status_code == 400
    r = http.get("role_assignments?include_subtree=true")
    assert r.status_code == 400


@pytest.mark.parametrize(
    "path",
    ["roles", "role_assignments", "role_inferences"],
)
def test_members_cannot_read_roles_cloud_wide(http, path):
    assert http.get(path, token=http.demo_token).status_code == 403


def test_members_cannot_grant(http):
    project_id = http.validate(http.demo_token).json()["token"]["project"]["id"]
    user = http.make_user()
    path = http.grant_path("admin", user=user["id"], project=project_id)
    assert http.put(path, token=http.demo_token).status_code == 403
    assert http.head(path).status_code == 404


def test_immutable_roles(http):
    role = http.make_role(options={"immutable": True})
    path = f"roles/{role['id']}"
    assert http.patch(path, json={"role": {"name": role["name"] + "-x"}}).status_code == 403
    assert http.delete(path).status_code == 403
    assert http.get(path).json()["role"]["name"] == role["name"]
    unlocked = http.patch(path, json={"role": {"options": {"immutable": False}}})
    assert http.expect(unlocked, 200)["role"]["options"] == {"immutable": False}
    assert http.delete(path).status_code == 204
