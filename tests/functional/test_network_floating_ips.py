"""Floating IPs (/network/v2.0/floatingips) and their port forwardings through
openstacksdk, the ``openstack floating ip`` CLI and raw HTTP: allocation on an external
network, association with a port behind a router (and every way it can be refused),
port details, filters, what a floating IP keeps in use, port forwardings and their
collisions, tags, isolation between projects and Neutron's error shapes."""

from __future__ import annotations

import ipaddress
import itertools

import pytest

FIPS = "/network/v2.0/floatingips"
MISSING = "6b8e3c52-8c8e-4c1d-a6a5-0d3a9e7f0b11"
_cidrs = itertools.count(1)


def next_cidr() -> str:
    """A /24 of 10.220-221.x.0 per test subnet: tests share one cloud."""
    n = next(_cidrs)
    return f"10.{220 + n // 256}.{n % 256}.0/24"


def error(response, status, kind=None):
    assert response.status_code == status, response.text
    body = response.json()["NeutronError"]
    assert set(body) == {"type", "message", "detail"}
    if kind:
        assert body["type"] == kind, body
    return body


@pytest.fixture(scope="module")
def external(admin_conn):
    """An external (VXLAN) network with one subnet: (network, subnet)."""
    net = admin_conn.network.create_network(
        name="ext-fips", is_router_external=True, provider_network_type="vxlan"
    )
    sub = admin_conn.network.create_subnet(
        network_id=net.id,
        ip_version=4,
        cidr="172.30.9.0/24",
        gateway_ip="172.30.9.1",
        is_dhcp_enabled=False,
    )
    yield net, sub
    for fip in admin_conn.network.ips(floating_network_id=net.id):
        admin_conn.network.delete_ip(fip, ignore_missing=True)
    for router in admin_conn.network.routers():
        if (router.external_gateway_info or {}).get("network_id") == net.id:
            admin_conn.network.update_router(router, external_gateway_info=None)
    admin_conn.network.delete_network(net.id, ignore_missing=True)


class Routed:
    """A project's network and subnet behind a router whose gateway is on ``external``."""

    def __init__(self, conn, admin_conn, unique, external_net):
        self.conn = conn
        self.admin = admin_conn
        self.network = conn.network.create_network(name=unique("net"))
        self.cidr = next_cidr()
        self.subnet = conn.network.create_subnet(
            network_id=self.network.id, ip_version=4, cidr=self.cidr
        )
        self.router = conn.network.create_router(
            name=unique("router"), external_gateway_info={"network_id": external_net.id}
        )
        conn.network.add_interface_to_router(self.router, subnet_id=self.subnet.id)

    def port(self, **attrs):
        return self.conn.network.create_port(network_id=self.network.id, **attrs)

    def cleanup(self):
        net = self.admin.network
        for fip in net.ips(router_id=self.router.id):
            net.delete_ip(fip, ignore_missing=True)
        for port in net.ports(device_id=self.router.id, device_owner="network:router_interface"):
            net.remove_interface_from_router(self.router.id, port_id=port.id)
        net.delete_router(self.router.id, ignore_missing=True)
        for port in net.ports(network_id=self.network.id):
            if not port.device_owner.startswith("network:"):
                net.delete_port(port, ignore_missing=True)
        net.delete_network(self.network.id, ignore_missing=True)


@pytest.fixture
def routed(demo_conn, admin_conn, unique, external):
    made = Routed(demo_conn, admin_conn, unique, external[0])
    yield made
    made.cleanup()


@pytest.fixture
def fips(demo_conn, admin_conn):
    """Floating IP ids to delete after the test."""
    made = []
    yield made
    for fip_id in made:
        admin_conn.network.delete_ip(fip_id, ignore_missing=True)


@pytest.fixture(scope="module")
def other_project(http):
    project = http.make_project()
    user = http.make_user(project_id=project["id"], role="member")
    token = http.token(user["name"], user["password"], scope={"project": {"id": project["id"]}})
    return project, token


# -- lifecycle -----------------------------------------------------------------------------------


