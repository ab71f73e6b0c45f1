"""Which revocation events invalidate which tokens."""

from __future__ import annotations

from nubo.identity.models import RevocationEvent
from nubo.identity.revocations import TokenFacts, _matches
from nubo.identity.tokens import TokenPayload


def facts(issued_at: float = 100.0, **kw: object) -> TokenFacts:
    p = dict(
        user_id="u1",
        methods=("password",),
        expires_at=9e9,
        issued_at=issued_at,
        audit_ids=("a1", "a0"),
        project_id="p1",
    )
    p.update(kw)
    return TokenFacts(TokenPayload(**p), "d1", "d1", frozenset({"r1"}))  # type: ignore[arg-type]


def event(**kw: object) -> RevocationEvent:
    return RevocationEvent(issued_before=200.0, revoked_at=200.0, **kw)


def test_user_event_kills_older_tokens_only() -> None:
    assert _matches(event(user_id="u1"), facts())
    assert not _matches(event(user_id="u1"), facts(issued_at=250.0))
    assert not _matches(event(user_id="u2"), facts())


def test_all_fields_must_match() -> None:
    assert _matches(event(user_id="u1", project_id="p1"), facts())
    assert not _matches(event(user_id="u1", project_id="p2"), facts())
    assert _matches(event(domain_id="d1"), facts())
    assert _matches(event(role_id="r1"), facts())
    assert not _matches(event(role_id="r2"), facts())


def test_audit_id_names_one_token_and_chain_names_its_descendants() -> None:
    # facts() is a token rescoped from the token whose audit id is "a0"
    assert _matches(event(audit_id="a1"), facts())
    assert not _matches(event(audit_id="a0"), facts())
    assert _matches(event(audit_chain_id="a0"), facts())
    assert not _matches(event(audit_id="zz"), facts())
