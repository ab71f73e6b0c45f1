"""The kernel objects a Topology needs on this host, computed without touching it.

``build_layout`` says which namespaces, links (per namespace), routes, sysctls,
VXLAN flood entries, DHCP servers and router NAT tables must exist; the Linux
driver compares that with what it reads from the kernel. Pure: unit-tested.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field

from nubo.network.dataplane.links import (
    BRIDGE,
    DEVICE,
    VETH,
    VXLAN,
    LinkSpec,
    Route,
    normalize_cidr,
    normalize_route,
)
from nubo.network.dataplane.netns import HOST
from nubo.network.dataplane.spec import (
    DATAPLANE_NS,
    EXTERNAL_NS,
    METADATA_IP,
    UNDERLAY_NS,
    NetworkSpec,
    PortSpec,
    RouterSpec,
    Topology,
    dhcp_namespace,
    link_name,
)

log = logging.getLogger(__name__)

UNDERLAY_BRIDGE = link_name("b", "underlay")

# bridges only switch: no IPv6 addresses of their own (no RS/MLD into tenant networks)
BRIDGE_NS_SYSCTLS = {
    "net/ipv6/conf/all/disable_ipv6": "1",
    "net/ipv6/conf/default/disable_ipv6": "1",
}
ROUTER_SYSCTLS = {
    "net/ipv4/ip_forward": "1",
    "net/ipv6/conf/all/forwarding": "1",
    # a hairpinned floating IP must not make the router tell guests to bypass it
    "net/ipv4/conf/all/send_redirects": "0",
    "net/ipv4/conf/default/send_redirects": "0",
}


@dataclass(frozen=True)
class DriverOptions:
    """Host settings the Linux driver is built with (from the [network] config)."""

    vtep_cidr: str = "198.18.0.1/24"
    physical_mtu: int = 1500
    external_host_address: str = ""  # CIDR for the host end of a link into EXTERNAL_NS
    external_uplink: str = ""  # host interface moved into the external bridge
    dns_servers: tuple[str, ...] = ()  # upstream resolvers for dnsmasq
    dhcp_lease_seconds: int = 86400

    @property
    def vtep_ip(self) -> str:
        return str(ipaddress.ip_interface(self.vtep_cidr).ip)


@dataclass(frozen=True)
class DhcpServer:
    """One network's dnsmasq: it serves on ``interface`` in ``namespace``."""

    network: NetworkSpec
    port: PortSpec
    namespace: str
    interface: str


@dataclass
class Layout:
    namespaces: set[str] = field(default_factory=set)  # every nubo namespace needed
    links: dict[str, dict[str, LinkSpec]] = field(default_factory=dict)  # by namespace
    routes: dict[str, set[Route]] = field(default_factory=dict)  # router namespaces
    sysctls: dict[str, dict[str, str]] = field(default_factory=dict)
    fdb: dict[str, frozenset[str]] = field(default_factory=dict)  # vxlan link -> peers
    dhcp: dict[str, DhcpServer] = field(default_factory=dict)  # by network id
    routers: dict[str, RouterSpec] = field(default_factory=dict)  # by namespace
    ports: dict[str, list[PortSpec]] = field(default_factory=dict)  # bridge ns -> ports
    uplink: tuple[str, str] | None = None  # (device, bridge) in EXTERNAL_NS

    def add(self, namespace: str, spec: LinkSpec) -> None:
        """Want spec's link in namespace."""
        self.links.setdefault(namespace, {})[spec.name] = spec


def bridge_name(network_id: str) -> str:
    """The network's bridge."""
    return link_name("b", network_id)


def prefixed(ip: str, cidr: str) -> str:
    """ip with the prefix length of the subnet cidr."""
    return normalize_cidr(f"{ip}/{ipaddress.ip_network(cidr, strict=False).prefixlen}")


def dhcp_enabled(network: NetworkSpec) -> bool:
    """True when the network gets a DHCP server: a DHCP port and a DHCP subnet."""
    return network.dhcp_port is not None and any(s.enable_dhcp for s in network.subnets)


