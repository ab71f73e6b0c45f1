"""Subnets (/network/v2.0/subnets) through openstacksdk, the ``openstack subnet`` CLI
and raw HTTP: defaults (gateway, pools), Neutron's validation of gateways, pools, DNS
servers, routes and IPv6 modes with its error shapes, overlap rules, the network's
DHCP port, deletion while in use, isolation and sharing, bulk creation, If-Match,
quotas, tags; and network IP availability."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest
from openstack import exceptions as sdk_exc

NETWORKS = "/network/v2.0/networks"
SUBNETS = "/network/v2.0/subnets"
PORTS = "/network/v2.0/ports"
AVAILABILITY = "/network/v2.0/network-ip-availabilities"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


# -- helpers ------------------------------------------------------------------------------


def error(response, status, kind=None, message=None):
    """Assert Neutron's error shape; return its body."""
    assert response.status_code == status, response.text
    body = response.json()["NeutronError"]
    assert set(body) == {"type", "message", "detail"}
    if kind:
        assert body["type"] == kind, body
    if message:
        assert message in body["message"], body
    return body


def fresh_project(http) -> dict[str, Any]:
    """A new project with a member user: {"id", "token"}."""
    project = http.make_project()
    user = http.make_user(project_id=project["id"], role="member")
    token = http.token(user["name"], user["password"], scope={"project": {"id": project["id"]}})
    return {"id": project["id"], "token": token}


def make_network(http, token, name="net", **fields):
    body = {"network": {"name": name, **fields}}
    return http.expect(http.post(NETWORKS, token=token, json=body), 201)["network"]


def post_subnet(http, token, network_id, cidr=None, **fields):
    body: dict[str, Any] = {"network_id": network_id, "ip_version": 4, **fields}
    if cidr is not None:
        body["cidr"] = cidr
    return http.post(SUBNETS, token=token, json={"subnet": body})


def make_subnet(http, token, network_id, cidr, **fields):
    return http.expect(post_subnet(http, token, network_id, cidr, **fields), 201)["subnet"]


def dhcp_ports(http, network_id):
    query = f"{PORTS}?network_id={network_id}&device_owner=network:dhcp"
    return http.expect(http.get(query), 200)["ports"]


def external_subnets_advertised(http) -> bool:
    """Whether the cloud lists ``subnet-external-network``: then subnets of external
    networks are visible to all and carry ``router:external`` (Tempest checks so)."""
    found = http.get("/network/v2.0/extensions/subnet-external-network")
    return found.status_code == 200


def eui64(prefix: str, mac: str) -> str:
    """The SLAAC address of a MAC in a /64 (RFC 4291 modified EUI-64)."""
    octets = [int(x, 16) for x in mac.split(":")]
    octets[0] ^= 0x02
    suffix = int.from_bytes(bytes([*octets[:3], 0xFF, 0xFE, *octets[3:]]), "big")
    return str(ipaddress.ip_network(prefix).network_address + suffix)


@pytest.fixture
def net(http, unique):
    """A demo-owned network, deleted (with what is on it) afterwards."""
    network = make_network(http, http.demo_token, unique("net"))
    yield network
    for port in http.expect(http.get(f"{PORTS}?network_id={network['id']}"), 200)["ports"]:
        if not port["device_owner"].startswith("network:"):
            http.delete(f"{PORTS}/{port['id']}")
    http.delete(f"{NETWORKS}/{network['id']}")


# -- lifecycle ----------------------------------------------------------------------------


def test_subnet_lifecycle(demo_conn, net, unique):
    name = unique("sub")
    subnet = demo_conn.network.create_subnet(
        network_id=net["id"], ip_version=4, cidr="10.150.1.0/24", name=name, description="d"
    )
    assert subnet.name == name and subnet.description == "d"
    assert subnet.gateway_ip == "10.150.1.1"
    assert subnet.allocation_pools == [{"start": "10.150.1.2", "end": "10.150.1.254"}]
    assert subnet.is_dhcp_enabled is True
    assert subnet.dns_nameservers == [] and subnet.host_routes == []
    assert subnet.subnet_pool_id is None and subnet.ipv6_ra_mode is None
    assert subnet.revision_number == 0

    shown = demo_conn.network.get_subnet(subnet.id)
    assert shown.cidr == "10.150.1.0/24" and shown.network_id == net["id"]
    listed = [s.id for s in demo_conn.network.subnets(network_id=net["id"])]
    assert listed == [subnet.id]

    updated = demo_conn.network.update_subnet(
        subnet,
        name=name + "-x",
        dns_nameservers=["8.8.8.8", "1.1.1.1"],
        host_routes=[{"destination": "10.9.0.0/16", "nexthop": "10.150.1.9"}],
        gateway_ip="10.150.1.254",
        allocation_pools=[{"start": "10.150.1.10", "end": "10.150.1.200"}],
    )
    assert updated.name == name + "-x"
    # the order of DNS servers is kept
    assert updated.dns_nameservers == ["8.8.8.8", "1.1.1.1"]
    assert updated.host_routes == [{"destination": "10.9.0.0/16", "nexthop": "10.150.1.9"}]
    assert updated.gateway_ip == "10.150.1.254"
    assert updated.allocation_pools == [{"start": "10.150.1.10", "end": "10.150.1.200"}]
    assert updated.revision_number == 1

    demo_conn.network.delete_subnet(subnet)
    with pytest.raises(sdk_exc.NotFoundException):
        demo_conn.network.get_subnet(subnet.id)


