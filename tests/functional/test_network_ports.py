"""Ports (/network/v2.0/ports) through openstacksdk, the ``openstack port`` CLI and raw
HTTP: addresses (no collisions, released on delete, chosen ones, overlapping CIDRs in
two projects), updates, port security, address pairs, DHCP options, bindings (an
admin's business), filters, bulk creation, tags, isolation and Neutron's error shapes."""

from __future__ import annotations

import ipaddress
import itertools

import pytest
from openstack import exceptions as sdk_exc

PORTS = "/network/v2.0/ports"
_cidrs = itertools.count(1)


def next_cidr() -> str:
    """A /24 of 10.200-203.x.0 per test network: tests share one cloud."""
    n = next(_cidrs)
    return f"10.{200 + n // 256}.{n % 256}.0/24"


class Net:
    """A network with one IPv4 subnet, and cleanup of what tests make on it."""

    def __init__(self, conn, unique, cidr=None, **net_attrs):
        self.conn = conn
        self.cidr = cidr or next_cidr()
        self.network = conn.network.create_network(name=unique("net"), **net_attrs)
        self.subnet = conn.network.create_subnet(
            network_id=self.network.id, ip_version=4, cidr=self.cidr, name=unique("sub")
        )
        self.id = self.network.id

    def cleanup(self, admin_conn):
        for port in admin_conn.network.ports(network_id=self.id):
            if not port.device_owner.startswith("network:"):
                admin_conn.network.delete_port(port, ignore_missing=True)
        admin_conn.network.delete_network(self.id, ignore_missing=True)


@pytest.fixture
def net(demo_conn, admin_conn, unique):
    made = Net(demo_conn, unique)
    yield made
    made.cleanup(admin_conn)


@pytest.fixture
def admin_net(admin_conn, unique):
    made = Net(admin_conn, unique)
    yield made
    made.cleanup(admin_conn)


def error(response, status, kind=None):
    assert response.status_code == status, response.text
    body = response.json()["NeutronError"]
    assert set(body) == {"type", "message", "detail"}
    if kind:
        assert body["type"] == kind, body
    return body


def in_cidr(ip, cidr):
    return ipaddress.ip_address(ip) in ipaddress.ip_network(cidr)


# -- lifecycle ------------------------------------------------------------------------------


def test_port_lifecycle(demo_conn, net, http, unique):
    name = unique("port")
    port = demo_conn.network.create_port(network_id=net.id, name=name, description="d")
    assert port.name == name and port.description == "d"
    assert port.status == "DOWN"
    assert port.is_admin_state_up is True
    assert port.mac_address.startswith("fa:16:3e:")
    assert len(port.fixed_ips) == 1
    assert port.fixed_ips[0]["subnet_id"] == net.subnet.id
    assert in_cidr(port.fixed_ips[0]["ip_address"], net.cidr)
    assert port.is_port_security_enabled is True
    defaults = list(demo_conn.network.security_groups(name="default", project_id=port.project_id))
    assert port.security_group_ids == [defaults[0].id]

    raw = http.expect(http.get(f"{PORTS}/{port.id}", token=http.demo_token), 200)["port"]
    ip = raw["fixed_ips"][0]["ip_address"]
    host = "host-" + ip.replace(".", "-")
    assert raw["dns_assignment"] == [
        {"hostname": host, "ip_address": ip, "fqdn": f"{host}.openstacklocal."}
    ]
    assert raw["ip_allocation"] == "immediate"
    assert raw["allowed_address_pairs"] == [] and raw["extra_dhcp_opts"] == []
    assert raw["qos_policy_id"] is None and raw["resource_request"] is None
    assert raw["tenant_id"] == raw["project_id"] == port.project_id
    assert raw["revision_number"] >= 0 and raw["created_at"].endswith("Z")
    assert raw["tags"] == []
    # bindings are an admin's business
    assert not any(k in raw for k in ("binding:host_id", "binding:vif_type", "binding:profile"))

    revision = raw["revision_number"]
    updated = demo_conn.network.update_port(port.id, name="renamed", is_admin_state_up=False)
    assert updated.name == "renamed" and updated.is_admin_state_up is False
    assert updated.revision_number > revision
    assert [p.id for p in demo_conn.network.ports(network_id=net.id, name="renamed")] == [port.id]

    demo_conn.network.delete_port(port)
    error(http.get(f"{PORTS}/{port.id}", token=http.demo_token), 404, "PortNotFound")
    error(http.delete(f"{PORTS}/{port.id}", token=http.demo_token), 404, "PortNotFound")


