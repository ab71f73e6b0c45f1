"""Server actions that make images: createImage and createBackup (a snapshot of the
root disk uploaded to the image service), and shelving (a snapshot, then the
instance leaves its host; unshelve places it again and boots the snapshot).

The image record is made through the image service when the action is asked for
(queued), so its id is in the response; the host's agent writes the data
(``server_operations``), after which the image is active. A failed snapshot
deletes its image, as Nova does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nubo.compute import models as m
from nubo.compute import scheduler, states
from nubo.compute.access import Caller
from nubo.compute.server_actions import begin, start_task
from nubo.compute.service import ComputeService
from nubo.errors import BadRequest, Conflict, Forbidden, NotFound, NuboError, QuotaExceeded
from nubo.image import access as image_access
from nubo.image.models import Image
from nubo.image.schemas import READ_ONLY, RESERVED, RESERVED_PREFIX, WRITABLE
from nubo.image.store import CHUNK
from nubo.network import models as nm
from nubo.network import ports as net_ports

S = states
PATCH = "application/openstack-images-v2.1-json-patch"
# image properties a snapshot does not inherit from the image the server booted
NOT_INHERITED = frozenset(
    {"image_type", "instance_uuid", "base_image_ref", "backup_type", "image_location"}
)


def image_caller(project_id: str, user_id: str | None = None) -> image_access.Caller:
    """The project as the image service sees it (compute checked its policy)."""
    return image_access.Caller(
        project_id=project_id, is_admin=False, allowed=lambda _r, _t: True, user_id=user_id
    )


def usable_image(s: Session, caller: Caller, image_ref: Any) -> Image:
    """An active image the caller may boot (``imageRef``: an id or a link ending in one)."""
    if not isinstance(image_ref, str) or not image_ref.strip():
        raise BadRequest("Invalid imageRef provided.")
    image_id = image_ref.rstrip("/").rsplit("/", 1)[-1]
    who = image_access.Caller(
        project_id=caller.project_id, is_admin=caller.is_admin, allowed=lambda _r, _t: True
    )
    try:
        image = image_access.visible_image(s, who, image_id)
    except NotFound:
        raise BadRequest(f"Image {image_id} could not be found.") from None
    if image.status != "active":
        raise BadRequest(f"Image {image_id} is not active.")
    return image


def check_image_metadata(value: Any, field: str = "metadata") -> dict[str, str]:
    """Image properties from a request: string keys and values, none the image
    service owns."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value!r}.")
    for key, item in value.items():
        if not 1 <= len(key) <= 255 or not isinstance(item, str) or len(item) > 255:
            raise BadRequest(
                f"Invalid input for field/attribute {field}. Keys and values are strings "
                "of 1 to 255 characters."
            )
        if (
            key in READ_ONLY
            or key in RESERVED
            or key in WRITABLE
            or key.startswith(RESERVED_PREFIX)
        ):
            raise BadRequest(f"Invalid input for field/attribute {field}: {key} is reserved.")
    return dict(value)


def check_image_name(value: Any, field: str = "name") -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise BadRequest(
            f"Invalid input for field/attribute {field}. Value: {value!r}. "
            "A name of 1 to 255 characters is required."
        )
    return value.strip()


# -- the image record ------------------------------------------------------------------


def new_image(
    svc: ComputeService,
    caller: Caller,
    server: m.Server,
    name: str,
    properties: Mapping[str, str],
) -> Image:
    """A queued private image for a snapshot of ``server``, owned by the asking project,
    with Nova's snapshot properties and those of the image the server booted."""
    meta = server.image_meta or {}
    inherited = {
        k: v
        for k, v in (meta.get("properties") or {}).items()
        if isinstance(v, str)
        and k not in NOT_INHERITED
        and k not in READ_ONLY
        and k not in RESERVED
        and k not in WRITABLE
        and not k.startswith(RESERVED_PREFIX)
    }
    body: dict[str, Any] = {
        **inherited,
        "name": name,
        "visibility": "private",
        "disk_format": str(meta.get("disk_format") or "qcow2"),
        "container_format": "bare",
        "min_disk": max(int(meta.get("min_disk") or 0), int(server.flavor.get("root_gb") or 0)),
        "min_ram": int(meta.get("min_ram") or 0),
        "instance_uuid": server.id,
        "base_image_ref": server.image_id,
        "user_id": caller.user_id,
        **properties,
    }
    try:
        image, _tags = svc.image.images.create(image_caller(caller.project_id), body)
    except QuotaExceeded as exc:
        raise Forbidden(f"Quota exceeded for images: {exc.message}") from None
    return image


