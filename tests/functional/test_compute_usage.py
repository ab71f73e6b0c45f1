"""Tenant usage (/os-simple-tenant-usage) and migrations (/os-migrations).

Server and migration rows with known lifetimes are written to the running cloud's
database (launched, terminated, deleted: what the API and agent would have recorded)
for made-up projects or the demo project, and removed after each test.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import delete

from nubo.compute import models as m
from nubo.config import Config
from nubo.db.engine import Database

from .compute import nova_error, v

NOVA = "/compute/v2.1"
USAGE = f"{NOVA}/os-simple-tenant-usage"
MIGRATIONS = f"{NOVA}/os-migrations"
T0 = dt.datetime(2023, 3, 1, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
PERIOD = "start=2023-03-01T00:00:00&end=2023-03-01T10:00:00"


@pytest.fixture(scope="module")
def db(cloud) -> Iterator[Database]:
    cfg = Config(data_dir=str(cloud.data_dir))
    cfg.database.url = cloud.database_url
    database = Database(cfg.database_url)
    yield database
    database.dispose()


@pytest.fixture
def servers(db) -> Iterator[Callable[..., str]]:
    """``servers(project, launched, terminated=None, vcpus=..)`` writes a server row."""
    made: list[str] = []

    def make(
        project: str,
        launched: dt.datetime | None,
        terminated: dt.datetime | None = None,
        *,
        vcpus: int = 2,
        memory_mb: int = 1024,
        root_gb: int = 10,
        ephemeral_gb: int = 0,
        name: str = "usage-vm",
    ) -> str:
        server_id = str(uuid.uuid4())
        made.append(server_id)
        flavor = {"name": "u.flavor", "vcpus": vcpus, "memory_mb": memory_mb,
                  "root_gb": root_gb, "ephemeral_gb": ephemeral_gb}  # fmt: skip
        with db.session() as s:
            s.add(
                m.Server(
                    id=server_id, project_id=project, user_id="usage-user", name=name,
                    flavor=flavor, host="usage-nowhere",
                    vm_state="deleted" if terminated else "active",
                    created_at=launched or T0, launched_at=launched,
                    terminated_at=terminated, deleted_at=terminated,
                )
            )  # fmt: skip
        return server_id

    yield make
    with db.session() as s:
        s.execute(delete(m.Server).where(m.Server.id.in_(made)))


@pytest.fixture
def demo_project(http) -> str:
    projects = http.expect(http.get("projects", params={"name": "demo"}), 200)["projects"]
    return str(projects[0]["id"])


def usage_of(body: dict[str, Any], project: str) -> dict[str, Any]:
    (found,) = [u for u in body["tenant_usages"] if u["tenant_id"] == project]
    return found


# -- os-simple-tenant-usage -------------------------------------------------------------------


def test_usage_totals_over_a_period(http, servers):
    project = uuid.uuid4().hex
    whole = servers(project, T0 - HOUR)  # runs through the period: 10 h
    half = servers(project, T0 + 2 * HOUR, T0 + 6 * HOUR, vcpus=1, memory_mb=512)  # 4 h
    servers(project, T0 - 5 * HOUR, T0 - HOUR)  # gone before: not counted
    servers(project, None)  # never launched: not counted
    servers(project, T0 + 20 * HOUR)  # launched after: not counted
    body = http.expect(http.get(f"{USAGE}?{PERIOD}&detailed=1"), 200)
    mine = usage_of(body, project)
    assert mine["total_hours"] == pytest.approx(14.0)
    assert mine["total_vcpus_usage"] == pytest.approx(2 * 10 + 1 * 4)
    assert mine["total_memory_mb_usage"] == pytest.approx(1024 * 10 + 512 * 4)
    assert mine["total_local_gb_usage"] == pytest.approx(10 * 14)
    assert (mine["start"], mine["stop"]) == (
        "2023-03-01T00:00:00.000000",
        "2023-03-01T10:00:00.000000",
    )
    by_id = {u["instance_id"]: u for u in mine["server_usages"]}
    assert set(by_id) == {whole, half}
    ended = by_id[half]
    assert ended["state"] == "terminated" and ended["hours"] == pytest.approx(4.0)
    assert ended["ended_at"] == "2023-03-01T06:00:00.000000" and ended["uptime"] == 4 * 3600
    assert ended["flavor"] == "u.flavor" and ended["local_gb"] == 10 and ended["vcpus"] == 1
    assert by_id[whole]["state"] == "active" and by_id[whole]["ended_at"] is None
    brief = usage_of(http.expect(http.get(f"{USAGE}?{PERIOD}"), 200), project)
    assert "server_usages" not in brief and brief["total_hours"] == pytest.approx(14.0)


def test_own_project_usage(http, servers, demo_project):
    servers(demo_project, T0, T0 + 3 * HOUR)
    r = http.get(f"{USAGE}/{demo_project}?{PERIOD}", token=http.demo_token)
    usage = http.expect(r, 200)["tenant_usage"]
    assert usage["tenant_id"] == demo_project
    assert usage["total_hours"] == pytest.approx(3.0) and len(usage["server_usages"]) == 1
    # members see their own project only; listing every project is for admins
    other = uuid.uuid4().hex
    nova_error(http.get(f"{USAGE}/{other}?{PERIOD}", token=http.demo_token), 403)
    nova_error(http.get(f"{USAGE}?{PERIOD}", token=http.demo_token), 403)
    # a project without servers has an empty usage
    assert http.expect(http.get(f"{USAGE}/{other}?{PERIOD}"), 200) == {"tenant_usage": {}}


def test_usage_with_an_empty_tenant_id(http, servers):
    """``os-simple-tenant-usage/`` (trailing slash) names tenant "": a 404 as in Nova
    (Tempest's test_get_usage_tenant_with_empty_tenant_id), not the list."""
    servers(uuid.uuid4().hex, T0)
    nova_error(http.get(f"{USAGE}/?{PERIOD}"), 404)
    nova_error(http.get(f"{USAGE}/", headers=v("2.40")), 404)
    # without the slash it is still the list
    assert http.expect(http.get(f"{USAGE}?{PERIOD}"), 200)["tenant_usages"]


def test_usage_pages_over_servers(http, servers):
    project = "0000-usage-paging-" + uuid.uuid4().hex[:8]
    made = sorted(servers(project, T0) for _ in range(3))
    seen: list[str] = []
    url = f"{USAGE}/{project}?{PERIOD}&limit=2"
    pages = 0
    while url:
        body = http.expect(http.get(url, headers=v("2.40")), 200)
        seen += [u["instance_id"] for u in body["tenant_usage"].get("server_usages", [])]
        links = body.get("tenant_usage_links", [])
        url = links[0]["href"] if links else ""
        pages += 1
    assert seen == made and pages == 2
    r = http.get(f"{USAGE}?{PERIOD}&limit=1", headers=v("2.40"))
    assert http.expect(r, 200)["tenant_usages_links"][0]["rel"] == "next"
    # before 2.40 no links
    r = http.get(f"{USAGE}/{project}?{PERIOD}&limit=1", headers=v("2.39"))
    assert "tenant_usage_links" not in http.expect(r, 200)
    r = http.get(f"{USAGE}?{PERIOD}&marker={uuid.uuid4()}", headers=v("2.40"))
    assert "Marker" in nova_error(r, 400)


def test_usage_query_errors(http):
    r = http.get(f"{USAGE}?start=2023-03-02T00:00:00&end=2023-03-01T00:00:00")
    assert "start time cannot occur after the end time" in nova_error(r, 400)
    assert "start" in nova_error(http.get(f"{USAGE}?start=yesterday"), 400)
    assert "bogus" in nova_error(http.get(f"{USAGE}?bogus=1", headers=v("2.75")), 400)
    # unknown parameters are ignored before 2.75
    http.expect(http.get(f"{USAGE}?bogus=1&{PERIOD}", headers=v("2.74")), 200)
    assert "limit" in nova_error(http.get(f"{USAGE}?limit=x", headers=v("2.40")), 400)


def test_usage_cli(run_cli, servers, demo_project):
    now = dt.datetime.now(dt.UTC)
    servers(demo_project, now - 3 * HOUR, now - HOUR, name="cli-usage-vm")
    listed = run_cli("usage", "list")
    # the project column holds its name when the CLI could look it up, else its id
    (demo,) = [u for u in listed if u["Project"] in ("demo", demo_project)]
    assert "cli-usage-vm" in {s["name"] for s in demo["Servers"]}
    assert float(demo["CPU Hours"]) >= 4.0
    shown = run_cli("usage", "show", cloud="nubo-demo")
    assert float(shown["CPU Hours"]) >= 4.0 and float(shown["RAM MB-Hours"]) >= 2048.0


# -- os-migrations -----------------------------------------------------------------------------


@pytest.fixture
def migrations(db) -> Iterator[Callable[..., m.Migration]]:
    made: list[int] = []

    def make(**fields: Any) -> m.Migration:
        values = {"server_id": str(uuid.uuid4()), "project_id": "mig-project",
                  "user_id": "mig-user", "migration_type": "resize", "status": "finished",
                  "source_compute": "mig-src", "dest_compute": "mig-dst",
                  "source_node": "mig-src", "dest_node": "mig-dst", "old_flavor_id": "1",
                  "new_flavor_id": "2", **fields}  # fmt: skip
        with db.session() as s:
            row = m.Migration(**values)
            s.add(row)
            s.flush()
            made.append(row.id)
        return row

    yield make
    with db.session() as s:
        s.execute(delete(m.Migration).where(m.Migration.id.in_(made)))


def test_migration_fields_by_microversion(http, migrations):
    row = migrations(migration_type="live-migration", status="running")
    url = f"{MIGRATIONS}?instance_uuid={row.server_id}"
    (old,) = http.expect(http.get(url, headers=v("2.1")), 200)["migrations"]
    assert old["id"] == row.id and old["instance_uuid"] == row.server_id
    assert (old["source_compute"], old["dest_compute"], old["status"]) == (
        "mig-src",
        "mig-dst",
        "running",
    )
    assert old["old_instance_type_id"] == 1 and old["new_instance_type_id"] == 2
    assert not {"migration_type", "uuid", "links", "user_id", "project_id"} & set(old)
    (v223,) = http.expect(http.get(url, headers=v("2.23")), 200)["migrations"]
    assert v223["migration_type"] == "live-migration"
    assert v223["links"][0]["href"].endswith(f"/servers/{row.server_id}/migrations/{row.id}")
    (v259,) = http.expect(http.get(url, headers=v("2.59")), 200)["migrations"]
    assert v259["uuid"] == row.uuid and "user_id" not in v259
    (v280,) = http.expect(http.get(url, headers=v("2.80")), 200)["migrations"]
    assert (v280["user_id"], v280["project_id"]) == ("mig-user", "mig-project")


def test_migration_filters_and_paging(http, migrations):
    server = str(uuid.uuid4())
    rows = [migrations(server_id=server, status=s) for s in ("finished", "error", "confirmed")]
    other = migrations(source_compute="mig-elsewhere", dest_compute="mig-far")

    def ids(query: str, version: str = "2.80") -> list[int]:
        body = http.expect(http.get(f"{MIGRATIONS}?{query}", headers=v(version)), 200)
        return [mig["id"] for mig in body["migrations"]]

    assert ids(f"instance_uuid={server}") == [r.id for r in reversed(rows)]  # newest first
    assert ids(f"instance_uuid={server}", "2.1") == [r.id for r in rows]
    assert ids(f"instance_uuid={server}&status=error") == [rows[1].id]
    assert ids("host=mig-far") == [other.id]
    assert ids("source_compute=mig-elsewhere") == [other.id]
    assert ids(f"instance_uuid={server}&migration_type=live-migration") == []
    assert other.id in ids("project_id=mig-project&user_id=mig-user")
    # pages of one, newest first, following the next links
    seen: list[int] = []
    url = f"{MIGRATIONS}?instance_uuid={server}&limit=1"
    while url:
        body = http.expect(http.get(url, headers=v("2.59")), 200)
        seen += [mig["id"] for mig in body["migrations"]]
        links = body.get("migrations_links", [])
        url = links[0]["href"] if links else ""
    assert seen == [r.id for r in reversed(rows)]
    r = http.get(f"{MIGRATIONS}?marker={uuid.uuid4()}", headers=v("2.59"))
    assert "Marker" in nova_error(r, 400)
    assert "bogus" in nova_error(http.get(f"{MIGRATIONS}?bogus=1", headers=v("2.59")), 400)
    nova_error(http.get(f"{MIGRATIONS}?user_id=x", headers=v("2.79")), 400)
    future = "2999-01-01T00:00:00Z"
    assert ids(f"instance_uuid={server}&changes-since={future}", "2.59") == []
    r = http.get(f"{MIGRATIONS}?changes-since={future}&changes-before=2000-01-01T00:00:00Z",
                 headers=v("2.66"))  # fmt: skip
    assert "changes-since" in nova_error(r, 400)


def test_migrations_are_admin_only(http, run_cli, migrations):
    row = migrations()
    nova_error(http.get(MIGRATIONS, token=http.demo_token), 403)
    listed = run_cli("server", "migration", "list", "--host", "mig-src")
    assert row.id in {mig["Id"] for mig in listed}
    with pytest.raises(run_cli.Error):
        run_cli("server", "migration", "list", cloud="nubo-demo")
