"""IP address management and subnet allocation: default pools, EUI-64, address checks
and allocation rows (ipam.py); prefix arithmetic and subnet allocation from pools
(subnetpools.py); the subnet validators Neutron's rules come down to (subnets.py);
and a network's address scope (address_scopes.py)."""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from nubo.db.engine import Database
from nubo.db.models import metadata
from nubo.errors import BadRequest, Conflict
from nubo.network import address_scopes, extensions, ipam, rbac, subnetpools, subnets
from nubo.network import models as m
from nubo.network.access import Caller

# -- ipam: pure ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cidr", "gateway", "pools"),
    [
        ("10.0.0.0/24", "10.0.0.1", [("10.0.0.2", "10.0.0.254")]),
        ("10.0.0.0/24", None, [("10.0.0.1", "10.0.0.254")]),
        ("10.0.0.0/24", "10.0.0.254", [("10.0.0.1", "10.0.0.253")]),
        ("10.0.0.0/24", "10.0.0.9", [("10.0.0.1", "10.0.0.8"), ("10.0.0.10", "10.0.0.254")]),
        ("10.0.0.0/24", "192.168.0.1", [("10.0.0.1", "10.0.0.254")]),
        ("10.0.0.0/30", "10.0.0.1", [("10.0.0.2", "10.0.0.2")]),
        ("10.0.0.0/32", None, [("10.0.0.0", "10.0.0.0")]),
        ("2001:db8::/64", "2001:db8::1", [("2001:db8::2", "2001:db8::ffff:ffff:ffff:ffff")]),
        ("2001:db8::/128", None, [("2001:db8::", "2001:db8::")]),
    ],
)
def test_default_pools(cidr: str, gateway: str | None, pools: list[tuple[str, str]]) -> None:
    assert ipam.default_pools(cidr, gateway) == [{"start": a, "end": b} for a, b in pools]


def test_eui64() -> None:
    assert ipam.eui64("2001:db8::/64", "fa:16:3e:00:00:01") == "2001:db8::f816:3eff:fe00:1"
    assert ipam.eui64("fd00:1:2:3::/64", "00:11:22:33:44:55") == "fd00:1:2:3:211:22ff:fe33:4455"


@pytest.mark.parametrize(
    ("version", "ra", "address", "auto"),
    [
        (6, "slaac", "slaac", True),
        (6, None, "slaac", True),
        (6, "dhcpv6-stateless", "dhcpv6-stateless", True),
        (6, "slaac", None, True),
        (6, "dhcpv6-stateless", None, True),
        (6, "dhcpv6-stateful", None, False),
        (6, None, "dhcpv6-stateful", False),
        (6, None, None, False),
        (4, None, None, False),
    ],
)
def test_is_auto(version: int, ra: str | None, address: str | None, auto: bool) -> None:
    subnet = m.Subnet(ip_version=version, ipv6_ra_mode=ra, ipv6_address_mode=address)
    assert ipam.is_auto(subnet) is auto
    assert subnets.is_auto(ra, address) is (auto and version == 6)


def test_check_address() -> None:
    v4 = m.Subnet(cidr="10.0.0.0/24", ip_version=4)
    ipam.check_address(v4, "10.0.0.7")
    for bad in ("10.0.0.0", "10.0.0.255", "10.0.1.1"):
        with pytest.raises(BadRequest):
            ipam.check_address(v4, bad)
    ipam.check_address(m.Subnet(cidr="10.0.0.0/31", ip_version=4), "10.0.0.0")
    v6 = m.Subnet(cidr="2001:db8::/64", ip_version=6)
    ipam.check_address(v6, "2001:db8::ffff:ffff:ffff:ffff")
    with pytest.raises(BadRequest):
        ipam.check_address(v6, "2001:db8::")


# -- a database for the allocation tests -----------------------------------------------------


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    db = Database(f"sqlite:///{tmp_path / 'n.db'}")
    metadata.create_all(db.engine)
    with db.session() as s:
        yield s
        s.rollback()
    db.dispose()


_macs = itertools.count(1)


def add_network(s: Session) -> m.Network:
    network = m.Network(id=m.new_uuid(), project_id="p", name="n")
    s.add(network)
    s.flush()
    return network


def add_subnet(s: Session, network: m.Network, cidr: str, **fields: object) -> m.Subnet:
    fields.setdefault("ip_version", 6 if ":" in cidr else 4)
    gateway = fields.pop("gateway_ip", "auto")
    if gateway == "auto":
        gateway = str(ipaddress.ip_network(cidr).network_address + 1)
    subnet = m.Subnet(
        id=m.new_uuid(),
        project_id="p",
        network_id=network.id,
        cidr=cidr,
        gateway_ip=gateway,
        allocation_pools=fields.pop("allocation_pools", None) or ipam.default_pools(cidr, gateway),
        **fields,
    )
    s.add(subnet)
    s.flush()
    return subnet


