"""Networks: create (with their segment: flat on the physical network, or a VXLAN id),
list, show, update, delete; who can see them (owner, RBAC sharing, external)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nubo.errors import BadRequest, Conflict
from nubo.network import address_scopes, quotas, rbac, tags
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
    boolean,
    integer,
    list_of,
    nullable,
    one_of,
    string,
)

if TYPE_CHECKING:
    from nubo.network.service import NetworkService

VXLAN_OVERHEAD = 50
NETWORK_TYPES = ("flat", "vxlan", "vlan", "geneve", "gre", "local")
# a port owned by the network itself does not keep it from being deleted
NETWORK_OWNED = ("network:dhcp",)

ATTRS: dict[str, Attr] = {
    "name": NAME,
    "description": DESCRIPTION,
    "project_id": PROJECT,
    "tenant_id": PROJECT,
    "admin_state_up": Attr(boolean),
    "shared": Attr(boolean),
    "router:external": Attr(boolean),
    "mtu": Attr(integer(68)),
    "port_security_enabled": Attr(boolean),
    "provider:network_type": Attr(one_of(*NETWORK_TYPES), put=False),
    "provider:physical_network": Attr(nullable(string(64)), put=False),
    "provider:segmentation_id": Attr(nullable(integer(0)), put=False),
    "availability_zone_hints": Attr(list_of(string(255)), put=False),
    "dns_domain": Attr(string(255)),
    "is_default": Attr(boolean),
    "qos_policy_id": Attr(nullable(string(36))),
    "segments": Attr(list_of(lambda v: v), put=False),
}


def visible(s: Session, caller: Caller) -> Any:
    """A WHERE clause for the networks ``caller`` can see."""
    if caller.is_admin:
        return m.Network.id.isnot(None)
    granted = rbac.granted_ids(s, "network", caller.project_id)
    ids = granted[rbac.SHARED] | granted[rbac.EXTERNAL]
    return or_(m.Network.project_id == caller.project_id, m.Network.id.in_(ids))


def find(s: Session, caller: Caller, network_id: str) -> m.Network:
    row = s.get(m.Network, network_id)
    if row is None or not s.scalar(
        select(func.count())
        .select_from(m.Network)
        .where(m.Network.id == network_id, visible(s, caller))
    ):
        raise not_found("network", network_id)
    return row


def can_use(s: Session, caller: Caller, network: m.Network) -> bool:
    """Whether ``caller`` may put ports or subnets on the network (owner or shared)."""
    if caller.owns(network):
        return True
    return rbac.is_shared_with(
        rbac.grants(s, "network", [network.id])[network.id], caller.project_id
    )


def views(s: Session, caller: Caller, rows: Sequence[m.Network]) -> list[dict[str, Any]]:
    ids = [r.id for r in rows]
    grants = rbac.grants(s, "network", ids)
    subnets: dict[str, list[str]] = {i: [] for i in ids}
    if ids:
        for subnet_id, network_id in s.execute(
            select(m.Subnet.id, m.Subnet.network_id)
            .where(m.Subnet.network_id.in_(ids))
            .order_by(m.Subnet.created_at, m.Subnet.id)
        ):
            subnets[network_id].append(subnet_id)
    tag_map = tags.of_many(s, "networks", ids)
    scopes = address_scopes.network_scopes(s, ids)
    return [
        view(r, caller, grants[r.id], subnets[r.id], tag_map.get(r.id, []), scopes) for r in rows
    ]


def view(
    row: m.Network,
    caller: Caller,
    grant_set: set[tuple[str, str]],
    subnet_ids: list[str],
    tag_list: list[str],
    scopes: Mapping[tuple[str, int], str],
) -> dict[str, Any]:
    body = standard(row, tag_list)
    body.update(
        {
            "status": row.status,
            "admin_state_up": row.admin_state_up,
            "shared": rbac.is_shared_with(grant_set, caller.project_id),
            "router:external": row.external,
            "mtu": row.mtu,
            "port_security_enabled": row.port_security_enabled,
            "subnets": subnet_ids,
            "availability_zone_hints": list(row.availability_zone_hints or []),
            "availability_zones": ["nova"],
            "ipv4_address_scope": scopes.get((row.id, 4)),
            "ipv6_address_scope": scopes.get((row.id, 6)),
            "l2_adjacency": True,
            "dns_domain": row.dns_domain,
            "qos_policy_id": None,
        }
    )
    if row.external:
        body["is_default"] = row.is_default
    if caller.is_admin:
        body["provider:network_type"] = row.network_type
        body["provider:physical_network"] = row.physical_network
        body["provider:segmentation_id"] = row.segmentation_id
    return body


def list_networks(
    svc: NetworkService, caller: Caller, filters: Mapping[str, list[str]]
) -> list[dict[str, Any]]:
    with svc.db.reader() as s:
        stmt = (
            select(m.Network).where(visible(s, caller)).order_by(m.Network.created_at, m.Network.id)
        )
        if "id" in filters:
            stmt = stmt.where(m.Network.id.in_(filters["id"]))
        return views(s, caller, list(s.scalars(stmt)))


def get_network(svc: NetworkService, caller: Caller, network_id: str) -> dict[str, Any]:
    with svc.db.reader() as s:
        row = find(s, caller, network_id)
        caller.check("get_network", {"project_id": row.project_id})
        return views(s, caller, [row])[0]


def _segment(
    svc: NetworkService, s: Session, caller: Caller, attrs: Mapping[str, Any]
) -> tuple[str, str | None, int | None]:
    """Choose and reserve the network's segment: (type, physical network, id)."""
    net_type = attrs.get("provider:network_type")
    physnet = attrs.get("provider:physical_network")
    seg_id = attrs.get("provider:segmentation_id")
    if net_type is None:
        if physnet is not None or seg_id is not None:
            raise BadRequest("provider:network_type required")
        net_type = "vxlan"
    if net_type == "vlan":
        raise BadRequest(
            "Network type vlan is not supported on this host: it has no 802.1q support. "
            "Use flat or vxlan."
        )
    if net_type not in ("flat", "vxlan"):
        raise BadRequest(f"Network type {net_type} is not supported; use flat or vxlan.")
    if net_type == "flat":
        if seg_id is not None:
            raise BadRequest("segmentation_id cannot be specified for a flat network")
        physnet = physnet or svc.config.network.physical_network
        if physnet != svc.config.network.physical_network:
            raise BadRequest(
                f"Invalid input for operation: physical_network '{physnet}' unknown "
                "for flat provider network."
            )
        key = ("flat", physnet, 0)
        if s.get(m.Segment, key) is not None:
            raise Conflict(
                f"Unable to create the flat network. Physical network {physnet} is in use.",
                kind="FlatNetworkInUse",
            )
        return "flat", physnet, None
    if physnet is not None:
        raise BadRequest("provider:physical_network specified for vxlan network")
    if seg_id is not None:
        if not 1 <= seg_id <= 16777215:
            raise BadRequest(
                f"Invalid input for operation: {seg_id} is not a valid VXLAN VNI, "
                "valid range is 1 to 16777215."
            )
        if s.get(m.Segment, ("vxlan", "", seg_id)) is not None:
            raise Conflict(
                f"Unable to create the network. The VXLAN id {seg_id} is in use.",
                kind="TunnelIdInUse",
            )
        return "vxlan", None, seg_id
    low, high = svc.vni_range()
    taken = set(
        s.scalars(
            select(m.Segment.segmentation_id).where(
                m.Segment.network_type == "vxlan",
                m.Segment.segmentation_id.between(low, high),
            )
        )
    )
    for candidate in range(low, high + 1):
        if candidate not in taken:
            return "vxlan", None, candidate
    raise Conflict(
        "Unable to create the network. No tenant network is available for allocation.",
        kind="NoNetworkAvailable",
    )


