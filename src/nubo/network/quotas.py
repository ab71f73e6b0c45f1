"""Network quotas (``/v2.0/quotas``): defaults in code, per-project overrides in the
database, enforced when a resource is created."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from nubo.errors import BadRequest, Conflict
from nubo.network import models as m
from nubo.network.attributes import Invalid, boolean

if TYPE_CHECKING:
    from nubo.network.access import Caller
    from nubo.network.service import NetworkService

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


# Neutron stores limits in a 32-bit signed column
MAX_LIMIT = 2147483647


def _limit(resource: str, value: Any) -> int:
    """Neutron's converter (``int()`` of the value) then its range check."""
    if isinstance(value, bool) or not isinstance(value, int | str | float):
        raise BadRequest(f"Invalid input for operation: '{value}' is not an integer.")
    try:
        limit = int(value)
    except (TypeError, ValueError, OverflowError):
        raise BadRequest(f"Invalid input for operation: '{value}' is not an integer.") from None
    if limit < -1:
        raise BadRequest(
            f"Invalid input for {resource}. Reason: '{limit}' is too small - must be at least '-1'."
        )
    if limit > MAX_LIMIT:
        raise BadRequest(
            f"Invalid input for {resource}. Reason: '{limit}' is too large - must be no "
            f"larger than '{MAX_LIMIT}'."
        )
    return limit


def update(
    s: Session, project_id: str, changes: Mapping[str, Any], check_limit: bool = False
) -> dict[str, int]:
    """Set limits; with ``check_limit`` none may go below what the project already uses."""
    unknown = sorted(r for r in changes if r not in DEFAULTS)
    if unknown:
        raise BadRequest(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    wanted = {resource: _limit(resource, value) for resource, value in changes.items()}
    if check_limit:
        for resource, limit in wanted.items():
            in_use = used(s, project_id, resource)
            if limit >= 0 and in_use > limit:
                raise BadRequest(
                    f"Quota limit {limit} for {resource} must be greater than or equal to "
                    f"already used {in_use}"
                )
    for resource, limit in wanted.items():
        row = s.get(m.Quota, (project_id, resource))
        if row is None:
            s.add(m.Quota(project_id=project_id, resource=resource, limit=limit))
        else:
            row.limit = limit
    s.flush()
    return limits(s, project_id)


def reset(s: Session, project_id: str) -> None:
    s.execute(delete(m.Quota).where(m.Quota.project_id == project_id))


def all_quotas(s: Session) -> list[dict[str, Any]]:
    """The limits of every project that has a limit of its own (Neutron's quota list)."""
    out: dict[str, dict[str, Any]] = {}
    for row in s.scalars(select(m.Quota).order_by(m.Quota.project_id, m.Quota.resource)):
        if row.resource not in DEFAULTS:
            continue
        entry = out.get(row.project_id)
        if entry is None:
            entry = out[row.project_id] = {
                **DEFAULTS,
                "project_id": row.project_id,
                "tenant_id": row.project_id,
            }
        entry[row.resource] = row.limit
    return list(out.values())


# -- the API's operations ------------------------------------------------------------


def _may_read(caller: Caller, project_id: str) -> None:
    """Anyone reads its own project's quotas; another project's need ``get_quota``."""
    if project_id != caller.project_id:
        caller.check("get_quota", {"project_id": project_id})


def list_quotas(svc: NetworkService, caller: Caller) -> list[dict[str, Any]]:
    caller.check("get_quota", {"project_id": caller.project_id})
    with svc.db.reader() as s:
        return all_quotas(s)


def show_quota(svc: NetworkService, caller: Caller, project_id: str) -> dict[str, int]:
    _may_read(caller, project_id)
    with svc.db.reader() as s:
        return limits(s, project_id)


def default_quota(caller: Caller, project_id: str) -> dict[str, int]:
    _may_read(caller, project_id)
    return dict(DEFAULTS)


def quota_details(
    svc: NetworkService, caller: Caller, project_id: str
) -> dict[str, dict[str, int]]:
    _may_read(caller, project_id)
    with svc.db.reader() as s:
        return details(s, project_id)


def update_quota(svc: NetworkService, caller: Caller, project_id: str, body: Any) -> dict[str, int]:
    """``PUT /v2.0/quotas/{project_id}`` with ``{"quota": {resource: limit, ...}}`` and
    the optional ``force`` / ``check_limit`` flags the clients send."""
    caller.check("update_quota", {"project_id": project_id})
    if not isinstance(body, dict) or "quota" not in body:
        raise BadRequest("Resource body required: expected 'quota'.")
    changes = body["quota"]
    if not isinstance(changes, dict):
        raise BadRequest("Invalid input for quota: a JSON object is required.")
    changes = dict(changes)
    flags: dict[str, bool] = {}
    for flag in ("force", "check_limit"):
        if flag in changes:
            try:
                flags[flag] = boolean(changes.pop(flag))
            except Invalid as exc:
                raise BadRequest(f"Invalid input for {flag}. Reason: {exc}.") from None
    check_limit = flags.get("check_limit", False) and not flags.get("force", False)
    with svc.db.session() as s:
        return update(s, project_id, changes, check_limit=check_limit)


def reset_quota(svc: NetworkService, caller: Caller, project_id: str) -> None:
    caller.check("delete_quota", {"project_id": project_id})
    with svc.db.session() as s:
        reset(s, project_id)
