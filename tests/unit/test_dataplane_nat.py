"""A router's NAT table as an nft script (no root needed)."""

from __future__ import annotations

from nubo.network.dataplane.routers import delete_nat_script, render_nat
from nubo.network.dataplane.spec import (
    FloatingIpSpec,
    GatewaySpec,
    PortForwardingSpec,
    RouterInterfaceSpec,
    RouterSpec,
)

IFACES = (
    RouterInterfaceSpec("a", "n1", "m", ("10.0.0.1/24", "2001:db8::1/64"), 1450),
    RouterInterfaceSpec("b", "n2", "m", ("10.1.0.1/24",), 1450),
)


def gateway(snat: bool = True) -> GatewaySpec:
    return GatewaySpec(
        "g", "ext", "m", ("2001:db8:f::5/64", "172.24.4.5/24"), ("172.24.4.1",), snat, 1500
    )


def rules(script: str) -> list[str]:
    return [
        line.strip()
        for line in script.splitlines()
        if line.startswith("\t\t") and "hook" not in line
    ]


def test_no_gateway_means_no_table() -> None:
    assert render_nat(RouterSpec("r", True, IFACES, None), "gw") == delete_nat_script()
    assert delete_nat_script() == "table ip nubo_nat\ndelete table ip nubo_nat\n"
    no_snat = RouterSpec("r", True, IFACES, gateway(snat=False))
    assert render_nat(no_snat, "gw") == delete_nat_script()


def test_snat_to_the_first_ipv4_gateway_address() -> None:
    script = render_nat(RouterSpec("r", True, IFACES, gateway()), "nubogx")
    assert script.startswith(delete_nat_script())  # one transaction replaces the table
    assert rules(script) == ['oifname "nubogx" snat to 172.24.4.5']


def test_floating_ips_port_forwardings_and_hairpin() -> None:
    router = RouterSpec(
        "r",
        True,
        IFACES,
        gateway(),
        floating_ips=(
            FloatingIpSpec("f1", "172.24.4.20", "10.0.0.11"),
            FloatingIpSpec("f2", "172.24.4.21", ""),
        ),
        port_forwardings=(
            PortForwardingSpec("p1", "172.24.4.22", "tcp", 2222, "10.1.0.7", 22),
            PortForwardingSpec("p2", "172.24.4.22", "UDP", 5000, "10.1.0.7", 5000, 5010, 5010),
            PortForwardingSpec("p3", "172.24.4.22", "tcp", 8080, "10.1.0.7", 80, 8081, 81),
            PortForwardingSpec("p4", "172.24.4.22", "sctp", 1, "10.1.0.7", 1),
        ),
    )
    assert rules(render_nat(router, "gw")) == [
        "ip daddr 172.24.4.22 tcp dport 2222 dnat to 10.1.0.7:22",
        "ip daddr 172.24.4.22 udp dport 5000-5010 dnat to 10.1.0.7",
        "ip daddr 172.24.4.22 tcp dport 8080-8081 "
        "dnat to 10.1.0.7:tcp dport map { 8080 : 80, 8081 : 81 }",
        "ip daddr 172.24.4.20 dnat to 10.0.0.11",
        'ct status dnat ip saddr { 10.0.0.0/24, 10.1.0.0/24 } oifname != "gw" masquerade',
        'oifname "gw" ip saddr 10.0.0.11 snat to 172.24.4.20',
        'oifname "gw" snat to 172.24.4.5',
    ]


def test_admin_down_router_translates_nothing() -> None:
    router = RouterSpec(
        "r",
        False,
        IFACES,
        gateway(),
        floating_ips=(FloatingIpSpec("f", "172.24.4.20", "10.0.0.11"),),
    )
    assert render_nat(router, "gw") == delete_nat_script()
