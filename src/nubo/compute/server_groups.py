"""Server groups (``/os-server-groups``): a policy (affinity, anti-affinity and, from
2.15, their soft forms) the scheduler applies to the servers created into the group
(the ``group`` scheduler hint). Before 2.64 the policy is a one-item ``policies``
list; from 2.64 it is ``policy``, with ``rules`` (``max_server_per_host`` for
anti-affinity).

Groups belong to a project; another project's group does not exist for a caller
(404) unless the caller is an admin.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from nubo.compute import models as m
from nubo.compute import quotas
from nubo.compute.access import Caller
from nubo.compute.validation import check_name, to_int
from nubo.errors import BadRequest, NotFound

if TYPE_CHECKING:
    from nubo.compute.service import ComputeService

HARD = ("anti-affinity", "affinity")
SOFT = ("soft-anti-affinity", "soft-affinity")
POLICIES = HARD + SOFT


def not_found(group_id: str) -> NotFound:
    return NotFound(f"Instance group {group_id} could not be found.")


def _get(s: Session, caller: Caller, group_id: str) -> m.ServerGroup:
    row = s.get(m.ServerGroup, group_id)
    if row is None or not caller.owns(row.project_id):
        raise not_found(group_id)
    return row


def find_group(svc: ComputeService, s: Session, caller: Caller, group_id: Any) -> m.ServerGroup:
    """The group a server create names (scheduler hint ``group``); 400 "Instance group X
    could not be found." when there is none the caller may use, as Nova's create says."""
    row = s.get(m.ServerGroup, group_id) if isinstance(group_id, str) else None
    if row is None or not caller.owns(row.project_id):
        raise BadRequest(f"Instance group {group_id} could not be found.")
    return row


def add_member(
    svc: ComputeService,
    s: Session,
    group_id: str,
    server_id: str,
    project_id: str,
    user_id: str | None = None,
) -> None:
    """Put a new server into a group, in the create's transaction; 403 "Quota exceeded,
    too many servers in group" past ``server_group_members``."""
    quotas.check_quota(svc, s, project_id, user_id, {"server_group_members": 1}, group_id=group_id)
    s.add(m.ServerGroupMember(group_id=group_id, server_id=server_id))
    s.flush()


def remove_member(s: Session, server_id: str) -> None:
    """Take a deleted server out of its groups."""
    s.execute(delete(m.ServerGroupMember).where(m.ServerGroupMember.server_id == server_id))


def members(s: Session, group_ids: Sequence[str]) -> dict[str, list[str]]:
    """Group id -> its members that are servers not deleted, oldest first."""
    out: dict[str, list[str]] = defaultdict(list)
    if not group_ids:
        return out
    rows = s.execute(
        select(m.ServerGroupMember.group_id, m.ServerGroupMember.server_id)
        .join(m.Server, m.Server.id == m.ServerGroupMember.server_id)
        .where(m.ServerGroupMember.group_id.in_(group_ids), m.Server.deleted_at.is_(None))
        .order_by(m.Server.created_at, m.Server.id)
    )
    for group_id, server_id in rows:
        out[group_id].append(server_id)
    return out


# -- the API's operations ---------------------------------------------------------------------


def list_groups(
    svc: ComputeService,
    caller: Caller,
    *,
    all_projects: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[m.ServerGroup], dict[str, list[str]]]:
    """The project's groups (every project's for an admin asking ``all_projects``; a
    non-admin asking gets their own, as Nova does)."""
    caller.check("os-server-groups:index", {"project_id": caller.project_id})
    stmt = select(m.ServerGroup).order_by(m.ServerGroup.created_at, m.ServerGroup.id)
    if all_projects and caller.is_admin:
        caller.check("os-server-groups:index:all_projects", {"project_id": caller.project_id})
    else:
        stmt = stmt.where(m.ServerGroup.project_id == caller.project_id)
    stmt = stmt.offset(offset).limit(min(limit or 1000, 1000))
    with svc.db.reader() as s:
        rows = list(s.scalars(stmt))
        return rows, members(s, [r.id for r in rows])


def show_group(
    svc: ComputeService, caller: Caller, group_id: str
) -> tuple[m.ServerGroup, list[str]]:
    with svc.db.reader() as s:
        row = _get(s, caller, group_id)
        caller.check("os-server-groups:show", {"project_id": row.project_id})
        return row, members(s, [row.id]).get(row.id, [])


