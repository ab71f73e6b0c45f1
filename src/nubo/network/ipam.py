"""IP address management: which addresses a port gets, kept in ``net_ip_allocations``.

An allocation is a row keyed by (subnet, address): two ports can never hold the same
address, whichever process allocates, and a restart loses nothing. Addresses are
released by deleting the port's rows. IPv6 SLAAC subnets give addresses made from the
port's MAC (EUI-64), as the guest will configure itself.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nubo.errors import BadRequest, Conflict
from nubo.network import models as m

AUTO_MODES = ("slaac", "dhcpv6-stateless")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_auto(subnet: m.Subnet) -> bool:
    """IPv6 subnets whose hosts pick their own address from the prefix (Neutron's
    is_auto_address_subnet: by the address mode, or by the RA mode when the address
    mode is not set)."""
    if subnet.ip_version != 6:
        return False
    mode = subnet.ipv6_address_mode
    return mode in AUTO_MODES or (mode is None and subnet.ipv6_ra_mode in AUTO_MODES)


def eui64(cidr: str, mac: str) -> str:
    net = ipaddress.ip_network(cidr)
    octets = [int(x, 16) for x in mac.split(":")]
    octets[0] ^= 0x02
    interface = [*octets[:3], 0xFF, 0xFE, *octets[3:]]
    suffix = int.from_bytes(bytes(interface), "big")
    return str(ipaddress.ip_address(int(net.network_address) | suffix))


def pools(subnet: m.Subnet) -> list[tuple[IPAddress, IPAddress]]:
    return [
        (ipaddress.ip_address(p["start"]), ipaddress.ip_address(p["end"]))
        for p in subnet.allocation_pools or []
    ]


def default_pools(cidr: str, gateway_ip: str | None) -> list[dict[str, str]]:
    """Neutron's default: the whole subnet minus network, broadcast (v4) and gateway."""
    net = ipaddress.ip_network(cidr)
    first = int(net.network_address) + 1
    last = int(net.broadcast_address) - (1 if net.version == 4 else 0)
    if (net.num_addresses <= 2 and net.version == 4) or net.num_addresses == 1:
        first, last = int(net.network_address), int(net.broadcast_address)
    ranges = [(first, last)]
    if gateway_ip:
        gw = int(ipaddress.ip_address(gateway_ip))
        if first <= gw <= last:
            ranges = [(lo, hi) for lo, hi in ((first, gw - 1), (gw + 1, last)) if lo <= hi]
    make = ipaddress.ip_address
    return [{"start": str(make(lo)), "end": str(make(hi))} for lo, hi in ranges]


def used(s: Session, subnet_id: str) -> set[str]:
    return set(
        s.scalars(select(m.IPAllocation.ip_address).where(m.IPAllocation.subnet_id == subnet_id))
    )


def _candidates(subnet: m.Subnet, taken: set[str]) -> Iterator[str]:
    for start, end in pools(subnet):
        current = int(start)
        while current <= int(end):
            ip = str(ipaddress.ip_address(current))
            if ip not in taken and ip != subnet.gateway_ip:
                yield ip
            current += 1


def check_address(subnet: m.Subnet, ip: str) -> None:
    """A requested address must be a usable host address of the subnet."""
    net = ipaddress.ip_network(subnet.cidr)
    addr = ipaddress.ip_address(ip)
    if addr not in net:
        raise BadRequest(f"IP address {ip} is not a valid IP for the specified subnet.")
    if (
        net.version == 4
        and net.prefixlen < 31
        and addr in (net.network_address, net.broadcast_address)
    ):
        raise BadRequest(f"IP address {ip} is not a valid IP for the specified subnet.")
    if net.version == 6 and addr == net.network_address and net.prefixlen < 127:
        raise BadRequest(f"IP address {ip} is not a valid IP for the specified subnet.")


def _take(s: Session, subnet: m.Subnet, port_id: str, ip: str) -> bool:
    """Insert the allocation; False when another port holds the address."""
    try:
        with s.begin_nested():
            s.add(
                m.IPAllocation(
                    subnet_id=subnet.id,
                    ip_address=ip,
                    port_id=port_id,
                    network_id=subnet.network_id,
                )
            )
            s.flush()
    except IntegrityError:
        return False
    return True


def take_specific(s: Session, subnet: m.Subnet, port_id: str, ip: str) -> str:
    check_address(subnet, ip)
    ip = str(ipaddress.ip_address(ip))
    if ip in used(s, subnet.id) or not _take(s, subnet, port_id, ip):
        raise Conflict(
            f"Unable to complete operation for network {subnet.network_id}. "
            f"The IP address {ip} is in use.",
            kind="IpAddressAlreadyAllocated",
        )
    return ip