def create_network(svc: NetworkService, caller: Caller, attrs: dict[str, Any]) -> dict[str, Any]:
    project = project_for_create(caller, attrs)
    caller.check_attributes("create", "network", attrs, {"project_id": project})
    with svc.db.session() as s:
        row = _create(svc, s, caller, attrs, project)
        return views(s, caller, [row])[0]


def create_networks(
    svc: NetworkService, caller: Caller, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A bulk create: all of them or none."""
    projects = [project_for_create(caller, attrs) for attrs in items]
    for attrs, project in zip(items, projects, strict=True):
        caller.check_attributes("create", "network", attrs, {"project_id": project})
    with svc.db.session() as s:
        rows = [_create(svc, s, caller, a, p) for a, p in zip(items, projects, strict=True)]
        return views(s, caller, rows)


def _create(
    svc: NetworkService, s: Session, caller: Caller, attrs: dict[str, Any], project: str
) -> m.Network:
    quotas.check(s, project, "network")
    if "segments" in attrs:
        raise BadRequest("Multi-segment networks are not supported.")
    net_type, physnet, seg_id = _segment(svc, s, caller, attrs)
    physical_mtu = svc.config.network.physical_mtu
    max_mtu = physical_mtu - VXLAN_OVERHEAD if net_type == "vxlan" else physical_mtu
    mtu = attrs.get("mtu", max_mtu)
    if mtu > max_mtu:
        raise BadRequest(f"Requested MTU is too big, maximum is {max_mtu}", kind="InvalidInput")
    row = m.Network(
        project_id=project,
        name=attrs.get("name", ""),
        description=attrs.get("description", ""),
        admin_state_up=attrs.get("admin_state_up", True),
        mtu=mtu,
        port_security_enabled=attrs.get("port_security_enabled", True),
        network_type=net_type,
        physical_network=physnet,
        segmentation_id=seg_id,
        external=attrs.get("router:external", False),
        is_default=attrs.get("is_default", False),
        dns_domain=attrs.get("dns_domain", ""),
        availability_zone_hints=attrs.get("availability_zone_hints", []),
    )
    s.add(row)
    s.flush()
    s.add(
        m.Segment(
            network_type=net_type,
            physical_network=physnet or "",
            segmentation_id=seg_id or 0,
            network_id=row.id,
        )
    )
    try:
        s.flush()
    except IntegrityError:
        raise Conflict("The network segment was taken by another request; try again.") from None
    if attrs.get("shared"):
        rbac.set_wildcard(s, "network", row.id, rbac.SHARED, project, True)
    if row.external:
        rbac.set_wildcard(s, "network", row.id, rbac.EXTERNAL, project, True)
    svc.changed(s)
    return row


def update_network(
    svc: NetworkService,
    caller: Caller,
    network_id: str,
    attrs: dict[str, Any],
    headers: Mapping[str, str],
) -> dict[str, Any]:
    with svc.db.session() as s:
        row = find(s, caller, network_id)
        caller.check_attributes("update", "network", attrs, {"project_id": row.project_id})
        check_revision(headers, row)
        if "mtu" in attrs:
            max_mtu = svc.config.network.physical_mtu - (
                VXLAN_OVERHEAD if row.network_type == "vxlan" else 0
            )
            if attrs["mtu"] > max_mtu:
                raise BadRequest(
                    f"Requested MTU is too big, maximum is {max_mtu}", kind="InvalidInput"
                )
            row.mtu = attrs["mtu"]
        for field in (
            "name",
            "description",
            "admin_state_up",
            "port_security_enabled",
            "dns_domain",
            "is_default",
        ):
            if field in attrs:
                setattr(row, field, attrs[field])
        if "shared" in attrs:
            if not attrs["shared"]:
                _check_unshare(s, row)
            rbac.set_wildcard(s, "network", row.id, rbac.SHARED, row.project_id, attrs["shared"])
        if "router:external" in attrs and attrs["router:external"] != row.external:
            if not attrs["router:external"]:
                in_use = s.scalar(
                    select(func.count())
                    .select_from(m.Port)
                    .where(
                        m.Port.network_id == row.id,
                        m.Port.device_owner.in_(("network:router_gateway", "network:floatingip")),
                    )
                )
                if in_use:
                    raise Conflict(
                        f"External network {row.id} cannot be updated to be non-external: "
                        "it has gateway or floating IP ports.",
                        kind="ExternalNetworkInUse",
                    )
            row.external = attrs["router:external"]
            if row.external:
                rbac.set_wildcard(s, "network", row.id, rbac.EXTERNAL, row.project_id, True)
            else:
                # no longer external for anyone: per-project grants go with the wildcard
                _drop_external_grants(s, row)
        touch(row)
        svc.changed(s)
        s.flush()
        return views(s, caller, [row])[0]


def _check_unshare(s: Session, row: m.Network) -> None:
    """Unsharing is refused while projects that only the ``*`` grant lets in still have
    ports or subnets on the network; projects with a grant of their own keep access."""
    allowed = {
        target
        for action, target in rbac.grants(s, "network", [row.id])[row.id]
        if action == rbac.SHARED and target != rbac.WILDCARD
    }
    # the owner, and nobody: router gateway and floating IP ports belong to no project
    allowed |= {row.project_id, ""}
    others = s.scalar(
        select(func.count())
        .select_from(m.Port)
        .where(
            m.Port.network_id == row.id,
            m.Port.project_id.notin_(allowed),
            m.Port.device_owner.notin_(NETWORK_OWNED),
        )
    ) or s.scalar(
        select(func.count())
        .select_from(m.Subnet)
        .where(m.Subnet.network_id == row.id, m.Subnet.project_id.notin_(allowed))
    )
    if others:
        raise Conflict(
            f"Unable to reconfigure sharing settings for network {row.id}. "
            "Multiple tenants are using it.",
            kind="InvalidSharedSetting",
        )


def _drop_external_grants(s: Session, row: m.Network) -> None:
    s.execute(
        delete(m.RbacPolicy).where(
            m.RbacPolicy.object_type == "network",
            m.RbacPolicy.object_id == row.id,
            m.RbacPolicy.action == rbac.EXTERNAL,
        )
    )
    row.is_default = False


def delete_network(
    svc: NetworkService, caller: Caller, network_id: str, headers: Mapping[str, str]
) -> None:
    with svc.db.session() as s:
        row = find(s, caller, network_id)
        caller.check("delete_network", {"project_id": row.project_id})
        check_revision(headers, row)
        from nubo.network.floating_ips import delete_disassociated  # imports this module

        delete_disassociated(svc, s, row.id)
        in_use = s.scalar(
            select(func.count())
            .select_from(m.Port)
            .where(m.Port.network_id == row.id, m.Port.device_owner.notin_(NETWORK_OWNED))
        )
        if in_use:
            raise Conflict(
                f"Unable to complete operation on network {row.id}. "
                "There are one or more ports still in use on the network.",
                kind="NetworkInUse",
            )
        remove(svc, s, row)


def remove(svc: NetworkService, s: Session, row: m.Network) -> None:
    """Delete a network with its subnets, DHCP ports, segment, RBAC rows and tags."""
    port_ids = list(s.scalars(select(m.Port.id).where(m.Port.network_id == row.id)))
    subnet_ids = list(s.scalars(select(m.Subnet.id).where(m.Subnet.network_id == row.id)))
    s.execute(delete(m.IPAllocation).where(m.IPAllocation.network_id == row.id))
    if port_ids:
        s.execute(delete(m.PortSecurityGroup).where(m.PortSecurityGroup.port_id.in_(port_ids)))
        s.execute(delete(m.Port).where(m.Port.id.in_(port_ids)))
        tags.drop_many(s, "ports", port_ids)
    if subnet_ids:
        s.execute(delete(m.Subnet).where(m.Subnet.id.in_(subnet_ids)))
        tags.drop_many(s, "subnets", subnet_ids)
    s.execute(delete(m.Segment).where(m.Segment.network_id == row.id))
    rbac.drop_all(s, "network", row.id)
    tags.drop_many(s, "networks", [row.id])
    s.delete(row)
    svc.changed(s)
