"""Subnets (/v2.0/subnets): an address range on a network, from a CIDR or a subnet
pool, with its gateway, allocation pools, DNS servers, host routes, DHCP and IPv6
modes, validated as Neutron validates them; and the network's DHCP port, which holds
an address on every DHCP-enabled subnet of its network and goes with the last one."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from nubo.errors import BadRequest, Conflict, Forbidden
from nubo.network import extensions, ipam, networks, ports, quotas, rbac, subnetpools, tags
from nubo.network import models as m
from nubo.network.access import (
    Caller,
    check_revision,
    not_found,
    project_for_create,
    standard,
    touch,
)
from nubo.network.address_scopes import ip_version as ip_version_attr
from nubo.network.attributes import (
    DESCRIPTION,
    NAME,
    PROJECT,
    Attr,
    Invalid,
    boolean,
    cidr,
    dict_of,
    ip_address,
    nullable,
    one_of,
    uuid_str,
)

if TYPE_CHECKING:
    from nubo.network.service import NetworkService

log = logging.getLogger(__name__)

IPV6_MODES = ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")
DHCP_OWNER = "network:dhcp"
# ports that keep a subnet from being deleted even when its addresses are automatic
ROUTER_INTERFACE_OWNERS = (
    "network:router_interface",
    "network:router_interface_distributed",
    "network:ha_router_replicated_interface",
)
# ports that get no automatic (SLAAC) address on a new subnet
NO_AUTO_ADDRESS = (*ROUTER_INTERFACE_OWNERS, "network:router_centralized_snat")
# Neutron's max_dns_nameservers and max_subnet_host_routes defaults
MAX_DNS_NAMESERVERS = 5
MAX_HOST_ROUTES = 20
SERVICE_TYPE_PREFIXES = ("network:", "neutron:", "compute:")
SUBNET_EXTERNAL = "subnet-external-network"


# -- attributes -----------------------------------------------------------------------


def _nameservers(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise Invalid(f"Invalid data format for nameserver: '{value}'")
    out: list[str] = []
    for host in value:
        try:
            address = ip_address(host)
        except Invalid:
            raise Invalid(
                f"'{host}' is not a valid nameserver. '{host}' is not a valid IP address"
            ) from None
        if address in out:
            raise Invalid(f"Duplicate nameserver '{host}'")
        out.append(address)
    return out


_route = dict_of({"destination": cidr, "nexthop": ip_address}, required=("destination", "nexthop"))


def _host_routes(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise Invalid(f"Invalid data format for hostroute: '{value}'")
    out: list[dict[str, str]] = []
    for item in value:
        route = _route(item)
        if route in out:
            raise Invalid(f"Duplicate hostroute '{item}'")
        out.append(route)
    return out


_pool = dict_of({"start": ip_address, "end": ip_address}, required=("start", "end"))


def _pools(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise Invalid(f"Invalid data format for IP pool: '{value}'")
    return [_pool(p) for p in value]


def _service_types(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise Invalid(f"'{value}' is not a list")
    for item in value:
        if not isinstance(item, str):
            raise Invalid(f"Subnet service type {item} is not a string")
        if not item.startswith(SERVICE_TYPE_PREFIXES):
            raise Invalid(f"Subnet service type {item} does not correspond to a valid device owner")
    return list(value)


def _none_to_list(inner: Any) -> Any:
    def convert(value: Any) -> Any:
        return [] if value is None else inner(value)

    return convert


ATTRS: dict[str, Attr] = {
    "name": NAME,
    "description": DESCRIPTION,
    "project_id": PROJECT,
    "tenant_id": PROJECT,
    "network_id": Attr(uuid_str, put=False, required=True),
    "ip_version": Attr(ip_version_attr, put=False, required=True),
    "cidr": Attr(nullable(cidr), put=False),
    "prefixlen": Attr(subnetpools.non_negative, put=False),
    "subnetpool_id": Attr(nullable(uuid_str), put=False),
    "use_default_subnetpool": Attr(boolean, put=False),
    "gateway_ip": Attr(nullable(ip_address)),
    "allocation_pools": Attr(nullable(_pools)),
    "dns_nameservers": Attr(_none_to_list(_nameservers)),
    "host_routes": Attr(_none_to_list(_host_routes)),
    "enable_dhcp": Attr(boolean),
    "ipv6_ra_mode": Attr(nullable(one_of(*IPV6_MODES)), put=False),
    "ipv6_address_mode": Attr(nullable(one_of(*IPV6_MODES)), put=False),
    "service_types": Attr(_none_to_list(_service_types)),
    "dns_publish_fixed_ip": Attr(boolean),
    "segment_id": Attr(nullable(uuid_str)),
}


# -- validation (pure) ------------------------------------------------------------------


def invalid(message: str) -> BadRequest:
    return BadRequest(f"Invalid input for operation: {message}.", kind="InvalidInput")


def bad_request(message: str) -> BadRequest:
    return BadRequest(f"Bad subnets request: {message}.")


def check_version(version: int, value: str, name: str) -> None:
    if ipaddress.ip_network(value, strict=False).version != version:
        raise invalid(f"{name} '{value}' does not match the ip_version '{version}'")


def check_gateway(network_cidr: str, gateway: str, version: int) -> None:
    """The gateway must be of the subnet's IP version; inside the CIDR it may not be
    the network or (IPv4) broadcast address. Neutron accepts a gateway outside the
    CIDR (an on-link router elsewhere), and so do we."""
    check_version(version, gateway, "gateway_ip")
    net = ipaddress.ip_network(network_cidr)
    ip = ipaddress.ip_address(gateway)
    if ip in net and net.version == 4 and ip in (net.network_address, net.broadcast_address):
        raise invalid("Gateway is not valid on subnet")


def check_dhcp_cidr(network_cidr: str) -> None:
    """What Neutron refuses on a subnet with DHCP turned on."""
    net = ipaddress.ip_network(network_cidr)
    if (net.version == 4 and net.prefixlen > 30) or (net.version == 6 and net.prefixlen > 126):
        raise invalid("Subnet has a prefix length that is incompatible with DHCP service enabled")
    if net.is_multicast:
        raise invalid("Multicast IP subnet is not supported if enable_dhcp is True")
    if net.is_loopback:
        raise invalid("Loopback IP subnet is not supported if enable_dhcp is True")
    if net.version == 4 and int(net.network_address) == 0:
        raise invalid("First IP '0.0.0.0' of network is not supported if enable_dhcp is True")


def check_nameservers(servers: Sequence[str], version: int, subnet: str) -> None:
    if len(servers) > MAX_DNS_NAMESERVERS:
        raise BadRequest(
            f"Unable to complete operation for {subnet}. The number of DNS nameservers "
            f"exceeds the limit {MAX_DNS_NAMESERVERS}.",
            kind="DNSNameServersExhausted",
        )
    for server in servers:
        check_version(version, server, "dns_nameserver")


def check_routes(routes: Sequence[Mapping[str, str]], version: int, subnet: str) -> None:
    if len(routes) > MAX_HOST_ROUTES:
        raise BadRequest(
            f"Unable to complete operation for {subnet}. The number of host routes exceeds "
            f"the limit {MAX_HOST_ROUTES}.",
            kind="HostRoutesExhausted",
        )
    for route in routes:
        check_version(version, route["nexthop"], "nexthop")
        check_version(version, route["destination"], "destination")


def is_auto(ra_mode: str | None, address_mode: str | None) -> bool:
    """Neutron's is_auto_address_subnet on the two modes."""
    auto = ("slaac", "dhcpv6-stateless")
    return address_mode in auto or (address_mode is None and ra_mode in auto)


