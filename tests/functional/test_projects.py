"""Projects: CRUD through the CLI and openstacksdk, hierarchy, tags and filters."""

from __future__ import annotations

import pytest


def test_project_crud_with_the_cli(run_cli, http, unique):
    name = unique("proj")
    created = run_cli(
        "project", "create", "--description", "first", "--property", "colour=blue", name
    )
    assert created["name"] == name
    assert created["description"] == "first"
    assert created["enabled"] is True
    assert created["domain_id"] == "default"
    assert created["parent_id"] == "default"
    assert created["is_domain"] is False
    assert created["colour"] == "blue"

    shown = run_cli("project", "show", name)
    assert shown["id"] == created["id"]

    renamed = unique("proj")
    run_cli("project", "set", "--name", renamed, "--description", "second", "--disable", name)
    shown = run_cli("project", "show", created["id"])
    assert (shown["name"], shown["description"], shown["enabled"]) == (renamed, "second", False)

    listed = run_cli("project", "list", "--long")
    row = next(p for p in listed if p["ID"] == created["id"])
    assert row["Name"] == renamed and row["Enabled"] is False

    run_cli("project", "delete", created["id"])
    assert http.get(f"projects/{created['id']}").status_code == 404
    with pytest.raises(run_cli.Error) as err:
        run_cli("project", "show", created["id"])
    assert f"No Project found for {created['id']}" in err.value.stderr


def test_project_crud_with_the_sdk(admin_conn, unique):
    identity = admin_conn.identity
    name = unique("proj")
    project = identity.create_project(name=name, domain_id="default", description="sdk")
    assert project.id and project.name == name and project.is_enabled
    assert identity.get_project(project.id).description == "sdk"
    assert identity.find_project(name, domain_id="default").id == project.id

    identity.update_project(project, description="changed", is_enabled=False)
    fetched = identity.get_project(project.id)
    assert fetched.description == "changed"
    assert fetched.is_enabled is False

    identity.delete_project(project)
    assert identity.find_project(project.id) is None


def test_duplicate_project_name_conflicts_within_a_domain(http, unique):
    name = unique("proj")
    http.make_project(name)
    r = http.post("projects", json={"project": {"name": name}})
    assert r.status_code == 409
    assert name in r.json()["error"]["message"]
    # the same name in another domain is fine
    domain = http.make_domain()
    assert http.make_project(name, domain_id=domain["id"])["domain_id"] == domain["id"]


def test_hierarchy(run_cli, http, unique):
    root = run_cli("project", "create", unique("root"))
    child = run_cli("project", "create", "--parent", root["id"], unique("child"))
    grandchild = http.make_project(parent_id=child["id"])
    assert child["parent_id"] == root["id"]
    assert grandchild["parent_id"] == child["id"]
    assert child["domain_id"] == grandchild["domain_id"] == "default"

    listed = http.expect(http.get(f"projects?parent_id={root['id']}"), 200)["projects"]
    assert [p["id"] for p in listed] == [child["id"]]

    body = http.expect(http.get(f"projects/{grandchild['id']}?parents_as_ids"), 200)
    assert body["project"]["parents"] == {child["id"]: {root["id"]: None}}
    body = http.expect(http.get(f"projects/{root['id']}?subtree_as_ids"), 200)
    assert body["project"]["subtree"] == {child["id"]: {grandchild["id"]: None}}
    body = http.expect(http.get(f"projects/{grandchild['id']}?parents_as_list"), 200)
    assert [p["project"]["id"] for p in body["project"]["parents"]] == [child["id"], root["id"]]
    body = http.expect(http.get(f"projects/{root['id']}?subtree_as_list"), 200)
    subtree = {p["project"]["id"] for p in body["project"]["subtree"]}
    assert subtree == {child["id"], grandchild["id"]}

    # a parent with enabled children cannot be disabled, nor a non-leaf deleted
    r = http.patch(f"projects/{root['id']}", json={"project": {"enabled": False}})
    assert r.status_code == 403
    assert http.delete(f"projects/{root['id']}").status_code == 403
    # the parent cannot be changed afterwards
    r = http.patch(f"projects/{child['id']}", json={"project": {"parent_id": "default"}})
    assert r.status_code == 403

    for p in (grandchild, child, root):
        http.expect(http.delete(f"projects/{p['id']}"), 204)


def test_parent_in_another_domain_is_refused(http):
    domain = http.make_domain()
    parent = http.make_project()
    r = http.post(
        "projects",
        json={"project": {"name": "x", "parent_id": parent["id"], "domain_id": domain["id"]}},
    )
    assert r.status_code == 400


def test_unknown_parent_is_404(http):
    r = http.post("projects", json={"project": {"name": "x", "parent_id": "f" * 32}})
    assert r.status_code == 404


