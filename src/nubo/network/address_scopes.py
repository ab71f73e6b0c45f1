"""Address scopes (/v2.0/address-scopes): a named address space for subnet pools of
one IP version. Pools in one scope have disjoint prefixes; a network's
``ipv4_address_scope`` / ``ipv6_address_scope`` is the scope of its subnets' pools.

Neutron's address scopes are not standard-attribute resources: their views carry no
description, timestamps, revision or tags."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nubo.errors import BadRequest, Conflict
from nubo.network import models as m
from nubo.network import rbac
from nubo.network.access import Caller, not_found, project_for_create
from nubo.network.attributes import NAME, PROJECT, Attr, Invalid, boolean, integer

if TYPE_CHECKING:
    from nubo.network.service import NetworkService

OBJECT_TYPE = "address_scope"


def ip_version(value: Any) -> int:
    """Neutron's ``ip_version``: 4 or 6 (strings of them too)."""
    number = integer()(value)
    if number not in (4, 6):
        raise Invalid(f"{number} is not in [4, 6]")
    return int(number)


ATTRS: dict[str, Attr] = {
    "name": NAME,
    "project_id": PROJECT,
    "tenant_id": PROJECT,
    "shared": Attr(boolean),
    "ip_version": Attr(ip_version, put=False, required=True),
}


def visible(s: Session, caller: Caller) -> Any:
    """What ``caller`` can see (see rbac.visible_shared)."""
    return rbac.visible_shared(s, m.AddressScope, OBJECT_TYPE, caller.project_id, caller.is_admin)


def find(s: Session, caller: Caller, scope_id: str) -> m.AddressScope:
    row = s.scalar(select(m.AddressScope).where(m.AddressScope.id == scope_id, visible(s, caller)))
    if row is None:
        raise not_found("address_scope", scope_id)
    return row


def views(s: Session, caller: Caller, rows: Sequence[m.AddressScope]) -> list[dict[str, Any]]:
    grants = rbac.grants(s, OBJECT_TYPE, [r.id for r in rows])
    return [
        {
            "id": r.id,
            "name": r.name,
            "tenant_id": r.project_id,
            "project_id": r.project_id,
            "shared": bool(r.shared) or rbac.is_shared_with(grants[r.id], caller.project_id),
            "ip_version": r.ip_version,
        }
        for r in rows
    ]


def network_scopes(s: Session, network_ids: Sequence[str]) -> dict[tuple[str, int], str]:
    """(network id, IP version) -> the address scope of the network's subnets of that
    version (through their pools), for every network that has one; one query."""
    scopes: dict[tuple[str, int], str] = {}
    if not network_ids:
        return scopes
    rows = s.execute(
        select(m.Subnet.network_id, m.Subnet.ip_version, m.SubnetPool.address_scope_id)
        .join(m.SubnetPool, m.Subnet.subnetpool_id == m.SubnetPool.id)
        .where(
            m.Subnet.network_id.in_(list(network_ids)),
            m.SubnetPool.address_scope_id.isnot(None),
        )
    )
    for network_id, version, scope_id in rows:
        if scope_id is not None:
            scopes.setdefault((network_id, version), scope_id)
    return scopes


def _write_allowed(caller: Caller, rule: str, row: m.AddressScope) -> None:
    """Neutron hides from a caller who does not own it that a visible (shared) scope
    exists when it refuses an update: 404, and 403 only to its owner."""
    if not caller.allowed(rule, {"project_id": row.project_id, "tenant_id": row.project_id}):
        if row.project_id != caller.project_id:
            raise not_found("address_scope", row.id)
        caller.check(rule, {"project_id": row.project_id})


def list_address_scopes(
    svc: NetworkService, caller: Caller, filters: Mapping[str, list[str]]
) -> list[dict[str, Any]]:
    with svc.db.reader() as s:
        stmt = (
            select(m.AddressScope)
            .where(visible(s, caller))
            .order_by(m.AddressScope.created_at, m.AddressScope.id)
        )
        if "id" in filters:
            stmt = stmt.where(m.AddressScope.id.in_(filters["id"]))
        return views(s, caller, list(s.scalars(stmt)))


def get_address_scope(svc: NetworkService, caller: Caller, scope_id: str) -> dict[str, Any]:
    with svc.db.reader() as s:
        row = find(s, caller, scope_id)
        return views(s, caller, [row])[0]


def create_address_scope(
    svc: NetworkService, caller: Caller, attrs: dict[str, Any]
) -> dict[str, Any]:
    project = project_for_create(caller, attrs)
    # an attribute left at its default is not "set" for policy (Neutron's reading)
    policy_attrs = {k: v for k, v in attrs.items() if not (k == "shared" and v is False)}
    caller.check_attributes("create", "address_scope", policy_attrs, {"project_id": project})
    with svc.db.session() as s:
        row = m.AddressScope(
            project_id=project,
            name=attrs.get("name", ""),
            ip_version=attrs["ip_version"],
            shared=attrs.get("shared", False),
        )
        s.add(row)
        s.flush()
        if row.shared:
            rbac.set_wildcard(s, OBJECT_TYPE, row.id, rbac.SHARED, project, True)
        s.flush()
        return views(s, caller, [row])[0]


def update_address_scope(
    svc: NetworkService, caller: Caller, scope_id: str, attrs: dict[str, Any]
) -> dict[str, Any]:
    with svc.db.session() as s:
        row = find(s, caller, scope_id)
        _write_allowed(caller, "update_address_scope", row)
        caller.check_attributes("update", "address_scope", attrs, {"project_id": row.project_id})
        if "shared" in attrs:
            if row.shared and not attrs["shared"]:
                raise BadRequest(
                    f"Unable to update address scope {row.id} : "
                    "Shared address scope can't be unshared.",
                    kind="AddressScopeUpdateError",
                )
            row.shared = attrs["shared"]
            rbac.set_wildcard(s, OBJECT_TYPE, row.id, rbac.SHARED, row.project_id, row.shared)
        if "name" in attrs:
            row.name = attrs["name"]
        s.flush()
        return views(s, caller, [row])[0]


def delete_address_scope(svc: NetworkService, caller: Caller, scope_id: str) -> None:
    with svc.db.session() as s:
        row = find(s, caller, scope_id)
        caller.check("delete_address_scope", {"project_id": row.project_id})
        in_use = s.scalar(
            select(func.count())
            .select_from(m.SubnetPool)
            .where(m.SubnetPool.address_scope_id == row.id)
        )
        if in_use:
            raise Conflict(
                f"Unable to complete operation on address scope {row.id}. There are one or "
                "more subnet pools in use on the address scope.",
                kind="AddressScopeInUse",
            )
        rbac.drop_all(s, OBJECT_TYPE, row.id)
        s.delete(row)


def for_pool(
    s: Session, caller: Caller, scope_id: str, pool_id: str, version: int
) -> m.AddressScope:
    """The scope a pool asks to join: one the caller can see (else 404, as Neutron)
    and of the pool's IP version."""
    row = find(s, caller, scope_id)
    if row.ip_version != version:
        raise BadRequest(
            f"Illegal subnetpool association: subnetpool {pool_id} cannot associate with "
            f"address scope {scope_id} because subnetpool ip_version is not "
            f"{row.ip_version}.",
            kind="IllegalSubnetPoolIpVersionAssociationToAddressScope",
        )
    return row
