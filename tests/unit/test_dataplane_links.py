"""Link state parsing and the ip commands that fix differences (no root needed)."""

from __future__ import annotations

from nubo.network.dataplane.links import (
    BRIDGE,
    DEVICE,
    HOST_LINK,
    VETH,
    VXLAN,
    LinkSpec,
    LinkState,
    Route,
    change_commands,
    create_commands,
    needs_recreate,
    normalize_route,
    orphan_links,
    parse_links,
    parse_proc_routes,
    route_commands,
    vxlan_create_commands,
)
from nubo.network.dataplane.netns import batch_failures, is_nubo_namespace, json_arrays
from nubo.network.dataplane.spec import link_name

DUMP = [
    {
        "ifname": "lo",
        "flags": ["LOOPBACK", "UP", "LOWER_UP"],
        "mtu": 65536,
        "address": "00:00:00:00:00:00",
        "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8, "scope": "host"}],
    },
    {
        "ifname": "nubobaaaaaaaaaa",
        "flags": ["BROADCAST", "MULTICAST", "UP"],
        "mtu": 1450,
        "address": "AA:BB:CC:00:00:01",
        "linkinfo": {"info_kind": "bridge"},
        "addr_info": [],
    },
    {
        "ifname": "nuboxaaaaaaaaaa",
        "flags": ["BROADCAST"],
        "mtu": 1450,
        "address": "aa:bb:cc:00:00:02",
        "master": "nubobaaaaaaaaaa",
        "linkinfo": {
            "info_kind": "vxlan",
            "info_data": {"id": 7, "local": "198.18.0.1", "port": 4789},
        },
        "addr_info": [],
    },
    {
        "ifname": "nuborbbbbbbbbbb",
        "flags": ["UP"],
        "mtu": 1500,
        "address": "fa:16:3e:00:00:01",
        "linkinfo": {"info_kind": "veth"},
        "addr_info": [
            {"family": "inet", "local": "10.0.0.1", "prefixlen": 24, "scope": "global"},
            {"family": "inet6", "local": "2001:db8:0:0::1", "prefixlen": 64, "scope": "global"},
            {"family": "inet6", "local": "fe80::1", "prefixlen": 64, "scope": "link"},
            {
                "family": "inet6",
                "local": "2001:db8::abcd",
                "prefixlen": 64,
                "scope": "global",
                "dynamic": True,
            },
        ],
    },
]


def test_parse_links_reads_kind_state_master_and_static_global_addresses() -> None:
    links = parse_links(DUMP)
    assert set(links) == {"lo", "nubobaaaaaaaaaa", "nuboxaaaaaaaaaa", "nuborbbbbbbbbbb"}
    bridge = links["nubobaaaaaaaaaa"]
    assert (bridge.kind, bridge.up, bridge.mtu, bridge.mac) == (
        BRIDGE,
        True,
        1450,
        "aa:bb:cc:00:00:01",
    )
    vx = links["nuboxaaaaaaaaaa"]
    assert (vx.kind, vx.up, vx.master, vx.vxlan) == (
        VXLAN,
        False,
        "nubobaaaaaaaaaa",
        (7, "198.18.0.1", 4789),
    )
    assert links["nuborbbbbbbbbbb"].addresses == {"10.0.0.1/24", "2001:db8::1/64"}
    assert links["lo"].addresses == frozenset()


def state(name: str, **kw: object) -> LinkState:
    base: dict[str, object] = {
        "name": name,
        "kind": VETH,
        "up": True,
        "mtu": 1450,
        "mac": "fa:16:3e:00:00:01",
        "master": None,
        "addresses": frozenset(),
    }
    base.update(kw)
    return LinkState(**base)  # type: ignore[arg-type]


def test_nothing_to_change_gives_no_commands() -> None:
    specs = {
        "nubobx": LinkSpec("nubobx", BRIDGE, mtu=1450),
        "nubotx": LinkSpec("nubotx", DEVICE, mtu=1450, master="nubobx"),
        "nuborx": LinkSpec(
            "nuborx", VETH, mtu=1450, mac="FA:16:3E:00:00:01", addresses=frozenset({"10.0.0.1/24"})
        ),
    }
    links = {
        "nubobx": state("nubobx", kind=BRIDGE),
        "nubotx": state("nubotx", master="nubobx"),
        "nuborx": state("nuborx", addresses=frozenset({"10.0.0.1/24"})),
    }
    assert change_commands(specs, links) == []


