"""The floating IPs proxy (``/os-floating-ips``, to 2.35) and the ``addFloatingIp`` /
``removeFloatingIp`` server actions (to 2.43): the network service's floating IPs in
Nova's shape ``{id, ip, pool, fixed_ip, instance_id}``.

A floating IP comes from a ``pool``, an external network named by name or id (with
none, the one external network the caller sees, or the default one). Associating
points it at a fixed IPv4 address of one of the server's ports (the first, unless
``fixed_address`` names one); a floating IP on another server moves, a port that
already has one refuses a second (400). Removing it from a server it is not on is a
409.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nubo.compute import servers
from nubo.compute.access import Caller
from nubo.compute.proxies.security_groups import network_caller
from nubo.compute.service import ComputeService
from nubo.errors import BadRequest, Conflict, Forbidden, NotFound
from nubo.network import floating_ips as net_fips
from nubo.network import ipam
from nubo.network import models as nm
from nubo.network import networks as net_networks


def not_found(fip_id: str) -> NotFound:
    return NotFound(f"Floating IP not found for ID {fip_id}")


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


# -- views ------------------------------------------------------------------------------


def views(s: Session, rows: Sequence[nm.FloatingIp]) -> list[dict[str, Any]]:
    """Floating IPs as Nova shows them (pool: the network's name, else its id)."""
    net_ids = {r.floating_network_id for r in rows}
    port_ids = {r.fixed_port_id for r in rows if r.fixed_port_id}
    names: dict[str, str] = {}
    if net_ids:
        query = select(nm.Network.id, nm.Network.name).where(nm.Network.id.in_(net_ids))
        names = {str(i): str(n or "") for i, n in s.execute(query)}
    devices: dict[str, str] = {}
    if port_ids:
        query = select(nm.Port.id, nm.Port.device_id).where(nm.Port.id.in_(port_ids))
        devices = {str(i): str(d or "") for i, d in s.execute(query)}
    return [
        {
            "id": r.id,
            "ip": r.floating_ip_address,
            "pool": names.get(r.floating_network_id) or r.floating_network_id,
            "fixed_ip": r.fixed_ip_address,
            "instance_id": (devices.get(r.fixed_port_id) or None) if r.fixed_port_id else None,
        }
        for r in rows
    ]


def _mine(caller: Caller) -> Any:
    """The caller's project's floating IPs (Nova lists by project, admins too)."""
    return nm.FloatingIp.project_id == caller.project_id


def _find(s: Session, caller: Caller, fip_id: str) -> nm.FloatingIp:
    if not _is_uuid(fip_id):
        raise not_found(fip_id)
    row = s.get(nm.FloatingIp, fip_id)
    if row is None or not (caller.is_admin or row.project_id == caller.project_id):
        raise not_found(fip_id)
    return row


def _by_address(s: Session, caller: Caller, address: str) -> nm.FloatingIp:
    stmt = select(nm.FloatingIp).where(nm.FloatingIp.floating_ip_address == address)
    if not caller.is_admin:
        stmt = stmt.where(_mine(caller))
    rows = list(s.scalars(stmt))
    if not rows:
        raise NotFound("floating IP not found")
    if len(rows) > 1:
        raise Conflict(f"Multiple floating IPs are found for address {address}.")
    return rows[0]


# -- the collection ---------------------------------------------------------------------------


def list_fips(svc: ComputeService, caller: Caller) -> list[dict[str, Any]]:
    caller.check("os-floating-ips:list")
    with svc.db.reader() as s:
        rows = list(
            s.scalars(
                select(nm.FloatingIp)
                .where(_mine(caller))
                .order_by(nm.FloatingIp.created_at, nm.FloatingIp.id)
            )
        )
        return views(s, rows)


def show_fip(svc: ComputeService, caller: Caller, fip_id: str) -> dict[str, Any]:
    caller.check("os-floating-ips:show")
    with svc.db.reader() as s:
        return views(s, [_find(s, caller, fip_id)])[0]


def _pool(svc: ComputeService, caller: Caller, pool: str | None) -> nm.Network:
    """The external network a pool names (by id or name); with none, the only one or
    the default one."""
    who = network_caller(caller)
    with svc.db.reader() as s:
        stmt = select(nm.Network).where(nm.Network.external.is_(True), net_networks.visible(s, who))
        if pool is not None:
            column = nm.Network.id if _is_uuid(pool) else nm.Network.name
            stmt = stmt.where(column == pool)
        rows = list(s.scalars(stmt.order_by(nm.Network.created_at, nm.Network.id)))
    if pool is None and len(rows) > 1:
        rows = [r for r in rows if r.is_default]
    if not rows:
        raise NotFound("Floating IP pool not found.")
    if len(rows) > 1:
        raise Conflict(f"Multiple floating IP pools matches found for name '{pool}'")
    network: nm.Network = rows[0]
    return network


def create_fip(svc: ComputeService, caller: Caller, pool: str | None) -> dict[str, Any]:
    caller.check("os-floating-ips:create")
    network = _pool(svc, caller, pool)
    name = pool or network.name or network.id
    try:
        made = net_fips.create_floatingip(
            svc.network, network_caller(caller), {"floating_network_id": network.id}
        )
    except Conflict as exc:
        if exc.kind == "OverQuota":
            raise Forbidden(f"IP allocation over quota in pool {name}.") from None
        raise BadRequest(exc.message) from None
    except BadRequest as exc:
        if exc.kind == "ExternalIpAddressExhausted":
            raise NotFound(f"No more floating IPs in pool {name}.") from None
        raise
    with svc.db.reader() as s:
        row = s.get(nm.FloatingIp, made["id"])
        assert row is not None
        return views(s, [row])[0]


def delete_fip(svc: ComputeService, caller: Caller, fip_id: str) -> None:
    """Release the floating IP (disassociated first, if it is on a port)."""
    caller.check("os-floating-ips:delete")
    with svc.db.reader() as s:
        _find(s, caller, fip_id)
    try:
        net_fips.delete_floatingip(svc.network, network_caller(caller), fip_id, {})
    except NotFound:
        raise not_found(fip_id) from None
    except Conflict as exc:
        raise BadRequest(exc.message) from None


# -- server actions -----------------------------------------------------------------------------


def _fixed_ips(s: Session, server_id: str) -> list[tuple[str, str]]:
    """(port id, address) of the server's ports, in port order."""
    ports = list(
        s.scalars(
            select(nm.Port)
            .where(nm.Port.device_id == server_id)
            .order_by(nm.Port.created_at, nm.Port.id)
        )
    )
    fixed = ipam.of_ports(s, [p.id for p in ports]) if ports else {}
    return [(p.id, f["ip_address"]) for p in ports for f in fixed.get(p.id, [])]


def add_to_server(
    svc: ComputeService,
    caller: Caller,
    server_id: str,
    address: str,
    fixed_address: str | None,
) -> None:
    """addFloatingIp: point the floating IP at one of the server's fixed IPv4 addresses."""
    with svc.db.reader() as s:
        server = servers.find(s, caller, server_id)
        caller.check("os-floating-ips:add", {"project_id": server.project_id})
        fixed = _fixed_ips(s, server.id)
        if not fixed:
            raise BadRequest("No fixed IPs associated to instance")
        if fixed_address is not None:
            chosen = next((f for f in fixed if f[1] == fixed_address), None)
            if chosen is None:
                raise BadRequest("Specified fixed address not assigned to instance")
        else:
            chosen = next((f for f in fixed if ipaddress.ip_address(f[1]).version == 4), None)
            if chosen is None:
                raise BadRequest(
                    f"Unable to associate floating IP {address} to any fixed IPs for instance "
                    f"{server.id}. Instance has no fixed IPv4 addresses to associate."
                )
        fip = _by_address(s, caller, address)
        fip_id = fip.id
    port_id, fixed_ip = chosen
    try:
        net_fips.update_floatingip(
            svc.network,
            network_caller(caller),
            fip_id,
            {"port_id": port_id, "fixed_ip_address": fixed_ip},
            {},
        )
    except (Conflict, BadRequest, NotFound) as exc:
        if isinstance(exc, Conflict) and exc.kind == "FloatingIPPortAlreadyAssociated":
            raise BadRequest(f"floating IP is already associated. {exc.message}") from None
        raise BadRequest(
            f"Unable to associate floating IP {address} to fixed IP {fixed_ip} for instance "
            f"{server_id}. Error: {exc.message}"
        ) from None


def remove_from_server(svc: ComputeService, caller: Caller, server_id: str, address: str) -> None:
    """removeFloatingIp: 409 unless the floating IP is on this server."""
    with svc.db.reader() as s:
        server = servers.find(s, caller, server_id)
        caller.check("os-floating-ips:remove", {"project_id": server.project_id})
        fip = _by_address(s, caller, address)
        port = s.get(nm.Port, fip.fixed_port_id) if fip.fixed_port_id else None
        if port is None or port.device_id != server.id:
            raise Conflict(f"Floating IP {address} is not associated with instance {server_id}.")
        fip_id = fip.id
    try:
        net_fips.update_floatingip(
            svc.network, network_caller(caller), fip_id, {"port_id": None}, {}
        )
    except NotFound:
        raise NotFound("floating IP not found") from None
