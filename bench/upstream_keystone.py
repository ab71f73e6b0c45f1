#!/usr/bin/env python3
"""Install and run upstream OpenStack Keystone locally, as a reference peer.

nubo's identity service is compared against the real Keystone (benchmarks,
Tempest reference runs).  This script builds a self-contained Keystone in one
directory and serves it on loopback with one WSGI worker:

    python3 bench/upstream_keystone.py setup --dir build/keystone [--port 5000]
    python3 bench/upstream_keystone.py serve --dir build/keystone [--port 5000]

``setup`` creates DIR/venv (Keystone and gunicorn from PyPI, every
dependency pinned), DIR/keystone.conf (SQLite in DIR, fernet tokens, keys in
DIR, Keystone's default bcrypt password hashing), then runs
``keystone-manage db_sync``, ``fernet_setup``, ``credential_setup`` and
``bootstrap`` (admin user and project, region RegionOne, identity public
endpoint at http://127.0.0.1:PORT/v3).  Running it again reuses what is there.
``--security-compliance`` adds the lockout and password-history options that
Tempest's security compliance tests expect (off in Keystone's defaults).

``serve`` listens on 127.0.0.1 only; given another port than setup's, it first
moves the catalog endpoint there.  ``url`` prints the endpoint setup recorded.

``serve`` replaces itself (exec) with gunicorn, so the pid a caller gets from
Popen is the server's: SIGTERM or SIGINT stops it and its one worker.  It
prints ``upstream keystone ready at URL`` on stdout once the worker has loaded
the application; callers may instead poll ``GET /v3``.

Standard library only, so any python3.11 can run it.
"""

from __future__ import annotations

import argparse
import grp
import json
import os
import pwd
import subprocess
import sys
from pathlib import Path
from typing import Any

# Keystone 30.0.0 is the 2026.2 release; it supports Python 3.11-3.13.
KEYSTONE_VERSION = "30.0.0"
# WSGI server, run with one synchronous worker.
GUNICORN_VERSION = "26.2.0"

# Every transitive dependency, pinned to the set this script was verified
# with (pip freeze of a working install), so a later PyPI release cannot
# change what gets measured.
CONSTRAINTS = (
    "alembic==1.20.1",
    "amqp==5.4.2",
    "aniso8601==10.0.1",
    "attrs==26.1.0",
    "bcrypt==5.0.0",
    "blinker==1.9.0",
    "cachetools==8.0.0",
    "certifi==2026.10.18",
    "cffi==2.1.1",
    "charset-normalizer==3.5.2",
    "click==8.5.1",
    "cryptography==50.0.2",
    "debtcollector==3.1.0",
    "decorator==5.3.1",
    "defusedxml==0.7.1",
    "dnspython==2.9.2",
    "dogpile.cache==1.5.0",
    "elementpath==4.8.0",
    "eventlet==0.41.3",
    "fasteners==0.20",
    "Flask==3.1.3",
    "Flask-RESTful==0.3.10",
    "futurist==3.5.0",
    "greenlet==3.5.6",
    "idna==3.20",
    "iso8601==2.1.0",
    "itsdangerous==2.2.0",
    "Jinja2==3.1.6",
    "jsonschema==4.26.0",
    "jsonschema-specifications==2025.9.1",
    "keystoneauth1==5.18.1",
    "keystonemiddleware==13.0.1",
    "kombu==5.7.0",
    "Mako==1.4.3",
    "MarkupSafe==3.0.4",
    "msgpack==1.2.4",
    "netaddr==1.3.0",
    "oauthlib==4.0.1",
    "os-service-types==1.9.0",
    "oslo.cache==4.3.0",
    "oslo.concurrency==7.6.1",
    "oslo.config==10.7.0",
    "oslo.context==6.5.0",
    "oslo.db==18.1.1",
    "oslo.i18n==6.9.0",
    "oslo.log==8.3.2",
    "oslo.messaging==18.3.1",
    "oslo.metrics==0.17.0",
    "oslo.middleware==8.2.0",
    "oslo.policy==6.0.1",
    "oslo.serialization==5.11.0",
    "oslo.service==4.8.0",
    "oslo.upgradecheck==2.8.0",
    "oslo.utils==10.2.0",
    "osprofiler==4.4.0",
    "packaging==26.3",
    "Paste==3.10.1",
    "PasteDeploy==3.1.0",
    "pbr==7.1.3",
    "prettytable==3.18.0",
    "prometheus_client==0.26.0",
    "psutil==7.2.2",
    "pycadf==4.1.0",
    "pycparser==3.12",
    "PyJWT==2.15.1",
    "pyOpenSSL==26.4.0",
    "pyparsing==3.3.3",
    "pysaml2==7.5.5",
    "python-dateutil==4.0.0",
    "python-keystoneclient==6.0.0",
    "pytz==2026.6",
    "PyYAML==6.0.3",
    "referencing==0.37.0",
    "repoze-lru==0.8",
    "requests==2.34.2",
    "rfc3986==2.0.0",
    "Routes==2.5.1",
    "rpds-py==2026.9.1",
    "six==1.17.0",
    "SQLAlchemy==2.1.9",
    "statsd==4.0.1",
    "stevedore==5.10.0",
    "testresources==2.1.2",
    "testscenarios==0.7.0",
    "typing_extensions==4.16.0",
    "tzdata==2026.6",
    "urllib3==2.8.0",
    "vine==5.1.0",
    "wcwidth==0.9.4",
    "WebOb==1.8.11",
    "Werkzeug==3.1.9",
    "wrapt==2.5.2",
    "xmlschema==2.5.1",
    "yappi==1.7.6",
)

