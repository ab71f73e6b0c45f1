"""bcrypt hashes and the memory of successful checks."""

from __future__ import annotations

from nubo.identity.passwords import PasswordChecker, hash_password


def test_hash_keeps_cost_and_verifies() -> None:
    hashed = hash_password("s3cret", rounds=4)
    assert hashed.startswith("$2b$04$")
    checker = PasswordChecker(cache_size=8, rounds=4)
    assert checker.verify("u1", "s3cret", hashed)
    assert not checker.verify("u1", "wrong", hashed)


def test_remembered_success_is_bound_to_hash_and_subject() -> None:
    checker = PasswordChecker(cache_size=8, rounds=4)
    old = hash_password("pw", rounds=4)
    assert checker.verify("u1", "pw", old)
    assert checker.verify("u1", "pw", old)  # remembered
    new = hash_password("other", rounds=4)
    assert not checker.verify("u1", "pw", new)  # password changed: must not match
    assert not checker.verify("u2", "pw", "")  # unknown user


def test_cache_is_bounded() -> None:
    checker = PasswordChecker(cache_size=2, rounds=4)
    hashed = hash_password("pw", rounds=4)
    for subject in ("a", "b", "c"):
        assert checker.verify(subject, "pw", hashed)
    assert len(checker._seen) == 2
