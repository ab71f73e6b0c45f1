"""Security groups and their rules: the project's ``default`` group (made on first use,
with OpenStack's default rules), user groups, rule validation the way Neutron does it,
and the group specs the network agent turns into nftables.

Neutron behaviour kept here on purpose:

* a new group gets the two "allow all egress" rules; the default group also gets
  "allow ingress from members of this group" for IPv4 and IPv6;
* listing groups or rules, creating a group or a port makes sure the project has its
  default group (one per project even under races: ``net_default_security_groups``);
* a group's name cannot be set to ``default`` (409), the default group cannot be
  renamed (409) nor deleted by its project (409; an admin may delete it, which is how
  Tempest cleans up the projects it made);
* deleting a group deletes its rules and the rules of other groups that name it as
  their remote group (Neutron's foreign key cascades do the same);
* rule values are canonicalised as Neutron does (ICMP on IPv6 is ``ipv6-icmp``, a port
  range of 1-65535 is no range) and a rule equal to an existing one is refused (409).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nubo.errors import BadRequest, Conflict, NotFound
from nubo.network import models as m
from nubo.network import quotas, tags
from nubo.network.access import (
    Caller,
    check_revision,
    project_for_create,
    standard,
    timestamp,
    touch,
)
from nubo.network.attributes import (
    DESCRIPTION,
    PROJECT,
    Attr,
    Invalid,
    boolean,
    list_of,
    nullable,
    one_of,
    string,
)
from nubo.network.dataplane.spec import RuleSpec, SecurityGroupSpec
from nubo.network.protocols import ICMP_PROTOCOLS, PORT_PROTOCOLS, PROTOCOLS

if TYPE_CHECKING:
    from nubo.network.service import NetworkService

DEFAULT_NAME = "default"
# tags are stored under the collection name of the URL (/v2.0/security-groups/{id}/tags)
TAG_COLLECTION = "security-groups"
DEFAULT_DESCRIPTION = "Default security group"
ETHERTYPES = ("IPv4", "IPv6")
DIRECTIONS = ("ingress", "egress")
ANY_PREFIXES = ("0.0.0.0/0", "::/0")

# what Neutron's messages list as supported: "any" (no protocol) and the names
SUPPORTED_PROTOCOLS: tuple[str | None, ...] = (None, "any", *PROTOCOLS)
# how Neutron's messages name the protocols with ports
PORT_PROTOCOL_NAMES = "DCCP, SCTP, TCP, UDP, UDPLITE"
# protocols that only exist on IPv6
IPV6_ONLY = frozenset(
    {"ipv6-encap", "ipv6-frag", "ipv6-icmp", "icmpv6", "ipv6-nonxt", "ipv6-opts", "ipv6-route"}
    | {"41", "44", "58", "59", "60", "43"}
)


# -- converters (Neutron's own messages: clients and Tempest match on them) -----------


def group_name(value: Any) -> str:
    """A group name; ``default`` is taken by the project's default group."""
    name: str = string(255)(value)
    if name.lower() == DEFAULT_NAME:
        raise Conflict(
            "Default security group already exists.", kind="SecurityGroupDefaultAlreadyExists"
        )
    return name


def protocol(value: Any) -> str | None:
    """None for any protocol; a lowercase name; or a number 0-255 as a string."""
    if value is None or value == "any":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value <= 255:
            return str(value)
    elif isinstance(value, str):
        if value.isdigit():
            if int(value) <= 255:
                return str(int(value))
        elif value.lower() in PROTOCOLS or value.lower() == "any":
            return None if value.lower() == "any" else value.lower()
    shown = ", ".join("None" if p is None else repr(p) for p in SUPPORTED_PROTOCOLS)
    raise BadRequest(
        f"Security group rule protocol {value} not supported. Only protocol values "
        f"[{shown}] and integer representations [0 to 255] are supported.",
        kind="SecurityGroupRuleInvalidProtocol",
    )


def ethertype(value: Any) -> str:
    if isinstance(value, str):
        for known in ETHERTYPES:
            if known.lower() == value.lower():
                return known
    raise BadRequest(
        f"Security group rule for ethertype '{value}' not supported. "
        f"Allowed values are {list(ETHERTYPES)}.",
        kind="SecurityGroupRuleInvalidEtherType",
    )