HOST = "127.0.0.1"
DEFAULT_PORT = 5000
REGION = "RegionOne"
STATE_FILE = "upstream-keystone.json"

# Only what differs from Keystone's defaults is set.  Password hashing is
# deliberately absent: Keystone's default (bcrypt, 12 rounds) is what a
# comparison must be measured against.
KEYSTONE_CONF = """\
# Written by bench/upstream_keystone.py; rewritten by every `setup`.
[DEFAULT]
log_dir = {dir}
log_file = keystone.log
debug = false

[database]
# oslo.db keeps SQLite synchronous (sqlite_synchronous = true by default).
connection = sqlite:///{dir}/keystone.db

[token]
provider = fernet

[fernet_tokens]
key_repository = {dir}/fernet-keys

[fernet_receipts]
key_repository = {dir}/fernet-keys

[credential]
key_repository = {dir}/credential-keys
"""

# Optional (setup --security-compliance): Keystone's PCI-DSS options, all off
# by default.  The values are Tempest's [identity] defaults for
# user_lockout_failure_attempts, user_lockout_duration,
# user_unique_last_password_count and user_minimum_password_age, so a Tempest
# run with [identity-feature-enabled] security_compliance = true matches.
SECURITY_COMPLIANCE_CONF = """
[security_compliance]
lockout_failure_attempts = 2
lockout_duration = 5
unique_last_password_count = 2
minimum_password_age = 0
"""

# gunicorn reads its configuration from ./gunicorn.conf.py.  It must not come
# from the command line: Keystone parses sys.argv with oslo.config and rejects
# gunicorn's options.  post_fork asks the kernel to stop the worker if the
# master dies (even by SIGKILL), so killing the pid a caller holds never
# leaves a worker on the port.
GUNICORN_CONF = """\
# Written by bench/upstream_keystone.py; rewritten by every `serve`.
import ctypes
import signal
import sys

wsgi_app = "keystone.wsgi.api:application"
bind = ["{host}:{port}"]
workers = 1
worker_class = "sync"
threads = 1
timeout = 120
graceful_timeout = 5
errorlog = "-"
loglevel = "warning"
accesslog = {accesslog!r}


def post_fork(server, worker):
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def post_worker_init(worker):
    print("upstream keystone ready at {url}", flush=True)
    sys.stdout.flush()
"""