def check_ipv6_modes(
    version: int, network_cidr: str, ra: str | None, address: str | None, dhcp: bool
) -> None:
    if version == 4:
        if ra is not None:
            raise invalid("ipv6_ra_mode is not valid when ip_version is 4")
        if address is not None:
            raise invalid("ipv6_address_mode is not valid when ip_version is 4")
        return
    if (ra or address) and not dhcp:
        raise invalid(
            "ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to False"
        )
    if ra and address and ra != address:
        raise invalid(
            f"ipv6_ra_mode set to '{ra}' with ipv6_address_mode set to '{address}' is not "
            "valid. If both attributes are set, they must be the same value"
        )
    if is_auto(ra, address) and ipaddress.ip_network(network_cidr).prefixlen != 64:
        raise invalid(
            f"Invalid CIDR {network_cidr} for IPv6 address mode. OpenStack uses the EUI-64 "
            "address format, which requires the prefix to be /64"
        )


def _pool_text(start: str, end: str) -> str:
    return f"{start}-{end}"


def check_pools(pools: Sequence[Mapping[str, str]], network_cidr: str) -> None:
    """Neutron's validate_allocation_pools: ordered, of the subnet's version, inside
    the usable part of the CIDR, not overlapping each other."""
    net = ipaddress.ip_network(network_cidr)
    first = int(net.network_address) + 1
    last = int(net.broadcast_address) - (1 if net.version == 4 else 0)
    ranges: list[tuple[int, int, str]] = []
    for pool in pools:
        start, end = ipaddress.ip_address(pool["start"]), ipaddress.ip_address(pool["end"])
        text = _pool_text(pool["start"], pool["end"])
        if start.version != end.version or int(start) > int(end):
            raise BadRequest(
                f"The allocation pool {{'start': '{pool['start']}', 'end': '{pool['end']}'}} "
                "is not valid.",
                kind="InvalidAllocationPool",
            )
        if start.version != net.version:
            raise BadRequest(
                f"The allocation pool {text} is not valid.", kind="InvalidAllocationPool"
            )
        if int(start) < first or int(end) > last:
            raise BadRequest(
                f"The allocation pool {text} spans beyond the subnet cidr {network_cidr}.",
                kind="OutOfBoundsAllocationPool",
            )
        ranges.append((int(start), int(end), text))
    for i, (lo, hi, text) in enumerate(ranges):
        for lo2, hi2, text2 in ranges[i + 1 :]:
            if lo <= hi2 and lo2 <= hi:
                raise Conflict(
                    f"Found overlapping allocation pools: {text} {text2} for subnet "
                    f"{network_cidr}.",
                    kind="OverlappingAllocationPools",
                )


