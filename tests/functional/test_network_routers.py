"""Routers (/network/v2.0/routers) through openstacksdk, the ``openstack router`` CLI and
raw HTTP: lifecycle, the external gateway (and who may set what on it), interfaces by
subnet and by port, overlapping subnets, extra routes (also atomically), in-use
conflicts, tags, quota, isolation between projects and Neutron's error shapes."""

from __future__ import annotations

import ipaddress
import itertools

import pytest
from openstack import exceptions as sdk_exc

ROUTERS = "/network/v2.0/routers"
_cidrs = itertools.count(1)


def next_cidr() -> str:
    """A /24 of 10.210-211.x.0 per test subnet: tests share one cloud."""
    n = next(_cidrs)
    return f"10.{210 + n // 256}.{n % 256}.0/24"


def error(response, status, kind=None):
    assert response.status_code == status, response.text
    body = response.json()["NeutronError"]
    assert set(body) == {"type", "message", "detail"}
    if kind:
        assert body["type"] == kind, body
    return body


class Made:
    """What a test creates, removed in the right order afterwards (as admin)."""

    def __init__(self, admin_conn):
        self.admin = admin_conn
        self.routers = []
        self.networks = []

    def network(self, conn, unique, cidr=None, **attrs):
        net = conn.network.create_network(name=unique("net"), **attrs)
        self.networks.append(net.id)
        sub = conn.network.create_subnet(
            network_id=net.id, ip_version=4, cidr=cidr or next_cidr(), name=unique("sub")
        )
        return net, sub

    def router(self, conn, unique, **attrs):
        router = conn.network.create_router(name=unique("router"), **attrs)
        self.routers.append(router.id)
        return router

    def cleanup(self):
        net = self.admin.network
        for router_id in self.routers:
            for fip in net.ips(router_id=router_id):
                net.delete_ip(fip, ignore_missing=True)
            for port in net.ports(device_id=router_id, device_owner="network:router_interface"):
                net.remove_interface_from_router(router_id, port_id=port.id)
            net.delete_router(router_id, ignore_missing=True)
        for network_id in self.networks:
            for port in net.ports(network_id=network_id):
                if not port.device_owner.startswith("network:"):
                    net.delete_port(port, ignore_missing=True)
            net.delete_network(network_id, ignore_missing=True)


@pytest.fixture
def made(admin_conn):
    things = Made(admin_conn)
    yield things
    things.cleanup()


_ext_cidrs = itertools.count(1)


@pytest.fixture(scope="module")
def external(admin_conn):
    """An external network with one subnet (a VXLAN one: the flat physical network may
    be taken by ``public``): (network, subnet)."""
    cidr = f"172.31.{next(_ext_cidrs)}.0/24"
    net = admin_conn.network.create_network(
        name="ext-routers", is_router_external=True, provider_network_type="vxlan"
    )
    sub = admin_conn.network.create_subnet(
        network_id=net.id,
        ip_version=4,
        cidr=cidr,
        gateway_ip=cidr.replace("0/24", "1"),
        is_dhcp_enabled=False,
    )
    yield net, sub
    for router in admin_conn.network.routers():
        info = router.external_gateway_info or {}
        if info.get("network_id") == net.id:
            admin_conn.network.update_router(router, external_gateway_info=None)
    admin_conn.network.delete_network(net.id, ignore_missing=True)


@pytest.fixture(scope="module")
def other_project(http):
    """A second project with a member: (project, token)."""
    project = http.make_project()
    user = http.make_user(project_id=project["id"], role="member")
    token = http.token(user["name"], user["password"], scope={"project": {"id": project["id"]}})
    return project, token


# -- lifecycle ------------------------------------------------------------------------------


