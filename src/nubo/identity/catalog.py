"""Regions, services and endpoints, the catalog tokens carry, and policy blobs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from nubo.api.pagination import Page, apply_filters, paginate
from nubo.db.base import new_id
from nubo.db.helpers import conflict_on_duplicate, get_or_404
from nubo.errors import BadRequest, Conflict, Forbidden, NotFound
from nubo.identity.models import CatalogService, Endpoint, Policy, Region

if TYPE_CHECKING:
    from nubo.identity.service import Identity

INTERFACES = ("public", "internal", "admin")
SERVICE_FIELDS = frozenset({"id", "type", "enabled", "links"})
ENDPOINT_FIELDS = frozenset(
    {"id", "service_id", "interface", "url", "region_id", "region", "enabled", "links"}
)
REGION_FIELDS = frozenset({"id", "description", "parent_region_id", "links"})
POLICY_FIELDS = frozenset({"id", "type", "blob", "links"})


class Catalog:
    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.db = identity.db
        self._cache: tuple[int, list[dict[str, Any]]] | None = None

    # -- regions ---------------------------------------------------------------

    def create_region(self, data: Mapping[str, Any], region_id: str | None = None) -> Region:
        with self.db.session() as s:
            rid = region_id or data.get("id") or new_id()
            if s.get(Region, rid) is not None:
                raise Conflict(
                    f"Conflict occurred attempting to store region - Duplicate ID, {rid}."
                )
            parent = data.get("parent_region_id")
            if parent is not None:
                get_or_404(s, Region, parent, "region")
            row = Region(
                id=rid,
                description=data.get("description") or "",
                parent_region_id=parent,
                extra={k: v for k, v in data.items() if k not in REGION_FIELDS},
            )
            # the check above can lose a race with another writer on PostgreSQL
            with conflict_on_duplicate(
                s, f"Conflict occurred attempting to store region - Duplicate ID, {rid}."
            ):
                s.add(row)
        self.identity.changed()
        return row

    def list_regions(self, query: Mapping[str, str], page: Page) -> list[Region]:
        with self.db.reader() as s:
            stmt = apply_filters(
                select(Region), query, {"parent_region_id": Region.parent_region_id}
            )
            return list(s.scalars(paginate(s, stmt, Region, page)))

    def update_region(self, region_id: str, changes: Mapping[str, Any]) -> Region:
        with self.db.session() as s:
            row = get_or_404(s, Region, region_id, "region")
            if "parent_region_id" in changes:
                parent = changes["parent_region_id"]
                if parent is not None:
                    get_or_404(s, Region, parent, "region")
                    ancestor: str | None = parent
                    while ancestor is not None:
                        if ancestor == region_id:
                            raise BadRequest(
                                f"Region {parent} cannot be the parent of "
                                f"{region_id}: it would form a cycle."
                            )
                        up = s.get(Region, ancestor)
                        ancestor = up.parent_region_id if up else None
                row.parent_region_id = parent
            if "description" in changes:
                row.description = changes["description"] or ""
            extra = dict(row.extra or {})
            extra.update({k: v for k, v in changes.items() if k not in REGION_FIELDS})
            row.extra = extra
        self.identity.changed()
        return row

    def delete_region(self, region_id: str) -> None:
        with self.db.session() as s:
            row = get_or_404(s, Region, region_id, "region")
            if s.scalar(select(Region.id).where(Region.parent_region_id == region_id).limit(1)):
                raise Forbidden(
                    "Unable to delete region "
                    f"{region_id} because it or its child regions have associated "
                    "endpoints."
                )
            if s.scalar(select(Endpoint.id).where(Endpoint.region_id == region_id).limit(1)):
                raise Forbidden(
                    f"Unable to delete region {region_id} because it or its child "
                    "regions have associated endpoints."
                )
            s.delete(row)
        self.identity.changed()

    # -- services --------------------------------------------------------------

    def create_service(self, data: Mapping[str, Any]) -> CatalogService:
        with self.db.session() as s:
            row = CatalogService(
                id=new_id(),
                type=data["type"],
                enabled=data.get("enabled", True),
                extra={k: v for k, v in data.items() if k not in SERVICE_FIELDS},
            )
            s.add(row)
        self.identity.changed()
        return row

    def list_services(self, query: Mapping[str, str], page: Page) -> list[CatalogService]:
        with self.db.reader() as s:
            stmt = apply_filters(select(CatalogService), query, {"type": CatalogService.type})
            rows = list(s.scalars(paginate(s, stmt, CatalogService, page)))
        if "name" in query:
            rows = [r for r in rows if (r.extra or {}).get("name") == query["name"]]
        return rows

    def update_service(self, service_id: str, changes: Mapping[str, Any]) -> CatalogService:
        with self.db.session() as s:
            row = get_or_404(s, CatalogService, service_id, "service")
            if "type" in changes:
                row.type = changes["type"]
            if "enabled" in changes:
                row.enabled = changes["enabled"]
            extra = dict(row.extra or {})
            extra.update({k: v for k, v in changes.items() if k not in SERVICE_FIELDS})
            row.extra = extra
        self.identity.changed()
        return row

    def delete_service(self, service_id: str) -> None:
        with self.db.session() as s:
            row = get_or_404(s, CatalogService, service_id, "service")
            s.execute(delete(Endpoint).where(Endpoint.service_id == service_id))
            s.delete(row)
        self.identity.changed()

    # -- endpoints -------------------------------------------------------------

    def _endpoint_fields(self, s: Session, row: Endpoint, data: Mapping[str, Any]) -> None:
        if "service_id" in data:
            get_or_404(s, CatalogService, data["service_id"], "service")
            row.service_id = data["service_id"]
        if "interface" in data:
            if data["interface"] not in INTERFACES:
                raise BadRequest(
                    f"Invalid input for field 'interface': {data['interface']!r} "
                    f"is not one of {', '.join(INTERFACES)}."
                )
            row.interface = data["interface"]
        if "url" in data:
            row.url = data["url"]
        region = data.get("region_id", data.get("region"))
        if "region_id" in data or "region" in data:
            if region is not None and s.get(Region, region) is None:
                if "region_id" in data:
                    raise BadRequest(f"Region {region} does not exist.")
                # the legacy "region" attribute creates its region, as in Keystone
                s.add(Region(id=region, description="", extra={}))
            row.region_id = region
        if "enabled" in data:
            row.enabled = data["enabled"]
        extra = dict(row.extra or {})
        extra.update({k: v for k, v in data.items() if k not in ENDPOINT_FIELDS})
        row.extra = extra

    def create_endpoint(self, data: Mapping[str, Any]) -> Endpoint:
        with self.db.session() as s:
            row = Endpoint(id=new_id(), enabled=True, extra={})
            self._endpoint_fields(s, row, data)
            s.add(row)
        self.identity.changed()
        return row

    def list_endpoints(self, query: Mapping[str, str], page: Page) -> list[Endpoint]:
        with self.db.reader() as s:
            stmt = apply_filters(
                select(Endpoint),
                query,
                {
                    "interface": Endpoint.interface,
                    "service_id": Endpoint.service_id,
                    "region_id": Endpoint.region_id,
                },
            )
            return list(s.scalars(paginate(s, stmt, Endpoint, page)))

    def update_endpoint(self, endpoint_id: str, changes: Mapping[str, Any]) -> Endpoint:
        with self.db.session() as s:
            row = get_or_404(s, Endpoint, endpoint_id, "endpoint")
            self._endpoint_fields(s, row, changes)
        self.identity.changed()
        return row

    def delete_endpoint(self, endpoint_id: str) -> None:
        with self.db.session() as s:
            s.delete(get_or_404(s, Endpoint, endpoint_id, "endpoint"))
        self.identity.changed()

    # -- the catalog in tokens -------------------------------------------------

    def for_token(self) -> list[dict[str, Any]]:
        """Enabled services with their enabled endpoints, in Keystone's token format."""
        generation = self.identity.generation
        cached = self._cache
        if cached and cached[0] == generation:
            return cached[1]
        with self.db.reader() as s:
            services = list(s.scalars(select(CatalogService).where(CatalogService.enabled)))
            endpoints = list(s.scalars(select(Endpoint).where(Endpoint.enabled)))
        catalog = []
        for svc in sorted(services, key=lambda x: x.type):
            eps = [
                {
                    "id": e.id,
                    "interface": e.interface,
                    "region": e.region_id,
                    "region_id": e.region_id,
                    "url": e.url,
                }
                for e in endpoints
                if e.service_id == svc.id
            ]
            catalog.append(
                {
                    "id": svc.id,
                    "type": svc.type,
                    "name": (svc.extra or {}).get("name", ""),
                    "endpoints": eps,
                }
            )
        self._cache = (generation, catalog)
        return catalog

    def register(self, service_type: str, name: str, url: str, region: str) -> None:
        """Make sure a nubo service is in the catalog with public/internal/admin endpoints
        at ``url`` (updated when the base URL changed)."""
        with self.db.session() as s:
            if s.get(Region, region) is None:
                s.add(Region(id=region, description="", extra={}))
            svc = s.scalar(select(CatalogService).where(CatalogService.type == service_type))
            if svc is None:
                svc = CatalogService(
                    id=new_id(), type=service_type, enabled=True, extra={"name": name}
                )
                s.add(svc)
                s.flush()
            existing = {
                e.interface: e
                for e in s.scalars(
                    select(Endpoint).where(
                        Endpoint.service_id == svc.id, Endpoint.region_id == region
                    )
                )
            }
            for interface in INTERFACES:
                ep = existing.get(interface)
                if ep is None:
                    s.add(
                        Endpoint(
                            id=new_id(),
                            service_id=svc.id,
                            interface=interface,
                            url=url,
                            region_id=region,
                            enabled=True,
                            extra={},
                        )
                    )
                elif ep.url != url:
                    ep.url = url
        self.identity.changed()

    # -- policies (stored blobs) -----------------------------------------------

    def create_policy(self, data: Mapping[str, Any]) -> Policy:
        with self.db.session() as s:
            row = Policy(
                id=new_id(),
                type=data["type"],
                blob=data["blob"],
                extra={k: v for k, v in data.items() if k not in POLICY_FIELDS},
            )
            s.add(row)
        return row

    def list_policies(self, query: Mapping[str, str], page: Page) -> list[Policy]:
        with self.db.reader() as s:
            stmt = apply_filters(select(Policy), query, {"type": Policy.type})
            return list(s.scalars(paginate(s, stmt, Policy, page)))

    def get_policy(self, policy_id: str) -> Policy:
        with self.db.reader() as s:
            return get_or_404(s, Policy, policy_id, "policy")

    def update_policy(self, policy_id: str, changes: Mapping[str, Any]) -> Policy:
        with self.db.session() as s:
            row = get_or_404(s, Policy, policy_id, "policy")
            for key in ("type", "blob"):
                if key in changes:
                    setattr(row, key, changes[key])
            extra = dict(row.extra or {})
            extra.update({k: v for k, v in changes.items() if k not in POLICY_FIELDS})
            row.extra = extra
        return row

    def delete_policy(self, policy_id: str) -> None:
        with self.db.session() as s:
            row = s.get(Policy, policy_id)
            if row is None:
                raise NotFound(f"Could not find policy: {policy_id}.")
            s.delete(row)