def test_view_fields(http, net):
    subnet = make_subnet(http, http.demo_token, net["id"], "10.150.2.0/24")
    expected = {
        "id",
        "name",
        "description",
        "tenant_id",
        "project_id",
        "network_id",
        "ip_version",
        "cidr",
        "gateway_ip",
        "enable_dhcp",
        "allocation_pools",
        "dns_nameservers",
        "host_routes",
        "ipv6_ra_mode",
        "ipv6_address_mode",
        "subnetpool_id",
        "service_types",
        "dns_publish_fixed_ip",
        "segment_id",
        "tags",
        "created_at",
        "updated_at",
        "revision_number",
    }
    if external_subnets_advertised(http):
        expected.add("router:external")
        assert subnet["router:external"] is False
    assert set(subnet) == expected
    assert TIMESTAMP.match(subnet["created_at"]) and TIMESTAMP.match(subnet["updated_at"])
    assert subnet["project_id"] == subnet["tenant_id"]
    shown = http.expect(
        http.get(f"{SUBNETS}/{subnet['id']}?fields=cidr&fields=gateway_ip", token=http.demo_token),
        200,
    )["subnet"]
    assert shown == {"cidr": "10.150.2.0/24", "gateway_ip": "10.150.2.1"}
    # the network lists it
    network = http.expect(http.get(f"{NETWORKS}/{net['id']}"), 200)["network"]
    assert network["subnets"] == [subnet["id"]]


def test_list_filters(http, net):
    a = make_subnet(http, http.demo_token, net["id"], "10.150.3.0/24", name="fa")
    b = make_subnet(http, http.demo_token, net["id"], "fd00:150:3::/64", ip_version=6, name="fb")
    query = f"{SUBNETS}?network_id={net['id']}"
    got = http.expect(http.get(f"{query}&ip_version=6", token=http.demo_token), 200)["subnets"]
    assert [s["id"] for s in got] == [b["id"]]
    # a CIDR filter matches however the network is written
    got = http.expect(http.get(f"{query}&cidr=10.150.3.7/24", token=http.demo_token), 200)
    assert [s["id"] for s in got["subnets"]] == [a["id"]]
    got = http.expect(
        http.get(f"{query}&sort_key=name&sort_dir=desc&fields=name", token=http.demo_token), 200
    )
    assert got["subnets"] == [{"name": "fb"}, {"name": "fa"}]
    got = http.expect(http.get(f"{query}&limit=1", token=http.demo_token), 200)
    assert len(got["subnets"]) == 1 and got["subnets_links"][0]["rel"] == "next"


