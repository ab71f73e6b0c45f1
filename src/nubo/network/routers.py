"""Routers: create, list, show, update, delete; the external gateway (a
``network:router_gateway`` port on an external network), interfaces (``network:router_interface``
ports holding a subnet's gateway address, or a port the user made), extra routes; and
what the agent must build for every router (``specs``)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from nubo.errors import BadRequest, Conflict, Forbidden, NotFound
from nubo.network import floating_ips, ipam, networks, ports, quotas, rbac, subnets, tags
from nubo.network import models as m
from nubo.network.access import (
    Caller,
    check_revision,
    not_found,
    project_for_create,
    standard,
    touch,
)
from nubo.network.attributes import (
    DESCRIPTION,
    NAME,
    PROJECT,
    Attr,
    Invalid,
    boolean,
    cidr,
    dict_of,
    ip_address,
    list_of,
    nullable,
    parse_body,
    string,
    uuid_str,
)
from nubo.network.dataplane.spec import GatewaySpec, RouterInterfaceSpec, RouterSpec

if TYPE_CHECKING:
    from nubo.network.service import NetworkService

GATEWAY = "network:router_gateway"
INTERFACE = "network:router_interface"
ROUTER_OWNERS = (INTERFACE, GATEWAY)
AVAILABILITY_ZONES = ("nova",)
MAX_ROUTES = 30
# gateway attributes only an admin may set (Neutron's defaults), unless policy.yaml
# says otherwise through create_router:external_gateway_info:<attr>
GATEWAY_ADMIN_ONLY = ("enable_snat", "external_fixed_ips")


# -- request attributes -------------------------------------------------------------

_GATEWAY = dict_of(
    {
        "network_id": uuid_str,
        "enable_snat": boolean,
        "external_fixed_ips": list_of(
            dict_of({"subnet_id": uuid_str, "ip_address": ip_address}), unique=True
        ),
    },
    required=("network_id",),
)


def gateway_info(value: Any) -> dict[str, Any] | None:
    """``external_gateway_info``: None or {} clears the gateway."""
    if value is None or value == {}:
        return None
    result: dict[str, Any] = _GATEWAY(value)
    return result


def routes(value: Any) -> list[dict[str, str]]:
    """Neutron's host-route list: [{"destination": cidr, "nexthop": ip}], no duplicates."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise Invalid(f"Invalid data format for hostroute: '{value}'")
    out: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for item in value:
        if not isinstance(item, dict) or set(item) != {"destination", "nexthop"}:
            raise Invalid(f"Invalid data format for hostroute: '{item}'")
        route = {"destination": cidr(item["destination"]), "nexthop": ip_address(item["nexthop"])}
        key = (route["destination"], route["nexthop"])
        if key in seen:
            raise Invalid(f"Duplicate hostroute '{item}'")
        seen.add(key)
        out.append(route)
    return out


ATTRS: dict[str, Attr] = {
    "name": NAME,
    "description": DESCRIPTION,
    "project_id": PROJECT,
    "tenant_id": PROJECT,
    "admin_state_up": Attr(boolean),
    "external_gateway_info": Attr(gateway_info),
    "routes": Attr(routes, post=False),
    "availability_zone_hints": Attr(list_of(string(255)), put=False),
    "distributed": Attr(boolean),
    "ha": Attr(boolean),
    "flavor_id": Attr(nullable(uuid_str), put=False),
}

ROUTES_ATTRS: dict[str, Attr] = {"routes": Attr(routes, required=True)}


def _bad(message: str) -> BadRequest:
    """Neutron's generic ``BadRequest(resource='router')``."""
    return BadRequest(f"Bad router request: {message}.")


# -- lookups and views --------------------------------------------------------------


def find(s: Session, caller: Caller, router_id: str, lock: bool = False) -> m.Router:
    """The router, if the caller may see it (its project, or an admin); else 404."""
    stmt = select(m.Router).where(m.Router.id == router_id)
    if lock:
        stmt = stmt.with_for_update()
    row = s.scalar(stmt)
    if row is None or not caller.owns(row):
        raise not_found("router", router_id)
    return row