def test_fields_and_show(demo_conn, net, http):
    port = demo_conn.network.create_port(network_id=net.id)
    shown = http.expect(
        http.get(f"{PORTS}/{port.id}?fields=id&fields=mac_address", token=http.demo_token), 200
    )
    assert shown == {"port": {"id": port.id, "mac_address": port.mac_address}}


# -- addresses ---------------------------------------------------------------------------------


def test_addresses_are_unique_released_and_reusable(demo_conn, net, http):
    made = [demo_conn.network.create_port(network_id=net.id) for _ in range(4)]
    addresses = [p.fixed_ips[0]["ip_address"] for p in made]
    assert len(set(addresses)) == 4
    assert all(in_cidr(a, net.cidr) for a in addresses)
    freed = addresses[1]
    demo_conn.network.delete_port(made[1])
    again = demo_conn.network.create_port(
        network_id=net.id, fixed_ips=[{"subnet_id": net.subnet.id, "ip_address": freed}]
    )
    assert again.fixed_ips == [{"subnet_id": net.subnet.id, "ip_address": freed}]
    # an address in use
    r = http.post(
        PORTS,
        token=http.demo_token,
        json={"port": {"network_id": net.id, "fixed_ips": [{"ip_address": freed}]}},
    )
    error(r, 409, "IpAddressAlreadyAllocated")
    # an address of no subnet of the network, a subnet of another network
    r = http.post(
        PORTS,
        token=http.demo_token,
        json={"port": {"network_id": net.id, "fixed_ips": [{"ip_address": "192.0.2.9"}]}},
    )
    error(r, 400)
    r = http.post(
        PORTS,
        token=http.demo_token,
        json={
            "port": {
                "network_id": net.id,
                "fixed_ips": [{"subnet_id": "00000000-0000-0000-0000-000000000000"}],
            }
        },
    )
    error(r, 400)
    r = http.post(
        PORTS,
        token=http.demo_token,
        json={"port": {"network_id": net.id, "fixed_ips": [{"ip_address": "not-an-ip"}]}},
    )
    assert "not a valid IP address" in error(r, 400)["message"]


def test_specific_address_and_no_address(demo_conn, net):
    wanted = str(ipaddress.ip_network(net.cidr).network_address + 77)
    port = demo_conn.network.create_port(network_id=net.id, fixed_ips=[{"ip_address": wanted}])
    assert port.fixed_ips == [{"subnet_id": net.subnet.id, "ip_address": wanted}]
    bare = demo_conn.network.create_port(network_id=net.id, fixed_ips=[])
    assert bare.fixed_ips == []


def test_overlapping_cidrs_in_two_projects(demo_conn, admin_conn, unique):
    cidr = next_cidr()
    mine = Net(demo_conn, unique, cidr=cidr)
    theirs = Net(admin_conn, unique, cidr=cidr)
    try:
        ip = str(ipaddress.ip_network(cidr).network_address + 10)
        a = demo_conn.network.create_port(network_id=mine.id, fixed_ips=[{"ip_address": ip}])
        b = admin_conn.network.create_port(network_id=theirs.id, fixed_ips=[{"ip_address": ip}])
        assert a.fixed_ips[0]["ip_address"] == b.fixed_ips[0]["ip_address"] == ip
    finally:
        mine.cleanup(admin_conn)
        theirs.cleanup(admin_conn)


