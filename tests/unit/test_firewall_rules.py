"""Rendering of security groups into the nftables model, diffs between models, and
NftFirewall's transaction handling against a recording fake ``nft``."""

from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
from collections.abc import Sequence

import pytest

from nubo.network.dataplane import nft_rules as R
from nubo.network.dataplane.firewall import FirewallError, NftFirewall, NoFirewall
from nubo.network.dataplane.spec import (
    AddressPair,
    FixedIp,
    PortSpec,
    RuleSpec,
    SecurityGroupSpec,
    link_name,
)

NS = "nubo-dp"


def port(n: int, *groups: str, **fields: object) -> PortSpec:
    base: dict[str, object] = {
        "id": f"{n:08x}-aaaa-4bbb-8ccc-dddddddddddd",
        "network_id": f"net-{n % 3}",
        "mac_address": f"02:00:00:00:{n >> 8:02x}:{n & 0xFF:02x}",
        "fixed_ips": (FixedIp("s4", f"10.{n >> 8}.{n & 0xFF}.5"), FixedIp("s6", f"fd00::{n:x}")),
        "device_owner": "compute:nova",
        "security_group_ids": groups,
    }
    base.update(fields)
    return PortSpec(**base)  # type: ignore[arg-type]


def rule(rid: str, direction: str = "ingress", ethertype: str = "IPv4", protocol: str | None = None,
         low: int | None = None, high: int | None = None, **kw: str) -> RuleSpec:  # fmt: skip
    return RuleSpec(rid, direction, ethertype, protocol, low, high, **kw)


def sg(gid: str, *rules: RuleSpec, members: tuple[str, ...] = (), stateful: bool = True
       ) -> SecurityGroupSpec:  # fmt: skip
    return SecurityGroupSpec(gid, stateful, rules, members)


def model(ports: Sequence[PortSpec], groups: Sequence[SecurityGroupSpec],
          alloc: R.Allocations | None = None) -> tuple[R.Ruleset, R.Allocations]:  # fmt: skip
    alloc = R.allocate(alloc or R.Allocations(), ports)
    return R.render(ports, groups, alloc), alloc


# --- protocols and single rules -------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "ethertype", "number"),
    [
        (None, "IPv4", None),
        ("any", "IPv4", None),
        ("0", "IPv4", None),
        ("tcp", "IPv4", 6),
        ("UDP", "IPv6", 17),
        ("icmp", "IPv4", 1),
        ("icmp", "IPv6", 58),  # Neutron's drivers read icmp on IPv6 as ICMPv6
        ("ipv6-icmp", "IPv6", 58),
        ("icmpv6", "IPv6", 58),
        ("58", "IPv6", 58),
        ("sctp", "IPv4", 132),
        ("gre", "IPv4", 47),
        ("esp", "IPv4", 50),
        ("ah", "IPv6", 51),
        ("vrrp", "IPv4", 112),
        ("253", "IPv4", 253),
    ],
)
def test_protocol_numbers(protocol: str | None, ethertype: str, number: int | None) -> None:
    assert R.protocol_number(protocol, ethertype) == number


