"""Servers: create (validate, quota, record intent), find, update and delete.

Create writes the server rows in ``building``/``scheduling`` and returns; the
scheduler picks a host and claims resources, the host's agent makes ports and disks
and starts the instance. Each transitional state carries a deadline
(``task_deadline``), so nothing stays in BUILD.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import re
import secrets
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from nubo.api.microversions import Version
from nubo.compute import actions, quotas, states, validation
from nubo.compute import models as m
from nubo.compute.access import Caller
from nubo.compute.service import ComputeService
from nubo.db.base import utcnow
from nubo.errors import BadRequest, Conflict, Forbidden, NotFound
from nubo.image import access as image_access
from nubo.image.models import Image
from nubo.network import access as net_access
from nubo.network import models as nm
from nubo.network import networks as net_networks

NAME_MAX = 255
HOSTNAME = re.compile(
    r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)
USER_DATA_MAX = 65535
V = Version.parse


def not_found(server_id: str) -> NotFound:
    return NotFound(f"Instance {server_id} could not be found.")


def find(s: Session, caller: Caller, server_id: str, for_update: bool = False) -> m.Server:
    """A live server the caller may see (row-locked ``for_update``); 404 otherwise
    (another project's too)."""
    row = s.get(m.Server, server_id, with_for_update=for_update or None)
    if row is None or row.deleted_at is not None or not caller.owns(row.project_id):
        raise not_found(server_id)
    return row


def network_caller(project_id: str) -> net_access.Caller:
    """The server's project as the network service sees it (compute checked policy)."""
    return net_access.Caller(project_id=project_id, is_admin=False, allowed=lambda _r, _t: True)


def deadline(svc: ComputeService, build: bool = False) -> dt.datetime:
    seconds = svc.config.compute.build_timeout if build else svc.config.compute.action_timeout
    return utcnow() + dt.timedelta(seconds=seconds)


def flavor_snapshot(flavor: m.Flavor) -> dict[str, Any]:
    """The flavor as a server keeps it (later flavor changes do not touch the server)."""
    return {
        "id": flavor.id,
        "name": flavor.name,
        "vcpus": flavor.vcpus,
        "memory_mb": flavor.memory_mb,
        "root_gb": flavor.root_gb,
        "ephemeral_gb": flavor.ephemeral_gb,
        "swap_mb": flavor.swap_mb,
        "rxtx_factor": flavor.rxtx_factor,
        "extra_specs": dict(flavor.extra_specs or {}),
    }


# -- create ----------------------------------------------------------------------------


def string_field(
    body: Mapping[str, Any], key: str, *, required: bool = False, maximum: int = 255
) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise BadRequest(
                f"Invalid input for field/attribute {key}. Value: None. "
                f"'{key}' is a required property"
            )
        return None
    if not isinstance(value, str):
        raise BadRequest(
            f"Invalid input for field/attribute {key}. Value: {value!r}. "
            f"{value!r} is not of type 'string'"
        )
    if len(value) > maximum:
        raise BadRequest(f"Invalid input for field/attribute {key}. Value: {value}. is too long")
    return value


def check_user_data(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest("Invalid input for field/attribute user_data. Value must be a string.")
    if len(value) > USER_DATA_MAX:
        raise BadRequest(
            "Invalid input for field/attribute user_data. User data too large. "
            f"User data must be no larger than {USER_DATA_MAX} bytes once "
            "base64 encoded."
        )
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("User data needs to be valid base 64.") from None
    return value


def _image(s: Session, caller: Caller, image_ref: Any) -> Image:
    if not isinstance(image_ref, str) or not image_ref:
        raise BadRequest("Invalid imageRef provided.")
    image_id = image_ref.rstrip("/").rsplit("/", 1)[-1]
    icaller = image_access.Caller(
        project_id=caller.project_id, is_admin=caller.is_admin, allowed=lambda _r, _t: True
    )
    try:
        image = image_access.visible_image(s, icaller, image_id)
    except NotFound:
        raise BadRequest(f"Image {image_id} could not be found.") from None
    if image.status != "active":
        raise BadRequest(f"Image {image_id} is not active.")
    if image.disk_format not in ("qcow2", "raw", "ami", None) and image.disk_format:
        raise BadRequest(
            f"Image {image_id} has disk format {image.disk_format}, which this "
            "cloud cannot boot (qcow2 or raw)."
        )
    return image


def _check_flavor_fits_image(flavor: m.Flavor, image: Image) -> None:
    if image.min_ram and flavor.memory_mb < image.min_ram:
        raise BadRequest("Flavor's memory is too small for requested image.")
    image_gb = -(-(image.virtual_size or image.size or 0) // (1 << 30))
    if flavor.root_gb and max(image.min_disk or 0, image_gb) > flavor.root_gb:
        raise BadRequest("Flavor's disk is too small for requested image.")


def _networks(s: Session, caller: Caller, body: Mapping[str, Any], version: Version) -> Any:
    """The validated network request: "auto", "none" or a list of entries."""
    if "networks" not in body:
        if version >= V("2.37"):
            raise BadRequest(
                "Invalid input for field/attribute networks. 'networks' is a required property"
            )
        return "auto"
    value = body["networks"]
    if value in ("auto", "none"):
        if version < V("2.37"):
            raise BadRequest(
                f"Invalid input for field/attribute networks. Value: {value}. "
                "is not of type 'array'"
            )
        return value
    if not isinstance(value, list):
        raise BadRequest(
            f"Invalid input for field/attribute networks. Value: {value!r}. is not of type 'array'"
        )
    ncaller = network_caller(caller.project_id)
    if caller.is_admin:
        ncaller = net_access.Caller(
            project_id=caller.project_id, is_admin=True, allowed=lambda _r, _t: True
        )
    entries: list[dict[str, Any]] = []
    seen_ports: set[str] = set()
    for item in value:
        if not isinstance(item, dict) or not set(item) <= {"uuid", "port", "fixed_ip", "tag"}:
            raise BadRequest(
                "Invalid input for field/attribute networks. Each entry takes "
                "uuid, port, fixed_ip and tag."
            )
        entry: dict[str, Any] = {}
        if item.get("port"):
            port = s.get(nm.Port, item["port"])
            if port is None or not (caller.is_admin or port.project_id == caller.project_id):
                raise NotFound(f"Port id {item['port']} could not be found.")
            if port.device_id or item["port"] in seen_ports:
                raise Conflict(f"Port {item['port']} is still in use.")
            seen_ports.add(item["port"])
            entry["port"] = port.id
            entry["uuid"] = port.network_id
        elif item.get("uuid"):
            try:
                uuid.UUID(str(item["uuid"]))
            except ValueError:
                raise BadRequest(
                    f"Bad networks format: network uuid is not in proper format ({item['uuid']})"
                ) from None
            try:
                network = net_networks.find(s, ncaller, item["uuid"])
            except NotFound:
                raise BadRequest(f"Network {item['uuid']} could not be found.") from None
            if network.external and not caller.is_admin and network.project_id != caller.project_id:
                raise BadRequest(
                    f"Network {network.id} is external: attach to a project "
                    "network and use a floating IP."
                )
            entry["uuid"] = network.id
        else:
            raise BadRequest("Bad network format: missing 'uuid' or 'port'.")
        if item.get("fixed_ip"):
            if "port" in entry:
                raise BadRequest("Bad network format: fixed_ip given with a port.")
            try:
                ipaddress.ip_address(item["fixed_ip"])
            except ValueError:
                raise BadRequest(f"Invalid fixed IP address ({item['fixed_ip']})") from None
            entry["fixed_ip"] = item["fixed_ip"]
        if item.get("tag"):
            entry["tag"] = item["tag"]
        entries.append(entry)
    return entries


def resolve_auto_network(s: Session, project_id: str) -> list[dict[str, Any]]:
    """``networks: auto`` (and no networks before 2.37): the project's one network."""
    ncaller = network_caller(project_id)
    rows = list(
        s.scalars(
            select(nm.Network).where(
                net_networks.visible(s, ncaller), nm.Network.external.is_(False)
            )
        )
    )
    own = [n for n in rows if n.project_id == project_id] or rows
    if not own:
        return []
    if len(own) > 1:
        raise Conflict("Multiple possible networks found, use a Network ID to be more specific.")
    return [{"uuid": own[0].id}]


def _security_groups(s: Session, caller: Caller, value: Any) -> list[str]:
    if value is None:
        return ["default"]
    if not isinstance(value, list):
        raise BadRequest("Invalid input for field/attribute security_groups.")
    names: list[str] = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise BadRequest(
                "Invalid input for field/attribute security_groups. Each entry needs a name."
            )
        name = item["name"]
        if name != "default":
            found = s.scalars(
                select(nm.SecurityGroup).where(
                    nm.SecurityGroup.project_id == caller.project_id,
                    (nm.SecurityGroup.name == name) | (nm.SecurityGroup.id == name),
                )
            ).first()
            if found is None:
                raise BadRequest(
                    f"Security group {name} not found for project {caller.project_id}."
                )
        if name not in names:
            names.append(name)
    return names


def _tags(value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > 50:
        raise BadRequest("Invalid input for field/attribute tags. At most 50 tags.")
    for tag in value:
        if not isinstance(tag, str) or not 1 <= len(tag) <= 60 or "," in tag or "/" in tag:
            raise BadRequest(f"Invalid input for field/attribute tags. Value: {tag!r}.")
    return list(dict.fromkeys(value))


def default_hostname(name: str) -> str:
    """Nova's sanitisation of a display name into a host name."""
    text = re.sub(r"[^\w.-]+", "-", name.lower().replace("_", "-")).strip(".-")
    text = re.sub(r"[^a-z0-9.-]", "", text)[:63].strip(".-")
    return text or "server"


def create_servers(
    svc: ComputeService, caller: Caller, body: Any, version: Version
) -> tuple[list[m.Server], str]:
    """Validate a create request and write its servers; returns them and the reservation id."""
    from nubo.compute import flavors, keypairs, server_groups, server_metadata

    if not isinstance(body, dict) or not isinstance(body.get("server"), dict):
        raise BadRequest(
            "Invalid input for field/attribute server. 'server' is a required property"
        )
    req: dict[str, Any] = body["server"]
    hints = body.get("os:scheduler_hints") or body.get("OS-SCH-HNT:scheduler_hints") or {}
    if not isinstance(hints, dict):
        raise BadRequest("Invalid input for field/attribute os:scheduler_hints.")
    caller.check("servers:create")
    if "name" not in req:
        raise BadRequest("Invalid input for field/attribute server. 'name' is a required property")
    name = validation.check_name(req["name"], "name")
    description = None
    if "description" in req:
        if version < V("2.19"):
            raise BadRequest("Additional properties are not allowed ('description' was unexpected)")
        description = validation.check_description(req["description"], "description", 255)
    hostname = None
    if "hostname" in req:
        if version < V("2.90"):
            raise BadRequest("Additional properties are not allowed ('hostname' was unexpected)")
        hostname = string_field(req, "hostname", maximum=63 if version < V("2.94") else 255) or ""
        if not HOSTNAME.match(hostname.lower()):
            raise BadRequest(f"Invalid input for field/attribute hostname. Value: {hostname}.")
    min_count = validation.to_int(req.get("min_count", 1), "min_count", minimum=1)
    max_count = validation.to_int(req.get("max_count", min_count), "max_count", minimum=1)
    if min_count > max_count:
        raise BadRequest("min_count must be <= max_count")
    if hostname and max_count > 1 and version < V("2.94"):
        raise BadRequest("Cannot set hostname when booting more than one server.")
    metadata = server_metadata.check_metadata(req.get("metadata", {}))
    user_data = check_user_data(req.get("user_data"))
    tags: list[str] = []
    if "tags" in req:
        if version < V("2.52"):
            raise BadRequest("Additional properties are not allowed ('tags' was unexpected)")
        tags = _tags(req["tags"])
    config_drive = req.get("config_drive", False)
    if isinstance(config_drive, str):
        config_drive = config_drive.lower() in ("true", "1", "yes")
    if not isinstance(config_drive, bool):
        raise BadRequest("Invalid input for field/attribute config_drive.")
    if req.get("block_device_mapping_v2") or req.get("block_device_mapping"):
        bdms = req.get("block_device_mapping_v2") or []
        if not all(
            isinstance(b, dict)
            and b.get("source_type") == "image"
            and b.get("destination_type", "local") == "local"
            for b in bdms
        ):
            raise BadRequest(
                "Block device mappings with volumes are not supported: this "
                "cloud has no volume service yet; boot from an image."
            )
    zone = string_field(req, "availability_zone")
    forced_host = None
    if zone and ":" in zone:
        zone, _, forced_host = zone.partition(":")
        caller.check("servers:create:forced_host")
    access_v4 = access_ip(req, "accessIPv4") or ""
    access_v6 = access_ip(req, "accessIPv6") or ""
    disk_config = check_disk_config(req.get("OS-DCF:diskConfig", "MANUAL"))
    admin_pass = req.get("adminPass") or secrets.token_urlsafe(9)

    with svc.db.session() as s:
        flavor = flavors.find_usable_flavor(svc, s, caller, req.get("flavorRef"))
        image_ref = req.get("imageRef")
        image = _image(s, caller, image_ref)
        _check_flavor_fits_image(flavor, image)
        networks = _networks(s, caller, req, version)
        if networks == "auto":
            networks = resolve_auto_network(s, caller.project_id)
        elif networks == "none":
            networks = []
        if max_count > 1 and any("port" in e for e in networks):
            raise BadRequest("Multiple instances cannot be created with one port.")
        groups = _security_groups(s, caller, req.get("security_groups"))
        key_name = req.get("key_name")
        key_data = None
        if key_name is not None:
            key_data = keypairs.find_keypair_for_server(svc, s, caller.user_id, key_name).public_key
        group_id = hints.get("group")
        if group_id:
            server_groups.find_group(svc, s, caller, group_id)
        if zone:
            from nubo.compute import hosts

            if zone not in hosts.zone_names(svc, s):
                raise BadRequest("The requested availability zone is not available")
        metadata_limit = quotas.limit_of(s, caller.project_id, caller.user_id, "metadata_items")
        if 0 <= metadata_limit < len(metadata):
            raise Forbidden(
                f"Quota exceeded for metadata_items: Requested {len(metadata)}, "
                f"but the limit is {metadata_limit}"
            )
        count = max_count
        try:
            quotas.check_quota(
                svc,
                s,
                caller.project_id,
                caller.user_id,
                {
                    "instances": count,
                    "cores": count * flavor.vcpus,
                    "ram": count * flavor.memory_mb,
                },
            )
        except Forbidden:
            if min_count == max_count:
                raise
            count = min_count
            quotas.check_quota(
                svc,
                s,
                caller.project_id,
                caller.user_id,
                {
                    "instances": count,
                    "cores": count * flavor.vcpus,
                    "ram": count * flavor.memory_mb,
                },
            )
        reservation = "r-" + secrets.token_hex(4)
        servers: list[m.Server] = []
        for index in range(count):
            display = name if count == 1 else f"{name}-{index + 1}"
            host_name = hostname or default_hostname(display)
            server = m.Server(
                id=str(uuid.uuid4()),
                project_id=caller.project_id,
                user_id=caller.user_id,
                name=display,
                description=description,
                hostname=host_name,
                reservation_id=reservation,
                launch_index=index,
                flavor=flavor_snapshot(flavor),
                image_id=image.id,
                image_meta={
                    "min_disk": image.min_disk,
                    "min_ram": image.min_ram,
                    "disk_format": image.disk_format,
                    "size": image.size,
                    "properties": dict(image.properties or {}),
                },
                vm_state=states.BUILDING,
                task_state=states.SCHEDULING,
                task_deadline=deadline(svc, build=True),
                availability_zone=zone or None,
                key_name=key_name,
                key_data=key_data,
                user_data=user_data,
                config_drive=config_drive or svc.config.compute.force_config_drive,
                metadata_items=metadata,
                tags=tags,
                requested_networks=networks,
                security_groups=groups,
                scheduler_hints={
                    **hints,
                    **({"force_host": forced_host} if forced_host else {}),
                    **({"availability_zone": zone} if zone else {}),
                },
                server_group_id=group_id,
                access_ip_v4=access_v4,
                access_ip_v6=access_v6,
                disk_config=disk_config,
            )
            s.add(server)
            s.flush()
            if group_id:
                server_groups.add_member(svc, s, group_id, server.id, caller.project_id)
            actions.start(s, server, "create", caller)
            servers.append(server)
        svc.changed(s, None)
        for server in servers:
            s.refresh(server)
        s.expunge_all()
    for server in servers:
        server.task_args = {"admin_pass": admin_pass}
    return servers, reservation


# -- update, delete --------------------------------------------------------------------


def access_ip(body: Mapping[str, Any], field: str) -> str | None:
    """``accessIPv4``/``accessIPv6`` checked for its family and written as Nova stores
    it (``::babe:dc0c:1602``, not the long form); None when absent or empty."""
    value = body.get(field)
    if not value:
        return None
    family = 6 if field.endswith("6") else 4
    try:
        canonical = ipaddress.ip_address(value)
        if canonical.version != family:
            raise ValueError
    except (ValueError, TypeError):
        raise BadRequest(
            f"Invalid input for field/attribute {field}. Value: {value}. "
            f"'{value}' is not a 'ipv{family}'"
        ) from None
    return str(canonical)


def check_disk_config(value: Any) -> str:
    if value not in ("AUTO", "MANUAL"):
        raise BadRequest(
            f"Invalid input for field/attribute OS-DCF:diskConfig. Value: {value}. "
            "'AUTO' or 'MANUAL' expected"
        )
    return str(value)


def check_unlocked(caller: Caller, server: m.Server) -> None:
    """A locked server refuses changes, except from an admin."""
    if server.locked and not caller.is_admin:
        raise Conflict(f"Instance {server.id} is locked")


def update_server(
    svc: ComputeService, caller: Caller, server_id: str, body: Any, version: Version
) -> m.Server:
    if not isinstance(body, dict) or not isinstance(body.get("server"), dict):
        raise BadRequest(
            "Invalid input for field/attribute server. 'server' is a required property"
        )
    req = body["server"]
    allowed = {"name", "accessIPv4", "accessIPv6", "OS-DCF:diskConfig"}
    if version >= V("2.19"):
        allowed.add("description")
    if version >= V("2.90"):
        allowed.add("hostname")
    extra = set(req) - allowed
    if extra:
        raise BadRequest(
            f"Additional properties are not allowed ({', '.join(sorted(extra))!r} was unexpected)"
        )
    with svc.db.session() as s:
        server = find(s, caller, server_id)
        caller.check("servers:update", {"project_id": server.project_id})
        if "name" in req:
            server.name = validation.check_name(req["name"], "name")
        if "description" in req:
            server.description = validation.check_description(
                req["description"], "description", 255
            )
        if "hostname" in req:
            value = string_field(req, "hostname", maximum=63) or ""
            if not HOSTNAME.match(value.lower()):
                raise BadRequest(f"Invalid input for field/attribute hostname. Value: {value}.")
            server.hostname = value
        if "accessIPv4" in req:
            server.access_ip_v4 = access_ip(req, "accessIPv4") or ""
        if "accessIPv6" in req:
            server.access_ip_v6 = access_ip(req, "accessIPv6") or ""
        if "OS-DCF:diskConfig" in req:
            server.disk_config = check_disk_config(req["OS-DCF:diskConfig"])
        server.updated_at = utcnow()
        s.flush()
        s.refresh(server)
        s.expunge(server)
        return server


def delete_server(svc: ComputeService, caller: Caller, server_id: str, force: bool = False) -> None:
    """Ask for the server's deletion: the agent tears it down; one never scheduled goes now."""
    with svc.db.session() as s:
        server = find(s, caller, server_id, for_update=True)
        caller.check("servers:delete", {"project_id": server.project_id})
        check_unlocked(caller, server)
        if server.task_state == states.DELETING and not force:
            return
        actions.start(s, server, "delete", caller)
        if server.host is None:
            # never scheduled, failed before placement or shelved offloaded: no host
            # has anything of it, so the API finishes the delete itself
            finish_delete(svc, s, server)
            return
        server.task_state = states.DELETING
        server.task_deadline = deadline(svc)
        server.updated_at = utcnow()
        server.generation += 1
        svc.changed(s, server.host)


def finish_delete(svc: ComputeService, s: Session, server: m.Server) -> None:
    """The last step of a delete: ports, allocations, group membership and the row's state."""
    from nubo.network import ports as net_ports

    for port in s.scalars(select(nm.Port).where(nm.Port.device_id == server.id)):
        if port.id in {e.get("port") for e in _entries(server)}:
            # a port the user brought is kept, unbound
            port.device_id = ""
            port.device_owner = ""
            port.binding_host_id = ""
            net_ports.bind(port)
            svc.network.changed(s)
        else:
            net_ports.remove_port(svc.network, s, port)
    svc.placement.release(s, server.id)
    s.execute(delete(m.ServerGroupMember).where(m.ServerGroupMember.server_id == server.id))
    now = utcnow()
    server.vm_state = states.DELETED
    server.task_state = None
    server.task_deadline = None
    server.power_state = 0
    server.deleted_at = now
    server.terminated_at = now
    server.updated_at = now
    actions.event(s, server.id, "delete", "compute_terminate_instance", server.host or "")


def _entries(server: m.Server) -> list[dict[str, Any]]:
    value = server.requested_networks
    return [e for e in value if isinstance(e, dict)] if isinstance(value, list) else []