def delete_image(svc: ComputeService, project_id: str, image_id: str) -> None:
    """Remove a snapshot image (a failed snapshot, a used shelved image); gone is fine."""
    with contextlib.suppress(NotFound, Forbidden):
        svc.image.images.delete(image_caller(project_id), image_id)


def upload_snapshot(
    svc: ComputeService, project_id: str, image_id: str, path: Path, disk_format: str
) -> None:
    """Write the driver's snapshot file as the image's data (queued -> saving -> active)."""
    who = image_caller(project_id)
    image, _tags = svc.image.images.get(who, image_id)
    if image.status == "active":
        return  # an earlier attempt finished the upload
    if image.disk_format != disk_format:
        svc.image.images.update(
            who, image_id, [{"op": "replace", "path": "/disk_format", "value": disk_format}], PATCH
        )
    svc.image.data.upload(who, image_id, _chunks(path), path.stat().st_size)


def _chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


def rotate_backups(
    svc: ComputeService, project_id: str, server_id: str, backup_type: str, rotation: int
) -> None:
    """Keep the newest ``rotation`` backups of this type of the server; delete older."""
    with svc.db.reader() as s:
        rows = list(
            s.scalars(
                select(Image)
                .where(Image.owner == project_id, Image.status == "active")
                .order_by(Image.created_at.desc(), Image.id)
            )
        )
        backups = [
            r.id
            for r in rows
            if (r.properties or {}).get("image_type") == "backup"
            and (r.properties or {}).get("instance_uuid") == server_id
            and (r.properties or {}).get("backup_type") == backup_type
        ]
    for image_id in backups[rotation:]:
        delete_image(svc, project_id, image_id)


# -- createImage, createBackup -------------------------------------------------------------


def snapshot(
    svc: ComputeService,
    caller: Caller,
    server_id: str,
    name: str,
    metadata: Mapping[str, str],
    backup: tuple[str, int] | None = None,
) -> str:
    """createImage (``backup`` None) or createBackup (type, rotation): the new image's id."""
    action = "createBackup" if backup else "createImage"
    policy = "os-create-backup" if backup else "servers:create_image"
    with svc.db.reader() as s:
        server = begin(s, caller, server_id, policy, action, for_update=False)
        s.expunge(server)
    # as in Nova, the request's metadata may set image_type itself
    properties = {"image_type": "backup" if backup else "snapshot", **metadata}
    if backup:
        properties["backup_type"] = backup[0]
    image = new_image(svc, caller, server, name, properties)
    try:
        with svc.db.session() as s:
            server = begin(s, caller, server_id, policy, action)
            args: dict[str, Any] = {"snapshot_image_id": image.id, "image_owner": caller.project_id}
            if backup:
                args.update(backup_type=backup[0], backup_rotation=backup[1])
            start_task(svc, s, caller, server, action, S.IMAGE_SNAPSHOT_PENDING, **args)
    except BaseException:
        delete_image(svc, caller.project_id, image.id)
        raise
    return image.id


# -- shelve, shelveOffload, unshelve ----------------------------------------------------


def shelve(svc: ComputeService, caller: Caller, server_id: str) -> None:
    """Power off, snapshot into ``<name>-shelved`` and leave the host (Nova's default
    ``shelved_offload_time`` of 0: offloaded at once)."""
    with svc.db.reader() as s:
        server = begin(s, caller, server_id, "os-shelve:shelve", "shelve", for_update=False)
        s.expunge(server)
    image = new_image(svc, caller, server, f"{server.name}-shelved", {"image_type": "snapshot"})
    try:
        with svc.db.session() as s:
            server = begin(s, caller, server_id, "os-shelve:shelve", "shelve")
            start_task(
                svc,
                s,
                caller,
                server,
                "shelve",
                S.SHELVING,
                shelved_image_id=image.id,
                image_owner=caller.project_id,
                offload_action="shelve",
            )
    except BaseException:
        delete_image(svc, caller.project_id, image.id)
        raise