@pytest.mark.parametrize("protocol", ["bogus", "256", "-1"])
def test_unknown_protocols_are_refused(protocol: str) -> None:
    with pytest.raises(R.ProtocolError):
        R.protocol_number(protocol, "IPv4")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (rule("a"), "meta nfproto ipv4"),
        (rule("a", "egress", "IPv6"), "meta nfproto ipv6"),
        (rule("a", protocol="tcp", low=22, high=22),
         "meta nfproto ipv4 meta l4proto 6 th dport 22"),
        (rule("a", protocol="udp", low=1000, high=2000),
         "meta nfproto ipv4 meta l4proto 17 th dport 1000-2000"),
        (rule("a", protocol="tcp", low=1, high=65535), "meta nfproto ipv4 meta l4proto 6"),
        (rule("a", protocol="tcp", low=8000),
         "meta nfproto ipv4 meta l4proto 6 th dport 8000-65535"),
        (rule("a", protocol="icmp"), "meta nfproto ipv4 meta l4proto 1"),
        (rule("a", protocol="icmp", low=8), "meta nfproto ipv4 icmp type 8"),
        (rule("a", protocol="icmp", low=3, high=4), "meta nfproto ipv4 icmp type 3 icmp code 4"),
        (rule("a", ethertype="IPv6", protocol="icmp", low=128),
         "meta nfproto ipv6 icmpv6 type 128"),
        (rule("a", protocol="gre", low=5, high=6), "meta nfproto ipv4 meta l4proto 47"),
        (rule("a", remote_ip_prefix="10.1.2.3/8"), "meta nfproto ipv4 ip saddr 10.0.0.0/8"),
        (rule("a", "egress", remote_ip_prefix="10.1.2.3"), "meta nfproto ipv4 ip daddr 10.1.2.3"),
        (rule("a", remote_ip_prefix="0.0.0.0/0"), "meta nfproto ipv4"),
        (rule("a", "egress", "IPv6", remote_ip_prefix="fd00::/64"),
         "meta nfproto ipv6 ip6 daddr fd00::/64"),
        (rule("a", remote_group_id="G-1"), "meta nfproto ipv4 ip saddr @sgg1-v4"),
        (rule("a", "egress", "IPv6", remote_group_id="g2"), "meta nfproto ipv6 ip6 daddr @sgg2-v6"),
        (rule("a", remote_ip_prefix="fd00::/64"), None),  # the other IP version never matches
    ],
)  # fmt: skip
def test_rule_matches(spec: RuleSpec, expected: str | None) -> None:
    assert R.render_rule(spec, spec.direction) == expected


def test_malformed_rules_are_skipped(caplog: pytest.LogCaptureFixture) -> None:
    group = sg("g", rule("bad", protocol="bogus"), rule("worse", remote_ip_prefix="x"), rule("ok"))
    with caplog.at_level(logging.WARNING):
        ingress, _, _ = R.render_group(group)
    assert ingress == ("meta nfproto ipv4 accept",)
    assert "rule bad ignored" in caplog.text and "rule worse ignored" in caplog.text


def test_group_chains_are_sorted_and_deduplicated() -> None:
    group = sg(
        "g",
        rule("2", protocol="tcp", low=22, high=22),
        rule("1", protocol="icmp"),
        rule("3", protocol="tcp", low=22, high=22),
        rule("4", "egress", remote_group_id="h"),
    )
    ingress, egress, remotes = R.render_group(group)
    assert ingress == (
        "meta nfproto ipv4 meta l4proto 1 accept",
        "meta nfproto ipv4 meta l4proto 6 th dport 22 accept",
    )
    assert egress == (f"meta nfproto ipv4 ip daddr @sgh-v4 goto {R.TO_PORT}",)
    assert remotes == {"h"}
    reordered = dataclasses.replace(group, rules=tuple(reversed(group.rules)))
    assert R.render_group(reordered) == (ingress, egress, remotes)


# --- addresses -----------------------------------------------------------------------


def test_collapse_merges_overlaps_and_filters_versions() -> None:
    members = ["10.0.0.5", "10.0.0.0/24", "10.0.1.1/32", "fd00::1", "junk", "10.0.1.0"]
    assert R.collapse(members, 4) == ["10.0.0.0/24", "10.0.1.0/31"]
    assert R.collapse(members, 6) == ["fd00::1"]


def test_link_local_is_eui64() -> None:
    assert R.link_local("52:54:00:12:34:56") == "fe80::5054:ff:fe12:3456"
    assert R.link_local("02:00:00:00:00:01") == "fe80::ff:fe00:1"


