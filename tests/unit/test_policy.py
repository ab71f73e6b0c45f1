"""The policy engine: rule language, overrides and denial."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from nubo.api.policy import PolicyEngine, PolicySyntaxError, Rule, parse
from nubo.errors import Forbidden

ADMIN = {
    "roles": ["admin", "member", "reader"],
    "user_id": "u1",
    "project_id": "p1",
    "system_scope": None,
}
MEMBER = {"roles": ["member", "reader"], "user_id": "u2", "project_id": "p2", "system_scope": None}
SYSTEM_READER = {"roles": ["reader"], "user_id": "u3", "project_id": None, "system_scope": "all"}


def engine(*rules: tuple[str, str], path: Path | None = None) -> PolicyEngine:
    e = PolicyEngine(path)
    e.register([Rule(n, c) for n, c in rules])
    return e


def test_role_check_and_rule_reference() -> None:
    e = engine(("admin_required", "role:admin"), ("x", "rule:admin_required"))
    assert e.allowed("x", ADMIN, {})
    assert not e.allowed("x", MEMBER, {})


def test_target_substitution_and_owner() -> None:
    e = engine(
        ("owner", "user_id:%(user_id)s"), ("own_project", "project_id:%(target.project.id)s")
    )
    assert e.allowed("owner", MEMBER, {"user_id": "u2"})
    assert not e.allowed("owner", MEMBER, {"user_id": "u1"})
    assert e.allowed("own_project", MEMBER, {"target": {"project": {"id": "p2"}}})
    assert not e.allowed("own_project", MEMBER, {"target": {"project": {"id": "p1"}}})
    # a missing target attribute never matches
    assert not e.allowed("own_project", MEMBER, {})


def test_and_or_not_parentheses() -> None:
    e = engine(("r", "role:admin or (role:reader and system_scope:all)"), ("n", "not role:admin"))
    assert e.allowed("r", ADMIN, {})
    assert e.allowed("r", SYSTEM_READER, {})
    assert not e.allowed("r", MEMBER, {})
    assert e.allowed("n", MEMBER, {})
    assert not e.allowed("n", ADMIN, {})


def test_always_never_and_empty() -> None:
    e = engine(("a", "@"), ("b", "!"), ("c", ""))
    assert e.allowed("a", MEMBER, {})
    assert not e.allowed("b", ADMIN, {})
    assert e.allowed("c", MEMBER, {})


def test_literal_left_side() -> None:
    e = engine(("lit", "'member':%(role_name)s"))
    assert e.allowed("lit", MEMBER, {"role_name": "member"})
    assert not e.allowed("lit", MEMBER, {"role_name": "admin"})


def test_unknown_rule_denies() -> None:
    assert not engine().allowed("nope", ADMIN, {})


def test_enforce_raises_forbidden_naming_rule() -> None:
    e = engine(("identity:list_users", "role:admin"))
    with pytest.raises(Forbidden, match="identity:list_users"):
        e.enforce("identity:list_users", MEMBER, {})


@pytest.mark.parametrize("bad", ["role:admin or", "(role:admin", "role:admin)", "and", "nope"])
def test_syntax_errors(bad: str) -> None:
    with pytest.raises(PolicySyntaxError):
        parse(bad)


def test_policy_yaml_overrides_and_reloads(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    e = engine(("identity:list_users", "role:admin"), path=path)
    assert not e.allowed("identity:list_users", MEMBER, {})
    path.write_text('"identity:list_users": "role:member"\n')
    e._checked_at = 0.0  # skip the once-a-second stat throttle
    assert e.allowed("identity:list_users", MEMBER, {})
    # a broken file is ignored and the previous overrides stay
    path.write_text("identity:list_users: [unclosed\n")
    stamp = time.time() + 5
    os.utime(path, (stamp, stamp))
    e._checked_at = 0.0
    assert e.allowed("identity:list_users", MEMBER, {})
