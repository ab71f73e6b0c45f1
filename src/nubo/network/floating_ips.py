"""Floating IPs: an IPv4 address on an external network, held by a ``network:floatingip``
port, that a router translates to and from a port's fixed address. Create, associate and
disassociate (PUT port_id), list, show, delete; what ports and routers must ask before
they change; and the floating IPs' part of the routers' desired state."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from nubo.errors import BadRequest, Conflict, Forbidden, NotFound
from nubo.network import ipam, networks, ports, quotas, tags
from nubo.network import models as m
from nubo.network.access import (
    Caller,
    check_revision,
    project_for_create,
    standard,
    touch,
)
from nubo.network.attributes import (
    DESCRIPTION,
    PROJECT,
    Attr,
    ip_address,
    nullable,
    string,
    uuid_str,
)
from nubo.network.dataplane.spec import FloatingIpSpec, PortForwardingSpec

if TYPE_CHECKING:
    from nubo.network.service import NetworkService

FLOATING = "network:floatingip"
INTERFACE = "network:router_interface"
ACTIVE = "ACTIVE"
DOWN = "DOWN"

ATTRS: dict[str, Attr] = {
    "floating_network_id": Attr(uuid_str, put=False, required=True),
    "floating_ip_address": Attr(ip_address, put=False),
    "subnet_id": Attr(nullable(uuid_str), put=False),
    "port_id": Attr(nullable(uuid_str)),
    "fixed_ip_address": Attr(nullable(ip_address)),
    "description": DESCRIPTION,
    "project_id": PROJECT,
    "tenant_id": PROJECT,
    "dns_name": Attr(string(255), put=False),
    "dns_domain": Attr(string(255), put=False),
}


def _bad(message: str) -> BadRequest:
    """Neutron's generic ``BadRequest(resource='floatingip')``."""
    return BadRequest(f"Bad floatingip request: {message}.")


# -- lookups --------------------------------------------------------------------------


def find(s: Session, caller: Caller, fip_id: str, lock: bool = False) -> m.FloatingIp:
    """The floating IP, if the caller may see it (its project, or an admin); else 404."""
    stmt = select(m.FloatingIp).where(m.FloatingIp.id == fip_id)
    if lock:
        stmt = stmt.with_for_update()
    row = s.scalar(stmt)
    if row is None or not caller.owns(row):
        raise NotFound(f"Floating IP {fip_id} could not be found", kind="FloatingIPNotFound")
    return row


def router_for(s: Session, port: m.Port, subnet: m.Subnet, external_network_id: str) -> str:
    """The router that joins ``subnet`` (on the port's network) to the external network:
    the one holding the subnet's gateway address if several do; else 404."""
    rows = s.execute(
        select(m.Port.device_id, m.IPAllocation.ip_address)
        .join(m.IPAllocation, m.IPAllocation.port_id == m.Port.id)
        .join(m.Router, m.Router.id == m.Port.device_id)
        .where(
            m.Port.network_id == port.network_id,
            m.Port.device_owner == INTERFACE,
            m.IPAllocation.subnet_id == subnet.id,
            m.Router.gw_network_id == external_network_id,
            m.Router.gw_port_id.isnot(None),
        )
        .order_by(m.Router.created_at, m.Router.id)
    )
    first = None
    for router_id, ip in rows:
        if ip == subnet.gateway_ip:
            return str(router_id)
        first = first or str(router_id)
    if first is not None:
        return first
    raise NotFound(
        f"External network {external_network_id} is not reachable from subnet {subnet.id}.  "
        f"Therefore, cannot associate Port {port.id} with a Floating IP.",
        kind="ExternalGatewayForFloatingIPNotFound",
    )


def count_for_router(s: Session, router_id: str) -> int:
    """Floating IPs (associated or carrying port forwardings) served by the router."""
    count = s.scalar(
        select(func.count()).select_from(m.FloatingIp).where(m.FloatingIp.router_id == router_id)
    )
    return int(count or 0)