def test_tags(run_cli, http, unique):
    tag_a, tag_b, tag_c = unique("a"), unique("b"), unique("c")
    both = run_cli("project", "create", "--tag", tag_a, "--tag", tag_b, unique("proj"))
    only_a = http.make_project(tags=[tag_a])
    none = http.make_project()
    assert sorted(both["tags"]) == sorted([tag_a, tag_b])

    def ids(query):
        return {p["id"] for p in http.expect(http.get(f"projects?{query}"), 200)["projects"]}

    assert ids(f"tags={tag_a}") == {both["id"], only_a["id"]}
    assert ids(f"tags={tag_a},{tag_b}") == {both["id"]}
    assert ids(f"tags-any={tag_b},{tag_c}") == {both["id"]}
    assert none["id"] in ids(f"not-tags={tag_a}")
    assert not ids(f"not-tags={tag_a}") & {both["id"], only_a["id"]}
    assert only_a["id"] in ids(f"not-tags={tag_a},{tag_b}")
    assert only_a["id"] not in ids(f"not-tags-any={tag_b},{tag_a}")

    listed = run_cli("project", "list", "--tags", f"{tag_a},{tag_b}")
    assert [p["ID"] for p in listed] == [both["id"]]

    # one tag at a time
    pid = none["id"]
    assert http.put(f"projects/{pid}/tags/{tag_c}").status_code == 201
    assert http.get(f"projects/{pid}/tags/{tag_c}").status_code == 204
    assert http.get(f"projects/{pid}/tags/{tag_a}").status_code == 404
    assert http.expect(http.get(f"projects/{pid}/tags"), 200) == {"tags": [tag_c]}
    assert http.delete(f"projects/{pid}/tags/{tag_c}").status_code == 204
    assert http.delete(f"projects/{pid}/tags/{tag_c}").status_code == 404

    # all at once
    r = http.put(f"projects/{pid}/tags", json={"tags": [tag_b, tag_a]})
    assert sorted(http.expect(r, 200)["tags"]) == sorted([tag_a, tag_b])
    assert sorted(http.get(f"projects/{pid}").json()["project"]["tags"]) == sorted([tag_a, tag_b])
    run_cli("project", "set", "--remove-tag", tag_a, pid)
    assert http.get(f"projects/{pid}").json()["project"]["tags"] == [tag_b]
    assert http.delete(f"projects/{pid}/tags").status_code == 204
    assert http.get(f"projects/{pid}/tags").json() == {"tags": []}


@pytest.mark.parametrize("tag", ["a,b", "x" * 256])
def test_bad_tags_are_refused(http, tag):
    r = http.post("projects", json={"project": {"name": "x", "tags": [tag]}})
    assert r.status_code == 400
    assert "tags" in r.json()["error"]["message"]


def test_enabled_filter(http, admin_conn, unique):
    marker = unique("en")
    on = http.make_project(f"{marker}-on")
    off = http.make_project(f"{marker}-off", enabled=False)

    def names(query):
        r = http.get(f"projects?name__startswith={marker}&{query}")
        return {p["name"] for p in http.expect(r, 200)["projects"]}

    assert names("enabled=false") == {off["name"]}
    assert names("enabled=true") == {on["name"]}
    assert names("enabled=0") == {off["name"]}
    assert names("") == {on["name"], off["name"]}
    disabled = {p.id for p in admin_conn.identity.projects(is_enabled=False)}
    assert off["id"] in disabled and on["id"] not in disabled


def test_disabled_project_cannot_be_scoped(http):
    project = http.make_project(enabled=False)
    user = http.make_user(project_id=project["id"])
    scope = {"project": {"id": project["id"]}}
    assert http.password_auth(user["name"], user["password"], scope=scope).status_code == 401
    http.patch(f"projects/{project['id']}", json={"project": {"enabled": True}})
    assert http.password_auth(user["name"], user["password"], scope=scope).status_code == 201


def test_list_by_name_and_domain(http, unique):
    domain = http.make_domain()
    name = unique("proj")
    project = http.make_project(name, domain_id=domain["id"])
    listed = http.expect(http.get(f"projects?domain_id={domain['id']}"), 200)["projects"]
    assert [p["id"] for p in listed] == [project["id"]]
    listed = http.expect(http.get(f"projects?name={name}"), 200)["projects"]
    assert [p["id"] for p in listed] == [project["id"]]


def test_pagination(http, unique):
    marker = unique("page")
    made = sorted(http.make_project(f"{marker}-{i}")["name"] for i in range(3))
    r = http.expect(http.get(f"projects?name__startswith={marker}&limit=2"), 200)
    assert [p["name"] for p in r["projects"]] == made[:2]
    assert r["links"]["next"]
    rest = http.expect(http.get(r["links"]["next"]), 200)
    assert [p["name"] for p in rest["projects"]] == made[2:]


def test_member_sees_own_project_only(http, demo_conn, run_cli):
    demo_project = http.get("auth/projects", token=http.demo_token).json()["projects"]
    assert [p["name"] for p in demo_project] == ["demo"]
    own = http.get(f"projects/{demo_project[0]['id']}", token=http.demo_token)
    assert own.status_code == 200
    other = http.make_project()
    assert http.get(f"projects/{other['id']}", token=http.demo_token).status_code in (403, 404)
    assert http.get("projects", token=http.demo_token).status_code == 403
    r = http.post("projects", token=http.demo_token, json={"project": {"name": "mine"}})
    assert r.status_code == 403
    # through openstacksdk the demo user lists its own projects
    assert [p.name for p in demo_conn.identity.user_projects(demo_conn.current_user_id)] == ["demo"]
    # and the CLI falls back to the user's own projects when listing all is forbidden
    assert [p["Name"] for p in run_cli("project", "list", cloud="nubo-demo")] == ["demo"]


def test_hierarchy_shows_a_member_only_projects_they_may_see(http):
    parent = http.make_project()
    hidden = http.make_project(parent_id=parent["id"])
    mine = http.make_project(parent_id=parent["id"])
    user = http.make_user(project_id=parent["id"])
    http.grant("member", user=user["id"], project=mine["id"])
    token = http.token(
        None, user["password"], user_id=user["id"], scope={"project": {"id": parent["id"]}}
    )
    shown = http.expect(http.get(f"projects/{parent['id']}?subtree_as_list", token=token), 200)
    assert [p["project"]["id"] for p in shown["project"]["subtree"]] == [mine["id"]]
    admin_view = http.expect(http.get(f"projects/{parent['id']}?subtree_as_list"), 200)
    assert {p["project"]["id"] for p in admin_view["project"]["subtree"]} == {
        hidden["id"],
        mine["id"],
    }