def check_gateway_outside_pools(gateway: str, pools: Sequence[Mapping[str, str]]) -> None:
    ip = int(ipaddress.ip_address(gateway))
    for pool in pools:
        if int(ipaddress.ip_address(pool["start"])) <= ip <= int(ipaddress.ip_address(pool["end"])):
            raise Conflict(
                f"Gateway ip {gateway} conflicts with allocation pool "
                f"{_pool_text(pool['start'], pool['end'])}.",
                kind="GatewayConflictWithAllocationPools",
            )


# -- visibility and views --------------------------------------------------------------


def external_visible() -> bool:
    """Whether subnets of external networks are visible to every project and carry
    ``router:external``: Neutron's ``subnet-external-network`` extension, in force
    exactly when the extension list advertises it (Tempest checks both together)."""
    return SUBNET_EXTERNAL in extensions.EXTENSIONS


def visible(s: Session, caller: Caller) -> Any:
    """Subnets of networks the caller owns or that are shared with it (and external
    ones, see external_visible), and subnets of its own."""
    if caller.is_admin:
        return m.Subnet.id.isnot(None)
    granted = rbac.granted_ids(s, "network", caller.project_id)
    ids = granted[rbac.SHARED] | (granted[rbac.EXTERNAL] if external_visible() else set())
    owned = select(m.Network.id).where(m.Network.project_id == caller.project_id)
    return or_(
        m.Subnet.project_id == caller.project_id,
        m.Subnet.network_id.in_(owned),
        m.Subnet.network_id.in_(ids),
    )