def test_floating_ip_lifecycle(demo_conn, admin_conn, http, external, fips):
    ext_net, ext_sub = external
    fip = demo_conn.network.create_ip(floating_network_id=ext_net.id, description="d")
    fips.append(fip.id)
    assert ipaddress.ip_address(fip.floating_ip_address) in ipaddress.ip_network(ext_sub.cidr)
    assert fip.status == "DOWN" and fip.port_id is None and fip.router_id is None
    assert fip.description == "d"

    raw = http.expect(http.get(f"{FIPS}/{fip.id}", token=http.demo_token), 200)["floatingip"]
    assert raw["tenant_id"] == raw["project_id"] == fip.project_id
    assert raw["port_details"] is None and raw["port_forwardings"] == []
    assert raw["fixed_ip_address"] is None and raw["qos_policy_id"] is None
    assert raw["dns_name"] == "" and raw["dns_domain"] == "" and raw["tags"] == []
    assert "name" not in raw and raw["created_at"].endswith("Z")
    # the address is held by a port of no project, on the external network
    (held,) = admin_conn.network.ports(device_id=fip.id)
    assert held.device_owner == "network:floatingip" and held.project_id == ""
    assert held.fixed_ips[0]["ip_address"] == fip.floating_ip_address

    updated = demo_conn.network.update_ip(fip, description="e")
    assert updated.description == "e" and updated.revision_number > raw["revision_number"]
    listed = list(demo_conn.network.ips(floating_network_id=ext_net.id))
    assert fip.id in [f.id for f in listed]
    by_address = list(demo_conn.network.ips(floating_ip_address=fip.floating_ip_address))
    assert [f.id for f in by_address] == [fip.id]

    demo_conn.network.delete_ip(fip)
    error(http.get(f"{FIPS}/{fip.id}", token=http.demo_token), 404, "FloatingIPNotFound")
    assert list(admin_conn.network.ports(device_id=fip.id)) == []


def test_create_errors(demo_conn, http, routed, external, fips):
    ext_net, ext_sub = external
    r = http.post(FIPS, token=http.demo_token, json={"floatingip": {}})
    error(r, 400)
    r = http.post(
        FIPS, token=http.demo_token, json={"floatingip": {"floating_network_id": MISSING}}
    )
    error(r, 404, "NetworkNotFound")
    r = http.post(
        FIPS, token=http.demo_token, json={"floatingip": {"floating_network_id": routed.network.id}}
    )
    assert "is not a valid external network" in error(r, 400)["message"]
    # a chosen address is an admin's
    wanted = str(ipaddress.ip_network(ext_sub.cidr)[222])
    body = {"floatingip": {"floating_network_id": ext_net.id, "floating_ip_address": wanted}}
    error(http.post(FIPS, token=http.demo_token, json=body), 403)
    chosen = http.expect(http.post(FIPS, json=body), 201)["floatingip"]
    fips.append(chosen["id"])
    assert chosen["floating_ip_address"] == wanted
    error(http.post(FIPS, json=body), 409)
    body = {"floatingip": {"floating_network_id": ext_net.id, "fixed_ip_address": "10.0.0.5"}}
    assert (
        "without a port_id"
        in error(http.post(FIPS, token=http.demo_token, json=body), 400)["message"]
    )


# -- association ---------------------------------------------------------------------------------


def test_associate_and_disassociate(demo_conn, http, routed, external, fips):
    ext_net, _ = external
    port = routed.port(name="vm-port")
    fixed = port.fixed_ips[0]["ip_address"]
    fip = demo_conn.network.create_ip(floating_network_id=ext_net.id, port_id=port.id)
    fips.append(fip.id)
    assert fip.status == "ACTIVE" and fip.port_id == port.id
    assert fip.fixed_ip_address == fixed and fip.router_id == routed.router.id
    raw = http.expect(http.get(f"{FIPS}/{fip.id}", token=http.demo_token), 200)["floatingip"]
    assert raw["port_details"] == {
        "name": "vm-port",
        "network_id": routed.network.id,
        "mac_address": port.mac_address,
        "admin_state_up": True,
        "status": port.status,
        "device_id": "",
        "device_owner": "",
    }
    assert [f.id for f in demo_conn.network.ips(port_id=port.id)] == [fip.id]

    # one floating IP per fixed address
    second = demo_conn.network.create_ip(floating_network_id=ext_net.id)
    fips.append(second.id)
    r = http.put(
        f"{FIPS}/{second.id}", token=http.demo_token, json={"floatingip": {"port_id": port.id}}
    )
    error(r, 409, "FloatingIPPortAlreadyAssociated")
    r = http.put(
        f"{FIPS}/{second.id}",
        token=http.demo_token,
        json={"floatingip": {"port_id": port.id, "fixed_ip_address": "10.255.255.1"}},
    )
    assert "does not have fixed ip" in error(r, 400)["message"]

    # the router's interface and gateway are needed meanwhile
    r = http.put(
        f"/network/v2.0/routers/{routed.router.id}/remove_router_interface",
        token=http.demo_token,
        json={"subnet_id": routed.subnet.id},
    )
    error(r, 409, "RouterInterfaceInUseByFloatingIP")
    r = http.put(
        f"/network/v2.0/routers/{routed.router.id}",
        token=http.demo_token,
        json={"router": {"external_gateway_info": None}},
    )
    error(r, 409, "RouterExternalGatewayInUseByFloatingIp")

    # disassociate: port_id null
    freed = demo_conn.network.update_ip(fip, port_id=None)
    assert freed.port_id is None and freed.fixed_ip_address is None
    assert freed.router_id is None and freed.status == "DOWN"
    moved = demo_conn.network.update_ip(second, port_id=port.id)
    assert moved.port_id == port.id