def test_update_fixed_ips(demo_conn, net, http):
    base = ipaddress.ip_network(net.cidr).network_address
    first, second, third = (str(base + n) for n in (40, 41, 42))
    port = demo_conn.network.create_port(network_id=net.id, fixed_ips=[{"ip_address": first}])
    both = demo_conn.network.update_port(
        port, fixed_ips=[{"ip_address": first}, {"ip_address": second}]
    )
    assert sorted(f["ip_address"] for f in both.fixed_ips) == sorted([first, second])
    swapped = demo_conn.network.update_port(
        port, fixed_ips=[{"ip_address": second}, {"ip_address": third}]
    )
    assert sorted(f["ip_address"] for f in swapped.fixed_ips) == sorted([second, third])
    # the released address is free again
    other = demo_conn.network.create_port(network_id=net.id, fixed_ips=[{"ip_address": first}])
    assert other.fixed_ips[0]["ip_address"] == first
    r = http.put(
        f"{PORTS}/{other.id}",
        token=http.demo_token,
        json={"port": {"fixed_ips": [{"ip_address": third}]}},
    )
    error(r, 409, "IpAddressAlreadyAllocated")
    r = http.put(
        f"{PORTS}/{other.id}", token=http.demo_token, json={"port": {"network_id": net.id}}
    )
    assert "read-only" in error(r, 400)["message"]


# -- isolation and bindings ------------------------------------------------------------------


def test_other_projects_port_is_not_found(demo_conn, admin_conn, admin_net, http):
    port = admin_conn.network.create_port(network_id=admin_net.id)
    path = f"{PORTS}/{port.id}"
    error(http.get(path, token=http.demo_token), 404, "PortNotFound")
    error(http.put(path, token=http.demo_token, json={"port": {"name": "x"}}), 404, "PortNotFound")
    error(http.delete(path, token=http.demo_token), 404, "PortNotFound")
    assert port.id not in [p.id for p in demo_conn.network.ports()]
    # nor can demo put a port on the admin's private network
    r = http.post(PORTS, token=http.demo_token, json={"port": {"network_id": admin_net.id}})
    error(r, 404, "NetworkNotFound")
    with pytest.raises(sdk_exc.NotFoundException):
        demo_conn.network.get_port(port.id)


def test_shared_network_ports(demo_conn, admin_conn, unique, http):
    shared = Net(admin_conn, unique, is_shared=True)
    try:
        port = demo_conn.network.create_port(network_id=shared.id)
        assert port.project_id != shared.network.project_id
        # the network's owner sees ports on it
        assert port.id in [p.id for p in admin_conn.network.ports(network_id=shared.id)]
        # only the network's owner picks addresses on it
        r = http.post(
            PORTS,
            token=http.demo_token,
            json={
                "port": {
                    "network_id": shared.id,
                    "fixed_ips": [
                        {"ip_address": str(ipaddress.ip_network(shared.cidr).network_address + 9)}
                    ],
                }
            },
        )
        error(r, 403)
    finally:
        shared.cleanup(admin_conn)


def test_binding_attributes_are_for_admins(demo_conn, admin_conn, net, http):
    r = http.post(
        PORTS,
        token=http.demo_token,
        json={"port": {"network_id": net.id, "binding:host_id": "compute-1"}},
    )
    error(r, 403)
    body = {
        "port": {
            "network_id": net.id,
            "project_id": net.network.project_id,
            "binding:host_id": "compute-1",
            "binding:profile": {"k": "v"},
            "device_owner": "compute:nova",
            "device_id": "vm-1",
        }
    }
    created = http.expect(http.post(PORTS, json=body), 201)["port"]
    assert created["binding:host_id"] == "compute-1"
    assert created["binding:vif_type"] == "tap"
    assert created["binding:vif_details"]["connectivity"] == "l2"
    assert created["binding:vif_details"]["port_filter"] is True
    assert created["binding:vif_details"]["bridge_name"].startswith("nubob")
    assert created["binding:profile"] == {"k": "v"}
    assert created["binding:vnic_type"] == "normal"
    assert created["status"] == "ACTIVE"
    seen = http.expect(http.get(f"{PORTS}/{created['id']}", token=http.demo_token), 200)["port"]
    assert seen["status"] == "ACTIVE"
    assert not [k for k in seen if k.startswith("binding:") and k != "binding:vnic_type"]
    sdk_view = admin_conn.network.get_port(created["id"])
    assert sdk_view.binding_host_id == "compute-1"
    unbound = admin_conn.network.update_port(created["id"], binding_host_id="")
    assert unbound.binding_vif_type == "unbound" and unbound.status == "DOWN"
    # read-only attributes
    r = http.post(PORTS, json={"port": {"network_id": net.id, "binding:vif_type": "tap"}})
    error(r, 400)
    r = http.post(PORTS, json={"port": {"network_id": net.id, "status": "ACTIVE"}})
    error(r, 400)


