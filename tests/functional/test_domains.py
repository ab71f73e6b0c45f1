"""Domains: CRUD, what disabling and deleting one does, and domain-scoped access."""

from __future__ import annotations


def test_domain_crud_with_the_cli(run_cli, http, unique):
    name = unique("dom")
    created = run_cli("domain", "create", "--description", "a domain", name)
    assert created["name"] == name
    assert created["description"] == "a domain"
    assert created["enabled"] is True
    assert run_cli("domain", "show", name)["id"] == created["id"]
    assert created["id"] in {d["ID"] for d in run_cli("domain", "list")}

    renamed = unique("dom")
    run_cli("domain", "set", "--name", renamed, "--disable", name)
    body = http.expect(http.get(f"domains/{created['id']}"), 200)["domain"]
    assert (body["name"], body["enabled"]) == (renamed, False)

    run_cli("domain", "delete", created["id"])
    assert http.get(f"domains/{created['id']}").status_code == 404


def test_domain_crud_with_the_sdk(admin_conn, unique):
    identity = admin_conn.identity
    domain = identity.create_domain(name=unique("dom"), description="sdk")
    assert identity.get_domain(domain.id).description == "sdk"
    identity.update_domain(domain, is_enabled=False)
    assert identity.get_domain(domain.id).is_enabled is False
    identity.delete_domain(domain)
    assert identity.find_domain(domain.id) is None


def test_enabled_domain_cannot_be_deleted(http):
    domain = http.make_domain()
    r = http.delete(f"domains/{domain['id']}")
    assert r.status_code == 403
    assert "disable" in r.json()["error"]["message"]
    assert http.get(f"domains/{domain['id']}").status_code == 200


def test_default_domain_is_protected(http):
    r = http.patch("domains/default", json={"domain": {"enabled": False}})
    assert r.status_code == 403
    assert http.delete("domains/default").status_code == 403
    body = http.expect(http.get("domains/default"), 200)["domain"]
    assert body["name"] == "Default" and body["enabled"] is True


def test_duplicate_domain_name_conflicts(http, unique):
    name = unique("dom")
    http.make_domain(name)
    r = http.post("domains", json={"domain": {"name": name}})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == 409


def test_list_filters(http, unique):
    name = unique("dom")
    on = http.make_domain(name)
    off = http.make_domain(enabled=False)
    listed = http.expect(http.get(f"domains?name={name}"), 200)["domains"]
    assert [d["id"] for d in listed] == [on["id"]]
    disabled = {d["id"] for d in http.expect(http.get("domains?enabled=false"), 200)["domains"]}
    assert off["id"] in disabled and on["id"] not in disabled


def test_disabling_a_domain_locks_out_its_users(http):
    domain = http.make_domain()
    project = http.make_project(domain_id=domain["id"])
    user = http.make_user(domain_id=domain["id"], project_id=project["id"])
    scope = {"project": {"id": project["id"]}}
    login = {"domain_id": domain["id"], "scope": scope}
    token = http.token(user["name"], user["password"], **login)

    http.expect(http.patch(f"domains/{domain['id']}", json={"domain": {"enabled": False}}), 200)
    assert not http.is_valid(token)
    assert http.password_auth(user["name"], user["password"], **login).status_code == 401

    http.expect(http.patch(f"domains/{domain['id']}", json={"domain": {"enabled": True}}), 200)
    assert http.password_auth(user["name"], user["password"], **login).status_code == 201


def test_deleting_a_domain_deletes_what_it_holds(http):
    domain = http.make_domain()
    project = http.make_project(domain_id=domain["id"])
    user = http.make_user(domain_id=domain["id"], project_id=project["id"])
    group = http.make_group(domain_id=domain["id"])
    http.expect(http.patch(f"domains/{domain['id']}", json={"domain": {"enabled": False}}), 200)
    http.expect(http.delete(f"domains/{domain['id']}"), 204)
    for path in (
        f"domains/{domain['id']}",
        f"projects/{project['id']}",
        f"users/{user['id']}",
        f"groups/{group['id']}",
    ):
        assert http.get(path).status_code == 404, path


def test_users_and_projects_of_a_domain(run_cli, http):
    domain = http.make_domain()
    project = run_cli("project", "create", "--domain", domain["name"], "p1")
    assert project["domain_id"] == domain["id"]
    # same name in two domains, told apart by the domain
    user = http.make_user("same-name", domain_id=domain["id"], password="pw-a")
    scope = {"project": {"name": "p1", "domain": {"id": domain["id"]}}}
    http.grant("member", user=user["id"], project=project["id"])
    r = http.password_auth("same-name", "pw-a", domain_id=domain["id"], scope=scope)
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    assert token["user"]["domain"] == {"id": domain["id"], "name": domain["name"]}
    assert token["project"]["domain"] == {"id": domain["id"], "name": domain["name"]}
    assert http.password_auth("same-name", "pw-a").status_code == 401  # not in Default


def test_domain_scoped_reader(http):
    domain = http.make_domain()
    mine = http.make_project(domain_id=domain["id"])
    other = http.make_project()
    user = http.make_user(domain_id=domain["id"])
    http.grant("reader", user=user["id"], domain=domain["id"])
    token = http.token(
        user["name"],
        user["password"],
        domain_id=domain["id"],
        scope={"domain": {"id": domain["id"]}},
    )
    assert http.get(f"domains/{domain['id']}", token=token).status_code == 200
    assert http.get(f"projects/{mine['id']}", token=token).status_code == 200
    assert http.get(f"projects/{other['id']}", token=token).status_code == 403
    listed = http.expect(http.get("projects", token=token), 200)["projects"]
    assert [p["id"] for p in listed] == [mine["id"]]
    assert http.get("projects?domain_id=default", token=token).status_code == 403
    r = http.post("projects", token=token, json={"project": {"name": "x"}})
    assert r.status_code == 403
    domains = http.expect(http.get("auth/domains", token=token), 200)["domains"]
    assert [d["id"] for d in domains] == [domain["id"]]


def test_members_see_their_domain_only(http):
    other = http.make_domain()
    assert http.get("domains/default", token=http.demo_token).status_code == 200
    assert http.get(f"domains/{other['id']}", token=http.demo_token).status_code == 403
    assert http.get("domains", token=http.demo_token).status_code == 403
    r = http.post("domains", token=http.demo_token, json={"domain": {"name": "x"}})
    assert r.status_code == 403
