"""Compat layer of `make test`: Tempest's identity, image, network and compute API tests.

Starts nubo (SQLite, temp data dir, free loopback port), sets up the pinned
Tempest in build/tempest, runs `tempest.api.identity`, `tempest.api.image`,
`tempest.api.network` and `tempest.api.compute` in one Tempest run, stops
nubo, and fails if any test in a service's pass list
(tests/compat/<service>-pass-list.txt) did not pass. New passes are
printed so the lists can grow; they may never shrink.
The image tests run only when nubo's catalog lists the image service, the
network tests only when it lists the network service; otherwise Tempest
skips them. The network tests see the extensions nubo's /v2.0/extensions
lists and use its external network named `public`. The compute tests run
when the catalog lists compute, on the fake instance driver, booting two
small public images (or nubo-tiny if that image is registered) on a shared
network `tempest-shared` routed to `public`, which the harness makes in the
cloud as the admin.

    .venv/bin/python tests/compat/run.py [--service network] [--regex REGEX] [--keep]
    .venv/bin/python tests/compat/run.py --service image --data-dir DIR

--service (repeatable) picks the services to test and check (default: all).
--data-dir tests the nubo already running with that data dir (`nubo up
--data-dir DIR`, its clouds.yaml) instead of starting a fresh one, and
leaves it running; its identity security-compliance settings are whatever
it was started with.
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
# service -> the Tempest test id prefix it owns; its pass list is
# tests/compat/<service>-pass-list.txt.
SERVICES = {
    "identity": "tempest.api.identity",
    "image": "tempest.api.image",
    "network": "tempest.api.network",
    "compute": "tempest.api.compute",
}

# nubo runs with Keystone's security-compliance rules on (password history,
# lockout), and Tempest is told the same values, so its 4 tests of them run too.
SECURITY_COMPLIANCE = {
    "unique_last_password_count": "2",
    "lockout_failure_attempts": "2",
    "lockout_duration": "5",
}
NUBO_ENV = {f"NUBO_IDENTITY_{k.upper()}": v for k, v in SECURITY_COMPLIANCE.items()}
# Tempest's API tests check the API; tests/system drives the real dataplane (and one
# Linux dataplane per machine at a time)
NUBO_ENV["NUBO_NETWORK_DRIVER"] = "fake"
NUBO_ENV["NUBO_COMPUTE_DRIVER"] = "fake"
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


def pass_list(service: str) -> Path:
    return HERE / f"{service}-pass-list.txt"


def run_tempest(data: Path, regex: str, results: Path) -> None:
    clouds = yaml.safe_load((data / "clouds.yaml").read_text())
    admin = clouds["clouds"]["nubo"]["auth"]
    harness(
        "run",
        "--dir",
        str(TEMPEST_DIR),
        "--auth-url",
        admin["auth_url"],
        # one argument: a generated password may start with "-"
        f"--admin-password={admin['password']}",
        "--regex",
        regex,
        "--results",
        str(results),
        *[arg for setting in TEMPEST_SETTINGS for arg in ("--set", setting)],
    )


def check(services: list[str], results: Path) -> bool:
    """Check each service's pass list; True when all of them passed."""
    ok = True
    for service in services:
        try:
            harness(
                "check",
                "--results",
                str(results),
                "--pass-list",
                str(pass_list(service)),
                "--prefix",
                SERVICES[service],
            )
        except subprocess.CalledProcessError:
            ok = False
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--service",
        action="append",
        choices=sorted(SERVICES),
        help="service whose tests run and whose pass list is checked (repeatable; default all)",
    )
    parser.add_argument(
        "--regex",
        help="Tempest test selection (default: the prefixes of the chosen services)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="test the nubo already running with this data dir; do not start or stop one",
    )
    parser.add_argument("--keep", action="store_true", help="keep the results file")
    args = parser.parse_args()
    services = sorted(set(args.service or SERVICES))
    regex = args.regex or "|".join(SERVICES[s] for s in services)
    harness("setup", "--dir", str(TEMPEST_DIR))
    work = Path(tempfile.mkdtemp(prefix="nubo-compat-"))
    results = work / "results.json"
    if args.data_dir:
        data = args.data_dir.resolve()
        if not (data / "clouds.yaml").exists():
            print(f"no clouds.yaml in {data}: is nubo up with that data dir?", file=sys.stderr)
            return 2
        run_tempest(data, regex, results)
    else:
        data = work / "data"
        port = free_port()
        subprocess.run(
            [str(NUBO), "up", "--data-dir", str(data), "--bind", f"127.0.0.1:{port}", "--detach"],
            check=True,
            env={**os.environ, **NUBO_ENV},
        )
        try:
            run_tempest(data, regex, results)
        finally:
            subprocess.run([str(NUBO), "down", "--data-dir", str(data)], check=False)
        shutil.rmtree(data, ignore_errors=True)
    if not check(services, results):
        print(f"results kept in {results}", file=sys.stderr)
        return 1
    if args.keep:
        print(f"results kept in {results}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
