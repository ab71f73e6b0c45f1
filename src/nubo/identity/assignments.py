"""Roles, implied roles, grants and the effective roles a token carries."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from nubo.api.pagination import Page, apply_filters, paginate
from nubo.api.validation import parse_bool
from nubo.db.base import new_id
from nubo.db.helpers import (
    add_if_absent,
    conflict_on_duplicate,
    flush_or_conflict,
    get_or_404,
    merge_options,
)
from nubo.errors import BadRequest, Forbidden, NotFound
from nubo.identity.models import GLOBAL, Assignment, Group, ImpliedRole, Project, Role, User

if TYPE_CHECKING:
    from nubo.identity.service import Identity

SYSTEM = "system"
ROLE_FIELDS = frozenset({"id", "name", "domain_id", "description", "options", "links"})
# Keystone refuses to let any role imply these.
PROHIBITED_IMPLIED = frozenset({"admin"})


@dataclass(frozen=True)
class Grant:
    """One row of ``/v3/role_assignments``."""

    role_id: str
    user_id: str | None = None
    group_id: str | None = None
    project_id: str | None = None
    domain_id: str | None = None
    system: bool = False
    inherited: bool = False
    # for effective listings: where the row came from
    via_group_id: str | None = None
    prior_role_id: str | None = None
    inherited_from: tuple[str, str] | None = None  # ("project"|"domain", id)


def _type(actor: str, target: str) -> str:
    return f"{actor.capitalize()}{target.capitalize()}"


class Assignments:
    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.db = identity.db

    # -- roles -----------------------------------------------------------------

    def get_role(self, s: Session, role_id: str) -> Role:
        return get_or_404(s, Role, role_id, "role")

    def find_role(self, s: Session, name: str, domain_id: str | None = None) -> Role | None:
        return s.scalar(
            select(Role).where(Role.name == name, Role.domain_id == (domain_id or GLOBAL))
        )

    def create_role(self, data: Mapping[str, Any]) -> Role:
        with self.db.session() as s:
            domain_id = data.get("domain_id")
            if domain_id:
                domain = s.get(Project, domain_id)
                if domain is None or not domain.is_domain:
                    raise NotFound(f"Could not find domain: {domain_id}.")
            row = Role(
                id=new_id(),
                name=data["name"],
                domain_id=domain_id or GLOBAL,
                description=data.get("description"),
                options=data.get("options") or {},
                extra={k: v for k, v in data.items() if k not in ROLE_FIELDS},
            )
            with conflict_on_duplicate(
                s,
                "Conflict occurred attempting to store role - "
                f"Duplicate entry found with name {row.name}.",
            ):
                s.add(row)
        self.identity.changed()
        return row

    def list_roles(self, query: Mapping[str, str], page: Page) -> list[Role]:
        with self.db.reader() as s:
            q = dict(query)
            q["domain_id"] = q.get("domain_id") or GLOBAL
            stmt = apply_filters(select(Role), q, {"name": Role.name, "domain_id": Role.domain_id})
            return list(s.scalars(paginate(s, stmt, Role, page)))

    def update_role(self, role_id: str, changes: Mapping[str, Any]) -> Role:
        with self.db.session() as s:
            row = self.get_role(s, role_id)
            if "domain_id" in changes and (changes["domain_id"] or GLOBAL) != row.domain_id:
                raise BadRequest("Cannot change the domain_id of a role.")
            if (row.options or {}).get("immutable") and not (
                set(changes) <= {"options"}
                and (changes.get("options") or {}).get("immutable") is False
            ):
                raise Forbidden(f"Role {role_id} is immutable.")
            for key in ("name", "description"):
                if key in changes:
                    setattr(row, key, changes[key])
            if "options" in changes:
                row.options = merge_options(row.options, changes["options"])
            extra = dict(row.extra or {})
            extra.update({k: v for k, v in changes.items() if k not in ROLE_FIELDS})
            row.extra = extra
            flush_or_conflict(
                s,
                "Conflict occurred attempting to update role - "
                f"Duplicate entry found with name {row.name}.",
            )
        self.identity.changed()
        return row

    def delete_role(self, role_id: str) -> None:
        with self.db.session() as s:
            row = self.get_role(s, role_id)
            if (row.options or {}).get("immutable"):
                raise Forbidden(f"Role {role_id} is immutable.")
            s.execute(delete(Assignment).where(Assignment.role_id == role_id))
            s.execute(
                delete(ImpliedRole).where(
                    or_(
                        ImpliedRole.prior_role_id == role_id, ImpliedRole.implied_role_id == role_id
                    )
                )
            )
            s.delete(row)
            self.identity.revocations.add(s, role_id=role_id)
        self.identity.changed()

    # -- implied roles ---------------------------------------------------------

    def create_implied(self, prior_id: str, implied_id: str) -> tuple[Role, Role]:
        with self.db.session() as s:
            prior = self.get_role(s, prior_id)
            implied = self.get_role(s, implied_id)
            if implied.name in PROHIBITED_IMPLIED:
                raise Forbidden(f"{implied.name} may not be implied by any role.")
            if implied.domain_id != GLOBAL and prior.domain_id == GLOBAL:
                raise Forbidden("A global role cannot imply a domain-specific role.")
            if prior_id == implied_id or prior_id in self.implied_closure(s, [implied_id]):
                raise BadRequest(f"Implying {implied.name} from {prior.name} would create a cycle.")
            add_if_absent(s, ImpliedRole(prior_role_id=prior_id, implied_role_id=implied_id))
        self.identity.changed()
        return prior, implied

    def get_implied(self, prior_id: str, implied_id: str) -> tuple[Role, Role]:
        with self.db.reader() as s:
            prior = self.get_role(s, prior_id)
            implied = self.get_role(s, implied_id)
            if s.get(ImpliedRole, (prior_id, implied_id)) is None:
                raise NotFound(f"{prior_id} does not imply {implied_id}.")
            return prior, implied

    def delete_implied(self, prior_id: str, implied_id: str) -> None:
        with self.db.session() as s:
            self.get_role(s, prior_id)
            self.get_role(s, implied_id)
            row = s.get(ImpliedRole, (prior_id, implied_id))
            if row is None:
                raise NotFound(f"{prior_id} does not imply {implied_id}.")
            s.delete(row)
        self.identity.changed()

    def implied_by(self, s: Session, prior_id: str) -> list[Role]:
        ids = s.scalars(
            select(ImpliedRole.implied_role_id).where(ImpliedRole.prior_role_id == prior_id)
        )
        return [r for r in (s.get(Role, i) for i in ids) if r is not None]

    def all_inferences(self, s: Session) -> dict[str, list[Role]]:
        out: dict[str, list[Role]] = {}
        for rule in s.scalars(select(ImpliedRole)):
            role = s.get(Role, rule.implied_role_id)
            if role is not None:
                out.setdefault(rule.prior_role_id, []).append(role)
        return out

    def implied_closure(self, s: Session, role_ids: Iterable[str]) -> set[str]:
        seen = set(role_ids)
        frontier = list(seen)
        while frontier:
            nxt = list(
                s.scalars(
                    select(ImpliedRole.implied_role_id).where(
                        ImpliedRole.prior_role_id.in_(frontier)
                    )
                )
            )
            frontier = [r for r in nxt if r not in seen]
            seen.update(frontier)
        return seen

    # -- grants ----------------------------------------------------------------

    def _check_actor(self, s: Session, actor: str, actor_id: str) -> None:
        model: type[User] | type[Group] = User if actor == "user" else Group
        get_or_404(s, model, actor_id, actor)

    def _check_target(self, s: Session, target: str, target_id: str) -> None:
        if target == SYSTEM:
            return
        row = s.get(Project, target_id)
        if row is None or row.is_domain != (target == "domain"):
            raise NotFound(f"Could not find {target}: {target_id}.")

    def _check_role_for_target(self, s: Session, role: Role, target: str, target_id: str) -> None:
        if role.domain_id == GLOBAL:
            return
        if target == SYSTEM:
            raise Forbidden("Domain-specific roles cannot be granted on the system.")
        domain = target_id if target == "domain" else self._domain_of(s, target_id)
        if role.domain_id != domain:
            raise Forbidden(
                f"Role {role.id} is specific to domain {role.domain_id} and cannot "
                f"be assigned on {target} {target_id}."
            )

    def _domain_of(self, s: Session, project_id: str) -> str | None:
        row = s.get(Project, project_id)
        return row.domain_id if row else None

    def grant(
        self,
        actor: str,
        actor_id: str,
        target: str,
        target_id: str,
        role_id: str,
        inherited: bool = False,
    ) -> None:
        with self.db.session() as s:
            self._check_actor(s, actor, actor_id)
            self._check_target(s, target, target_id)
            role = self.get_role(s, role_id)
            self._check_role_for_target(s, role, target, target_id)
            key = (_type(actor, target), actor_id, target_id, role_id, inherited)
            add_if_absent(
                s,
                Assignment(
                    type=key[0],
                    actor_id=actor_id,
                    target_id=target_id,
                    role_id=role_id,
                    inherited=inherited,
                ),
            )
        self.identity.changed()

    def check_grant(
        self,
        actor: str,
        actor_id: str,
        target: str,
        target_id: str,
        role_id: str,
        inherited: bool = False,
    ) -> None:
        with self.db.reader() as s:
            self._check_actor(s, actor, actor_id)
            self._check_target(s, target, target_id)
            self.get_role(s, role_id)
            key = (_type(actor, target), actor_id, target_id, role_id, inherited)
            if s.get(Assignment, key) is None:
                raise NotFound(
                    f"Could not find role assignment with role: {role_id}, "
                    f"{actor}: {actor_id}, {target}: {target_id}."
                )

    def revoke(
        self,
        actor: str,
        actor_id: str,
        target: str,
        target_id: str,
        role_id: str,
        inherited: bool = False,
    ) -> None:
        with self.db.session() as s:
            self._check_actor(s, actor, actor_id)
            self._check_target(s, target, target_id)
            self.get_role(s, role_id)
            key = (_type(actor, target), actor_id, target_id, role_id, inherited)
            row = s.get(Assignment, key)
            if row is None:
                raise NotFound(
                    f"Could not find role assignment with role: {role_id}, "
                    f"{actor}: {actor_id}, {target}: {target_id}."
                )
            s.delete(row)
            users = (
                [actor_id] if actor == "user" else list(self.identity.users.member_ids(s, actor_id))
            )
            scope = {"project_id": target_id} if target == "project" and not inherited else {}
            for user_id in users:
                self.identity.revocations.add(s, user_id=user_id, **scope)
        self.identity.changed()

    def list_grants(
        self, actor: str, actor_id: str, target: str, target_id: str, inherited: bool = False
    ) -> list[Role]:
        with self.db.reader() as s:
            self._check_actor(s, actor, actor_id)
            self._check_target(s, target, target_id)
            ids = s.scalars(
                select(Assignment.role_id).where(
                    Assignment.type == _type(actor, target),
                    Assignment.actor_id == actor_id,
                    Assignment.target_id == target_id,
                    Assignment.inherited == inherited,
                )
            )
            return [r for r in (s.get(Role, i) for i in ids) if r is not None]

    # -- effective roles -------------------------------------------------------

    def effective_role_ids(
        self,
        s: Session,
        user_id: str,
        *,
        project_id: str | None = None,
        domain_id: str | None = None,
        system: bool = False,
    ) -> set[str]:
        """Role ids a user holds on one scope: direct, via groups, inherited, implied."""
        actors = [user_id, *self.identity.users.group_ids(s, user_id)]
        stmt = select(Assignment.role_id).where(Assignment.actor_id.in_(actors))
        if system:
            stmt = stmt.where(
                Assignment.target_id == SYSTEM, Assignment.type.in_(("UserSystem", "GroupSystem"))
            )
        elif domain_id:
            stmt = stmt.where(
                Assignment.target_id == domain_id,
                ~Assignment.inherited,
                Assignment.type.in_(("UserDomain", "GroupDomain")),
            )
        elif project_id:
            project = s.get(Project, project_id)
            if project is None:
                return set()
            ancestors = [p.id for p in self.identity.resources.parents(s, project)]
            ancestors.append(project.domain_id)
            stmt = stmt.where(
                or_(
                    (Assignment.target_id == project_id)
                    & ~Assignment.inherited
                    & Assignment.type.in_(("UserProject", "GroupProject")),
                    Assignment.target_id.in_(ancestors) & Assignment.inherited,
                )
            )
        else:
            return set()
        direct = set(s.scalars(stmt))
        if not direct:
            return set()
        return self.implied_closure(s, direct)

    def token_roles(self, s: Session, role_ids: Iterable[str]) -> list[Role]:
        """The roles a token lists: global roles only (domain-specific ones only imply)."""
        roles = [s.get(Role, r) for r in role_ids]
        return sorted(
            (r for r in roles if r is not None and r.domain_id == GLOBAL), key=lambda r: r.name
        )

    def projects_for_user(self, s: Session, user_id: str) -> list[Project]:
        """Enabled projects where the user has any effective role."""
        actors = [user_id, *self.identity.users.group_ids(s, user_id)]
        rows = list(
            s.execute(
                select(Assignment.target_id, Assignment.inherited, Assignment.type).where(
                    Assignment.actor_id.in_(actors)
                )
            )
        )
        ids: set[str] = set()
        for target_id, inherited, kind in rows:
            if kind.endswith("Project") and not inherited:
                ids.add(target_id)
            elif inherited and kind.endswith(("Project", "Domain")):
                target = s.get(Project, target_id)
                if target is not None:
                    ids.update(p.id for p in self.identity.resources.subtree(s, target))
        projects = [s.get(Project, i) for i in ids]
        return sorted(
            (p for p in projects if p is not None and not p.is_domain), key=lambda p: p.name
        )

    def domains_for_user(self, s: Session, user_id: str) -> list[Project]:
        actors = [user_id, *self.identity.users.group_ids(s, user_id)]
        ids = set(
            s.scalars(
                select(Assignment.target_id).where(
                    Assignment.actor_id.in_(actors),
                    ~Assignment.inherited,
                    Assignment.type.in_(("UserDomain", "GroupDomain")),
                )
            )
        )
        domains = [s.get(Project, i) for i in ids]
        return sorted((d for d in domains if d is not None), key=lambda d: d.name)

    def has_system_roles(self, s: Session, user_id: str) -> bool:
        return bool(self.effective_role_ids(s, user_id, system=True))

    # -- role assignment listing -----------------------------------------------

    def list_assignments(self, query: Mapping[str, str]) -> list[Grant]:
        """``GET /v3/role_assignments`` with its filters, ``effective`` and subtree."""
        effective = "effective" in query and parse_bool(query["effective"], "effective")
        with self.db.reader() as s:
            rows = list(s.scalars(select(Assignment)))
            grants = [self._grant(r) for r in rows]
            if effective:
                grants = self._effective(s, grants)
            return [g for g in grants if self._matches(s, g, query)]

    def _grant(self, row: Assignment) -> Grant:
        actor, target = (
            "user" if row.type.startswith("User") else "group",
            row.type.removeprefix("User").removeprefix("Group").lower(),
        )
        return Grant(
            role_id=row.role_id,
            user_id=row.actor_id if actor == "user" else None,
            group_id=row.actor_id if actor == "group" else None,
            project_id=row.target_id if target == "project" else None,
            domain_id=row.target_id if target == "domain" else None,
            system=target == SYSTEM,
            inherited=row.inherited,
        )

    def _effective(self, s: Session, grants: list[Grant]) -> list[Grant]:
        # 1. inherited grants apply to every project below their target
        expanded: list[Grant] = []
        for g in grants:
            if not g.inherited:
                expanded.append(g)
                continue
            target_id = g.project_id or g.domain_id
            target = s.get(Project, target_id) if target_id else None
            if target is None:
                continue
            for p in self.identity.resources.subtree(s, target):
                expanded.append(
                    Grant(
                        g.role_id,
                        g.user_id,
                        g.group_id,
                        project_id=p.id,
                        via_group_id=None,
                        inherited_from=("project" if g.project_id else "domain", target.id),
                    )
                )
        # 2. group grants become one grant per member
        users: list[Grant] = []
        for g in expanded:
            if g.group_id is None:
                users.append(g)
                continue
            for user_id in self.identity.users.member_ids(s, g.group_id):
                users.append(
                    Grant(
                        g.role_id,
                        user_id,
                        None,
                        g.project_id,
                        g.domain_id,
                        g.system,
                        False,
                        via_group_id=g.group_id,
                        inherited_from=g.inherited_from,
                    )
                )
        # 3. implied roles
        inferences = self.all_inferences(s)
        out: list[Grant] = []
        for g in users:
            out.append(g)
            frontier = [g.role_id]
            seen = {g.role_id}
            while frontier:
                prior = frontier.pop()
                for implied in inferences.get(prior, []):
                    if implied.id in seen:
                        continue
                    seen.add(implied.id)
                    frontier.append(implied.id)
                    out.append(
                        Grant(
                            implied.id,
                            g.user_id,
                            None,
                            g.project_id,
                            g.domain_id,
                            g.system,
                            False,
                            via_group_id=g.via_group_id,
                            prior_role_id=prior,
                            inherited_from=g.inherited_from,
                        )
                    )
        # domain-specific roles never show up as effective
        return [
            g for g in out if (r := s.get(Role, g.role_id)) is not None and r.domain_id == GLOBAL
        ]

    def _matches(self, s: Session, g: Grant, q: Mapping[str, str]) -> bool:
        if "user.id" in q and g.user_id != q["user.id"]:
            return False
        if "group.id" in q and g.group_id != q["group.id"] and g.via_group_id != q["group.id"]:
            return False
        if "role.id" in q and g.role_id != q["role.id"]:
            return False
        if "scope.system" in q and not g.system:
            return False
        if "scope.domain.id" in q and g.domain_id != q["scope.domain.id"]:
            return False
        if "scope.project.id" in q:
            wanted = {q["scope.project.id"]}
            if "include_subtree" in q and parse_bool(q["include_subtree"], "include_subtree"):
                root = s.get(Project, q["scope.project.id"])
                if root is not None:
                    wanted.update(p.id for p in self.identity.resources.subtree(s, root))
            if g.project_id not in wanted:
                return False
        return not ("scope.OS-INHERIT:inherited_to" in q and not g.inherited)