def add_port(s: Session, network: m.Network) -> m.Port:
    n = next(_macs)
    port = m.Port(
        id=m.new_uuid(),
        project_id="p",
        network_id=network.id,
        mac_address=f"fa:16:3e:00:{n // 256:02x}:{n % 256:02x}",
    )
    s.add(port)
    s.flush()
    return port


def test_allocation_rows(session: Session) -> None:
    s = session
    network = add_network(s)
    subnet = add_subnet(
        s, network, "10.0.0.0/29", allocation_pools=[{"start": "10.0.0.1", "end": "10.0.0.3"}]
    )
    a, b, c = (add_port(s, network) for _ in range(3))
    # the gateway (10.0.0.1) is skipped even inside a pool
    assert ipam.allocate(s, [subnet], a.id, a.mac_address, None) == [(subnet.id, "10.0.0.2")]
    assert ipam.allocate(s, [subnet], b.id, b.mac_address, None) == [(subnet.id, "10.0.0.3")]
    with pytest.raises(Conflict) as exhausted:
        ipam.allocate(s, [subnet], c.id, c.mac_address, None)
    assert exhausted.value.kind == "IpAddressGenerationFailure"
    with pytest.raises(Conflict) as taken:
        ipam.allocate(s, [subnet], c.id, c.mac_address, [{"ip_address": "10.0.0.2"}])
    assert taken.value.kind == "IpAddressAlreadyAllocated"
    # outside the pools but inside the subnet is fine when asked for
    got = ipam.allocate(s, [subnet], c.id, c.mac_address, [{"ip_address": "10.0.0.6"}])
    assert got == [(subnet.id, "10.0.0.6")]
    ipam.release(s, a.id)
    assert ipam.allocate(s, [subnet], c.id, c.mac_address, [{"subnet_id": subnet.id}]) == [
        (subnet.id, "10.0.0.2")
    ]
    assert ipam.of_ports(s, [c.id])[c.id] == [
        {"subnet_id": subnet.id, "ip_address": "10.0.0.2"},
        {"subnet_id": subnet.id, "ip_address": "10.0.0.6"},
    ]


def test_default_addresses_per_family(session: Session) -> None:
    s = session
    network = add_network(s)
    v4 = add_subnet(s, network, "10.0.0.0/24")
    stateful = add_subnet(s, network, "fd00:1::/64")
    slaac = add_subnet(s, network, "fd00:2::/64", ipv6_ra_mode="slaac")
    port = add_port(s, network)
    got = dict(ipam.allocate(s, [v4, stateful, slaac], port.id, port.mac_address, None))
    assert got == {
        v4.id: "10.0.0.2",
        stateful.id: "fd00:1::2",
        slaac.id: ipam.eui64("fd00:2::/64", port.mac_address),
    }


# -- subnet pools: prefix arithmetic ------------------------------------------------------------


def strs(nets: list[subnetpools.Network]) -> list[str]:
    return [str(n) for n in nets]


def test_compact() -> None:
    got = subnetpools.compact(["10.0.0.0/25", "10.0.0.128/25", "10.0.1.0/24", "10.0.0.64/26"])
    assert strs(got) == ["10.0.0.0/23"]
    assert strs(subnetpools.compact(["fd00::/64", "10.1.0.0/16"])) == ["10.1.0.0/16", "fd00::/64"]


def test_subtract_and_available() -> None:
    free = subnetpools.subtract(["10.0.0.0/16"], ["10.0.0.0/24", "10.0.1.0/24"])
    assert strs(free) == [
        "10.0.2.0/23",
        "10.0.4.0/22",
        "10.0.8.0/21",
        "10.0.16.0/20",
        "10.0.32.0/19",
        "10.0.64.0/18",
        "10.0.128.0/17",
    ]
    assert subnetpools.subtract(["10.0.0.0/24"], ["10.0.0.0/16"]) == []
    # smallest blocks first, by address within a size
    order = subnetpools.available(["10.0.0.0/16", "10.9.0.0/24", "10.8.0.0/24"], [])
    assert strs(order) == ["10.8.0.0/24", "10.9.0.0/24", "10.0.0.0/16"]


def test_pick_is_best_fit() -> None:
    prefixes = ["10.0.0.0/16"]
    taken = ["10.0.0.0/24", "10.0.1.0/24"]
    assert subnetpools.pick(prefixes, taken, 25) == "10.0.2.0/25"
    assert subnetpools.pick(prefixes, [*taken, "10.0.2.0/25"], 24) == "10.0.3.0/24"
    assert subnetpools.pick(prefixes, [], 16) == "10.0.0.0/16"
    assert subnetpools.pick(prefixes, [], 15) is None
    assert subnetpools.pick(["10.0.0.0/24"], ["10.0.0.0/24"], 28) is None
    assert subnetpools.pick(["fd00::/48"], ["fd00::/64"], 64) == "fd00:0:0:1::/64"


