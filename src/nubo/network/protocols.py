"""IP protocols as security-group rules name them, shared by the API (validation) and
the dataplane (nftables rules)."""

from __future__ import annotations

# Neutron's protocol names (neutron_lib.constants.IP_PROTOCOL_MAP) and the aliases it
# accepts for ICMPv6.
PROTOCOLS: dict[str, int] = {
    "ah": 51,
    "dccp": 33,
    "egp": 8,
    "esp": 50,
    "gre": 47,
    "hopopt": 0,
    "icmp": 1,
    "igmp": 2,
    "ip": 0,  # Neutron: any IP protocol
    "ipip": 4,
    "ipv6-encap": 41,
    "ipv6-frag": 44,
    "ipv6-icmp": 58,
    "icmpv6": 58,
    "ipv6-nonxt": 59,
    "ipv6-opts": 60,
    "ipv6-route": 43,
    "ospf": 89,
    "pgm": 113,
    "rsvp": 46,
    "sctp": 132,
    "tcp": 6,
    "udp": 17,
    "udplite": 136,
    "vrrp": 112,
}
PORT_PROTOCOLS = frozenset({6, 17, 33, 132, 136})  # the ones with ports
ICMP, ICMPV6 = 1, 58
ICMP_PROTOCOLS = frozenset({ICMP, ICMPV6})
