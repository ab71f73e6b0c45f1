"""Port forwardings of a floating IP (``/floatingips/{id}/port_forwardings``): a TCP or
UDP port (or range) of the floating address forwarded to an address and port (or range)
of an internal port behind the router. A floating IP either forwards ports or is
associated with one port, never both."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nubo.errors import BadRequest, Conflict, NotFound
from nubo.network import floating_ips, ipam, ports
from nubo.network import models as m
from nubo.network.access import Caller, touch
from nubo.network.attributes import (
    DESCRIPTION,
    Attr,
    Invalid,
    integer,
    ip_address,
    nullable,
    uuid_str,
)

if TYPE_CHECKING:
    from nubo.network.service import NetworkService

PROTOCOLS = ("tcp", "udp")
Span = tuple[int, int]


def protocol(value: Any) -> str:
    if not isinstance(value, str) or value.lower() not in PROTOCOLS:
        raise Invalid(f"'{value}' is not in {list(PROTOCOLS)}")
    return value.lower()


def port_range(value: Any) -> Span:
    """``"N"``, ``N`` or ``"N:M"`` with 1 <= N <= M <= 65535."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str):
        raise Invalid(f"Invalid port range '{value}'")
    parts = text.split(":")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise Invalid(f"Invalid port range '{value}'") from None
    if len(numbers) == 1:
        numbers *= 2
    if len(numbers) != 2 or not 1 <= numbers[0] <= numbers[1] <= 65535:
        raise Invalid(f"Invalid port range '{value}'")
    return numbers[0], numbers[1]


ATTRS: dict[str, Attr] = {
    "protocol": Attr(protocol, required=True),
    "internal_port_id": Attr(uuid_str, required=True),
    "internal_ip_address": Attr(ip_address),
    "internal_port": Attr(nullable(integer(1, 65535))),
    "external_port": Attr(nullable(integer(1, 65535))),
    "internal_port_range": Attr(nullable(port_range)),
    "external_port_range": Attr(nullable(port_range)),
    "description": DESCRIPTION,
}


def _bad(message: str) -> BadRequest:
    """Neutron's generic ``BadRequest(resource='port_forwarding')``."""
    return BadRequest(f"Bad port_forwarding request: {message}.")


def _text(span: Span) -> str:
    return f"{span[0]}:{span[1]}"


def _stored(lo: int, hi: int | None) -> Span:
    return lo, hi if hi is not None else lo


def view(row: m.PortForwarding) -> dict[str, Any]:
    external = _stored(row.external_port, row.external_port_end)
    internal = _stored(row.internal_port, row.internal_port_end)
    return {
        "id": row.id,
        "protocol": row.protocol,
        "internal_ip_address": row.internal_ip_address,
        "internal_port_id": row.internal_port_id,
        "internal_port": internal[0] if internal[0] == internal[1] else None,
        "external_port": external[0] if external[0] == external[1] else None,
        "internal_port_range": _text(internal),
        "external_port_range": _text(external),
        "description": row.description,
    }


def _find(s: Session, fip: m.FloatingIp, pf_id: str) -> m.PortForwarding:
    row = s.get(m.PortForwarding, pf_id)
    if row is None or row.floatingip_id != fip.id:
        raise NotFound(
            f"Port Forwarding {pf_id} could not be found.", kind="PortForwardingNotFound"
        )
    return row


def list_port_forwardings(svc: NetworkService, caller: Caller, fip_id: str) -> list[dict[str, Any]]:
    """A floating IP's port forwardings (filters, sorting and paging apply on the views)."""
    with svc.db.reader() as s:
        fip = floating_ips.find(s, caller, fip_id)
        caller.check("get_port_forwarding", {"project_id": fip.project_id})
        stmt = (
            select(m.PortForwarding)
            .where(m.PortForwarding.floatingip_id == fip.id)
            .order_by(m.PortForwarding.external_port, m.PortForwarding.id)
        )
        return [view(r) for r in s.scalars(stmt)]


def get_port_forwarding(
    svc: NetworkService, caller: Caller, fip_id: str, pf_id: str
) -> dict[str, Any]:
    with svc.db.reader() as s:
        fip = floating_ips.find(s, caller, fip_id)
        caller.check("get_port_forwarding", {"project_id": fip.project_id})
        return view(_find(s, fip, pf_id))


