"""Stored credentials (/v3/credentials) and EC2 credentials (OS-EC2): CRUD with
openstacksdk, the CLI and raw HTTP, encryption at rest, and isolation."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from openstack import exceptions as sdk_exc


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
