"""Revocation events: what makes an otherwise well-formed token invalid.

An event matches a token when every field it sets equals the token's (user,
project, domain of the user or project, a role it carries, an audit id, the
application credential) and the token was issued before the event.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from nubo.identity.models import RevocationEvent
from nubo.identity.tokens import TokenPayload

if TYPE_CHECKING:
    from nubo.identity.service import Identity


@dataclass(frozen=True)
class TokenFacts:
    """What revocation events are compared against."""

    payload: TokenPayload
    user_domain_id: str
    project_domain_id: str | None
    role_ids: frozenset[str]


PRUNE_EVERY = 3600.0


class Revocations:
    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self._lock = threading.Lock()
        self._events: list[RevocationEvent] = []
        self._loaded: tuple[int, float] | None = None
        self._pruned_at = 0.0

    def add(self, s: Session, **fields: str | None) -> None:
        """Record an event in the caller's transaction (tokens issued until now die);
        events no token can match any more are dropped at most once an hour."""
        now = time.time()
        s.add(RevocationEvent(issued_before=now, revoked_at=now, **fields))
        if now - self._pruned_at > PRUNE_EVERY:
            self._pruned_at = now
            self.prune(s)

    def prune(self, s: Session) -> int:
        """Drop events older than any token they could still match."""
        cfg = self.identity.config.identity
        horizon = time.time() - cfg.token_expiration - cfg.allow_expired_window
        result = s.execute(delete(RevocationEvent).where(RevocationEvent.revoked_at < horizon))
        return int(getattr(result, "rowcount", 0) or 0)

    def _current(self) -> list[RevocationEvent]:
        generation = self.identity.generation
        ttl = self.identity.config.identity.token_cache_seconds
        loaded = self._loaded
        if loaded and loaded[0] == generation and time.monotonic() - loaded[1] < ttl:
            return self._events
        with self.identity.db.reader() as s:
            events = list(s.scalars(select(RevocationEvent)))
        with self._lock:
            self._events = events
            self._loaded = (generation, time.monotonic())
        return events

    def is_revoked(self, facts: TokenFacts) -> bool:
        return any(_matches(e, facts) for e in self._current())


def _matches(e: RevocationEvent, t: TokenFacts) -> bool:
    p = t.payload
    if p.issued_at >= e.issued_before:
        return False
    checks: Iterable[bool] = (
        e.user_id is None or e.user_id == p.user_id,
        e.project_id is None or e.project_id == p.project_id,
        e.domain_id is None or e.domain_id in (t.user_domain_id, t.project_domain_id, p.domain_id),
        e.role_id is None or e.role_id in t.role_ids,
        e.audit_id is None or (bool(p.audit_ids) and e.audit_id == p.audit_ids[0]),
        e.audit_chain_id is None or (bool(p.audit_ids) and e.audit_chain_id == p.audit_ids[-1]),
        e.application_credential_id is None
        or e.application_credential_id == p.application_credential_id,
    )
    return all(checks)