# -- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "status", "kind", "message"),
    [
        ({"ip_version": 5}, 400, None, "Invalid input for ip_version"),
        ({"cidr": "10.150.4.1/24"}, 400, None, "'10.150.4.0/24' is recommended"),
        ({"cidr": "fd00::/64"}, 400, "InvalidInput", "does not match the ip_version '4'"),
        ({"bogus": 1}, 400, None, "Unrecognized attribute(s) 'bogus'"),
        ({"gateway_ip": "10.150.4.0"}, 400, "InvalidInput", "Gateway is not valid on subnet"),
        ({"gateway_ip": "10.150.4.255"}, 400, "InvalidInput", "Gateway is not valid on subnet"),
        ({"gateway_ip": "fd00::1"}, 400, "InvalidInput", "gateway_ip 'fd00::1' does not match"),
        ({"gateway_ip": "nope"}, 400, None, "Invalid input for gateway_ip"),
        (
            {
                "gateway_ip": "10.150.4.5",
                "allocation_pools": [{"start": "10.150.4.2", "end": "10.150.4.20"}],
            },
            409,
            "GatewayConflictWithAllocationPools",
            "Gateway ip 10.150.4.5 conflicts with allocation pool 10.150.4.2-10.150.4.20",
        ),
        (
            {"allocation_pools": [{"start": "10.150.4.2", "end": "10.150.5.20"}]},
            400,
            "OutOfBoundsAllocationPool",
            "spans beyond the subnet cidr 10.150.4.0/24",
        ),
        (
            {"allocation_pools": [{"start": "10.150.4.0", "end": "10.150.4.20"}]},
            400,
            "OutOfBoundsAllocationPool",
            None,
        ),
        (
            {"allocation_pools": [{"start": "10.150.4.20", "end": "10.150.4.10"}]},
            400,
            "InvalidAllocationPool",
            "is not valid",
        ),
        (
            {
                "allocation_pools": [
                    {"start": "10.150.4.10", "end": "10.150.4.20"},
                    {"start": "10.150.4.20", "end": "10.150.4.30"},
                ]
            },
            409,
            "OverlappingAllocationPools",
            "Found overlapping allocation pools",
        ),
        ({"allocation_pools": [{"start": "10.150.4.10"}]}, 400, None, "allocation_pools"),
        ({"dns_nameservers": ["8.8.8.8", "8.8.8.8"]}, 400, None, "Duplicate nameserver"),
        ({"dns_nameservers": ["fd00::53"]}, 400, "InvalidInput", "dns_nameserver 'fd00::53'"),
        (
            {"dns_nameservers": [f"10.0.0.{i}" for i in range(1, 7)]},
            400,
            "DNSNameServersExhausted",
            "exceeds the limit 5",
        ),
        ({"host_routes": [{"destination": "10.0.0.0/8"}]}, 400, None, "host_routes"),
        (
            {"host_routes": [{"destination": "fd00::/8", "nexthop": "10.150.4.1"}]},
            400,
            "InvalidInput",
            "destination 'fd00::/8' does not match",
        ),
        ({"ipv6_ra_mode": "slaac"}, 400, "InvalidInput", "ipv6_ra_mode is not valid"),
        ({"ipv6_address_mode": "slaac"}, 400, "InvalidInput", "ipv6_address_mode is not valid"),
        ({"prefixlen": 24}, 400, None, "cidr and prefixlen must not be supplied together"),
        ({"segment_id": "0b2ab6ba-5bd0-4b6b-b4a5-2b5a0f1bd0c1"}, 403, None, None),
        ({"service_types": ["compute:nova"]}, 403, None, None),
    ],
)
def test_create_rejects(http, net, fields, status, kind, message):
    body = {"cidr": "10.150.4.0/24", **fields}
    response = post_subnet(http, http.demo_token, net["id"], **body)
    error(response, status, kind, message)


def test_required_and_shape_errors(http, net):
    r = http.post(SUBNETS, token=http.demo_token, json={"subnet": {"cidr": "10.150.5.0/24"}})
    error(r, 400, None, "Required attribute 'network_id' not specified")
    r = post_subnet(http, http.demo_token, net["id"])
    error(r, 400, "BadRequest", "a subnetpool must be specified in the absence of a cidr")
    r = http.post(SUBNETS, token=http.demo_token, json={"network": {}})
    error(r, 400)
    r = post_subnet(http, http.demo_token, "not-a-uuid", "10.150.5.0/24")
    error(r, 400, None, "is not a valid UUID")
    missing = "4c5b3b1c-6a5e-4b21-9f4b-6a0e9c1d2e3f"
    r = post_subnet(http, http.demo_token, missing, "10.150.5.0/24")
    error(r, 404, "NetworkNotFound", f"Network {missing} could not be found.")


def test_gateway_none_and_outside(http, net):
    no_gw = make_subnet(http, http.demo_token, net["id"], "10.150.6.0/24", gateway_ip=None)
    assert no_gw["gateway_ip"] is None
    assert no_gw["allocation_pools"] == [{"start": "10.150.6.1", "end": "10.150.6.254"}]
    # Neutron accepts a gateway outside the CIDR (an on-link router elsewhere)
    outside = make_subnet(http, http.demo_token, net["id"], "10.150.7.0/24", gateway_ip="10.1.1.1")
    assert outside["gateway_ip"] == "10.1.1.1"
    assert outside["allocation_pools"] == [{"start": "10.150.7.1", "end": "10.150.7.254"}]
    # an empty list is no pool at all (addresses only by name); null is the default
    bare = make_subnet(
        http, http.demo_token, net["id"], "10.150.42.0/24", allocation_pools=[], enable_dhcp=False
    )
    assert bare["allocation_pools"] == []
    dflt = make_subnet(http, http.demo_token, net["id"], "10.150.43.0/24", allocation_pools=None)
    assert dflt["allocation_pools"] == [{"start": "10.150.43.2", "end": "10.150.43.254"}]
    # a gateway in the middle splits the default pool
    mid = make_subnet(http, http.demo_token, net["id"], "10.150.8.0/28", gateway_ip="10.150.8.5")
    assert mid["allocation_pools"] == [
        {"start": "10.150.8.1", "end": "10.150.8.4"},
        {"start": "10.150.8.6", "end": "10.150.8.14"},
    ]