def test_unreachable_port(demo_conn, http, external, fips, unique):
    ext_net, _ = external
    lonely = demo_conn.network.create_network(name=unique("net"))
    try:
        demo_conn.network.create_subnet(network_id=lonely.id, ip_version=4, cidr=next_cidr())
        port = demo_conn.network.create_port(network_id=lonely.id)
        body = {"floatingip": {"floating_network_id": ext_net.id, "port_id": port.id}}
        r = http.post(FIPS, token=http.demo_token, json=body)
        error(r, 404, "ExternalGatewayForFloatingIPNotFound")
        fip = demo_conn.network.create_ip(floating_network_id=ext_net.id)
        fips.append(fip.id)
        r = http.put(
            f"{FIPS}/{fip.id}", token=http.demo_token, json={"floatingip": {"port_id": port.id}}
        )
        error(r, 404, "ExternalGatewayForFloatingIPNotFound")
        demo_conn.network.delete_port(port)
    finally:
        demo_conn.network.delete_network(lonely, ignore_missing=True)


def test_deleting_the_port_disassociates(demo_conn, routed, external, fips):
    port = routed.port()
    fip = demo_conn.network.create_ip(floating_network_id=external[0].id, port_id=port.id)
    fips.append(fip.id)
    demo_conn.network.delete_port(port)
    after = demo_conn.network.get_ip(fip.id)
    assert (after.port_id, after.fixed_ip_address, after.router_id) == (None, None, None)


# -- isolation and tags --------------------------------------------------------------------------


def test_isolation(demo_conn, http, routed, external, fips, other_project):
    _, token = other_project
    fip = demo_conn.network.create_ip(floating_network_id=external[0].id)
    fips.append(fip.id)
    url = f"{FIPS}/{fip.id}"
    error(http.get(url, token=token), 404, "FloatingIPNotFound")
    error(http.put(url, token=token, json={"floatingip": {"port_id": None}}), 404)
    error(http.delete(url, token=token), 404, "FloatingIPNotFound")
    error(http.get(f"{url}/port_forwardings", token=token), 404, "FloatingIPNotFound")
    listed = http.expect(http.get(FIPS, token=token), 200)["floatingips"]
    assert fip.id not in [f["id"] for f in listed]
    # demo's port is not theirs to point at
    port = routed.port()
    theirs = http.expect(
        http.post(FIPS, token=token, json={"floatingip": {"floating_network_id": external[0].id}}),
        201,
    )["floatingip"]
    fips.append(theirs["id"])
    r = http.put(f"{FIPS}/{theirs['id']}", token=token, json={"floatingip": {"port_id": port.id}})
    error(r, 404, "PortNotFound")


def test_tags(demo_conn, http, external, fips):
    fip = demo_conn.network.create_ip(floating_network_id=external[0].id)
    fips.append(fip.id)
    http.expect(http.put(f"{FIPS}/{fip.id}/tags/blue", token=http.demo_token), 201)
    assert demo_conn.network.get_ip(fip.id).tags == ["blue"]
    listed = http.expect(http.get(f"{FIPS}?tags=blue", token=http.demo_token), 200)
    assert [f["id"] for f in listed["floatingips"]] == [fip.id]


# -- port forwardings ----------------------------------------------------------------------------