def port_value(value: Any) -> int | None:
    if value is None:
        return None
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value)
    if number is None or not 0 <= number <= 65535:
        raise BadRequest(f"Invalid value for port {value}", kind="SecurityGroupInvalidPortValue")
    return number


def ip_prefix(value: Any) -> str | None:
    """A CIDR as given, with its mask made explicit (10.0.0.1 -> 10.0.0.1/32); host
    bits are kept here and cleared in ``normalized_cidr``, as Neutron shows them."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return str(ipaddress.ip_interface(value.strip()))
        except ValueError:
            pass
    raise BadRequest(f"Invalid CIDR {value} given as IP prefix.", kind="InvalidCIDR")


def normalized_cidr(prefix: str | None) -> str | None:
    if not prefix:
        return None
    return str(ipaddress.ip_interface(prefix).network)


def _tag_list(value: Any) -> list[str]:
    items = list_of(string(255))(value)
    for item in items:
        if not item or "," in item or "/" in item:
            raise Invalid(f"'{item}' is not a valid tag")
    return list(dict.fromkeys(items))


GROUP_ATTRS: dict[str, Attr] = {
    "name": Attr(group_name),
    "description": DESCRIPTION,
    "project_id": PROJECT,
    "tenant_id": PROJECT,
    "stateful": Attr(boolean),
    "tags": Attr(_tag_list, put=False),
    # sharing through RBAC is not implemented: always False, never settable
    "shared": Attr(boolean, post=False, put=False),
}

RULE_ATTRS: dict[str, Attr] = {
    "security_group_id": Attr(string(36), put=False, required=True),
    "direction": Attr(one_of(*DIRECTIONS), put=False, required=True),
    "ethertype": Attr(ethertype, put=False),
    "protocol": Attr(protocol, put=False),
    "port_range_min": Attr(port_value, put=False),
    "port_range_max": Attr(port_value, put=False),
    "remote_ip_prefix": Attr(ip_prefix, put=False),
    "remote_group_id": Attr(nullable(string(36)), put=False),
    "remote_address_group_id": Attr(nullable(string(36)), put=False),
    "description": DESCRIPTION,
    "project_id": PROJECT,
    "tenant_id": PROJECT,
}


# -- rule validation (pure) ------------------------------------------------------------


def protocol_number(value: str | None) -> int | None:
    """The IP protocol number of a converted protocol value (None: any)."""
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    return PROTOCOLS[value]


def _check_ports(rule: Mapping[str, Any]) -> None:
    low, high = rule["port_range_min"], rule["port_range_max"]
    if low is None and high is None:
        return
    if rule["protocol"] is None:
        raise BadRequest(
            "Must also specify protocol if port range is given.",
            kind="SecurityGroupProtocolRequiredWithPorts",
        )
    number = protocol_number(rule["protocol"])
    if number in PORT_PROTOCOLS:
        if low == 0 or high == 0:
            raise BadRequest("Invalid value for port 0", kind="SecurityGroupInvalidPortValue")
        if low is None or high is None or low > high:
            raise BadRequest(
                "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                kind="SecurityGroupInvalidPortRange",
            )
    elif number in ICMP_PROTOCOLS:
        for attr, field, value in (
            ("port_range_min", "type", low),
            ("port_range_max", "code", high),
        ):
            if value is not None and not 0 <= value <= 255:
                raise BadRequest(
                    f"Invalid value for ICMP {field} ({attr}) {value}. It must be 0 to 255.",
                    kind="SecurityGroupInvalidIcmpValue",
                )
        if low is None and high is not None:
            raise BadRequest(
                f"ICMP code (port-range-max) {high} is provided but ICMP type "
                "(port-range-min) is missing.",
                kind="SecurityGroupMissingIcmpType",
            )
    else:
        raise BadRequest(
            f"Ports cannot be specified for protocol {number}. "
            f"Ports are only supported for {PORT_PROTOCOL_NAMES}.",
            kind="SecurityGroupInvalidProtocolForPort",
        )


def normalize_rule(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Check a converted rule body and return its canonical values (Neutron's order of
    checks, so the first error reported is the one Neutron reports)."""
    rule: dict[str, Any] = {
        "direction": attrs["direction"],
        "ethertype": attrs.get("ethertype", "IPv4"),
        "protocol": attrs.get("protocol"),
        "port_range_min": attrs.get("port_range_min"),
        "port_range_max": attrs.get("port_range_max"),
        "remote_ip_prefix": attrs.get("remote_ip_prefix"),
        "remote_group_id": attrs.get("remote_group_id") or None,
        "remote_address_group_id": attrs.get("remote_address_group_id") or None,
    }
    # legacy IPv6 ICMP names and number become ipv6-icmp / 58
    if rule["ethertype"] == "IPv6":
        if rule["protocol"] in ("icmp", "icmpv6"):
            rule["protocol"] = "ipv6-icmp"
        elif rule["protocol"] == "1":
            rule["protocol"] = "58"
    # the whole port range is no range
    if rule["port_range_min"] == 1 and rule["port_range_max"] == 65535:
        rule["port_range_min"] = rule["port_range_max"] = None
    _check_ports(rule)
    prefix = rule["remote_ip_prefix"]
    if prefix and rule["ethertype"] != f"IPv{ipaddress.ip_interface(prefix).version}":
        raise BadRequest(
            f"Conflicting value ethertype {rule['ethertype']} for CIDR {prefix}",
            kind="SecurityGroupRuleParameterConflict",
        )
    if rule["protocol"] in IPV6_ONLY and rule["ethertype"] == "IPv4":
        raise BadRequest(
            f"Invalid ethertype {rule['ethertype']} for protocol {rule['protocol']}.",
            kind="SecurityGroupEthertypeConflictWithProtocol",
        )
    remotes = [
        k for k in ("remote_ip_prefix", "remote_group_id", "remote_address_group_id") if rule[k]
    ]
    if len(remotes) > 1:
        raise BadRequest(
            "Only one of remote_ip_prefix or remote_group_id or remote_address_group_id "
            "may be provided.",
            kind="SecurityGroupMultipleRemoteEntites",
        )
    return rule


