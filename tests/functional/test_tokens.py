"""Tokens: issue, validate, check and revoke; scopes and rescoping; what revokes them;
and that they survive a restart of the cloud."""

from __future__ import annotations

import httpx
import pytest

# -- issue / validate / check / revoke ---------------------------------------------------


def test_cli_token_issue_gives_a_token_the_cloud_validates(run_cli, http, cloud):
    issued = run_cli("token", "issue")
    assert set(issued) >= {"id", "expires", "project_id", "user_id"}
    r = http.validate(issued["id"])
    assert r.status_code == 200
    assert r.headers["x-subject-token"] == issued["id"]
    token = r.json()["token"]
    assert token["user"]["id"] == issued["user_id"]
    assert token["user"]["name"] == "admin"
    assert token["user"]["domain"] == {"id": "default", "name": "Default"}
    assert token["project"]["id"] == issued["project_id"]
    assert token["project"]["name"] == "admin"
    assert token["methods"] == ["password"]
    assert {"admin", "member", "reader"} <= {r["name"] for r in token["roles"]}
    assert token["expires_at"].endswith("Z") and token["issued_at"] < token["expires_at"]
    identity = [s for s in token["catalog"] if s["type"] == "identity"]
    assert identity, token["catalog"]
    urls = {e["interface"]: e["url"] for e in identity[0]["endpoints"]}
    assert urls == {i: f"{cloud.base_url}/identity" for i in ("public", "internal", "admin")}


def test_cli_token_revoke(run_cli, http):
    token = run_cli("token", "issue")["id"]
    assert http.is_valid(token)
    run_cli("token", "revoke", token)
    assert not http.is_valid(token)
    r = http.validate(token)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == 404
    # the revoked token no longer authenticates requests either
    assert http.get("users", token=token).status_code == 401


def test_issue_raw_returns_201_and_x_subject_token(http, cloud):
    r = http.password_auth(
        "admin",
        cloud.admin_password,
        scope={"project": {"name": "admin", "domain": {"name": "Default"}}},
    )
    assert r.status_code == 201
    assert r.headers["x-subject-token"]
    assert r.headers["x-openstack-request-id"].startswith("req-")
    assert r.json()["token"]["project"]["name"] == "admin"


def test_validate_check_and_revoke_raw(http):
    project = http.make_project()
    user = http.make_user(project_id=project["id"])
    token = http.token(user["name"], user["password"], scope={"project": {"id": project["id"]}})
    r = http.validate(token)
    assert r.status_code == 200
    assert r.headers["x-subject-token"] == token
    assert r.json()["token"]["user"]["id"] == user["id"]

    head = http.head("auth/tokens", headers={"X-Subject-Token": token})
    assert head.status_code == 200
    assert head.headers["x-subject-token"] == token
    assert head.content == b""

    gone = http.delete("auth/tokens", headers={"X-Subject-Token": token})
    assert gone.status_code == 204
    assert http.head("auth/tokens", headers={"X-Subject-Token": token}).status_code == 404
    r = http.validate(token)
    assert r.status_code == 404
    assert set(r.json()["error"]) == {"code", "title", "message"}
    # revoking twice: the token is already gone
    assert http.delete("auth/tokens", headers={"X-Subject-Token": token}).status_code == 404
    # a new login is not affected
    assert http.is_valid(http.token(user["name"], user["password"]))


def test_validate_without_subject_token_is_404(http):
    r = http.get("auth/tokens")
    assert r.status_code == 404
    assert r.json()["error"]["title"] == "Not Found"


def test_garbage_subject_token_is_404_and_garbage_auth_token_is_401(http):
    assert http.validate("not-a-token").status_code == 404
    tampered = http.admin_token[:-4] + ("AAAA" if not http.admin_token.endswith("AAAA") else "BBBB")
    assert http.validate(tampered).status_code == 404
    r = http.get("users", token=tampered)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Keystone uri=")


def test_nocatalog(http, cloud):
    r = http.password_auth(
        "admin",
        cloud.admin_password,
        nocatalog=True,
        scope={"project": {"name": "admin", "domain": {"id": "default"}}},
    )
    assert r.status_code == 201
    assert "catalog" not in r.json()["token"]
    token = r.headers["x-subject-token"]
    assert "catalog" not in http.validate(token, query="nocatalog").json()["token"]
    assert http.validate(token).json()["token"]["catalog"]


