"""OS-TRUST trusts: delegation of a trustor's roles on a project to a trustee."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from nubo.api.validation import parse_timestamp
from nubo.db.base import new_id, utcnow
from nubo.errors import BadRequest, Forbidden, NotFound, Unauthorized
from nubo.identity.models import GLOBAL, Project, Role, Trust, User

if TYPE_CHECKING:
    from nubo.identity.service import Identity

TRUST_FIELDS = frozenset(
    {
        "trustor_user_id",
        "trustee_user_id",
        "project_id",
        "impersonation",
        "expires_at",
        "remaining_uses",
        "allow_redelegation",
        "roles",
        "id",
        "links",
        "redelegation_count",
        "redelegated_trust_id",
    }
)


class Trusts:
    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.db = identity.db

    def create(self, data: Mapping[str, Any], caller_user_id: str) -> tuple[Trust, list[Role]]:
        if data["trustor_user_id"] != caller_user_id:
            raise Forbidden("Only the trustor can create a trust.")
        expires_at = (
            parse_timestamp(data["expires_at"], "expires_at") if data.get("expires_at") else None
        )
        if expires_at is not None and expires_at <= utcnow():
            raise BadRequest(
                "Invalid input for field 'expires_at': the trust would already be expired."
            )
        uses = data.get("remaining_uses")
        if uses is not None and uses <= 0:
            raise BadRequest("Invalid input for field 'remaining_uses': must be positive.")
        with self.db.session() as s:
            if s.get(User, data["trustee_user_id"]) is None:
                raise NotFound(f"Could not find user: {data['trustee_user_id']}.")
            project_id = data.get("project_id")
            role_ids: list[str] = []
            if project_id:
                project = s.get(Project, project_id)
                if project is None or project.is_domain:
                    raise NotFound(f"Could not find project: {project_id}.")
                held = self.identity.assignments.effective_role_ids(
                    s, caller_user_id, project_id=project_id
                )
                for ref in data.get("roles") or []:
                    role = self._role(s, ref)
                    if role.id not in held:
                        raise Forbidden(
                            f"The trustor does not hold role {role.name} on project {project_id}."
                        )
                    role_ids.append(role.id)
            elif data.get("roles"):
                raise BadRequest("Roles can only be delegated on a project.")
            row = Trust(
                id=new_id(),
                trustor_user_id=caller_user_id,
                trustee_user_id=data["trustee_user_id"],
                project_id=project_id,
                impersonation=data["impersonation"],
                expires_at=expires_at,
                remaining_uses=uses,
                allow_redelegation=data.get("allow_redelegation", False),
                role_ids=list(dict.fromkeys(role_ids)),
                extra={k: v for k, v in data.items() if k not in TRUST_FIELDS},
            )
            s.add(row)
            roles = [r for r in (s.get(Role, i) for i in row.role_ids) if r is not None]
        self.identity.changed()
        return row, roles

    def _role(self, s: Any, ref: Mapping[str, Any]) -> Role:
        if ref.get("id"):
            role = s.get(Role, ref["id"])
        else:
            role = s.scalar(
                select(Role).where(Role.name == ref.get("name"), Role.domain_id == GLOBAL)
            )
        if role is None:
            raise NotFound(f"Could not find role: {ref.get('id') or ref.get('name')}.")
        assert isinstance(role, Role)
        return role

    def get(self, trust_id: str) -> tuple[Trust, list[Role]]:
        with self.db.reader() as s:
            row = s.get(Trust, trust_id)
            if row is None or self._expired(row):
                raise NotFound(f"Could not find trust: {trust_id}.")
            return row, [r for r in (s.get(Role, i) for i in row.role_ids) if r is not None]

    def _expired(self, row: Trust) -> bool:
        return row.expires_at is not None and row.expires_at <= utcnow()

    def list_trusts(
        self, trustor: str | None, trustee: str | None, involving: str | None = None
    ) -> list[Trust]:
        with self.db.reader() as s:
            stmt = select(Trust)
            if trustor:
                stmt = stmt.where(Trust.trustor_user_id == trustor)
            if trustee:
                stmt = stmt.where(Trust.trustee_user_id == trustee)
            if involving:
                stmt = stmt.where(
                    or_(Trust.trustor_user_id == involving, Trust.trustee_user_id == involving)
                )
            return [t for t in s.scalars(stmt) if not self._expired(t)]

    def delete(self, trust_id: str) -> None:
        with self.db.session() as s:
            row = s.get(Trust, trust_id)
            if row is None:
                raise NotFound(f"Could not find trust: {trust_id}.")
            s.delete(row)
        self.identity.changed()

    # -- trust-scoped tokens ---------------------------------------------------------

    def usable(self, s: Session, trust_id: str) -> Trust:
        """A trust a token may stand on: it exists, has not expired and both users are
        enabled; raises Unauthorized otherwise."""
        row = s.get(Trust, trust_id)
        if row is None or self._expired(row) or row.project_id is None:
            raise Unauthorized(f"Trust {trust_id} is not available.")
        for user_id in (row.trustor_user_id, row.trustee_user_id):
            user = s.get(User, user_id)
            if user is None or not user.enabled:
                raise Unauthorized(f"Trust {trust_id} is not available.")
        return row

    def role_ids(self, s: Session, row: Trust) -> set[str]:
        """The roles a trust token carries: the delegated ones (and what they imply), as
        long as the trustor still holds every one of them on the project."""
        assert row.project_id is not None
        held = self.identity.assignments.effective_role_ids(
            s, row.trustor_user_id, project_id=row.project_id
        )
        if not set(row.role_ids) <= held:
            raise Unauthorized("The trustor no longer holds the roles the trust delegates.")
        return self.identity.assignments.implied_closure(s, row.role_ids) & held

    def consume(self, trust_id: str) -> None:
        """Count one use of a trust that has remaining_uses (a 403 when none are left)."""
        with self.db.session() as s:
            row = s.get(Trust, trust_id)
            if row is None or row.remaining_uses is None:
                return
            if row.remaining_uses <= 0:
                raise Forbidden(f"No remaining uses for trust: {trust_id}.")
            row.remaining_uses -= 1
        self.identity.changed()