def test_router_lifecycle(demo_conn, admin_conn, http, made, unique):
    name = unique("router")
    router = made.router(demo_conn, unique, description="d")
    assert router.status == "ACTIVE" and router.is_admin_state_up is True
    assert router.description == "d" and router.routes == []
    assert router.external_gateway_info is None
    assert router.availability_zones == ["nova"]

    raw = http.expect(http.get(f"{ROUTERS}/{router.id}", token=http.demo_token), 200)["router"]
    assert raw["tenant_id"] == raw["project_id"] == router.project_id
    assert raw["flavor_id"] is None and raw["tags"] == []
    assert raw["created_at"].endswith("Z") and raw["revision_number"] >= 0
    # distributed and ha are an admin's to see
    assert "distributed" not in raw and "ha" not in raw
    as_admin = http.expect(http.get(f"{ROUTERS}/{router.id}"), 200)["router"]
    assert as_admin["distributed"] is False and as_admin["ha"] is False

    updated = demo_conn.network.update_router(
        router, name=name, is_admin_state_up=False, description="e"
    )
    assert (updated.name, updated.is_admin_state_up, updated.description) == (name, False, "e")
    assert updated.revision_number > raw["revision_number"]
    assert [r.id for r in demo_conn.network.routers(name=name)] == [router.id]
    shown = http.expect(
        http.get(f"{ROUTERS}/{router.id}?fields=id&fields=name", token=http.demo_token), 200
    )
    assert shown == {"router": {"id": router.id, "name": name}}

    demo_conn.network.delete_router(router)
    error(http.get(f"{ROUTERS}/{router.id}", token=http.demo_token), 404, "RouterNotFound")
    error(http.delete(f"{ROUTERS}/{router.id}", token=http.demo_token), 404, "RouterNotFound")


def test_bad_requests(http):
    r = http.post(ROUTERS, token=http.demo_token, json={"router": {"bogus": 1}})
    assert "Unrecognized attribute" in error(r, 400)["message"]
    r = http.post(ROUTERS, token=http.demo_token, json={"router": {"routes": []}})
    error(r, 400)
    r = http.post(ROUTERS, token=http.demo_token, json={"router": {"distributed": True}})
    error(r, 403)
    r = http.post(
        ROUTERS,
        token=http.demo_token,
        json={"router": {"external_gateway_info": {"network_id": "not-a-uuid"}}},
    )
    error(r, 400)
    r = http.post(
        ROUTERS,
        token=http.demo_token,
        json={"router": {"availability_zone_hints": ["nowhere"]}},
    )
    error(r, 404, "AvailabilityZoneNotFound")


# -- the gateway ------------------------------------------------------------------------------


def test_gateway(demo_conn, admin_conn, http, made, unique, external):
    ext_net, ext_sub = external
    router = made.router(demo_conn, unique, external_gateway_info={"network_id": ext_net.id})
    info = router.external_gateway_info
    assert info["network_id"] == ext_net.id and info["enable_snat"] is True
    (fixed,) = info["external_fixed_ips"]
    assert fixed["subnet_id"] == ext_sub.id
    assert ipaddress.ip_address(fixed["ip_address"]) in ipaddress.ip_network(ext_sub.cidr)
    (gw_port,) = admin_conn.network.ports(
        device_id=router.id, device_owner="network:router_gateway"
    )
    assert gw_port.network_id == ext_net.id and gw_port.project_id == ""
    # the gateway port is no project's: the router's owner does not see it
    assert list(demo_conn.network.ports(device_id=router.id)) == []

    # enable_snat and chosen addresses are an admin's
    body = {"router": {"external_gateway_info": {"network_id": ext_net.id, "enable_snat": False}}}
    error(http.put(f"{ROUTERS}/{router.id}", token=http.demo_token, json=body), 403)
    no_snat = http.expect(http.put(f"{ROUTERS}/{router.id}", json=body), 200)["router"]
    assert no_snat["external_gateway_info"]["enable_snat"] is False
    wanted = str(ipaddress.ip_network(ext_sub.cidr)[200])
    fixed_body = {
        "router": {
            "external_gateway_info": {
                "network_id": ext_net.id,
                "external_fixed_ips": [{"ip_address": wanted}],
            }
        }
    }
    error(http.put(f"{ROUTERS}/{router.id}", token=http.demo_token, json=fixed_body), 403)
    moved = http.expect(http.put(f"{ROUTERS}/{router.id}", json=fixed_body), 200)["router"]
    assert moved["external_gateway_info"]["external_fixed_ips"][0]["ip_address"] == wanted
    # another router cannot take that address
    other = made.router(admin_conn, unique)
    error(http.put(f"{ROUTERS}/{other.id}", json=fixed_body), 409)

    cleared = demo_conn.network.update_router(router, external_gateway_info=None)
    assert cleared.external_gateway_info is None
    assert list(admin_conn.network.ports(device_id=router.id)) == []


