"""The security groups proxy (``/os-security-groups``, ``/os-security-group-rules``
and ``/servers/{id}/os-security-groups``, to 2.35): the network service's groups in
Nova's shape.

Nova shows only ingress rules, as ``{ip_protocol, from_port, to_port}`` with either
``ip_range.cidr`` or the remote ``group`` (its name and project); a rule with a
protocol and no ports covers 1-65535 (TCP, UDP) or every type (-1, others). Rules it
creates are ingress, IPv4 unless the CIDR is IPv6, and checked as Nova checks them
(protocol tcp/udp/icmp, port ranges) before the network service sees them.
Group and rule ids are UUIDs (400 otherwise). Neutron's 409s (group in use, the
default group, a duplicate rule) are Nova's 400s.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select

from nubo.compute import servers
from nubo.compute.access import Caller
from nubo.compute.service import ComputeService
from nubo.errors import BadRequest, Conflict, Forbidden, NotFound
from nubo.network import access as net_access
from nubo.network import models as nm
from nubo.network import security_groups as net_groups

PROTOCOLS = ("tcp", "udp", "icmp")
MAX_LIMIT = 1000


def network_caller(caller: Caller) -> net_access.Caller:
    """The caller as the network service sees it (its policy decides, as Neutron does
    for the user's token Nova forwards)."""
    return net_access.Caller(
        project_id=caller.project_id,
        is_admin=caller.is_admin,
        allowed=caller.allowed,
        user_id=caller.user_id,
        request_id=caller.request_id,
    )


def check_id(value: Any) -> str:
    """Security group and rule ids are UUIDs (Nova's 400 otherwise)."""
    if isinstance(value, str):
        try:
            uuid.UUID(value)
            return value
        except ValueError:
            pass
    raise BadRequest("Security group id should be uuid")


def group_not_found(group_id: str) -> NotFound:
    return NotFound(f"Security group {group_id} not found.")


def _text(value: Any, field: str) -> str:
    """Nova's check of a name or description: a string of at most 255 characters."""
    if not isinstance(value, str):
        raise BadRequest(f"{field} is not a string or unicode")
    if len(value) > 255:
        raise BadRequest(f"{field} has a maximum length of 255 characters")
    return value


def _as_400(exc: Conflict | BadRequest) -> BadRequest:
    return BadRequest(exc.message)


# -- views ------------------------------------------------------------------------------


def _remote_groups(s: Any, rules: Sequence[Mapping[str, Any]]) -> dict[str, nm.SecurityGroup]:
    ids = {r["remote_group_id"] for r in rules if r.get("remote_group_id")}
    if not ids:
        return {}
    rows = s.scalars(select(nm.SecurityGroup).where(nm.SecurityGroup.id.in_(sorted(ids))))
    return {r.id: r for r in rows}


def rule_view(
    rule: Mapping[str, Any], remotes: Mapping[str, nm.SecurityGroup], caller: Caller
) -> dict[str, Any] | None:
    """A Neutron rule as Nova shows it; None when its remote group is not the caller's
    to see (Nova drops such rules)."""
    protocol = rule.get("protocol")
    low, high = rule.get("port_range_min"), rule.get("port_range_max")
    if protocol and low is None and high is None:
        low, high = (1, 65535) if protocol.upper() in ("TCP", "UDP") else (-1, -1)
    body: dict[str, Any] = {
        "id": rule["id"],
        "parent_group_id": rule["security_group_id"],
        "ip_protocol": protocol,
        "from_port": low,
        "to_port": high,
        "group": {},
        "ip_range": {},
    }
    remote_id = rule.get("remote_group_id")
    if remote_id:
        remote = remotes.get(remote_id)
        if remote is None or not (caller.is_admin or remote.project_id == caller.project_id):
            return None
        body["group"] = {"name": remote.name, "tenant_id": remote.project_id}
    else:
        prefix = rule.get("remote_ip_prefix")
        if not prefix:
            prefix = "::/0" if rule.get("ethertype") == "IPv6" else "0.0.0.0/0"
        body["ip_range"] = {"cidr": prefix}
    return body


def views(
    svc: ComputeService, caller: Caller, groups: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Groups (network service views) as Nova shows them."""
    ingress = [
        r
        for g in groups
        for r in g.get("security_group_rules", [])
        if r.get("direction") == "ingress"
    ]
    with svc.db.reader() as s:
        remotes = _remote_groups(s, ingress)
    out = []
    for group in groups:
        rules = [
            rule_view(r, remotes, caller)
            for r in group.get("security_group_rules", [])
            if r.get("direction") == "ingress"
        ]
        out.append(
            {
                "id": group["id"],
                "name": group["name"],
                "description": group["description"],
                "tenant_id": group["tenant_id"],
                "rules": [r for r in rules if r is not None],
            }
        )
    return out


def _sorted(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda g: (g["tenant_id"], g["name"]))


# -- groups --------------------------------------------------------------------------------


def _non_negative(name: str, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"{name} param must be an integer") from None
    if number < 0:
        raise BadRequest(f"{name} param must be positive")
    return number


def list_groups(
    svc: ComputeService, caller: Caller, query: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The project's groups (every project's for an admin asking ``all_tenants``), cut
    by ``offset`` and ``limit``, sorted by project and name."""
    caller.check("os-security-groups:get")
    offset = _non_negative("offset", query.get("offset")) or 0
    limit = min(_non_negative("limit", query.get("limit")) or MAX_LIMIT, MAX_LIMIT)
    every = caller.is_admin and "all_tenants" in query
    filters = {} if every else {"project_id": [caller.project_id]}
    groups = net_groups.list_security_groups(svc.network, network_caller(caller), filters)
    return _sorted(views(svc, caller, groups[offset : offset + limit]))


def _group(svc: ComputeService, caller: Caller, group_id: str) -> dict[str, Any]:
    try:
        return net_groups.get_security_group(svc.network, network_caller(caller), group_id)
    except NotFound:
        raise group_not_found(group_id) from None


def show_group(svc: ComputeService, caller: Caller, group_id: str) -> dict[str, Any]:
    check_id(group_id)
    caller.check("os-security-groups:show")
    return views(svc, caller, [_group(svc, caller, group_id)])[0]


def create_group(svc: ComputeService, caller: Caller, body: Any) -> dict[str, Any]:
    caller.check("os-security-groups:create")
    name = _text(body.get("name"), "name")
    description = _text(body.get("description"), "description")
    try:
        attrs = {"name": net_groups.group_name(name), "description": description}
        group = net_groups.create_security_group(svc.network, network_caller(caller), attrs)
    except Conflict as exc:
        if exc.kind == "OverQuota":
            raise Forbidden(f"Quota exceeded, too many security groups. {exc.message}") from None
        raise _as_400(exc) from None
    return views(svc, caller, [group])[0]


def update_group(svc: ComputeService, caller: Caller, group_id: str, body: Any) -> dict[str, Any]:
    check_id(group_id)
    caller.check("os-security-groups:update")
    _group(svc, caller, group_id)
    name = _text(body.get("name"), "name")
    description = _text(body.get("description"), "description")
    try:
        attrs = {"name": net_groups.group_name(name), "description": description}
        group = net_groups.update_security_group(
            svc.network, network_caller(caller), group_id, attrs, {}
        )
    except NotFound:
        raise group_not_found(group_id) from None
    except Conflict as exc:
        raise _as_400(exc) from None
    return views(svc, caller, [group])[0]


def delete_group(svc: ComputeService, caller: Caller, group_id: str) -> None:
    check_id(group_id)
    caller.check("os-security-groups:delete")
    try:
        net_groups.delete_security_group(svc.network, network_caller(caller), group_id, {})
    except NotFound:
        raise group_not_found(group_id) from None
    except Conflict as exc:
        raise _as_400(exc) from None


def server_groups(svc: ComputeService, caller: Caller, server_id: str) -> list[dict[str, Any]]:
    """The groups of the server's ports."""
    with svc.db.reader() as s:
        server = servers.find(s, caller, server_id)
        caller.check("os-security-groups:list", {"project_id": server.project_id})
        ids = list(
            s.scalars(
                select(nm.PortSecurityGroup.security_group_id)
                .join(nm.Port, nm.Port.id == nm.PortSecurityGroup.port_id)
                .where(nm.Port.device_id == server.id)
                .distinct()
            )
        )
        rows = list(s.scalars(select(nm.SecurityGroup).where(nm.SecurityGroup.id.in_(ids))))
        groups = net_groups.views(s, rows) if rows else []
    return _sorted(views(svc, caller, groups))


# -- rules ----------------------------------------------------------------------------------


def _port(value: Any, field: str, icmp: bool) -> int:
    if isinstance(value, bool) or value is None:
        raise BadRequest(
            "Type and Code must be integers for ICMP protocol type"
            if icmp
            else "To and From ports must be integers"
        )
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadRequest(
            "Type and Code must be integers for ICMP protocol type"
            if icmp
            else "To and From ports must be integers"
        ) from None


def new_rule(body: Mapping[str, Any], by_group: bool) -> dict[str, Any]:
    """Nova's checks of a rule: (protocol, from_port, to_port) or, with a source group
    and no ports, the whole range; the network service's attributes of it."""
    protocol = body.get("ip_protocol")
    low, high = body.get("from_port"), body.get("to_port")
    if protocol is not None and not isinstance(protocol, str):
        raise BadRequest(f"Invalid IP protocol {protocol}.")
    upper = (protocol or "").upper()
    if by_group and low is None and high is None:
        if upper == "ICMP":
            low, high = -1, -1
        elif upper in ("TCP", "UDP"):
            low, high = 1, 65535
    attrs: dict[str, Any] = {"direction": "ingress"}
    if protocol and low is not None and high is not None:
        icmp = upper == "ICMP"
        low, high = _port(low, "from_port", icmp), _port(high, "to_port", icmp)
        if protocol.lower() not in PROTOCOLS:
            raise BadRequest(f"Invalid IP protocol {protocol}.")
        if upper in ("TCP", "UDP"):
            if low > high:
                raise BadRequest(
                    f"Invalid port range {low}:{high}. Former value cannot be greater than "
                    "the later"
                )
            if low < 1 or high > 65535:
                raise BadRequest(
                    f"Invalid port range {low}:{high}. Valid {upper} ports should be between "
                    "1-65535"
                )
        elif not (-1 <= low <= 255 and -1 <= high <= 255):
            raise BadRequest(
                f"Invalid port range {low}:{high}. For ICMP, the type:code must be valid"
            )
        attrs["protocol"] = protocol.lower()
        attrs["port_range_min"] = None if low == -1 else low
        attrs["port_range_max"] = None if high == -1 else high
    elif not by_group:
        # a CIDR rule needs its protocol and ports
        raise BadRequest("Not enough parameters to build a valid rule.")
    return attrs


def _cidr(value: Any) -> str:
    """Nova's CIDR: 0.0.0.0/0 when none; a network prefix of 0 only for any address."""
    if value is None or value == "":
        return "0.0.0.0/0"
    if not isinstance(value, str):
        raise BadRequest(f"Invalid cidr {value}.")
    try:
        net = ipaddress.ip_interface(value.strip())
    except ValueError:
        raise BadRequest(f"Invalid cidr {value}.") from None
    if net.network.prefixlen == 0 and str(net.ip) not in ("0.0.0.0", "::"):
        raise BadRequest(f"Bad prefix for network in cidr {value}")
    return str(net)


def _check_new(
    svc: ComputeService, caller: Caller, parent: Mapping[str, Any], attrs: Mapping[str, Any]
) -> None:
    """Nova refuses a rule equal, as it shows rules, to one the group has (400)."""
    candidate = {
        "id": "",
        "security_group_id": parent["id"],
        "direction": "ingress",
        "ethertype": attrs["ethertype"],
        "protocol": attrs.get("protocol"),
        "port_range_min": attrs.get("port_range_min"),
        "port_range_max": attrs.get("port_range_max"),
        "remote_ip_prefix": attrs.get("remote_ip_prefix"),
        "remote_group_id": attrs.get("remote_group_id"),
    }
    existing = [r for r in parent.get("security_group_rules", []) if r["direction"] == "ingress"]
    with svc.db.reader() as s:
        remotes = _remote_groups(s, [*existing, candidate])

    def shown(rule: Mapping[str, Any]) -> dict[str, Any] | None:
        body = rule_view(rule, remotes, caller)
        if body is not None:
            body.pop("id")
        return body

    wanted = shown(candidate)
    if wanted is not None and any(shown(r) == wanted for r in existing):
        raise BadRequest(f"This rule already exists in group {parent['id']}")


def create_rule(svc: ComputeService, caller: Caller, body: Any) -> dict[str, Any]:
    caller.check("os-security-groups:rule:create")
    parent_id = check_id(body.get("parent_group_id"))
    parent = _group(svc, caller, parent_id)
    group_id = body.get("group_id")
    remote: dict[str, Any] | None = None
    if group_id is not None:
        group_id = check_id(group_id)
        remote = _group(svc, caller, group_id)
    attrs = new_rule(body, by_group=remote is not None)
    attrs["security_group_id"] = parent_id
    if remote is not None:
        attrs["ethertype"] = "IPv4"
        attrs["remote_group_id"] = group_id
    else:
        cidr = _cidr(body.get("cidr"))
        attrs["remote_ip_prefix"] = net_groups.ip_prefix(cidr)
        attrs["ethertype"] = f"IPv{ipaddress.ip_interface(cidr).version}"
    _check_new(svc, caller, parent, attrs)
    try:
        rule = net_groups.create_security_group_rule(svc.network, network_caller(caller), attrs)
    except NotFound as exc:
        raise NotFound(exc.message) from None
    except Conflict as exc:
        if exc.kind == "OverQuota":
            raise Forbidden(
                f"Quota exceeded, too many security group rules. {exc.message}"
            ) from None
        raise _as_400(exc) from None
    with svc.db.reader() as s:
        remotes = _remote_groups(s, [rule])
    body_out = rule_view(rule, remotes, caller)
    if body_out is None:  # the caller named the remote group, so it sees it
        raise NotFound(f"Security group {group_id} not found.")
    return body_out


def delete_rule(svc: ComputeService, caller: Caller, rule_id: str) -> None:
    check_id(rule_id)
    caller.check("os-security-groups:rule:delete")
    try:
        net_groups.delete_security_group_rule(svc.network, network_caller(caller), rule_id, {})
    except NotFound:
        raise NotFound(f"Security group rule {rule_id} not found.") from None
    except Conflict as exc:
        raise _as_400(exc) from None
