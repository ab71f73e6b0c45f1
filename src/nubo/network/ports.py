"""Ports: the core every resource that needs an address uses (DHCP, router interfaces
and gateways, floating IPs, instances), then the user-facing port operations
(/v2.0/ports): who sees which port, bindings, port security, security groups, allowed
address pairs, extra DHCP options and DNS names, as Neutron's ML2 plugin has them."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nubo.errors import BadRequest, Conflict, Forbidden
from nubo.network import ipam, networks, quotas, security_groups, tags
from nubo.network import models as m
from nubo.network.access import (
    Caller,
    check_revision,
    not_found,
    project_for_create,
    standard,
    touch,
)
from nubo.network.dataplane.spec import link_name
from nubo.network.port_attributes import ATTRS, check_pairs

__all__ = ["ATTRS", "new_port", "remove_port"]

if TYPE_CHECKING:
    from nubo.network.service import NetworkService

MAC_PREFIX = "fa:16:3e"
# ports the network service itself owns: no security groups, no quota
INTERNAL_OWNERS = (
    "network:dhcp",
    "network:router_interface",
    "network:router_gateway",
    "network:floatingip",
    "network:router_interface_distributed",
    "network:router_centralized_snat",
)
# internal ports the agent of this host realises: bound to it from the start, as
# Neutron's DHCP and L3 agents bind theirs
AGENT_OWNERS = (
    "network:dhcp",
    "network:router_interface",
    "network:router_gateway",
    "network:router_interface_distributed",
    "network:router_centralized_snat",
)
# ports the port API refuses to delete while their router or floating IP exists
L3_OWNERS = (
    "network:router_interface",
    "network:router_gateway",
    "network:router_interface_distributed",
    "network:router_centralized_snat",
)
UNBOUND_VIF_TYPES = ("unbound", "binding_failed")


def random_mac() -> str:
    tail = secrets.token_bytes(3)
    return MAC_PREFIX + "".join(f":{b:02x}" for b in tail)


def network_subnets(s: Session, network_id: str) -> list[m.Subnet]:
    return list(
        s.scalars(
            select(m.Subnet)
            .where(m.Subnet.network_id == network_id)
            .order_by(m.Subnet.created_at, m.Subnet.id)
        )
    )


def bind(row: m.Port) -> None:
    """Derive the binding and status from ``binding_host_id`` and ``admin_state_up``:
    a port with a host is plugged as a tap on its network's bridge there."""
    if row.binding_host_id:
        row.binding_vif_type = "tap"
        row.binding_vif_details = {
            "port_filter": True,
            "connectivity": "l2",
            "bridge_name": link_name("b", row.network_id),
        }
    else:
        row.binding_vif_type = "unbound"
        row.binding_vif_details = {}
    if row.device_owner == "network:floatingip":
        row.status = "N/A"
    else:
        row.status = "ACTIVE" if row.binding_host_id and row.admin_state_up else "DOWN"


def new_port(
    svc: NetworkService,
    s: Session,
    *,
    project_id: str,
    network: m.Network,
    device_owner: str = "",
    device_id: str = "",
    fixed_ips: Sequence[Mapping[str, Any]] | None = None,
    mac_address: str | None = None,
    security_group_ids: Sequence[str] | None = None,
    port_security_enabled: bool | None = None,
    name: str = "",
    **columns: Any,
) -> m.Port:
    """Create a port row with its addresses and security groups (no policy, no quota:
    callers check those). ``fixed_ips`` None takes the default addresses, [] none.
    ``security_group_ids`` None gives an instance port its project's default group;
    internal (network:*) ports never have groups. DHCP and router ports are bound to
    this host unless ``binding_host_id`` says otherwise."""
    secure = (
        network.port_security_enabled if port_security_enabled is None else port_security_enabled
    )
    if device_owner in AGENT_OWNERS:
        columns.setdefault("binding_host_id", svc.host)
    row = m.Port(
        project_id=project_id,
        network_id=network.id,
        name=name,
        device_owner=device_owner,
        device_id=device_id,
        mac_address=mac_address or random_mac(),
        port_security_enabled=secure,
        **columns,
    )
    if row.admin_state_up is None:
        row.admin_state_up = True
    if row.binding_host_id is None:
        row.binding_host_id = ""
    bind(row)
    # the row joins the session inside the savepoint: begin_nested() flushes what is
    # pending first, outside it, where a duplicate MAC would end the transaction
    for attempt in range(3):
        try:
            with s.begin_nested():
                s.add(row)
                s.flush()
            break
        except IntegrityError:
            if mac_address or attempt == 2:
                raise mac_in_use(network.id, row.mac_address) from None
            row.mac_address = random_mac()
    ipam.allocate(s, network_subnets(s, network.id), row.id, row.mac_address, fixed_ips)
    if device_owner not in INTERNAL_OWNERS and secure:
        if security_group_ids is None:
            security_group_ids = [security_groups.ensure_default(svc, s, project_id)]
        for group_id in dict.fromkeys(security_group_ids):
            s.add(m.PortSecurityGroup(port_id=row.id, security_group_id=group_id))
    s.flush()
    svc.changed(s)
    return row


