"""Compute quotas (``/os-quota-sets``, ``/os-quota-class-sets``, ``/limits``) as Nova's
database quota driver keeps them.

A limit comes from, in order: the user's own row (``?user_id=``), the project's row,
the ``default`` quota class, Nova's built-in default. -1 is unlimited. Usage is
counted from the rows themselves (servers not deleted, with the vCPUs and RAM of the
flavor they run; keypairs per user; server groups), so there is nothing to reserve
or leak.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from nubo.compute import models as m
from nubo.compute.access import Caller
from nubo.compute.validation import MAX_INT, to_bool
from nubo.errors import BadRequest, Forbidden

if TYPE_CHECKING:
    from nubo.compute.service import ComputeService

# Nova's defaults; the nova-network ones are kept (unlimited) only for old microversions
DEFAULTS: dict[str, int] = {
    "instances": 10,
    "cores": 20,
    "ram": 51200,
    "metadata_items": 128,
    "injected_files": 5,
    "injected_file_content_bytes": 10240,
    "injected_file_path_bytes": 255,
    "key_pairs": 100,
    "server_groups": 10,
    "server_group_members": 10,
    "fixed_ips": -1,
    "floating_ips": -1,
    "security_groups": -1,
    "security_group_rules": -1,
}
NETWORK = frozenset({"fixed_ips", "floating_ips", "security_groups", "security_group_rules"})
INJECTED = frozenset({"injected_files", "injected_file_content_bytes", "injected_file_path_bytes"})
GROUPS = frozenset({"server_groups", "server_group_members"})
DEFAULT_CLASS = "default"

# what /limits calls each limit
ABSOLUTE: dict[str, tuple[str, ...]] = {
    "ram": ("maxTotalRAMSize",),
    "instances": ("maxTotalInstances",),
    "cores": ("maxTotalCores",),
    "key_pairs": ("maxTotalKeypairs",),
    "floating_ips": ("maxTotalFloatingIps",),
    "metadata_items": ("maxServerMeta", "maxImageMeta"),
    "injected_files": ("maxPersonality",),
    "injected_file_content_bytes": ("maxPersonalitySize",),
    "security_groups": ("maxSecurityGroups",),
    "security_group_rules": ("maxSecurityGroupRules",),
    "server_groups": ("maxServerGroups",),
    "server_group_members": ("maxServerGroupMembers",),
}
USED: dict[str, str] = {
    "totalRAMUsed": "ram",
    "totalCoresUsed": "cores",
    "totalInstancesUsed": "instances",
    "totalFloatingIpsUsed": "floating_ips",
    "totalSecurityGroupsUsed": "security_groups",
    "totalServerGroupsUsed": "server_groups",
}
# resources whose usage Nova reports as 0 (they are checked per user or per group)
NOT_REPORTED = frozenset({"key_pairs", "server_group_members"})
INSTANCE_RESOURCES = ("instances", "cores", "ram")


# -- limits ----------------------------------------------------------------------------


def class_limits(s: Session, class_name: str = DEFAULT_CLASS) -> dict[str, int]:
    """Nova's defaults overridden by the ``default`` class, then by ``class_name``'s."""
    limits = dict(DEFAULTS)
    names = [DEFAULT_CLASS] if class_name == DEFAULT_CLASS else [DEFAULT_CLASS, class_name]
    for name in names:
        for row in s.scalars(select(m.QuotaClass).where(m.QuotaClass.class_name == name)):
            if row.resource in limits:
                limits[row.resource] = row.hard_limit
    return limits


def _rows(s: Session, project_id: str, user_id: str = "") -> dict[str, int]:
    rows = s.scalars(
        select(m.Quota).where(m.Quota.project_id == project_id, m.Quota.user_id == user_id)
    )
    return {r.resource: r.hard_limit for r in rows if r.resource in DEFAULTS}


def project_limits(s: Session, project_id: str) -> dict[str, int]:
    return {**class_limits(s), **_rows(s, project_id)}


def user_limits(s: Session, project_id: str, user_id: str) -> dict[str, int]:
    """A user's limits: their own rows over the project's limits."""
    return {**project_limits(s, project_id), **_rows(s, project_id, user_id)}


def limits_for(s: Session, project_id: str, user_id: str | None = None) -> dict[str, int]:
    return user_limits(s, project_id, user_id) if user_id else project_limits(s, project_id)


# -- usage -----------------------------------------------------------------------------------


def _instance_usage(s: Session, project_id: str, user_id: str | None) -> dict[str, int]:
    stmt = select(m.Server.flavor).where(
        m.Server.project_id == project_id, m.Server.deleted_at.is_(None)
    )
    if user_id:
        stmt = stmt.where(m.Server.user_id == user_id)
    used = {"instances": 0, "cores": 0, "ram": 0}
    for flavor in s.scalars(stmt):
        used["instances"] += 1
        used["cores"] += int((flavor or {}).get("vcpus", 0))
        used["ram"] += int((flavor or {}).get("memory_mb", 0))
    return used


def _group_count(s: Session, project_id: str, user_id: str | None) -> int:
    stmt = (
        select(func.count())
        .select_from(m.ServerGroup)
        .where(m.ServerGroup.project_id == project_id)
    )
    if user_id:
        stmt = stmt.where(m.ServerGroup.user_id == user_id)
    return int(s.scalar(stmt) or 0)


def keypair_count(s: Session, user_id: str) -> int:
    stmt = select(func.count()).select_from(m.KeyPair).where(m.KeyPair.user_id == user_id)
    return int(s.scalar(stmt) or 0)


def usage(s: Session, project_id: str, user_id: str | None = None) -> dict[str, int]:
    """What the project (or one user in it) uses, as Nova reports it: keypairs and
    group members always 0 (they are limited per user and per group)."""
    used = dict.fromkeys(DEFAULTS, 0)
    used.update(_instance_usage(s, project_id, user_id))
    used["server_groups"] = _group_count(s, project_id, user_id)
    return used


def group_member_count(s: Session, group_id: str) -> int:
    """Members of a server group that are servers not deleted."""
    stmt = (
        select(func.count())
        .select_from(m.ServerGroupMember)
        .join(m.Server, m.Server.id == m.ServerGroupMember.server_id)
        .where(m.ServerGroupMember.group_id == group_id, m.Server.deleted_at.is_(None))
    )
    return int(s.scalar(stmt) or 0)


# -- enforcement -----------------------------------------------------------------------------


def _over_message(overs: list[tuple[str, int, int, int]]) -> str:
    names = [o[0] for o in overs]
    if names == ["key_pairs"]:
        return "Quota exceeded, too many key pairs."
    if names == ["server_groups"]:
        return "Quota exceeded, too many server groups."
    if names == ["server_group_members"]:
        return "Quota exceeded, too many servers in group"
    joined = ", ".join(names)
    requested = ", ".join(str(o[1]) for o in overs)
    used = ", ".join(str(o[2]) for o in overs)
    allowed = ", ".join(str(o[3]) for o in overs)
    return (
        f"Quota exceeded for {joined}: Requested {requested}, but already used {used} of "
        f"{allowed} {joined}"
    )


def check_quota(
    svc: ComputeService,
    s: Session,
    project_id: str,
    user_id: str | None,
    deltas: Mapping[str, int],
    *,
    group_id: str | None = None,
) -> None:
    """Raise Forbidden (Nova's message, e.g. "Quota exceeded for instances: Requested 1,
    but already used 10 of 10 instances") when adding ``deltas`` would take the project,
    or the user where the user has limits of their own, past a limit.

    Counted: instances, cores, ram (servers not deleted), server_groups, key_pairs (the
    user's) and server_group_members (of ``group_id``). A delta of 0 re-checks after
    the rows were written (usage must not exceed the limit)."""
    wanted = {k: v for k, v in deltas.items() if k in DEFAULTS}
    if not wanted:
        return
    project = project_limits(s, project_id)
    own = _rows(s, project_id, user_id) if user_id else {}
    users = {**project, **own}
    project_used = usage(s, project_id)
    user_used = usage(s, project_id, user_id) if user_id and own else {}
    overs: list[tuple[str, int, int, int]] = []
    for resource in sorted(wanted):
        delta = wanted[resource]
        if delta < 0:
            continue
        # (limit, used) pairs this resource is held to
        checks: list[tuple[int, int]] = []
        if resource == "key_pairs":
            if user_id:
                checks.append((users[resource], keypair_count(s, user_id)))
        elif resource == "server_group_members":
            if group_id:
                limit = users[resource] if user_id else project[resource]
                checks.append((limit, group_member_count(s, group_id)))
        elif resource in (*INSTANCE_RESOURCES, "server_groups"):
            checks.append((project[resource], project_used[resource]))
            if resource in own:
                checks.append((own[resource], user_used[resource]))
        for limit, used in checks:
            if 0 <= limit < used + delta:
                overs.append((resource, delta, used, limit))
                break
    if overs:
        raise Forbidden(_over_message(overs))


def limit_of(s: Session, project_id: str, user_id: str | None, resource: str) -> int:
    """One effective limit (-1 unlimited), e.g. ``metadata_items`` for server create."""
    return limits_for(s, project_id, user_id)[resource]


# -- the API's operations -------------------------------------------------------------------


def _verify_project(s: Session, project_id: str) -> None:
    """Nova asks Keystone whether the project exists; 400 when it does not."""
    from nubo.identity.models import Project

    if s.get(Project, project_id) is None:
        raise BadRequest(f"Project ID {project_id} is not a valid project.")


def show_quota_set(
    svc: ComputeService, caller: Caller, project_id: str, user_id: str | None
) -> dict[str, int]:
    caller.check("os-quota-sets:show", {"project_id": project_id})
    with svc.db.reader() as s:
        _verify_project(s, project_id)
        return limits_for(s, project_id, user_id)


def quota_set_detail(
    svc: ComputeService, caller: Caller, project_id: str, user_id: str | None
) -> dict[str, dict[str, int]]:
    """Limits with ``in_use`` and ``reserved`` (always 0: nothing is reserved)."""
    caller.check("os-quota-sets:detail", {"project_id": project_id})
    with svc.db.reader() as s:
        _verify_project(s, project_id)
        limits = limits_for(s, project_id, user_id)
        used = usage(s, project_id, user_id)
    return {r: {"limit": limits[r], "in_use": used[r], "reserved": 0} for r in limits}


def default_quota_set(svc: ComputeService, caller: Caller, project_id: str) -> dict[str, int]:
    caller.check("os-quota-sets:defaults", {"project_id": project_id})
    with svc.db.reader() as s:
        _verify_project(s, project_id)
        return class_limits(s)


def _values(
    body: Any, key: str, allowed: Iterable[str], with_force: bool
) -> tuple[dict[str, int], bool]:
    """``{key: {resource: limit, ...}}``: limits -1..2**31-1, as numbers or strings."""
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise BadRequest(f"Invalid input for field/attribute {key}. '{key}' is a required property")
    unknown = sorted(set(body) - {key})
    if unknown:
        raise BadRequest(f"Additional properties are not allowed ('{unknown[0]}' was unexpected)")
    known = set(allowed)
    force = False
    values: dict[str, int] = {}
    for resource, raw in body[key].items():
        if with_force and resource == "force":
            force = to_bool(raw, "force")
            continue
        if resource not in known:
            raise BadRequest(
                f"Invalid input for field/attribute {key}. Additional properties "
                f"are not allowed ('{resource}' was unexpected)"
            )
        values[resource] = _limit(resource, raw)
    return values, force


def _limit(resource: str, raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise BadRequest(
            f"Invalid input for field/attribute {resource}. Value: {raw}. "
            f"{raw!r} is not of type 'integer', 'string'"
        )
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(
            f"Invalid input for field/attribute {resource}. Value: {raw}. "
            f"'{raw}' does not match '^-?[0-9]+$'"
        ) from None
    if value < -1:
        raise BadRequest(
            f"Invalid input for field/attribute {resource}. Value: {raw}. "
            f"{value} is less than the minimum of -1"
        )
    if value > MAX_INT:
        raise BadRequest(
            f"Invalid input for field/attribute {resource}. Value: {raw}. "
            f"{value} is greater than the maximum of {MAX_INT}"
        )
    return value


def _unlimited(value: int) -> float:
    return float("inf") if value < 0 else float(value)


def _settable(s: Session, project_id: str, user_id: str | None, resource: str) -> tuple[int, int]:
    """The (minimum, maximum) a limit may be set to without ``force`` (-1: unlimited):
    at least what is in use; a user's at most what the project has left for them."""
    user_rows = s.scalars(
        select(m.Quota).where(
            m.Quota.project_id == project_id, m.Quota.user_id != "", m.Quota.resource == resource
        )
    ).all()
    if not user_id:
        given = sum(r.hard_limit for r in user_rows if r.hard_limit > 0)
        return max(given, usage(s, project_id)[resource]), -1
    project_limit = project_limits(s, project_id)[resource]
    minimum = usage(s, project_id, user_id)[resource]
    if project_limit < 0:
        return minimum, -1
    others = sum(max(r.hard_limit, 0) for r in user_rows if r.user_id != user_id)
    return minimum, project_limit - others


def update_quota_set(
    svc: ComputeService,
    caller: Caller,
    project_id: str,
    user_id: str | None,
    body: Any,
    allowed: Iterable[str],
) -> dict[str, int]:
    """Set limits of a project (or a user in it); without ``force`` a limit may not go
    below what is in use, nor a user's above what the project leaves."""
    caller.check("os-quota-sets:update", {"project_id": project_id})
    values, force = _values(body, "quota_set", allowed, with_force=True)
    with svc.db.session() as s:
        _verify_project(s, project_id)
        if not force:
            for resource, limit in values.items():
                minimum, maximum = _settable(s, project_id, user_id, resource)
                if _unlimited(limit) < _unlimited(minimum):
                    raise BadRequest(
                        f"Quota limit {limit} for {resource} must be greater than or equal to "
                        f"already used and reserved {minimum}."
                    )
                if _unlimited(limit) > _unlimited(maximum):
                    raise BadRequest(
                        f"Quota limit {limit} for {resource} must be less than or equal to "
                        f"{maximum}."
                    )
        for resource, limit in values.items():
            row = s.get(m.Quota, (project_id, user_id or "", resource))
            if row is None:
                s.add(m.Quota(project_id=project_id, user_id=user_id or "", resource=resource,
                              hard_limit=limit))  # fmt: skip
            else:
                row.hard_limit = limit
        s.flush()
        return limits_for(s, project_id, user_id)


def delete_quota_set(
    svc: ComputeService, caller: Caller, project_id: str, user_id: str | None
) -> None:
    """Back to the defaults: the user's limits, or all of the project's (its users' too)."""
    caller.check("os-quota-sets:delete", {"project_id": project_id})
    with svc.db.session() as s:
        stmt = delete(m.Quota).where(m.Quota.project_id == project_id)
        if user_id:
            stmt = stmt.where(m.Quota.user_id == user_id)
        s.execute(stmt)


def show_quota_class(svc: ComputeService, caller: Caller, class_name: str) -> dict[str, int]:
    caller.check("os-quota-class-sets:show")
    with svc.db.reader() as s:
        return class_limits(s, class_name)


def update_quota_class(
    svc: ComputeService, caller: Caller, class_name: str, body: Any, allowed: Iterable[str]
) -> dict[str, int]:
    """Set a class's limits; the ``default`` class is every project's defaults."""
    caller.check("os-quota-class-sets:update")
    if not 1 <= len(class_name) <= 255:
        raise BadRequest("Invalid input received: quota_class_name has a length outside 1-255.")
    values, _ = _values(body, "quota_class_set", allowed, with_force=False)
    with svc.db.session() as s:
        for resource, limit in values.items():
            row = s.get(m.QuotaClass, (class_name, resource))
            if row is None:
                s.add(m.QuotaClass(class_name=class_name, resource=resource, hard_limit=limit))
            else:
                row.hard_limit = limit
        s.flush()
        return class_limits(s, class_name)


def absolute_limits(
    svc: ComputeService,
    caller: Caller,
    tenant_id: str | None,
    hidden: Iterable[str],
    image_meta: bool,
) -> dict[str, int]:
    """``/limits``' ``absolute``: the project's limits under Nova's names and what it
    uses; another project's (``tenant_id``) for admins only."""
    caller.check("limits")
    project_id = caller.project_id
    if tenant_id is not None and tenant_id != caller.project_id:
        caller.check("limits:other_project", {"project_id": tenant_id})
        project_id = tenant_id
    skip = set(hidden)
    with svc.db.reader() as s:
        limits = project_limits(s, project_id)
        used = usage(s, project_id)
    out: dict[str, int] = {}
    for resource, names in ABSOLUTE.items():
        if resource in skip:
            continue
        for name in names:
            if name == "maxImageMeta" and not image_meta:
                continue
            out[name] = limits[resource]
    for name, resource in USED.items():
        if resource not in skip:
            out[name] = used[resource]
    return out


def view(
    values: Mapping[str, Any], hidden: Iterable[str], ident: str | None = None
) -> dict[str, Any]:
    """A quota set or class body: ``id`` (when given) and the resources shown at the
    request's microversion."""
    skip = set(hidden)
    body: dict[str, Any] = {"id": ident} if ident is not None else {}
    body.update({k: v for k, v in values.items() if k in DEFAULTS and k not in skip})
    return body