def router_ports(
    s: Session, router_ids: Sequence[str], owners: Sequence[str] = ROUTER_OWNERS
) -> list[m.Port]:
    if not router_ids:
        return []
    return list(
        s.scalars(
            select(m.Port)
            .where(m.Port.device_id.in_(list(router_ids)), m.Port.device_owner.in_(list(owners)))
            .order_by(m.Port.created_at, m.Port.id)
        )
    )


def views(s: Session, caller: Caller, rows: Sequence[m.Router]) -> list[dict[str, Any]]:
    fixed = ipam.of_ports(s, [r.gw_port_id for r in rows if r.gw_port_id])
    tag_map = tags.of_many(s, "routers", [r.id for r in rows])
    out = []
    for row in rows:
        gateway = None
        if row.gw_port_id:
            gateway = {
                "network_id": row.gw_network_id,
                "enable_snat": row.enable_snat,
                "external_fixed_ips": fixed.get(row.gw_port_id, []),
            }
        out.append(view(row, caller, gateway, tag_map.get(row.id, [])))
    return out


def view(
    row: m.Router, caller: Caller, gateway: dict[str, Any] | None, tag_list: list[str]
) -> dict[str, Any]:
    body = standard(row, tag_list)
    body.update(
        {
            "status": row.status,
            "admin_state_up": row.admin_state_up,
            "external_gateway_info": gateway,
            "routes": [dict(r) for r in row.routes or []],
            "availability_zone_hints": list(row.availability_zone_hints or []),
            "availability_zones": list(AVAILABILITY_ZONES),
            "flavor_id": None,
        }
    )
    if caller.is_admin:  # get_router:distributed / get_router:ha are admin-only
        body["distributed"] = False
        body["ha"] = False
    return body


# -- list, show, create, update, delete -----------------------------------------------


def list_routers(
    svc: NetworkService, caller: Caller, filters: Mapping[str, list[str]]
) -> list[dict[str, Any]]:
    with svc.db.reader() as s:
        stmt = select(m.Router).order_by(m.Router.created_at, m.Router.id)
        if not caller.is_admin:
            stmt = stmt.where(m.Router.project_id == caller.project_id)
        if "id" in filters:
            stmt = stmt.where(m.Router.id.in_(filters["id"]))
        return views(s, caller, list(s.scalars(stmt)))


def get_router(svc: NetworkService, caller: Caller, router_id: str) -> dict[str, Any]:
    with svc.db.reader() as s:
        row = find(s, caller, router_id)
        caller.check("get_router", {"project_id": row.project_id})
        return views(s, caller, [row])[0]


def _check_gateway_policy(
    caller: Caller, action: str, info: Mapping[str, Any] | None, target: Mapping[str, Any]
) -> None:
    """``<action>_router:external_gateway_info:<attr>`` for every attribute of the gateway
    the request sets; enable_snat and external_fixed_ips are admin-only by default."""
    for attr in info or {}:
        rule = f"{action}_router:external_gateway_info:{attr}"
        if caller.has_rule(rule):
            allowed = caller.allowed(rule, target)
        else:
            allowed = caller.is_admin or attr not in GATEWAY_ADMIN_ONLY
        if not allowed:
            raise Forbidden(f"(rule:{rule}) is disallowed by policy")


def _check_supported(attrs: Mapping[str, Any]) -> None:
    if attrs.get("distributed"):
        raise BadRequest("Distributed (DVR) routers are not supported.")
    if attrs.get("ha"):
        raise BadRequest("HA routers are not supported.")
    for zone in attrs.get("availability_zone_hints", []):
        if zone not in AVAILABILITY_ZONES:
            raise NotFound(
                f"AvailabilityZone {zone} could not be found.", kind="AvailabilityZoneNotFound"
            )
    if attrs.get("flavor_id") is not None:
        raise NotFound(f"Flavor {attrs['flavor_id']} could not be found.", kind="FlavorNotFound")