def remove_port(svc: NetworkService, s: Session, port: m.Port) -> None:
    """Delete a port: its addresses go back to their subnets, floating IPs pointing at
    it are disassociated and its port forwardings go."""
    disassociate_floating_ips(s, port.id)
    s.execute(delete(m.PortForwarding).where(m.PortForwarding.internal_port_id == port.id))
    ipam.release(s, port.id)
    s.execute(delete(m.PortSecurityGroup).where(m.PortSecurityGroup.port_id == port.id))
    tags.drop_many(s, "ports", [port.id])
    s.delete(port)
    s.flush()
    svc.changed(s)


def disassociate_floating_ips(
    s: Session, port_id: str, addresses: Sequence[str] | None = None
) -> None:
    """Unhook the floating IPs that point at the port (or at some of its addresses)."""
    stmt = select(m.FloatingIp).where(m.FloatingIp.fixed_port_id == port_id)
    if addresses is not None:
        stmt = stmt.where(m.FloatingIp.fixed_ip_address.in_(list(addresses)))
    for fip in s.scalars(stmt):
        fip.fixed_port_id = None
        fip.fixed_ip_address = None
        fip.router_id = None
        fip.status = "DOWN"
        touch(fip)


def mac_in_use(network_id: str, mac: str) -> Conflict:
    return Conflict(
        f"Unable to complete operation for network {network_id}. The mac address {mac} is in use.",
        kind="MacAddressInUse",
    )


# -- attributes ------------------------------------------------------------------------


# attribute -> Port column, for the attributes copied as they are
_COLUMNS = {
    "name": "name",
    "description": "description",
    "admin_state_up": "admin_state_up",
    "device_id": "device_id",
    "device_owner": "device_owner",
    "dns_name": "dns_name",
    "binding:host_id": "binding_host_id",
    "binding:profile": "binding_profile",
    "binding:vnic_type": "binding_vnic_type",
    "propagate_uplink_status": "propagate_uplink_status",
}
# updates the dataplane does not care about
_COSMETIC = frozenset({"name", "description"})


# -- visibility and policy -------------------------------------------------------------


def visible(caller: Caller) -> Any:
    """A WHERE clause for the ports ``caller`` can see: its project's, and every port
    on a network it owns."""
    if caller.is_admin:
        return true()
    owned = select(m.Network.id).where(m.Network.project_id == caller.project_id)
    return or_(m.Port.project_id == caller.project_id, m.Port.network_id.in_(owned))


def find(s: Session, caller: Caller, port_id: str) -> m.Port:
    """The port, or PortNotFound when it does not exist or ``caller`` cannot see it."""
    row = s.scalar(select(m.Port).where(m.Port.id == port_id, visible(caller)))
    if row is None:
        raise not_found("port", port_id)
    return row


def _target(row_project: str, network: m.Network) -> dict[str, Any]:
    return {
        "project_id": row_project,
        "tenant_id": row_project,
        "network:project_id": network.project_id,
        "network:tenant_id": network.project_id,
        "network": {"project_id": network.project_id},
    }


