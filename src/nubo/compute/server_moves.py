"""Resize (with confirm and revert) and rebuild.

A resize stays on the server's host (there is no migration between hosts yet): the
old flavor's allocation moves to the migration's uuid in Placement and the new
flavor is claimed for the server, so both are held until the user confirms
(the migration's allocation goes) or reverts (it comes back to the server).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nubo.api.microversions import Version
from nubo.compute import (
    actions,
    flavors,
    keypairs,
    quotas,
    scheduler,
    server_metadata,
    servers,
    states,
    validation,
)
from nubo.compute import models as m
from nubo.compute.access import Caller
from nubo.compute.server_actions import begin, set_args, start_task, touch
from nubo.compute.server_images import usable_image
from nubo.compute.service import ComputeService
from nubo.db.base import utcnow
from nubo.errors import BadRequest, Conflict, Forbidden
from nubo.image.models import Image

S = states
V = Version.parse


def node_of(s: Session, host: str | None) -> m.ComputeNode:
    node = s.scalar(select(m.ComputeNode).where(m.ComputeNode.host == host))
    if node is None:
        raise Conflict(f"The compute host {host} of the server is not registered.")
    return node


def _fits(flavor: Mapping[str, Any], meta: Mapping[str, Any], virtual_size: int = 0) -> None:
    """Nova's checks of a flavor against the image's minimums."""
    if meta.get("min_ram") and flavor["memory_mb"] < int(meta["min_ram"]):
        raise BadRequest("Flavor's memory is too small for requested image.")
    image_gb = -(-(virtual_size or 0) // (1 << 30))
    wanted = max(int(meta.get("min_disk") or 0), image_gb)
    if flavor["root_gb"] and wanted > flavor["root_gb"]:
        raise BadRequest("Flavor's disk is too small for requested image.")


def migration_of(s: Session, server: m.Server) -> m.Migration:
    """The server's resize in progress (VERIFY_RESIZE)."""
    uuid = (server.task_args or {}).get("migration_uuid")
    row = s.scalar(select(m.Migration).where(m.Migration.uuid == uuid)) if uuid else None
    if row is None:
        row = s.scalar(
            select(m.Migration)
            .where(m.Migration.server_id == server.id, m.Migration.status == "finished")
            .order_by(m.Migration.id.desc())
        )
    if row is None:
        raise BadRequest(f"Instance {server.id} has not been resized.")
    return row


# -- resize ------------------------------------------------------------------------------


def resize(
    svc: ComputeService,
    caller: Caller,
    server_id: str,
    flavor_ref: Any,
    disk_config: str | None = None,
) -> None:
    with svc.db.session() as s:
        server = begin(s, caller, server_id, "servers:resize", "resize")
        if disk_config is not None:
            server.disk_config = servers.check_disk_config(disk_config)
        flavor = flavors.find_usable_flavor(svc, s, caller, flavor_ref)
        old = server.flavor
        if flavor.id == old["id"]:
            raise BadRequest("When resizing, instances must change flavor!")
        if flavor.root_gb < old["root_gb"]:
            raise BadRequest("Resize error: Unable to resize disk down.")
        new = servers.flavor_snapshot(flavor)
        _fits(new, server.image_meta or {})
        quotas.check_quota(
            svc,
            s,
            server.project_id,
            server.user_id,
            {
                "cores": max(0, new["vcpus"] - old["vcpus"]),
                "ram": max(0, new["memory_mb"] - old["memory_mb"]),
            },
        )
        node = node_of(s, server.host)
        migration = m.Migration(
            server_id=server.id,
            project_id=server.project_id,
            user_id=server.user_id,
            migration_type="resize",
            status="pre-migrating",
            source_compute=server.host,
            dest_compute=server.host,
            source_node=node.hypervisor_hostname,
            dest_node=node.hypervisor_hostname,
            old_flavor_id=old["id"],
            new_flavor_id=flavor.id,
        )
        s.add(migration)
        s.flush()
        try:
            with s.begin_nested():
                svc.placement.move(s, server.id, migration.uuid)
                svc.placement.claim(
                    s,
                    server.id,
                    server.project_id,
                    server.user_id,
                    {node.uuid: scheduler.resources_of(new)},
                )
        except Conflict:
            raise BadRequest(
                f"No valid host was found. Host {server.host} has not enough free resources "
                f"for flavor {flavor.name} next to the current one."
            ) from None
        start_task(
            svc,
            s,
            caller,
            server,
            "resize",
            S.RESIZE_PREP,
            migration_uuid=migration.uuid,
            new_flavor=new,
        )


def confirm_resize(svc: ComputeService, caller: Caller, server_id: str) -> None:
    """Keep the new flavor: the old one's allocation goes (done here; nothing on the
    host changes)."""
    with svc.db.session() as s:
        server = begin(s, caller, server_id, "servers:confirm_resize", "confirmResize")
        migration = migration_of(s, server)
        svc.placement.release(s, migration.uuid)
        migration.status = "confirmed"
        migration.updated_at = utcnow()
        server.vm_state = server.previous_vm_state or S.ACTIVE
        server.previous_vm_state = None
        server.old_flavor = None
        set_args(server, migration_uuid=None, new_flavor=None)
        touch(server)
        actions.start(s, server, "confirmResize", caller)
        actions.event(s, server.id, "confirmResize", "compute_confirm_resize", server.host or "")
        svc.changed(s, server.host)