def shelve_offload(svc: ComputeService, caller: Caller, server_id: str) -> None:
    with svc.db.session() as s:
        server = begin(s, caller, server_id, "os-shelve:shelve_offload", "shelveOffload")
        start_task(
            svc,
            s,
            caller,
            server,
            "shelveOffload",
            S.SHELVING_OFFLOADING,
            offload_action="shelveOffload",
        )


def unshelve(
    svc: ComputeService,
    caller: Caller,
    server_id: str,
    zone: str | None = None,
    unpin: bool = False,
    host: str | None = None,
) -> None:
    """A shelved server boots again where it is; an offloaded one is placed on a host
    first (its resources claimed, its ports bound there) and boots its snapshot."""
    with svc.db.session() as s:
        server = begin(s, caller, server_id, "os-shelve:unshelve", "unshelve")
        if server.vm_state == S.SHELVED_OFFLOADED:
            if zone is not None or unpin:
                hints = dict(server.scheduler_hints or {})
                if zone:
                    from nubo.compute import hosts

                    if zone not in hosts.zone_names(svc, s):
                        raise BadRequest(f"The requested availability zone {zone} is not available")
                    hints["availability_zone"] = zone
                elif unpin:
                    hints.pop("availability_zone", None)
                server.scheduler_hints = hints
            place(svc, s, server, host)
        elif zone is not None or host is not None:
            raise Conflict(
                f"The server {server.id} is shelved but not offloaded: it cannot be "
                "unshelved to another zone or host."
            )
        start_task(svc, s, caller, server, "unshelve", S.UNSHELVING)


def place(svc: ComputeService, s: Session, server: m.Server, host: str | None) -> None:
    """Pick a host for an offloaded server and claim its flavor there (the scheduler's
    filters and weighers); 400 with the reason when none fits."""
    wanted = scheduler.resources_of(server.flavor)
    server.attempted_hosts = []
    try:
        candidates = scheduler.filter_hosts(svc, s, server)
        if host is not None:
            candidates = [h for h in candidates if h.host == host]
            if not candidates:
                raise scheduler.NoValidHost(f"Host {host} cannot take the server.")
        fits = {p.uuid for p in svc.placement.candidates(s, wanted)}
        chosen = None
        for candidate in candidates:
            if candidate.node.uuid not in fits:
                continue
            try:
                with s.begin_nested():
                    svc.placement.claim(
                        s,
                        server.id,
                        server.project_id,
                        server.user_id,
                        {candidate.node.uuid: wanted},
                    )
            except Conflict:
                continue
            chosen = candidate
            break
        if chosen is None:
            raise scheduler.NoValidHost(
                "There are not enough resources on any host for "
                + ", ".join(f"{n} {rc}" for rc, n in wanted.items())
                + "."
            )
    except scheduler.NoValidHost as exc:
        raise BadRequest(f"No valid host was found. {exc}") from None
    server.host = chosen.host
    server.node = chosen.node.hypervisor_hostname
    server.availability_zone = chosen.zone
    for port in s.scalars(select(nm.Port).where(nm.Port.device_id == server.id)):
        port.binding_host_id = chosen.host
        net_ports.bind(port)
    svc.network.changed(s)


def unbind_ports(svc: ComputeService, s: Session, server_id: str) -> None:
    """The server left its host: its ports stay, bound nowhere."""
    for port in s.scalars(select(nm.Port).where(nm.Port.device_id == server_id)):
        port.binding_host_id = ""
        net_ports.bind(port)
    svc.network.changed(s)


def shelved_image(s: Session, image_id: str) -> Image:
    """The shelved snapshot an offloaded server boots from."""
    image = s.get(Image, image_id)
    if image is None or image.status != "active":
        raise NuboError(f"The shelved image {image_id} of the server is gone or not active.")
    return image
