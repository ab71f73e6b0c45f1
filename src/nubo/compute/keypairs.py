"""Keypairs (``/os-keypairs``): public keys (SSH, or X.509 certificates from 2.2) a user
gives servers. They belong to a user, not a project; an admin may name another user
(``user_id``, 2.10). Before 2.92 a create without ``public_key`` generates the key and
answers with its private half once; from 2.92 the public key is required.

Fingerprints are Nova's: the MD5 of the SSH key blob, or the SHA-1 of the DER
certificate, as colon-separated hex pairs.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nubo.compute import models as m
from nubo.compute import quotas
from nubo.compute.access import Caller
from nubo.compute.validation import check_name
from nubo.errors import BadRequest, Conflict, NotFound

if TYPE_CHECKING:
    from nubo.compute.service import ComputeService

TYPES = ("ssh", "x509")
NAME = re.compile(r"^[_\- a-zA-Z0-9]+$")
NAME_292 = re.compile(r"^[_\-@. a-zA-Z0-9]+$")  # 2.92 adds '@' and '.'
KEY_BITS = 2048
# Microsoft's user principal name, which WinRM certificate logins read
UPN_OID = ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")


# -- keys -------------------------------------------------------------------------------


def _colon_hex(digest: bytes) -> str:
    raw = binascii.hexlify(digest).decode("ascii")
    return ":".join(raw[i : i + 2] for i in range(0, len(raw), 2))


def ssh_fingerprint(public_key: str) -> str:
    """MD5 of the key blob (the base64 field of an OpenSSH public key line); 400 when
    the text is not a public key cryptography can load."""
    try:
        serialization.load_ssh_public_key(public_key.encode("utf-8"))
        blob = base64.b64decode(public_key.split(" ")[1])
    except Exception:  # anything cryptography cannot load is not a public key
        raise BadRequest("Keypair data is invalid: failed to generate fingerprint") from None
    return _colon_hex(hashlib.md5(blob, usedforsecurity=False).digest())


def x509_fingerprint(pem: str) -> str:
    """SHA-1 of a PEM certificate's DER form."""
    try:
        cert = x509.load_pem_x509_certificate(pem.encode("utf-8"))
    except Exception as exc:  # anything cryptography cannot load is not a certificate
        raise BadRequest(
            f"Keypair data is invalid: failed to generate X509 fingerprint. Error message: {exc}"
        ) from None
    return _colon_hex(cert.fingerprint(hashes.SHA1()))  # Nova's fingerprint


def fingerprint(public_key: str, key_type: str) -> str:
    return x509_fingerprint(public_key) if key_type == "x509" else ssh_fingerprint(public_key)


def generate_ssh() -> tuple[str, str, str]:
    """A new RSA key as Nova makes one: (private key PEM, ``ssh-rsa ... Generated-by-Nova``,
    fingerprint)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode("ascii")
    public_line = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    public = public_line.decode("ascii") + " Generated-by-Nova"
    return private, public, ssh_fingerprint(public)


def _der_utf8(text: str) -> bytes:
    data = text.encode("utf-8")
    size = len(data)
    if size < 0x80:
        header = bytes([0x0C, size])
    else:
        length = size.to_bytes((size.bit_length() + 7) // 8, "big")
        header = bytes([0x0C, 0x80 | len(length)]) + length
    return header + data


def generate_x509(user_id: str) -> tuple[str, str, str]:
    """A self-signed client certificate for ``user_id`` (WinRM logins), as Nova makes:
    (base64 of a password-less PKCS#12 bundle, the certificate PEM, fingerprint)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user_id or "nubo")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.OtherName(UPN_OID, _der_utf8(f"{user_id}@localhost"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    bundle = pkcs12.serialize_key_and_certificates(
        None, key, cert, None, serialization.NoEncryption()
    )
    return base64.b64encode(bundle).decode("ascii"), pem, x509_fingerprint(pem)


# -- lookups ------------------------------------------------------------------------------


def not_found(name: str, user_id: str) -> NotFound:
    return NotFound(f"Keypair {name} not found for user {user_id}")


def find_keypair(svc: ComputeService, s: Session, user_id: str, name: str) -> m.KeyPair:
    """The user's keypair called ``name``; 404 otherwise."""
    row = s.scalar(select(m.KeyPair).where(m.KeyPair.user_id == user_id, m.KeyPair.name == name))
    if row is None:
        raise not_found(name, user_id)
    return row


def find_keypair_for_server(svc: ComputeService, s: Session, user_id: str, name: Any) -> m.KeyPair:
    """The keypair a server create or rebuild names (``key_name``); 400 "Invalid key_name
    provided." as Nova answers when the user has none of that name."""
    if not isinstance(name, str):
        raise BadRequest("Invalid key_name provided.")
    row = s.scalar(select(m.KeyPair).where(m.KeyPair.user_id == user_id, m.KeyPair.name == name))
    if row is None:
        raise BadRequest("Invalid key_name provided.")
    return row


