"""Constants and small helpers shared by the functional suite's modules."""

from __future__ import annotations

import os
import socket
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
OPENSTACK = REPO / ".venv" / "bin" / "openstack"
if not OPENSTACK.exists():  # a venv elsewhere: the one running the tests
    OPENSTACK = Path(sys.executable).parent / "openstack"
V3 = "/identity/v3"
# bcrypt at cost 4 instead of 12: the same code paths at a fraction of the time.
HASH_ROUNDS = "4"
START_TIMEOUT = 90
CLI_TIMEOUT = 90
PG_SUPERUSER = "postgres"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def eventually(read: Callable[[], T], done: Callable[[T], bool], timeout: float = 30) -> T:
    """Read until ``done`` holds of the value or time is up; the last value either way
    (the caller asserts on it, so a failure shows what was seen)."""
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.2)
        value = read()
    return value
