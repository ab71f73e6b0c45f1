"""Fernet tokens and their key repository.

Tokens are never stored: a token is a Fernet message (AES-CBC + HMAC-SHA256)
whose payload, packed with msgpack, names the user, the auth methods, the scope,
the expiry and the audit ids. The key repository holds numbered key files: ``0``
is the staged key, the highest number the primary (used to encrypt); every key
decrypts. Rotation promotes the staged key, stages a new one and drops the
oldest beyond ``max_active_keys``, so tokens survive restarts and one rotation.
"""

from __future__ import annotations

import base64
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import msgpack
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from nubo.errors import Unauthorized

FORMAT_VERSION = 1
METHODS = ("password", "token", "application_credential", "external", "totp", "oauth1", "mapped")


class KeyRepository:
    """Numbered Fernet key files in a directory, readable only by their owner."""

    def __init__(self, path: Path, max_active_keys: int = 3) -> None:
        self.path = path
        self.max_active_keys = max(max_active_keys, 2)
        self._lock = threading.Lock()
        self._cached: tuple[float, MultiFernet] | None = None

    def _keys(self) -> dict[int, bytes]:
        keys: dict[int, bytes] = {}
        if not self.path.is_dir():
            return keys
        for entry in self.path.iterdir():
            if entry.name.isdigit():
                keys[int(entry.name)] = entry.read_bytes().strip()
        return keys

    def _write(self, index: int, key: bytes) -> None:
        tmp = self.path / f".{index}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        os.replace(tmp, self.path / str(index))

    def setup(self) -> bool:
        """Create the repository with a staged and a primary key; False if it existed."""
        with self._lock:
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
            if self._keys():
                return False
            self._write(0, Fernet.generate_key())
            self._write(1, Fernet.generate_key())
            self._cached = None
            return True

    def rotate(self) -> int:
        """Promote the staged key to primary and stage a new one; returns the new primary."""
        with self._lock:
            keys = self._keys()
            if not keys:
                raise RuntimeError(f"no key repository at {self.path}: run setup first")
            primary = max(keys) + 1
            os.replace(self.path / "0", self.path / str(primary))
            self._write(0, Fernet.generate_key())
            # keep staged + primary + the newest (max_active_keys - 2) secondaries
            secondaries = sorted(k for k in keys if k not in (0,))
            excess = len(secondaries) + 2 - self.max_active_keys
            for index in secondaries[: max(excess, 0)]:
                (self.path / str(index)).unlink()
            self._cached = None
            return primary

    def fernet(self) -> MultiFernet:
        """A MultiFernet encrypting with the primary; reloaded when the directory changes."""
        stamp = self.path.stat().st_mtime if self.path.exists() else 0.0
        cached = self._cached
        if cached and cached[0] == stamp:
            return cached[1]
        keys = self._keys()
        if not keys:
            raise RuntimeError(f"no Fernet keys in {self.path}")
        ordered = [keys[i] for i in sorted(keys, reverse=True)]  # primary first
        multi = MultiFernet([Fernet(k) for k in ordered])
        self._cached = (stamp, multi)
        return multi


@dataclass(frozen=True)
class TokenPayload:
    user_id: str
    methods: tuple[str, ...]
    expires_at: float
    issued_at: float
    audit_ids: tuple[str, ...]
    project_id: str | None = None
    domain_id: str | None = None
    system: bool = False
    application_credential_id: str | None = None
    trust_id: str | None = None


def new_audit_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()


def _methods_bits(methods: tuple[str, ...]) -> int:
    return sum(1 << METHODS.index(m) for m in set(methods))


def _bits_methods(bits: int) -> tuple[str, ...]:
    return tuple(m for i, m in enumerate(METHODS) if bits & (1 << i))


class TokenFormatter:
    """Packs payloads into Fernet tokens and back."""

    def __init__(self, keys: KeyRepository) -> None:
        self.keys = keys

    def create(self, payload: TokenPayload) -> str:
        scope: list[object] | None = None
        if payload.system:
            scope = ["s", "all"]
        elif payload.project_id:
            scope = ["p", payload.project_id]
        elif payload.domain_id:
            scope = ["d", payload.domain_id]
        packed = msgpack.packb(
            [
                FORMAT_VERSION,
                payload.user_id,
                _methods_bits(payload.methods),
                scope,
                payload.expires_at,
                payload.issued_at,
                list(payload.audit_ids),
                payload.application_credential_id,
                payload.trust_id,
            ]
        )
        token = self.keys.fernet().encrypt_at_time(packed, int(payload.issued_at))
        return token.rstrip(b"=").decode()

    def parse(self, token: str) -> TokenPayload:
        """Decrypt and unpack; any tampering or unknown key is a 401."""
        if not token or len(token) > 4096:
            raise Unauthorized("The request you have made requires authentication.")
        padded = token + "=" * (-len(token) % 4)
        try:
            packed = self.keys.fernet().decrypt(padded.encode())
            fields = msgpack.unpackb(packed)
            # the trust id came later: payloads without it stay valid
            version, user_id, bits, scope, expires_at, issued_at, audit_ids, app_cred, *more = (
                fields
            )
            trust_id = more[0] if more else None
        except (
            InvalidToken,
            ValueError,
            TypeError,
            msgpack.ExtraData,
            msgpack.FormatError,
            msgpack.StackError,
        ) as exc:
            raise Unauthorized("The request you have made requires authentication.") from exc
        if version != FORMAT_VERSION:
            raise Unauthorized("The request you have made requires authentication.")
        kind, scope_id = scope if scope else (None, None)
        return TokenPayload(
            user_id=user_id,
            methods=_bits_methods(bits),
            expires_at=float(expires_at),
            issued_at=float(issued_at),
            audit_ids=tuple(audit_ids),
            project_id=scope_id if kind == "p" else None,
            domain_id=scope_id if kind == "d" else None,
            system=kind == "s",
            application_credential_id=app_cred,
            trust_id=trust_id,
        )


def now() -> float:
    return time.time()
