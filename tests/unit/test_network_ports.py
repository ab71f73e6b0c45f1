"""Ports in the service layer on a real (SQLite) database: address management through
the port API, updates of fixed IPs, MACs, port security, address pairs and DHCP
options, visibility, deletion rules; and the pure helpers (fixed IP change sets, list
filters, DNS names)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from nubo.api.policy import PolicyEngine
from nubo.config import Config
from nubo.db import migrate
from nubo.db.engine import Database
from nubo.errors import BadRequest, Conflict, Forbidden, NotFound, PreconditionFailed
from nubo.network import ipam, networks, port_attributes, ports
from nubo.network import models as m
from nubo.network.access import Caller
from nubo.network.attributes import parse_item
from nubo.network.policies import RULES
from nubo.network.service import NetworkService

POLICY = PolicyEngine()
POLICY.register(RULES)


def caller(project: str, admin: bool = False) -> Caller:
    roles = ["admin", "member", "reader"] if admin else ["member", "reader"]
    creds = {"roles": roles, "project_id": project, "user_id": f"u-{project}"}
    return Caller(
        project_id=project,
        is_admin=admin,
        allowed=lambda rule, target: POLICY.allowed(rule, creds, target),
    )


ADMIN = caller("admin-project", admin=True)
ALICE = caller("alice")
BOB = caller("bob")


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[NetworkService]:
    cfg = Config(data_dir=str(tmp_path))
    db = Database(cfg.database_url)
    migrate.upgrade(db.engine)
    service = NetworkService(cfg, db, None)  # type: ignore[arg-type]
    yield service
    db.dispose()


def network(svc: NetworkService, who: Caller = ALICE, **attrs: Any) -> dict[str, Any]:
    return networks.create_network(svc, who, {"name": "n", **attrs})


def subnet(
    svc: NetworkService, network_id: str, cidr: str, project: str = "alice", **columns: Any
) -> str:
    import ipaddress

    net = ipaddress.ip_network(cidr)
    gateway = columns.pop("gateway_ip", str(net.network_address + 1))
    with svc.db.session() as s:
        row = m.Subnet(
            project_id=project,
            network_id=network_id,
            ip_version=net.version,
            cidr=cidr,
            gateway_ip=gateway,
            allocation_pools=ipam.default_pools(cidr, gateway),
            **columns,
        )
        s.add(row)
        s.flush()
        return str(row.id)


def create(svc: NetworkService, who: Caller = ALICE, **attrs: Any) -> dict[str, Any]:
    return ports.create_port(svc, who, parse_item(attrs, "port", ports.ATTRS))


def update(svc: NetworkService, port_id: str, who: Caller = ALICE, **attrs: Any) -> dict[str, Any]:
    body = parse_item(attrs, "port", ports.ATTRS, update=True)
    return ports.update_port(svc, who, port_id, body, {})


def ips(port: dict[str, Any]) -> list[str]:
    return [f["ip_address"] for f in port["fixed_ips"]]


# -- create and addresses ---------------------------------------------------------------


def test_create_defaults_and_addresses(svc: NetworkService) -> None:
    net = network(svc)
    sub = subnet(svc, net["id"], "10.1.0.0/24")
    a = create(svc, network_id=net["id"], name="a")
    b = create(svc, network_id=net["id"])
    assert a["fixed_ips"] == [{"subnet_id": sub, "ip_address": "10.1.0.2"}]
    assert ips(b) == ["10.1.0.3"]
    assert a["status"] == "DOWN"
    assert a["mac_address"].startswith("fa:16:3e:")
    assert a["port_security_enabled"] is True
    assert len(a["security_groups"]) == 1
    assert a["dns_assignment"] == [
        {
            "hostname": "host-10-1-0-2",
            "ip_address": "10.1.0.2",
            "fqdn": "host-10-1-0-2.openstacklocal.",
        }
    ]
    assert a["ip_allocation"] == "immediate"
    assert a["binding:vnic_type"] == "normal"
    assert "binding:host_id" not in a
    assert a["tenant_id"] == a["project_id"] == "alice"
    # deleting gives the address back
    ports.delete_port(svc, ALICE, a["id"], {})
    c = create(svc, network_id=net["id"])
    assert ips(c) == ["10.1.0.2"]


def test_specific_address_and_conflicts(svc: NetworkService) -> None:
    net = network(svc)
    sub = subnet(svc, net["id"], "10.2.0.0/24")
    p = create(svc, network_id=net["id"], fixed_ips=[{"ip_address": "10.2.0.50"}])
    assert p["fixed_ips"] == [{"subnet_id": sub, "ip_address": "10.2.0.50"}]
    with pytest.raises(Conflict) as err:
        create(svc, network_id=net["id"], fixed_ips=[{"subnet_id": sub, "ip_address": "10.2.0.50"}])
    assert err.value.type_name == "IpAddressAlreadyAllocated"
    with pytest.raises(BadRequest):
        create(svc, network_id=net["id"], fixed_ips=[{"ip_address": "10.9.0.5"}])
    with pytest.raises(BadRequest):
        create(svc, network_id=net["id"], fixed_ips=[{"subnet_id": m.new_uuid()}])
    with pytest.raises(BadRequest):
        create(svc, network_id=net["id"], fixed_ips=[{"ip_address": "10.2.0.255"}])
    with pytest.raises(Conflict) as err:
        create(svc, network_id=net["id"], mac_address=p["mac_address"])
    assert err.value.type_name == "MacAddressInUse"
    # a failed create leaves nothing behind
    with svc.db.reader() as s:
        assert len(list(s.scalars(select(m.Port).where(m.Port.network_id == net["id"])))) == 1


def test_overlapping_cidrs_in_two_projects(svc: NetworkService) -> None:
    n1 = network(svc, ALICE)
    n2 = network(svc, BOB)
    subnet(svc, n1["id"], "192.168.7.0/24")
    subnet(svc, n2["id"], "192.168.7.0/24", project="bob")
    a = create(svc, ALICE, network_id=n1["id"], fixed_ips=[{"ip_address": "192.168.7.9"}])
    b = create(svc, BOB, network_id=n2["id"], fixed_ips=[{"ip_address": "192.168.7.9"}])
    assert ips(a) == ips(b) == ["192.168.7.9"]


def test_bulk_is_all_or_nothing(svc: NetworkService) -> None:
    net = network(svc)
    subnet(svc, net["id"], "10.3.0.0/24")
    items = [
        parse_item(
            {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.3.0.7"}]},
            "port",
            ports.ATTRS,
        ),
        parse_item(
            {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.3.0.7"}]},
            "port",
            ports.ATTRS,
        ),
    ]
    with pytest.raises(Conflict):
        ports.create_ports(svc, ALICE, items)
    assert ports.list_ports(svc, ALICE, {"network_id": [net["id"]]}) == []
    made = ports.create_ports(
        svc, ALICE, [items[0], parse_item({"network_id": net["id"]}, "port", ports.ATTRS)]
    )
    assert len(made) == 2


# -- visibility ------------------------------------------------------------------------------


def test_visibility_and_network_access(svc: NetworkService) -> None:
    net = network(svc, ALICE)
    subnet(svc, net["id"], "10.4.0.0/24")
    p = create(svc, network_id=net["id"])
    with pytest.raises(NotFound) as err:
        ports.get_port(svc, BOB, p["id"])
    assert err.value.type_name == "PortNotFound"
    with pytest.raises(NotFound):
        update(svc, p["id"], BOB, name="x")
    with pytest.raises(NotFound):
        ports.delete_port(svc, BOB, p["id"], {})
    with pytest.raises(NotFound) as err:
        create(svc, BOB, network_id=net["id"])
    assert err.value.type_name == "NetworkNotFound"
    assert [x["id"] for x in ports.list_ports(svc, BOB, {})] == []
    assert p["id"] in [x["id"] for x in ports.list_ports(svc, ADMIN, {})]
    # on a shared network bob may make ports; alice (the owner) sees them too
    networks.update_network(svc, ADMIN, net["id"], {"shared": True}, {})
    q = create(svc, BOB, network_id=net["id"])
    assert {x["id"] for x in ports.list_ports(svc, ALICE, {})} >= {p["id"], q["id"]}
    assert [x["id"] for x in ports.list_ports(svc, BOB, {})] == [q["id"]]
    # picking an address or an address pair on someone else's network is the owner's call
    with pytest.raises(Forbidden):
        create(svc, BOB, network_id=net["id"], fixed_ips=[{"ip_address": "10.4.0.99"}])
    with pytest.raises(Forbidden):
        create(svc, BOB, network_id=net["id"], mac_address="fa:16:3e:00:00:01")
    # device_owner compute:* is anyone's; network:* is not
    create(svc, BOB, network_id=net["id"], device_owner="compute:nova")
    with pytest.raises(Forbidden):
        create(svc, BOB, network_id=net["id"], device_owner="network:dhcp")


def test_binding_is_admin_only(svc: NetworkService) -> None:
    net = network(svc)
    subnet(svc, net["id"], "10.5.0.0/24")
    with pytest.raises(Forbidden):
        create(svc, network_id=net["id"], **{"binding:host_id": "h1"})
    p = create(svc, ADMIN, network_id=net["id"], project_id="alice", **{"binding:host_id": "h1"})
    assert p["binding:vif_type"] == "tap"
    assert p["binding:vif_details"]["bridge_name"].startswith("nubob")
    assert p["binding:vif_details"]["port_filter"] is True
    assert p["status"] == "ACTIVE"
    shown = ports.get_port(svc, ALICE, p["id"])
    assert "binding:host_id" not in shown and "binding:vif_type" not in shown
    assert shown["status"] == "ACTIVE"
    down = update(svc, p["id"], ADMIN, admin_state_up=False)
    assert down["status"] == "DOWN"
    unbound = update(svc, p["id"], ADMIN, admin_state_up=True, **{"binding:host_id": ""})
    assert unbound["binding:vif_type"] == "unbound" and unbound["binding:vif_details"] == {}
    assert unbound["status"] == "DOWN"
    with pytest.raises(BadRequest):
        create(svc, ADMIN, network_id=net["id"], **{"binding:vif_type": "tap"})


# -- update --------------------------------------------------------------------------------


def test_update_fixed_ips(svc: NetworkService) -> None:
    net = network(svc)
    sub = subnet(svc, net["id"], "10.6.0.0/24")
    p = create(svc, network_id=net["id"], fixed_ips=[{"ip_address": "10.6.0.10"}])
    two = update(svc, p["id"], fixed_ips=[{"ip_address": "10.6.0.10"}, {"subnet_id": sub}])
    assert sorted(ips(two)) == ["10.6.0.10", "10.6.0.2"]
    # keep .10, drop the other, add .20
    three = update(
        svc,
        p["id"],
        fixed_ips=[{"subnet_id": sub, "ip_address": "10.6.0.10"}, {"ip_address": "10.6.0.20"}],
    )
    assert sorted(ips(three)) == ["10.6.0.10", "10.6.0.20"]
    other = create(svc, network_id=net["id"], fixed_ips=[{"ip_address": "10.6.0.2"}])
    with pytest.raises(Conflict):
        update(svc, other["id"], fixed_ips=[{"ip_address": "10.6.0.20"}])
    # the failed update left the other port as it was
    assert ips(ports.get_port(svc, ALICE, other["id"])) == ["10.6.0.2"]
    assert three["revision_number"] > p["revision_number"]
    with pytest.raises(BadRequest):
        update(svc, p["id"], network_id=net["id"])


def test_update_mac_and_slaac(svc: NetworkService) -> None:
    net = network(svc)
    subnet(svc, net["id"], "10.7.0.0/24")
    v6 = subnet(
        svc,
        net["id"],
        "2001:db8:7::/64",
        ipv6_address_mode="slaac",
        ipv6_ra_mode="slaac",
    )
    p = create(svc, network_id=net["id"])
    v6_ip = next(f["ip_address"] for f in p["fixed_ips"] if f["subnet_id"] == v6)
    assert v6_ip == ipam.eui64("2001:db8:7::/64", p["mac_address"])
    moved = update(svc, p["id"], ADMIN, mac_address="fa:16:3e:aa:bb:cc")
    assert ipam.eui64("2001:db8:7::/64", "fa:16:3e:aa:bb:cc") in ips(moved)
    assert len(moved["fixed_ips"]) == 2
    # the SLAAC address stays when fixed_ips names only the IPv4 one
    v4_only = update(svc, p["id"], fixed_ips=[{"ip_address": "10.7.0.30"}])
    assert sorted(ips(v4_only)) == sorted(
        ["10.7.0.30", ipam.eui64("2001:db8:7::/64", "fa:16:3e:aa:bb:cc")]
    )
    other = create(svc, network_id=net["id"])
    with pytest.raises(Conflict) as err:
        update(svc, other["id"], ADMIN, mac_address="fa:16:3e:aa:bb:cc")
    assert err.value.type_name == "MacAddressInUse"
    bound = create(svc, ADMIN, network_id=net["id"], project_id="alice", **{"binding:host_id": "h"})
    with pytest.raises(Conflict) as err:
        update(svc, bound["id"], ADMIN, mac_address="fa:16:3e:aa:bb:cd")
    assert err.value.type_name == "PortBound"


def test_port_security_rules(svc: NetworkService) -> None:
    net = network(svc)
    subnet(svc, net["id"], "10.8.0.0/24")
    group = create(svc, network_id=net["id"])["security_groups"][0]
    with pytest.raises(BadRequest) as err:
        create(svc, network_id=net["id"], port_security_enabled=False, security_groups=[group])
    assert err.value.type_name == "PortSecurityAndIPRequiredForSecurityGroups"
    with pytest.raises(Conflict) as err:
        create(
            svc,
            network_id=net["id"],
            port_security_enabled=False,
            allowed_address_pairs=[{"ip_address": "10.8.0.200"}],
        )
    assert err.value.type_name == "AddressPairAndPortSecurityRequired"
    open_port = create(svc, network_id=net["id"], port_security_enabled=False)
    assert open_port["security_groups"] == [] and open_port["port_security_enabled"] is False
    p = create(svc, network_id=net["id"])
    with pytest.raises(Conflict) as err:
        update(svc, p["id"], port_security_enabled=False)
    assert err.value.type_name == "PortSecurityPortHasSecurityGroup"
    off = update(svc, p["id"], port_security_enabled=False, security_groups=[])
    assert off["security_groups"] == [] and not off["port_security_enabled"]
    on = update(svc, p["id"], port_security_enabled=True, security_groups=[group])
    assert on["security_groups"] == [group]
    paired = update(
        svc, p["id"], security_groups=[], allowed_address_pairs=[{"ip_address": "10.8.0.0/28"}]
    )
    with pytest.raises(Conflict) as err:
        update(svc, p["id"], port_security_enabled=False)
    assert err.value.type_name == "AddressPairAndPortSecurityRequired"
    assert paired["allowed_address_pairs"] == [
        {"ip_address": "10.8.0.0/28", "mac_address": p["mac_address"]}
    ]
    # unsecured networks make unsecured ports without groups
    plain = network(svc, port_security_enabled=False)
    subnet(svc, plain["id"], "10.9.0.0/24")
    q = create(svc, network_id=plain["id"])
    assert q["port_security_enabled"] is False and q["security_groups"] == []


def test_security_groups_must_be_visible(svc: NetworkService) -> None:
    net = network(svc)
    subnet(svc, net["id"], "10.10.0.0/24")
    bob_net = network(svc, BOB)
    subnet(svc, bob_net["id"], "10.10.0.0/24", project="bob")
    bob_group = create(svc, BOB, network_id=bob_net["id"])["security_groups"][0]
    with pytest.raises(NotFound) as err:
        create(svc, network_id=net["id"], security_groups=[bob_group])
    assert err.value.type_name == "SecurityGroupNotFound"
    with pytest.raises(NotFound):
        create(svc, network_id=net["id"], security_groups=[m.new_uuid()])
    p = create(svc, network_id=net["id"])
    with pytest.raises(NotFound):
        update(svc, p["id"], security_groups=[bob_group])


def test_address_pairs_and_dhcp_opts(svc: NetworkService) -> None:
    net = network(svc)
    subnet(svc, net["id"], "10.11.0.0/24")
    with pytest.raises(BadRequest) as err:
        create(
            svc,
            network_id=net["id"],
            allowed_address_pairs=[{"ip_address": "10.11.0.9"}, {"ip_address": "10.11.0.9"}],
        )
    assert err.value.type_name == "DuplicateAddressPairInRequest"
    p = create(
        svc,
        network_id=net["id"],
        extra_dhcp_opts=[
            {"opt_name": "bootfile-name", "opt_value": "pxelinux.0"},
            {"opt_name": "tftp-server", "opt_value": "10.11.0.1", "ip_version": 4},
            {"opt_name": "dns-server", "opt_value": None},
        ],
    )
    assert sorted(o["opt_name"] for o in p["extra_dhcp_opts"]) == ["bootfile-name", "tftp-server"]
    changed = update(
        svc,
        p["id"],
        extra_dhcp_opts=[
            {"opt_name": "bootfile-name", "opt_value": None},
            {"opt_name": "tftp-server", "opt_value": "10.11.0.2"},
            {"opt_name": "mtu", "opt_value": "1400", "ip_version": 4},
        ],
    )
    assert sorted((o["opt_name"], o["opt_value"]) for o in changed["extra_dhcp_opts"]) == [
        ("mtu", "1400"),
        ("tftp-server", "10.11.0.2"),
    ]
    assert all(o["ip_version"] == 4 for o in changed["extra_dhcp_opts"])
    with pytest.raises(BadRequest) as err:
        update(svc, p["id"], extra_dhcp_opts=[{"opt_name": "x", "opt_value": "1", "ip_version": 5}])
    assert err.value.type_name == "ExtraDhcpOptBadData"
    named = update(svc, p["id"], dns_name="Web-1")
    assert named["dns_name"] == "web-1"
    assert named["dns_assignment"][0]["hostname"] == "web-1"
    assert named["dns_assignment"][0]["fqdn"] == "web-1.openstacklocal."
    with pytest.raises(BadRequest):
        update(svc, p["id"], dns_name="-bad-")


def test_if_match(svc: NetworkService) -> None:
    net = network(svc)
    subnet(svc, net["id"], "10.12.0.0/24")
    p = create(svc, network_id=net["id"])
    body = parse_item({"name": "x"}, "port", ports.ATTRS, update=True)
    with pytest.raises(PreconditionFailed):
        ports.update_port(svc, ALICE, p["id"], body, {"if-match": "revision_number=99"})
    good = f"revision_number={p['revision_number']}"
    ports.update_port(svc, ALICE, p["id"], body, {"if-match": good})
    with pytest.raises(PreconditionFailed):
        ports.delete_port(svc, ALICE, p["id"], {"if-match": good})


# -- delete ---------------------------------------------------------------------------------


def test_delete_rules_and_floating_ips(svc: NetworkService) -> None:
    net = network(svc)
    subnet(svc, net["id"], "10.13.0.0/24")
    p = create(svc, network_id=net["id"])
    with svc.db.session() as s:
        router = m.Router(project_id="alice", name="r")
        s.add(router)
        s.flush()
        router_id = router.id
        iface = ports.new_port(
            svc,
            s,
            project_id="alice",
            network=s.get(m.Network, net["id"]),
            device_owner="network:router_interface",
            device_id=router_id,
        )
        iface_id = iface.id
        fip = m.FloatingIp(
            project_id="alice",
            floating_network_id=net["id"],
            floating_ip_address="172.24.4.10",
            floating_port_id=m.new_uuid(),
            fixed_port_id=p["id"],
            fixed_ip_address=ips(p)[0],
            router_id=router_id,
            status="ACTIVE",
        )
        s.add(fip)
        s.flush()
        fip_id = fip.id
        s.add(
            m.PortForwarding(
                floatingip_id=fip_id,
                internal_port_id=p["id"],
                internal_ip_address=ips(p)[0],
                internal_port=22,
                external_port=2222,
                protocol="tcp",
            )
        )
    shown = ports.get_port(svc, ALICE, iface_id)
    assert shown["status"] == "ACTIVE" and shown["security_groups"] == []
    with pytest.raises(Conflict) as err:
        ports.delete_port(svc, ALICE, iface_id, {})
    assert err.value.type_name == "L3PortInUse"
    ports.delete_port(svc, ALICE, p["id"], {})
    with svc.db.reader() as s:
        fip_row = s.get(m.FloatingIp, fip_id)
        assert fip_row is not None
        assert fip_row.fixed_port_id is None and fip_row.router_id is None
        assert fip_row.fixed_ip_address is None
        assert not list(s.scalars(select(m.PortForwarding)))
    with svc.db.session() as s:
        s.delete(s.get(m.Router, router_id))
    ports.delete_port(svc, ALICE, iface_id, {})


def test_quota(svc: NetworkService) -> None:
    net = network(svc)
    subnet(svc, net["id"], "10.14.0.0/24")
    with svc.db.session() as s:
        s.add(m.Quota(project_id="alice", resource="port", limit=1))
    create(svc, network_id=net["id"])
    with pytest.raises(Conflict) as err:
        create(svc, network_id=net["id"])
    assert err.value.type_name == "OverQuota"


# -- lists -------------------------------------------------------------------------------------


def test_list_filters(svc: NetworkService) -> None:
    net = network(svc)
    sub = subnet(svc, net["id"], "10.15.0.0/24")
    a = create(svc, network_id=net["id"], fixed_ips=[{"ip_address": "10.15.0.11"}], device_id="vm1")
    b = create(svc, network_id=net["id"], fixed_ips=[{"ip_address": "10.15.0.21"}])

    def listed(**filters: list[str]) -> set[str]:
        return {p["id"] for p in ports.list_ports(svc, ALICE, filters)}

    assert listed(fixed_ips=["ip_address=10.15.0.11"]) == {a["id"]}
    assert listed(fixed_ips=["ip_address=10.15.0.11", "ip_address=10.15.0.21"]) == {
        a["id"],
        b["id"],
    }
    assert listed(fixed_ips=[f"subnet_id={sub}"]) == {a["id"], b["id"]}
    assert listed(fixed_ips=["ip_address_substr=0.2"]) == {b["id"]}
    assert listed(fixed_ips=[f"subnet_id={sub}", "ip_address=10.15.0.99"]) == set()
    assert listed(device_id=["vm1"]) == {a["id"]}
    assert listed(id=[b["id"]]) == {b["id"]}
    with pytest.raises(BadRequest):
        listed(fixed_ips=["10.15.0.11"])


# -- pure helpers ---------------------------------------------------------------------------


def test_changed_ips() -> None:
    orig = [
        {"subnet_id": "s4", "ip_address": "10.0.0.5"},
        {"subnet_id": "s4", "ip_address": "10.0.0.6"},
        {"subnet_id": "s6", "ip_address": "2001:db8::1"},
    ]
    c = ports.changed_ips(orig, [{"ip_address": "10.0.0.5"}, {"subnet_id": "s4"}], {"s6"})
    assert {i["ip_address"] for i in c.keep} == {"10.0.0.5", "10.0.0.6", "2001:db8::1"}
    assert c.add == [] and c.remove == []
    c = ports.changed_ips(orig, [{"ip_address": "10.0.0.7"}], {"s6"})
    assert c.add == [{"ip_address": "10.0.0.7"}]
    assert {i["ip_address"] for i in c.remove} == {"10.0.0.5", "10.0.0.6"}
    assert [i["ip_address"] for i in c.keep] == ["2001:db8::1"]
    c = ports.changed_ips(orig, [], set())
    assert len(c.remove) == 3


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("web", True),
        ("web-1.example.org.", True),
        ("a" * 63, True),
        ("a" * 64, False),
        ("-web", False),
        ("web_1", False),
        ("a..b", False),
        ("host.123", False),
        ("", True),
    ],
)
def test_dns_name(value: str, ok: bool) -> None:
    if ok:
        assert port_attributes.dns_name(value) == value.lower()
    else:
        with pytest.raises(ValueError):
            port_attributes.dns_name(value)


def test_attribute_parsing() -> None:
    with pytest.raises(BadRequest, match="Duplicate IP"):
        parse_item(
            {
                "network_id": m.new_uuid(),
                "fixed_ips": [{"ip_address": "10.0.0.1"}, {"ip_address": "10.0.0.1"}],
            },
            "port",
            ports.ATTRS,
        )
    with pytest.raises(BadRequest, match="Exceeded maximum"):
        parse_item(
            {"network_id": m.new_uuid(), "fixed_ips": [{"subnet_id": m.new_uuid()}] * 6},
            "port",
            ports.ATTRS,
        )
    with pytest.raises(BadRequest, match="Required attribute 'network_id'"):
        parse_item({"name": "x"}, "port", ports.ATTRS)
    with pytest.raises(BadRequest) as err:
        parse_item(
            {
                "network_id": m.new_uuid(),
                "allowed_address_pairs": [{"ip_address": "10.0.0.1"}] * 11,
            },
            "port",
            ports.ATTRS,
        )
    assert err.value.type_name == "AllowedAddressPairExhausted"
    parsed = parse_item(
        {
            "network_id": m.new_uuid(),
            "allowed_address_pairs": [{"ip_address": "10.0.0.5/24"}],
            "binding:profile": None,
        },
        "port",
        ports.ATTRS,
    )
    assert parsed["allowed_address_pairs"] == [{"ip_address": "10.0.0.5/24"}]
    assert parsed["binding:profile"] == {}
    with pytest.raises(BadRequest):
        parse_item({"network_id": m.new_uuid(), "binding:vnic_type": "fancy"}, "port", ports.ATTRS)