def test_dhcp_cidr_rules(http, net):
    r = post_subnet(http, http.demo_token, net["id"], "10.150.9.0/31")
    error(r, 400, "InvalidInput", "incompatible with DHCP service enabled")
    r = post_subnet(http, http.demo_token, net["id"], "224.0.0.0/24")
    error(r, 400, "InvalidInput", "Multicast IP subnet is not supported")
    r = post_subnet(http, http.demo_token, net["id"], "0.0.0.0/0", enable_dhcp=False)
    error(r, 400, "InvalidInput", "0 is not allowed as CIDR prefix length")
    small = make_subnet(http, http.demo_token, net["id"], "10.150.9.0/30", enable_dhcp=False)
    assert small["allocation_pools"] == [{"start": "10.150.9.2", "end": "10.150.9.2"}]
    # DHCP cannot be turned on later on a subnet too small for it
    tiny = make_subnet(http, http.demo_token, net["id"], "10.150.9.8/31", enable_dhcp=False)
    r = http.put(
        f"{SUBNETS}/{tiny['id']}", token=http.demo_token, json={"subnet": {"enable_dhcp": True}}
    )
    error(r, 400, "InvalidInput", "incompatible with DHCP")


def test_overlaps(http, net, unique):
    make_subnet(http, http.demo_token, net["id"], "10.150.10.0/24")
    r = post_subnet(http, http.demo_token, net["id"], "10.150.10.128/25")
    error(
        r,
        400,
        "InvalidInput",
        f"Requested subnet with cidr: 10.150.10.128/25 for network: {net['id']} overlaps "
        "with another subnet",
    )
    # the same CIDR on another network, or in another project, is fine
    other = make_network(http, http.demo_token, unique("net2"))
    try:
        make_subnet(http, http.demo_token, other["id"], "10.150.10.0/24")
        project = fresh_project(http)
        theirs = make_network(http, project["token"], unique("net3"))
        make_subnet(http, project["token"], theirs["id"], "10.150.10.0/24")
        http.expect(http.delete(f"{NETWORKS}/{theirs['id']}"), 204)
    finally:
        http.expect(http.delete(f"{NETWORKS}/{other['id']}"), 204)


def test_read_only_attributes(http, net):
    subnet = make_subnet(http, http.demo_token, net["id"], "10.150.11.0/24")
    for field, value in (
        ("cidr", "10.150.12.0/24"),
        ("ip_version", 6),
        ("network_id", net["id"]),
        ("ipv6_ra_mode", "slaac"),
        ("subnetpool_id", None),
    ):
        r = http.put(
            f"{SUBNETS}/{subnet['id']}", token=http.demo_token, json={"subnet": {field: value}}
        )
        error(r, 400, None, f"Cannot update read-only attribute {field}")


def test_update_checks(http, net):
    subnet = make_subnet(
        http,
        http.demo_token,
        net["id"],
        "10.150.13.0/24",
        allocation_pools=[{"start": "10.150.13.10", "end": "10.150.13.20"}],
    )
    url = f"{SUBNETS}/{subnet['id']}"
    r = http.put(url, token=http.demo_token, json={"subnet": {"gateway_ip": "10.150.13.15"}})
    error(r, 409, "GatewayConflictWithAllocationPools")
    r = http.put(url, token=http.demo_token, json={"subnet": {"gateway_ip": "10.150.13.255"}})
    error(r, 400, "InvalidInput", "Gateway is not valid on subnet")
    r = http.put(
        url,
        token=http.demo_token,
        json={"subnet": {"allocation_pools": [{"start": "10.150.13.1", "end": "10.150.13.9"}]}},
    )
    error(r, 409, "GatewayConflictWithAllocationPools")
    # a port outside the new pools keeps its address
    port = http.expect(
        http.post(
            PORTS,
            token=http.demo_token,
            json={"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.150.13.12"}]}},
        ),
        201,
    )["port"]
    moved = http.expect(
        http.put(
            url,
            token=http.demo_token,
            json={
                "subnet": {"allocation_pools": [{"start": "10.150.13.100", "end": "10.150.13.110"}]}
            },
        ),
        200,
    )["subnet"]
    assert moved["allocation_pools"] == [{"start": "10.150.13.100", "end": "10.150.13.110"}]
    held = http.expect(http.get(f"{PORTS}/{port['id']}"), 200)["port"]["fixed_ips"]
    assert held[0]["ip_address"] == "10.150.13.12"
    # the gateway cannot move onto an address a port holds
    r = http.put(url, token=http.demo_token, json={"subnet": {"gateway_ip": "10.150.13.12"}})
    error(r, 409, "IpAddressInUse")
    # no gateway at all
    cleared = http.expect(
        http.put(url, token=http.demo_token, json={"subnet": {"gateway_ip": None}}), 200
    )["subnet"]
    assert cleared["gateway_ip"] is None
    # dns_nameservers null means none
    r = http.put(url, token=http.demo_token, json={"subnet": {"dns_nameservers": None}})
    assert http.expect(r, 200)["subnet"]["dns_nameservers"] == []


