"""What a Topology needs on the host, derived without touching it (no root needed)."""

from __future__ import annotations

from nubo.network.dataplane.layout import (
    BRIDGE_NS_SYSCTLS,
    ROUTER_SYSCTLS,
    UNDERLAY_BRIDGE,
    DriverOptions,
    build_layout,
)
from nubo.network.dataplane.links import BRIDGE, DEVICE, VETH, VXLAN, LinkSpec, Route
from nubo.network.dataplane.netns import HOST
from nubo.network.dataplane.spec import (
    DATAPLANE_NS,
    EXTERNAL_NS,
    UNDERLAY_NS,
    FixedIp,
    FloatingIpSpec,
    GatewaySpec,
    NetworkSpec,
    PortForwardingSpec,
    PortSpec,
    RouterInterfaceSpec,
    RouterSpec,
    SubnetSpec,
    Topology,
    dhcp_namespace,
    link_name,
    router_namespace,
)

NET, SUB, EXT, EXT_SUB = "net-1111", "sub-1111", "ext-2222", "extsub-2222"
DHCP = PortSpec("dhcp-port-1", NET, "fa:16:3e:00:00:02", (FixedIp(SUB, "10.0.0.2"),))
VM = PortSpec("vm-port-01", NET, "fa:16:3e:00:00:11", (FixedIp(SUB, "10.0.0.11"),), "compute:x")
GHOST = PortSpec("ghost-port", "no-such-net", "fa:16:3e:00:00:99", ())


def network(**kw: object) -> NetworkSpec:
    fields: dict[str, object] = {
        "id": NET,
        "network_type": "vxlan",
        "segmentation_id": 77,
        "mtu": 1450,
        "external": False,
        "admin_state_up": True,
        "subnets": (SubnetSpec(SUB, "10.0.0.0/24", 4, "10.0.0.1", True),),
        "dhcp_port": DHCP,
    }
    fields.update(kw)
    return NetworkSpec(**fields)  # type: ignore[arg-type]


EXTERNAL = NetworkSpec(
    EXT,
    "flat",
    None,
    1500,
    True,
    True,
    (SubnetSpec(EXT_SUB, "172.24.4.0/24", 4, "172.24.4.1", False),),
)
ROUTER = RouterSpec(
    "router-01",
    True,
    (RouterInterfaceSpec("rif-port-1", NET, "fa:16:3e:00:00:01", ("10.0.0.1/24",), 1450),),
    GatewaySpec(
        "gw-port-01", EXT, "fa:16:3e:00:24:0a", ("172.24.4.10/24",), ("172.24.4.1",), True, 1500
    ),
    routes=(("192.168.0.0/16", "10.0.0.254"),),
    floating_ips=(FloatingIpSpec("f1", "172.24.4.20", "10.0.0.11"),),
    port_forwardings=(PortForwardingSpec("pf", "172.24.4.21", "tcp", 2222, "10.0.0.12", 22),),
)


def test_base_namespaces_and_underlay_always_exist() -> None:
    layout = build_layout(Topology(), DriverOptions(vtep_cidr="198.18.0.5/24"))
    assert layout.namespaces == {DATAPLANE_NS, EXTERNAL_NS, UNDERLAY_NS}
    assert layout.links[UNDERLAY_NS] == {
        "lo": LinkSpec("lo", DEVICE, owner="loopback"),
        UNDERLAY_BRIDGE: LinkSpec(
            UNDERLAY_BRIDGE,
            BRIDGE,
            mtu=1500,
            addresses=frozenset({"198.18.0.5/24"}),
            owner="underlay",
        ),
    }
    assert layout.links[HOST] == {}
    assert layout.sysctls[DATAPLANE_NS] == BRIDGE_NS_SYSCTLS


def test_vxlan_network_with_dhcp_and_a_port() -> None:
    topo = Topology(
        networks=(network(),), ports=(VM, GHOST), vxlan_peers=("198.18.0.1", "198.18.0.7")
    )
    layout = build_layout(topo, DriverOptions())
    dp = layout.links[DATAPLANE_NS]
    bridge, vxlan = link_name("b", NET), link_name("x", NET)
    assert dp[bridge].kind == BRIDGE and dp[bridge].mtu == 1450
    assert (dp[vxlan].kind, dp[vxlan].vni, dp[vxlan].vtep, dp[vxlan].master, dp[vxlan].mtu) == (
        VXLAN,
        77,
        "198.18.0.1",
        bridge,
        1450,
    )
    assert layout.fdb[vxlan] == {"198.18.0.7"}  # our own VTEP is no peer
    port = dp[VM.device]
    assert (port.kind, port.master, port.mtu, port.mac) == (DEVICE, bridge, 1450, None)
    assert GHOST.device not in dp  # unknown network: skipped
    assert layout.ports[DATAPLANE_NS] == [VM]
    ns = dhcp_namespace(NET)
    inside, outside = link_name("d", DHCP.id), link_name("p", DHCP.id)
    assert ns in layout.namespaces
    assert layout.links[ns][inside].addresses == frozenset({"10.0.0.2/24", "169.254.169.254/32"})
    assert layout.links[ns][inside].mac == DHCP.mac_address
    assert dp[outside].peer == (ns, inside) and dp[outside].master == bridge
    assert layout.dhcp[NET].interface == inside