def test_user_validates_own_token_but_not_others(http):
    assert http.validate(http.demo_token, token=http.demo_token).status_code == 200
    assert (
        http.head(
            "auth/tokens", token=http.demo_token, headers={"X-Subject-Token": http.demo_token}
        ).status_code
        == 200
    )
    r = http.validate(http.admin_token, token=http.demo_token)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == 403


def test_user_revokes_own_token(http):
    user = http.make_user(project_id=http.make_project()["id"])
    token = http.token(user["name"], user["password"])
    r = http.delete("auth/tokens", token=token, headers={"X-Subject-Token": token})
    assert r.status_code == 204
    assert not http.is_valid(token)


# -- scopes --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scoped_user(http):
    """A user with member on a project, reader on a domain and reader on the system,
    and no default project."""
    project = http.make_project()
    domain = http.make_domain()
    user = http.make_user(project_id=project["id"])
    http.grant("reader", user=user["id"], domain=domain["id"])
    http.grant("reader", user=user["id"], system=True)
    return {"user": user, "project": project, "domain": domain}


def test_unscoped_token(http, scoped_user):
    user = scoped_user["user"]
    r = http.password_auth(user["name"], user["password"])
    assert r.status_code == 201
    token = r.json()["token"]
    assert token["user"]["id"] == user["id"]
    for key in ("project", "domain", "system", "roles"):
        assert key not in token
    assert not token.get("catalog")
    # an unscoped token may list where it could go, but not reach the catalog
    unscoped = r.headers["x-subject-token"]
    projects = http.get("auth/projects", token=unscoped).json()["projects"]
    assert [p["id"] for p in projects] == [scoped_user["project"]["id"]]
    domains = http.get("auth/domains", token=unscoped).json()["domains"]
    assert [d["id"] for d in domains] == [scoped_user["domain"]["id"]]
    assert http.get("auth/system", token=unscoped).json()["system"] == [{"all": True}]
    assert http.get("auth/catalog", token=unscoped).status_code == 403


def test_project_scope_by_id_and_by_name(http, scoped_user):
    user, project = scoped_user["user"], scoped_user["project"]
    for scope in (
        {"project": {"id": project["id"]}},
        {"project": {"name": project["name"], "domain": {"id": "default"}}},
        {"project": {"name": project["name"], "domain": {"name": "Default"}}},
    ):
        r = http.password_auth(user["name"], user["password"], scope=scope)
        assert r.status_code == 201, (scope, r.text)
        token = r.json()["token"]
        assert token["project"] == {
            "id": project["id"],
            "name": project["name"],
            "domain": {"id": "default", "name": "Default"},
        }
        # member implies reader
        assert sorted(x["name"] for x in token["roles"]) == ["member", "reader"]
        assert token["catalog"]
        assert "domain" not in token and "system" not in token
    catalog = http.get("auth/catalog", token=r.headers["x-subject-token"])
    assert catalog.status_code == 200
    assert any(s["type"] == "identity" for s in catalog.json()["catalog"])


def test_domain_scope(http, scoped_user):
    user, domain = scoped_user["user"], scoped_user["domain"]
    r = http.password_auth(user["name"], user["password"], scope={"domain": {"id": domain["id"]}})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    assert token["domain"] == {"id": domain["id"], "name": domain["name"]}
    assert [x["name"] for x in token["roles"]] == ["reader"]
    assert "project" not in token
    by_name = http.password_auth(
        user["name"], user["password"], scope={"domain": {"name": domain["name"]}}
    )
    assert by_name.status_code == 201
    assert by_name.json()["token"]["domain"]["id"] == domain["id"]


def test_system_scope(http, scoped_user, cloud):
    user = scoped_user["user"]
    r = http.password_auth(user["name"], user["password"], scope={"system": {"all": True}})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    assert token["system"] == {"all": True}
    assert [x["name"] for x in token["roles"]] == ["reader"]
    # a system reader may read cloud-wide, not write
    system_token = r.headers["x-subject-token"]
    assert http.get("users", token=system_token).status_code == 200
    assert (
        http.post("projects", token=system_token, json={"project": {"name": "x"}}).status_code
        == 403
    )
    # the bootstrap admin holds admin on the system too
    admin = http.password_auth("admin", cloud.admin_password, scope={"system": {"all": True}})
    assert admin.status_code == 201
    assert "admin" in {x["name"] for x in admin.json()["token"]["roles"]}