def test_fits() -> None:
    prefixes = ["10.0.0.0/16"]
    assert subnetpools.fits(prefixes, [], "10.0.5.0/24")
    assert not subnetpools.fits(prefixes, ["10.0.5.0/25"], "10.0.5.0/24")
    assert not subnetpools.fits(prefixes, [], "10.1.0.0/24")
    assert not subnetpools.fits(prefixes, [], "10.0.0.0/15")
    assert not subnetpools.fits(prefixes, [], "fd00::/64")


def test_bounds() -> None:
    assert subnetpools.bounds(4, None, None, None) == (8, 32, 8)
    assert subnetpools.bounds(6, None, None, None) == (64, 128, 64)
    assert subnetpools.bounds(4, 16, 28, 24) == (16, 28, 24)
    for args in ((24, 16, None), (None, 33, None), (16, None, 8), (None, 24, 26)):
        with pytest.raises(BadRequest) as failed:
            subnetpools.bounds(4, *args)
        assert failed.value.kind == "IllegalSubnetPoolPrefixBounds"


def test_prefix_version_and_units() -> None:
    assert subnetpools.prefix_version(["10.0.0.0/8"]) == 4
    with pytest.raises(BadRequest):
        subnetpools.prefix_version([])
    with pytest.raises(BadRequest):
        subnetpools.prefix_version(["10.0.0.0/8", "fd00::/8"])
    assert subnetpools.quota_units(4, 24) == 256
    assert subnetpools.quota_units(6, 64) == 1
    assert subnetpools.quota_units(6, 56) == 256


def add_pool(s: Session, prefixes: list[str], **fields: object) -> m.SubnetPool:
    pool = m.SubnetPool(
        id=m.new_uuid(),
        project_id="owner",
        name="pool",
        ip_version=subnetpools.prefix_version(prefixes),
        prefixes=prefixes,
        default_prefixlen=fields.pop("default_prefixlen", 24),
        min_prefixlen=fields.pop("min_prefixlen", 8),
        max_prefixlen=fields.pop("max_prefixlen", 32),
        **fields,
    )
    s.add(pool)
    s.flush()
    return pool


def test_allocate_from_pool(session: Session) -> None:
    s = session
    network = add_network(s)
    pool = add_pool(s, ["10.0.0.0/22"], default_quota=512)
    first = subnetpools.allocate(s, pool, "p")
    assert first == "10.0.0.0/24"
    add_subnet(s, network, first, subnetpool_id=pool.id)
    assert subnetpools.allocate(s, pool, "p", prefixlen=26) == "10.0.1.0/26"
    assert subnetpools.allocate(s, pool, "p", wanted="10.0.3.0/24") == "10.0.3.0/24"
    add_subnet(s, network, "10.0.3.0/24", subnetpool_id=pool.id)
    # 512 addresses: this project has used them; another project has not
    with pytest.raises(Conflict) as quota:
        subnetpools.allocate(s, pool, "p")
    assert quota.value.kind == "SubnetPoolQuotaExceeded"
    assert subnetpools.allocate(s, pool, "other") == "10.0.1.0/24"
    with pytest.raises(BadRequest) as taken:
        subnetpools.allocate(s, pool, "other", wanted="10.0.0.128/25")
    assert taken.value.kind == "SubnetAllocationError"
    with pytest.raises(BadRequest) as too_small:
        subnetpools.allocate(s, pool, "other", prefixlen=7)
    assert too_small.value.kind == "MinPrefixSubnetAllocationError"
    pool.default_quota = None
    add_subnet(s, network, "10.0.1.0/24", subnetpool_id=pool.id)
    add_subnet(s, network, "10.0.2.0/24", subnetpool_id=pool.id)
    with pytest.raises(Conflict) as full:
        subnetpools.allocate(s, pool, "p")
    assert full.value.kind == "SubnetAllocationError"


# -- subnets: validators --------------------------------------------------------------------


def pools(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"start": a, "end": b} for a, b in pairs]


