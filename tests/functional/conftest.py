"""Fixtures of the functional suite: a real ``nubo up`` process over real HTTP.

Every test runs once per database: ``sqlite`` always, and ``postgresql`` on a
throwaway cluster that the ``postgres`` fixture initdb's from Debian's packages.
One cloud is started per database per session and shared by all tests, so tests
create uniquely named resources (``unique``) and never change the bootstrap
``admin`` and ``demo`` accounts; a test that must restart or break a cloud makes
its own with ``cloud_factory``.

Fixtures other test modules rely on: ``cloud``, ``cloud_factory``, ``admin_conn``,
``demo_conn``, ``http``, ``run_cli``, ``unique``.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openstack import config as os_config
from openstack import connection

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


def pytest_configure(config: pytest.Config) -> None:
    # openstacksdk's notes about its own future releases are not ours to act on
    config.addinivalue_line("filterwarnings", "ignore::openstack.warnings._RemovedInSDKWarning")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


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


def find_pg_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin with initdb and pg_ctl."""

    def version(path: str) -> tuple[int, ...]:
        ver = Path(path).parent.parent.name
        return tuple(int(p) for p in ver.split(".") if p.isdigit())

    for initdb in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version, reverse=True):
        bindir = Path(initdb).parent
        if (bindir / "pg_ctl").exists() and (bindir / "postgres").exists():
            return bindir
    return None


