"""Pure rendering of the security-group firewall into an nftables model, and the
difference between two models as ``nft -f`` commands. Nothing here runs a program.

Layout (one namespace; two tables named ``nubo_fw``):

* ``table bridge nubo_fw`` sees frames with the bridge *ports* as interfaces.
  ``prerouting`` (priority -300, before br_netfilter's hook at 0) clears the packet
  mark and jumps, by ingress port, to the port's anti-spoofing chain ``s<port>``,
  which also writes the low half of the mark (the source port's index).
  ``forward`` (priority -300) goes, by egress port, to ``d<port>``, which ORs in the
  high half (the destination port's index). The bridge family has no conntrack here.
* ``table inet nubo_fw`` sees the same IPv4/IPv6 packets through br_netfilter (the
  interfaces are the *bridge* there, which is why the ports travel in the mark).
  ``raw`` (prerouting, priority raw) puts each bridge's traffic into its own conntrack
  zone, so overlapping tenant CIDRs in the one namespace do not share entries.
  ``forward`` accepts established traffic, dispatches by the source index to
  ``p<port>-o`` (the instance's egress), whose accepting rules continue in
  ``to-port``, which dispatches by the destination index to ``p<port>-i``. Port chains
  jump to the shared per-group chains ``sg<group>-o`` / ``sg<group>-i``, so a rule
  change rewrites one group chain whatever the number of ports using it.

Mark layout: bits 0-14 source port index, bit 15 source port is stateless, bits
16-30 destination port index, bit 31 destination port is stateless. Index 0 means
"not filtered" (router, DHCP and unsecured ports), whose traffic is accepted. The
mark is the only per-packet state that crosses from the bridge hooks into the inet
hooks (verified on 6.18: it survives, and ``iifname`` in the inet hooks is the bridge).

Stateless groups (``stateful=False``): no ``notrack``; conntrack still sees the
packets, but the ``ct state established`` shortcut is skipped whenever either end is
a stateless port (bits 15/31), so that port's rules are evaluated for every packet
in both directions, as Neutron's stateless groups require (replies need their own
rules). A stateful port talking to a stateless one keeps its own shortcut inside its
port chain. ``notrack`` was not used because it would also take the shortcut away
from the stateful end of such a conversation.

Anti-spoofing covers every port with port security except "network:*" ports (see
``is_secured``); security groups cover ``PortSpec.filtered`` ports only.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from nubo.network.dataplane.spec import PortSpec, RuleSpec, SecurityGroupSpec, link_name
from nubo.network.protocols import ICMP, ICMPV6, PORT_PROTOCOLS, PROTOCOLS

log = logging.getLogger(__name__)

TABLE = "nubo_fw"
FAMILIES = ("bridge", "inet")
MAX_PORT_INDEX = 0x7FFF
MAX_ZONE = 0xFFFF
SRC_INDEX_MASK = 0x00007FFF
DST_INDEX_MASK = 0x7FFF0000
SRC_STATELESS = 0x00008000
DST_STATELESS = 0x80000000

# bridge-family objects
SPOOF_MAP = "spoof-check"  # iifname -> jump s<port>
DEST_MAP = "mark-dest"  # oifname -> goto d<port>
# inet-family objects
ZONE_MAP = "zone-of"  # bridge name -> conntrack zone
EGRESS_MAP = "egress-of"  # source index (mark) -> jump p<port>-o
INGRESS_MAP = "ingress-of"  # destination index (mark) -> jump p<port>-i
TO_PORT = "to-port"


# ICMPv6 that IPv6 cannot work without (neighbour discovery, MLD): always allowed,
# in both directions, as Neutron does. Router advertisements from instances are
# dropped earlier, by anti-spoofing.
ND_TYPES = (
    "mld-listener-query, mld-listener-report, mld-listener-done, nd-router-solicit, "
    "nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, mld2-listener-report"
)

Key = tuple[str, str]  # (family, name)


class ProtocolError(ValueError):
    """A rule's protocol is neither a known name nor a number 0-255."""