def test_check_pools() -> None:
    cidr = "10.0.0.0/24"
    subnets.check_pools(pools(("10.0.0.1", "10.0.0.9"), ("10.0.0.20", "10.0.0.254")), cidr)
    cases = [
        (pools(("10.0.0.9", "10.0.0.1")), "InvalidAllocationPool"),
        (pools(("fd00::1", "fd00::9")), "InvalidAllocationPool"),
        (pools(("10.0.0.0", "10.0.0.9")), "OutOfBoundsAllocationPool"),
        (pools(("10.0.0.1", "10.0.0.255")), "OutOfBoundsAllocationPool"),
        (pools(("10.0.0.1", "10.0.0.9"), ("10.0.0.9", "10.0.0.12")), "OverlappingAllocationPools"),
    ]
    for given, kind in cases:
        with pytest.raises((BadRequest, Conflict)) as failed:
            subnets.check_pools(given, cidr)
        assert failed.value.kind == kind
    # IPv6 has no broadcast address: the last address may be in a pool
    subnets.check_pools(pools(("fd00::2", "fd00::ffff:ffff:ffff:ffff")), "fd00::/64")
    with pytest.raises(Conflict) as gateway:
        subnets.check_gateway_outside_pools("10.0.0.5", pools(("10.0.0.1", "10.0.0.9")))
    assert gateway.value.kind == "GatewayConflictWithAllocationPools"
    assert "10.0.0.1-10.0.0.9" in gateway.value.message


def test_check_gateway() -> None:
    subnets.check_gateway("10.0.0.0/24", "10.0.0.254", 4)
    subnets.check_gateway("10.0.0.0/24", "192.168.1.1", 4)  # outside: allowed
    subnets.check_gateway("fd00::/64", "fd00::", 6)  # the subnet-router anycast address
    for cidr, gateway, version in (
        ("10.0.0.0/24", "10.0.0.0", 4),
        ("10.0.0.0/24", "10.0.0.255", 4),
        ("10.0.0.0/24", "fd00::1", 4),
    ):
        with pytest.raises(BadRequest):
            subnets.check_gateway(cidr, gateway, version)


@pytest.mark.parametrize(
    ("version", "cidr", "ra", "address", "dhcp", "ok"),
    [
        (6, "fd00::/64", "slaac", "slaac", True, True),
        (6, "fd00::/64", "dhcpv6-stateful", None, True, True),
        (6, "fd00::/80", "dhcpv6-stateful", "dhcpv6-stateful", True, True),
        (6, "fd00::/80", "slaac", None, True, False),
        (6, "fd00::/64", "slaac", "dhcpv6-stateless", True, False),
        (6, "fd00::/64", "slaac", None, False, False),
        (6, "fd00::/64", None, None, False, True),
        (4, "10.0.0.0/24", "slaac", None, True, False),
        (4, "10.0.0.0/24", None, None, True, True),
    ],
)
def test_check_ipv6_modes(
    version: int, cidr: str, ra: str | None, address: str | None, dhcp: bool, ok: bool
) -> None:
    if ok:
        subnets.check_ipv6_modes(version, cidr, ra, address, dhcp)
    else:
        with pytest.raises(BadRequest):
            subnets.check_ipv6_modes(version, cidr, ra, address, dhcp)


def test_check_dhcp_cidr() -> None:
    subnets.check_dhcp_cidr("10.0.0.0/30")
    subnets.check_dhcp_cidr("fd00::/126")
    for bad in ("10.0.0.0/31", "fd00::/127", "224.0.0.0/24", "127.0.0.0/8", "0.0.0.0/8"):
        with pytest.raises(BadRequest):
            subnets.check_dhcp_cidr(bad)


def test_network_scope(session: Session) -> None:
    s = session
    network = add_network(s)
    assert address_scopes.network_scopes(s, [network.id]).get((network.id, 4)) is None
    scope = m.AddressScope(id=m.new_uuid(), project_id="p", name="s", ip_version=4)
    s.add(scope)
    pool = add_pool(s, ["10.0.0.0/16"], address_scope_id=scope.id)
    add_subnet(s, network, "10.0.0.0/24", subnetpool_id=pool.id)
    add_subnet(s, network, "fd00::/64")
    scopes = address_scopes.network_scopes(s, [network.id])
    assert scopes.get((network.id, 4)) == scope.id
    assert scopes.get((network.id, 6)) is None


def test_external_subnets_follow_the_extension(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = session
    network = add_network(s)
    network.external = True
    rbac.set_wildcard(s, "network", network.id, rbac.EXTERNAL, network.project_id, True)
    subnet = add_subnet(s, network, "172.24.4.0/24")
    s.flush()
    other = Caller(project_id="other", is_admin=False, allowed=lambda rule, target: True)

    def seen() -> list[str]:
        return list(s.scalars(select(m.Subnet.id).where(subnets.visible(s, other))))

    monkeypatch.delitem(extensions.EXTENSIONS, subnets.SUBNET_EXTERNAL, raising=False)
    assert seen() == []
    assert "router:external" not in subnets.views(s, [subnet])[0]
    monkeypatch.setitem(extensions.EXTENSIONS, subnets.SUBNET_EXTERNAL, ("x", "y"))
    assert seen() == [subnet.id]
    assert subnets.views(s, [subnet])[0]["router:external"] is True