def interface_in_use(s: Session, router_id: str, subnet: m.Subnet) -> bool:
    """Whether a floating IP or port forwarding of the router reaches a port on
    ``subnet`` (so the router's interface on it must stay)."""
    net = ipaddress.ip_network(subnet.cidr)
    on_subnet = set(
        s.scalars(select(m.IPAllocation.port_id).where(m.IPAllocation.subnet_id == subnet.id))
    )
    fips = list(s.scalars(select(m.FloatingIp).where(m.FloatingIp.router_id == router_id)))
    for fip in fips:
        if (
            fip.fixed_ip_address
            and ipaddress.ip_address(fip.fixed_ip_address) in net
            and fip.fixed_port_id in on_subnet
        ):
            return True
    if not fips:
        return False
    forwardings = s.scalars(
        select(m.PortForwarding).where(m.PortForwarding.floatingip_id.in_([f.id for f in fips]))
    )
    return any(
        ipaddress.ip_address(pf.internal_ip_address) in net and pf.internal_port_id in on_subnet
        for pf in forwardings
    )


def has_forwardings(s: Session, fip_id: str) -> bool:
    return (
        s.scalar(
            select(m.PortForwarding.id).where(m.PortForwarding.floatingip_id == fip_id).limit(1)
        )
        is not None
    )


# -- views ----------------------------------------------------------------------------


def forwarding_brief(pf: m.PortForwarding) -> dict[str, Any]:
    """A port forwarding as a floating IP lists it (expose-port-forwarding-in-fip)."""
    return {
        "id": pf.id,
        "internal_ip_address": pf.internal_ip_address,
        "protocol": pf.protocol,
        "internal_port": pf.internal_port if pf.internal_port_end is None else None,
        "external_port": pf.external_port if pf.external_port_end is None else None,
        "internal_port_id": pf.internal_port_id,
    }


def views(s: Session, caller: Caller, rows: Sequence[m.FloatingIp]) -> list[dict[str, Any]]:
    ids = [r.id for r in rows]
    tag_map = tags.of_many(s, "floatingips", ids)
    port_ids = [r.fixed_port_id for r in rows if r.fixed_port_id]
    port_rows = (
        {p.id: p for p in s.scalars(select(m.Port).where(m.Port.id.in_(port_ids)))}
        if port_ids
        else {}
    )
    forwardings: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        for pf in s.scalars(
            select(m.PortForwarding)
            .where(m.PortForwarding.floatingip_id.in_(ids))
            .order_by(m.PortForwarding.external_port, m.PortForwarding.id)
        ):
            forwardings[pf.floatingip_id].append(forwarding_brief(pf))
    return [
        view(
            r,
            port_rows.get(r.fixed_port_id) if r.fixed_port_id else None,
            forwardings[r.id],
            tag_map.get(r.id, []),
        )
        for r in rows
    ]


def view(
    row: m.FloatingIp,
    port: m.Port | None,
    forwardings: list[dict[str, Any]],
    tag_list: list[str],
) -> dict[str, Any]:
    body = standard(row, tag_list)
    del body["name"]  # floating IPs have none
    details = None
    if port is not None:
        details = {
            "name": port.name,
            "network_id": port.network_id,
            "mac_address": port.mac_address,
            "admin_state_up": port.admin_state_up,
            "status": port.status,
            "device_id": port.device_id,
            "device_owner": port.device_owner,
        }
    body.update(
        {
            "floating_ip_address": row.floating_ip_address,
            "floating_network_id": row.floating_network_id,
            "router_id": row.router_id,
            "port_id": row.fixed_port_id,
            "fixed_ip_address": row.fixed_ip_address,
            "status": row.status,
            "dns_name": row.dns_name,
            "dns_domain": row.dns_domain,
            "qos_policy_id": None,
            "port_details": details,
            "port_forwardings": forwardings,
        }
    )
    return body