# -- port security, address pairs, DHCP options, DNS -----------------------------------------


def test_port_security_rules(demo_conn, net, http):
    group = demo_conn.network.create_port(network_id=net.id).security_group_ids[0]
    r = http.post(
        PORTS,
        token=http.demo_token,
        json={
            "port": {
                "network_id": net.id,
                "port_security_enabled": False,
                "security_groups": [group],
            }
        },
    )
    error(r, 400, "PortSecurityAndIPRequiredForSecurityGroups")
    r = http.post(
        PORTS,
        token=http.demo_token,
        json={
            "port": {
                "network_id": net.id,
                "port_security_enabled": False,
                "allowed_address_pairs": [{"ip_address": "10.0.0.1"}],
            }
        },
    )
    error(r, 409, "AddressPairAndPortSecurityRequired")
    port = demo_conn.network.create_port(network_id=net.id)
    r = http.put(
        f"{PORTS}/{port.id}",
        token=http.demo_token,
        json={"port": {"port_security_enabled": False}},
    )
    error(r, 409, "PortSecurityPortHasSecurityGroup")
    off = demo_conn.network.update_port(port, is_port_security_enabled=False, security_group_ids=[])
    assert off.is_port_security_enabled is False and off.security_group_ids == []
    on = demo_conn.network.update_port(
        port, is_port_security_enabled=True, security_group_ids=[group]
    )
    assert on.security_group_ids == [group]
    unknown = "11111111-2222-3333-4444-555555555555"
    r = http.put(
        f"{PORTS}/{port.id}",
        token=http.demo_token,
        json={"port": {"security_groups": [unknown]}},
    )
    error(r, 404, "SecurityGroupNotFound")
    unsecured = demo_conn.network.create_port(network_id=net.id, is_port_security_enabled=False)
    assert unsecured.security_group_ids == []


def test_allowed_address_pairs(demo_conn, net, http):
    port = demo_conn.network.create_port(
        network_id=net.id,
        allowed_address_pairs=[
            {"ip_address": "10.99.0.0/24"},
            {"ip_address": "10.98.0.5", "mac_address": "fa:16:3e:00:00:99"},
        ],
    )
    assert port.allowed_address_pairs == [
        {"ip_address": "10.99.0.0/24", "mac_address": port.mac_address},
        {"ip_address": "10.98.0.5", "mac_address": "fa:16:3e:00:00:99"},
    ]
    cleared = demo_conn.network.update_port(port, allowed_address_pairs=[])
    assert cleared.allowed_address_pairs == []
    r = http.put(
        f"{PORTS}/{port.id}",
        token=http.demo_token,
        json={
            "port": {
                "allowed_address_pairs": [{"ip_address": "10.1.1.1"}, {"ip_address": "10.1.1.1"}]
            }
        },
    )
    error(r, 400, "DuplicateAddressPairInRequest")
    r = http.put(
        f"{PORTS}/{port.id}",
        token=http.demo_token,
        json={"port": {"allowed_address_pairs": [{"mac_address": "fa:16:3e:00:00:01"}]}},
    )
    error(r, 400)


def test_extra_dhcp_opts_and_dns_name(demo_conn, net, http):
    port = demo_conn.network.create_port(
        network_id=net.id,
        dns_name="Web-1",
        extra_dhcp_opts=[
            {"opt_name": "bootfile-name", "opt_value": "pxelinux.0"},
            {"opt_name": "tftp-server", "opt_value": "10.0.0.1", "ip_version": 4},
        ],
    )
    assert port.dns_name == "web-1"
    assert port.dns_assignment[0]["hostname"] == "web-1"
    assert port.dns_assignment[0]["fqdn"] == "web-1.openstacklocal."
    assert sorted(o["opt_name"] for o in port.extra_dhcp_opts) == ["bootfile-name", "tftp-server"]
    r = http.put(
        f"{PORTS}/{port.id}",
        token=http.demo_token,
        json={
            "port": {
                "extra_dhcp_opts": [
                    {"opt_name": "bootfile-name", "opt_value": None},
                    {"opt_name": "mtu", "opt_value": "1400"},
                ]
            }
        },
    )
    opts = http.expect(r, 200)["port"]["extra_dhcp_opts"]
    assert sorted((o["opt_name"], o["opt_value"], o["ip_version"]) for o in opts) == [
        ("mtu", "1400", 4),
        ("tftp-server", "10.0.0.1", 4),
    ]
    r = http.put(
        f"{PORTS}/{port.id}",
        token=http.demo_token,
        json={"port": {"extra_dhcp_opts": [{"opt_name": "x", "opt_value": "1", "ip_version": 5}]}},
    )
    error(r, 400, "ExtraDhcpOptBadData")
    r = http.put(
        f"{PORTS}/{port.id}", token=http.demo_token, json={"port": {"dns_name": "bad_name"}}
    )
    assert "dns_name" in error(r, 400)["message"]


