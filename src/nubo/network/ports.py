"""Ports: the core every resource that needs an address uses (DHCP, router interfaces
and gateways, floating IPs, instances), then the user-facing port operations."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nubo.errors import Conflict
from nubo.network import ipam, tags
from nubo.network import models as m

if TYPE_CHECKING:
    from nubo.network.service import NetworkService

MAC_PREFIX = "fa:16:3e"
# ports the network service itself owns: no security groups, no quota
INTERNAL_OWNERS = (
    "network:dhcp",
    "network:router_interface",
    "network:router_gateway",
    "network:floatingip",
    "network:router_interface_distributed",
    "network:router_centralized_snat",
)


def random_mac() -> str:
    tail = secrets.token_bytes(3)
    return MAC_PREFIX + "".join(f":{b:02x}" for b in tail)


def network_subnets(s: Session, network_id: str) -> list[m.Subnet]:
    return list(
        s.scalars(
            select(m.Subnet)
            .where(m.Subnet.network_id == network_id)
            .order_by(m.Subnet.created_at, m.Subnet.id)
        )
    )


def new_port(
    svc: NetworkService,
    s: Session,
    *,
    project_id: str,
    network: m.Network,
    device_owner: str = "",
    device_id: str = "",
    fixed_ips: Sequence[Mapping[str, Any]] | None = None,
    mac_address: str | None = None,
    security_group_ids: Sequence[str] | None = None,
    port_security_enabled: bool | None = None,
    name: str = "",
    **columns: Any,
) -> m.Port:
    """Create a port row with its addresses and security groups (no policy, no quota:
    callers check those). ``fixed_ips`` None takes the default addresses, [] none.
    ``security_group_ids`` None gives an instance port its project's default group;
    internal (network:*) ports never have groups."""
    secure = (
        network.port_security_enabled if port_security_enabled is None else port_security_enabled
    )
    row = m.Port(
        project_id=project_id,
        network_id=network.id,
        name=name,
        device_owner=device_owner,
        device_id=device_id,
        mac_address=mac_address or random_mac(),
        port_security_enabled=secure,
        **columns,
    )
    s.add(row)
    try:
        with s.begin_nested():
            s.flush()
    except IntegrityError:
        if mac_address:
            raise Conflict(
                f"Unable to complete operation for network {network.id}. "
                f"The mac address {mac_address} is in use.",
                kind="MacAddressInUse",
            ) from None
        row.mac_address = random_mac()
        s.add(row)
        s.flush()
    ipam.allocate(s, network_subnets(s, network.id), row.id, row.mac_address, fixed_ips)
    if device_owner not in INTERNAL_OWNERS and secure:
        if security_group_ids is None:
            from nubo.network import security_groups

            security_group_ids = [security_groups.ensure_default(svc, s, project_id)]
        for group_id in dict.fromkeys(security_group_ids):
            s.add(m.PortSecurityGroup(port_id=row.id, security_group_id=group_id))
    s.flush()
    svc.changed(s)
    return row


def remove_port(svc: NetworkService, s: Session, port: m.Port) -> None:
    """Delete a port: its addresses go back to their subnets."""
    ipam.release(s, port.id)
    s.execute(delete(m.PortSecurityGroup).where(m.PortSecurityGroup.port_id == port.id))
    tags.drop_many(s, "ports", [port.id])
    s.delete(port)
    svc.changed(s)
