"""What the compute agent does for each task state a server action sets: the
driver call, then the outcome written with a conditional update (a delete or another
action that arrived meanwhile wins) and the instance action's event, named as Nova
names them (``compute_stop_instance`` ...).

A failed step ends the task and records the error as the action's event and the
server's fault (shown once the server is in ERROR); reboot, rebuild and resize
failures put the server in ERROR as Nova does. Steps are idempotent so an agent
that restarts mid-way can run them again; the images and moves steps are in
``server_image_operations``.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from nubo.compute import actions, states
from nubo.compute import models as m
from nubo.compute.drivers.base import InstanceSpec, PowerState
from nubo.compute.operations import operation
from nubo.db.base import utcnow

if TYPE_CHECKING:
    from nubo.compute.agent import ComputeAgent

log = logging.getLogger(__name__)

S = states
SHUTDOWN_TIMEOUT = 60  # seconds a guest gets to shut down cleanly (Nova's shutdown_timeout)
# compute agents running in this process, by host (console output reads their driver)
LOCAL_AGENTS: dict[str, ComputeAgent] = {}


def register(agent: ComputeAgent) -> None:
    """Make the agent's driver reachable from this process's API (console output)."""
    LOCAL_AGENTS[agent.host] = agent


def fault(message: str, code: int = 500) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "details": message,
        "created": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def power_of(agent: ComputeAgent, server_id: str) -> int:
    try:
        return int(agent.driver.power_state(server_id))
    except Exception:
        log.exception("server %s: reading its power state failed", server_id)
        return int(PowerState.NOSTATE)


def move_on(agent: ComputeAgent, server: m.Server, expect: str, task: str, **values: Any) -> bool:
    """The next task state of a multi-step operation (with a fresh deadline); False when
    the server was changed meanwhile (deleted, reset), and the step must stop."""
    from nubo.compute.servers import deadline

    with agent.svc.db.session() as s:
        done = agent.advance(
            s, server, expect, task_state=task, task_deadline=deadline(agent.svc), **values
        )
    if done:
        server.task_state = task
    return done


def complete(
    agent: ComputeAgent,
    server: m.Server,
    expect: str,
    action: str,
    events: tuple[str, ...],
    extra: Callable[[Session], None] | None = None,
    error: str | None = None,
    **values: Any,
) -> bool:
    """End the task: the server's values, ``extra`` writes in the same transaction and
    the action's events (the last one carries ``error``)."""
    values.setdefault("task_state", None)
    values.setdefault("task_deadline", None)
    with agent.svc.db.session() as s:
        if not agent.advance(s, server, expect, **values):
            log.info("server %s changed during %s; its outcome is dropped", server.id, expect)
            return False
        if extra is not None:
            extra(s)
        for index, event in enumerate(events):
            last = index == len(events) - 1
            actions.event(s, server.id, action, event, agent.host, error if last else None)
        return True


def failed(
    agent: ComputeAgent,
    server: m.Server,
    action: str,
    event: str,
    exc: BaseException,
    extra: Callable[[Session], None] | None = None,
    **values: Any,
) -> None:
    """End the task after an error: the message as event and fault, power state re-read."""
    message = str(exc) or type(exc).__name__
    log.warning("server %s: %s failed: %s", server.id, action, message)
    values.setdefault("power_state", power_of(agent, server.id))
    values.setdefault("fault", fault(message))
    complete(
        agent,
        server,
        server.task_state or "",
        action,
        (event,),
        extra=extra,
        error=message,
        **values,
    )


def run(
    agent: ComputeAgent,
    server: m.Server,
    action: str,
    event: str,
    work: Callable[[], dict[str, Any]],
    on_error: dict[str, Any] | None = None,
) -> None:
    """Run ``work`` (the driver calls; returns the server's new values) and end the task."""
    task = server.task_state or ""
    try:
        values = work()
    except Exception as exc:  # any failure ends the task with a message, not a deadline
        log.debug("server %s: %s", server.id, action, exc_info=True)
        failed(agent, server, action, event, exc, **(on_error or {}))
        return
    values.setdefault("power_state", power_of(agent, server.id))
    complete(agent, server, task, action, (event,), **values)


# -- power -------------------------------------------------------------------------------


@operation(S.POWERING_OFF)
def stop(agent: ComputeAgent, server: m.Server) -> None:
    def work() -> dict[str, Any]:
        agent.driver.power_off(server.id, timeout=SHUTDOWN_TIMEOUT)
        return {"vm_state": S.STOPPED}

    run(agent, server, "stop", "compute_stop_instance", work)