def _policy_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes whose rules apply: Neutron lets anyone set a device_owner that is
    not ``network:*``; its rule guards only the service's own owners."""
    out = dict(attrs)
    owner = out.get("device_owner")
    if isinstance(owner, str) and not owner.startswith("network:"):
        out.pop("device_owner")
    return out


def _network_owner_only(
    caller: Caller, action: str, attrs: Mapping[str, Any], project_id: str, network: m.Network
) -> None:
    """Neutron's ``admin_or_network_owner`` attributes: fixed addresses, port security
    and address pairs may be chosen only on one's own network (matters on shared ones)."""
    guarded = []
    if "port_security_enabled" in attrs:
        guarded.append("port_security_enabled")
    if attrs.get("allowed_address_pairs"):
        guarded.append("allowed_address_pairs")
    if any("ip_address" in f for f in attrs.get("fixed_ips") or []):
        guarded.append("fixed_ips:ip_address")
    target = _target(project_id, network)
    for attr in guarded:
        rule = f"{action}_port:{attr}"
        if caller.has_rule(rule):
            caller.check(rule, target)
        elif not caller.is_admin and network.project_id != caller.project_id:
            raise Forbidden(f"(rule:{rule}) is disallowed by policy")


# -- views -----------------------------------------------------------------------------


def _domain(svc: NetworkService, network_domain: str | None) -> str:
    domain = network_domain or svc.config.network.dns_domain
    return domain.strip(".") + "." if domain.strip(".") else ""


def dns_assignment(
    port: m.Port, fixed: Sequence[Mapping[str, str]], domain: str
) -> list[dict[str, str]]:
    out = []
    for ip in fixed:
        address = ip["ip_address"]
        if port.dns_name:
            hostname = port.dns_name.rstrip(".")
            fqdn = port.dns_name if port.dns_name.endswith(".") else f"{hostname}.{domain}"
            fqdn = fqdn if domain or port.dns_name.endswith(".") else hostname
        else:
            hostname = "host-" + address.replace(".", "-").replace(":", "-")
            fqdn = f"{hostname}.{domain}" if domain else hostname
        out.append({"hostname": hostname, "ip_address": address, "fqdn": fqdn})
    return out


def views(
    svc: NetworkService, s: Session, caller: Caller, rows: Sequence[m.Port]
) -> list[dict[str, Any]]:
    ids = [r.id for r in rows]
    fixed = ipam.of_ports(s, ids)
    groups: dict[str, list[str]] = {i: [] for i in ids}
    domains: dict[str, str | None] = {}
    if ids:
        for port_id, group_id in s.execute(
            select(m.PortSecurityGroup.port_id, m.PortSecurityGroup.security_group_id).where(
                m.PortSecurityGroup.port_id.in_(ids)
            )
        ):
            groups[port_id].append(group_id)
        net_ids = list({r.network_id for r in rows})
        for network_id, domain in s.execute(
            select(m.Network.id, m.Network.dns_domain).where(m.Network.id.in_(net_ids))
        ):
            domains[network_id] = domain
    tag_map = tags.of_many(s, "ports", ids)
    return [
        view(
            r,
            caller,
            fixed[r.id],
            sorted(groups[r.id]),
            tag_map.get(r.id, []),
            _domain(svc, domains.get(r.network_id)),
        )
        for r in rows
    ]