def rule_key(group_id: str, rule: Mapping[str, Any]) -> tuple[Any, ...]:
    """What makes two rules the same rule: protocol by number (tcp == 6), any address
    however written (0.0.0.0/0 == none), prefixes by their network."""
    prefix = rule.get("remote_ip_prefix")
    network = None if not prefix or prefix in ANY_PREFIXES else normalized_cidr(prefix)
    if network in ANY_PREFIXES:
        network = None
    return (
        group_id,
        rule["direction"],
        rule["ethertype"],
        protocol_number(rule.get("protocol")),
        rule.get("port_range_min"),
        rule.get("port_range_max"),
        rule.get("remote_group_id"),
        rule.get("remote_address_group_id"),
        network,
    )


# -- visibility --------------------------------------------------------------------------


def visible(caller: Caller) -> Any:
    """A WHERE clause for the groups ``caller`` can see (no sharing: own project)."""
    if caller.is_admin:
        return m.SecurityGroup.id.isnot(None)
    return m.SecurityGroup.project_id == caller.project_id


def group_not_found(group_id: str) -> NotFound:
    return NotFound(f"Security group {group_id} does not exist", kind="SecurityGroupNotFound")


def rule_not_found(rule_id: str) -> NotFound:
    return NotFound(
        f"Security group rule {rule_id} does not exist", kind="SecurityGroupRuleNotFound"
    )


def find(s: Session, caller: Caller, group_id: str) -> m.SecurityGroup:
    """The group, or 404 when it does not exist or ``caller`` cannot see it."""
    row = s.get(m.SecurityGroup, group_id)
    if row is None or not (caller.is_admin or row.project_id == caller.project_id):
        raise group_not_found(group_id)
    return row