# -- errors, If-Match, bulk, filters, tags ---------------------------------------------------


def test_request_errors(net, http):
    r = http.post(PORTS, token=http.demo_token, json={"port": {"name": "x"}})
    assert "network_id" in error(r, 400)["message"]
    r = http.post(PORTS, token=http.demo_token, json={"port": {"network_id": net.id, "bogus": 1}})
    assert "Unrecognized attribute" in error(r, 400)["message"]
    r = http.post(
        PORTS, token=http.demo_token, json={"port": {"network_id": net.id, "mac_address": "zz"}}
    )
    error(r, 400)
    r = http.post(
        PORTS,
        token=http.demo_token,
        json={"port": {"network_id": "00000000-0000-0000-0000-000000000000"}},
    )
    error(r, 404, "NetworkNotFound")
    r = http.post(PORTS, token=http.demo_token, json={"port": {"network_id": "nope"}})
    error(r, 400)
    r = http.post(
        PORTS,
        token=http.demo_token,
        json={"port": {"network_id": net.id, "binding:vnic_type": "fancy"}},
    )
    error(r, 400)


def test_mac_address_in_use(admin_conn, net, http):
    port = admin_conn.network.create_port(network_id=net.id, project_id=net.network.project_id)
    r = http.post(PORTS, json={"port": {"network_id": net.id, "mac_address": port.mac_address}})
    error(r, 409, "MacAddressInUse")


def test_if_match(demo_conn, net, http):
    port = demo_conn.network.create_port(network_id=net.id)
    path = f"{PORTS}/{port.id}"
    stale = {"If-Match": f"revision_number={port.revision_number + 5}"}
    r = http.put(path, token=http.demo_token, headers=stale, json={"port": {"name": "x"}})
    error(r, 412)
    r = http.delete(path, token=http.demo_token, headers=stale)
    error(r, 412)
    current = {"If-Match": f"revision_number={port.revision_number}"}
    r = http.put(path, token=http.demo_token, headers=current, json={"port": {"name": "x"}})
    http.expect(r, 200)


def test_bulk_create_is_all_or_none(net, http):
    taken = str(ipaddress.ip_network(net.cidr).network_address + 60)
    bad = {
        "ports": [
            {"network_id": net.id, "name": "bulk-a", "fixed_ips": [{"ip_address": taken}]},
            {"network_id": net.id, "name": "bulk-b", "fixed_ips": [{"ip_address": taken}]},
        ]
    }
    error(http.post(PORTS, token=http.demo_token, json=bad), 409, "IpAddressAlreadyAllocated")
    listed = http.expect(http.get(f"{PORTS}?network_id={net.id}", token=http.demo_token), 200)
    assert not [p for p in listed["ports"] if p["name"].startswith("bulk-")]
    good = {"ports": [{"network_id": net.id, "name": "bulk-a"}, {"network_id": net.id}]}
    made = http.expect(http.post(PORTS, token=http.demo_token, json=good), 201)["ports"]
    assert len(made) == 2 and made[0]["name"] == "bulk-a"