def test_changes_put_bridges_first_and_addresses_last() -> None:
    specs = {
        "nubota": LinkSpec("nubota", DEVICE, mtu=1450, master="nubobz", owner="port a"),
        "nubobz": LinkSpec("nubobz", BRIDGE, mtu=1450, owner="net z"),
        "nuborc": LinkSpec(
            "nuborc",
            VETH,
            mac="fa:16:3e:00:00:09",
            up=False,
            addresses=frozenset({"10.0.0.1/24", "2001:db8::1/64"}),
        ),
        "nubomissing": LinkSpec("nubomissing", BRIDGE),
    }
    links = {
        "nubota": state("nubota", mtu=1500, up=False),
        "nubobz": state("nubobz", kind=BRIDGE, mtu=1500),
        "nuborc": state("nuborc", master="nubobz", addresses=frozenset({"10.9.9.9/24"})),
    }
    assert change_commands(specs, links) == [
        ("link set nubobz mtu 1450", "net z"),
        ("link set nuborc address fa:16:3e:00:00:09 nomaster down", ""),
        ("link set nubota mtu 1450 master nubobz up", "port a"),
        ("addr add 10.0.0.1/24 dev nuborc", ""),
        ("addr add 2001:db8::1/64 dev nuborc nodad", ""),
        ("addr del 10.9.9.9/24 dev nuborc", ""),
    ]


def test_unmanaged_fields_are_left_alone() -> None:
    # a port device's MAC belongs to its instance; an uplink's MTU to the operator
    specs = {"eth9": LinkSpec("eth9", DEVICE, master="nubobx")}
    links = {
        "eth9": state(
            "eth9",
            mtu=9000,
            mac="02:00:00:00:00:99",
            master="nubobx",
            addresses=frozenset({"192.0.2.1/24"}),
        )
    }
    assert change_commands(specs, links) == []


def test_recreate_when_kind_or_vxlan_identity_differs() -> None:
    vx = LinkSpec("nuboxa", VXLAN, vni=7, vtep="198.18.0.1")
    assert not needs_recreate(vx, state("nuboxa", kind=VXLAN, vxlan=(7, "198.18.0.1", 4789)))
    assert needs_recreate(vx, state("nuboxa", kind=VXLAN, vxlan=(8, "198.18.0.1", 4789)))
    assert needs_recreate(vx, state("nuboxa", kind=VXLAN, vxlan=(7, "198.18.0.9", 4789)))
    assert needs_recreate(LinkSpec("nubob", BRIDGE), state("nubob", kind=VETH))
    assert needs_recreate(LinkSpec("nubor", VETH), state("nubor", kind="tun"))
    assert not needs_recreate(LinkSpec("nubot", DEVICE), state("nubot", kind="tun"))


def test_create_commands() -> None:
    assert create_commands(LinkSpec("nubobx", BRIDGE), 1) == [
        "link add nubobx type bridge forward_delay 0 mcast_snooping 0"
    ]
    pair = LinkSpec("nubopx", VETH, peer=("nubo-router-r", "nuborx"))
    assert create_commands(pair, 1) == [
        "link add nubopx type veth peer name nuborx netns nubo-router-r"
    ]
    to_host = LinkSpec("nubopy", VETH, peer=("", "nuboh0"))
    assert create_commands(to_host, 4242) == [
        "link add nubopy type veth peer name nuboh0 netns 4242"
    ]
    assert create_commands(LinkSpec("nuborx", VETH), 1) == []  # made by its peer
    assert vxlan_create_commands(
        LinkSpec("nuboxa", VXLAN, vni=9, vtep="198.18.0.1"), "nubo-dp"
    ) == [
        "link add nuboxa type vxlan id 9 local 198.18.0.1 dstport 4789",
        "link set nuboxa netns nubo-dp",
    ]