def take_any(s: Session, subnet: m.Subnet, port_id: str, mac: str) -> str:
    if is_auto(subnet):
        return take_specific(s, subnet, port_id, eui64(subnet.cidr, mac))
    for ip in _candidates(subnet, used(s, subnet.id)):
        if _take(s, subnet, port_id, ip):
            return ip
    raise Conflict(
        f"No more IP addresses available for subnet {subnet.id}.",
        kind="IpAddressGenerationFailure",
    )


def subnet_for(subnets: Sequence[m.Subnet], ip: str) -> m.Subnet:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        raise BadRequest(
            f"Invalid input for fixed_ips: '{ip}' is not a valid IP address."
        ) from None
    for subnet in subnets:
        if addr in ipaddress.ip_network(subnet.cidr):
            return subnet
    raise BadRequest(f"IP address {ip} is not a valid IP for any subnet on the network.")


def allocate(
    s: Session,
    subnets: Sequence[m.Subnet],
    port_id: str,
    mac: str,
    requests: Sequence[Mapping[str, Any]] | None,
) -> list[tuple[str, str]]:
    """Allocate the port's addresses on its network's ``subnets``; return
    [(subnet_id, ip)]. ``requests`` is Neutron's ``fixed_ips`` list
    ([{"subnet_id"?, "ip_address"?}]); None asks for the defaults: one address from
    the first IPv4 subnet with room, one from the first stateful IPv6 subnet, and one
    from every SLAAC subnet."""
    by_id = {sub.id: sub for sub in subnets}
    result: list[tuple[str, str]] = []
    if requests is None:
        v4 = [x for x in subnets if x.ip_version == 4]
        v6_stateful = [x for x in subnets if x.ip_version == 6 and not is_auto(x)]
        for group in (v4, v6_stateful):
            for subnet in group:
                try:
                    result.append((subnet.id, take_any(s, subnet, port_id, mac)))
                    break
                except Conflict:
                    if subnet is group[-1]:
                        raise
        for subnet in subnets:
            if is_auto(subnet):
                result.append((subnet.id, take_any(s, subnet, port_id, mac)))
        return result
    for req in requests:
        subnet_id = req.get("subnet_id")
        ip = req.get("ip_address")
        if subnet_id is None and ip is None:
            raise BadRequest("Invalid input for fixed_ips: give subnet_id, ip_address or both.")
        if subnet_id is not None:
            found = by_id.get(subnet_id)
            if found is None:
                raise BadRequest(
                    f"Invalid input for operation: Failed to create port on network, "
                    f"because fixed_ips included invalid subnet {subnet_id}."
                )
            subnet = found
        else:
            subnet = subnet_for(subnets, str(ip))
        if ip is not None:
            if is_auto(subnet) and str(ip) != eui64(subnet.cidr, mac):
                raise BadRequest(
                    f"IPv6 address {ip} cannot be directly assigned to a port on subnet "
                    f"{subnet.id} as the subnet is configured for automatic addresses."
                )
            result.append((subnet.id, take_specific(s, subnet, port_id, str(ip))))
        else:
            result.append((subnet.id, take_any(s, subnet, port_id, mac)))
    return result


def release(s: Session, port_id: str, subnet_ids: Sequence[str] | None = None) -> None:
    stmt = delete(m.IPAllocation).where(m.IPAllocation.port_id == port_id)
    if subnet_ids is not None:
        stmt = stmt.where(m.IPAllocation.subnet_id.in_(list(subnet_ids)))
    s.execute(stmt)


def of_ports(s: Session, port_ids: Sequence[str]) -> dict[str, list[dict[str, str]]]:
    """port id -> Neutron ``fixed_ips`` ([{"subnet_id", "ip_address"}])."""
    out: dict[str, list[dict[str, str]]] = {p: [] for p in port_ids}
    if not port_ids:
        return out
    rows = s.execute(
        select(m.IPAllocation.port_id, m.IPAllocation.subnet_id, m.IPAllocation.ip_address).where(
            m.IPAllocation.port_id.in_(list(port_ids))
        )
    )
    for port_id, subnet_id, ip in rows:
        out[port_id].append({"subnet_id": subnet_id, "ip_address": ip})
    for items in out.values():
        items.sort(key=lambda a: (ipaddress.ip_address(a["ip_address"]).version, a["ip_address"]))
    return out