def build_layout(topology: Topology, options: DriverOptions) -> Layout:
    """Everything topology needs on this host (see the module docstring)."""
    layout = Layout()
    layout.namespaces |= {DATAPLANE_NS, EXTERNAL_NS, UNDERLAY_NS}
    for ns in (DATAPLANE_NS, EXTERNAL_NS, UNDERLAY_NS):
        layout.links.setdefault(ns, {})
        layout.sysctls[ns] = dict(BRIDGE_NS_SYSCTLS)
    layout.links.setdefault(HOST, {})
    layout.add(
        UNDERLAY_NS,
        LinkSpec(
            UNDERLAY_BRIDGE,
            BRIDGE,
            mtu=options.physical_mtu,
            addresses=frozenset({normalize_cidr(options.vtep_cidr)}),
            owner="underlay",
        ),
    )
    networks = {net.id: net for net in topology.networks}
    peers = frozenset(p for p in topology.vxlan_peers if p != options.vtep_ip)
    for net in topology.networks:
        try:
            _add_network(layout, net, options, peers)
        except ValueError as exc:  # an address that does not parse: skip that network
            log.error("network %s: %s", net.id, exc)
    for port in topology.ports:
        port_net = networks.get(port.network_id)
        if port_net is None:
            log.warning("port %s: network %s is not in the topology", port.id, port.network_id)
            continue
        layout.ports.setdefault(port_net.namespace, []).append(port)
        layout.add(
            port_net.namespace,
            LinkSpec(
                port.device,
                DEVICE,
                mtu=port_net.mtu,
                master=bridge_name(port_net.id),
                up=port.admin_state_up and port_net.admin_state_up,
                owner=f"port {port.id}",
            ),
        )
    for router in topology.routers:
        try:
            _add_router(layout, router, networks)
        except ValueError as exc:
            log.error("router %s: %s", router.id, exc)
    try:
        _add_external_host(layout, topology, options)
    except ValueError as exc:
        log.error("external host link: %s", exc)
    for ns in layout.namespaces:
        layout.add(ns, LinkSpec("lo", DEVICE, owner="loopback"))  # kept up
    return layout


def _add_network(
    layout: Layout, net: NetworkSpec, options: DriverOptions, peers: frozenset[str]
) -> None:
    bridge = bridge_name(net.id)
    owner = f"network {net.id}"
    layout.add(
        net.namespace, LinkSpec(bridge, BRIDGE, mtu=net.mtu, up=net.admin_state_up, owner=owner)
    )
    if net.network_type == "vxlan" and net.segmentation_id is not None:
        vxlan = link_name("x", net.id)
        layout.add(
            net.namespace,
            LinkSpec(
                vxlan,
                VXLAN,
                mtu=net.mtu,
                master=bridge,
                vni=net.segmentation_id,
                vtep=options.vtep_ip,
                owner=owner,
            ),
        )
        layout.fdb[vxlan] = peers
    port = net.dhcp_port
    if port is None or not dhcp_enabled(net):
        return
    ns = dhcp_namespace(net.id)
    inside, outside = link_name("d", port.id), link_name("p", port.id)
    subnets = {s.id: s for s in net.subnets}
    addresses = {f"{METADATA_IP}/32"}
    for fixed in port.fixed_ips:
        subnet = subnets.get(fixed.subnet_id)
        if subnet is not None:
            addresses.add(prefixed(fixed.ip_address, subnet.cidr))
    layout.namespaces.add(ns)
    layout.links.setdefault(ns, {})
    layout.add(
        ns,
        LinkSpec(
            inside,
            VETH,
            mtu=net.mtu,
            mac=port.mac_address,
            addresses=frozenset(addresses),
            owner=owner,
        ),
    )
    layout.add(
        net.namespace,
        LinkSpec(
            outside,
            VETH,
            mtu=net.mtu,
            master=bridge,
            up=net.admin_state_up,
            peer=(ns, inside),
            owner=owner,
        ),
    )
    layout.dhcp[net.id] = DhcpServer(net, port, ns, inside)