def log(msg: str) -> None:
    """Progress goes to stderr; stdout carries only the ready line."""
    print(f"upstream_keystone: {msg}", file=sys.stderr, flush=True)


def venv_bin(d: Path, name: str) -> Path:
    return d / "venv" / "bin" / name


def quiet_env() -> dict[str, str]:
    """Environment for Keystone's processes.

    Eventlet warns of its own deprecation when oslo.service imports it, in
    every process; the warning says nothing about this setup.
    """
    env = dict(os.environ)
    env["PYTHONWARNINGS"] = "ignore::Warning:oslo_service.backend._eventlet.loopingcall"
    return env


def run(cmd: list[object]) -> None:
    log("$ " + " ".join(str(c) for c in cmd))
    subprocess.run([str(c) for c in cmd], check=True, env=quiet_env())


def pip_install(d: Path, args: list[str]) -> None:
    """pip install into DIR/venv, hiding the noise of absent find-links."""
    cmd = [
        str(venv_bin(d, "python")),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
        *args,
    ]
    log("$ " + " ".join(cmd))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "is ignored: it is neither a file nor a directory" in line:
            continue
        sys.stderr.write(line)
    if proc.wait() != 0:
        raise SystemExit(f"pip install failed (exit {proc.returncode})")


def installed_versions(d: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json\n"
        "out = {}\n"
        "for n in ('keystone', 'gunicorn'):\n"
        "    try:\n"
        "        out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError:\n"
        "        pass\n"
        "print(json.dumps(out))\n"
    )
    res = subprocess.run(
        [str(venv_bin(d, "python")), "-c", code], check=True, capture_output=True, text=True
    )
    versions: dict[str, str] = json.loads(res.stdout)
    return versions


def ensure_venv(d: Path) -> None:
    if not venv_bin(d, "python").exists():
        run([sys.executable, "-m", "venv", d / "venv"])
    want = {"keystone": KEYSTONE_VERSION, "gunicorn": GUNICORN_VERSION}
    if installed_versions(d) == want:
        log(f"venv has keystone {KEYSTONE_VERSION}, gunicorn {GUNICORN_VERSION}; reusing it")
        return
    constraints = d / "constraints.txt"
    constraints.write_text("\n".join(CONSTRAINTS) + "\n")
    pip_install(
        d,
        ["-c", str(constraints), f"keystone=={KEYSTONE_VERSION}", f"gunicorn=={GUNICORN_VERSION}"],
    )


def public_url(port: int) -> str:
    return f"http://{HOST}:{port}/v3"


def manage(d: Path, *args: str) -> None:
    run([venv_bin(d, "keystone-manage"), "--config-file", d / "keystone.conf", *args])


def owner_args() -> list[str]:
    # keystone-manage insists on an owner for key repositories when run as
    # root; the current user is right in every case.
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    return ["--keystone-user", user, "--keystone-group", group]


def bootstrap(d: Path, password: str, port: int) -> None:
    """Create or update the admin user, project, region and endpoint."""
    manage(
        d,
        "bootstrap",
        "--bootstrap-password",
        password,
        "--bootstrap-username",
        "admin",
        "--bootstrap-project-name",
        "admin",
        "--bootstrap-role-name",
        "admin",
        "--bootstrap-service-name",
        "keystone",
        "--bootstrap-region-id",
        REGION,
        "--bootstrap-public-url",
        public_url(port),
    )
    state = {
        "keystone_version": KEYSTONE_VERSION,
        "port": port,
        "public_url": public_url(port),
        "admin_user": "admin",
        "admin_project": "admin",
        "admin_password": password,
    }
    path = d / STATE_FILE
    path.write_text(json.dumps(state, indent=2) + "\n")
    path.chmod(0o600)


