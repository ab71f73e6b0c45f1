"""Fernet token format and the key repository."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nubo.errors import Unauthorized
from nubo.identity.tokens import KeyRepository, TokenFormatter, TokenPayload, new_audit_id


def payload(**kw: object) -> TokenPayload:
    base = dict(
        user_id="u" * 32,
        methods=("password",),
        expires_at=time.time() + 3600,
        issued_at=time.time(),
        audit_ids=(new_audit_id(),),
    )
    base.update(kw)
    return TokenPayload(**base)  # type: ignore[arg-type]


@pytest.fixture
def repo(tmp_path: Path) -> KeyRepository:
    r = KeyRepository(tmp_path / "keys", max_active_keys=3)
    r.setup()
    return r


@pytest.mark.parametrize(
    "scope",
    [
        {},
        {"project_id": "p1"},
        {"domain_id": "default"},
        {"system": True},
        {"project_id": "p", "methods": ("password", "token"), "application_credential_id": "a"},
    ],
)
def test_round_trip(repo: KeyRepository, scope: dict[str, object]) -> None:
    f = TokenFormatter(repo)
    p = payload(**scope)
    token = f.create(p)
    assert "=" not in token
    assert f.parse(token) == p


def test_tampered_or_foreign_token_is_unauthorized(repo: KeyRepository, tmp_path: Path) -> None:
    f = TokenFormatter(repo)
    token = f.create(payload())
    flipped = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    with pytest.raises(Unauthorized):
        f.parse(flipped)
    other = KeyRepository(tmp_path / "other")
    other.setup()
    with pytest.raises(Unauthorized):
        TokenFormatter(other).parse(token)
    with pytest.raises(Unauthorized):
        f.parse("not-a-token")


def test_rotation_keeps_recent_tokens_and_drops_old_keys(repo: KeyRepository) -> None:
    f = TokenFormatter(repo)
    first = f.create(payload())
    repo.rotate()
    second = f.create(payload())
    assert f.parse(first).user_id == "u" * 32  # one rotation: still valid
    repo.rotate()
    assert f.parse(second)
    files = sorted(p.name for p in repo.path.iterdir())
    assert len(files) == 3 and "0" in files
    repo.rotate()
    with pytest.raises(Unauthorized):  # its key has been rotated out
        f.parse(first)


def test_setup_is_idempotent_and_private(repo: KeyRepository) -> None:
    before = {p.name: p.read_bytes() for p in repo.path.iterdir()}
    assert repo.setup() is False
    assert before == {p.name: p.read_bytes() for p in repo.path.iterdir()}
    for p in repo.path.iterdir():
        assert p.stat().st_mode & 0o077 == 0
