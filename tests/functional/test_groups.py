"""Groups: CRUD, membership, and the roles members get through them."""

from __future__ import annotations


def test_group_crud_with_the_cli(run_cli, http, unique):
    name = unique("grp")
    created = run_cli("group", "create", "--description", "the team", name)
    assert created["name"] == name
    assert created["description"] == "the team"
    assert created["domain_id"] == "default"

    assert run_cli("group", "show", name)["id"] == created["id"]
    renamed = unique("grp")
    run_cli("group", "set", "--name", renamed, "--description", "renamed", name)
    body = http.expect(http.get(f"groups/{created['id']}"), 200)["group"]
    assert (body["name"], body["description"]) == (renamed, "renamed")
    assert created["id"] in {g["ID"] for g in run_cli("group", "list")}

    run_cli("group", "delete", renamed)
    assert http.get(f"groups/{created['id']}").status_code == 404


def test_membership_with_the_cli(run_cli, http):
    group = http.make_group()
    alice, bob = http.make_user(), http.make_user()
    run_cli("group", "add", "user", group["name"], alice["name"], bob["name"])
    out = run_cli("group", "contains", "user", group["id"], alice["id"])
    assert "in group" in out and "not in group" not in out

    members = run_cli("user", "list", "--group", group["id"])
    assert {u["ID"] for u in members} == {alice["id"], bob["id"]}

    run_cli("group", "remove", "user", group["id"], bob["id"])
    assert http.head(f"groups/{group['id']}/users/{bob['id']}").status_code == 404
    members = http.expect(http.get(f"groups/{group['id']}/users"), 200)["users"]
    assert [u["id"] for u in members] == [alice["id"]]


def test_membership_raw(http):
    group = http.make_group()
    user = http.make_user()
    path = f"groups/{group['id']}/users/{user['id']}"
    assert http.head(path).status_code == 404
    assert http.put(path).status_code == 204
    assert http.put(path).status_code == 204  # adding twice is harmless
    assert http.head(path).status_code == 204
    assert http.get(path).status_code == 204

    groups = http.expect(http.get(f"users/{user['id']}/groups"), 200)["groups"]
    assert [g["id"] for g in groups] == [group["id"]]

    assert http.delete(path).status_code == 204
    assert http.delete(path).status_code == 404
    assert http.head(path).status_code == 404
    assert http.expect(http.get(f"users/{user['id']}/groups"), 200)["groups"] == []


def test_membership_of_unknown_user_or_group_is_404(http):
    group = http.make_group()
    user = http.make_user()
    assert http.put(f"groups/{group['id']}/users/{'0' * 32}").status_code == 404
    assert http.put(f"groups/{'0' * 32}/users/{user['id']}").status_code == 404
    assert http.get(f"groups/{'0' * 32}/users").status_code == 404


def test_members_get_the_groups_roles(http):
    project = http.make_project()
    group = http.make_group()
    user = http.make_user()
    scope = {"project": {"id": project["id"]}}
    http.grant("member", group=group["id"], project=project["id"])
    assert http.password_auth(user["name"], user["password"], scope=scope).status_code == 401

    http.expect(http.put(f"groups/{group['id']}/users/{user['id']}"), 204)
    r = http.password_auth(user["name"], user["password"], scope=scope)
    assert r.status_code == 201
    assert {x["name"] for x in r.json()["token"]["roles"]} == {"member", "reader"}
    projects = http.expect(http.get(f"users/{user['id']}/projects"), 200)["projects"]
    assert [p["id"] for p in projects] == [project["id"]]


def test_deleting_a_group_removes_membership_and_roles(http):
    project = http.make_project()
    group = http.make_group()
    user = http.make_user()
    http.grant("member", group=group["id"], project=project["id"])
    http.expect(http.put(f"groups/{group['id']}/users/{user['id']}"), 204)
    scope = {"project": {"id": project["id"]}}
    token = http.token(user["name"], user["password"], scope=scope)

    http.expect(http.delete(f"groups/{group['id']}"), 204)
    assert http.expect(http.get(f"users/{user['id']}/groups"), 200)["groups"] == []
    assert not http.is_valid(token)
    assert http.password_auth(user["name"], user["password"], scope=scope).status_code == 401
    assignments = http.expect(http.get(f"role_assignments?group.id={group['id']}"), 200)
    assert assignments["role_assignments"] == []


def test_duplicate_group_name_conflicts(http, unique):
    name = unique("grp")
    http.make_group(name)
    r = http.post("groups", json={"group": {"name": name}})
    assert r.status_code == 409
    domain = http.make_domain()
    assert http.make_group(name, domain_id=domain["id"])["domain_id"] == domain["id"]


def test_group_filters(http, unique):
    domain = http.make_domain()
    name = unique("grp")
    group = http.make_group(name, domain_id=domain["id"])
    listed = http.expect(http.get(f"groups?domain_id={domain['id']}"), 200)["groups"]
    assert [g["id"] for g in listed] == [group["id"]]
    listed = http.expect(http.get(f"groups?name={name}"), 200)["groups"]
    assert [g["id"] for g in listed] == [group["id"]]


def test_members_cannot_manage_groups(http):
    group = http.make_group()
    demo = http.validate(http.demo_token).json()["token"]["user"]["id"]
    token = http.demo_token
    assert http.get("groups", token=token).status_code == 403
    assert http.post("groups", token=token, json={"group": {"name": "x"}}).status_code == 403
    assert http.put(f"groups/{group['id']}/users/{demo}", token=token).status_code == 403
    # but a user may list their own groups
    assert http.get(f"users/{demo}/groups", token=token).status_code == 200
