"""Keypairs (/compute/v2.1/os-keypairs) through openstacksdk, the ``openstack keypair``
CLI and raw HTTP: import and generation (and 2.92's end of it), SSH and X.509 keys,
Nova's fingerprints, bodies and status codes per microversion, names, duplicates, bad
keys, per-user isolation and an admin acting for another user (2.10), pages (2.35) and
the key_pairs quota."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from openstack import exceptions as sdk_exc

from .compute import QUOTAS, nova_error, v

KEYPAIRS = "/compute/v2.1/os-keypairs"

# made with ssh-keygen; MD5 fingerprint from `ssh-keygen -l -E md5`
ED25519 = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFI94nu4knryMTeb7dUsDX2HJO/xAgbWf/vm/qCGCb/m test@nubo"
)
ED25519_MD5 = "4f:8e:c1:e0:6e:86:6f:a6:87:de:1a:7c:0f:ea:f1:58"
CERT = """-----BEGIN CERTIFICATE-----
MIIB+jCCAWOgAwIBAgIUS8ryR+NxLX9nULj5GDNFjnbSOXQwDQYJKoZIhvcNAQEL
BQAwDzENMAsGA1UEAwwEdGVzdDAeFw0yNjExMjEwNDQ0MTZaFw0zNjExMTgwNDQ0
MTZaMA8xDTALBgNVBAMMBHRlc3QwgZ8wDQYJKoZIhvcNAQEBBQADgY0AMIGJAoGB
AOd3F067Td2DXskzZboBB1u0Aerei5SrjCCinU153JZv7KKw2D0AqoRcuyMFnTAB
F2p1MF6Zy+pyzIbVNi2R53TPo7qdAb+0tV4q1Mgcv0r9nLWJ7kDUD/YW6TtMWH6i
WAQjB2ZVkUVosTVYbCunt5hyNYNGh1Jcbpy4svkdIQizAgMBAAGjUzBRMB0GA1Ud
DgQWBBTGfXA0oxIlbcvmE2BJSgSwOr324DAfBgNVHSMEGDAWgBTGfXA0oxIlbcvm
E2BJSgSwOr324DAPBgNVHRMBAf8EBTADAQH/MA0GCSqGSIb3DQEBCwUAA4GBAAlY
XCsuYEwwTtdLuRNWYVxvQBUZAtdUlif5mkiu4aySFweQjmWDh9H5m6QXrY9efNph
25D5yYyu8XhmjTnstuXEBRVIK/kvYeGP7U7yYxY3i+1JmJpVPgE64lLcAF2nq2JH
4A+sYZDBNMNt5rBPQ9nrH6Qb94BIuG1mnytmcfv4
-----END CERTIFICATE-----
"""
CERT_SHA1 = "b4:cd:b4:5c:12:8b:0c:46:5a:11:29:06:a7:59:62:16:b1:67:c2:08"


def create(http, token, version="2.2", **fields: Any):
    return http.post(KEYPAIRS, json={"keypair": fields}, token=token, headers=v(version))


def names(http, token, version="2.2", **params: Any) -> list[str]:
    r = http.get(KEYPAIRS, token=token, params=params, headers=v(version))
    return [k["keypair"]["name"] for k in http.expect(r, 200)["keypairs"]]


# -- import and generation -----------------------------------------------------------------


def test_import_show_list_delete(http, compute_member):
    token = compute_member["token"]
    created = http.expect(create(http, token, name="mine", public_key=ED25519), 201)["keypair"]
    assert created == {
        "name": "mine",
        "public_key": ED25519,
        "fingerprint": ED25519_MD5,
        "user_id": compute_member["user_id"],
        "type": "ssh",
    }
    shown = http.expect(http.get(f"{KEYPAIRS}/mine", token=token, headers=v("2.2")), 200)
    key = shown["keypair"]
    assert key["fingerprint"] == ED25519_MD5 and key["type"] == "ssh"
    assert key["user_id"] == compute_member["user_id"] and isinstance(key["id"], int)
    assert key["deleted"] is False and key["deleted_at"] is None and key["updated_at"] is None
    assert key["created_at"].startswith("20") and "T" in key["created_at"]
    listed = http.expect(http.get(KEYPAIRS, token=token, headers=v("2.2")), 200)
    assert listed == {
        "keypairs": [
            {"keypair": {"name": "mine", "public_key": ED25519, "fingerprint": ED25519_MD5,
                         "type": "ssh"}}
        ]
    }  # fmt: skip
    assert http.delete(f"{KEYPAIRS}/mine", token=token, headers=v("2.2")).status_code == 204
    nova_error(
        http.get(f"{KEYPAIRS}/mine", token=token),
        404,
        "itemNotFound",
        f"Keypair mine not found for user {compute_member['user_id']}",
    )
    nova_error(http.delete(f"{KEYPAIRS}/mine", token=token), 404, "itemNotFound")


def test_bodies_and_codes_before_2_2(http, compute_member):
    token = compute_member["token"]
    r = create(http, token, version="2.1", name="old", public_key=ED25519)
    created = http.expect(r, 200)["keypair"]
    assert "type" not in created and created["user_id"] == compute_member["user_id"]
    shown = http.expect(http.get(f"{KEYPAIRS}/old", token=token), 200)["keypair"]
    assert "type" not in shown
    # type is not a 2.1 field
    r = create(http, token, version="2.1", name="typed", public_key=ED25519, type="ssh")
    nova_error(r, 400, "badRequest", "type")
    assert http.delete(f"{KEYPAIRS}/old", token=token).status_code == 202


def test_generated_keys_until_2_91(http, compute_member):
    token = compute_member["token"]
    made = http.expect(create(http, token, version="2.91", name="gen"), 201)["keypair"]
    assert made["private_key"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert made["public_key"].startswith("ssh-rsa ") and made["type"] == "ssh"
    assert len(made["fingerprint"].split(":")) == 16
    shown = http.expect(http.get(f"{KEYPAIRS}/gen", token=token), 200)["keypair"]
    assert "private_key" not in shown and shown["public_key"] == made["public_key"]
    # from 2.92 the public key is required
    r = create(http, token, version="2.92", name="gen2")
    nova_error(r, 400, "badRequest", "public_key")


def test_x509_keys(http, compute_member):
    token = compute_member["token"]
    r = create(http, token, name="cert", type="x509", public_key=CERT)
    imported = http.expect(r, 201)["keypair"]
    assert imported["type"] == "x509" and imported["fingerprint"] == CERT_SHA1
    made = http.expect(create(http, token, name="gencert", type="x509"), 201)["keypair"]
    assert made["public_key"].startswith("-----BEGIN CERTIFICATE-----")
    assert base64.b64decode(made["private_key"])  # a PKCS#12 bundle
    r = create(http, token, name="bad", type="x509", public_key=ED25519)
    nova_error(r, 400, "badRequest", "failed to generate X509 fingerprint")


@pytest.mark.parametrize(
    ("fields", "version", "needle"),
    [
        ({"name": "k", "public_key": "ssh-rsa nonsense"}, "2.2", "failed to generate fingerprint"),
        ({"name": "k", "public_key": ""}, "2.2", "failed to generate fingerprint"),
        ({"name": "k", "public_key": 5}, "2.2", "public_key"),
        ({"name": "k", "public_key": ED25519, "type": "pgp"}, "2.2", "type"),
        ({"name": "bad!", "public_key": ED25519}, "2.2", "name"),
        ({"name": "a@b.c", "public_key": ED25519}, "2.91", "name"),
        ({"name": " lead", "public_key": ED25519}, "2.92", "name"),
        ({"name": "", "public_key": ED25519}, "2.2", "name"),
        ({"name": "x" * 256, "public_key": ED25519}, "2.2", "name"),
        ({"public_key": ED25519}, "2.2", "name"),
        ({"name": "k", "public_key": ED25519, "user_id": "u"}, "2.9", "user_id"),
        ({"name": "k", "public_key": ED25519, "colour": "red"}, "2.2", "colour"),
    ],
)
def test_invalid_creates(http, compute_member, fields, version, needle):
    r = create(http, compute_member["token"], version=version, **fields)
    assert needle in nova_error(r, 400, "badRequest")


@pytest.mark.parametrize("body", [{}, {"keypair": "k"}, [1], {"keypair": {}, "x": 1}])
def test_malformed_bodies(http, compute_member, body):
    nova_error(http.post(KEYPAIRS, json=body, token=compute_member["token"]), 400, "badRequest")


def test_names_from_2_92_and_duplicates(http, compute_member):
    token = compute_member["token"]
    http.expect(create(http, token, version="2.92", name="me@host.example", public_key=ED25519),
                201)  # fmt: skip
    r = create(http, token, version="2.92", name="me@host.example", public_key=ED25519)
    nova_error(r, 409, "conflictingRequest", "Key pair 'me@host.example' already exists.")
    assert names(http, token) == ["me@host.example"]


# -- users, admins and pages ---------------------------------------------------------------


def test_keypairs_belong_to_their_user(http, compute_member, unique):
    name = unique("shared-name")
    admin_user = http.validate(http.admin_token).json()["token"]["user"]["id"]
    http.expect(create(http, http.admin_token, name=name, public_key=ED25519), 201)
    try:
        token = compute_member["token"]
        assert name not in names(http, token)
        nova_error(http.get(f"{KEYPAIRS}/{name}", token=token), 404, "itemNotFound")
        nova_error(http.delete(f"{KEYPAIRS}/{name}", token=token), 404, "itemNotFound")
        # the same name is free for another user
        http.expect(create(http, token, name=name, public_key=ED25519), 201)
        # a member may not name another user
        r = http.get(KEYPAIRS, token=token, params={"user_id": admin_user}, headers=v("2.10"))
        nova_error(r, 403, "forbidden", "os_compute_api:os-keypairs:index")
        r = http.get(f"{KEYPAIRS}/{name}", token=token, params={"user_id": admin_user},
                     headers=v("2.10"))  # fmt: skip
        nova_error(r, 403, "forbidden")
        # before 2.10 user_id is ignored: their own keypair
        r = http.get(f"{KEYPAIRS}/{name}", token=token, params={"user_id": admin_user})
        assert http.expect(r, 200)["keypair"]["user_id"] == compute_member["user_id"]
    finally:
        http.delete(f"{KEYPAIRS}/{name}")


def test_admin_acts_for_another_user(http, compute_member):
    uid = compute_member["user_id"]
    r = create(http, http.admin_token, version="2.10", name="given", public_key=ED25519,
               user_id=uid)  # fmt: skip
    assert http.expect(r, 201)["keypair"]["user_id"] == uid
    assert names(http, compute_member["token"]) == ["given"]
    listed = http.get(KEYPAIRS, params={"user_id": uid}, headers=v("2.10"))
    assert [k["keypair"]["name"] for k in http.expect(listed, 200)["keypairs"]] == ["given"]
    shown = http.get(f"{KEYPAIRS}/given", params={"user_id": uid}, headers=v("2.10"))
    assert http.expect(shown, 200)["keypair"]["user_id"] == uid
    r = http.delete(f"{KEYPAIRS}/given", params={"user_id": uid}, headers=v("2.10"))
    assert r.status_code == 204
    assert names(http, compute_member["token"]) == []
    # a member cannot create for someone else
    r = create(http, compute_member["token"], version="2.10", name="x", public_key=ED25519,
               user_id="someone-else")  # fmt: skip
    nova_error(r, 403, "forbidden")


def test_pages_from_2_35(http, compute_member):
    token = compute_member["token"]
    for name in ("c", "a", "d", "b"):
        http.expect(create(http, token, name=name, public_key=ED25519), 201)
    assert names(http, token) == ["a", "b", "c", "d"]
    first = http.get(KEYPAIRS, token=token, params={"limit": 2}, headers=v("2.35"))
    page = http.expect(first, 200)
    assert [k["keypair"]["name"] for k in page["keypairs"]] == ["a", "b"]
    link = page["keypairs_links"][0]
    assert link["rel"] == "next" and "marker=b" in link["href"]
    rest = http.get(KEYPAIRS, token=token, params={"marker": "b"}, headers=v("2.35"))
    assert [k["keypair"]["name"] for k in http.expect(rest, 200)["keypairs"]] == ["c", "d"]
    r = http.get(KEYPAIRS, token=token, params={"marker": "zz"}, headers=v("2.35"))
    nova_error(r, 400, "badRequest", "Marker zz could not be found.")
    r = http.get(KEYPAIRS, token=token, params={"limit": "x"}, headers=v("2.35"))
    nova_error(r, 400, "badRequest", "limit")
    # before 2.35 there are no pages
    assert len(names(http, token, version="2.34", limit=2)) == 4
    # unknown parameters are refused from 2.75
    r = http.get(KEYPAIRS, token=token, params={"sort": "name"}, headers=v("2.75"))
    nova_error(r, 400, "badRequest", "sort")


def test_key_pairs_quota(http, compute_member):
    http.expect(
        http.put(f"{QUOTAS}/{compute_member['project_id']}", json={"quota_set": {"key_pairs": 1}}),
        200,
    )
    token = compute_member["token"]
    http.expect(create(http, token, name="one", public_key=ED25519), 201)
    r = create(http, token, name="two", public_key=ED25519)
    nova_error(r, 403, "forbidden", "Quota exceeded, too many key pairs.")
    assert names(http, token) == ["one"]


# -- the clients ---------------------------------------------------------------------------


def test_keypairs_with_openstacksdk(demo_conn, unique):
    name = unique("sdk")
    key = demo_conn.compute.create_keypair(name=name, public_key=ED25519)
    try:
        assert key.fingerprint == ED25519_MD5
        assert demo_conn.compute.get_keypair(name).public_key == ED25519
        assert name in {k.name for k in demo_conn.compute.keypairs()}
    finally:
        demo_conn.compute.delete_keypair(name, ignore_missing=True)
    with pytest.raises(sdk_exc.NotFoundException):
        demo_conn.compute.get_keypair(name)


def test_keypair_commands_of_the_cli(run_cli, unique, tmp_path):
    name = unique("cli")
    public = tmp_path / "key.pub"
    public.write_text(ED25519 + "\n")
    created = run_cli("keypair", "create", "--public-key", str(public), name, cloud="nubo-demo")
    try:
        assert created["fingerprint"] == ED25519_MD5
        listed = run_cli("keypair", "list", cloud="nubo-demo")
        assert {"Name": name, "Fingerprint": ED25519_MD5, "Type": "ssh"} in listed
        shown = run_cli("keypair", "show", name, cloud="nubo-demo")
        assert shown["fingerprint"] == ED25519_MD5 and shown["type"] == "ssh"
        with pytest.raises(run_cli.Error):
            run_cli("keypair", "show", name)  # the admin has no keypair of that name
    finally:
        run_cli("keypair", "delete", name, cloud="nubo-demo")
    with pytest.raises(run_cli.Error):
        run_cli("keypair", "show", name, cloud="nubo-demo")