# -- the API's operations ---------------------------------------------------------------------


def list_keypairs(
    svc: ComputeService,
    caller: Caller,
    user_id: str | None,
    limit: int | None = None,
    marker: str | None = None,
) -> list[m.KeyPair]:
    """A user's keypairs by name; ``marker`` is a keypair name (400 when unknown)."""
    owner = user_id or caller.user_id
    caller.check("os-keypairs:index", {"user_id": owner})
    stmt = select(m.KeyPair).where(m.KeyPair.user_id == owner).order_by(m.KeyPair.name)
    with svc.db.reader() as s:
        if marker is not None:
            if (
                s.scalar(
                    select(m.KeyPair.id).where(m.KeyPair.user_id == owner, m.KeyPair.name == marker)
                )
                is None
            ):
                raise BadRequest(f"Marker {marker} could not be found.")
            stmt = stmt.where(m.KeyPair.name > marker)
        if limit is not None:
            stmt = stmt.limit(limit)
        return list(s.scalars(stmt))


def show_keypair(svc: ComputeService, caller: Caller, user_id: str | None, name: str) -> m.KeyPair:
    owner = user_id or caller.user_id
    caller.check("os-keypairs:show", {"user_id": owner})
    with svc.db.reader() as s:
        return find_keypair(svc, s, owner, name)


def delete_keypair(svc: ComputeService, caller: Caller, user_id: str | None, name: str) -> None:
    owner = user_id or caller.user_id
    caller.check("os-keypairs:delete", {"user_id": owner})
    with svc.db.session() as s:
        s.delete(find_keypair(svc, s, owner, name))


def check_keypair_name(name: Any, allow_at_and_dot: bool) -> str:
    """1-255 of letters, digits, ``_``, ``-`` and spaces (plus ``@`` and ``.`` from 2.92),
    not starting or ending with a space."""
    check_name(name, "name")
    pattern = NAME_292 if allow_at_and_dot else NAME
    if not pattern.match(name):
        raise BadRequest(
            f"Invalid input for field/attribute name. Value: {name}. '{name}' does not match "
            f"'{pattern.pattern}'"
        )
    return str(name)


def create_keypair(
    svc: ComputeService,
    caller: Caller,
    *,
    name: str,
    key_type: str = "ssh",
    public_key: str | None = None,
    user_id: str | None = None,
) -> tuple[m.KeyPair, str | None]:
    """Import ``public_key`` or, when None, generate a key; returns the row and the
    private key (generated keys only). 403 over the ``key_pairs`` quota, 400 for a key
    that does not parse, 409 when the user has a keypair of that name."""
    owner = user_id or caller.user_id
    caller.check("os-keypairs:create", {"user_id": owner})
    if key_type not in TYPES:
        raise BadRequest(
            f"Invalid input for field/attribute type. Value: {key_type}. "
            f"'{key_type}' is not one of ['ssh', 'x509']"
        )
    with svc.db.reader() as s:
        quotas.check_quota(svc, s, caller.project_id, owner, {"key_pairs": 1})
    private: str | None = None
    if public_key is None:
        if key_type == "x509":
            private, public_key, print_ = generate_x509(owner)
        else:
            private, public_key, print_ = generate_ssh()
    else:
        print_ = fingerprint(public_key, key_type)
    row = m.KeyPair(
        user_id=owner,
        name=name,
        type=key_type,
        fingerprint=print_,
        public_key=public_key,
        created_at=dt.datetime.now(dt.UTC),
    )
    try:
        with svc.db.session() as s:
            if (
                s.scalar(
                    select(m.KeyPair.id).where(m.KeyPair.user_id == owner, m.KeyPair.name == name)
                )
                is not None
            ):
                raise Conflict(f"Key pair '{name}' already exists.")
            s.add(row)
            s.flush()
            # a concurrent create may have taken the last unit meanwhile
            quotas.check_quota(svc, s, caller.project_id, owner, {"key_pairs": 0})
    except IntegrityError:
        raise Conflict(f"Key pair '{name}' already exists.") from None
    return row, private


# -- views -----------------------------------------------------------------------------------


def _timestamp(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def view(
    row: m.KeyPair, *, detail: bool, with_type: bool, with_user: bool = False
) -> dict[str, Any]:
    """A keypair in a list (name, public_key, fingerprint), in create's answer (plus
    user_id) or show's (plus id and timestamps); ``type`` from 2.2."""
    body: dict[str, Any] = {
        "name": row.name,
        "public_key": row.public_key,
        "fingerprint": row.fingerprint,
    }
    if with_user or detail:
        body["user_id"] = row.user_id
    if detail:
        body.update(
            id=row.id,
            created_at=_timestamp(row.created_at),
            updated_at=None,
            deleted=False,
            deleted_at=None,
        )
    if with_type:
        body["type"] = row.type
    return body
