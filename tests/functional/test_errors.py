"""Errors over raw HTTP: Keystone's ``{"error": {"code", "title", "message"}}`` body and a
request id on every one; bad input named; no account enumeration; tenant isolation."""

from __future__ import annotations

import pytest


def keystone_error(r, status):
    """Assert ``r`` is a Keystone error with ``status``; return its message."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["x-openstack-request-id"].startswith("req-")
    body = r.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "title", "message"}
    assert error["code"] == status
    assert error["title"] and error["message"]
    assert "Traceback" not in error["message"]
    return error["message"]


# -- bad input -------------------------------------------------------------------------------


def test_malformed_json_is_400_saying_so(http):
    r = http.post("users", content=b'{"user": {"name": "x",', headers=_JSON)
    message = keystone_error(r, 400)
    assert "Malformed JSON" in message
    assert "line 1" in message


def test_body_that_is_not_utf8_json(http):
    r = http.post("users", content=b'{"user": {"name": "\xff"}}', headers=_JSON)
    assert "UTF-8" in keystone_error(r, 400)


def test_empty_body_is_400(http):
    assert "empty" in keystone_error(http.post("projects", content=b"", headers=_JSON), 400)


def test_json_that_is_not_an_object(http):
    message = keystone_error(http.post("projects", json=[1, 2]), 400)
    assert "Invalid input" in message


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("users", {"user": {}}, "user/name"),
        ("users", {"user": {"name": "x", "enabled": "yes"}}, "user/enabled"),
        ("users", {}, "'user'"),
        ("projects", {"project": {"name": ""}}, "project/name"),
        ("projects", {"project": {"name": "x" * 65}}, "project/name"),
        ("groups", {"group": {"name": 7}}, "group/name"),
        ("roles", {"role": {"name": "r", "options": "x"}}, "role/options"),
        ("domains", {"domain": {"name": "d", "enabled": None}}, "domain/enabled"),
    ],
)
def test_invalid_fields_are_named(http, path, body, field):
    message = keystone_error(http.post(path, json=body), 400)
    assert field in message, message


def test_invalid_auth_requests_are_400(http):
    r = http.post("auth/tokens", token=None, json={"auth": {"identity": {"methods": []}}})
    assert "identity/methods" in keystone_error(r, 400)
    body = http.password_body("pw", name="admin")
    del body["auth"]["identity"]["password"]["user"]["domain"]
    assert "domain" in keystone_error(http.post("auth/tokens", token=None, json=body), 400)
    unsupported = {"auth": {"identity": {"methods": ["kerberos"]}}}
    keystone_error(http.post("auth/tokens", token=None, json=unsupported), 401)


@pytest.mark.parametrize(
    ("scope", "field"),
    [
        ({"project": "demo"}, "auth/scope/project"),
        ({"project": None}, "auth/scope/project"),
        ({"project": {"id": 5}}, "auth/scope/project/id"),
        ({"project": {"name": 5, "domain": {"id": "default"}}}, "auth/scope/project/name"),
        ({"project": {"name": "demo", "domain": "default"}}, "auth/scope/project/domain"),
        ({"domain": "default"}, "auth/scope/domain"),
        ({"domain": {"id": 7}}, "auth/scope/domain/id"),
        ({"system": "all"}, "auth/scope/system"),
        ({"system": {"all": False}}, "scope/system"),
        (["demo"], "auth/scope"),
        ("everything", "scope"),
    ],
)
def test_malformed_scopes_are_400(http, cloud, scope, field):
    r = http.password_auth("admin", cloud.admin_password, scope=scope)
    assert f"'{field}'" in keystone_error(r, 400)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "users/%00", None),
        ("GET", "users?marker=%00", None),
        ("GET", "projects/a%00b", None),
        ("PUT", "regions/" + "r" * 300, {"region": {}}),
        ("POST", "projects", {"project": {"name": "long-id", "id": "i" * 100}}),
        ("POST", "users", {"user": {"name": "nul\u0000char"}}),
    ],
)
def test_values_the_database_cannot_store_are_not_a_500(http, method, path, body):
    # PostgreSQL refuses NUL characters and values longer than their column; SQLite
    # stores them. Either way the client gets an answer, never a server error.
    r = http.request(method, path, json=body)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        keystone_error(r, r.status_code)


def test_wrong_content_type_is_415(http):
    r = http.post("projects", content=b"name=x", headers={"Content-Type": "text/plain"})
    assert "application/json" in keystone_error(r, 415)


def test_too_large_body_is_413(http):
    big = b'{"project": {"name": "' + b"x" * 1_100_000 + b'"}}'
    keystone_error(http.post("projects", content=big, headers=_JSON), 413)


@pytest.mark.parametrize(
    ("query", "word"),
    [
        ("limit=ten", "limit"),
        ("limit=-1", "limit"),
        ("sort_key=password", "sort_key"),
        ("sort_dir=sideways", "sort_dir"),
        (f"marker={'0' * 32}", "Marker"),
    ],
)
def test_bad_query_parameters(http, query, word):
    r = http.get(f"users?{query}")
    assert word in keystone_error(r, 404 if word == "Marker" else 400)


def test_bad_boolean_query(http):
    r = http.validate(http.admin_token, query="nocatalog=maybe")
    assert "nocatalog" in keystone_error(r, 400)
    assert "enabled" in keystone_error(http.get("users?enabled=maybe"), 400)
    assert "effective" in keystone_error(http.get("role_assignments?effective=perhaps"), 400)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"user": ' * 5000 + b"1" + b"}" * 5000,  # nested past Python's recursion limit
        b'{"user": {"name": "big", "enabled": ' + b"9" * 5000 + b"}}",  # huge integer
        rb'{"user": {"name": "\ud800"}}',  # a lone surrogate (JSON escape)
        rb'{"user": {"name": "x", "password": "\udfff"}}',
    ],
)
def test_hostile_json_is_400(http, raw):
    keystone_error(http.post("users", content=raw, headers=_JSON), 400)


@pytest.mark.parametrize(
    "when", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00", "not-a-time"]
)
def test_out_of_range_timestamps_are_400(http, when):
    project = http.make_project()
    user = http.make_user(project_id=project["id"])
    token = http.token(
        None, user["password"], user_id=user["id"], scope={"project": {"id": project["id"]}}
    )
    r = http.post(
        f"users/{user['id']}/application_credentials",
        token=token,
        json={"application_credential": {"name": "t", "expires_at": when}},
    )
    assert "expires_at" in keystone_error(r, 400)


def test_client_chosen_ids_are_ignored(http, unique):
    made = http.create("projects", "project", {"name": unique("p"), "id": "mine"})
    assert made["id"] != "mine"
    r = http.post("users", json={"user": {"name": unique("u"), "id": 123}})
    assert r.status_code == 201 and r.json()["user"]["id"] != 123


def test_method_not_allowed(http):
    keystone_error(http.put("users"), 405)
    keystone_error(http.delete("auth/catalog"), 405)


def test_unknown_path_is_404(http):
    keystone_error(http.get("no-such-collection"), 404)


# -- authentication ----------------------------------------------------------------------------


def test_wrong_password_and_unknown_user_get_identical_401s(http, unique):
    user = http.make_user(password="right")
    domain = http.make_domain(enabled=True)
    disabled = http.make_user(password="right", enabled=False)
    answers = [
        http.password_auth(user["name"], "wrong"),
        http.password_auth(unique("nobody"), "wrong"),
        http.password_auth(unique("nobody"), "right"),
        http.password_auth(user["name"], "right", domain_id=domain["id"]),
        http.password_auth(disabled["name"], "right"),
        http.password_auth(None, "wrong", user_id=user["id"]),
        http.password_auth(None, "wrong", user_id="0" * 32),
    ]
    bodies = []
    for r in answers:
        keystone_error(r, 401)
        assert r.headers["www-authenticate"] == 'Keystone uri="/identity"'
        bodies.append(r.json())
    assert all(b == bodies[0] for b in bodies), bodies
    assert bodies[0]["error"]["title"] == "Unauthorized"


def test_missing_or_bad_token_is_401(http):
    for token in (None, "garbage", "gAAAAA" + "x" * 100):
        r = http.get("users", token=token)
        keystone_error(r, 401)
        assert r.headers["www-authenticate"].startswith("Keystone uri=")


# -- not found and conflicts ----------------------------------------------------------------------


@pytest.mark.parametrize("collection", ["users", "projects", "groups", "roles", "domains"])
def test_unknown_id_is_404(http, collection):
    missing = "0123456789abcdef" * 2
    for method in ("GET", "PATCH", "DELETE"):
        kwargs = {"json": {collection[:-1]: {}}} if method == "PATCH" else {}
        r = http.request(method, f"{collection}/{missing}", **kwargs)
        assert missing in keystone_error(r, 404)


def test_duplicate_names_are_409(http, unique):
    name = unique("dup")
    for collection, key in (("users", "user"), ("projects", "project"), ("groups", "group")):
        http.create(collection, key, {"name": name})
        r = http.post(collection, json={key: {"name": name}})
        assert name in keystone_error(r, 409)


def test_request_ids_differ(http):
    ids = {http.get("/identity/v3", token=None).headers["x-openstack-request-id"] for _ in range(3)}
    ids.add(http.get("users").headers["x-openstack-request-id"])
    ids.add(http.get(f"users/{'0' * 32}").headers["x-openstack-request-id"])
    assert len(ids) == 5


# -- isolation -------------------------------------------------------------------------------------


def test_member_cannot_list_users(http, demo_conn, run_cli):
    keystone_error(http.get("users", token=http.demo_token), 403)
    with pytest.raises(run_cli.Error) as cli:
        run_cli("user", "list", cloud="nubo-demo")
    assert "403" in cli.value.stderr
    with pytest.raises(Exception) as err:
        list(demo_conn.identity.users())
    assert "403" in str(err.value) or "Forbidden" in type(err.value).__name__


def test_member_cannot_see_another_project(http, demo_conn):
    other = http.make_project()
    r = http.get(f"projects/{other['id']}", token=http.demo_token)
    assert r.status_code in (403, 404)
    keystone_error(r, r.status_code)
    keystone_error(http.get(f"projects/{other['id']}/tags", token=http.demo_token), 403)
    r = http.get("role_assignments", token=http.demo_token)
    keystone_error(r, 403)


def test_member_cannot_scope_into_another_project(http, cloud):
    other = http.make_project()
    r = http.password_auth("demo", cloud.demo_password, scope={"project": {"id": other["id"]}})
    keystone_error(r, 401)


def test_member_cannot_escalate(http):
    demo = http.validate(http.demo_token).json()["token"]
    project_id, user_id = demo["project"]["id"], demo["user"]["id"]
    token = http.demo_token
    keystone_error(
        http.put(http.grant_path("admin", user=user_id, project=project_id), token=token), 403
    )
    keystone_error(http.put(http.grant_path("admin", user=user_id, system=True), token=token), 403)
    keystone_error(
        http.patch(f"users/{user_id}", token=token, json={"user": {"enabled": True}}), 403
    )
    keystone_error(http.post("roles", token=token, json={"role": {"name": "mine"}}), 403)
    keystone_error(http.post("users", token=token, json={"user": {"name": "mine"}}), 403)
    r = http.password_auth("demo", http.cloud.demo_password, scope={"system": {"all": True}})
    keystone_error(r, 401)


def test_reader_cannot_write(http):
    project = http.make_project()
    reader = http.make_user(project_id=project["id"], role="reader")
    token = http.token(reader["name"], reader["password"], scope={"project": {"id": project["id"]}})
    roles = http.validate(token).json()["token"]["roles"]
    assert [r["name"] for r in roles] == ["reader"]
    # it may read its own project
    assert http.get(f"projects/{project['id']}", token=token).status_code == 200
    assert http.get(f"projects/{project['id']}/tags", token=token).status_code == 200
    for method, path, body in (
        ("PATCH", f"projects/{project['id']}", {"project": {"description": "mine now"}}),
        ("PUT", f"projects/{project['id']}/tags/mine", None),
        ("DELETE", f"projects/{project['id']}", None),
        ("POST", "projects", {"project": {"name": "another"}}),
        ("POST", "users", {"user": {"name": "another"}}),
        ("POST", "groups", {"group": {"name": "another"}}),
    ):
        keystone_error(http.request(method, path, token=token, json=body), 403)
    assert http.get(f"projects/{project['id']}").json()["project"]["description"] == ""


def test_system_reader_cannot_write(http):
    user = http.make_user()
    http.grant("reader", user=user["id"], system=True)
    token = http.token(user["name"], user["password"], scope={"system": {"all": True}})
    assert http.get("users", token=token).status_code == 200
    assert http.get("projects", token=token).status_code == 200
    keystone_error(http.post("users", token=token, json={"user": {"name": "x"}}), 403)
    keystone_error(http.delete(f"users/{user['id']}", token=token), 403)


_JSON = {"Content-Type": "application/json"}