def delete_group(svc: ComputeService, caller: Caller, group_id: str) -> None:
    with svc.db.session() as s:
        row = _get(s, caller, group_id)
        caller.check("os-server-groups:delete", {"project_id": row.project_id})
        s.execute(delete(m.ServerGroupMember).where(m.ServerGroupMember.group_id == row.id))
        s.delete(row)


def parse_create(body: Any, *, soft: bool, policy_field: bool) -> tuple[str, str, dict[str, Any]]:
    """(name, policy, rules) from ``{"server_group": {...}}``: ``policies`` (one item)
    before 2.64, ``policy`` and ``rules`` from 2.64; soft policies from 2.15."""
    if not isinstance(body, dict) or not isinstance(body.get("server_group"), dict):
        raise BadRequest(
            "Invalid input for field/attribute server_group. 'server_group' is a required property"
        )
    unknown = sorted(set(body) - {"server_group"})
    if unknown:
        raise BadRequest(f"Additional properties are not allowed ('{unknown[0]}' was unexpected)")
    vals: dict[str, Any] = body["server_group"]
    fields = ("name", "policy", "rules") if policy_field else ("name", "policies")
    extra = sorted(set(vals) - set(fields))
    if extra:
        raise BadRequest(
            f"Invalid input for field/attribute server_group. Additional "
            f"properties are not allowed ('{extra[0]}' was unexpected)"
        )
    for required in fields[:2]:
        if required not in vals:
            raise BadRequest(
                f"Invalid input for field/attribute server_group. '{required}' is "
                "a required property"
            )
    name = check_name(vals["name"], "name")
    allowed = POLICIES if soft or policy_field else HARD
    if policy_field:
        policy = vals["policy"]
    else:
        policies = vals["policies"]
        if not isinstance(policies, list) or len(policies) != 1:
            raise BadRequest(
                f"Invalid input for field/attribute policies. Value: {policies}. "
                "It must be a list of exactly one policy."
            )
        policy = policies[0]
    if not isinstance(policy, str) or policy not in allowed:
        field = "policy" if policy_field else "policies"
        raise BadRequest(
            f"Invalid input for field/attribute {field}. Value: {policy}. "
            f"{policy!r} is not one of {list(allowed)}"
        )
    rules: dict[str, Any] = {}
    if policy_field and "rules" in vals:
        raw = vals["rules"]
        if not isinstance(raw, dict):
            raise BadRequest(
                f"Invalid input for field/attribute rules. Value: {raw}. "
                f"{raw!r} is not of type 'object'"
            )
        extra = sorted(set(raw) - {"max_server_per_host"})
        if extra:
            raise BadRequest(
                f"Invalid input for field/attribute rules. Additional properties "
                f"are not allowed ('{extra[0]}' was unexpected)"
            )
        if "max_server_per_host" in raw:
            rules["max_server_per_host"] = to_int(
                raw["max_server_per_host"], "max_server_per_host", 1
            )
        if rules and policy != "anti-affinity":
            raise BadRequest("Only anti-affinity policy supports rules.")
    return name, policy, rules


def create_group(
    svc: ComputeService, caller: Caller, name: str, policy: str, rules: dict[str, Any]
) -> m.ServerGroup:
    """403 "Quota exceeded, too many server groups." past ``server_groups``."""
    caller.check("os-server-groups:create", {"project_id": caller.project_id})
    with svc.db.session() as s:
        quotas.check_quota(svc, s, caller.project_id, caller.user_id, {"server_groups": 1})
        row = m.ServerGroup(
            name=name,
            project_id=caller.project_id,
            user_id=caller.user_id,
            policy=policy,
            rules=rules,
        )
        s.add(row)
        s.flush()
        # a concurrent create may have taken the last unit meanwhile
        quotas.check_quota(svc, s, caller.project_id, caller.user_id, {"server_groups": 0})
    return row


# -- views ---------------------------------------------------------------------------------------


def view(
    row: m.ServerGroup, member_ids: list[str], *, owners: bool, policy_field: bool
) -> dict[str, Any]:
    """``project_id``/``user_id`` from 2.13; ``policy``/``rules`` from 2.64 instead of
    ``policies`` and an empty ``metadata``."""
    body: dict[str, Any] = {"id": row.id, "name": row.name}
    if policy_field:
        body["policy"] = row.policy
        body["rules"] = dict(row.rules or {})
    else:
        body["policies"] = [row.policy]
        body["metadata"] = {}
    body["members"] = list(member_ids)
    if owners:
        body["project_id"] = row.project_id
        body["user_id"] = row.user_id
    return body