def create_router(svc: NetworkService, caller: Caller, attrs: dict[str, Any]) -> dict[str, Any]:
    project = _check_create(caller, attrs)
    with svc.db.session() as s:
        row = _create(svc, s, caller, attrs, project)
        return views(s, caller, [row])[0]


def create_routers(
    svc: NetworkService, caller: Caller, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A bulk create: all of them or none."""
    projects = [_check_create(caller, attrs) for attrs in items]
    with svc.db.session() as s:
        rows = [_create(svc, s, caller, a, p) for a, p in zip(items, projects, strict=True)]
        return views(s, caller, rows)


def _check_create(caller: Caller, attrs: Mapping[str, Any]) -> str:
    project = project_for_create(caller, attrs)
    target = {"project_id": project}
    caller.check_attributes("create", "router", attrs, target)
    _check_gateway_policy(caller, "create", attrs.get("external_gateway_info"), target)
    _check_supported(attrs)
    return project


def _create(
    svc: NetworkService, s: Session, caller: Caller, attrs: Mapping[str, Any], project: str
) -> m.Router:
    quotas.check(s, project, "router")
    row = m.Router(
        project_id=project,
        name=attrs.get("name", ""),
        description=attrs.get("description", ""),
        admin_state_up=attrs.get("admin_state_up", True),
        availability_zone_hints=attrs.get("availability_zone_hints", []),
        enable_snat=True,
        routes=[],
    )
    s.add(row)
    s.flush()
    if attrs.get("external_gateway_info") is not None:
        _set_gateway(svc, s, caller, row, attrs["external_gateway_info"])
    svc.changed(s)
    return row


def update_router(
    svc: NetworkService,
    caller: Caller,
    router_id: str,
    attrs: dict[str, Any],
    headers: Mapping[str, str],
) -> dict[str, Any]:
    with svc.db.session() as s:
        row = find(s, caller, router_id, lock=True)
        target = {"project_id": row.project_id}
        caller.check_attributes("update", "router", attrs, target)
        _check_gateway_policy(caller, "update", attrs.get("external_gateway_info"), target)
        check_revision(headers, row)
        _check_supported(attrs)
        for field in ("name", "description", "admin_state_up"):
            if field in attrs:
                setattr(row, field, attrs[field])
        if "external_gateway_info" in attrs:
            _set_gateway(svc, s, caller, row, attrs["external_gateway_info"])
        if "routes" in attrs:
            _set_routes(s, row, attrs["routes"])
        touch(row)
        svc.changed(s)
        s.flush()
        return views(s, caller, [row])[0]


def delete_router(
    svc: NetworkService, caller: Caller, router_id: str, headers: Mapping[str, str]
) -> None:
    with svc.db.session() as s:
        row = find(s, caller, router_id, lock=True)
        caller.check("delete_router", {"project_id": row.project_id})
        check_revision(headers, row)
        attached = router_ports(s, [row.id], (INTERFACE,))
        if attached:
            raise Conflict(
                f"Router {row.id} has ports still attached: " + ", ".join(p.id for p in attached),
                kind="RouterInUse",
            )
        if row.gw_port_id:
            _check_gateway_unused(s, row)
            _drop_gateway(svc, s, row)
        tags.drop_many(s, "routers", [row.id])
        s.delete(row)
        svc.changed(s)


# -- the external gateway -------------------------------------------------------------


def _check_gateway_unused(s: Session, row: m.Router) -> None:
    if floating_ips.count_for_router(s, row.id):
        raise Conflict(
            f"Gateway cannot be updated for router {row.id}, since a gateway to external "
            f"network {row.gw_network_id} is required by one or more floating IPs.",
            kind="RouterExternalGatewayInUseByFloatingIp",
        )


def _drop_gateway(svc: NetworkService, s: Session, row: m.Router) -> None:
    port = s.get(m.Port, row.gw_port_id) if row.gw_port_id else None
    if port is not None:
        ports.remove_port(svc, s, port)
    row.gw_port_id = None
    row.gw_network_id = None


def _set_gateway(
    svc: NetworkService,
    s: Session,
    caller: Caller,
    row: m.Router,
    info: Mapping[str, Any] | None,
) -> None:
    """Set, move, change or clear the gateway. Neutron resets enable_snat to its default
    whenever the gateway is given without it."""
    if info is None:
        if row.gw_port_id:
            _check_gateway_unused(s, row)
            _drop_gateway(svc, s, row)
        row.enable_snat = True
        _validate_routes(s, row, row.routes or [])
        return
    network = networks.find(s, caller, info["network_id"])
    if not network.external:
        raise _bad(f"Network {network.id} is not an external network")
    wanted = list(info.get("external_fixed_ips") or [])
    on_network = ports.network_subnets(s, network.id)
    gateways = {sub.gateway_ip for sub in on_network if sub.gateway_ip}
    for item in wanted:
        if item.get("ip_address") in gateways:
            raise _bad(f"External IP {item['ip_address']} is the same as the gateway IP")
    row.enable_snat = info.get("enable_snat", True)
    if row.gw_port_id and row.gw_network_id == network.id:
        port = s.get(m.Port, row.gw_port_id)
        if port is not None and wanted and _fixed_ips_differ(s, port.id, wanted):
            ipam.release(s, port.id)
            s.flush()
            ipam.allocate(s, on_network, port.id, port.mac_address, wanted)
            touch(port)
    else:
        if row.gw_port_id:
            _check_gateway_unused(s, row)
            _drop_gateway(svc, s, row)
        check_overlaps(s, row, on_network)
        port = ports.new_port(
            svc,
            s,
            project_id="",  # as Neutron: gateway ports belong to no project
            network=network,
            device_owner=GATEWAY,
            device_id=row.id,
            fixed_ips=wanted or None,
        )
        row.gw_port_id = port.id
        row.gw_network_id = network.id
    _validate_routes(s, row, row.routes or [])


def _fixed_ips_differ(s: Session, port_id: str, wanted: Sequence[Mapping[str, Any]]) -> bool:
    current = ipam.of_ports(s, [port_id])[port_id]
    held = {f["subnet_id"] for f in current}
    wanted_subnets = {w["subnet_id"] for w in wanted if w.get("subnet_id")}
    if held != wanted_subnets:
        return True
    addresses = {f["ip_address"] for f in current}
    return addresses != {w["ip_address"] for w in wanted if w.get("ip_address")}


# -- interfaces -----------------------------------------------------------------------


def check_overlaps(
    s: Session, router: m.Router, new_subnets: Sequence[m.Subnet], skip_port: str | None = None
) -> None:
    """A router joins each subnet once, and no two of its subnets may overlap (the
    gateway's network counts with all its subnets)."""
    new_ids = {sub.id for sub in new_subnets}
    attached = [p for p in router_ports(s, [router.id]) if p.id != skip_port]
    fixed = ipam.of_ports(s, [p.id for p in attached])
    gateway_networks = [p.network_id for p in attached if p.device_owner == GATEWAY]
    subnet_ids: list[str] = []
    for port in attached:
        for item in fixed[port.id]:
            if item["subnet_id"] in new_ids:
                raise _bad(f"Router already has a port on subnet {item['subnet_id']}")
            if port.device_owner != GATEWAY:
                subnet_ids.append(item["subnet_id"])
    stmt = select(m.Subnet).where(
        or_(m.Subnet.id.in_(subnet_ids), m.Subnet.network_id.in_(gateway_networks))
    )
    for existing in s.scalars(stmt):
        old_net = ipaddress.ip_network(existing.cidr)
        for new in new_subnets:
            new_net = ipaddress.ip_network(new.cidr)
            if new_net.version == old_net.version and new_net.overlaps(old_net):
                raise _bad(
                    f"Cidr {new.cidr} of subnet {new.id} overlaps with cidr "
                    f"{existing.cidr} of subnet {existing.id}"
                )


def _check_address_mode(subnet: m.Subnet) -> None:
    if subnet.ip_version == 6 and subnet.ipv6_ra_mode is None and subnet.ipv6_address_mode:
        raise _bad(
            f"IPv6 subnet {subnet.id} configured to receive RAs from an external router "
            "cannot be added to Neutron Router"
        )


def _interface_request(body: Any, removal: bool) -> tuple[str | None, str | None]:
    if not isinstance(body, dict) or not ("port_id" in body or "subnet_id" in body):
        raise _bad("Either subnet_id or port_id must be specified")
    for key in ("port_id", "subnet_id"):
        if key in body:
            try:
                uuid_str(body[key])
            except Invalid as exc:
                raise _bad(str(exc)) from None
    if not removal and "port_id" in body and "subnet_id" in body:
        raise _bad("Cannot specify both subnet-id and port-id")
    return body.get("port_id"), body.get("subnet_id")


def _interface_info(
    s: Session, router: m.Router, port: m.Port, joined: Sequence[m.Subnet], subnet_id: str
) -> dict[str, Any]:
    return {
        "id": router.id,
        "tenant_id": port.project_id,
        "project_id": port.project_id,
        "port_id": port.id,
        "network_id": port.network_id,
        "subnet_id": subnet_id,
        "subnet_ids": [sub.id for sub in joined],
        "tags": tags.of(s, "ports", port.id),
    }


def add_router_interface(
    svc: NetworkService, caller: Caller, router_id: str, body: Any
) -> dict[str, Any]:
    """``PUT /routers/{id}/add_router_interface`` with ``subnet_id`` or ``port_id``."""
    port_id, subnet_id = _interface_request(body, removal=False)
    with svc.db.session() as s:
        router = find(s, caller, router_id, lock=True)
        caller.check("update_router", {"project_id": router.project_id})
        if port_id is not None:
            port, joined = _add_port(s, caller, router, port_id)
        else:
            assert subnet_id is not None
            port, joined = _add_subnet(svc, s, caller, router, subnet_id)
        touch(router)
        svc.changed(s)
        s.flush()
        return _interface_info(s, router, port, joined, joined[-1].id)


def _add_subnet(
    svc: NetworkService, s: Session, caller: Caller, router: m.Router, subnet_id: str
) -> tuple[m.Port, list[m.Subnet]]:
    subnet = subnets.find(s, caller, subnet_id)
    if not subnet.gateway_ip:
        raise _bad("Subnet for router interface must have a gateway IP")
    if not caller.is_admin and subnet.project_id != caller.project_id:
        # a network shared with this very project (RBAC) may be routed; one shared with
        # everyone may not: the router would take its owner's gateway address
        grants = rbac.grants(s, "network", [subnet.network_id])[subnet.network_id]
        if (rbac.SHARED, caller.project_id) not in grants:
            raise _bad(
                f"Cannot add interface to router because subnet {subnet.id} is not owned "
                "by project making the request"
            )
    _check_address_mode(subnet)
    check_overlaps(s, router, [subnet])
    network = s.get(m.Network, subnet.network_id)
    assert network is not None
    if subnet.ip_version == 6:
        # IPv6 subnets of one network share the router's port on it
        existing = _ipv6_port(s, router, network.id)
        if existing is not None:
            ipam.take_specific(s, subnet, existing.id, subnet.gateway_ip)
            touch(existing)
            return existing, [subnet]
    port = ports.new_port(
        svc,
        s,
        project_id=router.project_id,
        network=network,
        device_owner=INTERFACE,
        device_id=router.id,
        fixed_ips=[],
    )
    # taken directly: a router holds the gateway address even on a SLAAC subnet
    ipam.take_specific(s, subnet, port.id, subnet.gateway_ip)
    return port, [subnet]


def _ipv6_port(s: Session, router: m.Router, network_id: str) -> m.Port | None:
    candidates = [
        p for p in router_ports(s, [router.id], (INTERFACE,)) if p.network_id == network_id
    ]
    fixed = ipam.of_ports(s, [p.id for p in candidates])
    for port in candidates:
        if any(ipaddress.ip_address(f["ip_address"]).version == 6 for f in fixed[port.id]):
            return port
    return None


def _subnets(s: Session, ids: Sequence[str]) -> list[m.Subnet]:
    wanted = list(dict.fromkeys(ids))
    rows = {x.id: x for x in s.scalars(select(m.Subnet).where(m.Subnet.id.in_(wanted)))}
    return [rows[i] for i in wanted if i in rows]


def _add_port(
    s: Session, caller: Caller, router: m.Router, port_id: str
) -> tuple[m.Port, list[m.Subnet]]:
    port = ports.find(s, caller, port_id)
    if port.device_id:
        raise Conflict(
            f"Unable to complete operation on port {port.id} for network {port.network_id}. "
            f"Port already has an attached device {port.device_id}.",
            kind="PortInUse",
        )
    fixed = ipam.of_ports(s, [port.id])[port.id]
    if not fixed:
        raise _bad("Router port must have at least one fixed IP")
    joined = _subnets(s, [f["subnet_id"] for f in fixed])
    for subnet in joined:
        _check_address_mode(subnet)
    if any(ipaddress.ip_address(f["ip_address"]).version == 6 for f in fixed):
        other = _ipv6_port(s, router, port.network_id)
        if other is not None:
            raise _bad(
                f"Router already contains IPv6 port {other.id} belonging to network id "
                f"{port.network_id}. Only one IPv6 port from the same network subnet can be "
                "connected to a router"
            )
    check_overlaps(s, router, joined)
    if len([x for x in joined if x.ip_version == 4]) > 1:
        raise _bad("Cannot have multiple IPv4 joined on router port")
    if not caller.is_admin:
        by_id = {x.id: x for x in joined}
        for item in fixed:
            subnet = by_id[item["subnet_id"]]
            addr = ipaddress.ip_address(item["ip_address"])
            in_pool = any(int(lo) <= int(addr) <= int(hi) for lo, hi in ipam.pools(subnet))
            if not in_pool and subnet.project_id != caller.project_id:
                raise _bad(
                    f"Cannot add interface to router because specified port {port.id} has an "
                    f"IP address out of the allocation pool of subnet {subnet.id}, which is "
                    "not owned by the project making the request"
                )
    port.device_id = router.id
    port.device_owner = INTERFACE
    touch(port)
    return port, joined


def remove_router_interface(
    svc: NetworkService, caller: Caller, router_id: str, body: Any
) -> dict[str, Any]:
    """``PUT /routers/{id}/remove_router_interface`` by ``port_id`` and/or ``subnet_id``."""
    port_id, subnet_id = _interface_request(body, removal=True)
    with svc.db.session() as s:
        router = find(s, caller, router_id, lock=True)
        caller.check("update_router", {"project_id": router.project_id})
        if port_id is not None:
            info = _remove_port(svc, s, router, port_id, subnet_id)
        else:
            assert subnet_id is not None
            info = _remove_subnet(svc, s, caller, router, subnet_id)
        touch(router)
        svc.changed(s)
        return info


def _remove_port(
    svc: NetworkService, s: Session, router: m.Router, port_id: str, subnet_id: str | None
) -> dict[str, Any]:
    port = s.scalar(
        select(m.Port).where(
            m.Port.id == port_id, m.Port.device_id == router.id, m.Port.device_owner == INTERFACE
        )
    )
    if port is None:
        raise NotFound(
            f"Router {router.id} does not have an interface with id {port_id}",
            kind="RouterInterfaceNotFound",
        )
    fixed = ipam.of_ports(s, [port.id])[port.id]
    subnet_ids = list(dict.fromkeys(f["subnet_id"] for f in fixed))
    if subnet_id and subnet_id not in subnet_ids:
        raise BadRequest(
            f"Subnet on port {port.id} does not match the requested subnet {subnet_id}.",
            kind="SubnetMismatchForPort",
        )
    joined = _subnets(s, subnet_ids)
    for subnet in joined:
        _check_interface_unused(s, router, subnet)
    info = _interface_info(s, router, port, joined, joined[0].id if joined else "")
    ports.remove_port(svc, s, port)
    return info


def _remove_subnet(
    svc: NetworkService, s: Session, caller: Caller, router: m.Router, subnet_id: str
) -> dict[str, Any]:
    subnet = subnets.find(s, caller, subnet_id)
    candidates = [
        p for p in router_ports(s, [router.id], (INTERFACE,)) if p.network_id == subnet.network_id
    ]
    if candidates:
        _check_interface_unused(s, router, subnet)
    fixed = ipam.of_ports(s, [p.id for p in candidates])
    for port in candidates:
        subnet_ids = {f["subnet_id"] for f in fixed[port.id]}
        if subnet.id not in subnet_ids:
            continue
        info = _interface_info(s, router, port, [subnet], subnet.id)
        if len(subnet_ids) > 1:  # an IPv6 port with several prefixes keeps the others
            ipam.release(s, port.id, [subnet.id])
            touch(port)
        else:
            ports.remove_port(svc, s, port)
        return info
    raise NotFound(
        f"Router {router.id} has no interface on subnet {subnet.id}",
        kind="RouterInterfaceNotFoundForSubnet",
    )


def _check_interface_unused(s: Session, router: m.Router, subnet: m.Subnet) -> None:
    if floating_ips.interface_in_use(s, router.id, subnet):
        raise Conflict(
            f"Router interface for subnet {subnet.id} on router {router.id} cannot be "
            "deleted, as it is required by one or more floating IPs.",
            kind="RouterInterfaceInUseByFloatingIP",
        )
    net = ipaddress.ip_network(subnet.cidr)
    for route in router.routes or []:
        if ipaddress.ip_address(route["nexthop"]) in net:
            raise Conflict(
                f"Router interface for subnet {subnet.id} on router {router.id} cannot be "
                "deleted, as it is required by one or more routes.",
                kind="RouterInterfaceInUseByRoute",
            )


# -- extra routes ---------------------------------------------------------------------


def _validate_routes(s: Session, row: m.Router, wanted: Sequence[Mapping[str, str]]) -> None:
    """Every nexthop must be on a subnet the router is on, and not the router itself."""
    if not wanted:
        return
    if len(wanted) > MAX_ROUTES:
        raise BadRequest(
            f"Unable to complete operation for {row.id}. The number of routes exceeds the "
            f"maximum {MAX_ROUTES}.",
            kind="RoutesExhausted",
        )
    attached = router_ports(s, [row.id])
    fixed = ipam.of_ports(s, [p.id for p in attached])
    items = [f for p in attached for f in fixed[p.id]]
    nets = [ipaddress.ip_network(x.cidr) for x in _subnets(s, [f["subnet_id"] for f in items])]
    own = {f["ip_address"] for f in items}
    shown = [dict(r) for r in wanted]
    for route in wanted:
        nexthop = ipaddress.ip_address(route["nexthop"])
        if not any(nexthop in net for net in nets):
            raise BadRequest(
                f"Invalid format for routes: {shown}, the nexthop is not connected with router",
                kind="InvalidRoutes",
            )
        if str(nexthop) in own:
            raise BadRequest(
                f"Invalid format for routes: {shown}, the nexthop is used by router",
                kind="InvalidRoutes",
            )


def _set_routes(s: Session, row: m.Router, wanted: list[dict[str, str]]) -> None:
    _validate_routes(s, row, wanted)
    row.routes = [dict(r) for r in wanted]


def change_extraroutes(
    svc: NetworkService, caller: Caller, router_id: str, body: Any, add: bool
) -> dict[str, Any]:
    """``add_extraroutes`` / ``remove_extraroutes``: change the set atomically. Adding a
    route already there, or removing one that is not, is not an error."""
    given = parse_body(body, "router", ROUTES_ATTRS)["routes"]
    with svc.db.session() as s:
        row = find(s, caller, router_id, lock=True)
        caller.check("update_router", {"project_id": row.project_id})
        current = [dict(r) for r in row.routes or []]
        keys = {(r["destination"], r["nexthop"]) for r in given}
        if add:
            have = {(r["destination"], r["nexthop"]) for r in current}
            result = current + [r for r in given if (r["destination"], r["nexthop"]) not in have]
        else:
            result = [r for r in current if (r["destination"], r["nexthop"]) not in keys]
        _set_routes(s, row, result)
        touch(row)
        svc.changed(s)
        s.flush()
        return views(s, caller, [row])[0]


# -- the agent's view -----------------------------------------------------------------


def specs(s: Session, host: str) -> list[RouterSpec]:
    """Every router as the dataplane must build it (nubo has no L3 scheduling: the agent
    of ``host`` builds them all). A fixed handful of queries, whatever the count."""
    rows = list(s.scalars(select(m.Router).order_by(m.Router.created_at, m.Router.id)))
    if not rows:
        return []
    ids = [r.id for r in rows]
    attached = router_ports(s, ids)
    fixed = ipam.of_ports(s, [p.id for p in attached])
    subnet_ids = {f["subnet_id"] for items in fixed.values() for f in items}
    subnet_rows = {x.id: x for x in s.scalars(select(m.Subnet).where(m.Subnet.id.in_(subnet_ids)))}
    mtus: dict[str, int] = {
        net_id: mtu
        for net_id, mtu in s.execute(
            select(m.Network.id, m.Network.mtu).where(
                m.Network.id.in_({p.network_id for p in attached})
            )
        )
    }
    nat = floating_ips.router_nat(s, ids)
    by_router: dict[str, list[m.Port]] = {i: [] for i in ids}
    for port in attached:
        by_router.setdefault(port.device_id, []).append(port)

    def addresses(port: m.Port) -> tuple[str, ...]:
        out = []
        for item in fixed.get(port.id, []):
            subnet = subnet_rows.get(item["subnet_id"])
            if subnet is not None:
                prefix = ipaddress.ip_network(subnet.cidr).prefixlen
                out.append(f"{item['ip_address']}/{prefix}")
        return tuple(out)

    result = []
    for row in rows:
        interfaces = []
        gateway = None
        for port in sorted(by_router[row.id], key=lambda p: p.id):
            mtu = mtus.get(port.network_id, 1500)
            if port.device_owner == GATEWAY:
                if port.id != row.gw_port_id:
                    continue
                next_hops: dict[int, str] = {}
                for item in fixed.get(port.id, []):
                    subnet = subnet_rows.get(item["subnet_id"])
                    if subnet is not None and subnet.gateway_ip:
                        next_hops.setdefault(subnet.ip_version, subnet.gateway_ip)
                gateway = GatewaySpec(
                    port_id=port.id,
                    network_id=port.network_id,
                    mac_address=port.mac_address,
                    addresses=addresses(port),
                    gateway_ips=tuple(next_hops[v] for v in sorted(next_hops)),
                    enable_snat=row.enable_snat,
                    mtu=mtu,
                )
            else:
                interfaces.append(
                    RouterInterfaceSpec(
                        port_id=port.id,
                        network_id=port.network_id,
                        mac_address=port.mac_address,
                        addresses=addresses(port),
                        mtu=mtu,
                    )
                )
        fips, forwardings = nat.get(row.id, ((), ()))
        result.append(
            RouterSpec(
                id=row.id,
                admin_state_up=row.admin_state_up,
                interfaces=tuple(interfaces),
                gateway=gateway,
                routes=tuple((r["destination"], r["nexthop"]) for r in row.routes or []),
                floating_ips=tuple(fips),
                port_forwardings=tuple(forwardings),
            )
        )
    return result
