"""Network quotas (``/v2.0/quotas``): defaults in code, per-project overrides in the
database, enforced when a resource is created."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from nubo.errors import BadRequest, Conflict
from nubo.network import models as m

# Neutron's defaults; -1 is unlimited
DEFAULTS: dict[str, int] = {
    "network": 100,
    "subnet": 100,
    "port": 500,
    "router": 10,
    "floatingip": 50,
    "security_group": 10,
    "security_group_rule": 100,
    "subnetpool": -1,
    "rbac_policy": 10,
}

MODELS: dict[str, Any] = {
    "network": m.Network,
    "subnet": m.Subnet,
    "port": m.Port,
    "router": m.Router,
    "floatingip": m.FloatingIp,
    "security_group": m.SecurityGroup,
    "security_group_rule": m.SecurityGroupRule,
    "subnetpool": m.SubnetPool,
    "rbac_policy": m.RbacPolicy,
}


def limits(s: Session, project_id: str) -> dict[str, int]:
    """A project's effective limits."""
    result = dict(DEFAULTS)
    for row in s.scalars(select(m.Quota).where(m.Quota.project_id == project_id)):
        if row.resource in result:
            result[row.resource] = row.limit
    return result


def used(s: Session, project_id: str, resource: str) -> int:
    model = MODELS[resource]
    count = s.scalar(select(func.count()).select_from(model).where(model.project_id == project_id))
    return int(count or 0)


def check(s: Session, project_id: str, resource: str, adding: int = 1) -> None:
    """Refuse a create that would take the project past its limit (409 OverQuota)."""
    limit = limits(s, project_id)[resource]
    if limit < 0:
        return
    if used(s, project_id, resource) + adding > limit:
        raise Conflict(f"Quota exceeded for resources: ['{resource}'].", kind="OverQuota")


def details(s: Session, project_id: str) -> dict[str, dict[str, int]]:
    lim = limits(s, project_id)
    return {r: {"limit": lim[r], "used": used(s, project_id, r), "reserved": 0} for r in DEFAULTS}


def update(s: Session, project_id: str, changes: Mapping[str, Any]) -> dict[str, int]:
    for resource, value in changes.items():
        if resource not in DEFAULTS:
            raise BadRequest(f"Unrecognized attribute(s) '{resource}'")
        try:
            limit = int(value)
        except (TypeError, ValueError):
            raise BadRequest(
                f"Invalid input for {resource}. Reason: '{value}' is not an integer."
            ) from None
        if limit < -1:
            raise BadRequest(f"Invalid input for {resource}. Reason: '{limit}' should be >= -1.")
        row = s.get(m.Quota, (project_id, resource))
        if row is None:
            s.add(m.Quota(project_id=project_id, resource=resource, limit=limit))
        else:
            row.limit = limit
    s.flush()
    return limits(s, project_id)


def reset(s: Session, project_id: str) -> None:
    s.execute(delete(m.Quota).where(m.Quota.project_id == project_id))


def projects_with_quotas(s: Session) -> list[str]:
    return sorted(set(s.scalars(select(m.Quota.project_id))))
