"""Unified limits: registered (default) limits and project or domain limits.

The enforcement model is ``flat``: a project's limit does not depend on its
parents or children. A limit overrides the registered limit for the same
service, region and resource, and can only exist while that registered limit
does (as in Keystone), so every limit has a default to fall back on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nubo.api.pagination import Page, apply_filters, paginate
from nubo.db.base import new_id
from nubo.db.helpers import get_or_404
from nubo.errors import BadRequest, Conflict, Forbidden
from nubo.identity.models import CatalogService, Limit, Project, Region, RegisteredLimit

if TYPE_CHECKING:
    from nubo.identity.service import Identity

MODEL = {
    "name": "flat",
    "description": (
        "Limit enforcement and validation does not take project hierarchy into consideration."
    ),
}

Key = tuple[str, str | None, str]  # service_id, region_id, resource_name


def _key(service_id: str, region_id: str | None, resource_name: str) -> Key:
    return (service_id, region_id, resource_name)


class Limits:
    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.db = identity.db

    def _check_service_region(self, s: Session, service_id: str, region_id: str | None) -> None:
        if s.get(CatalogService, service_id) is None:
            raise BadRequest(f"Invalid input for field 'service_id': no service {service_id}.")
        if region_id is not None and s.get(Region, region_id) is None:
            raise BadRequest(f"Invalid input for field 'region_id': no region {region_id}.")

    def _registered(self, s: Session, key: Key) -> RegisteredLimit | None:
        service_id, region_id, resource_name = key
        return s.scalar(
            select(RegisteredLimit).where(
                RegisteredLimit.service_id == service_id,
                RegisteredLimit.region_id.is_(None)
                if region_id is None
                else RegisteredLimit.region_id == region_id,
                RegisteredLimit.resource_name == resource_name,
            )
        )

    def _limits_for(self, s: Session, key: Key) -> list[Limit]:
        service_id, region_id, resource_name = key
        return list(
            s.scalars(
                select(Limit).where(
                    Limit.service_id == service_id,
                    Limit.region_id.is_(None)
                    if region_id is None
                    else Limit.region_id == region_id,
                    Limit.resource_name == resource_name,
                )
            )
        )

    # -- registered limits ---------------------------------------------------------

    def create_registered_limits(self, items: Sequence[Mapping[str, Any]]) -> list[RegisteredLimit]:
        """Create every registered limit in ``items``, or none of them."""
        rows: list[RegisteredLimit] = []
        seen: set[Key] = set()
        with self.db.session() as s:
            for item in items:
                key = _key(item["service_id"], item.get("region_id"), item["resource_name"])
                self._check_service_region(s, key[0], key[1])
                if key in seen or self._registered(s, key) is not None:
                    raise Conflict(_duplicate("registered_limit", key))
                seen.add(key)
                row = RegisteredLimit(
                    id=new_id(),
                    service_id=key[0],
                    region_id=key[1],
                    resource_name=key[2],
                    default_limit=int(item["default_limit"]),
                    description=item.get("description"),
                )
                s.add(row)
                rows.append(row)
        return rows

    def register_defaults(self, service_type: str, defaults: Mapping[str, tuple[int, str]]) -> None:
        """Register a nubo service's default limits where none is registered yet
        (values an operator changed are kept)."""
        with self.db.session() as s:
            service_id = s.scalar(
                select(CatalogService.id).where(CatalogService.type == service_type)
            )
            if service_id is None:
                return
            for resource, (limit, description) in defaults.items():
                if self._registered(s, _key(service_id, None, resource)) is None:
                    s.add(
                        RegisteredLimit(
                            id=new_id(),
                            service_id=service_id,
                            region_id=None,
                            resource_name=resource,
                            default_limit=limit,
                            description=description,
                        )
                    )

    def list_registered_limits(self, query: Mapping[str, str], page: Page) -> list[RegisteredLimit]:
        with self.db.reader() as s:
            stmt = apply_filters(
                select(RegisteredLimit),
                query,
                {
                    "service_id": RegisteredLimit.service_id,
                    "region_id": RegisteredLimit.region_id,
                    "resource_name": RegisteredLimit.resource_name,
                },
            )
            return list(s.scalars(paginate(s, stmt, RegisteredLimit, page)))

    def get_registered_limit(self, limit_id: str) -> RegisteredLimit:
        with self.db.reader() as s:
            return get_or_404(s, RegisteredLimit, limit_id, "registered limit")

    def update_registered_limit(self, limit_id: str, changes: Mapping[str, Any]) -> RegisteredLimit:
        with self.db.session() as s:
            row = get_or_404(s, RegisteredLimit, limit_id, "registered limit")
            old = _key(row.service_id, row.region_id, row.resource_name)
            new = _key(
                changes.get("service_id", row.service_id),
                changes.get("region_id", row.region_id),
                changes.get("resource_name", row.resource_name),
            )
            if new != old:
                self._check_service_region(s, new[0], new[1])
                if self._limits_for(s, old):
                    raise Forbidden(
                        f"Unable to update registered limit {limit_id}: project or domain "
                        "limits refer to its service, region and resource."
                    )
                if self._registered(s, new) is not None:
                    raise Conflict(_duplicate("registered_limit", new))
                row.service_id, row.region_id, row.resource_name = new
            if "default_limit" in changes:
                row.default_limit = int(changes["default_limit"])
            if "description" in changes:
                row.description = changes["description"]
        return row

    def delete_registered_limit(self, limit_id: str) -> None:
        with self.db.session() as s:
            row = get_or_404(s, RegisteredLimit, limit_id, "registered limit")
            if self._limits_for(s, _key(row.service_id, row.region_id, row.resource_name)):
                raise Forbidden(
                    f"Unable to delete registered limit {limit_id}: project or domain "
                    "limits refer to it."
                )
            s.delete(row)

    # -- project and domain limits -------------------------------------------------

    def _check_owner(self, s: Session, project_id: str | None, domain_id: str | None) -> None:
        if (project_id is None) == (domain_id is None):
            raise BadRequest("Invalid input for field 'limits': give a project_id or a domain_id.")
        if project_id is not None:
            project = s.get(Project, project_id)
            if project is None or project.is_domain:
                raise BadRequest(f"Invalid input for field 'project_id': no project {project_id}.")
        if domain_id is not None:
            domain = s.get(Project, domain_id)
            if domain is None or not domain.is_domain:
                raise BadRequest(f"Invalid input for field 'domain_id': no domain {domain_id}.")

    def _existing(
        self, s: Session, project_id: str | None, domain_id: str | None, key: Key
    ) -> Limit | None:
        for row in self._limits_for(s, key):
            if row.project_id == project_id and row.domain_id == domain_id:
                return row
        return None

    def create_limits(self, items: Sequence[Mapping[str, Any]]) -> list[Limit]:
        """Create every limit in ``items``, or none of them."""
        rows: list[Limit] = []
        seen: set[tuple[str | None, str | None, Key]] = set()
        with self.db.session() as s:
            for item in items:
                project_id = item.get("project_id")
                domain_id = item.get("domain_id")
                key = _key(item["service_id"], item.get("region_id"), item["resource_name"])
                self._check_owner(s, project_id, domain_id)
                self._check_service_region(s, key[0], key[1])
                if self._registered(s, key) is None:
                    raise Forbidden(
                        "Unable to create a limit that has no corresponding registered limit "
                        f"(service {key[0]}, region {key[1]}, resource {key[2]})."
                    )
                owner = (project_id, domain_id, key)
                if owner in seen or self._existing(s, project_id, domain_id, key) is not None:
                    raise Conflict(_duplicate("limit", key, project_id or domain_id))
                seen.add(owner)
                row = Limit(
                    id=new_id(),
                    project_id=project_id,
                    domain_id=domain_id,
                    service_id=key[0],
                    region_id=key[1],
                    resource_name=key[2],
                    resource_limit=int(item["resource_limit"]),
                    description=item.get("description"),
                )
                s.add(row)
                rows.append(row)
        return rows

    def list_limits(
        self,
        query: Mapping[str, str],
        page: Page,
        *,
        project_id: str | None = None,
        domain_id: str | None = None,
        everything: bool = False,
    ) -> list[Limit]:
        """Limits matching the filters; unless ``everything``, only those of the caller's
        ``project_id`` or ``domain_id`` (none when it has neither)."""
        with self.db.reader() as s:
            stmt = apply_filters(
                select(Limit),
                query,
                {
                    "service_id": Limit.service_id,
                    "region_id": Limit.region_id,
                    "resource_name": Limit.resource_name,
                    "project_id": Limit.project_id,
                    "domain_id": Limit.domain_id,
                },
            )
            if not everything:
                if project_id is not None:
                    stmt = stmt.where(Limit.project_id == project_id)
                elif domain_id is not None:
                    stmt = stmt.where(Limit.domain_id == domain_id)
                else:
                    return []
            return list(s.scalars(paginate(s, stmt, Limit, page)))

    def get_limit(self, limit_id: str) -> Limit:
        with self.db.reader() as s:
            return get_or_404(s, Limit, limit_id, "limit")

    def update_limit(self, limit_id: str, changes: Mapping[str, Any]) -> Limit:
        with self.db.session() as s:
            row = get_or_404(s, Limit, limit_id, "limit")
            if "resource_limit" in changes:
                row.resource_limit = int(changes["resource_limit"])
            if "description" in changes:
                row.description = changes["description"]
        return row

    def delete_limit(self, limit_id: str) -> None:
        with self.db.session() as s:
            s.delete(get_or_404(s, Limit, limit_id, "limit"))

    # -- for quotas ----------------------------------------------------------------

    def effective_limit(
        self,
        project_id: str,
        service_type: str,
        resource_name: str,
        region: str | None = None,
    ) -> int | None:
        """The limit a project has on a resource: its own limit, else the registered
        default (flat model: parents and domain limits do not apply); a region-specific
        value wins over a region-less one. None when nothing is registered."""
        with self.db.reader() as s:
            service_ids = list(
                s.scalars(select(CatalogService.id).where(CatalogService.type == service_type))
            )
            if not service_ids:
                return None
            regions = [region, None] if region is not None else [None]
            limits: list[Limit] = list(
                s.scalars(
                    select(Limit).where(
                        Limit.service_id.in_(service_ids),
                        Limit.resource_name == resource_name,
                    )
                )
            )
            registered: list[RegisteredLimit] = list(
                s.scalars(
                    select(RegisteredLimit).where(
                        RegisteredLimit.service_id.in_(service_ids),
                        RegisteredLimit.resource_name == resource_name,
                    )
                )
            )
        for wanted_region in regions:
            for row in limits:
                if row.region_id == wanted_region and row.project_id == project_id:
                    return row.resource_limit
        for wanted_region in regions:
            for reg in registered:
                if reg.region_id == wanted_region:
                    return reg.default_limit
        return None


def _duplicate(kind: str, key: Key, owner: str | None = None) -> str:
    service_id, region_id, resource_name = key
    where = f" for {owner}" if owner else ""
    return (
        f"Conflict occurred attempting to store {kind} - Duplicate entry{where}: service "
        f"{service_id}, region {region_id}, resource {resource_name}."
    )