# -- IPv6 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ra", "address"),
    [
        ("slaac", "slaac"),
        ("dhcpv6-stateful", "dhcpv6-stateful"),
        ("dhcpv6-stateless", "dhcpv6-stateless"),
        (None, "slaac"),
        ("dhcpv6-stateful", None),
    ],
)
def test_ipv6_modes_accepted(http, net, ra, address):
    fields = {"ip_version": 6}
    if ra:
        fields["ipv6_ra_mode"] = ra
    if address:
        fields["ipv6_address_mode"] = address
    subnet = make_subnet(http, http.demo_token, net["id"], "fd00:150:14::/64", **fields)
    assert subnet["ipv6_ra_mode"] == ra and subnet["ipv6_address_mode"] == address
    assert subnet["gateway_ip"] == "fd00:150:14::1"
    assert subnet["allocation_pools"] == [
        {"start": "fd00:150:14::2", "end": "fd00:150:14:0:ffff:ffff:ffff:ffff"}
    ]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"ipv6_ra_mode": "slaac", "ipv6_address_mode": "dhcpv6-stateful"},
            "If both attributes are set, they must be the same value",
        ),
        (
            {"ipv6_ra_mode": "dhcpv6-stateless", "ipv6_address_mode": "slaac"},
            "they must be the same value",
        ),
        (
            {"ipv6_address_mode": "slaac", "cidr": "fd00:150:15::/80"},
            "requires the prefix to be /64",
        ),
        ({"ipv6_address_mode": "slaac", "enable_dhcp": False}, "cannot be set when enable_dhcp"),
        ({"ipv6_ra_mode": "bogus"}, "Invalid input for ipv6_ra_mode"),
    ],
)
def test_ipv6_modes_rejected(http, net, fields, message):
    body = {"ip_version": 6, "cidr": "fd00:150:15::/64", **fields}
    error(post_subnet(http, http.demo_token, net["id"], **body), 400, None, message)


def test_slaac_addresses_and_delete_with_ports(http, net):
    v4 = make_subnet(http, http.demo_token, net["id"], "10.150.16.0/24")
    port = http.expect(
        http.post(PORTS, token=http.demo_token, json={"port": {"network_id": net["id"]}}), 201
    )["port"]
    slaac = make_subnet(
        http,
        http.demo_token,
        net["id"],
        "fd00:150:16::/64",
        ip_version=6,
        ipv6_ra_mode="slaac",
        ipv6_address_mode="slaac",
    )
    # the port already on the network got its EUI-64 address on the new subnet
    fixed = http.expect(http.get(f"{PORTS}/{port['id']}"), 200)["port"]["fixed_ips"]
    by_subnet = {f["subnet_id"]: f["ip_address"] for f in fixed}
    assert set(by_subnet) == {v4["id"], slaac["id"]}
    assert by_subnet[slaac["id"]] == eui64("fd00:150:16::/64", port["mac_address"])
    # a SLAAC subnet goes even while ports use it; their addresses go with it
    http.expect(http.delete(f"{SUBNETS}/{slaac['id']}", token=http.demo_token), 204)
    fixed = http.expect(http.get(f"{PORTS}/{port['id']}"), 200)["port"]["fixed_ips"]
    assert [f["subnet_id"] for f in fixed] == [v4["id"]]
    # a stateful subnet with a port on it does not
    error(http.delete(f"{SUBNETS}/{v4['id']}", token=http.demo_token), 409, "SubnetInUse")


# -- DHCP port ----------------------------------------------------------------------------


def test_dhcp_port_follows_subnets(http, net):
    assert dhcp_ports(http, net["id"]) == []
    first = make_subnet(http, http.demo_token, net["id"], "10.150.17.0/24")
    (port,) = dhcp_ports(http, net["id"])
    assert port["device_id"] == f"dhcp-{net['id']}"
    assert port["project_id"] == net["project_id"]
    assert port["fixed_ips"] == [{"subnet_id": first["id"], "ip_address": "10.150.17.2"}]

    second = make_subnet(http, http.demo_token, net["id"], "10.150.18.0/24")
    quiet = make_subnet(http, http.demo_token, net["id"], "10.150.19.0/24", enable_dhcp=False)
    (again,) = dhcp_ports(http, net["id"])
    assert again["id"] == port["id"]
    assert {f["subnet_id"] for f in again["fixed_ips"]} == {first["id"], second["id"]}

    # turning DHCP off releases the address, on gives one
    url = f"{SUBNETS}/{first['id']}"
    http.expect(http.put(url, token=http.demo_token, json={"subnet": {"enable_dhcp": False}}), 200)
    http.expect(http.put(f"{SUBNETS}/{quiet['id']}", json={"subnet": {"enable_dhcp": True}}), 200)
    (again,) = dhcp_ports(http, net["id"])
    assert {f["subnet_id"] for f in again["fixed_ips"]} == {second["id"], quiet["id"]}

    # the DHCP port does not keep a subnet; the last DHCP subnet takes the port along
    http.expect(http.delete(f"{SUBNETS}/{second['id']}", token=http.demo_token), 204)
    http.expect(http.delete(f"{SUBNETS}/{quiet['id']}", token=http.demo_token), 204)
    assert dhcp_ports(http, net["id"]) == []
    http.expect(http.delete(f"{SUBNETS}/{first['id']}", token=http.demo_token), 204)


