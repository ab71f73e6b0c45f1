"""Application credentials and access rules: CRUD with openstacksdk, the CLI and raw
HTTP, authentication with them, and what a user may do with someone else's."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
import yaml
from openstack import connection
from openstack import exceptions as sdk_exc

V3 = "/identity/v3"


def _future(days: int = 30) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S")


@pytest.fixture
def member(http, unique) -> dict[str, Any]:
    """A fresh user with the member role on a fresh project, and a token for it there."""
    project = http.make_project(unique("acproj"))
    user = http.make_user(unique("acuser"), project_id=project["id"], role="member")
    scope = {"project": {"id": project["id"]}}
    token = http.token(None, user["password"], user_id=user["id"], scope=scope)
    return {"user": user, "project": project, "token": token}


def _user_conn(cloud, member: dict[str, Any]) -> connection.Connection:
    region = yaml.safe_load(cloud.clouds_yaml.read_text())["clouds"]["nubo"]["region_name"]
    return connection.Connection(
        auth_url=cloud.auth_url,
        username=member["user"]["name"],
        password=member["user"]["password"],
        user_domain_id="default",
        project_id=member["project"]["id"],
        region_name=region,
        identity_api_version="3",
    )


def _create(http, member: dict[str, Any], **body: Any) -> Any:
    uid = member["user"]["id"]
    return http.post(
        f"users/{uid}/application_credentials",
        token=member["token"],
        json={"application_credential": body},
    )


def _app_cred_auth(http, **ident: Any) -> Any:
    body = {
        "auth": {
            "identity": {"methods": ["application_credential"], "application_credential": ident}
        }
    }
    return http.post("auth/tokens", token=None, json=body)


def _fields(shown: dict[str, Any]) -> dict[str, Any]:
    """CLI ``show`` output keyed by lower-case field names ("Project ID" -> project_id)."""
    return {k.lower().replace(" ", "_"): v for k, v in shown.items()}


def _assert_error(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    error: dict[str, Any] = r.json()["error"]
    assert error["code"] == status
    assert error["title"]
    assert error["message"]
    return error


# -- openstacksdk ------------------------------------------------------------------


def test_sdk_create_show_list_delete(cloud, http, member, unique):
    conn = _user_conn(cloud, member)
    uid = member["user"]["id"]
    name = unique("ac")
    created = conn.identity.create_application_credential(
        uid, name, description="for the tests", expires_at=_future()
    )
    try:
        assert created.name == name
        assert created.secret
        assert created.project_id == member["project"]["id"]
        assert created.unrestricted is False
        assert created.description == "for the tests"
        assert created.expires_at.startswith(_future()[:10])
        # the token's roles: member and the reader it implies
        assert {r["name"] for r in created.roles} == {"member", "reader"}
        assert all({"id", "name", "domain_id"} <= set(r) for r in created.roles)
        assert created.links["self"].endswith(
            f"{V3}/users/{uid}/application_credentials/{created.id}"
        )

        shown = conn.identity.get_application_credential(uid, created.id)
        assert shown.name == name
        assert shown.secret is None  # shown only once, at creation
        assert {r["name"] for r in shown.roles} == {"member", "reader"}

        listed = list(conn.identity.application_credentials(user=uid))
        assert [c.id for c in listed] == [created.id]
        assert all(c.secret is None for c in listed)
        found = conn.identity.find_application_credential(uid, name)
        assert found is not None and found.id == created.id
        conn.identity.delete_application_credential(uid, created.id)
        with pytest.raises(sdk_exc.NotFoundException):
            conn.identity.get_application_credential(uid, created.id)
    finally:
        conn.close()


def test_list_filters_by_name(http, member, unique):
    uid = member["user"]["id"]
    names = [unique("one"), unique("two")]
    for n in names:
        http.expect(_create(http, member, name=n), 201)
    body = http.expect(http.get(f"users/{uid}/application_credentials", token=member["token"]), 200)
    assert sorted(c["name"] for c in body["application_credentials"]) == sorted(names)
    assert body["links"]["self"].endswith(f"{V3}/users/{uid}/application_credentials")
    body = http.expect(
        http.get(f"users/{uid}/application_credentials?name={names[1]}", token=member["token"]),
        200,
    )
    assert [c["name"] for c in body["application_credentials"]] == [names[1]]


# -- the CLI -------------------------------------------------------------------------


def test_cli_create_list_show_delete(run_cli, unique):
    name = unique("cli-ac")
    created = run_cli(
        "application",
        "credential",
        "create",
        name,
        "--description",
        "from the cli",
        "--role",
        "reader",
        "--expiration",
        _future(),
    )
    try:
        fields = _fields(created)
        assert fields["name"] == name
        assert fields["secret"]
        assert [r["name"] for r in fields["roles"]] == ["reader"]
        assert fields["unrestricted"] is False
        cred_id = fields["id"]
        listed = run_cli("application", "credential", "list")
        assert any(row["ID"] == cred_id for row in listed)
        shown = _fields(run_cli("application", "credential", "show", name))
        assert shown["id"] == cred_id
        assert shown["description"] == "from the cli"
        assert "secret" not in shown
    finally:
        run_cli("application", "credential", "delete", name)
    listed = run_cli("application", "credential", "list")
    assert not any(row["Name"] == name for row in listed)
    with pytest.raises(run_cli.Error):
        run_cli("application", "credential", "show", name)


# -- validation and errors -------------------------------------------------------------


def test_roles_must_be_carried_by_the_token(http, member, unique):
    error = _assert_error(_create(http, member, name=unique("ac"), roles=[{"name": "admin"}]), 400)
    assert "role" in error["message"]
    _assert_error(_create(http, member, name=unique("ac"), roles=[{"name": "no-such-role"}]), 400)
    reader = http.role_id("reader")
    body = http.expect(_create(http, member, name=unique("ac"), roles=[{"id": reader}]), 201)
    assert [r["name"] for r in body["application_credential"]["roles"]] == ["reader"]


def test_expiry_must_be_in_the_future(http, member, unique):
    past = "2001-01-01T00:00:00Z"
    error = _assert_error(_create(http, member, name=unique("ac"), expires_at=past), 400)
    assert "expires_at" in error["message"]
    _assert_error(_create(http, member, name=unique("ac"), expires_at="tomorrow"), 400)


def test_body_is_validated(http, member):
    error = _assert_error(_create(http, member, description="no name"), 400)
    assert "name" in error["message"]
    _assert_error(_create(http, member, name="x", unrestricted="yes"), 400)
    bad_rule = [{"service": "compute", "method": "FETCH", "path": "/v2.1/servers"}]
    _assert_error(_create(http, member, name="x", access_rules=bad_rule), 400)


def test_duplicate_name_is_409(http, member, unique):
    name = unique("dup")
    http.expect(_create(http, member, name=name), 201)
    error = _assert_error(_create(http, member, name=name), 409)
    assert name in error["message"]


def test_needs_a_project_scoped_token(http, member, unique):
    user = member["user"]
    unscoped = http.token(None, user["password"], user_id=user["id"])
    r = http.post(
        f"users/{user['id']}/application_credentials",
        token=unscoped,
        json={"application_credential": {"name": unique("ac")}},
    )
    _assert_error(r, 400)


def test_only_the_user_creates_their_own(http, member, unique):
    uid = member["user"]["id"]
    # not even the admin may create one for someone else
    r = http.post(
        f"users/{uid}/application_credentials",
        json={"application_credential": {"name": unique("ac")}},
    )
    _assert_error(r, 403)


# -- authenticating with one -------------------------------------------------------------


def test_authenticate_with_id_and_name(http, member, unique):
    uid = member["user"]["id"]
    name = unique("auth")
    secret = "a-secret-of-our-own"
    body = http.expect(
        _create(http, member, name=name, secret=secret, roles=[{"name": "reader"}]), 201
    )
    cred = body["application_credential"]
    assert cred["secret"] == secret

    r = _app_cred_auth(http, id=cred["id"], secret=secret)
    token = http.expect(r, 201)["token"]
    subject = r.headers["x-subject-token"]
    assert token["methods"] == ["application_credential"]
    assert token["project"]["id"] == member["project"]["id"]
    assert [role["name"] for role in token["roles"]] == ["reader"]
    assert token["application_credential"] == {"id": cred["id"], "name": name, "restricted": True}
    assert token["user"]["id"] == uid

    r = _app_cred_auth(http, name=name, secret=secret, user={"id": uid})
    http.expect(r, 201)
    user_name = member["user"]["name"]
    r = _app_cred_auth(
        http, name=name, secret=secret, user={"name": user_name, "domain": {"id": "default"}}
    )
    http.expect(r, 201)

    _assert_error(_app_cred_auth(http, id=cred["id"], secret="wrong"), 401)

    # the token works for the API, with only the reader role
    mine = http.get(f"users/{uid}/application_credentials", token=subject)
    assert http.expect(mine, 200)["application_credentials"][0]["id"] == cred["id"]

    # deleting the credential kills its tokens and its logins
    http.expect(
        http.delete(f"users/{uid}/application_credentials/{cred['id']}", token=member["token"]),
        204,
    )
    assert not http.is_valid(subject)
    _assert_error(http.get(f"users/{uid}", token=subject), 401)
    _assert_error(_app_cred_auth(http, id=cred["id"], secret=secret), 401)


def test_expired_credential_cannot_authenticate(http, member, unique):
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)).isoformat()
    body = http.expect(_create(http, member, name=unique("exp"), expires_at=soon), 201)
    cred = body["application_credential"]
    r = _app_cred_auth(http, id=cred["id"], secret=cred["secret"])
    token = http.expect(r, 201)["token"]
    # the token does not outlive the credential
    assert token["expires_at"][:19] <= cred["expires_at"][:19]
    time.sleep(2.5)
    _assert_error(_app_cred_auth(http, id=cred["id"], secret=cred["secret"]), 401)


def test_restricted_credential_cannot_manage_credentials(http, member, unique):
    uid = member["user"]["id"]
    restricted = http.expect(_create(http, member, name=unique("r")), 201)
    rc = restricted["application_credential"]
    r = _app_cred_auth(http, id=rc["id"], secret=rc["secret"])
    rtoken = http.expect(r, 201) and r.headers["x-subject-token"]

    path = f"users/{uid}/application_credentials"
    error = _assert_error(
        http.post(path, token=rtoken, json={"application_credential": {"name": unique("x")}}),
        403,
    )
    assert "application_credential" in error["message"]
    _assert_error(http.delete(f"{path}/{rc['id']}", token=rtoken), 403)

    unrestricted = http.expect(_create(http, member, name=unique("u"), unrestricted=True), 201)
    uc = unrestricted["application_credential"]
    assert uc["unrestricted"] is True
    r = _app_cred_auth(http, id=uc["id"], secret=uc["secret"])
    utoken = http.expect(r, 201) and r.headers["x-subject-token"]
    made = http.post(path, token=utoken, json={"application_credential": {"name": unique("y")}})
    child = http.expect(made, 201)["application_credential"]
    http.expect(http.delete(f"{path}/{child['id']}", token=utoken), 204)


# -- isolation -----------------------------------------------------------------------------


def test_other_users_cannot_see_or_delete(http, member, unique):
    uid = member["user"]["id"]
    cred = http.expect(_create(http, member, name=unique("mine")), 201)["application_credential"]
    demo = http.demo_token
    demo_id = http.expect(http.get("auth/tokens", headers={"X-Subject-Token": demo}), 200)["token"][
        "user"
    ]["id"]
    path = f"users/{uid}/application_credentials"
    _assert_error(http.get(path, token=demo), 403)
    _assert_error(http.get(f"{path}/{cred['id']}", token=demo), 403)
    _assert_error(http.delete(f"{path}/{cred['id']}", token=demo), 403)
    # naming themselves in the path does not help
    own_path = f"users/{demo_id}/application_credentials/{cred['id']}"
    _assert_error(http.get(own_path, token=demo), 403)
    _assert_error(http.delete(own_path, token=demo), 403)
    assert cred["id"] not in {
        c["id"]
        for c in http.expect(http.get(f"users/{demo_id}/application_credentials", token=demo), 200)[
            "application_credentials"
        ]
    }
    # and it is still there
    http.expect(http.get(f"{path}/{cred['id']}", token=member["token"]), 200)
    _assert_error(http.get(f"{path}/no-such-id", token=member["token"]), 404)


def test_admin_may_delete_anyones(http, member, unique):
    uid = member["user"]["id"]
    cred = http.expect(_create(http, member, name=unique("adm")), 201)["application_credential"]
    path = f"users/{uid}/application_credentials/{cred['id']}"
    # a project admin may delete it but, as in Keystone, not read it
    _assert_error(http.get(path), 403)
    http.expect(http.delete(path), 204)
    _assert_error(http.get(path, token=member["token"]), 404)


# -- access rules ----------------------------------------------------------------------------


def test_access_rules_are_shared_and_guarded(http, member, unique):
    uid = member["user"]["id"]
    tok = member["token"]
    rule = {"service": "compute", "method": "GET", "path": "/v2.1/servers/*/ips"}
    first = http.expect(_create(http, member, name=unique("ar1"), access_rules=[rule]), 201)[
        "application_credential"
    ]
    (made,) = first["access_rules"]
    assert {k: made[k] for k in rule} == rule
    rule_id = made["id"]

    # the same rule again, by value and by id, is the same rule
    second = http.expect(_create(http, member, name=unique("ar2"), access_rules=[rule]), 201)[
        "application_credential"
    ]
    third = http.expect(
        _create(http, member, name=unique("ar3"), access_rules=[{"id": rule_id}]), 201
    )["application_credential"]
    assert second["access_rules"][0]["id"] == rule_id
    assert third["access_rules"][0]["id"] == rule_id

    listed = http.expect(http.get(f"users/{uid}/access_rules", token=tok), 200)
    assert [r["id"] for r in listed["access_rules"]] == [rule_id]
    shown = http.expect(http.get(f"users/{uid}/access_rules/{rule_id}", token=tok), 200)
    assert shown["access_rule"]["path"] == rule["path"]
    assert shown["access_rule"]["links"]["self"].endswith(f"/users/{uid}/access_rules/{rule_id}")
    filtered = http.get(f"users/{uid}/access_rules?service=image", token=tok)
    assert http.expect(filtered, 200)["access_rules"] == []

    # others cannot see it
    _assert_error(http.get(f"users/{uid}/access_rules", token=http.demo_token), 403)
    _assert_error(http.get(f"users/{uid}/access_rules/{rule_id}", token=http.demo_token), 403)

    # in use: cannot be deleted
    error = _assert_error(http.delete(f"users/{uid}/access_rules/{rule_id}", token=tok), 403)
    assert rule_id in error["message"]
    for cred in (first, second, third):
        path = f"users/{uid}/application_credentials/{cred['id']}"
        http.expect(http.delete(path, token=tok), 204)
    http.expect(http.delete(f"users/{uid}/access_rules/{rule_id}", token=tok), 204)
    _assert_error(http.get(f"users/{uid}/access_rules/{rule_id}", token=tok), 404)
    _assert_error(_create(http, member, name=unique("ar4"), access_rules=[{"id": rule_id}]), 400)


def test_cli_access_rules(run_cli, http, unique):
    name = unique("cli-ar")
    rules = '[{"service": "image", "method": "GET", "path": "/v2/images"}]'
    created = run_cli("application", "credential", "create", name, "--access-rules", rules)
    try:
        listed = run_cli("access", "rule", "list")
        ours = [r for r in listed if r["Path"] == "/v2/images" and r["Service"] == "image"]
        assert ours, listed
        shown = _fields(run_cli("access", "rule", "show", ours[0]["ID"]))
        assert shown["method"] == "GET"
    finally:
        run_cli("application", "credential", "delete", _fields(created)["id"])
    run_cli("access", "rule", "delete", ours[0]["ID"])