def _span(attrs: Mapping[str, Any], single: str, ranged: str, current: Span | None) -> Span:
    one = attrs.get(single)
    many = attrs.get(ranged)
    if one is not None and many is not None and (one, one) != many:
        raise _bad(f"{single} and {ranged} cannot both be given")
    if many is not None:
        return int(many[0]), int(many[1])
    if one is not None:
        return one, one
    if current is None:
        raise _bad(f"{single} or {ranged} is required")
    return current


def _address(port: m.Port, fixed: list[dict[str, str]], wanted: str | None) -> tuple[str, str]:
    """The internal IPv4 address (given, or the port's first) and its subnet."""
    ipv4 = [f for f in fixed if ipaddress.ip_address(f["ip_address"]).version == 4]
    if not ipv4:
        raise _bad(f"Requested internal port {port.id} must allocate an IPv4 address at least")
    if wanted is None:
        return ipv4[0]["ip_address"], ipv4[0]["subnet_id"]
    for item in ipv4:
        if item["ip_address"] == wanted:
            return wanted, item["subnet_id"]
    raise _bad(
        f"Requested internal IP address {wanted} is not suitable for internal neutron port "
        f"{port.id}, as its fixed_ips are {ipv4}"
    )


def _router(s: Session, fip: m.FloatingIp, port: m.Port, subnet_id: str) -> str:
    subnet = s.get(m.Subnet, subnet_id)
    assert subnet is not None
    try:
        router_id = floating_ips.router_for(s, port, subnet, fip.floating_network_id)
    except NotFound:
        raise _bad(
            f"External network {fip.floating_network_id} is not reachable from subnet "
            f"{subnet.id}. Cannot set Port forwarding for port {port.id} with Floating IP "
            f"{fip.id}"
        ) from None
    if fip.router_id and fip.router_id != router_id:
        raise _bad(
            f"The Floating IP {fip.id} had been set on router {fip.router_id}, the internal "
            f"Neutron port {port.id} can not reach it"
        )
    return router_id


def _check_collisions(
    s: Session,
    fip: m.FloatingIp,
    proto: str,
    external: Span,
    internal: Span,
    port_id: str,
    address: str,
    skip: str | None = None,
) -> None:
    """One external port of a floating IP forwards one way; one internal socket is
    reached one way."""
    if internal[0] != internal[1] and internal[1] - internal[0] != external[1] - external[0]:
        raise _bad(
            "Invalid ranges of internal and/or external ports. The relation between internal "
            "and external ports must be N-N or 1-N"
        )

    def collides(a: Span, b: Span) -> bool:
        return max(a[0], b[0]) <= min(a[1], b[1])

    others = s.scalars(
        select(m.PortForwarding).where(
            m.PortForwarding.protocol == proto,
            (m.PortForwarding.floatingip_id == fip.id)
            | (
                (m.PortForwarding.internal_port_id == port_id)
                & (m.PortForwarding.internal_ip_address == address)
            ),
        )
    )
    for other in others:
        if other.id == skip:
            continue
        theirs_ext = _stored(other.external_port, other.external_port_end)
        theirs_int = _stored(other.internal_port, other.internal_port_end)
        if other.floatingip_id == fip.id and collides(theirs_ext, external):
            raise _bad(
                "There is a port collision with the external_port_range. The following "
                f"ranges collide: {_text(theirs_ext)} and {_text(external)}"
            )
        if (
            other.internal_port_id == port_id
            and other.internal_ip_address == address
            and collides(theirs_int, internal)
        ):
            raise _bad(
                "There is a port collision with the internal_port_range. The following "
                f"ranges collide: {_text(theirs_int)} and {_text(internal)}"
            )


def _flush(s: Session) -> None:
    try:
        with s.begin_nested():
            s.flush()
    except IntegrityError:
        raise _bad(
            "A duplicate port forwarding entry with same attributes already exists"
        ) from None


def _store(row: m.PortForwarding, external: Span, internal: Span) -> None:
    row.external_port, row.external_port_end = (
        external[0],
        (external[1] if external[1] != external[0] else None),
    )
    row.internal_port, row.internal_port_end = (
        internal[0],
        (internal[1] if internal[1] != internal[0] else None),
    )