def test_dhcp_port_when_enabled_later(http, net):
    subnet = make_subnet(http, http.demo_token, net["id"], "10.150.20.0/24", enable_dhcp=False)
    assert dhcp_ports(http, net["id"]) == []
    http.expect(http.put(f"{SUBNETS}/{subnet['id']}", json={"subnet": {"enable_dhcp": True}}), 200)
    (port,) = dhcp_ports(http, net["id"])
    assert port["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "10.150.20.2"}]
    http.expect(http.put(f"{SUBNETS}/{subnet['id']}", json={"subnet": {"enable_dhcp": False}}), 200)
    assert dhcp_ports(http, net["id"]) == []


def test_delete_in_use(http, net):
    subnet = make_subnet(http, http.demo_token, net["id"], "10.150.21.0/24")
    port = http.expect(
        http.post(PORTS, token=http.demo_token, json={"port": {"network_id": net["id"]}}), 201
    )["port"]
    body = error(
        http.delete(f"{SUBNETS}/{subnet['id']}", token=http.demo_token), 409, "SubnetInUse"
    )
    assert body["message"] == (
        f"Unable to complete operation on subnet {subnet['id']}: One or more ports have an IP "
        "allocation from this subnet."
    )
    http.expect(http.delete(f"{PORTS}/{port['id']}", token=http.demo_token), 204)
    http.expect(http.delete(f"{SUBNETS}/{subnet['id']}", token=http.demo_token), 204)
    assert dhcp_ports(http, net["id"]) == []
    error(http.get(f"{SUBNETS}/{subnet['id']}", token=http.demo_token), 404, "SubnetNotFound")


def test_router_interface_keeps_subnet_and_gateway(http, net, unique):
    subnet = make_subnet(http, http.demo_token, net["id"], "10.150.22.0/24")
    router = http.expect(
        http.post(
            "/network/v2.0/routers", token=http.demo_token, json={"router": {"name": unique("r")}}
        ),
        201,
    )["router"]
    rurl = f"/network/v2.0/routers/{router['id']}"
    http.expect(
        http.put(
            f"{rurl}/add_router_interface", token=http.demo_token, json={"subnet_id": subnet["id"]}
        ),
        200,
    )
    try:
        error(http.delete(f"{SUBNETS}/{subnet['id']}", token=http.demo_token), 409, "SubnetInUse")
        r = http.put(
            f"{SUBNETS}/{subnet['id']}",
            token=http.demo_token,
            json={"subnet": {"gateway_ip": "10.150.22.254"}},
        )
        error(r, 409, "GatewayIpInUse", "Current gateway ip 10.150.22.1 already in use by port")
    finally:
        http.put(
            f"{rurl}/remove_router_interface",
            token=http.demo_token,
            json={"subnet_id": subnet["id"]},
        )
        http.delete(rurl, token=http.demo_token)


# -- access ---------------------------------------------------------------------------------


def test_other_project_sees_nothing(http, net):
    subnet = make_subnet(http, http.demo_token, net["id"], "10.150.23.0/24")
    other = fresh_project(http)
    url = f"{SUBNETS}/{subnet['id']}"
    error(http.get(url, token=other["token"]), 404, "SubnetNotFound")
    error(
        http.put(url, token=other["token"], json={"subnet": {"name": "x"}}), 404, "SubnetNotFound"
    )
    error(http.delete(url, token=other["token"]), 404, "SubnetNotFound")
    listed = http.expect(http.get(SUBNETS, token=other["token"]), 200)["subnets"]
    assert subnet["id"] not in [s["id"] for s in listed]
    # nor can it put a subnet on the network
    r = post_subnet(http, other["token"], net["id"], "10.150.24.0/24")
    error(r, 404, "NetworkNotFound")
    # tags too
    error(http.put(f"{url}/tags/x", token=other["token"]), 404, "SubnetNotFound")


def test_shared_network_subnets(http, unique):
    network = make_network(http, http.admin_token, unique("shared"), shared=True)
    try:
        subnet = make_subnet(http, http.admin_token, network["id"], "10.150.25.0/24")
        other = fresh_project(http)
        shown = http.expect(http.get(f"{SUBNETS}/{subnet['id']}", token=other["token"]), 200)
        assert shown["subnet"]["id"] == subnet["id"]
        # only the network's owner adds subnets; others may not change them
        r = post_subnet(http, other["token"], network["id"], "10.150.26.0/24")
        error(r, 403)
        r = http.put(
            f"{SUBNETS}/{subnet['id']}", token=other["token"], json={"subnet": {"name": "x"}}
        )
        error(r, 404, "SubnetNotFound")
        error(http.delete(f"{SUBNETS}/{subnet['id']}", token=other["token"]), 403)
    finally:
        http.expect(http.delete(f"{NETWORKS}/{network['id']}"), 204)


def test_external_network_subnets(http, unique):
    network = make_network(http, http.admin_token, unique("ext"), **{"router:external": True})
    try:
        subnet = make_subnet(
            http, http.admin_token, network["id"], "10.150.27.0/24", enable_dhcp=False
        )
        listed = http.expect(
            http.get(f"{SUBNETS}?network_id={network['id']}", token=http.demo_token), 200
        )["subnets"]
        # visible to all with subnet-external-network, as Neutron has it; else hidden
        if external_subnets_advertised(http):
            assert subnet["router:external"] is True
            assert [s["id"] for s in listed] == [subnet["id"]]
        else:
            assert listed == []
        r = post_subnet(http, http.demo_token, network["id"], "10.150.28.0/24")
        error(r, 403)
    finally:
        http.expect(http.delete(f"{NETWORKS}/{network['id']}"), 204)


def test_admin_creates_for_a_project(http, net):
    other = fresh_project(http)
    subnet = make_subnet(
        http, http.admin_token, net["id"], "10.150.29.0/24", project_id=other["id"]
    )
    assert subnet["project_id"] == other["id"]
    r = post_subnet(http, http.demo_token, net["id"], "10.150.30.0/24", project_id=other["id"])
    error(r, 400)


# -- bulk, If-Match, quota, tags --------------------------------------------------------------


def test_bulk_create(http, net):
    items = [
        {"network_id": net["id"], "ip_version": 4, "cidr": "10.150.31.0/24", "name": "b1"},
        {"network_id": net["id"], "ip_version": 4, "cidr": "10.150.32.0/24", "name": "b2"},
    ]
    made = http.expect(http.post(SUBNETS, token=http.demo_token, json={"subnets": items}), 201)
    assert [s["name"] for s in made["subnets"]] == ["b1", "b2"]
    # all or nothing: the second overlaps the first
    bad = [
        {"network_id": net["id"], "ip_version": 4, "cidr": "10.150.33.0/24", "name": "b3"},
        {"network_id": net["id"], "ip_version": 4, "cidr": "10.150.33.0/25", "name": "b4"},
    ]
    error(http.post(SUBNETS, token=http.demo_token, json={"subnets": bad}), 400, "InvalidInput")
    names = [
        s["name"]
        for s in http.expect(http.get(f"{SUBNETS}?network_id={net['id']}"), 200)["subnets"]
    ]
    assert sorted(names) == ["b1", "b2"]
    # one DHCP port with an address on each
    (port,) = dhcp_ports(http, net["id"])
    assert len(port["fixed_ips"]) == 2


def test_if_match(http, net):
    subnet = make_subnet(http, http.demo_token, net["id"], "10.150.34.0/24")
    url = f"{SUBNETS}/{subnet['id']}"
    r = http.put(
        url,
        token=http.demo_token,
        headers={"If-Match": "revision_number=7"},
        json={"subnet": {"name": "x"}},
    )
    error(r, 412, "RevisionNumberConstraintFailed")
    r = http.put(
        url,
        token=http.demo_token,
        headers={"If-Match": "revision_number=0"},
        json={"subnet": {"name": "x"}},
    )
    assert http.expect(r, 200)["subnet"]["revision_number"] == 1
    error(http.delete(url, token=http.demo_token, headers={"If-Match": "revision_number=0"}), 412)
    r = http.delete(url, token=http.demo_token, headers={"If-Match": "revision_number=1"})
    http.expect(r, 204)


def test_quota(http, unique):
    project = fresh_project(http)
    http.expect(
        http.put(f"/network/v2.0/quotas/{project['id']}", json={"quota": {"subnet": 1}}), 200
    )
    network = make_network(http, project["token"], unique("q"))
    make_subnet(http, project["token"], network["id"], "10.150.35.0/24")
    r = post_subnet(http, project["token"], network["id"], "10.150.36.0/24")
    error(r, 409, "OverQuota", "Quota exceeded for resources: ['subnet']")
    http.expect(http.delete(f"{NETWORKS}/{network['id']}"), 204)


def test_tags(http, net):
    subnet = make_subnet(http, http.demo_token, net["id"], "10.150.37.0/24")
    url = f"{SUBNETS}/{subnet['id']}/tags"
    http.expect(http.put(url, token=http.demo_token, json={"tags": ["red", "blue"]}), 200)
    http.expect(http.put(f"{url}/green", token=http.demo_token), 201)
    shown = http.expect(http.get(f"{SUBNETS}/{subnet['id']}", token=http.demo_token), 200)
    assert shown["subnet"]["tags"] == ["blue", "green", "red"]
    found = http.expect(http.get(f"{SUBNETS}?tags=red,green", token=http.demo_token), 200)
    assert [s["id"] for s in found["subnets"]] == [subnet["id"]]


# -- the CLI -----------------------------------------------------------------------------------


def test_cli(run_cli, unique):
    network = unique("clinet")
    run_cli("network", "create", network, cloud="nubo-demo")
    try:
        name = unique("clisub")
        made = run_cli(
            "subnet",
            "create",
            "--network",
            network,
            "--subnet-range",
            "10.150.38.0/24",
            "--dns-nameserver",
            "9.9.9.9",
            "--allocation-pool",
            "start=10.150.38.10,end=10.150.38.20",
            name,
            cloud="nubo-demo",
        )
        assert made["cidr"] == "10.150.38.0/24" and made["gateway_ip"] == "10.150.38.1"
        listed = run_cli("subnet", "list", "--network", network, cloud="nubo-demo")
        assert [s["Name"] for s in listed] == [name]
        run_cli(
            "subnet", "set", "--dns-nameserver", "9.9.9.10", "--no-dhcp", name, cloud="nubo-demo"
        )
        shown = run_cli("subnet", "show", name, cloud="nubo-demo")
        # the CLI sends the new server first; the order it sent is kept
        assert shown["dns_nameservers"] == ["9.9.9.10", "9.9.9.9"]
        assert shown["enable_dhcp"] is False
        run_cli("subnet", "unset", "--dns-nameserver", "9.9.9.9", name, cloud="nubo-demo")
        shown = run_cli("subnet", "show", name, cloud="nubo-demo")
        assert shown["dns_nameservers"] == ["9.9.9.10"]
        with pytest.raises(run_cli.Error) as failed:
            run_cli(
                "subnet",
                "create",
                "--network",
                network,
                "--subnet-range",
                "10.150.38.0/25",
                unique("dup"),
                cloud="nubo-demo",
            )
        assert "overlaps with another subnet" in failed.value.stderr
        run_cli("subnet", "delete", name, cloud="nubo-demo")
        assert run_cli("subnet", "list", "--network", network, cloud="nubo-demo") == []
    finally:
        run_cli("network", "delete", network, cloud="nubo-demo")


# -- network IP availability ------------------------------------------------------------------


def test_ip_availability(http, net):
    v4 = make_subnet(
        http,
        http.demo_token,
        net["id"],
        "10.150.39.0/24",
        name="av4",
        allocation_pools=[{"start": "10.150.39.10", "end": "10.150.39.19"}],
    )
    v6 = make_subnet(
        http, http.demo_token, net["id"], "fd00:150:39::/120", ip_version=6, name="av6"
    )
    http.expect(
        http.post(PORTS, token=http.demo_token, json={"port": {"network_id": net["id"]}}), 201
    )
    shown = http.expect(http.get(f"{AVAILABILITY}/{net['id']}"), 200)["network_ip_availability"]
    assert shown["network_id"] == net["id"] and shown["network_name"] == net["name"]
    assert shown["project_id"] == shown["tenant_id"] == net["project_id"]
    by_id = {s["subnet_id"]: s for s in shown["subnet_ip_availability"]}
    # the DHCP port and the new port hold one address each on both subnets
    assert by_id[v4["id"]] == {
        "subnet_id": v4["id"],
        "subnet_name": "av4",
        "cidr": "10.150.39.0/24",
        "ip_version": 4,
        "total_ips": 10,
        "used_ips": 2,
    }
    # ::2 to ::ff; the port also took a (stateful) IPv6 address
    assert by_id[v6["id"]]["total_ips"] == 254 and by_id[v6["id"]]["used_ips"] == 2
    assert shown["total_ips"] == 264 and shown["used_ips"] == 4

    listed = http.expect(http.get(f"{AVAILABILITY}?network_id={net['id']}&ip_version=6"), 200)[
        "network_ip_availabilities"
    ]
    assert len(listed) == 1
    assert [s["subnet_id"] for s in listed[0]["subnet_ip_availability"]] == [v6["id"]]
    # admin only: the list is empty and the network unknown to others
    mine = http.expect(http.get(AVAILABILITY, token=http.demo_token), 200)
    assert mine == {"network_ip_availabilities": []}
    error(http.get(f"{AVAILABILITY}/{net['id']}", token=http.demo_token), 404)
    missing = "4c5b3b1c-6a5e-4b21-9f4b-6a0e9c1d2e3f"
    error(http.get(f"{AVAILABILITY}/{missing}"), 404, "NetworkNotFound")


def test_ip_availability_sdk(admin_conn, net, http):
    make_subnet(http, http.demo_token, net["id"], "10.150.40.0/28")
    found = admin_conn.network.get_network_ip_availability(net["id"])
    assert found.total_ips == 13 and found.used_ips == 1
    ids = [a.network_id for a in admin_conn.network.network_ip_availabilities()]
    assert net["id"] in ids


def test_ipv6_gateway_and_total(http, net):
    subnet = make_subnet(http, http.demo_token, net["id"], "fd00:150:41::/64", ip_version=6)
    total = ipaddress.ip_network("fd00:150:41::/64").num_addresses - 2
    shown = http.expect(http.get(f"{AVAILABILITY}/{net['id']}"), 200)["network_ip_availability"]
    assert shown["subnet_ip_availability"][0]["total_ips"] == total
    assert subnet["gateway_ip"] == "fd00:150:41::1"
