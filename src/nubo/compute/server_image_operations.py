"""The agent's steps of the operations that move disks or images: snapshots
(createImage, createBackup), shelve / offload / unshelve, resize and its revert,
and rebuild. Each goes through Nova's task states in order and can start again from
the one it stopped at."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nubo.compute import models as m
from nubo.compute import server_images, states
from nubo.compute.drivers.base import PowerState
from nubo.compute.operations import operation
from nubo.compute.server_operations import (
    SHUTDOWN_TIMEOUT,
    complete,
    failed,
    move_on,
    power_of,
)
from nubo.db.base import utcnow

if TYPE_CHECKING:
    from nubo.compute.agent import ComputeAgent

log = logging.getLogger(__name__)
S = states


def _take_snapshot(agent: ComputeAgent, server: m.Server, image_id: str, owner: str) -> None:
    """The root disk, flattened by the driver, uploaded as the image's data."""
    target = agent.instances / "_snapshots" / image_id
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        disk_format = agent.driver.snapshot(server.id, target)
        server_images.upload_snapshot(agent.svc, owner, image_id, target, disk_format)
    finally:
        with contextlib.suppress(FileNotFoundError):
            target.unlink()


# -- createImage, createBackup -------------------------------------------------------------


@operation(S.IMAGE_SNAPSHOT_PENDING, S.IMAGE_SNAPSHOT, S.IMAGE_PENDING_UPLOAD, S.IMAGE_UPLOADING)
def snapshot(agent: ComputeAgent, server: m.Server) -> None:
    args = server.task_args or {}
    image_id = str(args.get("snapshot_image_id", ""))
    owner = str(args.get("image_owner") or server.project_id)
    backup_type = args.get("backup_type")
    action = "createBackup" if backup_type else "createImage"
    event = "compute_backup_instance" if backup_type else "compute_snapshot_instance"
    try:
        if server.task_state in (S.IMAGE_SNAPSHOT_PENDING, S.IMAGE_SNAPSHOT) and not move_on(
            agent, server, server.task_state, S.IMAGE_PENDING_UPLOAD
        ):
            return
        if server.task_state == S.IMAGE_PENDING_UPLOAD and not move_on(
            agent, server, S.IMAGE_PENDING_UPLOAD, S.IMAGE_UPLOADING
        ):
            return
        _take_snapshot(agent, server, image_id, owner)
    except Exception as exc:
        server_images.delete_image(agent.svc, owner, image_id)
        failed(agent, server, action, event, exc)
        return
    if backup_type:
        # before the task ends, so a server with no task has its final set of backups
        server_images.rotate_backups(
            agent.svc, owner, server.id, str(backup_type), int(args.get("backup_rotation", 0))
        )
    complete(
        agent,
        server,
        S.IMAGE_UPLOADING,
        action,
        (event,),
        power_state=power_of(agent, server.id),
    )


# -- shelve ------------------------------------------------------------------------------


@operation(S.SHELVING, S.SHELVING_IMAGE_PENDING_UPLOAD, S.SHELVING_IMAGE_UPLOADING)
def shelve(agent: ComputeAgent, server: m.Server) -> None:
    """Power off, snapshot, then hand over to the offload step (Nova offloads at once
    with its default ``shelved_offload_time`` of 0)."""
    args = server.task_args or {}
    image_id = str(args.get("shelved_image_id", ""))
    owner = str(args.get("image_owner") or server.project_id)
    try:
        if server.task_state == S.SHELVING:
            agent.driver.power_off(server.id, timeout=SHUTDOWN_TIMEOUT)
            if not move_on(agent, server, S.SHELVING, S.SHELVING_IMAGE_PENDING_UPLOAD):
                return
        if server.task_state == S.SHELVING_IMAGE_PENDING_UPLOAD and not move_on(
            agent, server, S.SHELVING_IMAGE_PENDING_UPLOAD, S.SHELVING_IMAGE_UPLOADING
        ):
            return
        _take_snapshot(agent, server, image_id, owner)
    except Exception as exc:
        server_images.delete_image(agent.svc, owner, image_id)
        failed(
            agent,
            server,
            "shelve",
            "compute_shelve_instance",
            exc,
            task_args=_without(server, "shelved_image_id", "image_owner", "offload_action"),
        )
        return
    from nubo.compute.servers import deadline

    shelved = complete(
        agent,
        server,
        S.SHELVING_IMAGE_UPLOADING,
        "shelve",
        ("compute_shelve_instance",),
        vm_state=S.SHELVED,
        power_state=power_of(agent, server.id),
        task_state=S.SHELVING_OFFLOADING,
        task_deadline=deadline(agent.svc),
    )
    if shelved:
        # offload now, in this worker, rather than wait for the next pass to see it
        server.vm_state = S.SHELVED
        server.task_state = S.SHELVING_OFFLOADING
        shelve_offload(agent, server)


