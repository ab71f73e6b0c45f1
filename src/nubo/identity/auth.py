"""Authentication: issuing and validating tokens (password, token and
application-credential methods; unscoped, project, domain and system scope)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nubo.api.context import AuthInfo
from nubo.errors import BadRequest, Forbidden, NotFound, Unauthorized
from nubo.identity.models import ApplicationCredential, Project, Role, User
from nubo.identity.revocations import TokenFacts
from nubo.identity.tokens import TokenPayload, new_audit_id

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

    from nubo.identity.service import Identity

GENERIC_401 = "The request you have made requires authentication."


def isotime(ts: float) -> str:
    """Keystone's timestamp format: 2015-11-09T01:42:57.000000Z."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class ValidatedToken:
    """A token found valid: its payload, what it grants, and its body (no catalog)."""

    payload: TokenPayload
    auth: AuthInfo
    body: dict[str, Any]


@dataclass
class _Scope:
    project_id: str | None = None
    domain_id: str | None = None
    system: bool = False
    trust_id: str | None = None
    # the user the token speaks for (the trustor when a trust impersonates)
    user_id: str | None = None


class Auth:
    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.db = identity.db
        # token -> (identity generation, key set it was decrypted with, when, result)
        self._cache: OrderedDict[str, tuple[int, MultiFernet, float, ValidatedToken]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    # -- issuing -----------------------------------------------------------------

    def authenticate(self, body: Mapping[str, Any]) -> tuple[str, ValidatedToken]:
        """Check the credentials in an auth request and issue a token."""
        auth = body["auth"]
        ident = auth["identity"]
        methods = list(dict.fromkeys(ident["methods"]))
        for m in methods:
            if m not in ("password", "token", "application_credential"):
                raise Unauthorized(f"Attempted to authenticate with an unsupported method: {m}.")
            if m not in ident:
                raise BadRequest(f"Invalid input for field 'identity/{m}': missing.")
        now = time.time()
        expires_at = now + self.identity.config.identity.token_expiration
        audit_ids = [new_audit_id()]
        app_cred: ApplicationCredential | None = None
        user_id: str | None = None
        issued_methods = list(methods)
        if "token" in methods:
            try:
                original = self.validate_full(ident["token"]["id"])
            except Unauthorized as exc:
                # Keystone answers a revoked, expired or forged token here with 404
                raise NotFound(f"Could not find token: {exc.message}") from exc
            if original.payload.application_credential_id:
                raise Forbidden("Application credential tokens cannot be rescoped.")
            if original.payload.trust_id:
                raise Forbidden("Trust-scoped tokens cannot be rescoped.")
            user_id = original.payload.user_id
            expires_at = original.payload.expires_at
            audit_ids.append(
                original.payload.audit_ids[-1] if original.payload.audit_ids else audit_ids[0]
            )
            issued_methods = [*original.payload.methods, "token"]
        if "password" in methods:
            pw_user = self._check_password(ident["password"])
            if user_id is not None and user_id != pw_user:
                raise Unauthorized(GENERIC_401)
            user_id = pw_user
        if "application_credential" in methods:
            app_cred = self._check_app_cred(ident["application_credential"])
            if user_id is not None and user_id != app_cred.user_id:
                raise Unauthorized(GENERIC_401)
            user_id = app_cred.user_id
            if app_cred.expires_at is not None:
                expires_at = min(expires_at, app_cred.expires_at.timestamp())
        assert user_id is not None
        with self.db.reader() as s:
            user = self._usable_user(s, user_id, check_password_expiry="password" in methods)
            scope = self._resolve_scope(s, auth.get("scope"), user, app_cred)
        if scope.trust_id:
            self.identity.trusts.consume(scope.trust_id)
        payload = TokenPayload(
            user_id=scope.user_id or user_id,
            methods=tuple(dict.fromkeys(issued_methods)),
            expires_at=expires_at,
            issued_at=now,
            audit_ids=tuple(audit_ids),
            project_id=scope.project_id,
            domain_id=scope.domain_id,
            system=scope.system,
            application_credential_id=app_cred.id if app_cred else None,
            trust_id=scope.trust_id,
        )
        token = self.identity.formatter.create(payload)
        validated = self._build(payload)
        return token, validated

    def _check_password(self, data: Mapping[str, Any]) -> str:
        spec = data.get("user") or {}
        password = spec.get("password")
        if not isinstance(password, str):
            raise BadRequest(
                "Invalid input for field 'identity/password/user/password': a string is required."
            )
        with self.db.reader() as s:
            user = self._find_user(s, spec)
        return self.identity.users.check_password(user, password).id

    def _find_user(self, s: Session, spec: Mapping[str, Any]) -> User | None:
        if spec.get("id"):
            return s.get(User, spec["id"])
        name = spec.get("name")
        domain = spec.get("domain") or {}
        if not name or not (domain.get("id") or domain.get("name")):
            raise BadRequest(
                "Invalid input for field 'user': a user id, or a name with a "
                "domain id or name, is required."
            )
        domain_id = domain.get("id")
        if domain_id is None:
            domain_id = s.scalar(
                select(Project.id).where(Project.is_domain, Project.name == domain["name"])
            )
        return s.scalar(select(User).where(User.name == name, User.domain_id == domain_id))

    def _check_app_cred(self, data: Mapping[str, Any]) -> ApplicationCredential:
        secret = data.get("secret")
        if not isinstance(secret, str):
            raise BadRequest(
                "Invalid input for field 'application_credential/secret': a string is required."
            )
        with self.db.reader() as s:
            if data.get("id"):
                row = s.get(ApplicationCredential, data["id"])
            else:
                user = self._find_user(s, data.get("user") or {})
                row = (
                    None
                    if user is None
                    else s.scalar(
                        select(ApplicationCredential).where(
                            ApplicationCredential.user_id == user.id,
                            ApplicationCredential.name == data.get("name"),
                        )
                    )
                )
        stored = row.secret_hash if row else None
        if not self.identity.passwords.verify(row.id if row else "", secret, stored):
            raise Unauthorized(GENERIC_401)
        assert isinstance(row, ApplicationCredential)
        if row.expires_at is not None and row.expires_at.timestamp() <= time.time():
            raise Unauthorized("The application credential has expired.")
        return row

    def _usable_user(self, s: Session, user_id: str, check_password_expiry: bool) -> User:
        user = s.get(User, user_id)
        if user is None or not user.enabled:
            raise Unauthorized(GENERIC_401)
        domain = s.get(Project, user.domain_id)
        if domain is None or not domain.enabled:
            raise Unauthorized(GENERIC_401)
        if (
            check_password_expiry
            and user.password_expires_at is not None
            and user.password_expires_at.timestamp() <= time.time()
            and not (user.options or {}).get("ignore_password_expiry")
        ):
            raise Unauthorized(
                f"The password is expired and needs to be changed for user: {user.id}."
            )
        return user

    def _resolve_scope(
        self, s: Session, scope: Any, user: User, app_cred: ApplicationCredential | None
    ) -> _Scope:
        assignments = self.identity.assignments
        resources = self.identity.resources
        if app_cred is not None:
            if scope and (
                not isinstance(scope, Mapping)
                or "project" not in scope
                or (scope["project"].get("id") not in (None, app_cred.project_id))
            ):
                raise Unauthorized("Application credentials cannot request a scope.")
            result = _Scope(project_id=app_cred.project_id)
        elif scope is None or scope == "unscoped":
            result = _Scope()
            if user.default_project_id and scope is None:
                project = s.get(Project, user.default_project_id)
                if (
                    project is not None
                    and project.enabled
                    and not project.is_domain
                    and assignments.effective_role_ids(s, user.id, project_id=project.id)
                ):
                    result = _Scope(project_id=project.id)
            return result
        elif not isinstance(scope, Mapping):
            raise BadRequest("Invalid input for field 'scope'.")
        elif "system" in scope:
            if scope["system"] != {"all": True}:
                raise BadRequest(
                    "Invalid input for field 'scope/system': only {'all': true} is supported."
                )
            result = _Scope(system=True)
        elif "project" in scope:
            spec = scope["project"] or {}
            try:
                if spec.get("id"):
                    project = resources.get_project(s, spec["id"])
                else:
                    dom = spec.get("domain") or {}
                    domain = resources.find_domain(s, id=dom.get("id"), name=dom.get("name"))
                    project = resources.find_project(s, name=spec.get("name"), domain_id=domain.id)
            except NotFound as exc:
                raise Unauthorized(exc.message) from exc
            if project.is_domain:
                result = _Scope(domain_id=project.id)
            else:
                result = _Scope(project_id=project.id)
        elif "domain" in scope:
            spec = scope["domain"] or {}
            try:
                domain = resources.find_domain(s, id=spec.get("id"), name=spec.get("name"))
            except NotFound as exc:
                raise Unauthorized(exc.message) from exc
            result = _Scope(domain_id=domain.id)
        elif "OS-TRUST:trust" in scope:
            result = self._trust_scope(s, scope["OS-TRUST:trust"].get("id"), user)
        else:
            raise BadRequest("Invalid input for field 'scope'.")
        self._facts(s, replace_payload(result.user_id or user.id, result, app_cred))
        return result

    def _trust_scope(self, s: Session, trust_id: str | None, user: User) -> _Scope:
        """A trustee asking for a token on a trust (OS-TRUST)."""
        trusts = self.identity.trusts
        try:
            trust = trusts.usable(s, trust_id or "")
        except Unauthorized as exc:
            raise NotFound(f"Could not find trust: {trust_id}.") from exc
        if trust.trustee_user_id != user.id:
            raise Forbidden("Only the trustee may use a trust.")
        if trust.remaining_uses is not None and trust.remaining_uses <= 0:
            raise Forbidden(f"No remaining uses for trust: {trust.id}.")
        speaks_for = trust.trustor_user_id if trust.impersonation else trust.trustee_user_id
        return _Scope(project_id=trust.project_id, trust_id=trust.id, user_id=speaks_for)

    # -- validating ------------------------------------------------------------------

    def validate(self, token: str) -> AuthInfo:
        """What the API framework calls for every request's X-Auth-Token."""
        return self.validate_full(token).auth

    def validate_full(self, token: str, allow_expired: bool = False) -> ValidatedToken:
        """Validate a token (cached), raising Unauthorized when it is not valid."""
        now = time.time()
        cfg = self.identity.config.identity
        generation = self.identity.generation
        # a new key set (rotation) may have dropped the key a cached token was made with
        keys = self.identity.keys.fernet()
        hit = self._cache.get(token)
        if (
            hit is not None
            and hit[0] == generation
            and hit[1] is keys
            and time.monotonic() - hit[2] < cfg.token_cache_seconds
        ):
            validated = hit[3]
        else:
            payload = self.identity.formatter.parse(token)
            validated = self._build(payload)
            with self._lock:
                self._cache[token] = (generation, keys, time.monotonic(), validated)
                self._cache.move_to_end(token)
                while len(self._cache) > cfg.token_cache_size:
                    self._cache.popitem(last=False)
        expires = validated.payload.expires_at
        window = cfg.allow_expired_window if allow_expired else 0
        if expires + window <= now:
            raise Unauthorized("The token has expired." if not allow_expired else GENERIC_401)
        return validated

    def _facts(self, s: Session, payload: TokenPayload) -> tuple[User, Project | None, set[str]]:
        """Load what a token stands on; raise Unauthorized if any of it is gone."""
        user = self._usable_user(s, payload.user_id, check_password_expiry=False)
        project: Project | None = None
        assignments = self.identity.assignments
        role_ids: set[str] = set()
        if payload.project_id:
            project = s.get(Project, payload.project_id)
            if project is None or not project.enabled:
                raise Unauthorized(f"Project {payload.project_id} is not available.")
            domain = s.get(Project, project.domain_id)
            if domain is None or not domain.enabled:
                raise Unauthorized(f"Domain {project.domain_id} is not available.")
            if payload.trust_id:
                trust = self.identity.trusts.usable(s, payload.trust_id)
                if payload.user_id not in (trust.trustor_user_id, trust.trustee_user_id):
                    raise Unauthorized(GENERIC_401)
                role_ids = self.identity.trusts.role_ids(s, trust)
            else:
                role_ids = assignments.effective_role_ids(s, user.id, project_id=project.id)
        elif payload.domain_id:
            project = s.get(Project, payload.domain_id)
            if project is None or not project.enabled:
                raise Unauthorized(f"Domain {payload.domain_id} is not available.")
            role_ids = assignments.effective_role_ids(s, user.id, domain_id=project.id)
        elif payload.system:
            role_ids = assignments.effective_role_ids(s, user.id, system=True)
        if payload.application_credential_id:
            cred = s.get(ApplicationCredential, payload.application_credential_id)
            if cred is None or cred.user_id != user.id:
                raise Unauthorized("The application credential is no longer valid.")
            role_ids &= assignments.implied_closure(s, cred.role_ids or [])
        scoped = payload.project_id or payload.domain_id or payload.system
        if scoped and not role_ids:
            where = (
                f"project {payload.project_id}"
                if payload.project_id
                else f"domain {payload.domain_id}"
                if payload.domain_id
                else "the system"
            )
            raise Unauthorized(f"User {user.id} has no access to {where}.")
        return user, project, role_ids

    def _build(self, payload: TokenPayload) -> ValidatedToken:
        with self.db.reader() as s:
            user, project, role_ids = self._facts(s, payload)
            user_domain = s.get(Project, user.domain_id)
            roles = self.identity.assignments.token_roles(s, role_ids)
            project_domain = (
                s.get(Project, project.domain_id)
                if (project is not None and not project.is_domain)
                else None
            )
            cred = (
                s.get(ApplicationCredential, payload.application_credential_id)
                if payload.application_credential_id
                else None
            )
            facts = TokenFacts(
                payload,
                user.domain_id,
                project.domain_id if project_domain and project else None,
                frozenset(role_ids),
            )
            if self.identity.revocations.is_revoked(facts):
                raise Unauthorized("The token has been revoked.")
            body = self._body(payload, user, user_domain, project, project_domain, roles, cred)
            if payload.trust_id:
                trust = self.identity.trusts.usable(s, payload.trust_id)
                body["OS-TRUST:trust"] = {
                    "id": trust.id,
                    "impersonation": trust.impersonation,
                    "trustor_user": {"id": trust.trustor_user_id},
                    "trustee_user": {"id": trust.trustee_user_id},
                }
        auth = AuthInfo(
            user_id=user.id,
            user_domain_id=user.domain_id,
            roles=tuple(r.name for r in roles),
            role_ids=tuple(r.id for r in roles),
            project_id=payload.project_id,
            project_domain_id=project.domain_id if project_domain and project else None,
            domain_id=payload.domain_id,
            system_scope="all" if payload.system else None,
            audit_ids=payload.audit_ids,
            expires_at=payload.expires_at,
            issued_at=payload.issued_at,
            methods=payload.methods,
            application_credential_id=payload.application_credential_id,
            trust_id=payload.trust_id,
        )
        return ValidatedToken(payload, auth, body)

    def _body(
        self,
        payload: TokenPayload,
        user: User,
        user_domain: Project | None,
        project: Project | None,
        project_domain: Project | None,
        roles: list[Role],
        cred: ApplicationCredential | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "methods": list(payload.methods),
            "user": {
                "id": user.id,
                "name": user.name,
                "domain": {"id": user.domain_id, "name": user_domain.name if user_domain else ""},
                "password_expires_at": (
                    isotime(user.password_expires_at.timestamp())
                    if user.password_expires_at
                    else None
                ),
            },
            "audit_ids": list(payload.audit_ids),
            "expires_at": isotime(payload.expires_at),
            "issued_at": isotime(payload.issued_at),
        }
        if payload.project_id and project is not None:
            body["project"] = {
                "id": project.id,
                "name": project.name,
                "domain": {
                    "id": project.domain_id,
                    "name": project_domain.name if project_domain else "",
                },
            }
            body["is_domain"] = False
        elif payload.domain_id and project is not None:
            body["domain"] = {"id": project.id, "name": project.name}
        elif payload.system:
            body["system"] = {"all": True}
        if payload.project_id or payload.domain_id or payload.system:
            body["roles"] = [{"id": r.id, "name": r.name} for r in roles]
        if cred is not None:
            body["application_credential"] = {
                "id": cred.id,
                "name": cred.name,
                "restricted": not cred.unrestricted,
            }
        return body

    def token_body(self, validated: ValidatedToken, catalog: bool = True) -> dict[str, Any]:
        body = dict(validated.body)
        scoped = (
            validated.payload.project_id or validated.payload.domain_id or validated.payload.system
        )
        if catalog and scoped:
            body["catalog"] = self.identity.catalog.for_token()
        return {"token": body}

    def revoke(self, token: str) -> None:
        """Revoke one token by its audit id (tokens rescoped from it stay valid, as in Keystone)."""
        validated = self.validate_full(token)
        with self.db.session() as s:
            self.identity.revocations.add(s, audit_id=validated.payload.audit_ids[0])
        self.identity.changed()


def replace_payload(
    user_id: str, scope: _Scope, app_cred: ApplicationCredential | None
) -> TokenPayload:
    """A provisional payload used to check a scope before issuing."""
    return replace(
        TokenPayload(user_id=user_id, methods=(), expires_at=0.0, issued_at=0.0, audit_ids=()),
        project_id=scope.project_id,
        domain_id=scope.domain_id,
        system=scope.system,
        application_credential_id=app_cred.id if app_cred else None,
        trust_id=scope.trust_id,
    )