def find(s: Session, caller: Caller, subnet_id: str) -> m.Subnet:
    row = s.scalar(select(m.Subnet).where(m.Subnet.id == subnet_id, visible(s, caller)))
    if row is None:
        raise not_found("subnet", subnet_id)
    return row


def views(s: Session, rows: Sequence[m.Subnet]) -> list[dict[str, Any]]:
    ids = [r.id for r in rows]
    tag_map = tags.of_many(s, "subnets", ids)
    external: dict[str, bool] = {}
    network_ids = list({r.network_id for r in rows})
    if network_ids:
        external = dict(
            s.execute(
                select(m.Network.id, m.Network.external).where(m.Network.id.in_(network_ids))
            ).all()
        )
    return [view(r, tag_map.get(r.id, []), external.get(r.network_id, False)) for r in rows]


def view(row: m.Subnet, tag_list: list[str], external: bool) -> dict[str, Any]:
    body = standard(row, tag_list)
    body.update(
        {
            "network_id": row.network_id,
            "ip_version": row.ip_version,
            "cidr": row.cidr,
            "gateway_ip": row.gateway_ip,
            "enable_dhcp": row.enable_dhcp,
            "allocation_pools": [dict(p) for p in row.allocation_pools or []],
            "dns_nameservers": list(row.dns_nameservers or []),
            "host_routes": [dict(r) for r in row.host_routes or []],
            "ipv6_ra_mode": row.ipv6_ra_mode,
            "ipv6_address_mode": row.ipv6_address_mode,
            "subnetpool_id": row.subnetpool_id,
            "service_types": list(row.service_types or []),
            "dns_publish_fixed_ip": row.dns_publish_fixed_ip,
            "segment_id": None,
        }
    )
    if external_visible():
        body["router:external"] = external
    return body


def _target(project: str, network: m.Network) -> dict[str, Any]:
    return {
        "project_id": project,
        "tenant_id": project,
        "network:project_id": network.project_id,
        "network:tenant_id": network.project_id,
    }


def _network_owner(caller: Caller, rule: str, network: m.Network) -> None:
    """Neutron's subnet rules are admin-or-network-owner: a project may not add,
    change or remove subnets on a network it only uses through sharing."""
    if not caller.is_admin and network.project_id != caller.project_id:
        raise Forbidden(f"(rule:{rule}) is disallowed by policy")


def _lock_network(s: Session, network_id: str) -> None:
    """Serialise subnet changes on one network (CIDR overlap, the DHCP port)."""
    s.execute(select(m.Network.id).where(m.Network.id == network_id).with_for_update())


# -- DHCP port and automatic addresses ------------------------------------------------------


def dhcp_port(s: Session, network_id: str) -> m.Port | None:
    return s.scalar(
        select(m.Port)
        .where(m.Port.network_id == network_id, m.Port.device_owner == DHCP_OWNER)
        .order_by(m.Port.created_at, m.Port.id)
        .limit(1)
    )


def _held(s: Session, port_id: str) -> set[str]:
    return set(s.scalars(select(m.IPAllocation.subnet_id).where(m.IPAllocation.port_id == port_id)))


def _give_address(s: Session, subnet: m.Subnet, port: m.Port) -> bool:
    """One address on ``subnet`` for ``port`` (EUI-64 on SLAAC subnets); False when
    the subnet has none left, which leaves the port as it was."""
    try:
        ipam.allocate(s, [subnet], port.id, port.mac_address, [{"subnet_id": subnet.id}])
    except Conflict as exc:
        log.warning("no address on subnet %s for port %s: %s", subnet.id, port.id, exc)
        return False
    return True