def test_spoof_chain_lists_fixed_ips_and_address_pairs() -> None:
    p = port(
        1,
        "g",
        allowed_address_pairs=(
            AddressPair("10.9.9.0/24", "02:aa:00:00:00:01"),
            AddressPair("10.8.8.8", ""),  # no MAC: the port's own
        ),
    )
    rules = R.render_spoof_chain(p, 5)
    assert rules[0] == "meta mark set 0x00000005"
    assert rules[1] == "ether saddr != { 02:00:00:00:00:01, 02:aa:00:00:00:01 } drop"
    v4 = (
        "{ 02:00:00:00:00:01 . 10.0.1.5, 02:00:00:00:00:01 . 10.8.8.8, "
        "02:aa:00:00:00:01 . 10.9.9.0/24 }"
    )
    assert f"arp saddr ether . arp saddr ip {v4} accept" in rules
    assert f"ether saddr . ip saddr {v4} accept" in rules
    v6 = next(r for r in rules if r.startswith("ether saddr . ip6 saddr"))
    assert "02:00:00:00:00:01 . fd00::1" in v6
    assert "02:00:00:00:00:01 . fe80::ff:fe00:1" in v6
    assert "02:aa:00:00:00:01 . fe80::aa:ff:fe00:1" in v6
    assert "udp sport 67 udp dport 68 drop" in rules
    assert "icmpv6 type nd-router-advert drop" in rules
    assert rules[-1] == "drop"


def test_a_port_without_ipv4_sends_no_ipv4() -> None:
    rules = R.render_spoof_chain(port(1, fixed_ips=()), 0)
    assert not any(r.startswith("meta mark") for r in rules)
    assert not any("ip saddr {" in r or "arp saddr ip {" in r for r in rules)
    assert "ether type ip drop" in rules
    assert "ether type arp drop" in rules


# --- allocation ----------------------------------------------------------------------


def test_indexes_and_zones_stay_put() -> None:
    ports = [port(n, "g") for n in range(1, 5)]
    first = R.allocate(R.Allocations(), ports)
    assert sorted(first.port_index.values()) == [1, 2, 3, 4]
    assert sorted(first.zones.values()) == [1, 2, 3]
    second = R.allocate(first, [*ports[1:], port(9, "g")])
    for p in ports[1:]:
        assert second.port_index[p.id] == first.port_index[p.id]
    assert second.port_index[port(9).id] == first.port_index[ports[0].id]  # lowest free
    assert second.zones == {b: z for b, z in first.zones.items()}
    assert first.port_index[ports[0].id] == 1  # allocate never changes its input


def test_freed_zones_are_not_reused_at_once() -> None:
    a = R.allocate(R.Allocations(), [port(1, network_id="n1")])
    b = R.allocate(a, [port(2, network_id="n2")])
    assert b.zones == {link_name("b", "n2"): 2}
    wrapped = R.allocate(R.Allocations(zones={}, next_zone=R.MAX_ZONE), [port(1), port(2)])
    assert sorted(wrapped.zones.values()) == [1, R.MAX_ZONE]


def test_only_filtered_ports_get_indexes() -> None:
    ports = [
        port(1, "g"),
        port(2, "g", port_security_enabled=False),
        port(3, device_owner="network:dhcp"),
    ]
    alloc = R.allocate(R.Allocations(), ports)
    assert set(alloc.port_index) == {ports[0].id}
    assert len(alloc.zones) == 3


# --- rendering a namespace -------------------------------------------------------------


def test_render_chains_per_kind_of_port() -> None:
    filtered = port(1, "g", "missing")
    unsecured = port(2, "g", port_security_enabled=False)
    dhcp = port(3, device_owner="network:dhcp")
    secured_other = port(4, device_owner="Octavia")
    rs, alloc = model([filtered, unsecured, dhcp, secured_other], [sg("g", rule("r"))])
    chains = {name for _, name in rs.chains}
    assert R.port_chain(filtered.id, "o") in chains
    assert R.spoof_chain(filtered.id) in chains and R.dest_chain(filtered.id) in chains
    assert R.spoof_chain(secured_other.id) in chains  # anti-spoofing, no groups
    assert R.port_chain(secured_other.id, "o") not in chains
    for p in (unsecured, dhcp):
        assert not any(R.ident(p.id) in name for name in chains)
    assert rs.chains[("inet", R.port_chain(filtered.id, "i"))][-2:] == (
        f"jump {R.group_chain('g', 'i')}",  # the unknown group is left out
        "drop",
    )
    index = alloc.port_index[filtered.id]
    assert rs.elements[("inet", R.EGRESS_MAP)] == {
        f"0x{index:08x}": f"jump {R.port_chain(filtered.id, 'o')}"
    }
    assert rs.elements[("bridge", R.SPOOF_MAP)].keys() == {
        f'"{filtered.device}"',
        f'"{secured_other.device}"',
    }