def read_state(d: Path) -> dict[str, Any]:
    path = d / STATE_FILE
    if not path.exists():
        raise SystemExit(f"{d} is not set up; run `setup --dir {d}` first")
    state: dict[str, Any] = json.loads(path.read_text())
    return state


def cmd_setup(ns: argparse.Namespace) -> None:
    d = Path(ns.dir).resolve()
    d.mkdir(parents=True, exist_ok=True)
    ensure_venv(d)
    conf = KEYSTONE_CONF.format(dir=d)
    if ns.security_compliance:
        conf += SECURITY_COMPLIANCE_CONF
    (d / "keystone.conf").write_text(conf)
    manage(d, "db_sync")
    # Both commands keep an existing key repository as it is.
    manage(d, "fernet_setup", *owner_args())
    manage(d, "credential_setup", *owner_args())
    bootstrap(d, ns.admin_password, ns.port)
    log(f"ready to serve: {sys.argv[0]} serve --dir {d} --port {ns.port}")


def cmd_serve(ns: argparse.Namespace) -> None:
    d = Path(ns.dir).resolve()
    state = read_state(d)
    port = ns.port if ns.port is not None else int(state["port"])
    if port != state["port"]:
        # The catalog must name the URL actually served.
        log(f"moving the identity endpoint to {public_url(port)}")
        bootstrap(d, str(state["admin_password"]), port)
    accesslog = str(d / "access.log") if ns.access_log else None
    conf = d / "gunicorn.conf.py"
    conf.write_text(
        GUNICORN_CONF.format(host=HOST, port=port, url=public_url(port), accesslog=accesslog)
    )
    env = quiet_env()
    env["OS_KEYSTONE_CONFIG_DIR"] = str(d)
    env.pop("OS_KEYSTONE_CONFIG_FILES", None)
    env["PYTHONUNBUFFERED"] = "1"
    # gunicorn finds ./gunicorn.conf.py itself; argv stays bare (see above).
    argv = [str(venv_bin(d, "gunicorn"))]
    os.chdir(d)
    log(f"serving {public_url(port)} (pid {os.getpid()})")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], argv, env)


def cmd_url(ns: argparse.Namespace) -> None:
    """Print the public identity URL recorded by setup (for scripts)."""
    state = read_state(Path(ns.dir).resolve())
    print(state["public_url"])


def main(argv: list[str] | None = None) -> None:
    # Keep the check: an older python3 may run this file directly.
    if sys.version_info < (3, 11):  # noqa: UP036
        raise SystemExit("Keystone " + KEYSTONE_VERSION + " needs Python >= 3.11")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("setup", help="install, configure and bootstrap")
    s.add_argument("--dir", required=True, help="directory to build in")
    s.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port the endpoint in the catalog names (default {DEFAULT_PORT})",
    )
    s.add_argument(
        "--admin-password", default="secret", help="password of the admin user (default: secret)"
    )
    s.add_argument(
        "--security-compliance",
        action="store_true",
        help="turn on lockout and password history as Tempest expects them "
        "(off in Keystone's defaults and in the reference run)",
    )
    s.set_defaults(func=cmd_setup)

    v = sub.add_parser("serve", help="run Keystone in the foreground")
    v.add_argument("--dir", required=True)
    v.add_argument(
        "--port",
        type=int,
        default=None,
        help="port to listen on, 127.0.0.1 only (default: the one given to setup)",
    )
    v.add_argument(
        "--access-log", action="store_true", help="write an access log to DIR/access.log"
    )
    v.set_defaults(func=cmd_serve)

    u = sub.add_parser("url", help="print the identity URL setup recorded")
    u.add_argument("--dir", required=True)
    u.set_defaults(func=cmd_url)

    ns = p.parse_args(argv)
    ns.func(ns)


if __name__ == "__main__":
    main()
