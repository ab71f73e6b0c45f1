"""Stored credentials (/v3/credentials) and EC2 credentials (OS-EC2): CRUD with
openstacksdk, the CLI and raw HTTP, encryption at rest, and isolation."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openstack import exceptions as sdk_exc

from nubo.config import Config
from nubo.db.engine import Database
from nubo.errors import NotFound, Unauthorized
from nubo.identity.service import Identity


def _assert_error(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    error: dict[str, Any] = r.json()["error"]
    assert error["code"] == status
    assert error["title"]
    assert error["message"]
    return error


def _me(http, token: str) -> dict[str, Any]:
    """The user and project a token stands for."""
    body = http.expect(http.validate(token), 200)["token"]
    return {"user_id": body["user"]["id"], "project_id": body["project"]["id"]}


@pytest.fixture
def admin(http) -> dict[str, Any]:
    return _me(http, http.admin_token)


@pytest.fixture
def demo(http) -> dict[str, Any]:
    return _me(http, http.demo_token)


def _create(http, token: Any = None, **cred: Any) -> Any:
    kwargs = {} if token is None else {"token": token}
    return http.post("credentials", json={"credential": cred}, **kwargs)


def _ec2_blob() -> str:
    return json.dumps({"access": uuid.uuid4().hex, "secret": uuid.uuid4().hex})


@pytest.fixture
def member(http, unique) -> dict[str, Any]:
    """A fresh user with the member role on a fresh project, and a token for it there."""
    project = http.make_project(unique("credproj"))
    user = http.make_user(unique("creduser"), project_id=project["id"], role="member")
    scope = {"project": {"id": project["id"]}}
    token = http.token(None, user["password"], user_id=user["id"], scope=scope)
    return {"user": user, "project": project, "token": token}


def _app_cred_token(http, member: dict[str, Any], name: str, **fields: Any) -> str:
    """A token from a new application credential of ``member``."""
    r = http.post(
        f"users/{member['user']['id']}/application_credentials",
        token=member["token"],
        json={"application_credential": {"name": name, **fields}},
    )
    cred = http.expect(r, 201)["application_credential"]
    ident = {"id": cred["id"], "secret": cred["secret"]}
    body = {
        "auth": {
            "identity": {"methods": ["application_credential"], "application_credential": ident}
        }
    }
    r = http.post("auth/tokens", token=None, json=body)
    http.expect(r, 201)
    token: str = r.headers["x-subject-token"]
    return token


# -- /v3/credentials ---------------------------------------------------------------


def test_sdk_crud(admin_conn, admin):
    blob = json.dumps({"cert": uuid.uuid4().hex})
    made = admin_conn.identity.create_credential(
        type="cert", blob=blob, user_id=admin["user_id"], project_id=admin["project_id"]
    )
    try:
        assert made.blob == blob
        assert made.type == "cert"
        assert made.user_id == admin["user_id"]
        assert made.project_id == admin["project_id"]
        got = admin_conn.identity.get_credential(made.id)
        assert got.blob == blob
        assert made.id in {c.id for c in admin_conn.identity.credentials(type="cert")}
        assert made.id in {c.id for c in admin_conn.identity.credentials(user_id=admin["user_id"])}
        assert made.id not in {c.id for c in admin_conn.identity.credentials(type="totp")}
        changed = admin_conn.identity.update_credential(made.id, blob="new blob")
        assert changed.blob == "new blob"
        assert admin_conn.identity.get_credential(made.id).blob == "new blob"
    finally:
        admin_conn.identity.delete_credential(made.id)
    with pytest.raises(sdk_exc.NotFoundException):
        admin_conn.identity.get_credential(made.id)


def test_cli_crud(run_cli, admin):
    blob = f"cli-blob-{uuid.uuid4().hex}"
    made = run_cli("credential", "create", "--type", "cert", admin["user_id"], blob)
    cid = made["id"]
    try:
        assert made["blob"] == blob
        listed = run_cli("credential", "list", "--type", "cert")
        assert cid in {row["ID"] for row in listed}
        run_cli(
            "credential", "set", "--type", "cert", "--user", admin["user_id"], "--data", "v2", cid
        )
        assert run_cli("credential", "show", cid)["blob"] == "v2"
    finally:
        run_cli("credential", "delete", cid)
    with pytest.raises(run_cli.Error):
        run_cli("credential", "show", cid)


def test_blob_is_encrypted_at_rest(http, cloud, admin):
    marker = f"plaintext-marker-{uuid.uuid4().hex}"
    made = http.expect(_create(http, type="cert", blob=marker, user_id=admin["user_id"]), 201)[
        "credential"
    ]
    assert made["blob"] == marker
    if cloud.database == "sqlite":
        needle = marker.encode()
        for path in Path(cloud.data_dir).rglob("*"):
            if path.is_file():
                assert needle not in path.read_bytes(), f"{path} holds the blob in clear"
    http.expect(http.delete(f"credentials/{made['id']}"), 204)


def test_ec2_type_rules(http, admin):
    access = uuid.uuid4().hex
    blob = json.dumps({"access": access, "secret": uuid.uuid4().hex})
    # ec2 needs a project and a JSON blob with an access key
    _assert_error(_create(http, type="ec2", blob=blob, user_id=admin["user_id"]), 400)
    r = _create(http, type="ec2", blob="not json", user_id=admin["user_id"], project_id="x")
    _assert_error(r, 400)
    r = _create(http, type="ec2", blob='{"secret": "s"}', user_id=admin["user_id"], project_id="x")
    _assert_error(r, 400)
    made = http.expect(
        _create(
            http, type="ec2", blob=blob, user_id=admin["user_id"], project_id=admin["project_id"]
        ),
        201,
    )["credential"]
    # the id of an ec2 credential is the SHA-256 of its access key
    assert made["id"] == hashlib.sha256(access.encode()).hexdigest()
    # the same access key twice is a conflict
    again = _create(
        http, type="ec2", blob=blob, user_id=admin["user_id"], project_id=admin["project_id"]
    )
    _assert_error(again, 409)
    # and it shows up among the user's EC2 credentials
    listed = http.expect(http.get(f"users/{admin['user_id']}/credentials/OS-EC2"), 200)
    assert access in {c["access"] for c in listed["credentials"]}
    # its access key may change in place: the id stays, the new key is what S3 will see
    new_access = uuid.uuid4().hex
    other = json.dumps({"access": new_access, "secret": "s"})
    r = http.patch(f"credentials/{made['id']}", json={"credential": {"blob": other}})
    assert http.expect(r, 200)["credential"]["id"] == made["id"]
    shown = http.expect(http.get(f"users/{admin['user_id']}/credentials/OS-EC2/{new_access}"), 200)
    assert shown["credential"]["secret"] == "s"
    _assert_error(http.get(f"users/{admin['user_id']}/credentials/OS-EC2/{access}"), 404)
    http.expect(http.delete(f"credentials/{made['id']}"), 204)


def test_validation_and_missing(http, admin):
    error = _assert_error(_create(http, type="cert", user_id=admin["user_id"]), 400)
    assert "blob" in error["message"]
    _assert_error(_create(http, type="cert", blob=5, user_id=admin["user_id"]), 400)
    _assert_error(_create(http, type="cert", blob="b", user_id="no-such-user"), 404)
    _assert_error(http.get("credentials/no-such-credential"), 404)
    _assert_error(http.delete("credentials/no-such-credential"), 404)
    r = http.patch("credentials/x", json={"credential": {"type": 5}})
    _assert_error(r, 400)


def test_isolation(http, admin, demo):
    theirs = http.expect(_create(http, type="cert", blob="admin's", user_id=admin["user_id"]), 201)[
        "credential"
    ]
    mine = http.expect(
        _create(http, http.demo_token, type="cert", blob="demo's", user_id=demo["user_id"]), 201
    )["credential"]
    try:
        demo_token = http.demo_token
        # a user creates credentials only for themselves
        r = _create(http, demo_token, type="cert", blob="x", user_id=admin["user_id"])
        _assert_error(r, 403)
        # they list only their own, whatever they ask for
        listed = http.expect(http.get("credentials", token=demo_token), 200)["credentials"]
        assert {c["user_id"] for c in listed} == {demo["user_id"]}
        assert mine["id"] in {c["id"] for c in listed}
        _assert_error(http.get(f"credentials?user_id={admin['user_id']}", token=demo_token), 403)
        # and cannot read, change or delete someone else's
        _assert_error(http.get(f"credentials/{theirs['id']}", token=demo_token), 403)
        r = http.patch(
            f"credentials/{theirs['id']}", token=demo_token, json={"credential": {"blob": "x"}}
        )
        _assert_error(r, 403)
        _assert_error(http.delete(f"credentials/{theirs['id']}", token=demo_token), 403)
        # nor hand their own to someone else
        r = http.patch(
            f"credentials/{mine['id']}",
            token=demo_token,
            json={"credential": {"user_id": admin["user_id"]}},
        )
        _assert_error(r, 403)
        assert http.expect(http.get(f"credentials/{theirs['id']}"), 200)["credential"]["blob"] == (
            "admin's"
        )
        # the admin sees everyone's
        every = {c["id"] for c in http.expect(http.get("credentials"), 200)["credentials"]}
        assert {theirs["id"], mine["id"]} <= every
    finally:
        http.expect(http.delete(f"credentials/{theirs['id']}"), 204)
        http.expect(http.delete(f"credentials/{mine['id']}", token=http.demo_token), 204)


# -- OS-EC2 ---------------------------------------------------------------------------


def test_ec2_cli(run_cli, admin):
    made = run_cli("ec2", "credentials", "create")
    access = made["access"]
    try:
        assert made["project_id"] == admin["project_id"]
        assert made["user_id"] == admin["user_id"]
        assert len(made["secret"]) == 32 and int(made["secret"], 16) >= 0
        assert made["trust_id"] is None
        listed = run_cli("ec2", "credentials", "list")
        row = next(r for r in listed if r["Access"] == access)
        assert row["Secret"] == made["secret"]
        assert row["Project ID"] == admin["project_id"]
        shown = run_cli("ec2", "credentials", "show", access)
        assert shown["secret"] == made["secret"]
        assert shown["project_id"] == admin["project_id"]
    finally:
        run_cli("ec2", "credentials", "delete", access)
    assert access not in {r["Access"] for r in run_cli("ec2", "credentials", "list")}
    with pytest.raises(run_cli.Error):
        run_cli("ec2", "credentials", "show", access)


def test_ec2_http_shape(http, admin, cloud):
    uid = admin["user_id"]
    r = http.post(f"users/{uid}/credentials/OS-EC2", json={"tenant_id": admin["project_id"]})
    cred = http.expect(r, 201)["credential"]
    assert set(cred) == {"user_id", "tenant_id", "access", "secret", "trust_id", "links"}
    assert cred["tenant_id"] == admin["project_id"]
    assert cred["trust_id"] is None
    assert cred["links"]["self"] == (
        f"{cloud.base_url}/identity/v3/users/{uid}/credentials/OS-EC2/{cred['access']}"
    )
    # it is an ordinary credential too, of type ec2, with the keys in its blob
    cid = hashlib.sha256(cred["access"].encode()).hexdigest()
    stored = http.expect(http.get(f"credentials/{cid}"), 200)["credential"]
    assert stored["type"] == "ec2"
    assert json.loads(stored["blob"])["secret"] == cred["secret"]
    listed = http.expect(http.get("credentials?type=ec2"), 200)["credentials"]
    assert cid in {c["id"] for c in listed}

    # errors
    _assert_error(http.post(f"users/{uid}/credentials/OS-EC2", json={}), 400)
    r = http.post(f"users/{uid}/credentials/OS-EC2", json={"tenant_id": "no-such-project"})
    _assert_error(r, 404)
    _assert_error(http.get(f"users/{uid}/credentials/OS-EC2/{uuid.uuid4().hex}"), 404)
    http.expect(http.delete(f"users/{uid}/credentials/OS-EC2/{cred['access']}"), 204)
    _assert_error(http.delete(f"users/{uid}/credentials/OS-EC2/{cred['access']}"), 404)


def test_ec2_isolation(http, run_cli, admin, demo):
    # demo makes its own with the CLI
    mine = run_cli("ec2", "credentials", "create", cloud="nubo-demo")
    assert mine["user_id"] == demo["user_id"]
    assert mine["project_id"] == demo["project_id"]
    r = http.post(
        f"users/{admin['user_id']}/credentials/OS-EC2", json={"tenant_id": admin["project_id"]}
    )
    theirs = http.expect(r, 201)["credential"]
    demo_token = http.demo_token
    try:
        admin_path = f"users/{admin['user_id']}/credentials/OS-EC2"
        demo_path = f"users/{demo['user_id']}/credentials/OS-EC2"
        # not for someone else, not someone else's list, not someone else's key
        r = http.post(admin_path, token=demo_token, json={"tenant_id": demo["project_id"]})
        _assert_error(r, 403)
        _assert_error(http.get(admin_path, token=demo_token), 403)
        _assert_error(http.get(f"{admin_path}/{theirs['access']}", token=demo_token), 403)
        _assert_error(http.delete(f"{admin_path}/{theirs['access']}", token=demo_token), 403)
        # naming themselves in the path does not help
        _assert_error(http.get(f"{demo_path}/{theirs['access']}", token=demo_token), 403)
        _assert_error(http.delete(f"{demo_path}/{theirs['access']}", token=demo_token), 403)
        own = http.expect(http.get(demo_path, token=demo_token), 200)["credentials"]
        assert {c["access"] for c in own} == {mine["access"]}
        http.expect(http.get(f"{admin_path}/{theirs['access']}"), 200)
    finally:
        run_cli("ec2", "credentials", "delete", mine["access"], cloud="nubo-demo")
        http.expect(
            http.delete(f"users/{admin['user_id']}/credentials/OS-EC2/{theirs['access']}"), 204
        )


# -- tenant isolation of credentials ------------------------------------------------------


def test_ec2_needs_a_role_on_the_project(http, member, admin, unique):
    uid = member["user"]["id"]
    token = member["token"]
    path = f"users/{uid}/credentials/OS-EC2"
    foreign = http.make_project(unique("foreign"))
    # a member cannot tie a key to a project they have no role on
    r = http.post(path, token=token, json={"tenant_id": foreign["id"]})
    assert foreign["id"] in _assert_error(r, 403)["message"]
    # nor can an admin, for them or for themselves
    _assert_error(http.post(path, json={"tenant_id": foreign["id"]}), 403)
    r = http.post(f"users/{admin['user_id']}/credentials/OS-EC2", json={"tenant_id": foreign["id"]})
    _assert_error(r, 403)
    # a project that does not exist is still a 404
    _assert_error(http.post(path, token=token, json={"tenant_id": uuid.uuid4().hex}), 404)
    assert http.expect(http.get(path, token=token), 200)["credentials"] == []

    # their own project is fine, and so is one they reach through a group
    own = http.post(path, token=token, json={"tenant_id": member["project"]["id"]})
    assert http.expect(own, 201)["credential"]["tenant_id"] == member["project"]["id"]
    group = http.make_group(unique("credgrp"))
    http.expect(http.put(f"groups/{group['id']}/users/{uid}"), 204)
    http.grant("reader", group=group["id"], project=foreign["id"])
    via_group = http.post(path, token=token, json={"tenant_id": foreign["id"]})
    assert http.expect(via_group, 201)["credential"]["tenant_id"] == foreign["id"]
    # as can an admin now that the user has a role there
    by_admin = http.expect(http.post(path, json={"tenant_id": foreign["id"]}), 201)
    assert by_admin["credential"]["user_id"] == uid
    listed = http.expect(http.get(path, token=token), 200)["credentials"]
    assert sorted(c["tenant_id"] for c in listed) == sorted(
        [member["project"]["id"], foreign["id"], foreign["id"]]
    )


def test_stored_credentials_need_a_role_on_the_project(http, member, unique):
    uid = member["user"]["id"]
    token = member["token"]
    own_project = member["project"]["id"]
    foreign = http.make_project(unique("foreign"))["id"]
    # ec2 or not, a member cannot store a credential on a project they have no role on
    r = _create(http, token, type="ec2", blob=_ec2_blob(), user_id=uid, project_id=foreign)
    assert foreign in _assert_error(r, 403)["message"]
    _assert_error(_create(http, token, type="cert", blob="b", user_id=uid, project_id=foreign), 403)
    r = _create(http, token, type="ec2", blob=_ec2_blob(), user_id=uid, project_id="nope")
    _assert_error(r, 404)
    assert (
        http.expect(http.get(f"credentials?user_id={uid}", token=token), 200)["credentials"] == []
    )

    r = _create(http, token, type="ec2", blob=_ec2_blob(), user_id=uid, project_id=own_project)
    ec2 = http.expect(r, 201)["credential"]
    cert = http.expect(_create(http, token, type="cert", blob="b", user_id=uid), 201)["credential"]
    # nor move one to another project afterwards, whether they have a role there or not
    for cred in (ec2, cert):
        r = http.patch(
            f"credentials/{cred['id']}", token=token, json={"credential": {"project_id": foreign}}
        )
        assert "project_id" in _assert_error(r, 403)["message"]
    r = http.patch(
        f"credentials/{cert['id']}", token=token, json={"credential": {"project_id": own_project}}
    )
    _assert_error(r, 403)
    r = http.patch(
        f"credentials/{ec2['id']}", token=token, json={"credential": {"project_id": None}}
    )
    _assert_error(r, 403)
    # restating the owner and the project is no change
    same = {"user_id": uid, "project_id": own_project, "blob": _ec2_blob()}
    r = http.patch(f"credentials/{ec2['id']}", token=token, json={"credential": same})
    assert http.expect(r, 200)["credential"]["project_id"] == own_project
    for cred, project in ((ec2, own_project), (cert, None)):
        shown = http.expect(http.get(f"credentials/{cred['id']}", token=token), 200)
        assert shown["credential"]["project_id"] == project

    # an admin may tie a user's credential to any project (Tempest stores ec2
    # credentials for users without a role on the project) and move one there
    r = _create(http, type="ec2", blob=_ec2_blob(), user_id=uid, project_id=foreign)
    by_admin = http.expect(r, 201)["credential"]
    assert by_admin["project_id"] == foreign
    r = http.patch(f"credentials/{cert['id']}", json={"credential": {"project_id": foreign}})
    assert http.expect(r, 200)["credential"]["project_id"] == foreign
    # the owner cannot change such a credential, only delete it
    for cred in (by_admin, cert):
        r = http.patch(
            f"credentials/{cred['id']}", token=token, json={"credential": {"blob": _ec2_blob()}}
        )
        _assert_error(r, 403)
        http.expect(http.delete(f"credentials/{cred['id']}", token=token), 204)
    http.expect(http.delete(f"credentials/{ec2['id']}", token=token), 204)


def test_restricted_application_credential_cannot_make_ec2(http, member, unique):
    uid = member["user"]["id"]
    project = member["project"]["id"]
    path = f"users/{uid}/credentials/OS-EC2"
    made = http.expect(http.post(path, token=member["token"], json={"tenant_id": project}), 201)
    made_id = hashlib.sha256(made["credential"]["access"].encode()).hexdigest()

    rtoken = _app_cred_token(http, member, unique("restricted"))
    error = _assert_error(http.post(path, token=rtoken, json={"tenant_id": project}), 403)
    assert "application_credential" in error["message"]
    r = _create(http, rtoken, type="ec2", blob=_ec2_blob(), user_id=uid, project_id=project)
    assert "application_credential" in _assert_error(r, 403)["message"]
    # nor re-key an existing one, nor turn another credential into one
    r = http.patch(
        f"credentials/{made_id}", token=rtoken, json={"credential": {"blob": _ec2_blob()}}
    )
    _assert_error(r, 403)
    cert = http.expect(_create(http, rtoken, type="cert", blob="b", user_id=uid), 201)
    cert_id = cert["credential"]["id"]
    r = http.patch(
        f"credentials/{cert_id}",
        token=rtoken,
        json={"credential": {"type": "ec2", "blob": _ec2_blob(), "project_id": project}},
    )
    _assert_error(r, 403)
    listed = http.expect(http.get(path, token=member["token"]), 200)["credentials"]
    assert [c["access"] for c in listed] == [made["credential"]["access"]]
    # reading them is still allowed
    http.expect(http.get(path, token=rtoken), 200)

    # an unrestricted application credential may
    utoken = _app_cred_token(http, member, unique("unrestricted"), unrestricted=True)
    again = http.expect(http.post(path, token=utoken, json={"tenant_id": project}), 201)
    assert again["credential"]["user_id"] == uid
    r = _create(http, utoken, type="ec2", blob=_ec2_blob(), user_id=uid, project_id=project)
    http.expect(r, 201)


@pytest.fixture
def live_identity(cloud) -> Iterator[Identity]:
    """The identity service layer on the running cloud's database and keys (what the
    S3 API will call in-process to check request signatures)."""
    cfg = Config(data_dir=str(cloud.data_dir))
    cfg.database.url = cloud.database_url
    db = Database(cfg.database_url)
    try:
        yield Identity(cfg, db)
    finally:
        db.dispose()


def test_ec2_key_stops_working_without_role_user_or_project(http, member, live_identity, unique):
    uid = member["user"]["id"]
    project = member["project"]["id"]
    made = http.post(
        f"users/{uid}/credentials/OS-EC2", token=member["token"], json={"tenant_id": project}
    )
    cred = http.expect(made, 201)["credential"]
    access = cred["access"]
    creds = live_identity.credentials
    usable = (uid, project, cred["secret"])
    assert creds.ec2_by_access(access) == usable
    with pytest.raises(NotFound):
        creds.ec2_by_access(uuid.uuid4().hex)

    # the owner loses their role on the project, then gets it back (through a group)
    http.revoke("member", user=uid, project=project)
    with pytest.raises(Unauthorized):
        creds.ec2_by_access(access)
    group = http.make_group(unique("credgrp"))
    http.expect(http.put(f"groups/{group['id']}/users/{uid}"), 204)
    http.grant("member", group=group["id"], project=project)
    assert creds.ec2_by_access(access) == usable

    # the user is disabled, then enabled
    user_path = f"users/{uid}"
    http.expect(http.patch(user_path, json={"user": {"enabled": False}}), 200)
    with pytest.raises(Unauthorized):
        creds.ec2_by_access(access)
    http.expect(http.patch(user_path, json={"user": {"enabled": True}}), 200)
    assert creds.ec2_by_access(access) == usable

    # the project is disabled, then enabled
    project_path = f"projects/{project}"
    http.expect(http.patch(project_path, json={"project": {"enabled": False}}), 200)
    with pytest.raises(Unauthorized):
        creds.ec2_by_access(access)
    http.expect(http.patch(project_path, json={"project": {"enabled": True}}), 200)
    assert creds.ec2_by_access(access) == usable

    # a key on a project of a domain that gets disabled
    domain = http.make_domain(unique("creddom"))
    elsewhere = http.make_project(unique("credproj"), domain_id=domain["id"])
    http.grant("member", user=uid, project=elsewhere["id"])
    other = http.post(f"users/{uid}/credentials/OS-EC2", json={"tenant_id": elsewhere["id"]})
    other_access = http.expect(other, 201)["credential"]["access"]
    assert creds.ec2_by_access(other_access)[1] == elsewhere["id"]
    http.expect(http.patch(f"domains/{domain['id']}", json={"domain": {"enabled": False}}), 200)
    with pytest.raises(Unauthorized):
        creds.ec2_by_access(other_access)
    # the first key is not affected
    assert creds.ec2_by_access(access) == usable
