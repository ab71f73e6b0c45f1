"""How identity resources look on the wire (Keystone v3 bodies)."""

from __future__ import annotations

from typing import Any

from nubo.identity.auth import isotime
from nubo.identity.models import (
    GLOBAL,
    CatalogService,
    Endpoint,
    Group,
    Policy,
    Project,
    Region,
    Role,
    User,
)


def link(base: str, *parts: str) -> dict[str, str]:
    return {"self": "/".join([base.rstrip("/"), *parts])}


def domain(base: str, row: Project, tags: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        **(row.extra or {}),
        "id": row.id,
        "name": row.name,
        "description": row.description or "",
        "enabled": row.enabled,
        "options": row.options or {},
        "links": link(base, "v3/domains", row.id),
    }
    if tags is not None:
        out["tags"] = tags
    return out


def project(base: str, row: Project, tags: list[str] | None = None) -> dict[str, Any]:
    if row.is_domain:
        out = domain(base, row, tags)
        out.update(
            {
                "is_domain": True,
                "domain_id": None,
                "parent_id": None,
                "links": link(base, "v3/projects", row.id),
            }
        )
        return out
    return {
        **(row.extra or {}),
        "id": row.id,
        "name": row.name,
        "domain_id": row.domain_id,
        "parent_id": row.parent_id,
        "is_domain": False,
        "description": row.description or "",
        "enabled": row.enabled,
        "tags": tags or [],
        "options": row.options or {},
        "links": link(base, "v3/projects", row.id),
    }


def user(base: str, row: User) -> dict[str, Any]:
    out: dict[str, Any] = {
        **(row.extra or {}),
        "id": row.id,
        "name": row.name,
        "domain_id": row.domain_id,
        "enabled": row.enabled,
        "password_expires_at": (
            isotime(row.password_expires_at.timestamp()) if row.password_expires_at else None
        ),
        "options": row.options or {},
        "links": link(base, "v3/users", row.id),
    }
    if row.default_project_id:
        out["default_project_id"] = row.default_project_id
    if row.description is not None:
        out["description"] = row.description
    return out


def group(base: str, row: Group) -> dict[str, Any]:
    return {
        **(row.extra or {}),
        "id": row.id,
        "name": row.name,
        "domain_id": row.domain_id,
        "description": row.description or "",
        "links": link(base, "v3/groups", row.id),
    }


def role(base: str, row: Role) -> dict[str, Any]:
    out: dict[str, Any] = {
        **(row.extra or {}),
        "id": row.id,
        "name": row.name,
        "domain_id": None if row.domain_id == GLOBAL else row.domain_id,
        "description": row.description,
        "options": row.options or {},
        "links": link(base, "v3/roles", row.id),
    }
    return out


def role_ref(base: str, row: Role) -> dict[str, Any]:
    """A role as implied-role documents name it."""
    return {"id": row.id, "name": row.name, "links": link(base, "v3/roles", row.id)}


def region(base: str, row: Region) -> dict[str, Any]:
    return {
        **(row.extra or {}),
        "id": row.id,
        "description": row.description or "",
        "parent_region_id": row.parent_region_id,
        "links": link(base, "v3/regions", row.id),
    }


def service(base: str, row: CatalogService) -> dict[str, Any]:
    return {
        **(row.extra or {}),
        "id": row.id,
        "type": row.type,
        "enabled": row.enabled,
        "links": link(base, "v3/services", row.id),
    }


def endpoint(base: str, row: Endpoint) -> dict[str, Any]:
    return {
        **(row.extra or {}),
        "id": row.id,
        "service_id": row.service_id,
        "interface": row.interface,
        "url": row.url,
        "region_id": row.region_id,
        "region": row.region_id,
        "enabled": row.enabled,
        "links": link(base, "v3/endpoints", row.id),
    }


def policy(base: str, row: Policy) -> dict[str, Any]:
    return {
        **(row.extra or {}),
        "id": row.id,
        "type": row.type,
        "blob": row.blob,
        "links": link(base, "v3/policies", row.id),
    }
