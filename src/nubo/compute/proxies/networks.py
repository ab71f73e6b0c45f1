"""The networks proxies (to 2.35): ``/os-networks`` and ``/os-tenant-networks`` show
the networks the caller sees in the network service (its project's, shared and
external ones), labelled by name, with the addresses of their first subnets.
Creating, deleting and associating networks belonged to nova-network: 410 Gone."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nubo.compute.access import Caller
from nubo.compute.proxies.security_groups import network_caller
from nubo.compute.service import ComputeService
from nubo.errors import NotFound
from nubo.network import models as nm
from nubo.network import networks as net_networks
from nubo.network.access import timestamp

# the fields only admins see in /os-networks (nova-network's; most have no meaning now)
ADMIN_FIELDS = (
    "created_at",
    "updated_at",
    "deleted_at",
    "deleted",
    "injected",
    "bridge",
    "vlan",
    "vpn_public_address",
    "vpn_public_port",
    "vpn_private_address",
    "dhcp_start",
    "project_id",
    "host",
    "bridge_interface",
    "multi_host",
    "priority",
    "rxtx_base",
    "mtu",
    "dhcp_server",
    "enable_dhcp",
    "share_address",
)


def not_found(network_id: str) -> NotFound:
    return NotFound(f"Network {network_id} could not be found.")


def _rows(s: Session, caller: Caller, network_id: str | None = None) -> list[nm.Network]:
    stmt = select(nm.Network).where(net_networks.visible(s, network_caller(caller)))
    if network_id is not None:
        try:
            uuid.UUID(network_id)
        except ValueError:
            raise not_found(network_id) from None
        stmt = stmt.where(nm.Network.id == network_id)
    rows = list(s.scalars(stmt.order_by(nm.Network.created_at, nm.Network.id)))
    if network_id is not None and not rows:
        raise not_found(network_id)
    return rows


def _subnets(s: Session, rows: Sequence[nm.Network]) -> dict[str, list[nm.Subnet]]:
    ids = [r.id for r in rows]
    out: dict[str, list[nm.Subnet]] = {i: [] for i in ids}
    if ids:
        for subnet in s.scalars(
            select(nm.Subnet)
            .where(nm.Subnet.network_id.in_(ids))
            .order_by(nm.Subnet.created_at, nm.Subnet.id)
        ):
            out[subnet.network_id].append(subnet)
    return out


def _first(subnets: Sequence[nm.Subnet], version: int) -> nm.Subnet | None:
    return next((x for x in subnets if x.ip_version == version), None)


def network_view(row: nm.Network, subnets: Sequence[nm.Subnet], admin: bool) -> dict[str, Any]:
    """An ``/os-networks`` body: nova-network's fields, filled from the first IPv4 and
    IPv6 subnets."""
    v4, v6 = _first(subnets, 4), _first(subnets, 6)
    net4 = ipaddress.ip_network(v4.cidr) if v4 else None
    net6 = ipaddress.ip_network(v6.cidr) if v6 else None
    dns = list(v4.dns_nameservers or []) if v4 else []
    body: dict[str, Any] = {
        "id": row.id,
        "label": row.name,
        "cidr": v4.cidr if v4 else None,
        "netmask": str(net4.netmask) if net4 else None,
        "gateway": v4.gateway_ip if v4 else None,
        "broadcast": str(net4.broadcast_address) if net4 else None,
        "dns1": dns[0] if dns else None,
        "dns2": dns[1] if len(dns) > 1 else None,
        "cidr_v6": v6.cidr if v6 else None,
        "gateway_v6": v6.gateway_ip if v6 else None,
        "netmask_v6": str(net6.netmask) if net6 else None,
    }
    if admin:
        body.update({field: None for field in ADMIN_FIELDS})
        body.update(
            {
                "created_at": timestamp(row.created_at),
                "updated_at": timestamp(row.updated_at),
                "deleted": False,
                "injected": False,
                "multi_host": False,
                "project_id": row.project_id,
                "mtu": row.mtu,
                "enable_dhcp": bool(v4.enable_dhcp) if v4 else False,
                "share_address": False,
                "vlan": row.segmentation_id if row.network_type == "vlan" else None,
            }
        )
    return body


def tenant_view(row: nm.Network, subnets: Sequence[nm.Subnet]) -> dict[str, Any]:
    """An ``/os-tenant-networks`` body: id, label (name) and the first subnet's CIDR."""
    first = _first(subnets, 4) or (subnets[0] if subnets else None)
    return {"id": row.id, "label": row.name, "cidr": first.cidr if first else None}


def list_networks(svc: ComputeService, caller: Caller, tenant: bool) -> list[dict[str, Any]]:
    caller.check("os-tenant-networks:list" if tenant else "os-networks:list")
    with svc.db.reader() as s:
        rows = _rows(s, caller)
        subnets = _subnets(s, rows)
        if tenant:
            return [tenant_view(r, subnets[r.id]) for r in rows]
        return [network_view(r, subnets[r.id], caller.is_admin) for r in rows]


def show_network(
    svc: ComputeService, caller: Caller, network_id: str, tenant: bool
) -> dict[str, Any]:
    caller.check("os-tenant-networks:show" if tenant else "os-networks:view")
    with svc.db.reader() as s:
        (row,) = _rows(s, caller, network_id)
        subnets = _subnets(s, [row])[row.id]
        return tenant_view(row, subnets) if tenant else network_view(row, subnets, caller.is_admin)
