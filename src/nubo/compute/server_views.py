"""The server body as Nova returns it, per microversion, and server addresses."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nubo.api.microversions import Version
from nubo.compute import models as m
from nubo.compute import states
from nubo.compute.access import Caller
from nubo.network import models as nm

V = Version.parse
# statuses whose body carries ``progress``
_PROGRESS = {"ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING"}


@dataclass(frozen=True)
class ViewContext:
    """What shapes a server body: where the client reached us, the microversion, who asks."""

    service_url: str  # e.g. http://host:8770/compute
    version: Version
    caller: Caller

    def links(self, collection: str, item_id: str) -> list[dict[str, str]]:
        return [
            {"rel": "self", "href": f"{self.service_url}/v2.1/{collection}/{item_id}"},
            {"rel": "bookmark", "href": f"{self.service_url}/{collection}/{item_id}"},
        ]


def timestamp(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def usage_timestamp(value: dt.datetime | None) -> str | None:
    """``OS-SRV-USG:launched_at`` keeps microseconds and no zone, as Nova prints it."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def host_id(project_id: str, host: str | None) -> str:
    """Nova's ``hostId``: the host, hashed with the project (empty before scheduling)."""
    if not host:
        return ""
    return hashlib.sha224((project_id + host).encode()).hexdigest()


