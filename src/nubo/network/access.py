"""Who is asking, and the checks every network resource shares: attribute policy,
revision preconditions and standard-attribute bookkeeping."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from nubo.db.base import utcnow
from nubo.errors import BadRequest, Forbidden, NotFound, PreconditionFailed
from nubo.network.policies import ATTRIBUTE_RULES

Allowed = Callable[[str, Mapping[str, Any]], bool]


@dataclass(frozen=True)
class Caller:
    project_id: str
    is_admin: bool
    allowed: Allowed
    user_id: str | None = None
    request_id: str | None = None

    def owns(self, row: Any) -> bool:
        return self.is_admin or getattr(row, "project_id", None) == self.project_id

    def check(self, rule: str, target: Mapping[str, Any]) -> None:
        if not self.allowed(rule, target):
            raise Forbidden(f"(rule:{rule}) is disallowed by policy")

    def check_attributes(
        self, action: str, resource: str, body: Mapping[str, Any], target: Mapping[str, Any]
    ) -> None:
        """``action_resource`` itself, then ``action_resource:attr`` for every attribute
        the body sets that has a rule of its own (admin-only attributes)."""
        self.check(f"{action}_{resource}", target)
        for attr in body:
            rule = f"{action}_{resource}:{attr}"
            if self.has_rule(rule) and not self.allowed(rule, target):
                raise Forbidden(f"(rule:{rule}) is disallowed by policy")

    def has_rule(self, rule: str) -> bool:
        return rule in ATTRIBUTE_RULES


def project_for_create(caller: Caller, body: Mapping[str, Any]) -> str:
    """The project a new resource belongs to: the caller's, or for an admin the
    ``project_id``/``tenant_id`` the body names (they must agree)."""
    project = body.get("project_id")
    tenant = body.get("tenant_id")
    if project and tenant and project != tenant:
        raise BadRequest("'project_id' and 'tenant_id' do not match")
    wanted = project or tenant
    if wanted and wanted != caller.project_id and not caller.is_admin:
        raise BadRequest("Only an admin can create a resource for another project.")
    return str(wanted or caller.project_id)


def not_found(kind: str, ident: str) -> NotFound:
    """Neutron's message and error type for a missing resource."""
    words = kind.replace("_", " ")
    type_name = "".join(w.capitalize() for w in kind.split("_")) + "NotFound"
    return NotFound(f"{words.capitalize()} {ident} could not be found.", kind=type_name)


def check_revision(headers: Mapping[str, str], row: Any) -> None:
    """``If-Match: revision_number=N``: 412 unless the row is at revision N."""
    value = headers.get("if-match")
    if not value:
        return
    for part in value.split(","):
        key, _, number = part.strip().partition("=")
        if key.strip() != "revision_number":
            continue
        try:
            wanted = int(number)
        except ValueError:
            raise BadRequest(f"Invalid If-Match value {value!r}.") from None
        if wanted != row.revision_number:
            raise PreconditionFailed(
                f"Constrained to {wanted}, but current revision is {row.revision_number}",
                kind="RevisionNumberConstraintFailed",
            )


def touch(row: Any) -> None:
    """A change to a resource: new revision, new updated_at."""
    row.revision_number = (row.revision_number or 0) + 1
    row.updated_at = utcnow()


def timestamp(value: dt.datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def standard(row: Any, tags: Iterable[str] = ()) -> dict[str, Any]:
    """The standard attributes every resource view starts from."""
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "tenant_id": row.project_id,
        "project_id": row.project_id,
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
        "revision_number": row.revision_number,
        "tags": sorted(tags),
    }
