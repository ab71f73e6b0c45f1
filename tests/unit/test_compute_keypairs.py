"""Keypair fingerprints and key generation, checked against what ssh-keygen and
openssl print for the same keys."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from nubo.compute import keypairs
from nubo.errors import BadRequest

# made with ssh-keygen; fingerprints from `ssh-keygen -l -E md5`
ED25519 = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFI94nu4knryMTeb7dUsDX2HJO/xAgbWf/vm/qCGCb/m test@nubo"
)
ED25519_MD5 = "4f:8e:c1:e0:6e:86:6f:a6:87:de:1a:7c:0f:ea:f1:58"
RSA = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDDzPZtXdRsLyZfCCnv4uNXXbbvL/Td34Gaw+9tnIbmizqeJgA1nXw"
    "lr+Hjn42pgc8RyDRcvE/qjnakg1MI/1v8+fhbGbqtS3JJAX3Q5fMFwCV4gmvZ+4jU4Z3qCk+IoOjgsJC9aFVOtZJcp"
    "BN/kSK2ofq4IV871UQmQosKMW4vJQ== rsa@nubo"
)
RSA_MD5 = "b5:98:be:bf:5b:e4:d3:47:10:fe:5a:aa:b0:e6:5a:eb"
# made with openssl req -x509; fingerprint from `openssl x509 -fingerprint -sha1`
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


def test_ssh_fingerprints_match_ssh_keygen() -> None:
    assert keypairs.ssh_fingerprint(ED25519) == ED25519_MD5
    assert keypairs.ssh_fingerprint(RSA) == RSA_MD5
    # no comment, trailing newline: the same key
    assert keypairs.ssh_fingerprint(" ".join(ED25519.split()[:2]) + "\n") == ED25519_MD5


def test_x509_fingerprint_matches_openssl() -> None:
    assert keypairs.x509_fingerprint(CERT) == CERT_SHA1
    assert keypairs.fingerprint(CERT, "x509") == CERT_SHA1


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ssh-rsa",
        "ssh-rsa not-base64!",
        "ssh-rsa AAAA",
        "ssh-ed25519 " + base64.b64encode(b"garbage").decode(),
        "-----BEGIN PUBLIC KEY-----",
        CERT,
    ],
)
def test_bad_ssh_keys_are_400(text: str) -> None:
    with pytest.raises(BadRequest, match="Keypair data is invalid: failed to generate fingerprint"):
        keypairs.ssh_fingerprint(text)


def test_bad_certificate_is_400() -> None:
    with pytest.raises(BadRequest, match="failed to generate X509 fingerprint"):
        keypairs.x509_fingerprint(ED25519)


def test_generated_ssh_key_is_a_working_rsa_pair(tmp_path: Path) -> None:
    private, public, fingerprint = keypairs.generate_ssh()
    assert private.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert public.startswith("ssh-rsa ") and public.endswith(" Generated-by-Nova")
    assert fingerprint == keypairs.ssh_fingerprint(public)
    key = serialization.load_pem_private_key(private.encode(), None)
    derived = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    assert public.split()[1] == derived.decode().split()[1]
    assert key.key_size == 2048  # type: ignore[union-attr]
    if shutil.which("ssh-keygen"):
        path = tmp_path / "key.pub"
        path.write_text(public + "\n")
        out = subprocess.run(
            ["ssh-keygen", "-l", "-E", "md5", "-f", str(path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert f"MD5:{fingerprint} " in out


def test_generated_x509_is_a_client_certificate_with_its_key() -> None:
    bundle, pem, fingerprint = keypairs.generate_x509("user-1")
    cert = x509.load_pem_x509_certificate(pem.encode())
    assert cert.subject.rfc4514_string() == "CN=user-1"
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH in usage
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    other = names.get_values_for_type(x509.OtherName)[0]
    assert other.type_id == keypairs.UPN_OID and other.value.endswith(b"user-1@localhost")
    assert fingerprint == keypairs.x509_fingerprint(pem)
    key, bundled, _ = pkcs12.load_key_and_certificates(base64.b64decode(bundle), None)
    assert bundled == cert and key is not None


@pytest.mark.parametrize(
    ("name", "v292", "ok"),
    [
        ("my key_1-x", False, True),
        ("a@b.c", False, False),
        ("a@b.c", True, True),
        (" lead", True, False),
        ("trail ", False, False),
        ("", False, False),
        ("x" * 255, False, True),
        ("x" * 256, False, False),
        ("tab\tin", True, False),
        ("slash/", True, False),
        ("é", True, False),
    ],
)
def test_keypair_names(name: str, v292: bool, ok: bool) -> None:
    if ok:
        assert keypairs.check_keypair_name(name, v292) == name
    else:
        with pytest.raises(BadRequest, match="field/attribute name"):
            keypairs.check_keypair_name(name, v292)