def test_stateless_ports_skip_the_conntrack_shortcut() -> None:
    p = port(1, "sl")
    rs, alloc = model([p], [sg("sl", stateful=False)])
    index = alloc.port_index[p.id]
    assert rs.chains[("bridge", R.spoof_chain(p.id))][0] == (
        f"meta mark set 0x{index | R.SRC_STATELESS:08x}"
    )
    assert rs.chains[("bridge", R.dest_chain(p.id))][0] == (
        f"meta mark set meta mark | 0x{index << 16 | R.DST_STATELESS:08x}"
    )
    assert not any("ct state" in r for r in rs.chains[("inet", R.port_chain(p.id, "o"))])
    stateful, _ = model([p], [sg("sl")])
    assert stateful.chains[("inet", R.port_chain(p.id, "o"))][0].startswith("ct state")


def test_remote_group_sets_hold_members_even_of_unlisted_groups() -> None:
    ports = [port(1, "g")]
    groups = [
        sg("g", rule("a", remote_group_id="h"), rule("b", remote_group_id="gone")),
        sg("h", members=("10.0.0.1", "10.0.0.0/30", "fd00::1/128")),
    ]
    rs, _ = model(ports, groups)
    assert rs.elements[("inet", "sgh-v4")] == {"10.0.0.0/30": ""}
    assert rs.elements[("inet", "sgh-v6")] == {"fd00::1": ""}
    assert rs.elements[("inet", "sggone-v4")] == {}
    assert ("inet", "sgh-i") not in rs.chains  # no local port is in h


# --- diffs ---------------------------------------------------------------------------


def big(n: int, extra: tuple[RuleSpec, ...] = (), members: tuple[str, ...] = ()
        ) -> tuple[list[PortSpec], list[SecurityGroupSpec]]:  # fmt: skip
    ports = [port(i, "default", "web") for i in range(1, n + 1)]
    default = sg(
        "default",
        rule("e4", "egress"),
        rule("e6", "egress", "IPv6"),
        rule("i4", remote_group_id="default"),
        members=tuple(p.fixed_ips[0].ip_address for p in ports) + members,
    )
    web = sg("web", *(rule(f"p{j}", protocol="tcp", low=j, high=j) for j in range(80, 90)), *extra)
    return ports, [default, web]


def test_unchanged_model_needs_no_commands() -> None:
    ports, groups = big(10)
    rs, alloc = model(ports, groups)
    again, _ = model(ports, groups, alloc)
    assert R.diff(rs, again) == []


def test_one_rule_change_with_a_thousand_ports_touches_one_chain() -> None:
    ports, groups = big(1000)
    rs, alloc = model(ports, groups)
    assert len(R.rebuild(rs)) > 20_000
    ports, changed = big(1000, extra=(rule("new", protocol="tcp", low=443, high=443),))
    new, _ = model(ports, changed, alloc)
    commands = R.diff(rs, new)
    chain = R._target(("inet", R.group_chain("web", "i")))
    assert commands[0] == f"flush chain {chain}"
    assert all(c.startswith(f"add rule {chain} ") for c in commands[1:])
    assert len(commands) == 1 + 11  # the flush and the group's rules, nothing per port


def test_membership_change_only_touches_set_elements() -> None:
    ports, groups = big(1000)
    rs, alloc = model(ports, groups)
    _, more = big(1000, members=("192.168.0.0/16",))
    new, _ = model(ports, more, alloc)
    assert R.diff(rs, new) == [
        f"add element {R._target(('inet', 'sgdefault-v4'))} {{ 192.168.0.0/16 }}"
    ]
    assert R.diff(new, rs) == [
        f"delete element {R._target(('inet', 'sgdefault-v4'))} {{ 192.168.0.0/16 }}"
    ]


