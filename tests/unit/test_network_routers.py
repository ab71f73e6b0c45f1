"""Routers, floating IPs and port forwardings in the service layer on a real (SQLite)
database, subnets made as rows: gateways, interfaces and their conflicts, extra routes,
floating IP association rules, port forwarding collisions, and the routers' desired
state for the agent (``routers.specs``)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from nubo.api.policy import PolicyEngine
from nubo.config import Config
from nubo.db import migrate
from nubo.db.engine import Database
from nubo.errors import BadRequest, Conflict, Forbidden, NotFound
from nubo.network import floating_ips, ipam, networks, port_forwardings, ports, routers
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


def network(svc: NetworkService, who: Caller = ALICE, **attrs: Any) -> str:
    return str(networks.create_network(svc, who, {"name": "n", **attrs})["id"])


def subnet(
    svc: NetworkService, network_id: str, cidr: str, project: str = "alice", **columns: Any
) -> str:
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


def port(svc: NetworkService, network_id: str, who: Caller = ALICE, **attrs: Any) -> dict[str, Any]:
    return ports.create_port(svc, who, {"network_id": network_id, **attrs})


@pytest.fixture
def public(svc: NetworkService) -> tuple[str, str]:
    """An external network with a subnet: (network id, subnet id)."""
    net = network(svc, ADMIN, **{"router:external": True})
    return net, subnet(svc, net, "172.24.4.0/24", project="admin-project")


def router(svc: NetworkService, who: Caller = ALICE, **attrs: Any) -> dict[str, Any]:
    return routers.create_router(svc, who, {"name": "r", **attrs})


def attach(svc: NetworkService, router_id: str, who: Caller = ALICE, **body: str) -> Any:
    return routers.add_router_interface(svc, who, router_id, body)


def count(svc: NetworkService, model: Any, *where: Any) -> int:
    with svc.db.reader() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


# -- routers ---------------------------------------------------------------------------


def test_gateway_port_and_view(svc: NetworkService, public: tuple[str, str]) -> None:
    net, ext_subnet = public
    r = router(svc, external_gateway_info={"network_id": net})
    gw = r["external_gateway_info"]
    assert gw["network_id"] == net and gw["enable_snat"] is True
    assert [f["subnet_id"] for f in gw["external_fixed_ips"]] == [ext_subnet]
    assert r["status"] == "ACTIVE" and r["routes"] == [] and r["availability_zones"] == ["nova"]
    assert "distributed" not in r and "ha" not in r
    assert routers.get_router(svc, ADMIN, r["id"])["ha"] is False
    with svc.db.reader() as s:
        row = s.get(m.Router, r["id"])
        assert row is not None
        gw_port = s.get(m.Port, row.gw_port_id)
        assert gw_port is not None
        assert (gw_port.device_owner, gw_port.device_id, gw_port.project_id) == (
            "network:router_gateway",
            r["id"],
            "",
        )
    # clearing removes the port
    cleared = routers.update_router(svc, ALICE, r["id"], {"external_gateway_info": None}, {})
    assert cleared["external_gateway_info"] is None
    assert count(svc, m.Port, m.Port.device_owner == "network:router_gateway") == 0


def test_gateway_rules(svc: NetworkService, public: tuple[str, str]) -> None:
    net, ext_subnet = public
    private = network(svc)
    with pytest.raises(BadRequest, match="is not an external network"):
        router(svc, external_gateway_info={"network_id": private})
    with pytest.raises(NotFound):
        router(svc, BOB, external_gateway_info={"network_id": private})
    with pytest.raises(Forbidden):
        router(svc, external_gateway_info={"network_id": net, "enable_snat": False})
    with pytest.raises(Forbidden):
        router(
            svc,
            external_gateway_info={
                "network_id": net,
                "external_fixed_ips": [{"subnet_id": ext_subnet}],
            },
        )
    r = router(
        svc,
        ADMIN,
        external_gateway_info={
            "network_id": net,
            "enable_snat": False,
            "external_fixed_ips": [{"ip_address": "172.24.4.50"}],
        },
    )
    assert r["external_gateway_info"]["enable_snat"] is False
    assert r["external_gateway_info"]["external_fixed_ips"][0]["ip_address"] == "172.24.4.50"
    with pytest.raises(Conflict):  # address taken by the first router
        router(
            svc,
            ADMIN,
            external_gateway_info={
                "network_id": net,
                "external_fixed_ips": [{"ip_address": "172.24.4.50"}],
            },
        )
    with pytest.raises(BadRequest, match="same as the gateway IP"):
        router(
            svc,
            ADMIN,
            external_gateway_info={
                "network_id": net,
                "external_fixed_ips": [{"ip_address": "172.24.4.1"}],
            },
        )
    # a changed address on the same network keeps the port
    moved = routers.update_router(
        svc,
        ADMIN,
        r["id"],
        {
            "external_gateway_info": {
                "network_id": net,
                "external_fixed_ips": [{"ip_address": "172.24.4.60"}],
            }
        },
        {},
    )
    assert moved["external_gateway_info"]["external_fixed_ips"][0]["ip_address"] == "172.24.4.60"
    # given again without enable_snat, it goes back to the default
    assert moved["external_gateway_info"]["enable_snat"] is True


def test_unsupported_attributes(svc: NetworkService) -> None:
    with pytest.raises(Forbidden):
        router(svc, distributed=False)
    with pytest.raises(BadRequest):
        router(svc, ADMIN, ha=True)
    with pytest.raises(NotFound):
        router(svc, availability_zone_hints=["elsewhere"])
    assert router(svc, availability_zone_hints=["nova"])["availability_zone_hints"] == ["nova"]
    with pytest.raises(BadRequest, match="not allowed in POST"):
        parse_item({"routes": []}, "router", routers.ATTRS)


def test_interfaces(svc: NetworkService) -> None:
    net = network(svc)
    sub = subnet(svc, net, "10.0.0.0/24")
    r = router(svc)
    info = attach(svc, r["id"], subnet_id=sub)
    assert info["subnet_id"] == sub and info["subnet_ids"] == [sub]
    assert info["network_id"] == net and info["project_id"] == "alice"
    with svc.db.reader() as s:
        held = ipam.of_ports(s, [info["port_id"]])[info["port_id"]]
    assert held == [{"subnet_id": sub, "ip_address": "10.0.0.1"}]
    with pytest.raises(BadRequest, match="already has a port on subnet"):
        attach(svc, r["id"], subnet_id=sub)
    other = subnet(svc, network(svc), "10.0.0.128/25")
    with pytest.raises(BadRequest, match="overlaps with cidr"):
        attach(svc, r["id"], subnet_id=other)
    with pytest.raises(BadRequest, match="Cannot specify both"):
        attach(svc, r["id"], subnet_id=sub, port_id=info["port_id"])
    with pytest.raises(BadRequest, match="Either subnet_id or port_id"):
        routers.add_router_interface(svc, ALICE, r["id"], {})
    with pytest.raises(NotFound):
        attach(svc, r["id"], BOB, subnet_id=sub)
    no_gw = subnet(svc, network(svc), "10.9.0.0/24", gateway_ip=None)
    with pytest.raises(BadRequest, match="must have a gateway IP"):
        attach(svc, r["id"], subnet_id=no_gw)
    # a router with interfaces is in use
    with pytest.raises(Conflict) as exc:
        routers.delete_router(svc, ALICE, r["id"], {})
    assert exc.value.kind == "RouterInUse"
    removed = routers.remove_router_interface(svc, ALICE, r["id"], {"subnet_id": sub})
    assert removed["port_id"] == info["port_id"]
    with pytest.raises(NotFound) as missing:
        routers.remove_router_interface(svc, ALICE, r["id"], {"subnet_id": sub})
    assert missing.value.kind == "RouterInterfaceNotFoundForSubnet"
    with pytest.raises(NotFound) as missing:
        routers.remove_router_interface(svc, ALICE, r["id"], {"port_id": info["port_id"]})
    assert missing.value.kind == "RouterInterfaceNotFound"
    routers.delete_router(svc, ALICE, r["id"], {})


def test_interface_by_port(svc: NetworkService) -> None:
    net = network(svc)
    subnet(svc, net, "10.1.0.0/24")
    p = port(svc, net)
    r = router(svc)
    info = attach(svc, r["id"], port_id=p["id"])
    assert info["port_id"] == p["id"]
    shown = ports.get_port(svc, ALICE, p["id"])
    assert shown["device_owner"] == "network:router_interface"
    assert shown["device_id"] == r["id"]
    r2 = router(svc)
    with pytest.raises(Conflict) as exc:
        attach(svc, r2["id"], port_id=p["id"])
    assert exc.value.kind == "PortInUse"
    bare = port(svc, net, fixed_ips=[])
    with pytest.raises(BadRequest, match="at least one fixed IP"):
        attach(svc, r2["id"], port_id=bare["id"])
    with pytest.raises(NotFound):
        attach(svc, router(svc, BOB)["id"], BOB, port_id=bare["id"])
    routers.remove_router_interface(svc, ALICE, r["id"], {"port_id": p["id"]})
    assert count(svc, m.Port, m.Port.id == p["id"]) == 0  # as Neutron: the port goes


def test_shared_network_subnet(svc: NetworkService) -> None:
    net = network(svc, ADMIN, shared=True, project_id="alice")
    sub = subnet(svc, net, "10.2.0.0/24")
    r = router(svc, BOB)
    # shared with everyone: the gateway address is the owner's to use
    with pytest.raises(BadRequest, match="not owned by project"):
        attach(svc, r["id"], BOB, subnet_id=sub)
    with svc.db.session() as s:
        s.add(
            m.RbacPolicy(
                project_id="alice",
                object_type="network",
                object_id=net,
                action="access_as_shared",
                target_tenant="bob",
            )
        )
    assert attach(svc, r["id"], BOB, subnet_id=sub)["project_id"] == "bob"


def test_routes(svc: NetworkService, public: tuple[str, str]) -> None:
    net = network(svc)
    sub = subnet(svc, net, "10.3.0.0/24")
    r = router(svc, external_gateway_info={"network_id": public[0]})
    attach(svc, r["id"], subnet_id=sub)
    route = {"destination": "192.168.0.0/16", "nexthop": "10.3.0.10"}
    updated = routers.update_router(svc, ALICE, r["id"], {"routes": [route]}, {})
    assert updated["routes"] == [route]
    with pytest.raises(BadRequest) as exc:
        routers.update_router(
            svc,
            ALICE,
            r["id"],
            {"routes": [{"destination": "0.0.0.0/0", "nexthop": "10.9.9.9"}]},
            {},
        )
    assert exc.value.kind == "InvalidRoutes"
    with pytest.raises(BadRequest, match="used by router"):
        routers.update_router(
            svc,
            ALICE,
            r["id"],
            {"routes": [{"destination": "1.0.0.0/8", "nexthop": "10.3.0.1"}]},
            {},
        )
    # the gateway's subnet is a valid nexthop too
    via_gw = {"destination": "8.8.8.0/24", "nexthop": "172.24.4.254"}
    added = routers.change_extraroutes(
        svc, ALICE, r["id"], {"router": {"routes": [via_gw, route]}}, add=True
    )
    assert added["routes"] == [route, via_gw]
    with pytest.raises(Conflict) as in_use:
        routers.remove_router_interface(svc, ALICE, r["id"], {"subnet_id": sub})
    assert in_use.value.kind == "RouterInterfaceInUseByRoute"
    removed = routers.change_extraroutes(
        svc, ALICE, r["id"], {"router": {"routes": [route]}}, add=False
    )
    assert removed["routes"] == [via_gw]
    with pytest.raises(BadRequest, match="Duplicate"):
        parse_item({"routes": [via_gw, via_gw]}, "router", routers.ATTRS, update=True)


# -- floating IPs ------------------------------------------------------------------------


def _routed(svc: NetworkService, public: tuple[str, str]) -> tuple[str, str, dict[str, Any]]:
    """A private network routed to the public one: (router id, subnet id, a port)."""
    net = network(svc)
    sub = subnet(svc, net, "10.4.0.0/24")
    r = router(svc, external_gateway_info={"network_id": public[0]})
    attach(svc, r["id"], subnet_id=sub)
    return r["id"], sub, port(svc, net)


def test_floating_ip_lifecycle(svc: NetworkService, public: tuple[str, str]) -> None:
    router_id, sub, p = _routed(svc, public)
    fip = floating_ips.create_floatingip(svc, ALICE, {"floating_network_id": public[0]})
    assert fip["status"] == "DOWN" and fip["port_id"] is None and fip["router_id"] is None
    assert fip["port_details"] is None and fip["port_forwardings"] == []
    assert ipaddress.ip_address(fip["floating_ip_address"]) in ipaddress.ip_network("172.24.4.0/24")
    assert "name" not in fip
    with svc.db.reader() as s:
        fport = s.scalar(select(m.Port).where(m.Port.device_id == fip["id"]))
        assert fport is not None and fport.device_owner == "network:floatingip"
        assert fport.project_id == ""
    assoc = floating_ips.update_floatingip(svc, ALICE, fip["id"], {"port_id": p["id"]}, {})
    assert assoc["status"] == "ACTIVE" and assoc["router_id"] == router_id
    assert assoc["fixed_ip_address"] == p["fixed_ips"][0]["ip_address"]
    assert assoc["port_details"]["mac_address"] == p["mac_address"]
    # a second floating IP for the same fixed address
    other = floating_ips.create_floatingip(svc, ALICE, {"floating_network_id": public[0]})
    with pytest.raises(Conflict) as exc:
        floating_ips.update_floatingip(svc, ALICE, other["id"], {"port_id": p["id"]}, {})
    assert exc.value.kind == "FloatingIPPortAlreadyAssociated"
    with pytest.raises(BadRequest, match="does not have fixed ip"):
        floating_ips.update_floatingip(
            svc, ALICE, other["id"], {"port_id": p["id"], "fixed_ip_address": "10.4.0.250"}, {}
        )
    # the interface and the gateway are needed while it is associated
    with pytest.raises(Conflict) as in_use:
        routers.remove_router_interface(svc, ALICE, router_id, {"subnet_id": sub})
    assert in_use.value.kind == "RouterInterfaceInUseByFloatingIP"
    with pytest.raises(Conflict) as gw_used:
        routers.update_router(svc, ALICE, router_id, {"external_gateway_info": None}, {})
    assert gw_used.value.kind == "RouterExternalGatewayInUseByFloatingIp"
    # other projects see nothing
    with pytest.raises(NotFound):
        floating_ips.get_floatingip(svc, BOB, fip["id"])
    assert floating_ips.list_floatingips(svc, BOB, {}) == []
    freed = floating_ips.update_floatingip(svc, ALICE, fip["id"], {"port_id": None}, {})
    assert freed["status"] == "DOWN" and freed["router_id"] is None
    floating_ips.delete_floatingip(svc, ALICE, fip["id"], {})
    floating_ips.delete_floatingip(svc, ALICE, other["id"], {})
    assert count(svc, m.Port, m.Port.device_owner == "network:floatingip") == 0
    routers.remove_router_interface(svc, ALICE, router_id, {"subnet_id": sub})


def test_floating_ip_rules(svc: NetworkService, public: tuple[str, str]) -> None:
    private = network(svc)
    subnet(svc, private, "10.5.0.0/24")
    with pytest.raises(BadRequest, match="not a valid external network"):
        floating_ips.create_floatingip(svc, ALICE, {"floating_network_id": private})
    unrouted = port(svc, private)
    with pytest.raises(NotFound) as exc:
        floating_ips.create_floatingip(
            svc, ALICE, {"floating_network_id": public[0], "port_id": unrouted["id"]}
        )
    assert exc.value.kind == "ExternalGatewayForFloatingIPNotFound"
    with pytest.raises(Forbidden):
        floating_ips.create_floatingip(
            svc, ALICE, {"floating_network_id": public[0], "floating_ip_address": "172.24.4.77"}
        )
    chosen = floating_ips.create_floatingip(
        svc, ADMIN, {"floating_network_id": public[0], "floating_ip_address": "172.24.4.77"}
    )
    assert chosen["floating_ip_address"] == "172.24.4.77"
    with pytest.raises(Conflict):
        floating_ips.create_floatingip(
            svc, ADMIN, {"floating_network_id": public[0], "floating_ip_address": "172.24.4.77"}
        )
    with pytest.raises(BadRequest, match="without a port_id"):
        floating_ips.create_floatingip(
            svc, ALICE, {"floating_network_id": public[0], "fixed_ip_address": "10.5.0.3"}
        )
    # a port of another project
    _, _, theirs = _routed(svc, public)
    with pytest.raises(NotFound):
        floating_ips.create_floatingip(
            svc, BOB, {"floating_network_id": public[0], "port_id": theirs["id"]}
        )


def test_deleting_port_disassociates(svc: NetworkService, public: tuple[str, str]) -> None:
    _, _, p = _routed(svc, public)
    fip = floating_ips.create_floatingip(
        svc, ALICE, {"floating_network_id": public[0], "port_id": p["id"]}
    )
    assert fip["status"] == "ACTIVE"
    ports.delete_port(svc, ALICE, p["id"], {})
    after = floating_ips.get_floatingip(svc, ALICE, fip["id"])
    assert (after["port_id"], after["fixed_ip_address"], after["router_id"]) == (None, None, None)


# -- port forwardings --------------------------------------------------------------------


def create_pf(svc: NetworkService, who: Caller, fip_id: str, body: dict[str, Any]) -> Any:
    attrs = parse_item(body, "port_forwarding", port_forwardings.ATTRS)
    return port_forwardings.create_port_forwarding(svc, who, fip_id, attrs)


def test_port_forwardings(svc: NetworkService, public: tuple[str, str]) -> None:
    router_id, _, p = _routed(svc, public)
    fip = floating_ips.create_floatingip(svc, ALICE, {"floating_network_id": public[0]})
    address = p["fixed_ips"][0]["ip_address"]
    body = {
        "protocol": "tcp",
        "internal_port_id": p["id"],
        "internal_ip_address": address,
        "internal_port": 22,
        "external_port": 2222,
    }
    pf = create_pf(svc, ALICE, fip["id"], dict(body))
    assert pf["external_port_range"] == "2222:2222" and pf["internal_port"] == 22
    shown = floating_ips.get_floatingip(svc, ALICE, fip["id"])
    assert shown["router_id"] == router_id and shown["status"] == "ACTIVE"
    assert [x["id"] for x in shown["port_forwardings"]] == [pf["id"]]
    with pytest.raises(BadRequest, match="collision with the external_port_range"):
        create_pf(svc, ALICE, fip["id"], {**body, "internal_port": 23})
    with pytest.raises(BadRequest, match="collision with the internal_port_range"):
        create_pf(svc, ALICE, fip["id"], {**body, "external_port": 2223})
    ranged = create_pf(
        svc,
        ALICE,
        fip["id"],
        {
            "protocol": "udp",
            "internal_port_id": p["id"],
            "internal_port_range": "5000:5009",
            "external_port_range": "6000:6009",
        },
    )
    assert ranged["external_port"] is None and ranged["internal_port_range"] == "5000:5009"
    with pytest.raises(BadRequest, match="N-N or 1-N"):
        create_pf(
            svc,
            ALICE,
            fip["id"],
            {
                "protocol": "udp",
                "internal_port_id": p["id"],
                "internal_port_range": "7000:7002",
                "external_port_range": "7000:7009",
            },
        )
    # a floating IP forwarding ports cannot be associated, and the other way round
    with pytest.raises(Conflict) as exc:
        floating_ips.update_floatingip(svc, ALICE, fip["id"], {"port_id": p["id"]}, {})
    assert exc.value.kind == "FipInUseByPortForwarding"
    bound = floating_ips.create_floatingip(
        svc, ALICE, {"floating_network_id": public[0], "port_id": p["id"]}
    )
    other = floating_ips.create_floatingip(svc, ALICE, {"floating_network_id": public[0]})
    with pytest.raises(Conflict) as exc:
        create_pf(svc, ALICE, other["id"], {**body, "internal_port": 24})
    assert exc.value.kind == "PortHasBindingFloatingIP"
    floating_ips.update_floatingip(svc, ALICE, bound["id"], {"port_id": None}, {})
    pf_bound = floating_ips.update_floatingip(svc, ALICE, bound["id"], {"port_id": p["id"]}, {})
    with pytest.raises(Conflict) as exc:
        create_pf(svc, ALICE, bound["id"], {**body, "internal_port": 25, "external_port": 80})
    assert exc.value.kind in ("PortHasBindingFloatingIP", "FloatingIPPortAlreadyAssociated")
    assert pf_bound["port_id"] == p["id"]
    # update, isolation, delete
    moved = port_forwardings.update_port_forwarding(
        svc, ALICE, fip["id"], pf["id"], {"external_port": 2022, "description": "ssh"}
    )
    assert moved["external_port"] == 2022 and moved["description"] == "ssh"
    with pytest.raises(NotFound):
        port_forwardings.list_port_forwardings(svc, BOB, fip["id"])
    with pytest.raises(NotFound):
        port_forwardings.get_port_forwarding(svc, ALICE, other["id"], pf["id"])
    port_forwardings.delete_port_forwarding(svc, ALICE, fip["id"], pf["id"])
    port_forwardings.delete_port_forwarding(svc, ALICE, fip["id"], ranged["id"])
    done = floating_ips.get_floatingip(svc, ALICE, fip["id"])
    assert done["router_id"] is None and done["status"] == "DOWN"


def test_port_range_converter() -> None:
    assert port_forwardings.port_range("80") == (80, 80)
    assert port_forwardings.port_range(80) == (80, 80)
    assert port_forwardings.port_range("80:90") == (80, 90)
    for bad in ("90:80", "0:5", "1:70000", "a", "1:2:3", None):
        with pytest.raises(ValueError):
            port_forwardings.port_range(bad)


# -- the agent's view ---------------------------------------------------------------------


def test_specs(svc: NetworkService, public: tuple[str, str]) -> None:
    router_id, _, p = _routed(svc, public)
    v6net = network(svc)
    v6 = subnet(svc, v6net, "fd00:1::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    attach(svc, router_id, subnet_id=v6)
    fip = floating_ips.create_floatingip(
        svc, ALICE, {"floating_network_id": public[0], "port_id": p["id"]}
    )
    pf_fip = floating_ips.create_floatingip(svc, ALICE, {"floating_network_id": public[0]})
    other = port(svc, p["network_id"])
    pf = create_pf(
        svc,
        ALICE,
        pf_fip["id"],
        {
            "protocol": "tcp",
            "internal_port_id": other["id"],
            "internal_port_range": "80:81",
            "external_port_range": "8080:8081",
        },
    )
    routers.update_router(
        svc,
        ALICE,
        router_id,
        {"routes": [{"destination": "10.99.0.0/16", "nexthop": "10.4.0.9"}]},
        {},
    )
    empty = router(svc, BOB)
    with svc.db.reader() as s:
        specs = {spec.id: spec for spec in routers.specs(s, "host")}
    assert set(specs) == {router_id, empty["id"]}
    spec = specs[router_id]
    assert sorted(a for i in spec.interfaces for a in i.addresses) == [
        "10.4.0.1/24",
        "fd00:1::1/64",
    ]
    assert {i.mtu for i in spec.interfaces} == {1450}
    assert spec.gateway is not None
    assert spec.gateway.gateway_ips == ("172.24.4.1",)
    assert spec.gateway.addresses[0].endswith("/24") and spec.gateway.enable_snat
    assert spec.routes == (("10.99.0.0/16", "10.4.0.9"),)
    assert [(f.floating_ip, f.fixed_ip) for f in spec.floating_ips] == [
        (fip["floating_ip_address"], p["fixed_ips"][0]["ip_address"])
    ]
    (forward,) = spec.port_forwardings
    assert forward.id == pf["id"] and forward.floating_ip == pf_fip["floating_ip_address"]
    assert (forward.external_port, forward.external_port_end) == (8080, 8081)
    assert (forward.internal_port, forward.internal_port_end) == (80, 81)
    assert specs[empty["id"]].gateway is None and specs[empty["id"]].interfaces == ()


def test_delete_disassociated(svc: NetworkService, public: tuple[str, str]) -> None:
    _, _, p = _routed(svc, public)
    idle = floating_ips.create_floatingip(svc, ALICE, {"floating_network_id": public[0]})
    used = floating_ips.create_floatingip(
        svc, ALICE, {"floating_network_id": public[0], "port_id": p["id"]}
    )
    with svc.db.session() as s:
        floating_ips.delete_disassociated(svc, s, public[0])
    assert count(svc, m.FloatingIp, m.FloatingIp.id == idle["id"]) == 0
    assert count(svc, m.Port, m.Port.device_id == idle["id"]) == 0
    assert count(svc, m.FloatingIp, m.FloatingIp.id == used["id"]) == 1


def test_floating_ip_from_a_chosen_subnet(svc: NetworkService, public: tuple[str, str]) -> None:
    net, first = public
    second = subnet(svc, net, "172.25.0.0/24", project="admin-project")
    fip = floating_ips.create_floatingip(
        svc, ALICE, {"floating_network_id": net, "subnet_id": second}
    )
    assert ipaddress.ip_address(fip["floating_ip_address"]) in ipaddress.ip_network("172.25.0.0/24")
    with pytest.raises(BadRequest):
        floating_ips.create_floatingip(
            svc,
            ADMIN,
            {"floating_network_id": net, "subnet_id": first, "floating_ip_address": "172.25.0.9"},
        )