def find_rule(s: Session, caller: Caller, rule_id: str) -> tuple[m.SecurityGroupRule, str]:
    """The rule and its group's project; 404 unless ``caller`` owns one of them."""
    found = s.execute(
        select(m.SecurityGroupRule, m.SecurityGroup.project_id)
        .join(m.SecurityGroup, m.SecurityGroup.id == m.SecurityGroupRule.security_group_id)
        .where(m.SecurityGroupRule.id == rule_id)
    ).first()
    if found is None:
        raise rule_not_found(rule_id)
    rule, group_project = found
    if not caller.is_admin and caller.project_id not in (rule.project_id, group_project):
        raise rule_not_found(rule_id)
    return rule, group_project


def _rule_target(caller: Caller, rule_project: str, group_project: str) -> dict[str, str]:
    """The policy target of a rule: its owner or its group's owner (Neutron's
    ``admin_owner_or_sg_owner``)."""
    if caller.project_id in (rule_project, group_project):
        return {"project_id": caller.project_id}
    return {"project_id": group_project}


def _in_use(s: Session, group_id: str) -> bool:
    return bool(
        s.scalar(
            select(func.count())
            .select_from(m.PortSecurityGroup)
            .where(m.PortSecurityGroup.security_group_id == group_id)
        )
    )


def _default_ids(s: Session, group_ids: Iterable[str]) -> set[str]:
    ids = list(group_ids)
    if not ids:
        return set()
    return set(
        s.scalars(
            select(m.DefaultSecurityGroup.security_group_id).where(
                m.DefaultSecurityGroup.security_group_id.in_(ids)
            )
        )
    )


# -- the default group -------------------------------------------------------------------


def _add_rule(
    s: Session,
    group: m.SecurityGroup,
    project_id: str,
    direction: str,
    ether: str,
    remote_group_id: str | None = None,
) -> None:
    s.add(
        m.SecurityGroupRule(
            project_id=project_id,
            security_group_id=group.id,
            direction=direction,
            ethertype=ether,
            remote_group_id=remote_group_id,
        )
    )


def ensure_default(svc: NetworkService, s: Session, project_id: str) -> str:
    """The id of the project's ``default`` group, made on first use with OpenStack's
    default rules: all egress, and ingress from the group's own members (v4 and v6)."""
    existing = s.scalar(
        select(m.DefaultSecurityGroup.security_group_id).where(
            m.DefaultSecurityGroup.project_id == project_id
        )
    )
    if existing is not None:
        return str(existing)
    try:
        with s.begin_nested():
            group = m.SecurityGroup(
                project_id=project_id,
                name=DEFAULT_NAME,
                description=DEFAULT_DESCRIPTION,
                stateful=True,
            )
            s.add(group)
            s.flush()
            s.add(m.DefaultSecurityGroup(project_id=project_id, security_group_id=group.id))
            s.flush()
    except IntegrityError:
        # another request made it first: theirs is the one
        winner = s.scalar(
            select(m.DefaultSecurityGroup.security_group_id).where(
                m.DefaultSecurityGroup.project_id == project_id
            )
        )
        if winner is None:
            raise Conflict(
                "The default security group is being created by another request; try again."
            ) from None
        return str(winner)
    for ether in ETHERTYPES:
        _add_rule(s, group, project_id, "egress", ether)
    for ether in ETHERTYPES:
        _add_rule(s, group, project_id, "ingress", ether, remote_group_id=group.id)
    s.flush()
    svc.changed(s)
    return group.id


def _ensure_default_for_list(
    svc: NetworkService, caller: Caller, filters: Mapping[str, list[str]]
) -> None:
    """Listing makes sure the listed project (the caller's, or for an admin the one the
    ``project_id`` filter names) has its default group, as Neutron does."""
    wanted = filters.get("project_id") or filters.get("tenant_id")
    project = wanted[0] if wanted else caller.project_id
    if not project or (project != caller.project_id and not caller.is_admin):
        return
    with svc.db.reader() as s:
        if s.get(m.DefaultSecurityGroup, project) is not None:
            return
    with svc.db.session() as s:
        ensure_default(svc, s, project)


# -- views -------------------------------------------------------------------------------


