"""Users: CRUD, filters, their own password changes, and what a disabled user gets."""

from __future__ import annotations

import pytest


def test_user_crud_with_the_cli(run_cli, http, unique):
    project = http.make_project()
    name = unique("user")
    created = run_cli(
        "user",
        "create",
        "--password",
        "first-password",
        "--email",
        "someone@example.test",
        "--description",
        "a user",
        "--project",
        project["id"],
        name,
    )
    assert created["name"] == name
    assert created["domain_id"] == "default"
    assert created["enabled"] is True
    assert created["email"] == "someone@example.test"
    assert created["default_project_id"] == project["id"]
    assert created["password_expires_at"] is None
    assert "password" not in created

    shown = run_cli("user", "show", name)
    assert shown["id"] == created["id"]
    assert shown["description"] == "a user"

    renamed = unique("user")
    run_cli("user", "set", "--name", renamed, "--email", "new@example.test", "--disable", name)
    body = http.expect(http.get(f"users/{created['id']}"), 200)["user"]
    assert (body["name"], body["email"], body["enabled"]) == (renamed, "new@example.test", False)

    listed = run_cli("user", "list", "--domain", "default", "--long")
    row = next(u for u in listed if u["ID"] == created["id"])
    assert row["Name"] == renamed and row["Enabled"] is False

    run_cli("user", "delete", renamed)
    assert http.get(f"users/{created['id']}").status_code == 404


def test_user_crud_with_the_sdk(admin_conn, http, unique):
    identity = admin_conn.identity
    name = unique("user")
    user = identity.create_user(name=name, password="pw-sdk", domain_id="default")
    assert user.id and user.name == name and user.is_enabled
    assert identity.find_user(name, domain_id="default").id == user.id
    identity.update_user(user, description="from the sdk")
    assert identity.get_user(user.id).description == "from the sdk"
    assert http.password_auth(name, "pw-sdk").status_code == 201
    identity.delete_user(user)
    assert identity.find_user(user.id) is None


def test_duplicate_user_name_conflicts(http, run_cli, unique):
    name = unique("user")
    http.make_user(name)
    r = http.post("users", json={"user": {"name": name}})
    assert r.status_code == 409
    assert name in r.json()["error"]["message"]
    with pytest.raises(run_cli.Error) as err:
        run_cli("user", "create", name)
    assert "409" in err.value.stderr or "Conflict" in err.value.stderr
    # the same name in another domain is another user
    domain = http.make_domain()
    assert http.make_user(name, domain_id=domain["id"])["domain_id"] == domain["id"]


def test_rename_onto_an_existing_name_conflicts(http):
    first, second = http.make_user(), http.make_user()
    r = http.patch(f"users/{second['id']}", json={"user": {"name": first["name"]}})
    assert r.status_code == 409
    assert http.get(f"users/{second['id']}").json()["user"]["name"] == second["name"]


def test_list_filters(http, unique):
    marker = unique("flt")
    on = http.make_user(f"{marker}-on")
    off = http.make_user(f"{marker}-off", enabled=False)
    other_domain = http.make_domain()
    elsewhere = http.make_user(f"{marker}-else", domain_id=other_domain["id"])

    def names(query):
        r = http.get(f"users?name__startswith={marker}&{query}")
        return {u["name"] for u in http.expect(r, 200)["users"]}

    assert names("") == {on["name"], off["name"], elsewhere["name"]}
    assert names("enabled=false") == {off["name"]}
    assert names(f"domain_id={other_domain['id']}") == {elsewhere["name"]}
    assert names(f"name={on['name']}") == {on["name"]}
    assert names("name__contains=-of") == {off["name"]}


def test_unknown_attributes_round_trip(http):
    user = http.make_user(email="x@example.test", department="ops")
    body = http.get(f"users/{user['id']}").json()["user"]
    assert body["email"] == "x@example.test"
    assert body["department"] == "ops"
    assert body["links"]["self"].endswith(f"/identity/v3/users/{user['id']}")


def test_own_password_change_with_the_cli(run_cli, http, unique):
    project = http.make_project()
    user = http.make_user(project_id=project["id"], password="old-password")
    name = run_cli.add_cloud(
        unique("cli"), username=user["name"], password="old-password", project=project["name"]
    )
    run_cli(
        "user",
        "password",
        "set",
        "--password",
        "new-password",
        "--original-password",
        "old-password",
        cloud=name,
    )
    assert http.password_auth(user["name"], "old-password").status_code == 401
    assert http.password_auth(user["name"], "new-password").status_code == 201
    # the CLI with the old password in its clouds.yaml is now refused
    with pytest.raises(run_cli.Error):
        run_cli("token", "issue", cloud=name)


