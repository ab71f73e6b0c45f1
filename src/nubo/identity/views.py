"""How identity resources look on the wire (Keystone v3 bodies)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nubo.identity.auth import isotime
from nubo.identity.models import (
    GLOBAL,
    AccessRule,
    CatalogService,
    Endpoint,
    EndpointGroup,
    Group,
    Limit,
    OAuthConsumer,
    Policy,
    Project,
    Region,
    RegisteredLimit,
    Role,
    Trust,
    User,
)

if TYPE_CHECKING:
    from nubo.identity.credentials import AppCred, Ec2Credential, StoredCredential


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


def trust(base: str, row: Trust) -> dict[str, Any]:
    return {
        **(row.extra or {}),
        "id": row.id,
        "trustor_user_id": row.trustor_user_id,
        "trustee_user_id": row.trustee_user_id,
        "project_id": row.project_id,
        "impersonation": row.impersonation,
        "expires_at": isotime(row.expires_at.timestamp()) if row.expires_at else None,
        "remaining_uses": row.remaining_uses,
        "allow_redelegation": row.allow_redelegation,
        "redelegation_count": 0,
        "redelegated_trust_id": None,
        "links": link(base, "v3/OS-TRUST/trusts", row.id),
    }


def access_rule(base: str, row: AccessRule) -> dict[str, Any]:
    return {
        "id": row.id,
        "service": row.service,
        "path": row.path,
        "method": row.method,
        "links": link(base, "v3/users", row.user_id, "access_rules", row.id),
    }


def application_credential(base: str, cred: AppCred) -> dict[str, Any]:
    """An application credential; the secret only when it was just created."""
    row = cred.row
    out: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "user_id": row.user_id,
        "project_id": row.project_id,
        # Keystone renders this one without the trailing Z
        "expires_at": row.expires_at.strftime("%Y-%m-%dT%H:%M:%S.%f") if row.expires_at else None,
        "unrestricted": row.unrestricted,
        "roles": [
            {
                "id": r.id,
                "name": r.name,
                "domain_id": None if r.domain_id == GLOBAL else r.domain_id,
            }
            for r in cred.roles
        ],
        "access_rules": [
            {"id": r.id, "service": r.service, "path": r.path, "method": r.method}
            for r in cred.access_rules
        ],
        "links": link(base, "v3/users", row.user_id, "application_credentials", row.id),
    }
    if cred.secret is not None:
        out["secret"] = cred.secret
    return out


def credential(base: str, cred: StoredCredential) -> dict[str, Any]:
    return {
        **cred.extra,
        "id": cred.id,
        "user_id": cred.user_id,
        "project_id": cred.project_id,
        "type": cred.type,
        "blob": cred.blob,
        "links": link(base, "v3/credentials", cred.id),
    }


def ec2_credential(base: str, cred: Ec2Credential) -> dict[str, Any]:
    return {
        "user_id": cred.user_id,
        "tenant_id": cred.project_id,
        "access": cred.access,
        "secret": cred.secret,
        "trust_id": cred.trust_id,
        "links": link(base, "v3/users", cred.user_id, "credentials/OS-EC2", cred.access),
    }


def registered_limit(base: str, row: RegisteredLimit) -> dict[str, Any]:
    return {
        "id": row.id,
        "service_id": row.service_id,
        "region_id": row.region_id,
        "resource_name": row.resource_name,
        "default_limit": row.default_limit,
        "description": row.description,
        "links": link(base, "v3/registered_limits", row.id),
    }


def limit(base: str, row: Limit) -> dict[str, Any]:
    return {
        "id": row.id,
        "project_id": row.project_id,
        "domain_id": row.domain_id,
        "service_id": row.service_id,
        "region_id": row.region_id,
        "resource_name": row.resource_name,
        "resource_limit": row.resource_limit,
        "description": row.description,
        "links": link(base, "v3/limits", row.id),
    }


def consumer(base: str, row: OAuthConsumer, secret: str | None = None) -> dict[str, Any]:
    """An OS-OAUTH1 consumer; ``secret`` only in the answer to its creation."""
    out: dict[str, Any] = {
        **(row.extra or {}),
        "id": row.id,
        "description": row.description,
        "links": link(base, "v3/OS-OAUTH1/consumers", row.id),
    }
    if secret is not None:
        out["secret"] = secret
    return out


def endpoint_group(base: str, row: EndpointGroup) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "filters": row.filters or {},
        "links": link(base, "v3/OS-EP-FILTER/endpoint_groups", row.id),
    }


def project_endpoint_group(base: str, group_id: str, project_id: str) -> dict[str, Any]:
    """An endpoint group to project association."""
    return {
        "endpoint_group_id": group_id,
        "project_id": project_id,
        "links": link(base, "v3/OS-EP-FILTER/endpoint_groups", group_id, "projects", project_id),
    }