@dataclass
class Ruleset:
    """A model of the two tables: what ``sync`` last applied, or wants applied."""

    base_chains: dict[Key, str] = field(default_factory=dict)  # chain -> hook declaration
    chains: dict[Key, tuple[str, ...]] = field(default_factory=dict)  # chain -> rules
    sets: dict[Key, tuple[str, str]] = field(default_factory=dict)  # -> (set|map, decl)
    elements: dict[Key, dict[str, str]] = field(default_factory=dict)  # key -> map value


@dataclass
class Allocations:
    """Numbers that must stay put while the model lives: port indexes (mark values)
    and conntrack zones (changing a zone would orphan its connections)."""

    port_index: dict[str, int] = field(default_factory=dict)  # port id -> 1..0x7fff
    zones: dict[str, int] = field(default_factory=dict)  # bridge name -> 1..0xffff
    next_zone: int = 1

    def copy(self) -> Allocations:
        return Allocations(dict(self.port_index), dict(self.zones), self.next_zone)


def ident(resource_id: str) -> str:
    """The part of an object name that stands for a port or group id."""
    return re.sub(r"[^0-9A-Za-z]", "", resource_id).lower()


def spoof_chain(port_id: str) -> str:
    return f"s{ident(port_id)}"


def dest_chain(port_id: str) -> str:
    return f"d{ident(port_id)}"


def port_chain(port_id: str, direction: str) -> str:
    """``direction`` is "o" (from the instance) or "i" (to it)."""
    return f"p{ident(port_id)}-{direction}"


def group_chain(group_id: str, direction: str) -> str:
    return f"sg{ident(group_id)}-{direction}"


def group_set(group_id: str, version: int) -> str:
    return f"sg{ident(group_id)}-v{version}"


def is_secured(port: PortSpec) -> bool:
    """Ports that get anti-spoofing. Router, DHCP and floating IP ports ("network:*")
    never do: routers forward other hosts' addresses, and the DHCP port also answers
    as the metadata address."""
    return port.port_security_enabled and not port.device_owner.startswith("network:")


def allocate(previous: Allocations, ports: Sequence[PortSpec]) -> Allocations:
    """Indexes for the filtered ports and zones for their bridges, keeping every
    number already given to something that is still there."""
    result = previous.copy()
    wanted_ports = {p.id for p in ports if p.filtered}
    wanted_bridges = {link_name("b", p.network_id) for p in ports}
    for gone in set(result.port_index) - wanted_ports:
        del result.port_index[gone]
    for gone in set(result.zones) - wanted_bridges:
        del result.zones[gone]
    used = set(result.port_index.values())
    free = (i for i in range(1, MAX_PORT_INDEX + 1) if i not in used)
    for port_id in sorted(wanted_ports - set(result.port_index)):
        index = next(free, None)
        if index is None:
            raise ValueError(f"more than {MAX_PORT_INDEX} filtered ports in one namespace")
        result.port_index[port_id] = index
    # zones count upwards and wrap, so a freed zone is not reused (with its leftover
    # conntrack entries) while unused numbers remain
    used_zones = set(result.zones.values())
    for bridge in sorted(wanted_bridges - set(result.zones)):
        zone = result.next_zone
        for _ in range(MAX_ZONE):
            if zone not in used_zones:
                break
            zone = zone % MAX_ZONE + 1
        else:
            raise ValueError(f"more than {MAX_ZONE} networks in one namespace")
        result.zones[bridge] = zone
        used_zones.add(zone)
        result.next_zone = zone % MAX_ZONE + 1
    return result


def protocol_number(protocol: str | None, ethertype: str) -> int | None:
    """A rule's protocol as a number; None for any. ICMP on an IPv6 rule means ICMPv6,
    as in Neutron's drivers."""
    if protocol is None or protocol.lower() in ("", "any"):
        return None
    name = protocol.lower()
    if name.isdigit():
        number = int(name)
        if number > 255:
            raise ProtocolError(f"protocol {protocol!r} out of range")
    elif name in PROTOCOLS:
        number = PROTOCOLS[name]
    else:
        raise ProtocolError(f"unknown protocol {protocol!r}")
    if number == 0:  # iptables' "-p 0": every protocol
        return None
    if number == ICMP and ethertype == "IPv6":
        return ICMPV6
    return number


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text.strip(), strict=False)