def rule_view(rule: m.SecurityGroupRule, in_default: bool) -> dict[str, Any]:
    return {
        "id": rule.id,
        "security_group_id": rule.security_group_id,
        "direction": rule.direction,
        "ethertype": rule.ethertype,
        "protocol": rule.protocol,
        "port_range_min": rule.port_range_min,
        "port_range_max": rule.port_range_max,
        "remote_ip_prefix": rule.remote_ip_prefix,
        "normalized_cidr": normalized_cidr(rule.remote_ip_prefix),
        "remote_group_id": rule.remote_group_id,
        "remote_address_group_id": rule.remote_address_group_id,
        "description": rule.description,
        "project_id": rule.project_id,
        "tenant_id": rule.project_id,
        "created_at": timestamp(rule.created_at),
        "updated_at": timestamp(rule.updated_at),
        "revision_number": rule.revision_number,
        "belongs_to_default_sg": in_default,
    }


def _rules_of(s: Session, group_ids: list[str]) -> dict[str, list[m.SecurityGroupRule]]:
    out: dict[str, list[m.SecurityGroupRule]] = {g: [] for g in group_ids}
    if not group_ids:
        return out
    for rule in s.scalars(
        select(m.SecurityGroupRule)
        .where(m.SecurityGroupRule.security_group_id.in_(group_ids))
        .order_by(m.SecurityGroupRule.created_at, m.SecurityGroupRule.id)
    ):
        out[rule.security_group_id].append(rule)
    return out


def views(s: Session, rows: Sequence[m.SecurityGroup]) -> list[dict[str, Any]]:
    """Group views with their rules, tags and default flags in three queries."""
    ids = [r.id for r in rows]
    rules = _rules_of(s, ids)
    tag_map = tags.of_many(s, TAG_COLLECTION, ids)
    defaults = _default_ids(s, ids)
    out = []
    for row in rows:
        body = standard(row, tag_map.get(row.id, []))
        body.update(
            {
                "stateful": row.stateful,
                "shared": False,
                "security_group_rules": [rule_view(r, row.id in defaults) for r in rules[row.id]],
            }
        )
        out.append(body)
    return out


# -- groups ------------------------------------------------------------------------------


def list_security_groups(
    svc: NetworkService, caller: Caller, filters: Mapping[str, list[str]]
) -> list[dict[str, Any]]:
    _ensure_default_for_list(svc, caller, filters)
    with svc.db.reader() as s:
        stmt = (
            select(m.SecurityGroup)
            .where(visible(caller))
            .order_by(m.SecurityGroup.created_at, m.SecurityGroup.id)
        )
        if "id" in filters:
            stmt = stmt.where(m.SecurityGroup.id.in_(filters["id"]))
        if "name" in filters:
            stmt = stmt.where(m.SecurityGroup.name.in_(filters["name"]))
        for key in ("project_id", "tenant_id"):
            if key in filters:
                stmt = stmt.where(m.SecurityGroup.project_id.in_(filters[key]))
        return views(s, list(s.scalars(stmt)))


def get_security_group(svc: NetworkService, caller: Caller, group_id: str) -> dict[str, Any]:
    with svc.db.reader() as s:
        row = find(s, caller, group_id)
        caller.check("get_security_group", {"project_id": row.project_id})
        return views(s, [row])[0]


def create_security_group(
    svc: NetworkService, caller: Caller, attrs: dict[str, Any]
) -> dict[str, Any]:
    return create_security_groups(svc, caller, [attrs])[0]