def test_gateway_errors(demo_conn, http, made, unique):
    net, _ = made.network(demo_conn, unique)
    router = made.router(demo_conn, unique)
    body = {"router": {"external_gateway_info": {"network_id": net.id}}}
    r = http.put(f"{ROUTERS}/{router.id}", token=http.demo_token, json=body)
    assert "is not an external network" in error(r, 400)["message"]
    body = {
        "router": {"external_gateway_info": {"network_id": "6b8e3c52-8c8e-4c1d-a6a5-0d3a9e7f0b11"}}
    }
    r = http.put(f"{ROUTERS}/{router.id}", token=http.demo_token, json=body)
    error(r, 404, "NetworkNotFound")


# -- interfaces ---------------------------------------------------------------------------------


def test_interface_by_subnet(demo_conn, admin_conn, http, made, unique):
    net, sub = made.network(demo_conn, unique)
    router = made.router(demo_conn, unique)
    info = demo_conn.network.add_interface_to_router(router, subnet_id=sub.id)
    assert set(info) >= {"id", "subnet_id", "subnet_ids", "port_id", "network_id", "tenant_id"}
    assert info["id"] == router.id and info["subnet_id"] == sub.id
    assert info["subnet_ids"] == [sub.id] and info["network_id"] == net.id
    assert info["project_id"] == info["tenant_id"] == router.project_id
    port = demo_conn.network.get_port(info["port_id"])
    assert port.device_owner == "network:router_interface" and port.device_id == router.id
    assert port.fixed_ips == [{"subnet_id": sub.id, "ip_address": sub.gateway_ip}]

    # twice: 400; deleting the router while attached: 409
    r = http.put(
        f"{ROUTERS}/{router.id}/add_router_interface",
        token=http.demo_token,
        json={"subnet_id": sub.id},
    )
    assert "already has a port on subnet" in error(r, 400, "BadRequest")["message"]
    error(http.delete(f"{ROUTERS}/{router.id}", token=http.demo_token), 409, "RouterInUse")
    # the port goes with the router only
    error(http.delete(f"/network/v2.0/ports/{port.id}", token=http.demo_token), 409)

    removed = demo_conn.network.remove_interface_from_router(router, subnet_id=sub.id)
    assert removed["port_id"] == port.id and removed["subnet_id"] == sub.id
    r = http.put(
        f"{ROUTERS}/{router.id}/remove_router_interface",
        token=http.demo_token,
        json={"subnet_id": sub.id},
    )
    error(r, 404, "RouterInterfaceNotFoundForSubnet")
    r = http.put(
        f"{ROUTERS}/{router.id}/remove_router_interface",
        token=http.demo_token,
        json={"port_id": port.id},
    )
    error(r, 404, "RouterInterfaceNotFound")
    demo_conn.network.delete_router(router)


def test_overlapping_subnets_on_one_router(demo_conn, http, made, unique):
    cidr = next_cidr()
    _, first = made.network(demo_conn, unique, cidr=cidr)
    _, second = made.network(demo_conn, unique, cidr=cidr)
    router = made.router(demo_conn, unique)
    demo_conn.network.add_interface_to_router(router, subnet_id=first.id)
    r = http.put(
        f"{ROUTERS}/{router.id}/add_router_interface",
        token=http.demo_token,
        json={"subnet_id": second.id},
    )
    body = error(r, 400, "BadRequest")
    assert "overlaps with cidr" in body["message"]
    # on two routers the same CIDR is fine
    elsewhere = made.router(demo_conn, unique)
    demo_conn.network.add_interface_to_router(elsewhere, subnet_id=second.id)


def test_interface_request_errors(demo_conn, http, made, unique):
    _, sub = made.network(demo_conn, unique)
    router = made.router(demo_conn, unique)
    url = f"{ROUTERS}/{router.id}/add_router_interface"
    r = http.put(url, token=http.demo_token, json={})
    assert "Either subnet_id or port_id" in error(r, 400)["message"]
    r = http.put(url, token=http.demo_token, json={"subnet_id": sub.id, "port_id": sub.id})
    assert "Cannot specify both" in error(r, 400)["message"]
    r = http.put(url, token=http.demo_token, json={"subnet_id": "nope"})
    error(r, 400)
    r = http.put(
        url, token=http.demo_token, json={"subnet_id": "6b8e3c52-8c8e-4c1d-a6a5-0d3a9e7f0b11"}
    )
    error(r, 404, "SubnetNotFound")
    no_gateway = demo_conn.network.create_subnet(
        network_id=made.network(demo_conn, unique)[0].id,
        ip_version=4,
        cidr=next_cidr(),
        gateway_ip=None,
    )
    r = http.put(url, token=http.demo_token, json={"subnet_id": no_gateway.id})
    assert "must have a gateway IP" in error(r, 400)["message"]


