"""Fixtures of the functional suite: a real ``nubo up`` process over real HTTP.

Every test runs once per database: ``sqlite`` always, and ``postgresql`` on a
throwaway cluster that the ``postgres`` fixture initdb's from Debian's packages.
One cloud is started per database per session and shared by all tests, so tests
create uniquely named resources (``unique``) and never change the bootstrap
``admin`` and ``demo`` accounts; a test that must restart or break a cloud makes
its own with ``cloud_factory``.

Fixtures other test modules rely on: ``cloud``, ``cloud_factory``, ``admin_conn``,
``demo_conn``, ``http``, ``http_for``, ``run_cli``, ``unique``, ``server_image`` and
``boot`` (servers of the demo project), ``compute_member`` (a member of a fresh project).
Helpers live in common.py, http_client.py (raw HTTP), compute.py (compute over raw HTTP)
and pg.py (the throwaway PostgreSQL cluster).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from openstack import config as os_config
from openstack import connection

from .common import (
    CLI_TIMEOUT,
    HASH_ROUNDS,
    OPENSTACK,
    REPO,
    START_TIMEOUT,
    V3,
    free_port,
    in_ci,
    unique_name,
)
from .compute import QUOTAS, act, wait_for, wait_gone
from .http_client import Http
from .pg import PostgresCluster, find_pg_bindir


def pytest_configure(config: pytest.Config) -> None:
    # openstacksdk's notes about its own future releases are not ours to act on
    config.addinivalue_line("filterwarnings", "ignore::openstack.warnings._RemovedInSDKWarning")


# -- processes ---------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _is_nubo(pid: int) -> bool:
    try:
        return b"nubo" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def stop_pid(pid: int, timeout: float = 20.0) -> None:
    """SIGTERM a nubo process we started, SIGKILL it if it lingers."""
    if not _alive(pid) or not _is_nubo(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


class NuboCloud:
    """One ``nubo up --detach`` on its own data dir, loopback port and database."""

    def __init__(
        self,
        data_dir: Path,
        database: str,
        database_url: str,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.extra_env = extra_env or {}
        self.data_dir = data_dir
        self.database = database  # "sqlite" or "postgresql"
        self.database_url = database_url  # empty: SQLite in the data dir
        self.port = free_port()
        self.pid: int | None = None
        self.admin_password = ""
        self.demo_password = ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth_url(self) -> str:
        return self.base_url + V3

    @property
    def clouds_yaml(self) -> Path:
        return self.data_dir / "clouds.yaml"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NUBO_", "OS_"))}
        env["NUBO_IDENTITY_PASSWORD_HASH_ROUNDS"] = HASH_ROUNDS
        # the API suite records the dataplane; tests/system runs the real one
        env["NUBO_NETWORK_DRIVER"] = "fake"
        env["NUBO_COMPUTE_DRIVER"] = "fake"
        if self.database_url:
            env["NUBO_DATABASE_URL"] = self.database_url
        env.update(self.extra_env)
        return env

    def nubo(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the ``nubo`` command on this cloud's data dir."""
        return subprocess.run(
            [sys.executable, "-m", "nubo.cli", *args, "--data-dir", str(self.data_dir)],
            env=self.env(),
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            check=False,
        )

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = (self.data_dir / "nubo.log").read_text(errors="replace")
        except OSError:
            return "(no nubo.log)"
        return "\n".join(text.splitlines()[-lines:])

    def up(self) -> None:
        """``nubo up --detach``; retried on another port if ours was taken meanwhile."""
        for attempt in range(3):
            result = self.nubo("up", "--bind", f"127.0.0.1:{self.port}", "--detach")
            if result.returncode == 0:
                break
            self.kill()
            if attempt < 2 and "address already in use" in self.log_tail().lower():
                self.port = free_port()
                continue
            raise RuntimeError(
                f"nubo up failed with code {result.returncode}:\n{result.stdout}{result.stderr}"
                f"\n--- nubo.log ---\n{self.log_tail()}"
            )
        self.pid = int((self.data_dir / "nubo.pid").read_text().strip())
        clouds = yaml.safe_load(self.clouds_yaml.read_text())["clouds"]
        self.admin_password = clouds["nubo"]["auth"]["password"]
        self.demo_password = clouds["nubo-demo"]["auth"]["password"]

    def down(self) -> None:
        """``nubo down``, the way an operator stops it."""
        result = self.nubo("down")
        assert result.returncode == 0, result.stdout + result.stderr
        self.pid = None

    def kill(self) -> None:
        """Stop the process by its pid (teardown)."""
        pid = self.pid
        if pid is None:
            with contextlib.suppress(OSError, ValueError):
                pid = int((self.data_dir / "nubo.pid").read_text().strip())
        if pid is not None:
            stop_pid(pid)
        self.pid = None