@operation(S.SHELVING_OFFLOADING)
def shelve_offload(agent: ComputeAgent, server: m.Server) -> None:
    """The instance and its disks leave the host; resources and port bindings go."""
    action = str((server.task_args or {}).get("offload_action") or "shelveOffload")
    event = "compute_shelve_offload_instance"
    try:
        agent.driver.destroy(server.id, agent.plugger)
    except Exception as exc:
        failed(agent, server, action, event, exc)
        return

    def leave(s: Session) -> None:
        agent.svc.placement.release(s, server.id)
        server_images.unbind_ports(agent.svc, s, server.id)
        agent.svc.changed(s, None)

    complete(
        agent,
        server,
        S.SHELVING_OFFLOADING,
        action,
        (event,),
        extra=leave,
        vm_state=S.SHELVED_OFFLOADED,
        power_state=int(PowerState.NOSTATE),
        host=None,
        node=None,
        task_args=_without(server, "offload_action"),
    )


@operation(S.UNSHELVING)
def unshelve(agent: ComputeAgent, server: m.Server) -> None:
    """Power on a shelved server; boot an offloaded one from its shelved snapshot
    (placed on this host by the API)."""
    args = server.task_args or {}
    image_id = str(args.get("shelved_image_id", ""))
    owner = str(args.get("image_owner") or server.project_id)
    offloaded = server.vm_state == S.SHELVED_OFFLOADED
    event = "compute_unshelve_instance"
    try:
        if offloaded:
            with agent.svc.db.reader() as s:
                disk_format = server_images.shelved_image(s, image_id).disk_format or "qcow2"
            if server.config_drive:
                agent.write_config_drive(server)
            # the instance boots the snapshot; the server keeps its image's id
            agent.driver.spawn(agent.spec(_booting(server, image_id, disk_format)), agent.plugger)
        else:
            agent.driver.power_on(agent.spec(server), agent.plugger)
    except Exception as exc:
        if not offloaded:
            failed(agent, server, "unshelve", event, exc)
            return
        agent.destroy_quietly(server.id)

        def leave(s: Session) -> None:
            agent.svc.placement.release(s, server.id)
            server_images.unbind_ports(agent.svc, s, server.id)

        failed(agent, server, "unshelve", event, exc, extra=leave, host=None, node=None)
        return
    done = complete(
        agent,
        server,
        S.UNSHELVING,
        "unshelve",
        (event,),
        vm_state=S.ACTIVE,
        power_state=power_of(agent, server.id),
        task_args=_without(server, "shelved_image_id", "image_owner"),
    )
    if done and image_id:
        server_images.delete_image(agent.svc, owner, image_id)


def _booting(server: m.Server, image_id: str, disk_format: str) -> m.Server:
    """A detached copy of the server whose image is the shelved snapshot (for its spec)."""
    copy = m.Server(**{c.key: getattr(server, c.key) for c in m.Server.__table__.columns})
    copy.image_id = image_id
    copy.image_meta = {**(server.image_meta or {}), "disk_format": disk_format}
    return copy


def _without(server: m.Server, *keys: str) -> dict[str, Any]:
    return {k: v for k, v in (server.task_args or {}).items() if k not in keys}


# -- resize ------------------------------------------------------------------------------


def _migration(s: Session, uuid: str) -> m.Migration | None:
    return s.scalar(select(m.Migration).where(m.Migration.uuid == uuid))


def _set_migration(agent: ComputeAgent, uuid: str, status: str) -> None:
    with agent.svc.db.session() as s:
        row = _migration(s, uuid)
        if row is not None:
            row.status = status
            row.updated_at = utcnow()