def test_interface_by_port(demo_conn, http, made, unique):
    net, sub = made.network(demo_conn, unique)
    port = demo_conn.network.create_port(network_id=net.id)
    router = made.router(demo_conn, unique)
    info = demo_conn.network.add_interface_to_router(router, port_id=port.id)
    assert info["port_id"] == port.id and info["subnet_ids"] == [sub.id]
    shown = demo_conn.network.get_port(port.id)
    assert (shown.device_owner, shown.device_id) == ("network:router_interface", router.id)
    # a port in use by one router cannot join another
    other = made.router(demo_conn, unique)
    r = http.put(
        f"{ROUTERS}/{other.id}/add_router_interface",
        token=http.demo_token,
        json={"port_id": port.id},
    )
    error(r, 409, "PortInUse")
    bare = demo_conn.network.create_port(network_id=net.id, fixed_ips=[])
    r = http.put(
        f"{ROUTERS}/{other.id}/add_router_interface",
        token=http.demo_token,
        json={"port_id": bare.id},
    )
    assert "at least one fixed IP" in error(r, 400)["message"]
    demo_conn.network.remove_interface_from_router(router, port_id=port.id)
    # as Neutron: removing an interface by port deletes the port
    with pytest.raises(sdk_exc.ResourceNotFound):
        demo_conn.network.get_port(port.id)


# -- extra routes ---------------------------------------------------------------------------------


def test_extra_routes(demo_conn, http, made, unique):
    _, sub = made.network(demo_conn, unique)
    router = made.router(demo_conn, unique)
    demo_conn.network.add_interface_to_router(router, subnet_id=sub.id)
    hop = str(ipaddress.ip_network(sub.cidr)[10])
    first = {"destination": "192.168.10.0/24", "nexthop": hop}
    second = {"destination": "192.168.20.0/24", "nexthop": hop}
    updated = demo_conn.network.update_router(router, routes=[first])
    assert updated.routes == [first]

    url = f"{ROUTERS}/{router.id}"
    added = http.expect(
        http.put(
            f"{url}/add_extraroutes",
            token=http.demo_token,
            json={"router": {"routes": [first, second]}},
        ),
        200,
    )["router"]
    assert added["routes"] == [first, second]
    removed = http.expect(
        http.put(
            f"{url}/remove_extraroutes", token=http.demo_token, json={"router": {"routes": [first]}}
        ),
        200,
    )["router"]
    assert removed["routes"] == [second]

    bad = {"router": {"routes": [{"destination": "10.99.0.0/16", "nexthop": "192.0.2.1"}]}}
    body = error(http.put(url, token=http.demo_token, json=bad), 400, "InvalidRoutes")
    assert "not connected with router" in body["message"]
    own = {"router": {"routes": [{"destination": "10.99.0.0/16", "nexthop": sub.gateway_ip}]}}
    error(http.put(url, token=http.demo_token, json=own), 400, "InvalidRoutes")
    malformed = {"router": {"routes": [{"destination": "10.99.0.1/16", "nexthop": hop}]}}
    error(http.put(url, token=http.demo_token, json=malformed), 400)

    # the interface a route goes through stays
    r = http.put(
        f"{url}/remove_router_interface", token=http.demo_token, json={"subnet_id": sub.id}
    )
    error(r, 409, "RouterInterfaceInUseByRoute")
    demo_conn.network.update_router(router, routes=[])
    demo_conn.network.remove_interface_from_router(router, subnet_id=sub.id)


# -- tags, quota, isolation -----------------------------------------------------------------------


def test_tags(demo_conn, http, made, unique):
    router = made.router(demo_conn, unique)
    url = f"{ROUTERS}/{router.id}/tags"
    http.expect(http.put(url, token=http.demo_token, json={"tags": ["b", "a"]}), 200)
    assert demo_conn.network.get_router(router.id).tags == ["a", "b"]
    listed = http.expect(http.get(f"{ROUTERS}?tags=a&id={router.id}", token=http.demo_token), 200)
    assert [r["id"] for r in listed["routers"]] == [router.id]