# -- list, show, create, update, delete -----------------------------------------------


def list_floatingips(
    svc: NetworkService, caller: Caller, filters: Mapping[str, list[str]]
) -> list[dict[str, Any]]:
    with svc.db.reader() as s:
        stmt = select(m.FloatingIp).order_by(m.FloatingIp.created_at, m.FloatingIp.id)
        if not caller.is_admin:
            stmt = stmt.where(m.FloatingIp.project_id == caller.project_id)
        if "id" in filters:
            stmt = stmt.where(m.FloatingIp.id.in_(filters["id"]))
        if "floating_network_id" in filters:
            stmt = stmt.where(m.FloatingIp.floating_network_id.in_(filters["floating_network_id"]))
        return views(s, caller, list(s.scalars(stmt)))


def get_floatingip(svc: NetworkService, caller: Caller, fip_id: str) -> dict[str, Any]:
    with svc.db.reader() as s:
        row = find(s, caller, fip_id)
        caller.check("get_floatingip", {"project_id": row.project_id})
        return views(s, caller, [row])[0]


def _check_create(caller: Caller, attrs: Mapping[str, Any]) -> str:
    project = project_for_create(caller, attrs)
    target = {"project_id": project}
    caller.check_attributes("create", "floatingip", attrs, target)
    rule = "create_floatingip:floating_ip_address"
    if "floating_ip_address" in attrs and not caller.has_rule(rule) and not caller.is_admin:
        # Neutron's default until policies.py registers the rule: admins only
        raise Forbidden(f"(rule:{rule}) is disallowed by policy")
    return project


def create_floatingip(svc: NetworkService, caller: Caller, attrs: dict[str, Any]) -> dict[str, Any]:
    project = _check_create(caller, attrs)
    with svc.db.session() as s:
        row = _create(svc, s, caller, attrs, project)
        return views(s, caller, [row])[0]