def test_own_password_change_raw(http):
    user = http.make_user(password="before")
    path = f"users/{user['id']}/password"

    wrong = http.post(
        path, token=None, json={"user": {"original_password": "nope", "password": "after"}}
    )
    assert wrong.status_code == 401
    assert http.password_auth(user["name"], "before").status_code == 201

    r = http.post(
        path, token=None, json={"user": {"original_password": "before", "password": "after"}}
    )
    assert r.status_code == 204
    assert http.password_auth(user["name"], "before").status_code == 401
    assert http.password_auth(user["name"], "after").status_code == 201

    missing = http.post(path, token=None, json={"user": {"password": "x"}})
    assert missing.status_code == 400
    assert "original_password" in missing.json()["error"]["message"]


def test_admin_sets_a_password(http, run_cli):
    user = http.make_user(password="initial")
    run_cli("user", "set", "--password", "set-by-admin", user["id"])
    assert http.password_auth(user["name"], "initial").status_code == 401
    assert http.password_auth(user["name"], "set-by-admin").status_code == 201


def test_disabled_user_gets_401(http, run_cli, unique):
    project = http.make_project()
    user = http.make_user(project_id=project["id"], password="pw")
    run_cli("user", "set", "--disable", user["id"])
    r = http.password_auth(user["name"], "pw")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == 401
    name = run_cli.add_cloud(
        unique("cli"), username=user["name"], password="pw", project=project["name"]
    )
    with pytest.raises(run_cli.Error) as err:
        run_cli("token", "issue", cloud=name)
    assert "401" in err.value.stderr
    http.patch(f"users/{user['id']}", json={"user": {"enabled": True}})
    assert http.password_auth(user["name"], "pw").status_code == 201


def test_user_without_password_cannot_log_in(http, unique):
    user = http.create("users", "user", {"name": unique("nopw")})
    assert http.password_auth(user["name"], "").status_code == 401
    assert http.password_auth(user["name"], "anything").status_code == 401


def test_login_by_user_id(http):
    user = http.make_user(password="by-id")
    assert http.password_auth(None, "by-id", user_id=user["id"]).status_code == 201


def test_user_sees_itself_but_not_others(http):
    demo = http.validate(http.demo_token).json()["token"]["user"]
    own = http.get(f"users/{demo['id']}", token=http.demo_token)
    assert own.status_code == 200
    assert own.json()["user"]["name"] == "demo"
    other = http.make_user()
    assert http.get(f"users/{other['id']}", token=http.demo_token).status_code == 403
    assert http.get("users", token=http.demo_token).status_code == 403
    r = http.patch(f"users/{demo['id']}", token=http.demo_token, json={"user": {"name": "x"}})
    assert r.status_code == 403


def test_user_projects(http):
    project = http.make_project()
    user = http.make_user(project_id=project["id"])
    listed = http.expect(http.get(f"users/{user['id']}/projects"), 200)["projects"]
    assert [p["id"] for p in listed] == [project["id"]]


def test_passwords_longer_than_bcrypt_reads_are_refused(http, unique):
    # bcrypt compares only the first 72 bytes: a longer password would let in every
    # password that shares them, so it is refused instead.
    longest = "p" * 72
    user = http.make_user(password=longest)
    assert http.password_auth(user["name"], longest).status_code == 201
    assert http.password_auth(user["name"], longest[:-1]).status_code == 401

    for too_long in ("q" * 73, "é" * 37):  # 73 and 74 bytes
        r = http.post("users", json={"user": {"name": unique("user"), "password": too_long}})
        assert r.status_code == 400
        assert "user/password" in r.json()["error"]["message"]
        r = http.patch(f"users/{user['id']}", json={"user": {"password": too_long}})
        assert r.status_code == 400
        r = http.post(
            f"users/{user['id']}/password",
            token=None,
            json={"user": {"original_password": longest, "password": too_long}},
        )
        assert r.status_code == 400
    assert http.password_auth(user["name"], longest).status_code == 201


def test_own_password_change_gives_one_401_for_every_failure(http):
    user = http.make_user()
    body = {"user": {"original_password": "wrong", "password": "new-password"}}
    wrong = http.post(f"users/{user['id']}/password", token=None, json=body)
    unknown = http.post("users/no-such-user/password", token=None, json=body)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    http.expect(http.patch(f"users/{user['id']}", json={"user": {"enabled": False}}), 200)
    body["user"]["original_password"] = user["password"]
    disabled = http.post(f"users/{user['id']}/password", token=None, json=body)
    assert disabled.status_code == 401