def test_no_dhcp_server_without_a_dhcp_enabled_subnet() -> None:
    off = (SubnetSpec(SUB, "10.0.0.0/24", 4, "10.0.0.1", False),)
    layout = build_layout(Topology(networks=(network(subnets=off),)), DriverOptions())
    assert layout.dhcp == {}
    assert dhcp_namespace(NET) not in layout.namespaces
    layout = build_layout(Topology(networks=(network(dhcp_port=None),)), DriverOptions())
    assert layout.dhcp == {}


def test_flat_external_network_lives_in_the_external_namespace() -> None:
    layout = build_layout(Topology(networks=(EXTERNAL,)), DriverOptions())
    ext = layout.links[EXTERNAL_NS]
    assert set(ext) == {"lo", link_name("b", EXT)}
    assert ext[link_name("b", EXT)].mtu == 1500
    assert layout.links[HOST] == {} and layout.uplink is None


def test_router_interfaces_gateway_floating_ips_and_routes() -> None:
    topo = Topology(networks=(network(), EXTERNAL), routers=(ROUTER,))
    layout = build_layout(topo, DriverOptions())
    ns = router_namespace("router-01")
    assert layout.sysctls[ns] == ROUTER_SYSCTLS
    inside = layout.links[ns]
    r, g = link_name("r", "rif-port-1"), link_name("g", "gw-port-01")
    assert inside[r].addresses == frozenset({"10.0.0.1/24"}) and inside[r].mtu == 1450
    assert inside[g].addresses == frozenset({"172.24.4.10/24", "172.24.4.20/32", "172.24.4.21/32"})
    assert inside[g].mac == "fa:16:3e:00:24:0a"
    assert layout.links[DATAPLANE_NS][link_name("p", "rif-port-1")].peer == (ns, r)
    gw_peer = layout.links[EXTERNAL_NS][link_name("p", "gw-port-01")]
    assert (gw_peer.peer, gw_peer.master) == ((ns, g), link_name("b", EXT))
    assert layout.routes[ns] == {
        Route("default", "172.24.4.1"),
        Route("192.168.0.0/16", "10.0.0.254"),
    }
    assert layout.routers[ns] is ROUTER


def test_router_admin_down_takes_its_interfaces_down() -> None:
    down = RouterSpec("router-02", False, ROUTER.interfaces, None)
    layout = build_layout(Topology(networks=(network(),), routers=(down,)), DriverOptions())
    assert layout.links[router_namespace("router-02")][link_name("r", "rif-port-1")].up is False


def test_host_link_and_uplink_only_when_configured() -> None:
    opts = DriverOptions(external_host_address="172.24.4.1/24", external_uplink="ens9")
    layout = build_layout(Topology(networks=(network(), EXTERNAL)), opts)
    host_end, ns_end = link_name("h", EXT), link_name("p", EXT)
    assert layout.links[HOST][host_end].addresses == frozenset({"172.24.4.1/24"})
    assert layout.links[EXTERNAL_NS][ns_end].peer == (HOST, host_end)
    assert layout.uplink == ("ens9", link_name("b", EXT))
    assert layout.links[EXTERNAL_NS]["ens9"].kind == DEVICE
    # no external network: nothing to join
    layout = build_layout(Topology(networks=(network(),)), opts)
    assert layout.links[HOST] == {} and layout.uplink is None


def test_a_bad_address_skips_only_its_object() -> None:
    bad = RouterSpec(
        "router-bad", True, (RouterInterfaceSpec("x", NET, "m", ("nonsense",), 1450),), None
    )
    layout = build_layout(Topology(networks=(network(),), routers=(bad, ROUTER)), DriverOptions())
    assert router_namespace("router-01") in layout.routers
    assert layout.dhcp[NET].network.id == NET


def test_port_on_a_network_that_is_down_is_down() -> None:
    layout = build_layout(
        Topology(networks=(network(admin_state_up=False),), ports=(VM,)), DriverOptions()
    )
    assert layout.links[DATAPLANE_NS][VM.device].up is False
    assert layout.links[DATAPLANE_NS][link_name("b", NET)].up is False
    assert VETH  # the DHCP pair stays (dnsmasq is harmless behind a down bridge)