def _element(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    """A set element: a bare address for host routes, else the CIDR."""
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return str(net)


def collapse(addresses: Iterable[str], version: int) -> list[str]:
    """The addresses and CIDRs of one IP version, merged so that interval-set elements
    never overlap (nft refuses overlaps); unparsable entries are ignored."""
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for text in addresses:
        try:
            net = _network(text)
        except ValueError:
            continue
        if net.version == version:
            nets.append(net)
    if version == 4:
        v4 = [n for n in nets if isinstance(n, ipaddress.IPv4Network)]
        return [_element(n) for n in ipaddress.collapse_addresses(v4)]
    v6 = [n for n in nets if isinstance(n, ipaddress.IPv6Network)]
    return [_element(n) for n in ipaddress.collapse_addresses(v6)]


def link_local(mac: str) -> str:
    """The EUI-64 IPv6 link-local address of a MAC."""
    octets = [int(part, 16) for part in mac.split(":")]
    octets[0] ^= 0x02
    eui = [*octets[:3], 0xFF, 0xFE, *octets[3:]]
    groups = [f"{eui[i] << 8 | eui[i + 1]:x}" for i in range(0, 8, 2)]
    return str(ipaddress.IPv6Address("fe80::" + ":".join(groups)))


def render_rule(rule: RuleSpec, direction: str) -> str | None:
    """The match of one security-group rule (no verdict), or None if it can never
    match (an address of the other IP version). A remote address group is looked up
    like a remote security group: the reconciler passes it as a SecurityGroupSpec
    whose member_ips are its addresses. ValueError for a malformed rule."""
    version = 6 if rule.ethertype == "IPv6" else 4
    ip = "ip6" if version == 6 else "ip"
    side = "saddr" if direction == "ingress" else "daddr"
    parts = [f"meta nfproto ipv{version}"]
    if rule.remote_ip_prefix:
        net = _network(rule.remote_ip_prefix)
        if net.version != version:
            return None
        if net.prefixlen:
            parts.append(f"{ip} {side} {_element(net)}")
    remote = rule.remote_group_id or rule.remote_address_group_id
    if remote:
        parts.append(f"{ip} {side} @{group_set(remote, version)}")
    proto = protocol_number(rule.protocol, rule.ethertype)
    low, high = rule.port_range_min, rule.port_range_max
    if proto in (ICMP, ICMPV6):
        kind = "icmp" if proto == ICMP else "icmpv6"
        if low is None:
            parts.append(f"meta l4proto {proto}")
        else:
            parts.append(f"{kind} type {low}")
            if high is not None:
                parts.append(f"{kind} code {high}")
    elif proto is not None:
        parts.append(f"meta l4proto {proto}")
        if proto in PORT_PROTOCOLS and (low is not None or high is not None):
            first = low if low is not None else 1
            last = high if high is not None else 65535
            if (first, last) != (1, 65535):
                ports = str(first) if first == last else f"{first}-{last}"
                parts.append(f"th dport {ports}")
    return " ".join(parts)


def render_group(group: SecurityGroupSpec) -> tuple[tuple[str, ...], tuple[str, ...], set[str]]:
    """The rules of ``sg<group>-i`` and ``sg<group>-o`` and the groups they name as
    remotes. Sorted, so a reordering of the same rules is no change."""
    ingress: set[str] = set()
    egress: set[str] = set()
    remotes: set[str] = set()
    for rule in group.rules:
        try:
            match = render_rule(rule, rule.direction)
        except ValueError as exc:  # the API validates; a bad rule must not stop the rest
            log.warning("security group %s: rule %s ignored: %s", group.id, rule.id, exc)
            continue
        if match is None:
            continue
        remote = rule.remote_group_id or rule.remote_address_group_id
        if remote:
            remotes.add(remote)
        if rule.direction == "ingress":
            ingress.add(f"{match} accept")
        else:
            egress.add(f"{match} goto {TO_PORT}")
    return tuple(sorted(ingress)), tuple(sorted(egress)), remotes


def _mac_set(macs: Iterable[str]) -> str:
    return "{ " + ", ".join(sorted(set(macs))) + " }"


# ports rarely change between syncs and parsing their addresses is the costly part of
# rendering a thousand of them, so each (port, mark) is rendered once
@functools.lru_cache(maxsize=1 << 15)
def render_spoof_chain(port: PortSpec, mark: int) -> tuple[str, ...]:
    """Anti-spoofing of the frames a port sends: its MACs, and IP/ARP sources in its
    fixed IPs or allowed address pairs (as MAC . address pairs); DHCP discovery,
    duplicate address detection and IPv6 link-local allowed; DHCP server replies and
    router advertisements from instances dropped; every other ethertype dropped."""
    mac = port.mac_address.lower()
    pairs4: set[str] = set()
    pairs6: set[str] = {f"{mac} . {link_local(mac)}"}
    macs = {mac}
    for fixed in port.fixed_ips:
        for element in collapse([fixed.ip_address], 4):
            pairs4.add(f"{mac} . {element}")
        for element in collapse([fixed.ip_address], 6):
            pairs6.add(f"{mac} . {element}")
    for pair in port.allowed_address_pairs:
        pair_mac = (pair.mac_address or port.mac_address).lower()
        macs.add(pair_mac)
        pairs6.add(f"{pair_mac} . {link_local(pair_mac)}")
        for element in collapse([pair.ip_address], 4):
            pairs4.add(f"{pair_mac} . {element}")
        for element in collapse([pair.ip_address], 6):
            pairs6.add(f"{pair_mac} . {element}")
    instance = not port.device_owner.startswith("network:")
    rules = [f"meta mark set 0x{mark:08x}"] if mark else []
    rules.append(f"ether saddr != {_mac_set(macs)} drop")
    # ARP probes (sender 0.0.0.0) change nobody's cache; DHCP clients send them
    rules.append(f"arp saddr ether {_mac_set(macs)} arp saddr ip 0.0.0.0 accept")
    if pairs4:
        rules.append(f"arp saddr ether . arp saddr ip {_mac_set(pairs4)} accept")
    rules.append("ether type arp drop")
    rules.append("ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 accept")
    if instance:
        rules.append("udp sport 67 udp dport 68 drop")
    if pairs4:
        rules.append(f"ether saddr . ip saddr {_mac_set(pairs4)} accept")
    rules.append("ether type ip drop")
    if instance:
        rules.append("icmpv6 type nd-router-advert drop")
        rules.append("udp sport 547 udp dport 546 drop")
    rules.append(
        "ip6 saddr :: icmpv6 type { nd-neighbor-solicit, mld-listener-report, "
        "mld2-listener-report } accept"
    )
    rules.append(f"ether saddr . ip6 saddr {_mac_set(pairs6)} accept")
    rules.append("drop")
    return tuple(rules)


def render_port_chains(
    stateless: bool, groups: Sequence[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``p<port>-o`` and ``p<port>-i``: conntrack shortcut (stateful ports), DHCP,
    then the port's groups; whatever none of them allows is dropped."""
    out: list[str] = []
    into: list[str] = []
    if not stateless:
        # reached only when the other end is stateless (else forward accepted it)
        out += [f"ct state established,related goto {TO_PORT}", "ct state invalid drop"]
        into += ["ct state established,related accept", "ct state invalid drop"]
    out += [
        f"udp sport 68 udp dport 67 goto {TO_PORT}",
        f"udp sport 546 udp dport 547 goto {TO_PORT}",
    ]
    into += ["udp sport 67 udp dport 68 accept", "udp sport 547 udp dport 546 accept"]
    out += [f"jump {group_chain(g, 'o')}" for g in groups]
    into += [f"jump {group_chain(g, 'i')}" for g in groups]
    out.append("drop")
    into.append("drop")
    return tuple(out), tuple(into)


def _skeleton() -> Ruleset:
    """The objects that exist whatever the ports: base chains, maps, dispatch."""
    rs = Ruleset()
    rs.base_chains[("bridge", "prerouting")] = (
        "type filter hook prerouting priority -300; policy accept;"
    )
    rs.base_chains[("bridge", "forward")] = "type filter hook forward priority -300; policy accept;"
    rs.base_chains[("inet", "raw")] = "type filter hook prerouting priority raw; policy accept;"
    rs.base_chains[("inet", "forward")] = "type filter hook forward priority filter; policy accept;"
    rs.sets[("bridge", SPOOF_MAP)] = ("map", "{ type ifname : verdict; }")
    rs.sets[("bridge", DEST_MAP)] = ("map", "{ type ifname : verdict; }")
    rs.sets[("inet", ZONE_MAP)] = ("map", "{ typeof iifname : ct zone; }")
    rs.sets[("inet", EGRESS_MAP)] = ("map", "{ type mark : verdict; }")
    rs.sets[("inet", INGRESS_MAP)] = ("map", "{ type mark : verdict; }")
    for key in rs.sets:
        rs.elements[key] = {}
    # anything a port chain does not mark is traffic between unfiltered ports
    rs.chains[("bridge", "prerouting")] = ("meta mark set 0x00000000", f"iifname vmap @{SPOOF_MAP}")
    rs.chains[("bridge", "forward")] = (f"oifname vmap @{DEST_MAP}",)
    rs.chains[("inet", "raw")] = (f"ct zone set iifname map @{ZONE_MAP}",)
    stateless = SRC_STATELESS | DST_STATELESS
    rs.chains[("inet", "forward")] = (
        f"meta mark & 0x{stateless:08x} == 0x00000000 ct state established,related accept",
        f"meta nfproto ipv6 icmpv6 type {{ {ND_TYPES} }} accept",
        f"meta mark & 0x{SRC_INDEX_MASK:08x} vmap @{EGRESS_MAP}",
        f"goto {TO_PORT}",
    )
    rs.chains[("inet", TO_PORT)] = (
        f"meta mark & 0x{DST_INDEX_MASK:08x} vmap @{INGRESS_MAP}",
        "accept",
    )
    return rs


def render(
    ports: Sequence[PortSpec], groups: Sequence[SecurityGroupSpec], alloc: Allocations
) -> Ruleset:
    """The whole desired model for one namespace. ``alloc`` must come from
    ``allocate`` with the same ports."""
    rs = _skeleton()
    by_id = {g.id: g for g in groups}
    for bridge, zone in alloc.zones.items():
        rs.elements[("inet", ZONE_MAP)][f'"{bridge}"'] = str(zone)
    used_groups: set[str] = set()
    for port in ports:
        if not is_secured(port):
            continue
        mark = 0
        if port.filtered:
            index = alloc.port_index[port.id]
            own = sorted({g for g in port.security_group_ids if g in by_id})
            used_groups.update(own)
            # Neutron forbids mixing; a port is stateless when its groups all are
            stateless = bool(own) and not any(by_id[g].stateful for g in own)
            mark = index | (SRC_STATELESS if stateless else 0)
            dest = (index << 16) | (DST_STATELESS if stateless else 0)
            out, into = render_port_chains(stateless, own)
            rs.chains[("inet", port_chain(port.id, "o"))] = out
            rs.chains[("inet", port_chain(port.id, "i"))] = into
            rs.elements[("inet", EGRESS_MAP)][f"0x{index:08x}"] = f"jump {port_chain(port.id, 'o')}"
            rs.elements[("inet", INGRESS_MAP)][f"0x{index << 16:08x}"] = (
                f"jump {port_chain(port.id, 'i')}"
            )
            # frames br_netfilter would not hand to the inet hooks (VLAN tags, other
            # ethertypes) could bypass the groups: filtered ports get none of them
            rs.chains[("bridge", dest_chain(port.id))] = (
                f"meta mark set meta mark | 0x{dest:08x}",
                "ether type != { arp, ip, ip6 } drop",
            )
            rs.elements[("bridge", DEST_MAP)][f'"{port.device}"'] = f"goto {dest_chain(port.id)}"
        rs.chains[("bridge", spoof_chain(port.id))] = render_spoof_chain(port, mark)
        rs.elements[("bridge", SPOOF_MAP)][f'"{port.device}"'] = f"jump {spoof_chain(port.id)}"
    remotes: set[str] = set()
    for group_id in sorted(used_groups):
        ingress, egress, named = render_group(by_id[group_id])
        rs.chains[("inet", group_chain(group_id, "i"))] = ingress
        rs.chains[("inet", group_chain(group_id, "o"))] = egress
        remotes |= named
    for remote in sorted(remotes):
        members = by_id[remote].member_ips if remote in by_id else ()
        for version, kind in ((4, "ipv4_addr"), (6, "ipv6_addr")):
            key = ("inet", group_set(remote, version))
            rs.sets[key] = ("set", f"{{ type {kind}; flags interval; }}")
            rs.elements[key] = dict.fromkeys(collapse(members, version), "")
    return rs


class NeedRebuild(Exception):
    """The models differ in a way commands cannot express (a base chain or a set
    declaration changed): rebuild the tables."""


def _target(key: Key) -> str:
    family, name = key
    return f"{family} {TABLE} {name}"


def _elements_command(verb: str, key: Key, items: dict[str, str], with_values: bool) -> list[str]:
    """``add element`` / ``delete element`` lines, a few hundred elements each."""
    rendered = [f"{k} : {v}" if with_values else k for k, v in sorted(items.items())]
    step = 500
    return [
        f"{verb} element {_target(key)} {{ {', '.join(rendered[i : i + step])} }}"
        for i in range(0, len(rendered), step)
    ]


def diff(old: Ruleset, new: Ruleset) -> list[str]:
    """The commands that turn ``old`` into ``new``, touching only what differs, in an
    order one transaction accepts: new containers first, references dropped before
    the objects they point at are deleted."""
    if old.base_chains != new.base_chains:
        raise NeedRebuild("base chains differ")
    for key in old.sets.keys() & new.sets.keys():
        if old.sets[key] != new.sets[key]:
            raise NeedRebuild(f"declaration of {key} differs")
    commands: list[str] = []
    for key in sorted(new.sets.keys() - old.sets.keys()):
        kind, decl = new.sets[key]
        commands.append(f"add {kind} {_target(key)} {decl}")
    added_chains = sorted(new.chains.keys() - old.chains.keys())
    removed_chains = sorted(old.chains.keys() - new.chains.keys())
    commands += [f"add chain {_target(key)}" for key in added_chains]
    # map/set elements that went away or point elsewhere
    adds: dict[Key, dict[str, str]] = {}
    for key in sorted(new.sets.keys() | old.sets.keys()):
        before = old.elements.get(key, {})
        after = new.elements.get(key, {})
        if key in new.sets and key in old.sets:
            gone = {k: v for k, v in before.items() if after.get(k) != v}
            if gone:
                commands += _elements_command("delete", key, gone, with_values=False)
        fresh = {k: v for k, v in after.items() if before.get(k) != v or key not in old.sets}
        if fresh:
            adds[key] = fresh
    changed = sorted(
        key for key in new.chains.keys() & old.chains.keys() if new.chains[key] != old.chains[key]
    )
    # a flushed chain drops its jumps and set references in the same transaction
    commands += [
        f"flush chain {_target(key)}" for key in changed + removed_chains if old.chains[key]
    ]
    for key in changed + added_chains:
        commands += [f"add rule {_target(key)} {rule}" for rule in new.chains[key]]
    for key, items in adds.items():
        commands += _elements_command("add", key, items, new.sets[key][0] == "map")
    commands += [f"delete chain {_target(key)}" for key in removed_chains]
    for key in sorted(old.sets.keys() - new.sets.keys()):
        commands.append(f"delete {old.sets[key][0]} {_target(key)}")
    return commands


def rebuild(new: Ruleset) -> list[str]:
    """One atomic transaction that replaces both tables with ``new``."""
    commands = purge_commands()
    commands += [f"add table {family} {TABLE}" for family in FAMILIES]
    commands += [
        f"add chain {_target(key)} {{ {decl} }}" for key, decl in sorted(new.base_chains.items())
    ]
    empty = Ruleset(base_chains=dict(new.base_chains))
    empty.chains = {key: () for key in new.base_chains}
    return commands + diff(empty, new)


def purge_commands() -> list[str]:
    """Delete both tables; the leading ``add`` makes it valid when they are absent."""
    commands: list[str] = []
    for family in FAMILIES:
        commands += [f"add table {family} {TABLE}", f"delete table {family} {TABLE}"]
    return commands
