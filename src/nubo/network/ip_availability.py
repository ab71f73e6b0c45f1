"""Network IP availability (/v2.0/network-ip-availabilities): per network and per
subnet, how many addresses the allocation pools hold (``total_ips``) and how many
addresses ports hold (``used_ips``), as Neutron counts them. Admin only: for others
the list is empty and a network is not found, as Neutron's policy filtering makes it."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nubo.errors import NotFound
from nubo.network import models as m
from nubo.network.access import Caller, not_found

if TYPE_CHECKING:
    from nubo.network.service import NetworkService

RULE = "get_network_ip_availability"


def total_ips(subnet: m.Subnet) -> int:
    """The addresses of the subnet's allocation pools; the whole CIDR when it has
    none (Neutron's count)."""
    pools = subnet.allocation_pools or []
    if not pools:
        return ipaddress.ip_network(subnet.cidr).num_addresses
    return sum(
        int(ipaddress.ip_address(p["end"])) - int(ipaddress.ip_address(p["start"])) + 1
        for p in pools
    )


def _views(
    s: Session, networks: Sequence[m.Network], ip_versions: list[int] | None
) -> list[dict[str, Any]]:
    ids = [n.id for n in networks]
    by_network: dict[str, list[m.Subnet]] = {i: [] for i in ids}
    used: dict[str, int] = {}
    if ids:
        stmt = select(m.Subnet).where(m.Subnet.network_id.in_(ids))
        if ip_versions is not None:
            stmt = stmt.where(m.Subnet.ip_version.in_(ip_versions))
        for subnet in s.scalars(stmt.order_by(m.Subnet.created_at, m.Subnet.id)):
            by_network[subnet.network_id].append(subnet)
        used = dict(
            s.execute(
                select(m.IPAllocation.subnet_id, func.count())
                .where(m.IPAllocation.network_id.in_(ids))
                .group_by(m.IPAllocation.subnet_id)
            ).all()
        )
    out = []
    for network in networks:
        subnets = by_network[network.id]
        if ip_versions is not None and not subnets:
            continue
        items: list[dict[str, Any]] = []
        total = used_total = 0
        for x in subnets:
            size, held = total_ips(x), used.get(x.id, 0)
            total += size
            used_total += held
            items.append(
                {
                    "subnet_id": x.id,
                    "subnet_name": x.name,
                    "cidr": x.cidr,
                    "ip_version": x.ip_version,
                    "total_ips": size,
                    "used_ips": held,
                }
            )
        out.append(
            {
                "network_id": network.id,
                "network_name": network.name,
                "tenant_id": network.project_id,
                "project_id": network.project_id,
                "subnet_ip_availability": items,
                "total_ips": total,
                "used_ips": used_total,
            }
        )
    return out


def _versions(filters: Mapping[str, list[str]]) -> list[int] | None:
    if "ip_version" not in filters:
        return None
    return [int(v) for v in filters["ip_version"] if v in ("4", "6")]


def list_availabilities(
    svc: NetworkService, caller: Caller, filters: Mapping[str, list[str]]
) -> list[dict[str, Any]]:
    if not caller.allowed(RULE, {"project_id": caller.project_id}):
        return []
    with svc.db.reader() as s:
        stmt = select(m.Network).order_by(m.Network.created_at, m.Network.id)
        if "network_id" in filters:
            stmt = stmt.where(m.Network.id.in_(filters["network_id"]))
        return _views(s, list(s.scalars(stmt)), _versions(filters))


def get_availability(svc: NetworkService, caller: Caller, network_id: str) -> dict[str, Any]:
    with svc.db.reader() as s:
        network = s.get(m.Network, network_id)
        if network is None:
            raise not_found("network", network_id)
        if not caller.allowed(RULE, {"project_id": network.project_id}):
            # Neutron hides what policy does not let the caller see
            raise NotFound("The resource could not be found.", kind="HTTPNotFound")
        return _views(s, [network], None)[0]
