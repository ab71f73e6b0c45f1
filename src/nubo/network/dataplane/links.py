"""Links: what the kernel has (``LinkState`` from an ``ip -j -d addr`` dump), what it
should have (``LinkSpec``), and the ``ip`` batch commands that turn one into the other.

Everything here is pure, so the diffing is unit-tested without root.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from nubo.network.dataplane.spec import PREFIX

# the links nubo names (``link_name``): prefix, one kind letter, up to 10 id characters
NUBO_LINK = re.compile(rf"^{PREFIX}[a-z][0-9a-zA-Z]{{1,10}}$")
# the only nubo links that live in the host namespace
HOST_LINK = re.compile(rf"^{PREFIX}h[0-9a-zA-Z]{{1,10}}$")

BRIDGE = "bridge"
VXLAN = "vxlan"
VETH = "veth"
DEVICE = "device"  # made by someone else (plug, the operator): configured, never created

VXLAN_PORT = 4789


@dataclass(frozen=True)
class LinkState:
    """One link as the kernel reports it."""

    name: str
    kind: str  # info_kind: bridge, vxlan, veth, tun, "" for physical
    up: bool
    mtu: int
    mac: str
    master: str | None
    addresses: frozenset[str]  # static global addresses, "ip/prefixlen"
    vxlan: tuple[int, str, int] | None = None  # (vni, local, dstport)


def parse_links(dump: Iterable[Mapping[str, Any]]) -> dict[str, LinkState]:
    """LinkStates by name from ``ip -j -d addr show`` output."""
    links: dict[str, LinkState] = {}
    for item in dump:
        name = item.get("ifname")
        if not isinstance(name, str):
            continue
        info = item.get("linkinfo") or {}
        kind = str(info.get("info_kind") or "")
        vxlan = None
        if kind == VXLAN:
            data = info.get("info_data") or {}
            vxlan = (int(data.get("id", 0)), str(data.get("local", "")), int(data.get("port", 0)))
        addresses = set()
        for addr in item.get("addr_info") or ():
            if addr.get("scope") != "global" or addr.get("dynamic"):
                continue
            addresses.add(normalize_cidr(f"{addr['local']}/{addr['prefixlen']}"))
        links[name] = LinkState(
            name=name,
            kind=kind,
            up="UP" in (item.get("flags") or ()),
            mtu=int(item.get("mtu", 0)),
            mac=str(item.get("address", "")).lower(),
            master=item.get("master"),
            addresses=frozenset(addresses),
            vxlan=vxlan,
        )
    return links


def normalize_cidr(value: str) -> str:
    """'10.0.0.5/24' stays as is (host bits kept); IPv6 is compressed; no prefix = host."""
    iface = ipaddress.ip_interface(value)
    return f"{iface.ip}/{iface.network.prefixlen}"


@dataclass(frozen=True)
class LinkSpec:
    """One link as it should be. ``None`` fields are left as they are."""

    name: str
    kind: str  # BRIDGE | VXLAN | VETH | DEVICE
    mtu: int | None = None
    mac: str | None = None
    master: str | None = None
    up: bool = True
    addresses: frozenset[str] | None = None
    vni: int | None = None
    vtep: str | None = None  # the vxlan's local address
    # a veth pair is made from the end that has peer set: (peer namespace, peer name)
    peer: tuple[str, str] | None = None
    owner: str = ""  # what it realises (network/port/router id), for the logs


def needs_recreate(spec: LinkSpec, state: LinkState) -> bool:
    """True when the link exists but cannot be changed into spec in place."""
    if spec.kind == BRIDGE:
        return state.kind != BRIDGE
    if spec.kind == VXLAN:
        return state.kind != VXLAN or state.vxlan != (spec.vni, spec.vtep, VXLAN_PORT)
    if spec.kind == VETH:
        return state.kind != VETH
    return False


def create_commands(spec: LinkSpec, host_pid: int) -> list[str]:
    """The commands that create spec's link in its namespace (bridges and veth pairs).

    The peer of a veth is created directly in its namespace with its MAC and MTU;
    ``host_pid`` names the host namespace (the peer of the host link).
    """
    if spec.kind == BRIDGE:
        return [f"link add {spec.name} type bridge forward_delay 0 mcast_snooping 0"]
    if spec.kind == VETH and spec.peer is not None:
        peer_ns, peer_name = spec.peer
        cmd = f"link add {spec.name} type veth peer name {peer_name} netns {peer_ns or host_pid}"
        return [cmd]
    return []


def vxlan_create_commands(spec: LinkSpec, target_ns: str) -> list[str]:
    """Create the vxlan in the underlay (its UDP socket lives there), then move it."""
    return [
        f"link add {spec.name} type vxlan id {spec.vni} local {spec.vtep} dstport {VXLAN_PORT}",
        f"link set {spec.name} netns {target_ns}",
    ]


def change_commands(
    specs: Mapping[str, LinkSpec], links: Mapping[str, LinkState]
) -> list[tuple[str, str]]:
    """(command, owner) pairs that make existing links match their specs.

    Bridges are set first (their MTU must not clamp a port's), then every other
    link's MTU, MAC, master and state, then addresses.
    """
    ordered = sorted(specs.values(), key=lambda s: (s.kind != BRIDGE, s.name))
    link_cmds: list[tuple[str, str]] = []
    addr_cmds: list[tuple[str, str]] = []
    for spec in ordered:
        state = links.get(spec.name)
        if state is None:
            continue
        sets: list[str] = []
        if spec.mtu is not None and state.mtu != spec.mtu:
            sets.append(f"mtu {spec.mtu}")
        if spec.mac is not None and state.mac != spec.mac.lower():
            sets.append(f"address {spec.mac.lower()}")
        if spec.master is not None and state.master != spec.master:
            sets.append(f"master {spec.master}")
        if spec.master is None and spec.kind != DEVICE and state.master is not None:
            sets.append("nomaster")
        if state.up != spec.up:
            sets.append("up" if spec.up else "down")
        if sets:
            link_cmds.append((f"link set {spec.name} {' '.join(sets)}", spec.owner))
        if spec.addresses is not None:
            for cidr in sorted(spec.addresses - state.addresses):
                extra = " nodad" if ":" in cidr else ""
                addr_cmds.append((f"addr add {cidr} dev {spec.name}{extra}", spec.owner))
            for cidr in sorted(state.addresses - spec.addresses):
                addr_cmds.append((f"addr del {cidr} dev {spec.name}", spec.owner))
    return link_cmds + addr_cmds


def orphan_links(
    specs: Mapping[str, LinkSpec],
    links: Mapping[str, LinkState],
    pattern: re.Pattern[str] = NUBO_LINK,
    keep: Iterable[str] = (),
) -> list[str]:
    """Links nubo made (by name) that no spec lists, in a stable order."""
    kept = set(keep)
    return sorted(
        name
        for name in links
        if name not in specs and name not in kept and pattern.match(name) is not None
    )


@dataclass(frozen=True)
class Route:
    """A route with a next hop (connected routes are the kernel's business)."""

    destination: str  # "default" or a CIDR
    via: str

    @property
    def family(self) -> int:
        return 6 if ":" in self.via else 4


def normalize_route(destination: str, via: str) -> Route:
    """A Route with "default" for any all-zero destination and canonical addresses."""
    if destination in ("default", "0.0.0.0/0", "::/0"):
        return Route("default", str(ipaddress.ip_address(via)))
    network = ipaddress.ip_network(destination, strict=False)
    return Route(str(network), str(ipaddress.ip_address(via)))


RTF_GATEWAY = 0x0002
RTF_REJECT = 0x0200


def parse_proc_routes(route4: str, route6: str) -> set[Route]:
    """The routes with a gateway in /proc/net/route and /proc/net/ipv6_route text
    (read inside the namespace: no process to spawn)."""
    routes = set()
    for line in route4.splitlines()[1:]:  # a header, then little-endian hex words
        fields = line.split()
        if len(fields) < 8:
            continue
        flags = int(fields[3], 16)
        if not flags & RTF_GATEWAY or flags & RTF_REJECT:
            continue
        dst = ipaddress.IPv4Address(int(fields[1], 16).to_bytes(4, "little"))
        via = ipaddress.IPv4Address(int(fields[2], 16).to_bytes(4, "little"))
        prefixlen = bin(int(fields[7], 16)).count("1")
        routes.add(normalize_route(f"{dst}/{prefixlen}", str(via)))
    for line in route6.splitlines():  # dst plen src plen nexthop metric ref use flags dev
        fields = line.split()
        if len(fields) < 10:
            continue
        flags = int(fields[8], 16)
        if not flags & RTF_GATEWAY or flags & RTF_REJECT:
            continue
        dst6 = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
        via6 = ipaddress.IPv6Address(bytes.fromhex(fields[4]))
        routes.add(normalize_route(f"{dst6}/{int(fields[1], 16)}", str(via6)))
    return routes


def route_commands(desired: Iterable[Route], current: Iterable[Route]) -> list[str]:
    """Commands that add missing routes and delete ones nobody asked for."""
    want = set(desired)
    have = set(current)
    cmds = []
    for route in sorted(have - want, key=_route_key):
        cmds.append(f"route del {route.destination} via {route.via}")
    # ip takes the family from the next hop, so "default" works for IPv6 too
    for route in sorted(want - have, key=_route_key):
        cmds.append(f"route replace {route.destination} via {route.via}")
    return cmds


def _route_key(route: Route) -> tuple[int, str, str]:
    return (route.family, route.destination, route.via)