def revert_resize(svc: ComputeService, caller: Caller, server_id: str) -> None:
    """Go back to the old flavor: the agent restarts the instance with it and the
    migration's allocation returns to the server."""
    with svc.db.session() as s:
        server = begin(s, caller, server_id, "servers:revert_resize", "revertResize")
        migration = migration_of(s, server)
        old = server.old_flavor or {}
        if old:
            quotas.check_quota(
                svc,
                s,
                server.project_id,
                server.user_id,
                {
                    "cores": max(0, old["vcpus"] - server.flavor["vcpus"]),
                    "ram": max(0, old["memory_mb"] - server.flavor["memory_mb"]),
                },
            )
        migration.status = "reverting"
        migration.updated_at = utcnow()
        start_task(
            svc,
            s,
            caller,
            server,
            "revertResize",
            S.RESIZE_REVERTING,
            migration_uuid=migration.uuid,
        )


# -- rebuild -----------------------------------------------------------------------------

_REBUILD_KEYS = {
    "imageRef": "2.1",
    "name": "2.1",
    "metadata": "2.1",
    "adminPass": "2.1",
    "accessIPv4": "2.1",
    "accessIPv6": "2.1",
    "OS-DCF:diskConfig": "2.1",
    "preserve_ephemeral": "2.1",
    "personality": "2.1",
    "description": "2.19",
    "key_name": "2.54",
    "user_data": "2.57",
    "trusted_image_certificates": "2.63",
    "hostname": "2.90",
}


def _check_rebuild_keys(req: Mapping[str, Any], version: Version) -> None:
    for key in req:
        since = _REBUILD_KEYS.get(key)
        if since is None or version < V(since) or (key == "personality" and version >= V("2.57")):
            raise BadRequest(
                "Invalid input for field/attribute rebuild. Additional properties are not "
                f"allowed ('{key}' was unexpected)"
            )


def rebuild(
    svc: ComputeService, caller: Caller, server_id: str, req: Any, version: Version
) -> tuple[m.Server, str]:
    """Validate a rebuild, record the server's new attributes and the task; returns the
    server (for the response body) and its new admin password."""
    if not isinstance(req, dict):
        raise BadRequest("Invalid input for field/attribute rebuild. Value must be an object.")
    _check_rebuild_keys(req, version)
    if "imageRef" not in req:
        raise BadRequest(
            "Invalid input for field/attribute rebuild. 'imageRef' is a required property"
        )
    name = validation.check_name(req["name"], "name") if "name" in req else None
    metadata = server_metadata.check_metadata(req["metadata"]) if "metadata" in req else None
    admin_pass = servers.string_field(req, "adminPass") or secrets.token_urlsafe(9)
    if not isinstance(req.get("preserve_ephemeral", False), bool):
        raise BadRequest("Invalid input for field/attribute preserve_ephemeral.")
    if req.get("trusted_image_certificates") is not None:
        raise BadRequest("Image certificate validation is not supported by this cloud.")
    access = {
        field: servers.access_ip(req, field) or ""
        for field in ("accessIPv4", "accessIPv6")
        if field in req
    }
    hostname = None
    if "hostname" in req:
        hostname = servers.string_field(req, "hostname") or ""
        if not servers.HOSTNAME.match(hostname.lower()):
            raise BadRequest(f"Invalid input for field/attribute hostname. Value: {hostname}.")
    with svc.db.session() as s:
        server = begin(s, caller, server_id, "servers:rebuild", "rebuild")
        image = usable_image(s, caller, req["imageRef"])
        meta = _image_meta(image)
        _fits(server.flavor, meta, image.virtual_size or image.size or 0)
        if metadata is not None:
            limit = quotas.limit_of(s, server.project_id, server.user_id, "metadata_items")
            if 0 <= limit < len(metadata):
                raise Forbidden(f"Maximum number of metadata items exceeds {limit}")
            server.metadata_items = metadata
        if name is not None:
            server.name = name
        if "description" in req:
            server.description = servers.string_field(req, "description")
        if "key_name" in req:
            if req["key_name"] is None:
                server.key_name = None
                server.key_data = None
            else:
                key = keypairs.find_keypair_for_server(svc, s, caller.user_id, req["key_name"])
                server.key_name = key.name
                server.key_data = key.public_key
        if "user_data" in req:
            server.user_data = servers.check_user_data(req["user_data"])
        if hostname is not None:
            server.hostname = hostname
        if "accessIPv4" in access:
            server.access_ip_v4 = access["accessIPv4"]
        if "accessIPv6" in access:
            server.access_ip_v6 = access["accessIPv6"]
        if "OS-DCF:diskConfig" in req:
            server.disk_config = servers.check_disk_config(req["OS-DCF:diskConfig"])
        server.image_id = image.id
        server.image_meta = meta
        start_task(
            svc,
            s,
            caller,
            server,
            "rebuild",
            S.REBUILDING,
            preserve_ephemeral=bool(req.get("preserve_ephemeral", False)) or None,
        )
        s.flush()
        s.refresh(server)
        s.expunge(server)
    return server, admin_pass


def _image_meta(image: Image) -> dict[str, Any]:
    """The image properties a server keeps (as server create records them)."""
    return {
        "min_disk": image.min_disk,
        "min_ram": image.min_ram,
        "disk_format": image.disk_format,
        "size": image.size,
        "properties": dict(image.properties or {}),
    }