def test_port_forwardings(demo_conn, http, routed, external, fips):
    port = routed.port()
    address = port.fixed_ips[0]["ip_address"]
    fip = demo_conn.network.create_ip(floating_network_id=external[0].id)
    fips.append(fip.id)
    pf = demo_conn.network.create_port_forwarding(
        floatingip_id=fip.id,
        internal_port_id=port.id,
        internal_ip_address=address,
        internal_port=22,
        external_port=2222,
        protocol="tcp",
        description="ssh",
    )
    assert (pf.internal_port, pf.external_port, pf.protocol) == (22, 2222, "tcp")
    url = f"{FIPS}/{fip.id}/port_forwardings"
    raw = http.expect(http.get(f"{url}/{pf.id}", token=http.demo_token), 200)["port_forwarding"]
    assert raw["external_port_range"] == "2222:2222" and raw["description"] == "ssh"
    shown = demo_conn.network.get_ip(fip.id)
    assert shown.router_id == routed.router.id
    assert [p["id"] for p in shown.port_forwardings] == [pf.id]

    base = {
        "internal_port_id": port.id,
        "internal_ip_address": address,
        "protocol": "tcp",
    }
    # one external port forwards one way, one internal socket is reached one way: 400
    dup = {**base, "internal_port": 23, "external_port": 2222}
    error(http.post(url, token=http.demo_token, json={"port_forwarding": dup}), 400)
    same_dest = {**base, "internal_port": 22, "external_port": 2223}
    error(http.post(url, token=http.demo_token, json={"port_forwarding": same_dest}), 400)
    out_of_range = {**base, "internal_port": 70000, "external_port": 2224}
    error(http.post(url, token=http.demo_token, json={"port_forwarding": out_of_range}), 400)
    ranged = http.expect(
        http.post(
            url,
            token=http.demo_token,
            json={
                "port_forwarding": {
                    **base,
                    "protocol": "udp",
                    "internal_port_range": "5000:5009",
                    "external_port_range": "6000:6009",
                }
            },
        ),
        201,
    )["port_forwarding"]
    assert ranged["external_port"] is None and ranged["internal_port_range"] == "5000:5009"

    # forwarding ports and being associated exclude each other: 409 both ways
    r = http.put(
        f"{FIPS}/{fip.id}", token=http.demo_token, json={"floatingip": {"port_id": port.id}}
    )
    error(r, 409, "FipInUseByPortForwarding")
    other_port = routed.port()
    bound = demo_conn.network.create_ip(floating_network_id=external[0].id, port_id=other_port.id)
    fips.append(bound.id)
    onto_bound = {**base, "internal_port": 80, "external_port": 8080}
    r = http.post(
        f"{FIPS}/{bound.id}/port_forwardings",
        token=http.demo_token,
        json={"port_forwarding": onto_bound},
    )
    error(r, 409, "FloatingIPPortAlreadyAssociated")

    moved = demo_conn.network.update_port_forwarding(pf, fip.id, external_port=2022)
    assert moved.external_port == 2022
    listed = list(demo_conn.network.port_forwardings(fip.id))
    assert sorted(p.id for p in listed) == sorted([pf.id, ranged["id"]])
    demo_conn.network.delete_port_forwarding(pf, fip.id)
    http.expect(http.delete(f"{url}/{ranged['id']}", token=http.demo_token), 204)
    error(http.get(f"{url}/{pf.id}", token=http.demo_token), 404, "PortForwardingNotFound")
    after = demo_conn.network.get_ip(fip.id)
    assert after.router_id is None and after.port_forwardings == []


# -- the CLI -------------------------------------------------------------------------------------


def test_cli(run_cli, demo_conn, routed, external, fips):
    ext_net, _ = external
    port = routed.port()
    created = run_cli(
        "floating", "ip", "create", ext_net.id, "--description", "cli", cloud="nubo-demo"
    )
    fips.append(created["id"])
    address = created["floating_ip_address"]
    assert created["status"] == "DOWN"

    run_cli("floating", "ip", "set", address, "--port", port.id, cloud="nubo-demo")
    shown = run_cli("floating", "ip", "show", created["id"], cloud="nubo-demo")
    assert shown["port_id"] == port.id and shown["router_id"] == routed.router.id
    listed = run_cli("floating", "ip", "list", "--port", port.id, cloud="nubo-demo")
    assert [f["ID"] for f in listed] == [created["id"]]
    run_cli("floating", "ip", "unset", address, "--port", cloud="nubo-demo")
    assert run_cli("floating", "ip", "show", address, cloud="nubo-demo")["port_id"] is None

    pf = run_cli(
        "floating",
        "ip",
        "port",
        "forwarding",
        "create",
        "--internal-ip-address",
        port.fixed_ips[0]["ip_address"],
        "--port",
        port.id,
        "--internal-protocol-port",
        "80",
        "--external-protocol-port",
        "8080",
        "--protocol",
        "tcp",
        created["id"],
        cloud="nubo-demo",
        json_output=True,
    )
    assert pf["external_port"] == 8080 and pf["internal_port"] == 80
    forwardings = run_cli(
        "floating",
        "ip",
        "port",
        "forwarding",
        "list",
        created["id"],
        cloud="nubo-demo",
        json_output=True,
    )
    assert [p["ID"] for p in forwardings] == [pf["id"]]
    run_cli(
        "floating",
        "ip",
        "port",
        "forwarding",
        "set",
        "--external-protocol-port",
        "8081",
        created["id"],
        pf["id"],
        cloud="nubo-demo",
    )
    again = run_cli(
        "floating",
        "ip",
        "port",
        "forwarding",
        "show",
        created["id"],
        pf["id"],
        cloud="nubo-demo",
        json_output=True,
    )
    assert again["external_port"] == 8081
    run_cli(
        "floating",
        "ip",
        "port",
        "forwarding",
        "delete",
        created["id"],
        pf["id"],
        cloud="nubo-demo",
    )
    run_cli("floating", "ip", "delete", created["id"], cloud="nubo-demo")
    with pytest.raises(run_cli.Error):
        run_cli("floating", "ip", "show", created["id"], cloud="nubo-demo")