def test_adding_and_removing_a_port_touches_that_port_only() -> None:
    ports, groups = big(100)
    rs, alloc = model(ports, groups)
    extra = port(500, "web")
    grown, grown_alloc = model([*ports, extra], groups, alloc)
    add = R.diff(rs, grown)
    sid = R.ident(extra.id)
    assert all(sid in c for c in add if not c.startswith("add element inet nubo_fw zone-of"))
    assert sum(c.startswith("add chain") for c in add) == 4
    assert sum(c.startswith("add element") for c in add) == 4
    # and back: elements go before the chains they point at, chains are flushed first
    remove = R.diff(grown, rs)
    index = grown_alloc.port_index[extra.id]
    keys = (sid, extra.device, f"0x{index:08x}", f"0x{index << 16:08x}")
    assert all(any(k in c for k in keys) for c in remove)
    deletes = [i for i, c in enumerate(remove) if c.startswith("delete chain")]
    elements = [i for i, c in enumerate(remove) if c.startswith("delete element")]
    flushes = [i for i, c in enumerate(remove) if c.startswith("flush chain")]
    assert len(deletes) == 4 and len(elements) == 4
    assert max(elements) < min(deletes) and max(flushes) < min(deletes)
    assert sum(c.startswith("flush") for c in remove) == 4


def test_group_change_of_a_port_rewrites_its_chains_only() -> None:
    ports, groups = big(50)
    rs, alloc = model(ports, groups)
    moved = dataclasses.replace(ports[7], security_group_ids=("default",))
    new, _ = model([*ports[:7], moved, *ports[8:]], groups, alloc)
    commands = R.diff(rs, new)
    sid = R.ident(moved.id)
    assert {c.split()[4] for c in commands if c.startswith("flush")} == {f"p{sid}-i", f"p{sid}-o"}
    assert all(sid in c for c in commands)


def test_new_chains_and_sets_come_before_their_users() -> None:
    p = port(1, "g")
    before, alloc = model([p], [sg("g")])
    after, _ = model([p], [sg("g", rule("a", remote_group_id="h"))], alloc)
    commands = R.diff(before, after)
    add_set = commands.index(f"add set {R._target(('inet', 'sgh-v4'))} "
                             "{ type ipv4_addr; flags interval; }")  # fmt: skip
    user = next(i for i, c in enumerate(commands) if "@sgh-v4" in c)
    assert add_set < user
    # dropping the reference deletes the sets after the chain that used them
    back = R.diff(after, before)
    assert back[-2:] == [
        f"delete set {R._target(('inet', 'sgh-v4'))}",
        f"delete set {R._target(('inet', 'sgh-v6'))}",
    ]


def test_changed_map_value_is_deleted_then_added() -> None:
    old = R.Ruleset(sets={("inet", "m"): ("map", "{ }")}, elements={("inet", "m"): {"1": "jump a"}})
    new = R.Ruleset(sets={("inet", "m"): ("map", "{ }")}, elements={("inet", "m"): {"1": "jump b"}})
    assert R.diff(old, new) == [
        "delete element inet nubo_fw m { 1 }",
        "add element inet nubo_fw m { 1 : jump b }",
    ]


def test_declaration_changes_need_a_rebuild() -> None:
    rs, _ = model([port(1, "g")], [sg("g")])
    other = dataclasses.replace(rs, base_chains={**rs.base_chains, ("inet", "raw"): "x"})
    with pytest.raises(R.NeedRebuild):
        R.diff(rs, other)


def test_rebuild_replaces_both_tables_in_one_script() -> None:
    rs, _ = model([port(1, "g")], [sg("g", rule("a"))])
    commands = R.rebuild(rs)
    assert commands[:4] == [
        "add table bridge nubo_fw",
        "delete table bridge nubo_fw",
        "add table inet nubo_fw",
        "delete table inet nubo_fw",
    ]
    assert "add chain inet nubo_fw forward { type filter hook forward priority filter; " \
        "policy accept; }" in commands  # fmt: skip
    assert not any(c.startswith(("flush", "delete chain", "delete element")) for c in commands)


# --- NftFirewall with a fake nft -----------------------------------------------------