@operation(S.RESIZE_PREP, S.RESIZE_MIGRATING, S.RESIZE_MIGRATED, S.RESIZE_FINISH)
def resize(agent: ComputeAgent, server: m.Server) -> None:
    """On the same host: off, the root disk grown, on again with the new flavor."""
    args = server.task_args or {}
    uuid = str(args.get("migration_uuid", ""))
    new: dict[str, Any] = dict(args.get("new_flavor") or {})
    running = server.vm_state == S.ACTIVE
    try:
        if server.task_state == S.RESIZE_PREP:
            _set_migration(agent, uuid, "migrating")
            if not move_on(agent, server, S.RESIZE_PREP, S.RESIZE_MIGRATING):
                return
        if server.task_state in (S.RESIZE_MIGRATING, S.RESIZE_MIGRATED):
            agent.driver.power_off(server.id, timeout=SHUTDOWN_TIMEOUT)
            if new["root_gb"] > server.flavor["root_gb"]:
                agent.driver.resize_disk(server.id, new["root_gb"])
            _set_migration(agent, uuid, "post-migrating")
            if not move_on(agent, server, server.task_state, S.RESIZE_FINISH):
                return
        if running:
            agent.driver.power_on(agent.spec(server, new), agent.plugger)
    except Exception as exc:

        def undo(s: Session) -> None:
            # the server holds its old flavor's resources again
            agent.svc.placement.move(s, uuid, server.id)
            row = _migration(s, uuid)
            if row is not None:
                row.status = "error"
                row.updated_at = utcnow()

        failed(
            agent,
            server,
            "resize",
            "compute_resize_instance",
            exc,
            extra=undo,
            vm_state=S.ERROR,
            task_args=_without(server, "migration_uuid", "new_flavor"),
        )
        return

    def finished(s: Session) -> None:
        row = _migration(s, uuid)
        if row is not None:
            row.status = "finished"
            row.updated_at = utcnow()

    complete(
        agent,
        server,
        S.RESIZE_FINISH,
        "resize",
        ("compute_prep_resize", "compute_resize_instance", "compute_finish_resize"),
        extra=finished,
        vm_state=S.RESIZED,
        previous_vm_state=server.vm_state,
        flavor=new,
        old_flavor=server.flavor,
        power_state=power_of(agent, server.id),
        task_args=_without(server, "new_flavor"),
    )


@operation(S.RESIZE_REVERTING)
def revert_resize(agent: ComputeAgent, server: m.Server) -> None:
    """Back to the old flavor (a grown root disk stays grown: disks do not shrink)."""
    uuid = str((server.task_args or {}).get("migration_uuid", ""))
    old = server.old_flavor or server.flavor
    back = server.previous_vm_state or S.ACTIVE
    try:
        agent.driver.power_off(server.id, timeout=SHUTDOWN_TIMEOUT)
        if back == S.ACTIVE:
            agent.driver.power_on(agent.spec(server, old), agent.plugger)
    except Exception as exc:
        failed(agent, server, "revertResize", "compute_revert_resize", exc, vm_state=S.ERROR)
        return

    def reverted(s: Session) -> None:
        agent.svc.placement.move(s, uuid, server.id)
        row = _migration(s, uuid)
        if row is not None:
            row.status = "reverted"
            row.updated_at = utcnow()

    complete(
        agent,
        server,
        S.RESIZE_REVERTING,
        "revertResize",
        ("compute_revert_resize", "compute_finish_revert_resize"),
        extra=reverted,
        vm_state=back,
        previous_vm_state=None,
        flavor=old,
        old_flavor=None,
        power_state=power_of(agent, server.id),
        task_args=_without(server, "migration_uuid"),
    )


# -- rebuild -----------------------------------------------------------------------------


@operation(S.REBUILDING, S.REBUILD_BLOCK_DEVICE_MAPPING, S.REBUILD_SPAWNING)
def rebuild(agent: ComputeAgent, server: m.Server) -> None:
    """New disks from the (new) image; a stopped server is stopped again after."""
    stopped = server.vm_state == S.STOPPED
    try:
        if server.task_state in (S.REBUILDING, S.REBUILD_BLOCK_DEVICE_MAPPING):
            agent.driver.destroy(server.id, agent.plugger)
            agent.cached_image(server.image_id)
            if not move_on(agent, server, server.task_state, S.REBUILD_SPAWNING):
                return
        if server.config_drive:
            agent.write_config_drive(server)
        agent.driver.spawn(agent.spec(server), agent.plugger)
        if stopped:
            agent.driver.power_off(server.id, timeout=SHUTDOWN_TIMEOUT)
    except Exception as exc:
        failed(agent, server, "rebuild", "compute_rebuild_instance", exc, vm_state=S.ERROR)
        return
    complete(
        agent,
        server,
        S.REBUILD_SPAWNING,
        "rebuild",
        ("compute_rebuild_instance",),
        vm_state=S.STOPPED if stopped else S.ACTIVE,
        power_state=power_of(agent, server.id),
        launched_at=utcnow(),
        progress=100,
        fault=None,
    )