def _add_router(layout: Layout, router: RouterSpec, networks: dict[str, NetworkSpec]) -> None:
    ns = router.namespace
    owner = f"router {router.id}"
    layout.namespaces.add(ns)
    layout.links.setdefault(ns, {})
    layout.sysctls[ns] = dict(ROUTER_SYSCTLS)
    layout.routers[ns] = router
    routes: set[Route] = set()
    for iface in router.interfaces:
        net = networks.get(iface.network_id)
        if net is None:
            log.warning("router %s: interface network %s unknown", router.id, iface.network_id)
            continue
        inside, outside = link_name("r", iface.port_id), link_name("p", iface.port_id)
        layout.add(
            ns,
            LinkSpec(
                inside,
                VETH,
                mtu=iface.mtu,
                mac=iface.mac_address,
                up=router.admin_state_up,
                addresses=frozenset(normalize_cidr(a) for a in iface.addresses),
                owner=owner,
            ),
        )
        layout.add(
            net.namespace,
            LinkSpec(
                outside,
                VETH,
                mtu=iface.mtu,
                master=bridge_name(net.id),
                peer=(ns, inside),
                owner=owner,
            ),
        )
    gw = router.gateway
    gw_net = networks.get(gw.network_id) if gw is not None else None
    if gw is not None and gw_net is None:
        log.warning("router %s: gateway network %s unknown", router.id, gw.network_id)
    if gw is not None and gw_net is not None:
        inside, outside = link_name("g", gw.port_id), link_name("p", gw.port_id)
        addresses = {normalize_cidr(a) for a in gw.addresses}
        floating = {f.floating_ip for f in router.floating_ips}
        floating |= {pf.floating_ip for pf in router.port_forwardings}
        addresses |= {normalize_cidr(f) for f in floating if f}
        layout.add(
            ns,
            LinkSpec(
                inside,
                VETH,
                mtu=gw.mtu,
                mac=gw.mac_address,
                up=router.admin_state_up,
                addresses=frozenset(addresses),
                owner=owner,
            ),
        )
        layout.add(
            gw_net.namespace,
            LinkSpec(
                outside,
                VETH,
                mtu=gw.mtu,
                master=bridge_name(gw_net.id),
                peer=(ns, inside),
                owner=owner,
            ),
        )
        routes |= {normalize_route("default", via) for via in gw.gateway_ips}
    for destination, nexthop in router.routes:
        try:
            routes.add(normalize_route(destination, nexthop))
        except ValueError:
            log.warning("router %s: route %s via %s is not valid", router.id, destination, nexthop)
    layout.routes[ns] = routes


def _add_external_host(layout: Layout, topology: Topology, options: DriverOptions) -> None:
    """The operator's optional joins of the host to the external network."""
    external = [n for n in topology.networks if n.external]
    if not external:
        return
    if options.external_host_address:
        host_ip = ipaddress.ip_interface(options.external_host_address).ip
        net = next(
            (
                n
                for n in external
                if any(host_ip in ipaddress.ip_network(s.cidr, strict=False) for s in n.subnets)
            ),
            external[0],
        )
        host_end, ns_end = link_name("h", net.id), link_name("p", net.id)
        layout.add(
            HOST,
            LinkSpec(
                host_end,
                VETH,
                mtu=net.mtu,
                addresses=frozenset({normalize_cidr(options.external_host_address)}),
                owner="external host link",
            ),
        )
        layout.add(
            EXTERNAL_NS,
            LinkSpec(
                ns_end,
                VETH,
                mtu=net.mtu,
                master=bridge_name(net.id),
                peer=(HOST, host_end),
                owner="external host link",
            ),
        )
    if options.external_uplink:
        flat = next((n for n in external if n.network_type == "flat"), external[0])
        bridge = bridge_name(flat.id)
        layout.uplink = (options.external_uplink, bridge)
        layout.add(
            EXTERNAL_NS,
            LinkSpec(options.external_uplink, DEVICE, master=bridge, owner="external uplink"),
        )