def sync_dhcp(svc: NetworkService, s: Session, network: m.Network) -> None:
    """Make the network's DHCP port match its DHCP-enabled subnets: created with the
    first one, an address on each, released from subnets that stopped serving DHCP,
    removed with the last one."""
    subnets = ports.network_subnets(s, network.id)
    served = [x for x in subnets if x.enable_dhcp]
    port = dhcp_port(s, network.id)
    if not served:
        if port is not None:
            ports.remove_port(svc, s, port)
        return
    if port is None:
        port = ports.new_port(
            svc,
            s,
            project_id=network.project_id,
            network=network,
            device_owner=DHCP_OWNER,
            device_id=f"dhcp-{network.id}",
            fixed_ips=[],
        )
    held = _held(s, port.id)
    changed = False
    stale = [x.id for x in subnets if x.id in held and not x.enable_dhcp and not ipam.is_auto(x)]
    if stale:
        ipam.release(s, port.id, stale)
        changed = True
    for subnet in served:
        if subnet.id not in held:
            changed = _give_address(s, subnet, port) or changed
    if changed:
        touch(port)
        svc.changed(s)


def _add_auto_addresses(s: Session, subnet: m.Subnet) -> None:
    """A new SLAAC / DHCPv6-stateless subnet gives every port of its network (router
    interfaces aside) its EUI-64 address, as Neutron does."""
    rows = s.scalars(
        select(m.Port).where(
            m.Port.network_id == subnet.network_id,
            m.Port.device_owner.notin_((*NO_AUTO_ADDRESS, "network:floatingip")),
        )
    ).all()
    for port in rows:
        if _give_address(s, subnet, port):
            touch(port)


# -- list and show ------------------------------------------------------------------------


def list_subnets(
    svc: NetworkService, caller: Caller, filters: Mapping[str, list[str]]
) -> list[dict[str, Any]]:
    """Visible subnets; ``id``, ``network_id`` and ``cidr`` (any spelling of the
    network, as Neutron normalises it) are narrowed here."""
    with svc.db.reader() as s:
        stmt = select(m.Subnet).where(visible(s, caller)).order_by(m.Subnet.created_at, m.Subnet.id)
        if "id" in filters:
            stmt = stmt.where(m.Subnet.id.in_(filters["id"]))
        if "network_id" in filters:
            stmt = stmt.where(m.Subnet.network_id.in_(filters["network_id"]))
        if "cidr" in filters:
            wanted = []
            for value in filters["cidr"]:
                try:
                    wanted.append(str(ipaddress.ip_network(value, strict=False)))
                except ValueError:
                    wanted.append(value)
            stmt = stmt.where(m.Subnet.cidr.in_(wanted))
        return views(s, list(s.scalars(stmt)))


def get_subnet(svc: NetworkService, caller: Caller, subnet_id: str) -> dict[str, Any]:
    with svc.db.reader() as s:
        row = find(s, caller, subnet_id)
        return views(s, [row])[0]


# -- create ---------------------------------------------------------------------------------


def _policy_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """On create, attributes left at their defaults are not "set" for policy."""
    return {
        k: v
        for k, v in attrs.items()
        if not (k == "segment_id" and v is None) and not (k == "service_types" and not v)
    }


def create_subnet(svc: NetworkService, caller: Caller, attrs: dict[str, Any]) -> dict[str, Any]:
    with svc.db.session() as s:
        row = _create(svc, s, caller, attrs)
        return views(s, [row])[0]