def test_scope_without_a_role_is_401(http, scoped_user):
    user = scoped_user["user"]
    other = http.make_project()
    for scope in (
        {"project": {"id": other["id"]}},
        {"project": {"id": "0" * 32}},
        {"domain": {"id": "default"}},
    ):
        r = http.password_auth(user["name"], user["password"], scope=scope)
        assert r.status_code == 401, (scope, r.text)
        assert r.json()["error"]["code"] == 401


def test_default_project_scopes_a_token_without_scope(http):
    project = http.make_project()
    user = http.make_user(project_id=project["id"], default_project_id=project["id"])
    r = http.password_auth(user["name"], user["password"])
    assert r.json()["token"]["project"]["id"] == project["id"]
    explicit = http.password_auth(user["name"], user["password"], scope="unscoped")
    assert explicit.status_code == 201
    assert "project" not in explicit.json()["token"]


def test_rescope_with_token_method(http, scoped_user):
    user, project = scoped_user["user"], scoped_user["project"]
    first = http.password_auth(user["name"], user["password"])
    unscoped = first.headers["x-subject-token"]
    original = first.json()["token"]

    r = http.rescope(unscoped, {"project": {"id": project["id"]}})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    assert token["project"]["id"] == project["id"]
    assert set(token["methods"]) == {"password", "token"}
    # a rescoped token lives no longer than the one it came from and keeps its audit chain
    assert token["expires_at"] == original["expires_at"]
    assert len(token["audit_ids"]) == 2
    assert token["audit_ids"][1] == original["audit_ids"][0]
    assert token["audit_ids"][0] != original["audit_ids"][0]
    assert http.is_valid(r.headers["x-subject-token"])

    # rescoping to where the user has no role is refused
    other = http.make_project()
    assert http.rescope(unscoped, {"project": {"id": other["id"]}}).status_code == 401
    # a revoked token cannot be rescoped: Keystone (and Tempest) expect 404 here
    http.delete("auth/tokens", headers={"X-Subject-Token": unscoped})
    gone = http.rescope(unscoped, {"project": {"id": project["id"]}})
    assert http.expect(gone, 404)["error"]["title"] == "Not Found"


# -- what revokes tokens ---------------------------------------------------------------------


@pytest.fixture
def member(http):
    """A fresh user with member on a fresh project, and a token scoped to it."""
    project = http.make_project()
    user = http.make_user(project_id=project["id"])
    token = http.token(user["name"], user["password"], scope={"project": {"id": project["id"]}})
    assert http.is_valid(token)
    return {"user": user, "project": project, "token": token}


def test_password_change_by_admin_revokes_tokens(http, member):
    user = member["user"]
    r = http.patch(f"users/{user['id']}", json={"user": {"password": "a-new-password"}})
    assert r.status_code == 200
    assert not http.is_valid(member["token"])
    assert http.get("auth/projects", token=member["token"]).status_code == 401
    assert http.password_auth(user["name"], user["password"]).status_code == 401
    assert http.is_valid(http.token(user["name"], "a-new-password"))


def test_own_password_change_revokes_tokens(http, member):
    user = member["user"]
    r = http.post(
        f"users/{user['id']}/password",
        token=member["token"],
        json={"user": {"original_password": user["password"], "password": "changed-by-me"}},
    )
    assert r.status_code == 204, r.text
    assert not http.is_valid(member["token"])
    assert http.is_valid(http.token(user["name"], "changed-by-me"))


def test_disabling_a_user_revokes_tokens(http, member):
    user = member["user"]
    assert http.patch(f"users/{user['id']}", json={"user": {"enabled": False}}).status_code == 200
    assert not http.is_valid(member["token"])
    assert http.password_auth(user["name"], user["password"]).status_code == 401
    # enabling again lets the user log in, but the old token stays dead
    assert http.patch(f"users/{user['id']}", json={"user": {"enabled": True}}).status_code == 200
    assert http.password_auth(user["name"], user["password"]).status_code == 201
    assert not http.is_valid(member["token"])


def test_disabling_a_project_revokes_its_tokens(http, member):
    user, project = member["user"], member["project"]
    other = http.make_project()
    http.grant("member", user=user["id"], project=other["id"])
    elsewhere = http.token(user["name"], user["password"], scope={"project": {"id": other["id"]}})

    r = http.patch(f"projects/{project['id']}", json={"project": {"enabled": False}})
    assert r.status_code == 200
    assert not http.is_valid(member["token"])
    assert http.is_valid(elsewhere)
    scope = {"project": {"id": project["id"]}}
    assert http.password_auth(user["name"], user["password"], scope=scope).status_code == 401


