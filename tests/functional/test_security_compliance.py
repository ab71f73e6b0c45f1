"""Password history and lockout after failed logins, when the operator turns them on."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

LOCKOUT_SECONDS = 3


@pytest.fixture(scope="module")
def strict(cloud_factory: Callable[..., Any], http_for: Callable[[Any], Any]) -> Any:
    c = cloud_factory(
        identity_unique_last_password_count="3",
        identity_lockout_failure_attempts="2",
        identity_lockout_duration=str(LOCKOUT_SECONDS),
    )
    return http_for(c)


def change_own_password(http: Any, user: dict[str, Any], old: str, new: str) -> Any:
    body = {"user": {"original_password": old, "password": new}}
    return http.post(f"users/{user['id']}/password", token=None, json=body)


def test_self_service_change_refuses_recent_passwords(strict: Any) -> None:
    project = strict.make_project()
    first = uuid.uuid4().hex
    user = strict.make_user(password=first, project_id=project["id"])
    second, third, fourth = (uuid.uuid4().hex for _ in range(3))
    strict.expect(change_own_password(strict, user, first, second), 204)
    # the current password and the one before are among the last three
    for reused in (second, first):
        error = strict.expect(change_own_password(strict, user, second, reused), 400)
        assert "previous password" in error["error"]["message"]
    strict.expect(change_own_password(strict, user, second, third), 204)
    strict.expect(change_own_password(strict, user, third, fourth), 204)
    # now `first` is four passwords back: allowed again
    strict.expect(change_own_password(strict, user, fourth, first), 204)
    strict.token(None, first, user_id=user["id"])


def test_admin_reset_ignores_history(strict: Any) -> None:
    user = strict.make_user()
    same = {"user": {"password": user["password"]}}
    strict.expect(strict.patch(f"users/{user['id']}", json=same), 200)
    strict.expect(strict.patch(f"users/{user['id']}", json=same), 200)


def test_failed_logins_lock_the_user_out_for_a_while(strict: Any) -> None:
    user = strict.make_user()
    strict.token(None, user["password"], user_id=user["id"])
    for _ in range(2):
        r = strict.password_auth(None, "wrong-" + uuid.uuid4().hex, user_id=user["id"])
        strict.expect(r, 401)
    # locked: even the right password is refused, with the same 401
    locked = strict.password_auth(None, user["password"], user_id=user["id"])
    assert strict.expect(locked, 401)["error"]["title"] == "Unauthorized"
    time.sleep(LOCKOUT_SECONDS + 1)
    strict.token(None, user["password"], user_id=user["id"])


def test_success_resets_the_failure_count(strict: Any) -> None:
    user = strict.make_user()
    for _ in range(3):
        strict.expect(strict.password_auth(None, "wrong", user_id=user["id"]), 401)
        strict.token(None, user["password"], user_id=user["id"])  # never two in a row


def test_users_may_be_exempt_from_lockout(strict: Any) -> None:
    user = strict.make_user(options={"ignore_lockout_failure_attempts": True})
    for _ in range(3):
        strict.expect(strict.password_auth(None, "wrong", user_id=user["id"]), 401)
    strict.token(None, user["password"], user_id=user["id"])
