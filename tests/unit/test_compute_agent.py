"""The compute agent's safety nets on a real (SQLite) database with the fake driver:
deadlines end any task (a build in ERROR with a fault, never left in BUILD), power
sync shows an instance that died as SHUTOFF, and a restart powers on what should run
and removes what the database no longer has."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from nubo.compute import actions, states
from nubo.compute import models as m
from nubo.compute.access import Caller
from nubo.compute.agent import ComputeAgent
from nubo.compute.drivers.base import InstanceSpec, PowerState
from nubo.compute.drivers.fake import FakeComputeDriver
from nubo.compute.service import ComputeService
from nubo.config import Config
from nubo.db import migrate
from nubo.db.base import utcnow
from nubo.db.engine import Database
from nubo.placement.service import PlacementService

FLAVOR = {"id": "1", "name": "f", "vcpus": 1, "memory_mb": 64, "root_gb": 0,
          "ephemeral_gb": 0, "swap_mb": 0, "rxtx_factor": 1.0, "extra_specs": {}}  # fmt: skip
CALLER = Caller(project_id="p", user_id="u", is_admin=False, allowed=lambda _r, _t: True)


class NoPlugs:
    def plug(self, port_id: str, kind: str, netns: str | None = None) -> str:
        return "nubotest"

    def unplug(self, port_id: str) -> None:
        return None

    def dataplane_namespace(self) -> str | None:
        return None


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[ComputeAgent]:
    cfg = Config(data_dir=str(tmp_path))
    cfg.compute.host = "h1"
    db = Database(cfg.database_url)
    migrate.upgrade(db.engine)
    svc = ComputeService(cfg, db, None, None, None, PlacementService(cfg, db))  # type: ignore[arg-type]
    driver = FakeComputeDriver(cfg.instances_path, cfg.compute)
    yield ComputeAgent(svc, driver, NoPlugs())
    db.dispose()


def add_server(
    agent: ComputeAgent, vm_state: str, task_state: str | None, **columns: object
) -> str:
    server_id = str(uuid.uuid4())
    with agent.svc.db.session() as s:
        row = m.Server(
            id=server_id, project_id="p", user_id="u", name="vm", flavor=dict(FLAVOR),
            vm_state=vm_state, task_state=task_state, host="h1", **columns,
        )  # fmt: skip
        s.add(row)
        s.flush()
        actions.start(s, row, "create", CALLER)
    return server_id


def load(agent: ComputeAgent, server_id: str) -> m.Server:
    row = agent.load(server_id)
    assert row is not None
    return row


def spec(server_id: str, tmp_path: Path) -> InstanceSpec:
    image = tmp_path / "image"
    image.write_bytes(b"\0" * 512)
    return InstanceSpec(
        id=server_id, hostname="vm", vcpus=1, memory_mb=64, root_gb=0, ephemeral_gb=0,
        swap_mb=0, image_path=image, image_format="raw",
    )  # fmt: skip


def past() -> dt.datetime:
    return utcnow() - dt.timedelta(seconds=1)


@pytest.mark.parametrize("task", [states.SCHEDULING, states.NETWORKING, states.SPAWNING])
def test_a_build_past_its_deadline_ends_in_error(agent: ComputeAgent, task: str) -> None:
    server_id = add_server(agent, states.BUILDING, task, task_deadline=past())
    agent.expire_deadlines()
    row = load(agent, server_id)
    assert states.status(row.vm_state, row.task_state) == "ERROR"
    assert row.fault is not None and "timed out" in row.fault["message"]
    with agent.svc.db.reader() as s:
        (action,) = actions.list_actions(s, server_id)
        (event,) = actions.events_of(s, action.id)
    assert event.result == "Error"


def test_a_build_within_its_deadline_is_left_alone(agent: ComputeAgent) -> None:
    later = utcnow() + dt.timedelta(minutes=5)
    server_id = add_server(agent, states.BUILDING, states.SPAWNING, task_deadline=later)
    agent.expire_deadlines()
    assert load(agent, server_id).task_state == states.SPAWNING


def test_another_task_past_its_deadline_ends_with_an_error_event(agent: ComputeAgent) -> None:
    server_id = add_server(agent, states.ACTIVE, states.REBOOTING, task_deadline=past())
    agent.expire_deadlines()
    row = load(agent, server_id)
    assert (row.vm_state, row.task_state) == (states.ACTIVE, None)


def test_an_instance_that_died_shows_shutoff(agent: ComputeAgent, tmp_path: Path) -> None:
    server_id = add_server(agent, states.ACTIVE, None, power_state=1)
    agent.driver.spawn(spec(server_id, tmp_path), agent.plugger)
    agent.sync_power_states()
    assert load(agent, server_id).vm_state == states.ACTIVE
    agent.driver.power_off(server_id)  # it stops behind nubo's back
    agent.sync_power_states()
    row = load(agent, server_id)
    assert states.status(row.vm_state, row.task_state) == "SHUTOFF"
    assert row.power_state == PowerState.SHUTDOWN


def test_a_restart_starts_what_should_run_and_removes_orphans(
    agent: ComputeAgent, tmp_path: Path
) -> None:
    running = add_server(agent, states.ACTIVE, None, image_id="img")
    stopped = add_server(agent, states.STOPPED, None, image_id="img")
    base = agent.base / "img"
    base.parent.mkdir(parents=True)
    base.write_bytes(b"\0" * 512)
    for server_id in (running, stopped):
        agent.driver.spawn(spec(server_id, tmp_path), agent.plugger)
        agent.driver.power_off(server_id)  # the host went down
    orphan = str(uuid.uuid4())
    agent.driver.spawn(spec(orphan, tmp_path), agent.plugger)
    agent.recover()
    assert agent.driver.power_state(running) == PowerState.RUNNING
    assert agent.driver.power_state(stopped) == PowerState.SHUTDOWN
    assert orphan not in agent.driver.list_instances()