def view(
    row: m.Port,
    caller: Caller,
    fixed: list[dict[str, str]],
    group_ids: list[str],
    tag_list: list[str],
    domain: str,
) -> dict[str, Any]:
    body = standard(row, tag_list)
    body.update(
        {
            "network_id": row.network_id,
            "admin_state_up": row.admin_state_up,
            "status": row.status,
            "mac_address": row.mac_address,
            "fixed_ips": fixed,
            "device_id": row.device_id,
            "device_owner": row.device_owner,
            "security_groups": group_ids,
            "port_security_enabled": row.port_security_enabled,
            "allowed_address_pairs": [
                {"ip_address": p["ip_address"], "mac_address": p.get("mac_address")}
                for p in row.allowed_address_pairs or []
            ],
            "extra_dhcp_opts": [
                {
                    "opt_name": o["opt_name"],
                    "opt_value": o["opt_value"],
                    "ip_version": o.get("ip_version", 4),
                }
                for o in row.extra_dhcp_opts or []
            ],
            "dns_name": row.dns_name,
            "dns_assignment": dns_assignment(row, fixed, domain),
            "ip_allocation": "immediate",
            "propagate_uplink_status": row.propagate_uplink_status,
            "qos_policy_id": None,
            "qos_network_policy_id": None,
            "resource_request": None,
            "binding:vnic_type": row.binding_vnic_type,
        }
    )
    if caller.is_admin:
        body["binding:host_id"] = row.binding_host_id
        body["binding:profile"] = dict(row.binding_profile or {})
        body["binding:vif_type"] = row.binding_vif_type
        body["binding:vif_details"] = dict(row.binding_vif_details or {})
    return body


# -- list and show ---------------------------------------------------------------------

# filters narrowed in SQL before the views are built (all indexed)
_SQL_FILTERS = {
    "id": m.Port.id,
    "network_id": m.Port.network_id,
    "device_id": m.Port.device_id,
    "device_owner": m.Port.device_owner,
    "binding:host_id": m.Port.binding_host_id,
}


@dataclass
class FixedIpFilter:
    """``fixed_ips=ip_address=X`` / ``subnet_id=Y`` / ``ip_address_substr=Z``: a port
    matches when one of its addresses meets every kind given (any value of each)."""

    ip_address: list[str] = field(default_factory=list)
    subnet_id: list[str] = field(default_factory=list)
    ip_address_substr: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, values: Sequence[str]) -> FixedIpFilter:
        result = cls()
        for value in values:
            key, sep, wanted = value.partition("=")
            if not sep:
                raise BadRequest(
                    f"Invalid input for operation: '{value}' is not of the form <key>=[value]."
                )
            if key in ("ip_address", "subnet_id", "ip_address_substr"):
                getattr(result, key).append(wanted)
        return result

    def matches(self, fixed: Sequence[Mapping[str, str]]) -> bool:
        for ip in fixed:
            if self.ip_address and ip["ip_address"] not in self.ip_address:
                continue
            if self.subnet_id and ip["subnet_id"] not in self.subnet_id:
                continue
            if self.ip_address_substr and not any(
                part in ip["ip_address"] for part in self.ip_address_substr
            ):
                continue
            return True
        return False


def list_ports(
    svc: NetworkService, caller: Caller, filters: Mapping[str, list[str]]
) -> list[dict[str, Any]]:
    """The ports ``caller`` sees, narrowed by the indexed filters and ``fixed_ips``
    (the API layer applies the others to the views)."""
    fixed_filter = FixedIpFilter.parse(filters["fixed_ips"]) if "fixed_ips" in filters else None
    with svc.db.reader() as s:
        stmt = select(m.Port).where(visible(caller)).order_by(m.Port.created_at, m.Port.id)
        for key, column in _SQL_FILTERS.items():
            if key in filters:
                stmt = stmt.where(column.in_(filters[key]))
        items = views(svc, s, caller, list(s.scalars(stmt)))
    if fixed_filter is not None:
        items = [i for i in items if fixed_filter.matches(i["fixed_ips"])]
    return items


def get_port(svc: NetworkService, caller: Caller, port_id: str) -> dict[str, Any]:
    with svc.db.reader() as s:
        row = find(s, caller, port_id)
        network = s.get(m.Network, row.network_id)
        assert network is not None
        caller.check("get_port", _target(row.project_id, network))
        return views(svc, s, caller, [row])[0]


# -- create ------------------------------------------------------------------------------


def create_port(svc: NetworkService, caller: Caller, attrs: dict[str, Any]) -> dict[str, Any]:
    with svc.db.session() as s:
        row = _create(svc, s, caller, attrs)
        return views(svc, s, caller, [row])[0]