def test_quota(http, other_project, admin_conn):
    project, token = other_project
    quota_url = f"/network/v2.0/quotas/{project['id']}"
    http.expect(http.put(quota_url, json={"quota": {"router": 1}}), 200)
    try:
        first = http.expect(http.post(ROUTERS, token=token, json={"router": {}}), 201)["router"]
        error(http.post(ROUTERS, token=token, json={"router": {}}), 409, "OverQuota")
        http.expect(http.delete(f"{ROUTERS}/{first['id']}", token=token), 204)
    finally:
        http.delete(quota_url)


def test_isolation(demo_conn, http, made, unique, other_project):
    _, token = other_project
    _, sub = made.network(demo_conn, unique)
    router = made.router(demo_conn, unique)
    url = f"{ROUTERS}/{router.id}"
    error(http.get(url, token=token), 404, "RouterNotFound")
    error(http.put(url, token=token, json={"router": {"name": "x"}}), 404, "RouterNotFound")
    error(http.delete(url, token=token), 404, "RouterNotFound")
    r = http.put(f"{url}/add_router_interface", token=token, json={"subnet_id": sub.id})
    error(r, 404, "RouterNotFound")
    error(http.put(f"{url}/tags", token=token, json={"tags": ["x"]}), 404)
    listed = http.expect(http.get(ROUTERS, token=token), 200)["routers"]
    assert router.id not in [r["id"] for r in listed]
    # nor can a router of theirs take demo's subnet
    theirs = http.expect(http.post(ROUTERS, token=token, json={"router": {}}), 201)["router"]
    r = http.put(
        f"{ROUTERS}/{theirs['id']}/add_router_interface", token=token, json={"subnet_id": sub.id}
    )
    error(r, 404, "SubnetNotFound")
    http.expect(http.delete(f"{ROUTERS}/{theirs['id']}", token=token), 204)


# -- the CLI --------------------------------------------------------------------------------------


def test_cli(run_cli, demo_conn, admin_conn, made, unique, external):
    ext_net, _ = external
    net, sub = made.network(demo_conn, unique)
    name = unique("cli-router")
    created = run_cli("router", "create", name, "--description", "made by cli", cloud="nubo-demo")
    made.routers.append(created["id"])
    assert created["name"] == name and created["status"] == "ACTIVE"

    run_cli("router", "set", name, "--external-gateway", ext_net.id, cloud="nubo-demo")
    shown = run_cli("router", "show", name, cloud="nubo-demo")
    assert shown["external_gateway_info"]["network_id"] == ext_net.id

    run_cli("router", "add", "subnet", name, sub.id, cloud="nubo-demo")
    (iface,) = demo_conn.network.ports(device_id=created["id"])
    assert iface.fixed_ips[0]["ip_address"] == sub.gateway_ip
    hop = str(ipaddress.ip_network(sub.cidr)[20])
    run_cli(
        "router",
        "set",
        name,
        "--route",
        f"destination=10.250.0.0/16,gateway={hop}",
        cloud="nubo-demo",
    )
    assert run_cli("router", "show", name, cloud="nubo-demo")["routes"] == [
        {"destination": "10.250.0.0/16", "nexthop": hop}
    ]
    run_cli(
        "router",
        "unset",
        name,
        "--route",
        f"destination=10.250.0.0/16,gateway={hop}",
        cloud="nubo-demo",
    )
    run_cli("router", "remove", "subnet", name, sub.id, cloud="nubo-demo")

    port = demo_conn.network.create_port(network_id=net.id)
    run_cli("router", "add", "port", name, port.id, cloud="nubo-demo")
    assert demo_conn.network.get_port(port.id).device_id == created["id"]
    run_cli("router", "remove", "port", name, port.id, cloud="nubo-demo")

    run_cli("router", "unset", name, "--external-gateway", cloud="nubo-demo")
    assert run_cli("router", "show", name, cloud="nubo-demo")["external_gateway_info"] is None
    listed = run_cli("router", "list", "--name", name, cloud="nubo-demo")
    assert [r["ID"] for r in listed] == [created["id"]]
    run_cli("router", "delete", name, cloud="nubo-demo")
    with pytest.raises(run_cli.Error):
        run_cli("router", "show", created["id"], cloud="nubo-demo")