def create_subnets(
    svc: NetworkService, caller: Caller, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A bulk create: all of them or none."""
    with svc.db.session() as s:
        rows = [_create(svc, s, caller, attrs) for attrs in items]
        return views(s, rows)


def _pool_for(s: Session, caller: Caller, attrs: Mapping[str, Any]) -> m.SubnetPool | None:
    """The pool a create names (``subnetpool_id`` or ``use_default_subnetpool``)."""
    pool_id = attrs.get("subnetpool_id")
    use_default = attrs.get("use_default_subnetpool", False)
    if pool_id and use_default:
        raise bad_request("subnetpool_id and use_default_subnetpool cannot both be specified")
    if pool_id:
        return subnetpools.find(s, caller, pool_id)
    if not use_default:
        return None
    given = attrs.get("cidr")
    version = ipaddress.ip_network(given).version if given else attrs["ip_version"]
    pool = subnetpools.default_pool(s, version)
    if pool is None:
        raise bad_request(f"No default subnetpool found for IPv{version}")
    return pool


def _choose_cidr(s: Session, pool: m.SubnetPool, project: str, attrs: Mapping[str, Any]) -> str:
    if attrs["ip_version"] != pool.ip_version:
        raise bad_request(
            f"Cannot allocate IPv{attrs['ip_version']} subnet from IPv{pool.ip_version} subnet pool"
        )
    wanted = attrs.get("cidr")
    if wanted is None and attrs.get("allocation_pools") is not None:
        raise bad_request("allocation_pools allowed only for specific subnet requests.")
    prefixlen = attrs.get("prefixlen")
    gateway = attrs.get("gateway_ip")
    if wanted is None and gateway is not None:
        # Neutron reads a gateway without a CIDR as "the prefix around this address"
        length = pool.default_prefixlen if prefixlen is None else prefixlen
        wanted = str(ipaddress.ip_network(f"{gateway}/{length}", strict=False))
    return subnetpools.allocate(s, pool, project, wanted=wanted, prefixlen=prefixlen)


def _check_pool_affinity(
    s: Session, network: m.Network, version: int, pool: m.SubnetPool | None
) -> None:
    """Subnets of one IP version on a network come from one pool (or none), or, with
    address scopes, from pools of one scope."""
    others = list(
        s.execute(
            select(m.Subnet.subnetpool_id, m.SubnetPool.address_scope_id)
            .outerjoin(m.SubnetPool, m.SubnetPool.id == m.Subnet.subnetpool_id)
            .where(m.Subnet.network_id == network.id, m.Subnet.ip_version == version)
        )
    )
    scope = next((sc for _, sc in others if sc), None)
    if scope is not None:
        if pool is None or pool.address_scope_id != scope:
            raise BadRequest(
                "Subnets of the same address family hosted on the same network must all "
                "participate in the same address scope.",
                kind="NetworkAddressScopeAffinityError",
            )
        return
    wanted = pool.id if pool is not None else None
    if any(pid != wanted for pid, _ in others):
        raise BadRequest(
            "Subnets hosted on the same network must be allocated from the same subnet pool.",
            kind="NetworkSubnetPoolAffinityError",
        )


def _check_overlap(s: Session, network: m.Network, network_cidr: str) -> None:
    net = ipaddress.ip_network(network_cidr)
    if net.prefixlen == 0:
        raise invalid("0 is not allowed as CIDR prefix length")
    for other in s.scalars(select(m.Subnet.cidr).where(m.Subnet.network_id == network.id)):
        other_net = ipaddress.ip_network(other)
        if other_net.version == net.version and other_net.overlaps(net):
            raise invalid(
                f"Requested subnet with cidr: {network_cidr} for network: {network.id} "
                "overlaps with another subnet"
            )


def _create(svc: NetworkService, s: Session, caller: Caller, attrs: dict[str, Any]) -> m.Subnet:
    project = project_for_create(caller, attrs)
    network = networks.find(s, caller, attrs["network_id"])
    caller.check_attributes("create", "subnet", _policy_attrs(attrs), _target(project, network))
    _network_owner(caller, "create_subnet", network)
    if attrs.get("segment_id") is not None:
        raise BadRequest(
            "Invalid input for segment_id. Reason: network segments are not supported."
        )
    if attrs.get("cidr") is not None and attrs.get("prefixlen") is not None:
        raise bad_request("cidr and prefixlen must not be supplied together")
    _lock_network(s, network.id)
    quotas.check(s, project, "subnet")
    version = attrs["ip_version"]
    pool = _pool_for(s, caller, attrs)
    if pool is None and attrs.get("cidr") is None:
        raise bad_request("a subnetpool must be specified in the absence of a cidr")
    network_cidr = attrs["cidr"] if pool is None else _choose_cidr(s, pool, project, attrs)
    check_version(version, network_cidr, "cidr")
    net = ipaddress.ip_network(network_cidr)
    dhcp = attrs.get("enable_dhcp", True)
    if dhcp:
        check_dhcp_cidr(network_cidr)
    if "gateway_ip" in attrs:
        gateway = attrs["gateway_ip"]
        if gateway is not None:
            check_gateway(network_cidr, gateway, version)
    else:
        gateway = str(net.network_address + 1)
    check_nameservers(attrs.get("dns_nameservers", []), version, "new subnet")
    check_routes(attrs.get("host_routes", []), version, "new subnet")
    ra, address = attrs.get("ipv6_ra_mode"), attrs.get("ipv6_address_mode")
    check_ipv6_modes(version, network_cidr, ra, address, dhcp)
    if attrs.get("allocation_pools") is not None:
        # an empty list is a subnet without pools: only addresses asked for by name
        allocation_pools = attrs["allocation_pools"]
        check_pools(allocation_pools, network_cidr)
        if gateway is not None:
            check_gateway_outside_pools(gateway, allocation_pools)
    else:
        allocation_pools = ipam.default_pools(network_cidr, gateway)
    _check_overlap(s, network, network_cidr)
    _check_pool_affinity(s, network, version, pool)
    row = m.Subnet(
        id=m.new_uuid(),
        project_id=project,
        network_id=network.id,
        name=attrs.get("name", ""),
        description=attrs.get("description", ""),
        ip_version=version,
        cidr=network_cidr,
        gateway_ip=gateway,
        enable_dhcp=dhcp,
        allocation_pools=allocation_pools,
        dns_nameservers=attrs.get("dns_nameservers", []),
        host_routes=attrs.get("host_routes", []),
        ipv6_ra_mode=ra,
        ipv6_address_mode=address,
        subnetpool_id=pool.id if pool is not None else None,
        service_types=attrs.get("service_types", []),
        dns_publish_fixed_ip=attrs.get("dns_publish_fixed_ip", False),
    )
    s.add(row)
    s.flush()
    if ipam.is_auto(row):
        _add_auto_addresses(s, row)
    sync_dhcp(svc, s, network)
    svc.changed(s)
    s.flush()
    return row


# -- update -----------------------------------------------------------------------------


def _router_port_on(s: Session, subnet_id: str, address: str | None = None) -> str | None:
    stmt = (
        select(m.IPAllocation.port_id)
        .join(m.Port, m.Port.id == m.IPAllocation.port_id)
        .where(
            m.IPAllocation.subnet_id == subnet_id,
            m.Port.device_owner.in_(ROUTER_INTERFACE_OWNERS),
        )
    )
    if address is not None:
        stmt = stmt.where(m.IPAllocation.ip_address == address)
    return s.scalar(stmt.limit(1))


def _check_new_gateway(s: Session, row: m.Subnet, gateway: str | None) -> None:
    if gateway is not None:
        check_gateway(row.cidr, gateway, row.ip_version)
    if gateway == row.gateway_ip:
        return
    if gateway is not None and row.gateway_ip:
        holder = _router_port_on(s, row.id, row.gateway_ip)
        if holder:
            raise Conflict(
                f"Current gateway ip {row.gateway_ip} already in use by port {holder}. "
                "Unable to update.",
                kind="GatewayIpInUse",
            )
    if gateway is not None:
        taken = s.execute(
            select(m.IPAllocation.port_id, m.Port.device_owner)
            .join(m.Port, m.Port.id == m.IPAllocation.port_id)
            .where(m.IPAllocation.subnet_id == row.id, m.IPAllocation.ip_address == gateway)
        ).first()
        if taken is not None and taken[1] not in ROUTER_INTERFACE_OWNERS:
            raise Conflict(
                f"Unable to complete operation for network {row.network_id}. "
                f"The IP address {gateway} is in use.",
                kind="IpAddressInUse",
            )


def update_subnet(
    svc: NetworkService,
    caller: Caller,
    subnet_id: str,
    attrs: dict[str, Any],
    headers: Mapping[str, str],
) -> dict[str, Any]:
    with svc.db.session() as s:
        row = find(s, caller, subnet_id)
        network = s.get(m.Network, row.network_id)
        assert network is not None
        target = _target(row.project_id, network)
        owner = caller.is_admin or network.project_id == caller.project_id
        if not owner or not caller.allowed("update_subnet", target):
            # Neutron: not found to other projects, forbidden to the subnet's own
            if row.project_id != caller.project_id:
                raise not_found("subnet", row.id)
            raise Forbidden("(rule:update_subnet) is disallowed by policy")
        caller.check_attributes("update", "subnet", attrs, target)
        check_revision(headers, row)
        if attrs.get("segment_id") is not None:
            raise BadRequest(
                "Invalid input for segment_id. Reason: network segments are not supported."
            )
        gateway = attrs.get("gateway_ip", row.gateway_ip)
        if "gateway_ip" in attrs:
            _check_new_gateway(s, row, gateway)
        if "dns_nameservers" in attrs:
            check_nameservers(attrs["dns_nameservers"], row.ip_version, row.id)
        if "host_routes" in attrs:
            check_routes(attrs["host_routes"], row.ip_version, row.id)
        dhcp = attrs.get("enable_dhcp", row.enable_dhcp)
        if dhcp and not row.enable_dhcp:
            check_dhcp_cidr(row.cidr)
        if not dhcp and row.ip_version == 6 and (row.ipv6_ra_mode or row.ipv6_address_mode):
            raise invalid("Cannot disable enable_dhcp with ipv6 attributes set")
        pools = row.allocation_pools
        new_pools = attrs.get("allocation_pools")
        if new_pools is not None:
            # existing allocations outside the new pools stay, as in Neutron
            pools = new_pools
            check_pools(pools, row.cidr)
        if gateway and (gateway != row.gateway_ip or new_pools is not None):
            check_gateway_outside_pools(gateway, pools)
        dhcp_changed = dhcp != row.enable_dhcp
        row.gateway_ip = gateway
        row.allocation_pools = list(pools)
        row.enable_dhcp = dhcp
        for field in (
            "name",
            "description",
            "dns_nameservers",
            "host_routes",
            "service_types",
            "dns_publish_fixed_ip",
        ):
            if field in attrs:
                setattr(row, field, attrs[field])
        touch(row)
        s.flush()
        if dhcp_changed:
            _lock_network(s, network.id)
            sync_dhcp(svc, s, network)
        svc.changed(s)
        s.flush()
        return views(s, [row])[0]


# -- delete ---------------------------------------------------------------------------------


def delete_subnet(
    svc: NetworkService, caller: Caller, subnet_id: str, headers: Mapping[str, str]
) -> None:
    with svc.db.session() as s:
        row = find(s, caller, subnet_id)
        network = s.get(m.Network, row.network_id)
        assert network is not None
        caller.check("delete_subnet", _target(row.project_id, network))
        _network_owner(caller, "delete_subnet", network)
        check_revision(headers, row)
        _lock_network(s, network.id)
        in_use = subnet_in_use(row.id)
        if _router_port_on(s, row.id):
            raise in_use
        if not ipam.is_auto(row):
            user = s.scalar(
                select(m.IPAllocation.port_id)
                .join(m.Port, m.Port.id == m.IPAllocation.port_id)
                .where(m.IPAllocation.subnet_id == row.id, m.Port.device_owner != DHCP_OWNER)
                .limit(1)
            )
            if user:
                raise in_use
        # the addresses that remain are the DHCP port's and automatic (SLAAC) ones
        holders = set(
            s.scalars(select(m.IPAllocation.port_id).where(m.IPAllocation.subnet_id == row.id))
        )
        s.execute(delete(m.IPAllocation).where(m.IPAllocation.subnet_id == row.id))
        for port in s.scalars(select(m.Port).where(m.Port.id.in_(holders))).all():
            touch(port)
        tags.drop_many(s, "subnets", [row.id])
        s.delete(row)
        s.flush()
        sync_dhcp(svc, s, network)
        svc.changed(s)


def subnet_in_use(subnet_id: str) -> Conflict:
    return Conflict(
        f"Unable to complete operation on subnet {subnet_id}: One or more ports have an IP "
        "allocation from this subnet.",
        kind="SubnetInUse",
    )