# -- PostgreSQL ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster for the session (fails in CI, skips elsewhere, when absent)."""
    bindir = find_pg_bindir()
    if bindir is None:
        message = (
            "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb, pg_ctl): "
            "install Debian's postgresql package (`make test` does)"
        )
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    cluster = PostgresCluster(bindir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


# -- the cloud -------------------------------------------------------------------------


@dataclass(frozen=True)
class Database:
    kind: str  # "sqlite" | "postgresql"
    new_url: Callable[[], str]  # a fresh, empty database ("" = SQLite in the data dir)


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def database(request: pytest.FixtureRequest) -> Database:
    if request.param == "sqlite":
        return Database("sqlite", lambda: "")
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return Database("postgresql", cluster.create_database)


@pytest.fixture(scope="session")
def cloud_factory(database: Database) -> Iterator[Callable[..., NuboCloud]]:
    """Start another cloud on a fresh data dir and database (stopped at session end);
    keyword arguments become NUBO_* environment settings of that cloud."""
    started: list[NuboCloud] = []

    def make(**settings: str) -> NuboCloud:
        data_dir = Path(tempfile.mkdtemp(prefix=f"nubo-ft-{database.kind}-"))
        env = {f"NUBO_{k.upper()}": v for k, v in settings.items()}
        c = NuboCloud(data_dir, database.kind, database.new_url(), env)
        started.append(c)
        c.up()
        return c

    yield make
    for c in started:
        try:
            c.kill()
        finally:
            shutil.rmtree(c.data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def cloud(cloud_factory: Callable[..., NuboCloud]) -> NuboCloud:
    """The shared cloud: base_url, auth_url, admin_password, demo_password, clouds_yaml,
    data_dir, database."""
    return cloud_factory()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Show the end of nubo.log next to a failed test."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call" and report.failed:
        c = getattr(item, "funcargs", {}).get("cloud")
        if isinstance(c, NuboCloud):
            report.sections.append(("nubo.log (last lines)", c.log_tail()))


def connect(c: NuboCloud, name: str) -> connection.Connection:
    """An openstacksdk Connection for a cloud of ``c``'s clouds.yaml."""
    config = os_config.OpenStackConfig(
        config_files=[str(c.clouds_yaml)], vendor_files=[], load_envvars=False
    )
    return connection.Connection(config=config.get_one(cloud=name))


@pytest.fixture(scope="session")
def admin_conn(cloud: NuboCloud) -> Iterator[connection.Connection]:
    conn = connect(cloud, "nubo")
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def demo_conn(cloud: NuboCloud) -> Iterator[connection.Connection]:
    conn = connect(cloud, "nubo-demo")
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def unique() -> Callable[[str], str]:
    """``unique("proj")`` -> ``proj-1f2e3d4c5b``: names that do not collide."""
    return unique_name


# -- raw HTTP ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def http(cloud: NuboCloud) -> Iterator[Http]:
    client = Http(cloud)
    yield client
    client.close()


@pytest.fixture(scope="session")
def http_for() -> Iterator[Callable[[NuboCloud], Http]]:
    """Raw HTTP helpers for another cloud (from ``cloud_factory``)."""
    clients: list[Http] = []

    def make(c: NuboCloud) -> Http:
        clients.append(Http(c))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


# -- the openstack CLI -----------------------------------------------------------------

# Commands whose output `-f json` formats (others print nothing on success).
_JSON_VERBS = frozenset({"list", "show", "create", "issue"})


class CliError(Exception):
    """An ``openstack`` command exited non-zero."""

    def __init__(self, args: list[str], returncode: int, stdout: str, stderr: str) -> None:
        self.args_ = args
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(
            f"`{' '.join(args)}` exited {returncode}\nstdout: {stdout}\nstderr: {stderr}"
        )


class Cli:
    """``run_cli("user", "list", cloud="nubo")``: runs ``openstack --os-cloud nubo user list
    -f json`` and returns the parsed JSON.

    ``-f json`` is added to list/show/create/issue commands (``json_output=`` overrides);
    other commands return their stdout text. A non-zero exit raises ``run_cli.Error``
    with ``returncode``, ``stdout`` and ``stderr``. ``add_cloud`` adds an entry for
    another user to the clouds.yaml the CLI reads.
    """

    Error = CliError

    def __init__(self, c: NuboCloud) -> None:
        self.cloud = c
        self.extra: dict[str, Any] = {}

    @property
    def config_file(self) -> Path:
        return self.cloud.data_dir / "clouds-cli.yaml" if self.extra else self.cloud.clouds_yaml

    def add_cloud(
        self,
        name: str,
        *,
        username: str,
        password: str,
        project: str | None = None,
        domain_id: str = "default",
    ) -> str:
        """Add a cloud entry for another user (project-scoped when ``project`` names one)
        to the clouds.yaml the CLI reads; returns ``name`` for ``run_cli(..., cloud=name)``."""
        auth: dict[str, Any] = {
            "auth_url": self.cloud.auth_url,
            "username": username,
            "password": password,
            "user_domain_id": domain_id,
        }
        if project:
            auth.update(project_name=project, project_domain_id=domain_id)
        self.extra[name] = {
            "auth": auth,
            "region_name": "RegionOne",
            "interface": "public",
            "identity_api_version": 3,
        }
        doc = yaml.safe_load(self.cloud.clouds_yaml.read_text())
        doc["clouds"].update(self.extra)
        self.config_file.write_text(yaml.safe_dump(doc))
        return name

    def __call__(self, *args: str, cloud: str = "nubo", json_output: bool | None = None) -> Any:
        words = []
        for a in args:
            if a.startswith("-"):
                break
            words.append(a)
        if json_output is None:
            json_output = any(w in _JSON_VERBS for w in words[:3])
        cmd = [str(OPENSTACK), "--os-cloud", cloud, *args]
        if json_output:
            cmd += ["-f", "json"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env["OS_CLIENT_CONFIG_FILE"] = str(self.config_file)
        result = subprocess.run(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise CliError(cmd, result.returncode, result.stdout, result.stderr)
        if json_output:
            return json.loads(result.stdout) if result.stdout.strip() else None
        return result.stdout


@pytest.fixture(scope="session")
def run_cli(cloud: NuboCloud) -> Cli:
    return Cli(cloud)


@pytest.fixture(scope="session")
def server_image(cloud: NuboCloud) -> Iterator[str]:
    """A small public raw image for servers (the fake compute driver only copies it)."""
    conn = connect(cloud, "nubo")
    image = conn.image.create_image(
        name="compute-test-image",
        disk_format="raw",
        container_format="bare",
        visibility="public",
        data=b"\0" * 65536,
    )
    yield image.id
    conn.image.delete_image(image.id, ignore_missing=True)
    conn.close()


@pytest.fixture
def boot(
    demo_conn: connection.Connection,
    http: Http,
    server_image: str,
    unique: Callable[[str], str],
) -> Iterator[Callable[..., Any]]:
    """``boot(**attrs)``: a server of the demo project made with openstacksdk's
    ``create_server(**attrs)``, by default flavor 42, ``server_image``, no network and a
    unique name. It returns the server's 2.96 body once ACTIVE with no task under way
    (``wait_for``), or with ``wait=False`` the create response at once. Afterwards every
    server made is unlocked (by an admin), deleted, and must be gone."""
    made: list[str] = []

    def create(*, wait: bool = True, **attrs: Any) -> Any:
        attrs.setdefault("name", unique("vm"))
        attrs.setdefault("flavor_id", "42")
        attrs.setdefault("image_id", server_image)
        attrs.setdefault("networks", "none")
        server = demo_conn.compute.create_server(**attrs)
        made.append(server.id)
        if not wait:
            return server
        return wait_for(http, demo_conn.auth_token, server.id, "ACTIVE")

    yield create
    for server_id in made:
        act(http, http.admin_token, server_id, {"unlock": None})
        demo_conn.compute.delete_server(server_id, ignore_missing=True)
    for server_id in made:
        wait_gone(http, demo_conn.auth_token, server_id)


@pytest.fixture
def compute_member(http: Http) -> Iterator[dict[str, Any]]:
    """A member of a fresh project, whose compute quotas are the test's to change (reset
    afterwards): ``project_id``, ``name`` (the project's), ``user_id`` and ``token``."""
    project = http.make_project()
    user = http.make_user(project_id=project["id"], role="member")
    token = http.token(user["name"], user["password"], scope={"project": {"id": project["id"]}})
    yield {
        "project_id": project["id"],
        "name": project["name"],
        "user_id": user["id"],
        "token": token,
    }
    http.delete(f"{QUOTAS}/{project['id']}")
