"""The identity bootstrap's roles: admin implies manager implies member implies reader
(as Keystone 2024.2+ bootstraps them), on a fresh cloud and on one bootstrapped before
the manager role existed; running it again changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from nubo.config import Config
from nubo.db import migrate
from nubo.db.engine import Database
from nubo.identity.bootstrap import bootstrap
from nubo.identity.models import GLOBAL, ImpliedRole, Role
from nubo.identity.service import Identity


@pytest.fixture
def identity(tmp_path: Path) -> Iterator[Identity]:
    cfg = Config(data_dir=str(tmp_path))
    cfg.identity.password_hash_rounds = 4
    db = Database(cfg.database_url)
    migrate.upgrade(db.engine)
    ident = Identity(cfg, db)
    ident.setup_keys()
    yield ident
    db.dispose()


def _roles(identity: Identity) -> dict[str, str]:
    with identity.db.reader() as s:
        return {r.name: r.id for r in s.scalars(select(Role).where(Role.domain_id == GLOBAL))}


def _rules(identity: Identity) -> set[tuple[str, str]]:
    with identity.db.reader() as s:
        names = {r.id: r.name for r in s.scalars(select(Role))}
        return {
            (names[r.prior_role_id], names[r.implied_role_id])
            for r in s.scalars(select(ImpliedRole))
        }


CHAIN = {("admin", "manager"), ("manager", "member"), ("member", "reader")}


def test_fresh_cloud_has_the_manager_chain(identity: Identity) -> None:
    bootstrap(identity, "admin-pw", "demo-pw")
    assert set(_roles(identity)) == {"admin", "manager", "member", "reader", "service"}
    assert _rules(identity) == CHAIN
    before = _roles(identity)
    assert bootstrap(identity, "admin-pw", "demo-pw").created is False
    assert _roles(identity) == before and _rules(identity) == CHAIN


def test_older_cloud_gains_manager_on_next_start(identity: Identity) -> None:
    bootstrap(identity, "admin-pw", "demo-pw")
    roles = _roles(identity)
    # what a cloud bootstrapped before "manager" had: admin -> member -> reader
    with identity.db.session() as s:
        s.execute(delete(ImpliedRole).where(ImpliedRole.prior_role_id == roles["admin"]))
        s.execute(delete(ImpliedRole).where(ImpliedRole.prior_role_id == roles["manager"]))
        s.execute(delete(Role).where(Role.id == roles["manager"]))
        s.add(ImpliedRole(prior_role_id=roles["admin"], implied_role_id=roles["member"]))
    assert _rules(identity) == {("admin", "member"), ("member", "reader")}
    bootstrap(identity, "admin-pw", "demo-pw")
    after = _roles(identity)
    assert "manager" in after and after["admin"] == roles["admin"]
    assert _rules(identity) == CHAIN
