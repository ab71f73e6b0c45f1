"""What the network agent must make true on one host: a plain, immutable description
of networks, ports, security groups and routers, built from the database by the
reconciler and handed to a driver. Drivers never read the database.

Kernel object names are derived from ids here, so every part of nubo (the agent,
compute's plugging, the tests) agrees on them and startup can find its own objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PREFIX = "nubo"
# namespaces nubo owns: one holding every tenant bridge, one per external physical
# network, one per router, one per network's DHCP server
DATAPLANE_NS = "nubo-dp"
EXTERNAL_NS = "nubo-ext"
UNDERLAY_NS = "nubo-underlay"
ROUTER_NS_PREFIX = "nubo-router-"
DHCP_NS_PREFIX = "nubo-dhcp-"
METADATA_IP = "169.254.169.254"


def short_id(resource_id: str, length: int = 10) -> str:
    return resource_id.replace("-", "")[:length]


def link_name(kind: str, resource_id: str) -> str:
    """A kernel link name: 'nubo' + one kind letter + 10 id characters (15, the limit).

    Kinds: b bridge (network), x vxlan (network), t port device on the bridge side
    (tap or veth end), i instance side of a veth, g router gateway (router side),
    r router interface (router side), d DHCP (DHCP side), p peer end on a bridge of a
    router or DHCP veth, h the host's link into the external namespace.
    """
    assert len(kind) == 1
    return f"{PREFIX}{kind}{short_id(resource_id)}"


def router_namespace(router_id: str) -> str:
    return ROUTER_NS_PREFIX + router_id


def dhcp_namespace(network_id: str) -> str:
    return DHCP_NS_PREFIX + network_id


@dataclass(frozen=True)
class FixedIp:
    subnet_id: str
    ip_address: str


@dataclass(frozen=True)
class SubnetSpec:
    id: str
    cidr: str
    ip_version: int
    gateway_ip: str | None
    enable_dhcp: bool
    dns_nameservers: tuple[str, ...] = ()
    host_routes: tuple[tuple[str, str], ...] = ()  # (destination CIDR, nexthop)
    allocation_pools: tuple[tuple[str, str], ...] = ()  # (start, end)
    ipv6_ra_mode: str | None = None
    ipv6_address_mode: str | None = None


@dataclass(frozen=True)
class NetworkSpec:
    id: str
    network_type: str  # "flat" | "vxlan"
    segmentation_id: int | None
    mtu: int
    external: bool  # router:external: lives in EXTERNAL_NS
    admin_state_up: bool
    subnets: tuple[SubnetSpec, ...]
    # the network:dhcp port (None: no DHCP server on this network)
    dhcp_port: PortSpec | None = None
    # every port of the network with fixed IPs, wherever bound: DHCP and DNS entries
    hosts: tuple[PortSpec, ...] = ()
    dns_domain: str = "openstacklocal."

    @property
    def namespace(self) -> str:
        return EXTERNAL_NS if self.external else DATAPLANE_NS


@dataclass(frozen=True)
class AddressPair:
    ip_address: str  # an address or a CIDR
    mac_address: str


@dataclass(frozen=True)
class DhcpOption:
    opt_name: str  # a number or a dnsmasq option name
    opt_value: str
    ip_version: int = 4


@dataclass(frozen=True)
class PortSpec:
    """A port on a network. Instance ports (device_owner compute:*) are filtered by
    their security groups; router, DHCP and floating IP ports are not."""

    id: str
    network_id: str
    mac_address: str
    fixed_ips: tuple[FixedIp, ...]
    device_owner: str = ""
    admin_state_up: bool = True
    port_security_enabled: bool = True
    security_group_ids: tuple[str, ...] = ()
    allowed_address_pairs: tuple[AddressPair, ...] = ()
    hostname: str = ""  # dns_name or host-<ip> as dnsmasq serves it
    extra_dhcp_opts: tuple[DhcpOption, ...] = ()

    @property
    def device(self) -> str:
        """The bridge-side device: a tap (QEMU) or the host end of a veth (containers)."""
        return link_name("t", self.id)

    @property
    def filtered(self) -> bool:
        return self.device_owner.startswith("compute:") and self.port_security_enabled


@dataclass(frozen=True)
class RuleSpec:
    id: str
    direction: str  # "ingress" | "egress" (as seen by the instance)
    ethertype: str  # "IPv4" | "IPv6"
    protocol: str | None  # None any; a name (tcp, udp, icmp, ipv6-icmp ...) or a number
    port_range_min: int | None = None  # for icmp: the type
    port_range_max: int | None = None  # for icmp: the code
    remote_ip_prefix: str | None = None
    remote_group_id: str | None = None
    remote_address_group_id: str | None = None


@dataclass(frozen=True)
class SecurityGroupSpec:
    id: str
    stateful: bool
    rules: tuple[RuleSpec, ...]
    # the addresses of the group's member ports (fixed IPs and allowed address pairs),
    # for remote_group_id rules of any group that names this one
    member_ips: tuple[str, ...] = ()


@dataclass(frozen=True)
class RouterInterfaceSpec:
    port_id: str
    network_id: str
    mac_address: str
    addresses: tuple[str, ...]  # "ip/prefixlen"
    mtu: int


@dataclass(frozen=True)
class FloatingIpSpec:
    id: str
    floating_ip: str
    fixed_ip: str


@dataclass(frozen=True)
class PortForwardingSpec:
    id: str
    floating_ip: str
    protocol: str  # tcp | udp
    external_port: int
    internal_ip: str
    internal_port: int
    external_port_end: int | None = None  # for ranges
    internal_port_end: int | None = None


@dataclass(frozen=True)
class GatewaySpec:
    port_id: str
    network_id: str
    mac_address: str
    addresses: tuple[str, ...]  # "ip/prefixlen" on the external subnets
    gateway_ips: tuple[str, ...]  # default routes (one per IP version)
    enable_snat: bool
    mtu: int


@dataclass(frozen=True)
class RouterSpec:
    id: str
    admin_state_up: bool
    interfaces: tuple[RouterInterfaceSpec, ...]
    gateway: GatewaySpec | None
    routes: tuple[tuple[str, str], ...] = ()  # (destination CIDR, nexthop)
    floating_ips: tuple[FloatingIpSpec, ...] = ()
    port_forwardings: tuple[PortForwardingSpec, ...] = ()

    @property
    def namespace(self) -> str:
        return router_namespace(self.id)


@dataclass(frozen=True)
class Topology:
    """Everything that should exist on this host. ``apply`` makes it so: it creates what
    is missing, fixes what differs, and removes nubo objects that are not listed."""

    networks: tuple[NetworkSpec, ...] = ()
    ports: tuple[PortSpec, ...] = ()  # ports bound to this host (instances)
    security_groups: tuple[SecurityGroupSpec, ...] = ()
    routers: tuple[RouterSpec, ...] = ()
    vxlan_peers: tuple[str, ...] = ()  # remote VTEP addresses (other hosts)
    extra: dict[str, str] = field(default_factory=dict, compare=False)
