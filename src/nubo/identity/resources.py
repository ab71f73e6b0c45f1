"""Domains and projects (a domain is a project with ``is_domain``), with hierarchy and tags."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from nubo.api.pagination import Page, apply_filters, paginate
from nubo.db.base import new_id
from nubo.db.helpers import conflict_on_duplicate, flush_or_conflict, get_or_404, merge_options
from nubo.errors import BadRequest, Forbidden, NotFound
from nubo.identity.models import (
    ROOT_DOMAIN,
    ApplicationCredential,
    Assignment,
    Group,
    Limit,
    Project,
    ProjectTag,
    Role,
    Trust,
    User,
)

if TYPE_CHECKING:
    from nubo.identity.service import Identity

MAX_TREE_DEPTH = 5
DEFAULT_DOMAIN_ID = "default"


class Resources:
    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.db = identity.db

    # -- domains ---------------------------------------------------------------

    def get_domain(self, s: Session, domain_id: str) -> Project:
        row = s.get(Project, domain_id)
        if row is None or not row.is_domain:
            raise NotFound(f"Could not find domain: {domain_id}.")
        return row

    def find_domain(self, s: Session, *, id: str | None = None, name: str | None = None) -> Project:
        if id is not None:
            return self.get_domain(s, id)
        row = s.scalar(select(Project).where(Project.is_domain, Project.name == name))
        if row is None:
            raise NotFound(f"Could not find domain: {name}.")
        return row

    def create_domain(self, data: Mapping[str, Any], domain_id: str | None = None) -> Project:
        with self.db.session() as s:
            row = Project(
                id=domain_id or new_id(),
                name=data["name"],
                domain_id=ROOT_DOMAIN,
                parent_id=None,
                is_domain=True,
                enabled=data.get("enabled", True),
                description=data.get("description"),
                extra=_extra(data, DOMAIN_FIELDS),
                options=data.get("options") or {},
            )
            with conflict_on_duplicate(
                s,
                "Conflict occurred attempting to store domain - "
                f"Duplicate entry found with name {row.name}.",
            ):
                s.add(row)
            self._set_tags(s, row.id, data.get("tags"))
        self.identity.changed()
        return row

    def list_domains(self, query: Mapping[str, str], page: Page) -> list[Project]:
        with self.db.reader() as s:
            stmt = select(Project).where(Project.is_domain)
            stmt = apply_filters(stmt, query, {"name": Project.name, "enabled": Project.enabled})
            return list(s.scalars(paginate(s, stmt, Project, page)))

    def update_domain(self, domain_id: str, changes: Mapping[str, Any]) -> Project:
        with self.db.session() as s:
            row = self.get_domain(s, domain_id)
            if domain_id == DEFAULT_DOMAIN_ID and changes.get("enabled") is False:
                raise Forbidden("The default domain cannot be disabled.")
            disabling = row.enabled and changes.get("enabled") is False
            self._apply(row, changes, DOMAIN_FIELDS)
            flush_or_conflict(
                s,
                "Conflict occurred attempting to update domain - "
                f"Duplicate entry found with name {row.name}.",
            )
            if disabling:
                self.identity.revocations.add(s, domain_id=domain_id)
        self.identity.changed()
        return row

    def delete_domain(self, domain_id: str) -> None:
        with self.db.session() as s:
            row = self.get_domain(s, domain_id)
            if row.enabled:
                raise Forbidden("Cannot delete a domain that is enabled, please disable it first.")
            projects = list(s.scalars(select(Project.id).where(Project.domain_id == domain_id)))
            users = list(s.scalars(select(User.id).where(User.domain_id == domain_id)))
            groups = list(s.scalars(select(Group.id).where(Group.domain_id == domain_id)))
            targets = [*projects, domain_id]
            actors = [*users, *groups]
            s.execute(delete(Assignment).where(Assignment.target_id.in_(targets)))
            s.execute(delete(Assignment).where(Assignment.actor_id.in_(actors)))
            s.execute(delete(Limit).where(Limit.project_id.in_(projects)))
            s.execute(delete(Limit).where(Limit.domain_id == domain_id))
            s.execute(delete(User).where(User.domain_id == domain_id))
            s.execute(delete(Group).where(Group.domain_id == domain_id))
            s.execute(delete(Role).where(Role.domain_id == domain_id))
            s.execute(delete(ProjectTag).where(ProjectTag.project_id.in_(projects)))
            s.execute(delete(Project).where(Project.domain_id == domain_id))
            s.delete(row)
            self.identity.revocations.add(s, domain_id=domain_id)
        self.identity.changed()

    # -- projects --------------------------------------------------------------

    def get_project(self, s: Session, project_id: str) -> Project:
        row = s.get(Project, project_id)
        if row is None:
            raise NotFound(f"Could not find project: {project_id}.")
        return row

    def find_project(
        self,
        s: Session,
        *,
        id: str | None = None,
        name: str | None = None,
        domain_id: str | None = None,
    ) -> Project:
        if id is not None:
            return self.get_project(s, id)
        row = s.scalar(select(Project).where(Project.name == name, Project.domain_id == domain_id))
        if row is None:
            raise NotFound(f"Could not find project: {name}.")
        return row

    def create_project(self, data: Mapping[str, Any], default_domain_id: str) -> Project:
        if data.get("is_domain"):
            if data.get("parent_id"):
                raise BadRequest("A project acting as a domain cannot have a parent.")
            return self.create_domain(data)
        with self.db.session() as s:
            domain_id = data.get("domain_id")
            parent_id = data.get("parent_id")
            if parent_id:
                parent = self.get_project(s, parent_id)
                if domain_id and domain_id != (parent.id if parent.is_domain else parent.domain_id):
                    raise BadRequest("Cannot create a project in a domain other than its parent's.")
                domain_id = parent.id if parent.is_domain else parent.domain_id
                if not parent.is_domain and self._depth(s, parent) + 1 > MAX_TREE_DEPTH:
                    raise Forbidden(f"Max hierarchy depth reached for {parent_id} branch.")
            domain_id = domain_id or default_domain_id
            domain = s.get(Project, domain_id)
            if domain is None or not domain.is_domain:
                raise NotFound(f"Could not find domain: {domain_id}.")
            row = Project(
                id=new_id(),
                name=data["name"],
                domain_id=domain_id,
                parent_id=parent_id or domain_id,
                is_domain=False,
                enabled=data.get("enabled", True),
                description=data.get("description"),
                extra=_extra(data, PROJECT_FIELDS),
                options=data.get("options") or {},
            )
            with conflict_on_duplicate(
                s,
                "Conflict occurred attempting to store project - Duplicate entry found "
                f"with name {row.name} at domain ID {domain_id}.",
            ):
                s.add(row)
            self._set_tags(s, row.id, data.get("tags"))
        self.identity.changed()
        return row

    def _depth(self, s: Session, project: Project) -> int:
        depth = 1
        while project.parent_id and project.parent_id != project.domain_id:
            parent = s.get(Project, project.parent_id)
            if parent is None:
                break
            project = parent
            depth += 1
        return depth

    def list_projects(
        self,
        query: Mapping[str, str],
        page: Page,
        tags: Mapping[str, list[str]] | None = None,
    ) -> list[Project]:
        with self.db.reader() as s:
            is_domain = query.get("is_domain", "false").lower() in ("1", "true")
            stmt = select(Project).where(Project.is_domain == is_domain)
            stmt = apply_filters(
                stmt,
                query,
                {
                    "name": Project.name,
                    "enabled": Project.enabled,
                    "domain_id": Project.domain_id,
                    "parent_id": Project.parent_id,
                },
            )
            stmt = self._tag_filters(stmt, tags or {})
            return list(s.scalars(paginate(s, stmt, Project, page)))

    def _tag_filters(self, stmt: Any, tags: Mapping[str, list[str]]) -> Any:
        def having(names: list[str]) -> Any:
            return (
                select(ProjectTag.project_id)
                .where(ProjectTag.name.in_(names))
                .group_by(ProjectTag.project_id)
                .having(func.count(ProjectTag.name) == len(set(names)))
            )

        def any_of(names: list[str]) -> Any:
            return select(ProjectTag.project_id).where(ProjectTag.name.in_(names))

        if tags.get("tags"):
            stmt = stmt.where(Project.id.in_(having(tags["tags"])))
        if tags.get("tags-any"):
            stmt = stmt.where(Project.id.in_(any_of(tags["tags-any"])))
        if tags.get("not-tags"):
            stmt = stmt.where(Project.id.not_in(having(tags["not-tags"])))
        if tags.get("not-tags-any"):
            stmt = stmt.where(Project.id.not_in(any_of(tags["not-tags-any"])))
        return stmt

    def _is_domain(self, project_id: str) -> bool:
        with self.db.reader() as s:
            return self.get_project(s, project_id).is_domain

    def update_project(self, project_id: str, changes: Mapping[str, Any]) -> Project:
        if self._is_domain(project_id):
            return self.update_domain(project_id, changes)
        with self.db.session() as s:
            row = self.get_project(s, project_id)
            if "domain_id" in changes and changes["domain_id"] != row.domain_id:
                raise BadRequest("Cannot change the domain_id of a project.")
            if "parent_id" in changes and changes["parent_id"] != row.parent_id:
                raise Forbidden("Cannot change the parent of a project.")
            if "is_domain" in changes and changes["is_domain"] != row.is_domain:
                raise BadRequest("Cannot change is_domain of a project.")
            disabling = row.enabled and changes.get("enabled") is False
            if disabling and self._children(s, row.id, enabled_only=True):
                raise Forbidden(
                    f"Cannot disable project {row.id} since its subtree contains enabled projects."
                )
            enabling = not row.enabled and changes.get("enabled") is True
            if enabling and row.parent_id and row.parent_id != row.domain_id:
                parent = s.get(Project, row.parent_id)
                if parent is not None and not parent.enabled:
                    raise Forbidden(
                        f"Cannot enable project {row.id} since it has disabled parents."
                    )
            self._apply(row, changes, PROJECT_FIELDS)
            flush_or_conflict(
                s,
                "Conflict occurred attempting to update project - Duplicate entry found "
                f"with name {row.name} at domain ID {row.domain_id}.",
            )
            if "tags" in changes:
                self._set_tags(s, row.id, changes["tags"])
            if disabling:
                self.identity.revocations.add(s, project_id=row.id)
        self.identity.changed()
        return row

    def delete_project(self, project_id: str) -> None:
        if self._is_domain(project_id):
            self.delete_domain(project_id)
            return
        with self.db.session() as s:
            row = self.get_project(s, project_id)
            if self._children(s, row.id):
                raise Forbidden(
                    f"Cannot delete the project {row.id} since it is not a leaf "
                    "in the hierarchy. Use the cascade option if you want to "
                    "delete a whole subtree."
                )
            s.execute(delete(Assignment).where(Assignment.target_id == row.id))
            s.execute(delete(Limit).where(Limit.project_id == row.id))
            s.execute(delete(Trust).where(Trust.project_id == row.id))
            s.execute(
                delete(ApplicationCredential).where(ApplicationCredential.project_id == row.id)
            )
            s.delete(row)
            self.identity.revocations.add(s, project_id=row.id)
        self.identity.changed()

    def _children(self, s: Session, project_id: str, enabled_only: bool = False) -> list[Project]:
        stmt = select(Project).where(Project.parent_id == project_id, ~Project.is_domain)
        if enabled_only:
            stmt = stmt.where(Project.enabled)
        return list(s.scalars(stmt))

    def parents(self, s: Session, project: Project) -> list[Project]:
        """Ancestors of a project below its domain, nearest first."""
        out: list[Project] = []
        current = project
        while current.parent_id and current.parent_id != current.domain_id:
            parent = s.get(Project, current.parent_id)
            if parent is None:
                break
            out.append(parent)
            current = parent
        return out

    def subtree(self, s: Session, project: Project) -> list[Project]:
        """Descendants of a project (or of a domain: all its projects), breadth first."""
        out: list[Project] = []
        frontier = [project.id]
        while frontier:
            children = list(
                s.scalars(
                    select(Project).where(Project.parent_id.in_(frontier), ~Project.is_domain)
                )
            )
            out.extend(children)
            frontier = [c.id for c in children]
        return out

    # -- tags ------------------------------------------------------------------

    def tags(self, s: Session, project_id: str) -> list[str]:
        return sorted(s.scalars(select(ProjectTag.name).where(ProjectTag.project_id == project_id)))

    def _set_tags(self, s: Session, project_id: str, tags: list[str] | None) -> None:
        if tags is None:
            return
        s.execute(delete(ProjectTag).where(ProjectTag.project_id == project_id))
        for name in dict.fromkeys(tags):
            s.add(ProjectTag(project_id=project_id, name=name))

    def replace_tags(self, project_id: str, tags: list[str]) -> list[str]:
        with self.db.session() as s:
            get_or_404(s, Project, project_id, "project")
            self._set_tags(s, project_id, tags)
            s.flush()
            result = self.tags(s, project_id)
        self.identity.changed()
        return result

    def add_tag(self, project_id: str, tag: str) -> None:
        with self.db.session() as s:
            get_or_404(s, Project, project_id, "project")
            if tag not in self.tags(s, project_id):
                if len(self.tags(s, project_id)) >= 80:
                    raise BadRequest("A project can have at most 80 tags.")
                s.add(ProjectTag(project_id=project_id, name=tag))
        self.identity.changed()

    def remove_tag(self, project_id: str, tag: str) -> None:
        with self.db.session() as s:
            get_or_404(s, Project, project_id, "project")
            row = s.get(ProjectTag, (project_id, tag))
            if row is None:
                raise NotFound(f"Could not find tag: {tag}.")
            s.delete(row)
        self.identity.changed()

    def has_tag(self, project_id: str, tag: str) -> bool:
        with self.db.reader() as s:
            get_or_404(s, Project, project_id, "project")
            return s.get(ProjectTag, (project_id, tag)) is not None

    # -- helpers ---------------------------------------------------------------

    def _apply(self, row: Project, changes: Mapping[str, Any], fields: frozenset[str]) -> None:
        for key in ("name", "description", "enabled"):
            if key in changes:
                setattr(row, key, changes[key])
        if "options" in changes:
            row.options = merge_options(row.options, changes["options"])
        extra = dict(row.extra or {})
        extra.update(_extra(changes, fields))
        row.extra = extra


DOMAIN_FIELDS = frozenset(
    {
        "id",
        "name",
        "description",
        "enabled",
        "options",
        "tags",
        "is_domain",
        "parent_id",
        "domain_id",
        "links",
        "explicit_domain_id",
    }
)
PROJECT_FIELDS = DOMAIN_FIELDS


def _extra(data: Mapping[str, Any], fields: frozenset[str]) -> dict[str, Any]:
    """Keystone keeps unknown attributes of a resource and returns them as given."""
    return {k: v for k, v in data.items() if k not in fields}