@operation(S.POWERING_ON)
def start(agent: ComputeAgent, server: m.Server) -> None:
    def work() -> dict[str, Any]:
        agent.driver.power_on(agent.spec(server), agent.plugger)
        return {"vm_state": S.ACTIVE}

    run(agent, server, "start", "compute_start_instance", work)


@operation(S.REBOOTING, S.REBOOT_PENDING, S.REBOOT_STARTED)
def reboot_soft(agent: ComputeAgent, server: m.Server) -> None:
    def work() -> dict[str, Any]:
        agent.driver.reboot(agent.spec(server), agent.plugger, hard=False)
        return {"vm_state": S.ACTIVE}

    run(agent, server, "reboot", "compute_reboot_instance", work, {"vm_state": S.ERROR})


@operation(S.REBOOTING_HARD, S.REBOOT_PENDING_HARD, S.REBOOT_STARTED_HARD)
def reboot_hard(agent: ComputeAgent, server: m.Server) -> None:
    """From any state Nova allows (stopped, paused, suspended, error): running again."""

    def work() -> dict[str, Any]:
        spec = agent.spec(server)
        if agent.driver.power_state(server.id) in (
            PowerState.SHUTDOWN,
            PowerState.CRASHED,
            PowerState.NOSTATE,
        ):
            agent.driver.power_on(spec, agent.plugger)
        else:
            agent.driver.reboot(spec, agent.plugger, hard=True)
        return {"vm_state": S.ACTIVE}

    run(agent, server, "reboot", "compute_reboot_instance", work, {"vm_state": S.ERROR})


@operation(S.PAUSING)
def pause(agent: ComputeAgent, server: m.Server) -> None:
    def work() -> dict[str, Any]:
        agent.driver.pause(server.id)
        return {"vm_state": S.PAUSED}

    run(agent, server, "pause", "compute_pause_instance", work)


@operation(S.UNPAUSING)
def unpause(agent: ComputeAgent, server: m.Server) -> None:
    def work() -> dict[str, Any]:
        agent.driver.unpause(server.id)
        return {"vm_state": S.ACTIVE}

    run(agent, server, "unpause", "compute_unpause_instance", work)


@operation(S.SUSPENDING)
def suspend(agent: ComputeAgent, server: m.Server) -> None:
    def work() -> dict[str, Any]:
        agent.driver.suspend(server.id)
        return {"vm_state": S.SUSPENDED}

    run(agent, server, "suspend", "compute_suspend_instance", work)


@operation(S.RESUMING)
def resume(agent: ComputeAgent, server: m.Server) -> None:
    def work() -> dict[str, Any]:
        agent.driver.resume(agent.spec(server), agent.plugger)
        return {"vm_state": S.ACTIVE}

    run(agent, server, "resume", "compute_resume_instance", work)


# -- rescue ------------------------------------------------------------------------------


@operation(S.RESCUING)
def rescue(agent: ComputeAgent, server: m.Server) -> None:
    """Boot the rescue image with the server's disk attached (the spec carries it while
    the task is ``rescuing``)."""

    def work() -> dict[str, Any]:
        spec = agent.spec(server)
        agent.driver.power_off(server.id, timeout=SHUTDOWN_TIMEOUT)
        agent.driver.power_on(spec, agent.plugger)
        return {"vm_state": S.RESCUED, "previous_vm_state": server.vm_state}

    run(agent, server, "rescue", "compute_rescue_instance", work)


@operation(S.UNRESCUING)
def unrescue(agent: ComputeAgent, server: m.Server) -> None:
    def work() -> dict[str, Any]:
        spec: InstanceSpec = dataclasses.replace(agent.spec(server), rescue_image_path=None)
        agent.driver.power_off(server.id, timeout=SHUTDOWN_TIMEOUT)
        agent.driver.power_on(spec, agent.plugger)
        args = {k: v for k, v in (server.task_args or {}).items() if k != "rescue_image_id"}
        return {"vm_state": S.ACTIVE, "previous_vm_state": None, "task_args": args}

    run(agent, server, "unrescue", "compute_unrescue_instance", work)


# the steps of image, move and interface operations register themselves on import
for _module in ("server_image_operations", "server_interface_operations"):
    importlib.import_module(f"nubo.compute.{_module}")