def addresses(s: Session, server_ids: Sequence[str]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Per server: network name -> fixed and floating addresses, in port order."""
    if not server_ids:
        return {}
    ports = list(
        s.scalars(
            select(nm.Port)
            .where(nm.Port.device_id.in_(list(server_ids)))
            .order_by(nm.Port.created_at, nm.Port.id)
        )
    )
    if not ports:
        return {}
    port_ids = [p.id for p in ports]
    nets = {
        n.id: n.name
        for n in s.scalars(
            select(nm.Network).where(nm.Network.id.in_({p.network_id for p in ports}))
        )
    }
    ips: dict[str, list[str]] = {}
    for alloc in s.scalars(select(nm.IPAllocation).where(nm.IPAllocation.port_id.in_(port_ids))):
        ips.setdefault(alloc.port_id, []).append(alloc.ip_address)
    floating: dict[str, list[str]] = {}
    for fip in s.scalars(select(nm.FloatingIp).where(nm.FloatingIp.fixed_port_id.in_(port_ids))):
        floating.setdefault(fip.fixed_port_id or "", []).append(fip.floating_ip_address)
    result: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for port in ports:
        entries = result.setdefault(port.device_id, {}).setdefault(
            nets.get(port.network_id, port.network_id), []
        )
        for address, kind in [(a, "fixed") for a in sorted(ips.get(port.id, []), key=_ip_key)] + [
            (a, "floating") for a in floating.get(port.id, [])
        ]:
            entries.append(
                {
                    "version": ipaddress.ip_address(address).version,
                    "addr": address,
                    "OS-EXT-IPS:type": kind,
                    "OS-EXT-IPS-MAC:mac_addr": port.mac_address,
                }
            )
    return result


def _ip_key(address: str) -> tuple[int, int]:
    ip = ipaddress.ip_address(address)
    return ip.version, int(ip)


def security_group_names(s: Session, server_ids: Sequence[str]) -> dict[str, list[str]]:
    """The security groups on each server's ports (names, each once)."""
    rows = s.execute(
        select(nm.Port.device_id, nm.SecurityGroup.name)
        .join(nm.PortSecurityGroup, nm.PortSecurityGroup.port_id == nm.Port.id)
        .join(nm.SecurityGroup, nm.SecurityGroup.id == nm.PortSecurityGroup.security_group_id)
        .where(nm.Port.device_id.in_(list(server_ids)))
    )
    result: dict[str, list[str]] = {}
    for device_id, name in rows:
        names = result.setdefault(device_id, [])
        if name not in names:
            names.append(name)
    return result


def flavor_body(ctx: ViewContext, flavor: dict[str, Any]) -> dict[str, Any]:
    if ctx.version >= V("2.47"):
        body: dict[str, Any] = {
            "vcpus": flavor["vcpus"],
            "ram": flavor["memory_mb"],
            "disk": flavor["root_gb"],
            "ephemeral": flavor["ephemeral_gb"],
            "swap": flavor["swap_mb"],
            "original_name": flavor["name"],
        }
        if ctx.caller.can("os-flavor-extra-specs:index"):
            body["extra_specs"] = dict(flavor.get("extra_specs") or {})
        return body
    return {"id": flavor["id"], "links": [ctx.links("flavors", flavor["id"])[1]]}


def server_groups_of(s: Session, server_ids: Sequence[str]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for row in s.scalars(
        select(m.ServerGroupMember).where(m.ServerGroupMember.server_id.in_(list(server_ids)))
    ):
        result.setdefault(row.server_id, []).append(row.group_id)
    return result


def views(
    s: Session, ctx: ViewContext, rows: Sequence[m.Server], *, with_groups: bool = False
) -> list[dict[str, Any]]:
    """Detailed bodies of several servers, with their addresses read in one go."""
    ids = [r.id for r in rows]
    addrs = addresses(s, ids)
    groups = security_group_names(s, ids)
    members = server_groups_of(s, ids) if with_groups else {}
    return [
        view(
            ctx,
            r,
            addrs.get(r.id, {}),
            groups.get(r.id),
            members.get(r.id, []) if with_groups else None,
        )
        for r in rows
    ]


def view(
    ctx: ViewContext,
    row: m.Server,
    addrs: dict[str, list[dict[str, Any]]],
    group_names: list[str] | None,
    server_groups: list[str] | None = None,
) -> dict[str, Any]:
    version = ctx.version
    status = states.status(row.vm_state, row.task_state)
    body: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "status": status,
        "tenant_id": row.project_id,
        "user_id": row.user_id,
        "metadata": dict(row.metadata_items or {}),
        "hostId": host_id(row.project_id, row.host),
        "image": {"id": row.image_id, "links": [ctx.links("images", row.image_id)[1]]}
        if row.image_id
        else "",
        "flavor": flavor_body(ctx, row.flavor),
        "created": timestamp(row.created_at),
        "updated": timestamp(row.updated_at),
        "addresses": addrs,
        "accessIPv4": row.access_ip_v4 or "",
        "accessIPv6": row.access_ip_v6 or "",
        "links": ctx.links("servers", row.id),
        "OS-DCF:diskConfig": row.disk_config,
        "OS-EXT-AZ:availability_zone": row.availability_zone or "",
        "config_drive": "True" if row.config_drive else "",
        "key_name": row.key_name,
        "OS-SRV-USG:launched_at": usage_timestamp(row.launched_at),
        "OS-SRV-USG:terminated_at": usage_timestamp(row.terminated_at),
        "OS-EXT-STS:task_state": row.task_state,
        "OS-EXT-STS:vm_state": row.vm_state,
        "OS-EXT-STS:power_state": row.power_state,
        "os-extended-volumes:volumes_attached": [],
    }
    if status in _PROGRESS:
        body["progress"] = row.progress if status != "ACTIVE" else 100 if row.launched_at else 0
    if group_names:
        body["security_groups"] = [{"name": n} for n in group_names]
    if row.fault and status in ("ERROR", "DELETED"):
        fault = {
            "code": row.fault.get("code", 500),
            "created": row.fault.get("created"),
            "message": row.fault.get("message", ""),
        }
        if ctx.caller.is_admin or fault["code"] != 500:
            fault["details"] = row.fault.get("details", "")
        body["fault"] = fault
    if ctx.caller.can("os-extended-server-attributes", {"project_id": row.project_id}):
        body["OS-EXT-SRV-ATTR:host"] = row.host
        body["OS-EXT-SRV-ATTR:hypervisor_hostname"] = row.node
        body["OS-EXT-SRV-ATTR:instance_name"] = instance_name(row)
        if version >= V("2.3"):
            body.update(
                {
                    "OS-EXT-SRV-ATTR:reservation_id": row.reservation_id,
                    "OS-EXT-SRV-ATTR:launch_index": row.launch_index,
                    "OS-EXT-SRV-ATTR:hostname": row.hostname,
                    "OS-EXT-SRV-ATTR:kernel_id": "",
                    "OS-EXT-SRV-ATTR:ramdisk_id": "",
                    "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                    "OS-EXT-SRV-ATTR:user_data": row.user_data,
                }
            )
    elif version >= V("2.90"):
        body["OS-EXT-SRV-ATTR:hostname"] = row.hostname
    if version >= V("2.3"):
        body["os-extended-volumes:volumes_attached"] = []
    if version >= V("2.9"):
        body["locked"] = row.locked
    if version >= V("2.16") and ctx.caller.can(
        "servers:show:host_status", {"project_id": row.project_id}
    ):
        body["host_status"] = "UP" if row.host else ""
    if version >= V("2.19"):
        body["description"] = row.description
    if version >= V("2.26"):
        body["tags"] = list(row.tags or [])
    if version >= V("2.63"):
        body["trusted_image_certificates"] = None
    if version >= V("2.71") and server_groups is not None:
        body["server_groups"] = server_groups
    if version >= V("2.73"):
        body["locked_reason"] = row.locked_reason
    if version >= V("2.96"):
        body["pinned_availability_zone"] = (row.scheduler_hints or {}).get("availability_zone")
    return body


# what update and rebuild return before 2.75 (Nova's basic view)
BASIC_KEYS = frozenset(
    {
        "accessIPv4", "accessIPv6", "addresses", "created", "flavor", "hostId", "id", "image",
        "links", "metadata", "name", "OS-DCF:diskConfig", "progress", "status", "tenant_id",
        "updated", "user_id", "fault", "locked", "description", "tags",
        "trusted_image_certificates", "server_groups", "locked_reason",
    }
)  # fmt: skip


def basic(
    body: dict[str, Any], version: Version, keep: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The body update and rebuild return: before 2.75 only the basic keys, with
    addresses as bare version and address pairs; from 2.75 the full view."""
    if version >= V("2.75"):
        return body
    result = {k: v for k, v in body.items() if k in BASIC_KEYS | keep}
    result["addresses"] = {
        net: [{"version": a["version"], "addr": a["addr"]} for a in entries]
        for net, entries in body.get("addresses", {}).items()
    }
    return result


def instance_name(row: m.Server) -> str:
    """What libvirt would call the domain; nubo names instance files by the server id."""
    return f"instance-{row.id[:8]}"


def brief(ctx: ViewContext, row: m.Server) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "links": ctx.links("servers", row.id)}