def test_list_filters(demo_conn, net, http):
    base = ipaddress.ip_network(net.cidr).network_address
    a_ip, b_ip = str(base + 111), str(base + 122)
    a = demo_conn.network.create_port(
        network_id=net.id, fixed_ips=[{"ip_address": a_ip}], device_id="vm-a"
    )
    b = demo_conn.network.create_port(network_id=net.id, fixed_ips=[{"ip_address": b_ip}])

    def ids(query):
        r = http.get(f"{PORTS}?network_id={net.id}&{query}", token=http.demo_token)
        return {p["id"] for p in http.expect(r, 200)["ports"]}

    assert ids(f"fixed_ips=ip_address%3D{a_ip}") == {a.id}
    assert ids(f"fixed_ips=ip_address%3D{a_ip}&fixed_ips=ip_address%3D{b_ip}") == {a.id, b.id}
    assert ids(f"fixed_ips=subnet_id%3D{net.subnet.id}") >= {a.id, b.id}
    assert ids("fixed_ips=ip_address_substr%3D.122") == {b.id}
    assert ids("device_id=vm-a") == {a.id}
    assert ids(f"mac_address={b.mac_address}") == {b.id}
    assert [p.id for p in demo_conn.network.ports(fixed_ips=f"ip_address={b_ip}")] == [b.id]
    r = http.get(f"{PORTS}?network_id={net.id}&limit=1", token=http.demo_token)
    page = http.expect(r, 200)
    assert len(page["ports"]) == 1 and page["ports_links"][0]["rel"] == "next"
    r = http.get(
        f"{PORTS}?network_id={net.id}&sort_key=mac_address&sort_dir=asc", token=http.demo_token
    )
    macs = [p["mac_address"] for p in http.expect(r, 200)["ports"]]
    assert macs == sorted(macs)


def test_tags(demo_conn, net, http):
    port = demo_conn.network.create_port(network_id=net.id)
    path = f"{PORTS}/{port.id}/tags"
    http.expect(http.put(path, token=http.demo_token, json={"tags": ["red", "blue"]}), 200)
    shown = demo_conn.network.get_port(port.id)
    assert sorted(shown.tags) == ["blue", "red"]
    r = http.get(f"{PORTS}?tags=red&network_id={net.id}", token=http.demo_token)
    assert [p["id"] for p in http.expect(r, 200)["ports"]] == [port.id]


# -- the CLI ---------------------------------------------------------------------------------


def test_port_cli(run_cli, net, unique):
    name = unique("cliport")
    ip = str(ipaddress.ip_network(net.cidr).network_address + 200)
    created = run_cli(
        "port",
        "create",
        "--network",
        net.id,
        "--fixed-ip",
        f"subnet={net.subnet.id},ip-address={ip}",
        "--description",
        "from the cli",
        name,
        cloud="nubo-demo",
    )
    assert created["name"] == name
    assert created["fixed_ips"] == [{"subnet_id": net.subnet.id, "ip_address": ip}]
    listed = run_cli("port", "list", "--network", net.id, cloud="nubo-demo")
    assert name in [p["Name"] for p in listed]
    by_ip = run_cli("port", "list", "--fixed-ip", f"ip-address={ip}", cloud="nubo-demo")
    assert [p["ID"] for p in by_ip] == [created["id"]]
    run_cli(
        "port",
        "set",
        "--name",
        name + "-x",
        "--allowed-address",
        "ip-address=10.77.0.0/24",
        "--dns-name",
        "cli-host",
        created["id"],
        cloud="nubo-demo",
    )
    shown = run_cli("port", "show", created["id"], cloud="nubo-demo")
    assert shown["name"] == name + "-x"
    assert shown["dns_name"] == "cli-host"
    assert shown["allowed_address_pairs"] == [
        {"ip_address": "10.77.0.0/24", "mac_address": created["mac_address"]}
    ]
    run_cli(
        "port",
        "unset",
        "--allowed-address",
        # Neutron stores the port's MAC in a pair given without one: unset names it
        f"ip-address=10.77.0.0/24,mac-address={created['mac_address']}",
        created["id"],
        cloud="nubo-demo",
    )
    run_cli(
        "port",
        "set",
        "--no-security-group",
        "--disable-port-security",
        created["id"],
        cloud="nubo-demo",
    )
    shown = run_cli("port", "show", created["id"], cloud="nubo-demo")
    assert shown["allowed_address_pairs"] == []
    assert shown["security_group_ids"] == [] and shown["port_security_enabled"] is False
    run_cli("port", "delete", created["id"], cloud="nubo-demo")
    with pytest.raises(run_cli.Error):
        run_cli("port", "show", created["id"], cloud="nubo-demo")
