"""A router's NAT, as one nftables table in the router's namespace.

``render_nat`` turns a RouterSpec into an ``nft -f`` script that replaces
``table ip nubo_nat`` in one transaction (declare, delete, define), so a change never
leaves the router half-configured. Pure: unit-tested without root.
"""

from __future__ import annotations

import ipaddress
import logging

from nubo.network.dataplane.spec import PortForwardingSpec, RouterSpec

log = logging.getLogger(__name__)

NAT_TABLE = "nubo_nat"
# a map enumerating each port of a forwarded range is used up to this size
MAX_PORT_MAP = 1024


def delete_nat_script() -> str:
    """Remove the NAT table (declaring it first makes the delete safe when absent)."""
    return f"table ip {NAT_TABLE}\ndelete table ip {NAT_TABLE}\n"


def _ipv4(value: str) -> str | None:
    try:
        addr = ipaddress.ip_address(value.split("/")[0])
    except ValueError:
        return None
    return str(addr) if addr.version == 4 else None


def gateway_ipv4(router: RouterSpec) -> str | None:
    """The gateway's first IPv4 address (the SNAT source)."""
    if router.gateway is None:
        return None
    for cidr in router.gateway.addresses:
        addr = _ipv4(cidr)
        if addr is not None:
            return addr
    return None


def internal_networks(router: RouterSpec) -> list[str]:
    """The IPv4 subnets behind the router's interfaces."""
    nets = set()
    for iface in router.interfaces:
        for cidr in iface.addresses:
            try:
                net = ipaddress.ip_interface(cidr).network
            except ValueError:
                continue
            if net.version == 4:
                nets.add(str(net))
    return sorted(nets)


def _forward_rule(pf: PortForwardingSpec) -> str | None:
    """The DNAT rule of one port forwarding (None when it is not valid)."""
    fip, internal = _ipv4(pf.floating_ip), _ipv4(pf.internal_ip)
    proto = pf.protocol.lower()
    if fip is None or internal is None or proto not in ("tcp", "udp"):
        log.warning("port forwarding %s is not valid, skipped", pf.id)
        return None
    ext_lo, int_lo = pf.external_port, pf.internal_port
    ext_hi = pf.external_port_end or ext_lo
    int_hi = pf.internal_port_end or int_lo
    match = f"ip daddr {fip} {proto} dport {ext_lo}" + (f"-{ext_hi}" if ext_hi != ext_lo else "")
    if ext_hi == ext_lo:
        return f"{match} dnat to {internal}:{int_lo}"
    if (ext_lo, ext_hi) == (int_lo, int_hi):
        return f"{match} dnat to {internal}"  # ports unchanged
    if ext_hi - ext_lo == int_hi - int_lo and ext_hi - ext_lo < MAX_PORT_MAP:
        pairs = ", ".join(f"{ext_lo + i} : {int_lo + i}" for i in range(ext_hi - ext_lo + 1))
        return f"{match} dnat to {internal}:{proto} dport map {{ {pairs} }}"
    return f"{match} dnat to {internal}:{int_lo}" + (f"-{int_hi}" if int_hi != int_lo else "")


def render_nat(router: RouterSpec, gateway_device: str) -> str:
    """The script that makes the router's NAT table exactly what router needs.

    Floating IPs: DNAT floating->fixed before routing, SNAT fixed->floating when
    leaving through the gateway. Everything else leaving through the gateway is
    SNATed to the gateway address when enable_snat. Connections to a floating IP
    from behind the same router are masqueraded to the router's interface address
    (hairpin), so the reply comes back through the router to be un-NATed.
    """
    gw = router.gateway
    if gw is None or not router.admin_state_up:
        return delete_nat_script()
    prerouting: list[str] = []
    postrouting: list[str] = []
    for pf in sorted(router.port_forwardings, key=lambda p: p.id):
        rule = _forward_rule(pf)
        if rule is not None:
            prerouting.append(rule)
    fips = []
    for fip in sorted(router.floating_ips, key=lambda f: f.floating_ip):
        floating, fixed = _ipv4(fip.floating_ip), _ipv4(fip.fixed_ip)
        if floating is None or fixed is None:
            continue  # not associated (or not IPv4): nothing to translate
        fips.append((floating, fixed))
        prerouting.append(f"ip daddr {floating} dnat to {fixed}")
    inside = internal_networks(router)
    if inside and (fips or router.port_forwardings):
        postrouting.append(
            f"ct status dnat ip saddr {{ {', '.join(inside)} }} "
            f'oifname != "{gateway_device}" masquerade'
        )
    for floating, fixed in fips:
        postrouting.append(f'oifname "{gateway_device}" ip saddr {fixed} snat to {floating}')
    source = gateway_ipv4(router)
    if gw.enable_snat and source is not None:
        postrouting.append(f'oifname "{gateway_device}" snat to {source}')
    if not prerouting and not postrouting:
        return delete_nat_script()
    lines = [
        delete_nat_script().rstrip("\n"),
        f"table ip {NAT_TABLE} {{",
        "\tchain prerouting {",
        "\t\ttype nat hook prerouting priority dstnat; policy accept;",
        *(f"\t\t{rule}" for rule in prerouting),
        "\t}",
        "\tchain postrouting {",
        "\t\ttype nat hook postrouting priority srcnat; policy accept;",
        *(f"\t\t{rule}" for rule in postrouting),
        "\t}",
        "}",
    ]
    return "\n".join(lines) + "\n"