def test_removing_a_role_assignment_revokes_tokens_on_that_project(http, member):
    user, project = member["user"], member["project"]
    other = http.make_project()
    http.grant("member", user=user["id"], project=other["id"])
    elsewhere = http.token(user["name"], user["password"], scope={"project": {"id": other["id"]}})

    http.revoke("member", user=user["id"], project=project["id"])
    assert not http.is_valid(member["token"])
    assert http.is_valid(elsewhere)
    scope = {"project": {"id": project["id"]}}
    assert http.password_auth(user["name"], user["password"], scope=scope).status_code == 401


def test_removing_group_membership_revokes_tokens(http, member):
    user = member["user"]
    project = http.make_project()
    group = http.make_group()
    http.grant("member", group=group["id"], project=project["id"])
    http.expect(http.put(f"groups/{group['id']}/users/{user['id']}"), 204)
    via_group = http.token(user["name"], user["password"], scope={"project": {"id": project["id"]}})
    assert http.is_valid(via_group)

    http.expect(http.delete(f"groups/{group['id']}/users/{user['id']}"), 204)
    assert not http.is_valid(via_group)
    scope = {"project": {"id": project["id"]}}
    assert http.password_auth(user["name"], user["password"], scope=scope).status_code == 401


def test_deleting_a_user_revokes_tokens(http, member):
    http.expect(http.delete(f"users/{member['user']['id']}"), 204)
    assert not http.is_valid(member["token"])


# -- persistence -------------------------------------------------------------------------------


def _auth(c, name, password, project):
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": name, "domain": {"id": "default"}, "password": password}
                },
            },
            "scope": {"project": {"name": project, "domain": {"id": "default"}}},
        }
    }
    r = httpx.post(f"{c.auth_url}/auth/tokens", json=body, timeout=30)
    assert r.status_code == 201, r.text
    return r.headers["x-subject-token"]


def _check(c, token, subject):
    headers = {"X-Auth-Token": token, "X-Subject-Token": subject}
    return httpx.get(f"{c.auth_url}/auth/tokens", headers=headers, timeout=30).status_code


def test_tokens_survive_a_restart(cloud_factory):
    c = cloud_factory()
    try:
        admin = _auth(c, "admin", c.admin_password, "admin")
        demo = _auth(c, "demo", c.demo_password, "demo")
        revoked = _auth(c, "demo", c.demo_password, "demo")
        headers = {"X-Auth-Token": admin, "X-Subject-Token": revoked}
        assert httpx.delete(f"{c.auth_url}/auth/tokens", headers=headers).status_code == 204
        passwords = (c.admin_password, c.demo_password)
        old_pid = c.pid

        c.down()
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{c.base_url}/healthcheck", timeout=5)
        c.up()
        assert c.pid != old_pid

        assert (c.admin_password, c.demo_password) == passwords
        assert _check(c, admin, demo) == 200
        assert _check(c, admin, admin) == 200
        assert _check(c, admin, revoked) == 404
        r = httpx.get(f"{c.auth_url}/users", headers={"X-Auth-Token": admin}, timeout=30)
        assert r.status_code == 200
        assert {"admin", "demo"} <= {u["name"] for u in r.json()["users"]}
    finally:
        c.kill()


def test_tokens_survive_one_key_rotation(cloud_factory):
    c = cloud_factory()
    try:
        admin = _auth(c, "admin", c.admin_password, "admin")
        before = _auth(c, "demo", c.demo_password, "demo")

        rotated = c.nubo("identity", "rotate-keys")
        assert rotated.returncode == 0, rotated.stdout + rotated.stderr
        # the running cloud decrypts tokens made with the previous primary key
        assert _check(c, admin, before) == 200
        after_one = _auth(c, "demo", c.demo_password, "demo")
        assert _check(c, after_one, after_one) == 200

        rotated = c.nubo("identity", "rotate-keys")
        assert rotated.returncode == 0, rotated.stdout + rotated.stderr
        # two rotations later the oldest key is gone, and tokens made with it
        fresh_admin = _auth(c, "admin", c.admin_password, "admin")
        assert _check(c, fresh_admin, before) == 404
        assert _check(c, fresh_admin, after_one) == 200
        r = httpx.get(f"{c.auth_url}/users", headers={"X-Auth-Token": admin}, timeout=30)
        assert r.status_code == 401
    finally:
        c.kill()