def create_port_forwarding(
    svc: NetworkService, caller: Caller, fip_id: str, attrs: dict[str, Any]
) -> dict[str, Any]:
    with svc.db.session() as s:
        fip = floating_ips.find(s, caller, fip_id, lock=True)
        caller.check("create_port_forwarding", {"project_id": fip.project_id})
        external = _span(attrs, "external_port", "external_port_range", None)
        internal = _span(attrs, "internal_port", "internal_port_range", None)
        port = ports.find(s, caller, attrs["internal_port_id"])
        fixed = ipam.of_ports(s, [port.id])[port.id]
        address, subnet_id = _address(port, fixed, attrs.get("internal_ip_address"))
        proto = attrs["protocol"]
        _check_collisions(s, fip, proto, external, internal, port.id, address)
        bound = s.scalar(select(m.FloatingIp).where(m.FloatingIp.fixed_port_id == port.id))
        if bound is not None:
            raise Conflict(
                f"Cannot create port forwarding to floating IP {fip.floating_ip_address} "
                f"({fip.id}) with port {port.id} using fixed IP {address}, as that port "
                "already has a binding floating IP.",
                kind="PortHasBindingFloatingIP",
            )
        if fip.fixed_port_id:
            raise Conflict(
                f"Cannot associate floating IP {fip.floating_ip_address} ({fip.id}) with port "
                f"{port.id} using fixed IP {address}, as that fixed IP already has a floating "
                f"IP on external network {fip.floating_network_id}.",
                kind="FloatingIPPortAlreadyAssociated",
            )
        router_id = _router(s, fip, port, subnet_id)
        row = m.PortForwarding(
            floatingip_id=fip.id,
            internal_port_id=port.id,
            internal_ip_address=address,
            protocol=proto,
            description=attrs.get("description", ""),
        )
        _store(row, external, internal)
        s.add(row)
        _flush(s)
        fip.router_id = router_id
        fip.status = floating_ips.ACTIVE
        touch(fip)
        svc.changed(s)
        return view(row)


def update_port_forwarding(
    svc: NetworkService, caller: Caller, fip_id: str, pf_id: str, attrs: dict[str, Any]
) -> dict[str, Any]:
    with svc.db.session() as s:
        fip = floating_ips.find(s, caller, fip_id, lock=True)
        caller.check("update_port_forwarding", {"project_id": fip.project_id})
        row = _find(s, fip, pf_id)
        external = _span(
            attrs,
            "external_port",
            "external_port_range",
            _stored(row.external_port, row.external_port_end),
        )
        internal = _span(
            attrs,
            "internal_port",
            "internal_port_range",
            _stored(row.internal_port, row.internal_port_end),
        )
        port_id = attrs.get("internal_port_id", row.internal_port_id)
        port = ports.find(s, caller, port_id)
        fixed = ipam.of_ports(s, [port.id])[port.id]
        wanted = attrs.get("internal_ip_address")
        if wanted is None and port_id == row.internal_port_id:
            wanted = row.internal_ip_address
        address, subnet_id = _address(port, fixed, wanted)
        if port_id != row.internal_port_id:
            _router(s, fip, port, subnet_id)
        proto = attrs.get("protocol", row.protocol)
        _check_collisions(s, fip, proto, external, internal, port.id, address, skip=row.id)
        row.internal_port_id = port.id
        row.internal_ip_address = address
        row.protocol = proto
        if "description" in attrs:
            row.description = attrs["description"]
        _store(row, external, internal)
        _flush(s)
        touch(fip)
        svc.changed(s)
        return view(row)


def delete_port_forwarding(svc: NetworkService, caller: Caller, fip_id: str, pf_id: str) -> None:
    with svc.db.session() as s:
        fip = floating_ips.find(s, caller, fip_id, lock=True)
        caller.check("delete_port_forwarding", {"project_id": fip.project_id})
        row = _find(s, fip, pf_id)
        s.delete(row)
        s.flush()
        if not fip.fixed_port_id and not floating_ips.has_forwardings(s, fip.id):
            fip.router_id = None
            fip.status = floating_ips.DOWN
        touch(fip)
        svc.changed(s)