def create_ports(
    svc: NetworkService, caller: Caller, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A bulk create: all of them or none."""
    with svc.db.session() as s:
        rows = [_create(svc, s, caller, attrs) for attrs in items]
        return views(svc, s, caller, rows)


def _usable_network(s: Session, caller: Caller, network_id: str) -> m.Network:
    network = networks.find(s, caller, network_id)
    if not caller.is_admin and not networks.can_use(s, caller, network):
        raise not_found("network", network_id)
    return network


def _check_port_security(
    secure: bool,
    group_ids: Sequence[str] | None,
    pairs: Sequence[Any],
    *,
    groups_requested: bool,
    has_groups: bool = False,
) -> None:
    """Neutron's port-security rules on what the port will look like."""
    if secure:
        return
    if groups_requested and group_ids:
        raise BadRequest(
            "Port security must be enabled and port must have an IP address in order to "
            "use security groups.",
            kind="PortSecurityAndIPRequiredForSecurityGroups",
        )
    if has_groups:
        raise Conflict(
            "Port has security group associated. Cannot disable port security or IP "
            "address until security group is removed.",
            kind="PortSecurityPortHasSecurityGroup",
        )
    if pairs:
        raise Conflict(
            "Port Security must be enabled in order to have allowed address pairs on a port.",
            kind="AddressPairAndPortSecurityRequired",
        )


def _fill_pairs(pairs: Sequence[Mapping[str, str]], mac: str) -> list[dict[str, str]]:
    """Pairs without a MAC take the port's (as Neutron stores them)."""
    filled = [
        {"ip_address": p["ip_address"], "mac_address": p.get("mac_address") or mac} for p in pairs
    ]
    check_pairs(filled)
    return filled


def _create(svc: NetworkService, s: Session, caller: Caller, attrs: dict[str, Any]) -> m.Port:
    project = project_for_create(caller, attrs)
    network = _usable_network(s, caller, attrs["network_id"])
    caller.check_attributes("create", "port", _policy_attrs(attrs), _target(project, network))
    _network_owner_only(caller, "create", attrs, project, network)
    device_owner = attrs.get("device_owner", "")
    if not device_owner.startswith("network:"):
        quotas.check(s, project, "port")
    secure = attrs.get("port_security_enabled", network.port_security_enabled)
    group_ids = attrs.get("security_groups")
    pairs = attrs.get("allowed_address_pairs", [])
    _check_port_security(secure, group_ids, pairs, groups_requested=True)
    if group_ids:
        group_ids = security_groups.check_for_port(s, caller, project, group_ids)
    if not secure:
        group_ids = []
    passed = ("name", "device_owner", "device_id")
    columns = {
        col: attrs[key] for key, col in _COLUMNS.items() if key in attrs and key not in passed
    }
    row = new_port(
        svc,
        s,
        project_id=project,
        network=network,
        device_owner=device_owner,
        device_id=attrs.get("device_id", ""),
        fixed_ips=attrs.get("fixed_ips"),
        mac_address=attrs.get("mac_address"),
        security_group_ids=group_ids,
        port_security_enabled=secure,
        name=attrs.get("name", ""),
        **columns,
    )
    row.allowed_address_pairs = _fill_pairs(pairs, row.mac_address)
    row.extra_dhcp_opts = [
        o for o in attrs.get("extra_dhcp_opts", []) if o["opt_value"] is not None
    ]
    s.flush()
    return row


# -- update ------------------------------------------------------------------------------


@dataclass
class IpChanges:
    keep: list[dict[str, str]]
    add: list[dict[str, str]]
    remove: list[dict[str, str]]


def changed_ips(
    original: Sequence[Mapping[str, str]],
    requested: Sequence[Mapping[str, str]],
    auto_subnets: set[str],
) -> IpChanges:
    """Neutron's reading of a new ``fixed_ips`` list: addresses named and already held
    are kept, a subnet-only entry keeps an address the port has on that subnet, the
    rest are added; held addresses nobody asked for are released, except those of
    SLAAC subnets (they follow the prefix and the MAC, not the request)."""
    keep: list[dict[str, str]] = []
    add: list[dict[str, str]] = []
    by_ip = {ip["ip_address"]: dict(ip) for ip in original}
    for req in requested:
        if "ip_address" not in req:
            continue
        held = by_ip.pop(req["ip_address"], None)
        if held is not None and req.get("subnet_id", held["subnet_id"]) == held["subnet_id"]:
            keep.append(held)
        else:
            if held is not None:
                by_ip[held["ip_address"]] = held
            add.append(dict(req))
    by_subnet: dict[str, list[dict[str, str]]] = {}
    for ip in by_ip.values():
        by_subnet.setdefault(ip["subnet_id"], []).append(ip)
    for req in requested:
        if "ip_address" in req:
            continue
        held_list = by_subnet.get(req.get("subnet_id", ""))
        if held_list:
            keep.append(held_list.pop())
        else:
            add.append(dict(req))
    remove: list[dict[str, str]] = []
    for leftovers in by_subnet.values():
        for ip in leftovers:
            (keep if ip["subnet_id"] in auto_subnets else remove).append(ip)
    return IpChanges(keep=keep, add=add, remove=remove)


def _release(s: Session, port_id: str, ips: Sequence[Mapping[str, str]]) -> None:
    for ip in ips:
        s.execute(
            delete(m.IPAllocation).where(
                m.IPAllocation.port_id == port_id,
                m.IPAllocation.subnet_id == ip["subnet_id"],
                m.IPAllocation.ip_address == ip["ip_address"],
            )
        )


def _update_fixed_ips(
    s: Session, row: m.Port, requested: Sequence[Mapping[str, str]], mac: str
) -> None:
    subnets = network_subnets(s, row.network_id)
    auto = {x.id for x in subnets if ipam.is_auto(x)}
    if row.device_owner in ("network:router_interface", "network:router_interface_distributed"):
        auto = set()  # router interfaces hold exactly the addresses they are given
    original = ipam.of_ports(s, [row.id])[row.id]
    changes = changed_ips(original, requested, auto)
    if changes.remove:
        gone = [ip["ip_address"] for ip in changes.remove]
        disassociate_floating_ips(s, row.id, gone)
        s.execute(
            delete(m.PortForwarding).where(
                m.PortForwarding.internal_port_id == row.id,
                m.PortForwarding.internal_ip_address.in_(gone),
            )
        )
        _release(s, row.id, changes.remove)
        s.flush()
    if changes.add:
        ipam.allocate(s, subnets, row.id, mac, changes.add)


def _change_mac(s: Session, row: m.Port, mac: str) -> None:
    if mac == row.mac_address:
        return
    if row.binding_vif_type not in UNBOUND_VIF_TYPES:
        raise Conflict(
            f"Unable to complete operation on port {row.id}, port is already bound, port "
            f"type: {row.binding_vif_type}, old_mac {row.mac_address}, new_mac {mac}.",
            kind="PortBound",
        )
    taken = s.scalar(
        select(m.Port.id).where(
            m.Port.network_id == row.network_id, m.Port.mac_address == mac, m.Port.id != row.id
        )
    )
    if taken:
        raise mac_in_use(row.network_id, mac)
    s.flush()
    try:
        with s.begin_nested():
            row.mac_address = mac
            s.flush()
    except IntegrityError:
        raise mac_in_use(row.network_id, mac) from None
    # SLAAC addresses are made from the MAC: they follow it
    subnets = [x for x in network_subnets(s, row.network_id) if ipam.is_auto(x)]
    held = {a["subnet_id"] for a in ipam.of_ports(s, [row.id])[row.id]}
    for subnet in subnets:
        if subnet.id in held:
            ipam.release(s, row.id, [subnet.id])
            s.flush()
            ipam.take_specific(s, subnet, row.id, ipam.eui64(subnet.cidr, mac))


def _merge_dhcp_opts(
    current: Sequence[Mapping[str, Any]], changes: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Neutron's update: an option named again takes the new value, a null value
    deletes it, options not named stay."""
    merged = {(o["opt_name"], int(o.get("ip_version") or 4)): dict(o) for o in current}
    for opt in changes:
        key = (opt["opt_name"], int(opt.get("ip_version") or 4))
        if opt["opt_value"] is None:
            merged.pop(key, None)
        else:
            merged[key] = dict(opt)
    return list(merged.values())


def _group_ids_of(s: Session, port_id: str) -> list[str]:
    return list(
        s.scalars(
            select(m.PortSecurityGroup.security_group_id).where(
                m.PortSecurityGroup.port_id == port_id
            )
        )
    )


def update_port(
    svc: NetworkService,
    caller: Caller,
    port_id: str,
    attrs: dict[str, Any],
    headers: Mapping[str, str],
) -> dict[str, Any]:
    with svc.db.session() as s:
        row = find(s, caller, port_id)
        network = s.get(m.Network, row.network_id)
        assert network is not None
        caller.check_attributes(
            "update", "port", _policy_attrs(attrs), _target(row.project_id, network)
        )
        _network_owner_only(caller, "update", attrs, row.project_id, network)
        check_revision(headers, row)
        if "security_groups" in attrs and attrs["security_groups"] is None:
            attrs["security_groups"] = []
        secure = attrs.get("port_security_enabled", row.port_security_enabled)
        current_groups = _group_ids_of(s, row.id)
        groups_after = attrs.get("security_groups", current_groups)
        pairs = attrs.get("allowed_address_pairs", row.allowed_address_pairs or [])
        _check_port_security(
            secure,
            attrs.get("security_groups"),
            pairs,
            groups_requested="security_groups" in attrs,
            has_groups=bool(groups_after),
        )
        for key, column in _COLUMNS.items():
            if key in attrs:
                setattr(row, column, attrs[key])
        row.port_security_enabled = secure
        if "mac_address" in attrs:
            _change_mac(s, row, attrs["mac_address"])
        if "fixed_ips" in attrs:
            _update_fixed_ips(s, row, attrs["fixed_ips"], row.mac_address)
        if "security_groups" in attrs and set(attrs["security_groups"]) != set(current_groups):
            wanted = security_groups.check_for_port(
                s, caller, row.project_id, attrs["security_groups"]
            )
            s.execute(delete(m.PortSecurityGroup).where(m.PortSecurityGroup.port_id == row.id))
            for group_id in wanted:
                s.add(m.PortSecurityGroup(port_id=row.id, security_group_id=group_id))
        if "allowed_address_pairs" in attrs:
            row.allowed_address_pairs = _fill_pairs(attrs["allowed_address_pairs"], row.mac_address)
        if "extra_dhcp_opts" in attrs:
            row.extra_dhcp_opts = _merge_dhcp_opts(
                row.extra_dhcp_opts or [], attrs["extra_dhcp_opts"]
            )
        bind(row)
        touch(row)
        if set(attrs) - _COSMETIC:
            svc.changed(s)
        s.flush()
        return views(svc, s, caller, [row])[0]


# -- delete ------------------------------------------------------------------------------


def _check_deletable(s: Session, row: m.Port) -> None:
    """Router and floating IP ports go with their router or floating IP (Neutron's
    L3PortInUse), not through the port API, while those exist."""
    in_use = False
    if row.device_owner in L3_OWNERS:
        in_use = bool(row.device_id) and s.get(m.Router, row.device_id) is not None
    elif row.device_owner == "network:floatingip":
        in_use = (
            s.scalar(select(m.FloatingIp.id).where(m.FloatingIp.floating_port_id == row.id))
            is not None
        )
    if in_use:
        raise Conflict(
            f"Port {row.id} has owner {row.device_owner} and therefore cannot be deleted "
            "directly via the port API.",
            kind="L3PortInUse",
        )


def delete_port(
    svc: NetworkService, caller: Caller, port_id: str, headers: Mapping[str, str]
) -> None:
    with svc.db.session() as s:
        row = find(s, caller, port_id)
        network = s.get(m.Network, row.network_id)
        assert network is not None
        caller.check("delete_port", _target(row.project_id, network))
        check_revision(headers, row)
        _check_deletable(s, row)
        remove_port(svc, s, row)
