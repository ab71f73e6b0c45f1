"""Password hashing with bcrypt, and a bounded memory of recent successful checks.

Stored hashes use bcrypt at the configured cost (12 by default, as Keystone).
A bcrypt check costs ~0.2 s by design; clients that log in again and again with
the same password (every ``openstack`` command does) would pay it each time. So
after a successful check nubo remembers HMAC-SHA256(process secret, user id +
stored hash + password) in memory. The secret is random per process and never
written anywhere; a changed password changes the stored hash and so misses; the
table is bounded (LRU). What is at rest is exactly as strong as before.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict

import bcrypt

# bcrypt only reads the first 72 bytes; longer passwords are refused at the API.
MAX_PASSWORD_BYTES = 72


def hash_password(password: str, rounds: int) -> str:
    return bcrypt.hashpw(password.encode()[:MAX_PASSWORD_BYTES], bcrypt.gensalt(rounds)).decode()


def verify_password(password: str, hashed: str) -> bool:
    """A plain bcrypt check, for password history (no memory of results)."""
    return _check(password, hashed)


def _check(password: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode()[:MAX_PASSWORD_BYTES], hashed.encode())
    except ValueError:
        return False


class PasswordChecker:
    """Verifies passwords against stored hashes, remembering recent successes."""

    def __init__(self, cache_size: int = 1024, rounds: int = 12) -> None:
        self._secret = secrets.token_bytes(32)
        self._size = cache_size
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()
        self._rounds = rounds
        self._decoy: str | None = None

    def _decoy_hash(self) -> str:
        # a hash at the real cost, so unknown users take as long as wrong passwords
        if self._decoy is None:
            self._decoy = hash_password(secrets.token_hex(16), self._rounds)
        return self._decoy

    def _digest(self, subject: str, hashed: str, password: str) -> bytes:
        msg = b"\0".join((subject.encode(), hashed.encode(), password.encode()))
        return hmac.new(self._secret, msg, hashlib.sha256).digest()

    def verify(self, subject: str, password: str, hashed: str | None) -> bool:
        """Whether ``password`` matches ``hashed`` (``subject`` names the owner)."""
        if not hashed:
            _check(password, self._decoy_hash())
            return False
        key = self._digest(subject, hashed, password)
        if self._size:
            with self._lock:
                if key in self._seen:
                    self._seen.move_to_end(key)
                    return True
        if not _check(password, hashed):
            return False
        if self._size:
            with self._lock:
                self._seen[key] = None
                while len(self._seen) > self._size:
                    self._seen.popitem(last=False)
        return True
