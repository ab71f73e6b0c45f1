"""Who is asking: the request context every handler and policy check sees."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nubo.api.microversions import Version


@dataclass(frozen=True)
class AuthInfo:
    """What a validated token says about its bearer."""

    user_id: str
    user_domain_id: str
    roles: tuple[str, ...]  # role names, implied roles included
    role_ids: tuple[str, ...] = ()
    project_id: str | None = None
    project_domain_id: str | None = None
    domain_id: str | None = None
    system_scope: str | None = None  # "all" when system-scoped
    audit_ids: tuple[str, ...] = ()
    expires_at: float = 0.0
    issued_at: float = 0.0
    methods: tuple[str, ...] = ()
    application_credential_id: str | None = None
    trust_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def scope_type(self) -> str | None:
        if self.system_scope:
            return "system"
        if self.project_id:
            return "project"
        if self.domain_id:
            return "domain"
        return None


@dataclass
class RequestContext:
    """Per-request facts: the request id, the raw token and what it grants."""

    request_id: str
    token: str | None = None
    auth: AuthInfo | None = None
    # the negotiated microversion, for services that have them
    microversion: Version | None = None

    @property
    def user_id(self) -> str | None:
        return self.auth.user_id if self.auth else None

    @property
    def project_id(self) -> str | None:
        return self.auth.project_id if self.auth else None

    @property
    def roles(self) -> tuple[str, ...]:
        return self.auth.roles if self.auth else ()

    def credentials(self) -> dict[str, Any]:
        """The facts policy rules may test (``role:``, ``project_id:`` ...)."""
        a = self.auth
        if a is None:
            return {"roles": []}
        return {
            "user_id": a.user_id,
            "user_domain_id": a.user_domain_id,
            "project_id": a.project_id,
            "project_domain_id": a.project_domain_id,
            "domain_id": a.domain_id,
            "system_scope": a.system_scope,
            "roles": list(a.roles),
        }