def create_security_groups(
    svc: NetworkService, caller: Caller, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Create groups (a bulk create is all or nothing), each with the two egress rules
    every new group gets."""
    projects = [project_for_create(caller, attrs) for attrs in items]
    for attrs, project in zip(items, projects, strict=True):
        caller.check_attributes("create", "security_group", attrs, {"project_id": project})
    with svc.db.session() as s:
        rows = [_create(svc, s, a, p) for a, p in zip(items, projects, strict=True)]
        return views(s, rows)


def _create(
    svc: NetworkService, s: Session, attrs: dict[str, Any], project: str
) -> m.SecurityGroup:
    ensure_default(svc, s, project)
    quotas.check(s, project, "security_group")
    # Neutron checks that the group's own rules fit the rule limit, not its usage
    rule_limit = quotas.limits(s, project)["security_group_rule"]
    if 0 <= rule_limit < len(ETHERTYPES):
        raise Conflict("Quota exceeded for resources: ['security_group_rule'].", kind="OverQuota")
    row = m.SecurityGroup(
        project_id=project,
        name=attrs.get("name", ""),
        description=attrs.get("description", ""),
        stateful=attrs.get("stateful", True),
    )
    s.add(row)
    s.flush()
    for ether in ETHERTYPES:
        _add_rule(s, row, project, "egress", ether)
    if attrs.get("tags"):
        tags.replace(s, TAG_COLLECTION, row.id, attrs["tags"])
    s.flush()
    svc.changed(s)
    return row


def update_security_group(
    svc: NetworkService,
    caller: Caller,
    group_id: str,
    attrs: dict[str, Any],
    headers: Mapping[str, str],
) -> dict[str, Any]:
    with svc.db.session() as s:
        row = find(s, caller, group_id)
        caller.check_attributes("update", "security_group", attrs, {"project_id": row.project_id})
        check_revision(headers, row)
        if "stateful" in attrs and attrs["stateful"] != row.stateful and _in_use(s, row.id):
            raise Conflict(f"Security Group {row.id} in use.", kind="SecurityGroupInUse")
        if "name" in attrs and _default_ids(s, [row.id]):
            raise Conflict(
                "Updating default security group not allowed.",
                kind="SecurityGroupCannotUpdateDefault",
            )
        changed_state = "stateful" in attrs and attrs["stateful"] != row.stateful
        for field in ("name", "description", "stateful"):
            if field in attrs:
                setattr(row, field, attrs[field])
        touch(row)
        if changed_state:
            svc.changed(s)
        s.flush()
        return views(s, [row])[0]


def delete_security_group(
    svc: NetworkService, caller: Caller, group_id: str, headers: Mapping[str, str]
) -> None:
    with svc.db.session() as s:
        row = find(s, caller, group_id)
        caller.check("delete_security_group", {"project_id": row.project_id})
        check_revision(headers, row)
        if _in_use(s, row.id):
            raise Conflict(f"Security Group {row.id} in use.", kind="SecurityGroupInUse")
        if not caller.is_admin and _default_ids(s, [row.id]):
            raise Conflict(
                "Insufficient rights for removing default security group.",
                kind="SecurityGroupCannotRemoveDefault",
            )
        remove(svc, s, row)


def remove(svc: NetworkService, s: Session, row: m.SecurityGroup) -> None:
    """Delete a group with its rules, the rules naming it as remote group, its tags and
    its default-group record (no port may use it)."""
    s.execute(
        delete(m.SecurityGroupRule).where(
            or_(
                m.SecurityGroupRule.security_group_id == row.id,
                m.SecurityGroupRule.remote_group_id == row.id,
            )
        )
    )
    s.execute(
        delete(m.DefaultSecurityGroup).where(m.DefaultSecurityGroup.security_group_id == row.id)
    )
    tags.drop_many(s, TAG_COLLECTION, [row.id])
    s.delete(row)
    s.flush()
    svc.changed(s)


# -- rules -------------------------------------------------------------------------------


def list_security_group_rules(
    svc: NetworkService, caller: Caller, filters: Mapping[str, list[str]]
) -> list[dict[str, Any]]:
    _ensure_default_for_list(svc, caller, filters)
    with svc.db.reader() as s:
        stmt = (
            select(m.SecurityGroupRule, m.DefaultSecurityGroup.security_group_id)
            .join(m.SecurityGroup, m.SecurityGroup.id == m.SecurityGroupRule.security_group_id)
            .outerjoin(
                m.DefaultSecurityGroup,
                m.DefaultSecurityGroup.security_group_id == m.SecurityGroupRule.security_group_id,
            )
            .order_by(m.SecurityGroupRule.created_at, m.SecurityGroupRule.id)
        )
        if not caller.is_admin:
            stmt = stmt.where(
                or_(
                    m.SecurityGroupRule.project_id == caller.project_id,
                    m.SecurityGroup.project_id == caller.project_id,
                )
            )
        for key, column in (
            ("id", m.SecurityGroupRule.id),
            ("security_group_id", m.SecurityGroupRule.security_group_id),
            ("direction", m.SecurityGroupRule.direction),
            ("ethertype", m.SecurityGroupRule.ethertype),
        ):
            if key in filters:
                stmt = stmt.where(column.in_(filters[key]))
        return [rule_view(rule, default is not None) for rule, default in s.execute(stmt)]


def get_security_group_rule(svc: NetworkService, caller: Caller, rule_id: str) -> dict[str, Any]:
    with svc.db.reader() as s:
        rule, group_project = find_rule(s, caller, rule_id)
        caller.check(
            "get_security_group_rule", _rule_target(caller, rule.project_id, group_project)
        )
        return rule_view(rule, bool(_default_ids(s, [rule.security_group_id])))


def create_security_group_rule(
    svc: NetworkService, caller: Caller, attrs: dict[str, Any]
) -> dict[str, Any]:
    return create_security_group_rules(svc, caller, [attrs])[0]


def create_security_group_rules(
    svc: NetworkService, caller: Caller, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Create rules, all in one group and project (Neutron's bulk rule), or none."""
    rules = [normalize_rule(attrs) for attrs in items]
    group_ids = {attrs["security_group_id"] for attrs in items}
    if len(group_ids) > 1:
        raise BadRequest(
            "Only allowed to update rules for one security profile at a time",
            kind="SecurityGroupNotSingleGroupRules",
        )
    group_id = group_ids.pop()
    with svc.db.session() as s:
        group = find(s, caller, group_id)
        projects = set()
        for attrs in items:
            if attrs.get("project_id") or attrs.get("tenant_id"):
                projects.add(project_for_create(caller, attrs))
            else:
                # an admin's rule in another project's group belongs to that project
                projects.add(group.project_id if caller.is_admin else caller.project_id)
        if len(projects) > 1:
            raise BadRequest(
                "Multiple project_ids in bulk security group rule create not allowed",
                kind="SecurityGroupRulesNotSingleProject",
            )
        project = projects.pop()
        for attrs in items:
            caller.check_attributes(
                "create", "security_group_rule", attrs, {"project_id": group.project_id}
            )
        for rule in rules:
            if rule["remote_group_id"]:
                find(s, caller, rule["remote_group_id"])
            if rule["remote_address_group_id"]:
                raise BadRequest(
                    "Address groups are not supported: remote_address_group_id must be null.",
                    kind="InvalidInput",
                )
        _check_duplicates(s, group.id, rules)
        quotas.check(s, project, "security_group_rule", adding=len(rules))
        in_default = bool(_default_ids(s, [group.id]))
        rows = []
        for attrs, rule in zip(items, rules, strict=True):
            row = m.SecurityGroupRule(
                project_id=project,
                security_group_id=group.id,
                description=attrs.get("description", ""),
                **rule,
            )
            s.add(row)
            rows.append(row)
        touch(group)
        s.flush()
        svc.changed(s)
        return [rule_view(r, in_default) for r in rows]


def _check_duplicates(s: Session, group_id: str, rules: list[dict[str, Any]]) -> None:
    wanted: set[tuple[Any, ...]] = set()
    for rule in rules:
        key = rule_key(group_id, rule)
        if key in wanted:
            raise Conflict(
                "Duplicate Security Group Rule in POST.", kind="DuplicateSecurityGroupRuleInPost"
            )
        wanted.add(key)
    for existing in _rules_of(s, [group_id])[group_id]:
        values = {
            "direction": existing.direction,
            "ethertype": existing.ethertype,
            "protocol": existing.protocol,
            "port_range_min": existing.port_range_min,
            "port_range_max": existing.port_range_max,
            "remote_ip_prefix": existing.remote_ip_prefix,
            "remote_group_id": existing.remote_group_id,
            "remote_address_group_id": existing.remote_address_group_id,
        }
        if rule_key(group_id, values) in wanted:
            raise Conflict(
                f"Security group rule already exists. Rule id is {existing.id}.",
                kind="SecurityGroupRuleExists",
            )


def delete_security_group_rule(
    svc: NetworkService, caller: Caller, rule_id: str, headers: Mapping[str, str]
) -> None:
    with svc.db.session() as s:
        rule, group_project = find_rule(s, caller, rule_id)
        caller.check(
            "delete_security_group_rule", _rule_target(caller, rule.project_id, group_project)
        )
        check_revision(headers, rule)
        group = s.get(m.SecurityGroup, rule.security_group_id)
        s.delete(rule)
        if group is not None:
            touch(group)
        s.flush()
        svc.changed(s)


# -- what ports and the agent need -------------------------------------------------------


def check_for_port(
    s: Session, caller: Caller, project_id: str, group_ids: Sequence[str]
) -> list[str]:
    """The groups a port of ``project_id`` may use, deduplicated in order: 404
    (SecurityGroupNotFound) for any the port's project cannot use (an admin may use
    any), 409 when stateful and stateless groups are mixed."""
    ids = list(dict.fromkeys(group_ids))
    if not ids:
        return ids
    rows = {r.id: r for r in s.scalars(select(m.SecurityGroup).where(m.SecurityGroup.id.in_(ids)))}
    missing = [
        i for i in ids if i not in rows or not (caller.is_admin or rows[i].project_id == project_id)
    ]
    if missing:
        raise group_not_found(", ".join(missing))
    states = {rows[i].stateful for i in ids}
    if len(states) > 1:
        raise Conflict(
            "Error Cannot apply both stateful and stateless security groups on the same "
            "port at the same time while attempting the operation.",
            kind="SecurityGroupConflict",
        )
    return ids


def specs(s: Session, group_ids: Iterable[str] | None = None) -> list[SecurityGroupSpec]:
    """Every security group (or those named) as the agent needs it: its rules and the
    addresses of its member ports (fixed IPs and allowed address pairs), for the
    remote-group sets of the rules naming it. Four queries whatever the number of ports."""
    stmt = select(m.SecurityGroup.id, m.SecurityGroup.stateful).order_by(m.SecurityGroup.id)
    rule_stmt = select(m.SecurityGroupRule).order_by(
        m.SecurityGroupRule.created_at, m.SecurityGroupRule.id
    )
    fixed_stmt = select(m.PortSecurityGroup.security_group_id, m.IPAllocation.ip_address).join(
        m.IPAllocation, m.IPAllocation.port_id == m.PortSecurityGroup.port_id
    )
    pair_stmt = select(m.PortSecurityGroup.security_group_id, m.Port.allowed_address_pairs).join(
        m.Port, m.Port.id == m.PortSecurityGroup.port_id
    )
    if group_ids is not None:
        wanted = sorted(set(group_ids))
        stmt = stmt.where(m.SecurityGroup.id.in_(wanted))
        rule_stmt = rule_stmt.where(m.SecurityGroupRule.security_group_id.in_(wanted))
        fixed_stmt = fixed_stmt.where(m.PortSecurityGroup.security_group_id.in_(wanted))
        pair_stmt = pair_stmt.where(m.PortSecurityGroup.security_group_id.in_(wanted))
    rules: dict[str, list[RuleSpec]] = {}
    for rule in s.scalars(rule_stmt):
        rules.setdefault(rule.security_group_id, []).append(
            RuleSpec(
                id=rule.id,
                direction=rule.direction,
                ethertype=rule.ethertype,
                protocol=rule.protocol,
                port_range_min=rule.port_range_min,
                port_range_max=rule.port_range_max,
                remote_ip_prefix=normalized_cidr(rule.remote_ip_prefix),
                remote_group_id=rule.remote_group_id,
                remote_address_group_id=rule.remote_address_group_id,
            )
        )
    members: dict[str, set[str]] = {}
    for group_id, ip in s.execute(fixed_stmt):
        members.setdefault(group_id, set()).add(ip)
    for group_id, pairs in s.execute(pair_stmt):
        for pair in pairs or ():
            if pair.get("ip_address"):
                members.setdefault(group_id, set()).add(pair["ip_address"])
    return [
        SecurityGroupSpec(
            id=group_id,
            stateful=stateful,
            rules=tuple(rules.get(group_id, ())),
            member_ips=tuple(sorted(members.get(group_id, ()), key=_address_order)),
        )
        for group_id, stateful in s.execute(stmt)
    ]


def _address_order(value: str) -> tuple[int, int, int]:
    net = ipaddress.ip_network(value, strict=False)
    return (net.version, int(net.network_address), net.prefixlen)
