"""Server actions (``POST /servers/{id}/action``): the checks Nova makes before an
action (the server is the caller's, policy, the lock, the action's allowed states),
then the intent: a task state with its deadline and an instance action, and the
host's generation bumped so its agent does the work (``server_operations``).

Some actions are complete when the request returns: lock, unlock, reset state,
security groups, confirm resize. Resize, rebuild, snapshots and shelving live in
``server_moves`` and ``server_images``; consoles in ``server_consoles``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nubo.compute import actions, servers, states
from nubo.compute import models as m
from nubo.compute.access import Caller
from nubo.compute.service import ComputeService
from nubo.db.base import utcnow
from nubo.errors import BadRequest, Conflict, NotFound, NotImplementedYet
from nubo.network import models as nm
from nubo.network import security_groups as net_groups
from nubo.network.access import touch as touch_port

_ANY: frozenset[str | None] | None = None


@dataclass(frozen=True)
class Allowed:
    """When Nova lets an action run: vm states (None: any), task states, whether a
    lock stops it, whether the server must be on a host and must have run once."""

    vm_states: frozenset[str] | None
    task_states: frozenset[str | None] | None = frozenset({None})
    lock: bool = True
    host: bool = False
    launched: bool = True


def _states(*names: str) -> frozenset[str]:
    return frozenset(names)


S = states
# Nova's compute API decorators (check_instance_lock/host/state), per action; rescue,
# rebuild and hard reboot also need a host here, as only a host's agent can do them
ALLOWED: dict[str, Allowed] = {
    "stop": Allowed(_states(S.ACTIVE, S.ERROR), host=True),
    "start": Allowed(_states(S.STOPPED), host=True),
    "reboot_soft": Allowed(_states(S.ACTIVE)),
    "reboot_hard": Allowed(
        _states(S.ACTIVE, S.STOPPED, S.PAUSED, S.SUSPENDED, S.ERROR),
        frozenset(
            {
                None,
                S.REBOOTING,
                S.REBOOT_PENDING,
                S.REBOOT_STARTED,
                S.RESUMING,
                S.REBOOTING_HARD,
                S.UNPAUSING,
                S.PAUSING,
                S.SUSPENDING,
            }
        ),
        host=True,
    ),
    "pause": Allowed(_states(S.ACTIVE)),
    "unpause": Allowed(_states(S.PAUSED)),
    "suspend": Allowed(_states(S.ACTIVE)),
    "resume": Allowed(_states(S.SUSPENDED), lock=False),
    "rescue": Allowed(_states(S.ACTIVE, S.STOPPED, S.ERROR), host=True),
    "unrescue": Allowed(_states(S.RESCUED)),
    "resize": Allowed(_states(S.ACTIVE, S.STOPPED), host=True),
    "confirmResize": Allowed(_states(S.RESIZED)),
    "revertResize": Allowed(_states(S.RESIZED)),
    "rebuild": Allowed(_states(S.ACTIVE, S.STOPPED, S.ERROR), host=True),
    "createImage": Allowed(_states(S.ACTIVE, S.STOPPED, S.PAUSED, S.SUSPENDED), lock=False),
    "createBackup": Allowed(_states(S.ACTIVE, S.STOPPED, S.PAUSED, S.SUSPENDED), lock=False),
    "shelve": Allowed(_states(S.ACTIVE, S.STOPPED, S.PAUSED, S.SUSPENDED)),
    "shelveOffload": Allowed(_states(S.SHELVED)),
    "unshelve": Allowed(_states(S.SHELVED, S.SHELVED_OFFLOADED)),
    "trigger_crash_dump": Allowed(
        _states(S.ACTIVE, S.PAUSED, S.RESCUED, S.RESIZED, S.ERROR), host=True
    ),
    "changePassword": Allowed(_states(S.ACTIVE)),
    "migrate": Allowed(_states(S.ACTIVE, S.STOPPED), host=True),
    "os-migrateLive": Allowed(_states(S.ACTIVE, S.PAUSED), host=True),
    "attach_interface": Allowed(_states(S.ACTIVE, S.PAUSED, S.STOPPED)),
    "detach_interface": Allowed(_states(S.ACTIVE, S.PAUSED, S.STOPPED)),
    "update metadata": Allowed(_states(S.ACTIVE, S.PAUSED, S.SUSPENDED, S.STOPPED)),
    "delete metadata": Allowed(_states(S.ACTIVE, S.PAUSED, S.SUSPENDED, S.STOPPED)),
}


def invalid_state(server: m.Server, action: str, attr: str, value: Any) -> Conflict:
    """Nova's 409 for an action the server's state does not allow."""
    return Conflict(f"Cannot '{action}' instance {server.id} while it is in {attr} {value}")


def not_ready(server: m.Server) -> Conflict:
    return Conflict(f"Instance {server.id} is not ready")


def check_allowed(caller: Caller, server: m.Server, action: str, rule: Allowed) -> None:
    """The lock, then the host, then the states (Nova's decorator order)."""
    if rule.lock:
        servers.check_unlocked(caller, server)
    if rule.host and not server.host:
        raise not_ready(server)
    if rule.vm_states is not None and server.vm_state not in rule.vm_states:
        raise invalid_state(server, action, "vm_state", server.vm_state)
    if rule.task_states is not None and server.task_state not in rule.task_states:
        raise invalid_state(server, action, "task_state", server.task_state)
    if rule.launched and server.launched_at is None:
        raise invalid_state(server, action, "launched_at", None)


def load(
    s: Session, caller: Caller, server_id: str, policy: str, *, for_update: bool = True
) -> m.Server:
    """The caller's server (row-locked for a writing transaction), after the policy check."""
    server = servers.find(s, caller, server_id, for_update=for_update)
    caller.check(policy, {"project_id": server.project_id})
    return server


def begin(
    s: Session,
    caller: Caller,
    server_id: str,
    policy: str,
    action: str,
    *,
    for_update: bool = True,
) -> m.Server:
    """``load`` and ``check_allowed`` with the action's rule."""
    server = load(s, caller, server_id, policy, for_update=for_update)
    check_allowed(caller, server, action, ALLOWED[action])
    return server


def set_args(server: m.Server, **values: Any) -> None:
    """Merge into ``task_args`` (a JSON column: assigned anew so the change is seen)."""
    merged = {**(server.task_args or {}), **values}
    server.task_args = {k: v for k, v in merged.items() if v is not None}


def start_task(
    svc: ComputeService,
    s: Session,
    caller: Caller,
    server: m.Server,
    action: str,
    task_state: str,
    **args: Any,
) -> None:
    """Record the intent: the instance action, the task state and its deadline, and
    the host's generation (its agent wakes up and runs the step)."""
    actions.start(s, server, action, caller)
    server.task_state = task_state
    server.task_deadline = servers.deadline(svc)
    if args:
        set_args(server, **args)
    touch(server)
    svc.changed(s, server.host)


def touch(server: m.Server) -> None:
    server.updated_at = utcnow()
    server.generation += 1


def finish_now(s: Session, server: m.Server, action: str, caller: Caller, event: str) -> None:
    """An action done by the API itself: recorded with its one (API) event."""
    actions.start(s, server, action, caller)
    actions.event(s, server.id, action, event, "")


# -- actions the agent carries out ----------------------------------------------------

# action -> (policy, Nova's instance action name, task state)
SIMPLE: dict[str, tuple[str, str, str]] = {
    "stop": ("servers:stop", "stop", S.POWERING_OFF),
    "start": ("servers:start", "start", S.POWERING_ON),
    "pause": ("os-pause-server:pause", "pause", S.PAUSING),
    "unpause": ("os-pause-server:unpause", "unpause", S.UNPAUSING),
    "suspend": ("os-suspend-server:suspend", "suspend", S.SUSPENDING),
    "resume": ("os-suspend-server:resume", "resume", S.RESUMING),
    "unrescue": ("os-unrescue", "unrescue", S.UNRESCUING),
}


def simple_action(svc: ComputeService, caller: Caller, server_id: str, name: str) -> None:
    """stop, start, pause, unpause, suspend, resume, unrescue."""
    policy, action, task_state = SIMPLE[name]
    with svc.db.session() as s:
        server = begin(s, caller, server_id, policy, name)
        start_task(svc, s, caller, server, action, task_state)


def reboot(svc: ComputeService, caller: Caller, server_id: str, hard: bool) -> None:
    with svc.db.session() as s:
        server = load(s, caller, server_id, "servers:reboot")
        check_allowed(caller, server, "reboot", ALLOWED["reboot_hard" if hard else "reboot_soft"])
        task = S.REBOOTING_HARD if hard else S.REBOOTING
        start_task(svc, s, caller, server, "reboot", task)


def rescue(
    svc: ComputeService, caller: Caller, server_id: str, rescue_image_ref: str | None
) -> None:
    """Boot a rescue image (the server's own unless ``rescue_image_ref``) with the
    root disk attached second."""
    with svc.db.session() as s:
        server = begin(s, caller, server_id, "os-rescue", "rescue")
        image_id = server.image_id
        if rescue_image_ref:
            from nubo.compute.server_images import usable_image

            image_id = usable_image(s, caller, rescue_image_ref).id
        start_task(
            svc,
            s,
            caller,
            server,
            "rescue",
            S.RESCUING,
            rescue_image_id=image_id,
        )


# -- actions complete at once ------------------------------------------------------------


def lock(svc: ComputeService, caller: Caller, server_id: str, reason: str | None) -> None:
    """Nova: the owner locking a locked server changes nothing; an admin's lock of
    another project's server is an admin lock (only admins lift it)."""
    with svc.db.session() as s:
        server = load(s, caller, server_id, "os-lock-server:lock")
        is_owner = server.project_id == caller.project_id
        if server.locked and is_owner:
            return
        server.locked = True
        server.locked_by = "owner" if is_owner else "admin"
        server.locked_reason = reason
        touch(server)
        finish_now(s, server, "lock", caller, "api_lock")


def unlock(svc: ComputeService, caller: Caller, server_id: str) -> None:
    with svc.db.session() as s:
        server = load(s, caller, server_id, "os-lock-server:unlock")
        expected = "owner" if server.project_id == caller.project_id else "admin"
        if server.locked_by and server.locked_by != expected:
            caller.check("os-lock-server:unlock:unlock_override", {"project_id": server.project_id})
        server.locked = False
        server.locked_by = None
        server.locked_reason = None
        touch(server)
        finish_now(s, server, "unlock", caller, "api_unlock")


def reset_state(svc: ComputeService, caller: Caller, server_id: str, state: str) -> None:
    """os-resetState (admin): the vm state becomes ``active`` or ``error``, no task."""
    with svc.db.session() as s:
        server = load(s, caller, server_id, "os-admin-actions:reset_state")
        server.vm_state = state
        server.task_state = None
        server.task_deadline = None
        touch(server)
        actions.start(s, server, "resetState", caller)
        svc.changed(s, server.host)


def migrate(
    svc: ComputeService, caller: Caller, server_id: str, live: bool, host: str | None
) -> None:
    """Cold and live migration need a second host and moving disks between hosts,
    which nubo does not do yet; with one host there is nowhere to go (Nova's 400)."""
    name = "os-migrateLive" if live else "migrate"
    policy = "os-migrate-server:migrate_live" if live else "os-migrate-server:migrate"
    with svc.db.reader() as s:
        server = begin(s, caller, server_id, policy, name, for_update=False)
        if host is not None and host == server.host:
            raise BadRequest(
                f"Unable to migrate instance ({server.id}) to current host ({server.host})."
            )
        computes = list(
            s.scalars(select(m.ComputeNode.host).where(m.ComputeNode.host != server.host))
        )
        if host is not None and host not in computes:
            raise BadRequest(f"Compute host {host} could not be found.")
    if not computes:
        if live:
            raise BadRequest(
                "No valid host was found. There is no other compute host to live-migrate to."
            )
        raise BadRequest("No valid host found for cold migrate")
    kind = "Live migration" if live else "Cold migration"
    raise NotImplementedYet(f"{kind} between compute hosts is not implemented by this cloud yet.")


def change_password(svc: ComputeService, caller: Caller, server_id: str) -> None:
    """No driver can set a guest's password (Nova's 501 for such drivers)."""
    with svc.db.reader() as s:
        begin(s, caller, server_id, "os-admin-password", "changePassword", for_update=False)
    raise NotImplementedYet(
        "Changing a server's password is not supported by this cloud's instance drivers: "
        "set it at boot (adminPass, user_data or a key pair)."
    )


def trigger_crash_dump(svc: ComputeService, caller: Caller, server_id: str) -> None:
    with svc.db.reader() as s:
        begin(
            s,
            caller,
            server_id,
            "servers:trigger_crash_dump",
            "trigger_crash_dump",
            for_update=False,
        )
    raise BadRequest("Triggering a crash dump is not supported by this cloud's instance drivers.")


# -- security groups ----------------------------------------------------------------------


def _find_group(s: Session, caller: Caller, project_id: str, name: str) -> nm.SecurityGroup:
    """A group by name or id among the server project's (Neutron's find by name or id)."""
    rows = list(
        s.scalars(
            select(nm.SecurityGroup).where(
                (nm.SecurityGroup.id == name) | (nm.SecurityGroup.name == name)
            )
        )
    )
    by_id = [r for r in rows if r.id == name and (caller.is_admin or r.project_id == project_id)]
    if by_id:
        return by_id[0]
    named = [r for r in rows if r.name == name and r.project_id == project_id]
    if len(named) > 1:
        raise Conflict(f"Multiple security_group matches found for name '{name}', use an ID.")
    if not named:
        raise NotFound(f"Security group {name} is not found for project {project_id}")
    return named[0]


def _ports(s: Session, server: m.Server) -> list[nm.Port]:
    ports = list(s.scalars(select(nm.Port).where(nm.Port.device_id == server.id)))
    if not ports:
        raise NotFound(f"instance_id {server.id} could not be found as device id on any ports")
    return ports


def _group_ids(s: Session, port_id: str) -> list[str]:
    return list(
        s.scalars(
            select(nm.PortSecurityGroup.security_group_id).where(
                nm.PortSecurityGroup.port_id == port_id
            )
        )
    )


def add_security_group(svc: ComputeService, caller: Caller, server_id: str, name: str) -> None:
    """Add the group to every port of the server (as Nova asks Neutron to)."""
    with svc.db.session() as s:
        server = load(s, caller, server_id, "os-security-groups:add")
        if name == "default":
            net_groups.ensure_default(svc.network, s, server.project_id)
        group = _find_group(s, caller, server.project_id, name)
        for port in _ports(s, server):
            if not port.port_security_enabled:
                raise BadRequest(
                    f"Cannot add security group {name} to instance {server.id}: port "
                    f"{port.id} has port security disabled."
                )
            current = _group_ids(s, port.id)
            if group.id in current:
                continue
            stateful = {
                g.stateful
                for g in s.scalars(select(nm.SecurityGroup).where(nm.SecurityGroup.id.in_(current)))
            }
            if stateful and stateful != {group.stateful}:
                raise Conflict(
                    "Cannot apply both stateful and stateless security groups on the same port "
                    "at the same time."
                )
            s.add(nm.PortSecurityGroup(port_id=port.id, security_group_id=group.id))
            touch_port(port)
        if group.name not in server.security_groups:
            server.security_groups = [*server.security_groups, group.name]
        touch(server)
        svc.network.changed(s)


def remove_security_group(svc: ComputeService, caller: Caller, server_id: str, name: str) -> None:
    with svc.db.session() as s:
        server = load(s, caller, server_id, "os-security-groups:remove")
        group = _find_group(s, caller, server.project_id, name)
        found = False
        for port in _ports(s, server):
            row = s.get(nm.PortSecurityGroup, (port.id, group.id))
            if row is None:
                continue
            s.delete(row)
            touch_port(port)
            found = True
        if not found:
            raise NotFound(f"Security group {name} not associated with the instance {server.id}")
        server.security_groups = [g for g in server.security_groups if g not in (name, group.name)]
        touch(server)
        svc.network.changed(s)


def names(values: Iterable[str]) -> str:
    return ", ".join(sorted(values))