class FakeNft:
    """Records what would run; fails the nft -f calls listed in ``fail``."""

    def __init__(self, zones: dict[str, int] | None = None) -> None:
        self.calls: list[tuple[str, list[str], str | None]] = []
        self.fail: list[int] = []  # indexes of nft -f calls that fail
        self.zones = zones
        self.scripts = 0

    def __call__(self, namespace: str, argv: Sequence[str], stdin: str | None
                 ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        self.calls.append((namespace, list(argv), stdin))
        if argv[:2] == ["nft", "-j"]:
            if self.zones is None:
                return subprocess.CompletedProcess(argv, 1, "", "No such file or directory")
            elems = [[b, z] for b, z in self.zones.items()]
            body = {"nftables": [{"metainfo": {}}, {"map": {"name": "zone-of", "elem": elems}}]}
            return subprocess.CompletedProcess(argv, 0, json.dumps(body), "")
        if argv[:2] == ["nft", "-f"]:
            self.scripts += 1
            if self.scripts in self.fail:
                return subprocess.CompletedProcess(argv, 1, "", "Error: boom")
        return subprocess.CompletedProcess(argv, 0, "", "")

    def scripts_sent(self) -> list[str]:
        return [stdin or "" for _, argv, stdin in self.calls if argv[:2] == ["nft", "-f"]]


def test_first_sync_rebuilds_then_only_differences_are_sent() -> None:
    nft = FakeNft()
    fw = NftFirewall(runner=nft)
    ports, groups = big(20)
    fw.sync(NS, ports, groups)
    assert [argv[0] for _, argv, _ in nft.calls] == ["nft", "sysctl", "nft"]
    assert nft.scripts_sent()[0].startswith("add table bridge nubo_fw\ndelete table")
    fw.sync(NS, ports, groups)
    assert len(nft.calls) == 3  # nothing changed, nothing ran
    _, changed = big(20, extra=(rule("x", protocol="udp", low=53, high=53),))
    fw.sync(NS, ports, changed)
    script = nft.scripts_sent()[-1]
    assert script.startswith("flush chain inet nubo_fw sgweb-i\n")
    assert (fw.transactions, fw.rebuilds) == (2, 1)


def test_a_failed_increment_falls_back_to_a_rebuild(caplog: pytest.LogCaptureFixture) -> None:
    nft = FakeNft()
    fw = NftFirewall(runner=nft)
    ports, groups = big(5)
    fw.sync(NS, ports, groups)
    nft.fail = [2]
    _, changed = big(5, extra=(rule("x"),))
    with caplog.at_level(logging.WARNING):
        fw.sync(NS, ports, changed)
    assert "rebuilding" in caplog.text
    assert fw.rebuilds == 2
    assert nft.scripts_sent()[-1].startswith("add table bridge nubo_fw\ndelete table")


def test_a_failed_rebuild_raises_and_the_next_sync_rebuilds() -> None:
    nft = FakeNft()
    fw = NftFirewall(runner=nft)
    ports, groups = big(5)
    nft.fail = [1]
    with pytest.raises(FirewallError, match="boom"):
        fw.sync(NS, ports, groups)
    fw.sync(NS, ports, groups)
    assert fw.rebuilds == 2


def test_restart_adopts_the_zones_of_the_running_tables() -> None:
    ports, groups = big(3)
    bridges = sorted({link_name("b", p.network_id) for p in ports})
    nft = FakeNft(zones={bridges[0]: 40, bridges[1]: 41})
    fw = NftFirewall(runner=nft)
    fw.sync(NS, ports, groups)
    script = nft.scripts_sent()[0]
    zones = next(line for line in script.splitlines() if "zone-of {" in line and "element" in line)
    assert f'"{bridges[0]}" : 40' in zones and f'"{bridges[1]}" : 41' in zones
    assert f'"{bridges[2]}" : 42' in zones


def test_purge_forgets_the_namespace() -> None:
    nft = FakeNft()
    fw = NftFirewall(runner=nft)
    ports, groups = big(2)
    fw.sync(NS, ports, groups)
    fw.purge(NS)
    assert nft.scripts_sent()[-1] == "\n".join(R.purge_commands()) + "\n"
    fw.sync(NS, ports, groups)
    assert fw.rebuilds == 2


def test_no_firewall_does_nothing() -> None:
    fw = NoFirewall()
    fw.sync(NS, [port(1, "g")], [sg("g")])
    fw.purge(NS)