def test_orphans_are_only_nubo_named_links_nobody_wants() -> None:
    links = {
        n: state(n)
        for n in (
            "lo",
            "eth0",
            "nubobaaaaaaaaaa",
            "nubotbbbbbbbbbb",
            "nubotcccccccccc",
            "nubo-test",
            "nubobr12345678",
            "tstu1",
        )
    }
    specs = {"nubobaaaaaaaaaa": LinkSpec("nubobaaaaaaaaaa", BRIDGE)}
    assert orphan_links(specs, links, keep={"nubotcccccccccc"}) == [
        "nubobr12345678",
        "nubotbbbbbbbbbb",
    ]
    host = {n: state(n) for n in ("eth0", "nubohaaaaaaaaaa", "nubobxxxxxxxxxx", "nubotap1")}
    assert orphan_links({}, host, HOST_LINK) == ["nubohaaaaaaaaaa"]


ROUTE4 = """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
va\t00000000\t0100090A\t0003\t0\t0\t0\t00000000\t0\t0\t0
va\t0500060A\t0500090A\t0007\t0\t0\t0\tFFFFFFFF\t0\t0\t0
*\t0000070A\t00000000\t0201\t0\t0\t0\t0000FFFF\t0\t0\t0
va\t0000090A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
"""
Z32 = "0" * 32
ROUTE6 = "\n".join(
    [
        f"20010db8000000000000000000000000 40 {Z32} 00 {Z32} "
        "00000100 00000002 00000000 00000001 va",
        f"20010db9000000000000000000000000 30 {Z32} 00 20010db8000000000000000000000007 "
        "00000400 00000001 00000000 00000003 va",
        f"{Z32} 00 {Z32} 00 20010db8000000000000000000000001 "
        "00000400 00000001 00000000 00000003 va",
        f"{Z32} 00 {Z32} 00 {Z32} ffffffff 00000001 00000000 00200200 lo",
    ]
)


def test_routes_are_read_from_proc_normalized_and_diffed() -> None:
    have = parse_proc_routes(ROUTE4, ROUTE6)
    assert have == {
        Route("default", "10.9.0.1"),
        Route("10.6.0.5/32", "10.9.0.5"),
        Route("2001:db9::/48", "2001:db8::7"),
        Route("default", "2001:db8::1"),
    }
    want = {
        normalize_route("0.0.0.0/0", "10.9.0.1"),
        normalize_route("::/0", "2001:db8:0::1"),
        normalize_route("2001:db9::/48", "2001:db8::7"),
        normalize_route("10.7.0.0/16", "10.9.0.6"),
    }
    assert route_commands(want, have) == [
        "route del 10.6.0.5/32 via 10.9.0.5",
        "route replace 10.7.0.0/16 via 10.9.0.6",
    ]
    assert Route("default", "2001:db8::1").family == 6
    assert parse_proc_routes("header only\n", "") == set()


def test_batch_failures_map_errors_to_commands() -> None:
    cmds = ["link add a type bridge", "link add b type nope", "link set c up"]
    stderr = (
        "Error: Unknown device type.\nCommand failed -:2\n"
        'Cannot find device "c"\nCommand failed -:3\n'
    )
    assert batch_failures(cmds, stderr, 1) == [
        ("link add b type nope", "Error: Unknown device type."),
        ("link set c up", 'Cannot find device "c"'),
    ]
    whole = batch_failures(cmds[:1], 'Cannot open network namespace "x"', 255)
    assert whole == [("link add a type bridge", 'Cannot open network namespace "x"')]


def test_json_arrays_of_a_batch_listing() -> None:
    text = '[{"ifname":"lo"}]\n[{"dst":"default","gateway":"10.0.0.1"}]\n[]\n'
    assert json_arrays(text) == [{"ifname": "lo"}, {"dst": "default", "gateway": "10.0.0.1"}]
    assert json_arrays("") == []


def test_names_nubo_owns() -> None:
    assert link_name("t", "0a1b2c3d-4e5f-6789-abcd-ef0123456789") == "nubot0a1b2c3d4e"
    assert len(link_name("p", "0a1b2c3d-4e5f-6789-abcd-ef0123456789")) == 15
    for name in ("nubo-dp", "nubo-ext", "nubo-underlay", "nubo-router-x", "nubo-dhcp-y"):
        assert is_nubo_namespace(name)
    for name in ("nubotest-dp-vm1", "nubo-test-abc", "nubo-guest-1", "nubo", "other"):
        assert not is_nubo_namespace(name)
