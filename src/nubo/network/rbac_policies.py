"""RBAC policies (``/v2.0/rbac-policies``): a network's owner grants another project
(or every project, ``*``) access to it, as shared (ports and subnets on it) or as
external (router gateways and floating IPs on it).

A policy is seen and managed by the project that created it (the target project does
not see it, as in Neutron). A policy cannot be removed or re-targeted while the
project losing access still has something on the network that depends on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nubo.errors import BadRequest, Conflict, NotFound
from nubo.network import models as m
from nubo.network import networks, quotas, rbac
from nubo.network.access import Caller, project_for_create, touch
from nubo.network.attributes import PROJECT, Attr, Invalid, one_of, string, uuid_str

if TYPE_CHECKING:
    from nubo.network.service import NetworkService

# object type -> the actions it supports; only networks can be shared here (subnet
# pools and address scopes carry their own ``shared`` flag)
OBJECT_TYPES: dict[str, tuple[str, ...]] = {"network": (rbac.SHARED, rbac.EXTERNAL)}
# what Neutron knows, so that clients asking for them get Neutron's answer
NEUTRON_OBJECT_TYPES = (
    "address_group",
    "address_scope",
    "bgpvpn",
    "network",
    "qos_policy",
    "security_group",
    "subnetpool",
)


def _object_type(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid(f"'{value}' is not a valid RBAC object type")
    normalized = value.strip().lower()
    if normalized in NEUTRON_OBJECT_TYPES and normalized not in OBJECT_TYPES:
        raise Invalid(
            f"RBAC policies on {normalized} objects are not supported; "
            f"supported object types: {sorted(OBJECT_TYPES)}"
        )
    if normalized not in OBJECT_TYPES:
        raise Invalid(f"'{value}' is not a valid RBAC object type")
    return normalized


ATTRS: dict[str, Attr] = {
    "object_type": Attr(_object_type, put=False, required=True),
    "object_id": Attr(uuid_str, put=False, required=True),
    "action": Attr(one_of(rbac.SHARED, rbac.EXTERNAL), put=False, required=True),
    "target_tenant": Attr(string(255), required=True),
    "project_id": PROJECT,
    "tenant_id": PROJECT,
}


def view(row: m.RbacPolicy) -> dict[str, Any]:
    return {
        "id": row.id,
        "project_id": row.project_id,
        "tenant_id": row.project_id,
        "object_type": row.object_type,
        "object_id": row.object_id,
        "action": row.action,
        "target_tenant": row.target_tenant,
    }


def _not_found(policy_id: str) -> NotFound:
    # Neutron names no type for a policy the caller cannot see
    return NotFound(
        f"RBAC policy of type unknown with ID {policy_id} not found", kind="RbacPolicyNotFound"
    )


def visible(caller: Caller) -> Any:
    """A WHERE clause for the policies ``caller`` sees: its own (all for an admin)."""
    if caller.is_admin:
        return m.RbacPolicy.id.isnot(None)
    return m.RbacPolicy.project_id == caller.project_id


def find(s: Session, caller: Caller, policy_id: str) -> m.RbacPolicy:
    row = s.get(m.RbacPolicy, policy_id)
    if row is None or not (caller.is_admin or row.project_id == caller.project_id):
        raise _not_found(policy_id)
    if not caller.allowed("get_rbac_policy", {"project_id": row.project_id}):
        raise _not_found(policy_id)
    return row


def list_policies(
    svc: NetworkService, caller: Caller, filters: Mapping[str, list[str]]
) -> list[dict[str, Any]]:
    with svc.db.reader() as s:
        stmt = (
            select(m.RbacPolicy)
            .where(visible(caller))
            .order_by(m.RbacPolicy.object_id, m.RbacPolicy.id)
        )
        for key, column in (
            ("id", m.RbacPolicy.id),
            ("object_id", m.RbacPolicy.object_id),
            ("object_type", m.RbacPolicy.object_type),
        ):
            if key in filters:
                stmt = stmt.where(column.in_(filters[key]))
        return [view(r) for r in s.scalars(stmt)]


def get_policy(svc: NetworkService, caller: Caller, policy_id: str) -> dict[str, Any]:
    with svc.db.reader() as s:
        return view(find(s, caller, policy_id))


def _network_for(s: Session, caller: Caller, network_id: str) -> m.Network:
    """The network a policy is about: 404 if the caller cannot see it, 400 if it can
    (shared with it) but does not own it, as Neutron answers."""
    network = networks.find(s, caller, network_id)
    if not caller.is_admin and network.project_id != caller.project_id:
        raise BadRequest(
            "Invalid input for operation: Only admins can manipulate policies on networks "
            "they do not own.",
            kind="InvalidInput",
        )
    return network


def _duplicate() -> Conflict:
    return Conflict("An RBAC policy already exists with those values.", kind="DuplicateRbacPolicy")


def _exists(s: Session, object_type: str, object_id: str, action: str, target: str) -> bool:
    return bool(
        s.scalar(
            select(func.count())
            .select_from(m.RbacPolicy)
            .where(
                m.RbacPolicy.object_type == object_type,
                m.RbacPolicy.object_id == object_id,
                m.RbacPolicy.action == action,
                m.RbacPolicy.target_tenant == target,
            )
        )
    )


def create_policy(svc: NetworkService, caller: Caller, attrs: dict[str, Any]) -> dict[str, Any]:
    project = project_for_create(caller, attrs)
    target = attrs["target_tenant"]
    caller.check_attributes(
        "create", "rbac_policy", attrs, {"project_id": project, "target_tenant": target}
    )
    object_type, action = attrs["object_type"], attrs["action"]
    if action not in OBJECT_TYPES[object_type]:
        raise BadRequest(
            f"Invalid action '{action}' for object type '{object_type}'. "
            f"Valid actions: {list(OBJECT_TYPES[object_type])}",
            kind="InvalidActionForType",
        )
    with svc.db.session() as s:
        network = _network_for(s, caller, attrs["object_id"])
        if _exists(s, object_type, network.id, action, target):
            raise _duplicate()
        quotas.check(s, project, "rbac_policy")
        row = m.RbacPolicy(
            project_id=project,
            object_type=object_type,
            object_id=network.id,
            action=action,
            target_tenant=target,
        )
        s.add(row)
        try:
            s.flush()
        except IntegrityError:
            raise _duplicate() from None
        if action == rbac.EXTERNAL and not network.external:
            # access as external makes the network external, for the targets only
            network.external = True
            svc.changed(s)
        touch(network)
        return view(row)


def update_policy(
    svc: NetworkService, caller: Caller, policy_id: str, attrs: dict[str, Any]
) -> dict[str, Any]:
    with svc.db.session() as s:
        row = find(s, caller, policy_id)
        target = attrs.get("target_tenant", row.target_tenant)
        caller.check_attributes(
            "update", "rbac_policy", attrs, {"project_id": row.project_id, "target_tenant": target}
        )
        if target == row.target_tenant:
            return view(row)
        network = _network_for(s, caller, row.object_id)
        if _exists(s, row.object_type, row.object_id, row.action, target):
            raise _duplicate()
        _check_access_loss(s, network, row, new_target=target)
        row.target_tenant = target
        try:
            s.flush()
        except IntegrityError:
            raise _duplicate() from None
        touch(network)
        return view(row)


def delete_policy(svc: NetworkService, caller: Caller, policy_id: str) -> None:
    with svc.db.session() as s:
        row = find(s, caller, policy_id)
        caller.check("delete_rbac_policy", {"project_id": row.project_id})
        network = s.get(m.Network, row.object_id)
        if network is None:  # its network went away under it: nothing depends on it
            s.delete(row)
            return
        _check_access_loss(s, network, row, new_target=None)
        last_external = row.action == rbac.EXTERNAL and not _others(s, row)
        if last_external and _external_users(s, network, exempt=set()):
            raise _in_use(row, "The network has router gateways or floating IPs.")
        s.delete(row)
        if last_external and network.external:
            # no project may use it as external any more: it is internal again
            network.external = False
            network.is_default = False
            svc.changed(s)
        touch(network)


# -- what depends on a policy ---------------------------------------------------------


def _in_use(row: m.RbacPolicy, details: str) -> Conflict:
    return Conflict(
        f"RBAC policy on object {row.object_id} cannot be removed because other objects "
        f"depend on it.\nDetails: {details}",
        kind="RbacPolicyInUse",
    )


def _others(s: Session, row: m.RbacPolicy) -> set[str]:
    """The targets of the other policies granting the same access to the same object."""
    return set(
        s.scalars(
            select(m.RbacPolicy.target_tenant).where(
                m.RbacPolicy.object_type == row.object_type,
                m.RbacPolicy.object_id == row.object_id,
                m.RbacPolicy.action == row.action,
                m.RbacPolicy.id != row.id,
            )
        )
    )


def _used_by(s: Session, uses: Sequence[tuple[Any, Any]], outside: set[str]) -> bool:
    """Whether any row of the ``(model, condition)`` pairs belongs to a project not in
    ``outside``."""
    for model, where in uses:
        count = s.scalar(
            select(func.count()).select_from(model).where(where, model.project_id.notin_(outside))
        )
        if count:
            return True
    return False


def _used_by_project(s: Session, uses: Sequence[tuple[Any, Any]], project: str) -> bool:
    for model, where in uses:
        count = s.scalar(
            select(func.count()).select_from(model).where(where, model.project_id == project)
        )
        if count:
            return True
    return False


def _shared_uses(network: m.Network) -> list[tuple[Any, Any]]:
    """What a project puts on a network shared with it: ports and subnets."""
    return [
        (m.Port, m.Port.network_id == network.id),
        (m.Subnet, m.Subnet.network_id == network.id),
    ]


def _external_uses(network: m.Network) -> list[tuple[Any, Any]]:
    """What a project puts on an external network: router gateways, floating IPs."""
    return [
        (m.Router, m.Router.gw_network_id == network.id),
        (m.FloatingIp, m.FloatingIp.floating_network_id == network.id),
    ]


def _external_users(s: Session, network: m.Network, exempt: set[str]) -> bool:
    return _used_by(s, _external_uses(network), exempt)


def _check_access_loss(
    s: Session, network: m.Network, row: m.RbacPolicy, new_target: str | None
) -> None:
    """Refuse (409 RbacPolicyInUse) to take access away from a project that still has
    resources depending on it; ``new_target`` is where an update moves the policy."""
    old = row.target_tenant
    if old == network.project_id:
        return  # a project sharing with itself loses nothing
    remaining = _others(s, row)
    if new_target is not None:
        remaining.add(new_target)
    if rbac.WILDCARD in remaining or old in remaining:
        return
    shared = row.action == rbac.SHARED
    uses = _shared_uses(network) if shared else _external_uses(network)
    if old == rbac.WILDCARD:
        if not shared and network.is_default:
            raise _in_use(row, "Default external networks must be shared to everyone.")
        # gateway and floating IP ports belong to no project ("")
        in_use = _used_by(s, uses, remaining | {network.project_id, ""})
    else:
        in_use = _used_by_project(s, uses, old)
    if not in_use:
        return
    if shared:
        raise _in_use(row, f"Ports or subnets on network {network.id} depend on this policy.")
    raise _in_use(
        row, "There are routers attached to this network that depend on this policy for access."
    )
