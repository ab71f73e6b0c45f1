"""Compat layer of `make test`: Tempest's identity API tests against a fresh `nubo up`.

Starts nubo (SQLite, temp data dir, free loopback port), sets up the pinned
Tempest in build/tempest, runs `tempest.api.identity`, stops nubo, and fails if
any test in tests/compat/identity-pass-list.txt did not pass. New passes are
printed so the list can grow; it may never shrink.

    .venv/bin/python tests/compat/run.py [--regex tempest.api.identity] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
NUBO = ROOT / ".venv" / "bin" / "nubo"
TEMPEST_DIR = ROOT / "build" / "tempest"
PASS_LIST = HERE / "identity-pass-list.txt"

# nubo runs with Keystone's security-compliance rules on (password history,
# lockout), and Tempest is told the same values, so its 4 tests of them run too.
SECURITY_COMPLIANCE = {
    "unique_last_password_count": "2",
    "lockout_failure_attempts": "2",
    "lockout_duration": "5",
}
NUBO_ENV = {f"NUBO_IDENTITY_{k.upper()}": v for k, v in SECURITY_COMPLIANCE.items()}
TEMPEST_SETTINGS = [
    "identity-feature-enabled.security_compliance=true",
    f"identity.user_unique_last_password_count={SECURITY_COMPLIANCE['unique_last_password_count']}",
    f"identity.user_lockout_failure_attempts={SECURITY_COMPLIANCE['lockout_failure_attempts']}",
    f"identity.user_lockout_duration={SECURITY_COMPLIANCE['lockout_duration']}",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def harness(*args: str) -> None:
    subprocess.run([sys.executable, str(HERE / "tempest.py"), *args], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regex", default="tempest.api.identity")
    parser.add_argument("--keep", action="store_true", help="keep the results file")
    args = parser.parse_args()
    harness("setup", "--dir", str(TEMPEST_DIR))
    work = Path(tempfile.mkdtemp(prefix="nubo-compat-"))
    data = work / "data"
    port = free_port()
    results = work / "results.json"
    subprocess.run(
        [str(NUBO), "up", "--data-dir", str(data), "--bind", f"127.0.0.1:{port}", "--detach"],
        check=True,
        env={**os.environ, **NUBO_ENV},
    )
    try:
        clouds = yaml.safe_load((data / "clouds.yaml").read_text())
        admin = clouds["clouds"]["nubo"]["auth"]
        harness(
            "run",
            "--dir",
            str(TEMPEST_DIR),
            "--auth-url",
            admin["auth_url"],
            "--admin-password",
            admin["password"],
            "--regex",
            args.regex,
            "--results",
            str(results),
            *[arg for setting in TEMPEST_SETTINGS for arg in ("--set", setting)],
        )
    finally:
        subprocess.run([str(NUBO), "down", "--data-dir", str(data)], check=False)
    shutil.rmtree(data, ignore_errors=True)
    try:
        harness("check", "--results", str(results), "--pass-list", str(PASS_LIST))
    except subprocess.CalledProcessError:
        print(f"results kept in {results}", file=sys.stderr)
        return 1
    if args.keep:
        print(f"results kept in {results}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