class PostgresCluster:
    """A throwaway cluster on 127.0.0.1, owned by an unprivileged user when we are root."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="nubo-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.run_as: dict[str, Any] = {}
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root.
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                account = pwd.getpwnam("nobody")
            self.run_as = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self.sockets.mkdir()
        if self.run_as:
            os.chown(self.sockets, self.run_as["user"], self.run_as["group"])

    def _run(self, *cmd: str) -> None:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}
        result = subprocess.run(
            cmd,
            cwd=self.root,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            **self.run_as,
        )
        if result.returncode != 0:
            log = ""
            with contextlib.suppress(OSError):
                log = (self.root / "postgres.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(
                f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
                f"\n{log}"
            )

    def start(self) -> None:
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            PG_SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.sockets} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "postgres.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def url(self, database: str) -> str:
        return f"postgresql://{PG_SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = f"nubo_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(
                    str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"
                )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


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

ADMIN: Any = object()  # "the cached admin token" (pass token=None for no token)


class Http:
    """httpx against the cloud, with tokens and admin helpers for setting up tests.

    Paths not starting with ``/`` are relative to ``/identity/v3``; requests carry
    the admin token unless ``token=`` says otherwise (``None``: no token).
    """

    def __init__(self, c: NuboCloud) -> None:
        self.cloud = c
        self.client = httpx.Client(base_url=c.base_url, timeout=30.0)
        self._tokens: dict[str, str] = {}
        self._roles: dict[str, str] = {}

    @staticmethod
    def url(path: str) -> str:
        return path if path.startswith(("/", "http://", "https://")) else f"{V3}/{path}"

    def request(
        self,
        method: str,
        path: str,
        *,
        token: Any = ADMIN,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        hdrs = dict(headers or {})
        if token is ADMIN:
            token = self.admin_token
        if token is not None:
            hdrs["X-Auth-Token"] = token
        return self.client.request(method, self.url(path), headers=hdrs, **kwargs)

    get = functools.partialmethod(request, "GET")
    head = functools.partialmethod(request, "HEAD")
    post = functools.partialmethod(request, "POST")
    put = functools.partialmethod(request, "PUT")
    patch = functools.partialmethod(request, "PATCH")
    delete = functools.partialmethod(request, "DELETE")

    @staticmethod
    def expect(response: httpx.Response, status: int) -> Any:
        """Assert the status; return the decoded body (None when empty)."""
        assert response.status_code == status, (
            f"{response.request.method} {response.request.url} -> "
            f"{response.status_code} (expected {status}): {response.text}"
        )
        return response.json() if response.content else None

    # -- tokens ----------------------------------------------------------------------

    @staticmethod
    def password_body(
        password: str,
        *,
        name: str | None = None,
        user_id: str | None = None,
        domain_id: str = "default",
        scope: Any = None,
    ) -> dict[str, Any]:
        user: dict[str, Any] = (
            {"id": user_id} if user_id else {"name": name, "domain": {"id": domain_id}}
        )
        user["password"] = password
        auth: dict[str, Any] = {"identity": {"methods": ["password"], "password": {"user": user}}}
        if scope is not None:
            auth["scope"] = scope
        return {"auth": auth}

    def password_auth(
        self, name: str | None, password: str, *, nocatalog: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """POST /v3/auth/tokens with the password method (no token sent)."""
        body = self.password_body(password, name=name, **kwargs)
        path = "auth/tokens?nocatalog=true" if nocatalog else "auth/tokens"
        return self.post(path, token=None, json=body)

    def token(self, name: str | None, password: str, **kwargs: Any) -> str:
        """Issue a token (``scope=``, ``user_id=``, ``domain_id=`` as password_body)."""
        r = self.password_auth(name, password, **kwargs)
        self.expect(r, 201)
        return r.headers["x-subject-token"]

    def rescope(self, token: str, scope: Any = None) -> httpx.Response:
        """POST /v3/auth/tokens with the token method."""
        auth: dict[str, Any] = {"identity": {"methods": ["token"], "token": {"id": token}}}
        if scope is not None:
            auth["scope"] = scope
        return self.post("auth/tokens", token=None, json={"auth": auth})

    def _cached(self, name: str, password: str, project: str) -> str:
        if name not in self._tokens:
            scope = {"project": {"name": project, "domain": {"id": "default"}}}
            self._tokens[name] = self.token(name, password, scope=scope)
        return self._tokens[name]

    @property
    def admin_token(self) -> str:
        """The admin user's token on the admin project (cached)."""
        return self._cached("admin", self.cloud.admin_password, "admin")

    @property
    def demo_token(self) -> str:
        """The demo user's token on the demo project (role member; cached)."""
        return self._cached("demo", self.cloud.demo_password, "demo")

    def validate(self, subject: str, *, token: Any = ADMIN, query: str = "") -> httpx.Response:
        """GET /v3/auth/tokens for ``subject``."""
        path = "auth/tokens" + (f"?{query}" if query else "")
        return self.get(path, token=token, headers={"X-Subject-Token": subject})

    def is_valid(self, subject: str) -> bool:
        """Whether the admin sees ``subject`` as a valid token (HEAD: 200 or 404)."""
        r = self.head("auth/tokens", headers={"X-Subject-Token": subject})
        assert r.status_code in (200, 404), f"HEAD /v3/auth/tokens -> {r.status_code}"
        return r.status_code == 200

    # -- setting up resources as admin ---------------------------------------------------

    def create(self, collection: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = self.expect(self.post(collection, json={key: body}), 201)[key]
        return data

    def make_project(self, name: str | None = None, **fields: Any) -> dict[str, Any]:
        return self.create("projects", "project", {"name": name or unique_name("proj"), **fields})

    def make_domain(self, name: str | None = None, **fields: Any) -> dict[str, Any]:
        return self.create("domains", "domain", {"name": name or unique_name("dom"), **fields})

    def make_group(self, name: str | None = None, **fields: Any) -> dict[str, Any]:
        return self.create("groups", "group", {"name": name or unique_name("grp"), **fields})

    def make_role(self, name: str | None = None, **fields: Any) -> dict[str, Any]:
        return self.create("roles", "role", {"name": name or unique_name("role"), **fields})

    def make_user(
        self,
        name: str | None = None,
        *,
        password: str | None = None,
        project_id: str | None = None,
        role: str = "member",
        **fields: Any,
    ) -> dict[str, Any]:
        """A user with a password; given ``project_id``, also ``role`` on that project.
        The returned dict carries the ``password``."""
        password = password or uuid.uuid4().hex
        user = self.create(
            "users", "user", {"name": name or unique_name("user"), "password": password, **fields}
        )
        if project_id:
            self.grant(role, user=user["id"], project=project_id)
        return {**user, "password": password}

    def role_id(self, name: str) -> str:
        """The id of a global role by name."""
        if name not in self._roles:
            roles = self.expect(self.get(f"roles?name={name}"), 200)["roles"]
            assert roles, f"no role named {name}"
            self._roles[name] = roles[0]["id"]
        return self._roles[name]

    def grant_path(
        self,
        role: str,
        *,
        user: str | None = None,
        group: str | None = None,
        project: str | None = None,
        domain: str | None = None,
        system: bool = False,
        inherited: bool = False,
    ) -> str:
        role_id = role if len(role) == 32 and role.isalnum() else self.role_id(role)
        actor = f"users/{user}" if user else f"groups/{group}"
        if system:
            return f"system/{actor}/roles/{role_id}"
        target = f"projects/{project}" if project else f"domains/{domain}"
        if inherited:
            return f"OS-INHERIT/{target}/{actor}/roles/{role_id}/inherited_to_projects"
        return f"{target}/{actor}/roles/{role_id}"

    def grant(self, role: str, **where: Any) -> None:
        """Give ``role`` (a name or id) to user=/group= on project=/domain=/system=True."""
        self.expect(self.put(self.grant_path(role, **where)), 204)

    def revoke(self, role: str, **where: Any) -> None:
        self.expect(self.delete(self.grant_path(role, **where)), 204)

    def close(self) -> None:
        self.client.close()


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