def create_floatingips(
    svc: NetworkService, caller: Caller, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A bulk create: all of them or none."""
    projects = [_check_create(caller, attrs) for attrs in items]
    with svc.db.session() as s:
        rows = [_create(svc, s, caller, a, p) for a, p in zip(items, projects, strict=True)]
        return views(s, caller, rows)


def _create(
    svc: NetworkService, s: Session, caller: Caller, attrs: Mapping[str, Any], project: str
) -> m.FloatingIp:
    quotas.check(s, project, "floatingip")
    network = networks.find(s, caller, attrs["floating_network_id"])
    if not network.external:
        raise _bad(f"Network {network.id} is not a valid external network")
    subnets = ports.network_subnets(s, network.id)
    ipv4 = [x for x in subnets if x.ip_version == 4]
    if not ipv4:
        raise _bad(f"Network {network.id} does not contain any IPv4 subnet")
    if attrs.get("fixed_ip_address") and not attrs.get("port_id"):
        raise _bad("fixed_ip_address cannot be specified without a port_id")
    fip_id = m.new_uuid()
    # the floating port belongs to no project, as in Neutron: users never see it
    port = ports.new_port(
        svc,
        s,
        project_id="",
        network=network,
        device_owner=FLOATING,
        device_id=fip_id,
        fixed_ips=[],
        status="N/A",
    )
    request: dict[str, Any] = {}
    if attrs.get("subnet_id"):
        request["subnet_id"] = attrs["subnet_id"]
    if attrs.get("floating_ip_address"):
        request["ip_address"] = attrs["floating_ip_address"]
    taken = ipam.allocate(
        s, subnets if request else ipv4, port.id, port.mac_address, [request] if request else None
    )
    address = next((ip for _, ip in taken if ipaddress.ip_address(ip).version == 4), None)
    if address is None:
        raise BadRequest(
            f"Unable to find any IP address on external network {network.id}.",
            kind="ExternalIpAddressExhausted",
        )
    row = m.FloatingIp(
        id=fip_id,
        project_id=project,
        description=attrs.get("description", ""),
        floating_network_id=network.id,
        floating_ip_address=address,
        floating_port_id=port.id,
        status=DOWN,
        dns_name=attrs.get("dns_name", ""),
        dns_domain=attrs.get("dns_domain", ""),
    )
    if attrs.get("port_id"):
        _associate(s, caller, row, attrs["port_id"], attrs.get("fixed_ip_address"))
    s.add(row)
    s.flush()
    svc.changed(s)
    return row


def _associate(
    s: Session, caller: Caller, fip: m.FloatingIp, port_id: str, fixed_ip: str | None
) -> None:
    """Point the floating IP at one IPv4 address of a port behind a router whose gateway
    is on the floating IP's network."""
    port = ports.find(s, caller, port_id)
    if port.project_id != fip.project_id and not caller.is_admin:
        raise _bad(
            f"Cannot process floating IP association with Port {port.id}, since that port "
            "is owned by a different project"
        )
    if port.device_owner == "network:dhcp":
        raise _bad(f"Port {port.id} is unable to be assigned a floating IP")
    fixed = ipam.of_ports(s, [port.id])[port.id]
    if fixed_ip:
        if ipaddress.ip_address(fixed_ip).version != 4:
            raise _bad(
                f"Cannot process floating IP association with {fixed_ip}, since that is not "
                "an IPv4 address"
            )
        match = [f for f in fixed if f["ip_address"] == fixed_ip]
        if not match:
            raise _bad(f"Port {port.id} does not have fixed ip {fixed_ip}")
        subnet_id = match[0]["subnet_id"]
    else:
        ipv4 = [f for f in fixed if ipaddress.ip_address(f["ip_address"]).version == 4]
        if not ipv4:
            raise _bad(f"Cannot add floating IP to port {port.id} that has no fixed IPv4 addresses")
        if len(ipv4) > 1:
            raise _bad(
                f"Port {port.id} has multiple fixed IPv4 addresses.  Must provide a specific "
                "IPv4 address when assigning a floating IP"
            )
        fixed_ip, subnet_id = ipv4[0]["ip_address"], ipv4[0]["subnet_id"]
    subnet = s.get(m.Subnet, subnet_id)
    assert subnet is not None
    router_id = router_for(s, port, subnet, fip.floating_network_id)
    if port.id != fip.fixed_port_id:
        taken = s.scalar(
            select(m.FloatingIp.id).where(
                m.FloatingIp.fixed_port_id == port.id,
                m.FloatingIp.floating_network_id == fip.floating_network_id,
                m.FloatingIp.fixed_ip_address == fixed_ip,
                m.FloatingIp.id != fip.id,
            )
        )
        if taken is not None:
            raise Conflict(
                f"Cannot associate floating IP {fip.floating_ip_address} ({fip.id}) with port "
                f"{port.id} using fixed IP {fixed_ip}, as that fixed IP already has a floating "
                f"IP on external network {fip.floating_network_id}.",
                kind="FloatingIPPortAlreadyAssociated",
            )
    fip.fixed_port_id = port.id
    fip.fixed_ip_address = fixed_ip
    fip.router_id = router_id
    fip.status = ACTIVE


def _disassociate(s: Session, fip: m.FloatingIp) -> None:
    fip.fixed_port_id = None
    fip.fixed_ip_address = None
    if has_forwardings(s, fip.id):  # its port forwardings keep it on their router
        fip.status = ACTIVE
    else:
        fip.router_id = None
        fip.status = DOWN


def update_floatingip(
    svc: NetworkService,
    caller: Caller,
    fip_id: str,
    attrs: dict[str, Any],
    headers: Mapping[str, str],
) -> dict[str, Any]:
    with svc.db.session() as s:
        row = find(s, caller, fip_id, lock=True)
        caller.check_attributes("update", "floatingip", attrs, {"project_id": row.project_id})
        check_revision(headers, row)
        if attrs.get("fixed_ip_address") and not attrs.get("port_id"):
            raise _bad("fixed_ip_address cannot be specified without a port_id")
        if "port_id" in attrs:
            if attrs["port_id"]:
                if has_forwardings(s, row.id):
                    raise Conflict(
                        f"Floating IP {row.id} in use by Port Forwarding resources.",
                        kind="FipInUseByPortForwarding",
                    )
                _associate(s, caller, row, attrs["port_id"], attrs.get("fixed_ip_address"))
            else:
                _disassociate(s, row)
        if "description" in attrs:
            row.description = attrs["description"]
        touch(row)
        svc.changed(s)
        s.flush()
        return views(s, caller, [row])[0]


def delete_floatingip(
    svc: NetworkService, caller: Caller, fip_id: str, headers: Mapping[str, str]
) -> None:
    with svc.db.session() as s:
        row = find(s, caller, fip_id, lock=True)
        caller.check("delete_floatingip", {"project_id": row.project_id})
        check_revision(headers, row)
        remove(svc, s, row)


def delete_disassociated(svc: NetworkService, s: Session, network_id: str) -> None:
    """For ``DELETE /networks``: the network's floating IPs that serve nothing (no port,
    no router) go with it, as Neutron does; the others keep it in use."""
    for row in s.scalars(
        select(m.FloatingIp).where(
            m.FloatingIp.floating_network_id == network_id,
            m.FloatingIp.fixed_port_id.is_(None),
            m.FloatingIp.router_id.is_(None),
        )
    ):
        remove(svc, s, row)


def remove(svc: NetworkService, s: Session, row: m.FloatingIp) -> None:
    """Delete a floating IP with its port forwardings, tags and floating port."""
    s.execute(delete(m.PortForwarding).where(m.PortForwarding.floatingip_id == row.id))
    port = s.get(m.Port, row.floating_port_id)
    if port is not None:
        ports.remove_port(svc, s, port)
    tags.drop_many(s, "floatingips", [row.id])
    s.delete(row)
    svc.changed(s)


# -- the routers' desired state -----------------------------------------------------------


def router_nat(
    s: Session, router_ids: Sequence[str]
) -> dict[str, tuple[list[FloatingIpSpec], list[PortForwardingSpec]]]:
    """router id -> (its associated floating IPs, its port forwardings); two queries."""
    out: dict[str, tuple[list[FloatingIpSpec], list[PortForwardingSpec]]] = {
        r: ([], []) for r in router_ids
    }
    if not router_ids:
        return out
    for fip in s.scalars(
        select(m.FloatingIp)
        .where(m.FloatingIp.router_id.in_(list(router_ids)))
        .order_by(m.FloatingIp.floating_ip_address)
    ):
        if fip.router_id in out and fip.fixed_ip_address:
            out[fip.router_id][0].append(
                FloatingIpSpec(
                    id=fip.id, floating_ip=fip.floating_ip_address, fixed_ip=fip.fixed_ip_address
                )
            )
    rows = s.execute(
        select(m.PortForwarding, m.FloatingIp.floating_ip_address, m.FloatingIp.router_id)
        .join(m.FloatingIp, m.FloatingIp.id == m.PortForwarding.floatingip_id)
        .where(m.FloatingIp.router_id.in_(list(router_ids)))
        .order_by(m.PortForwarding.id)
    )
    for pf, address, router_id in rows:
        if router_id in out:
            out[router_id][1].append(
                PortForwardingSpec(
                    id=pf.id,
                    floating_ip=address,
                    protocol=pf.protocol,
                    external_port=pf.external_port,
                    internal_ip=pf.internal_ip_address,
                    internal_port=pf.internal_port,
                    external_port_end=pf.external_port_end,
                    internal_port_end=pf.internal_port_end,
                )
            )
    return out
