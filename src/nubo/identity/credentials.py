"""Application credentials (and their access rules), stored credentials and EC2
credentials.

Application-credential secrets are kept only as bcrypt hashes (``Auth`` checks
them like passwords). Credential blobs are encrypted at rest with the credential
key repository (a MultiFernet: the primary key encrypts, every key decrypts, so
blobs survive a rotation). An EC2 credential is a credential of type ``ec2``
whose blob holds ``access`` and ``secret``; its id is the SHA-256 of the access
key, so it is found by access key without decrypting anything.

Tenant isolation: the owner of a credential tied to a project must hold a role on
that project. Admins may store credentials for anyone anywhere (``is_admin``), but
EC2 credentials made through OS-EC2 always need the owner's role, and a key stops
working for request signing as soon as that role, the user or the project goes.
A token from a restricted application credential cannot mint EC2 credentials.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography.fernet import InvalidToken
from sqlalchemy import select
from sqlalchemy.orm import Session

from nubo.api.context import AuthInfo
from nubo.api.pagination import Page, apply_filters, paginate
from nubo.api.validation import parse_timestamp
from nubo.db.base import new_id, utcnow
from nubo.db.helpers import conflict_on_duplicate, get_or_404
from nubo.errors import BadRequest, Conflict, Forbidden, NotFound, NuboError, Unauthorized
from nubo.identity.models import (
    GLOBAL,
    AccessRule,
    ApplicationCredential,
    Credential,
    Project,
    Role,
    User,
)

if TYPE_CHECKING:
    from nubo.identity.service import Identity

EC2 = "ec2"
CREDENTIAL_FIELDS = frozenset({"id", "user_id", "project_id", "type", "blob", "links"})


@dataclass(frozen=True)
class AppCred:
    """An application credential with its roles and access rules resolved."""

    row: ApplicationCredential
    roles: list[Role]
    access_rules: list[AccessRule]
    secret: str | None = None  # only right after creation


@dataclass(frozen=True)
class StoredCredential:
    """A credential with its blob decrypted."""

    id: str
    user_id: str
    project_id: str | None
    type: str
    blob: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Ec2Credential:
    user_id: str
    project_id: str | None
    access: str
    secret: str
    trust_id: str | None = None


def access_key_id(access: str) -> str:
    """The credential id of an EC2 access key."""
    return hashlib.sha256(access.encode()).hexdigest()


def _generate_secret() -> str:
    # 64 url-safe characters (384 bits): within bcrypt's 72-byte window
    return secrets.token_urlsafe(48)


class Credentials:
    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.db = identity.db

    # -- application credentials ---------------------------------------------

    def check_may_manage_app_creds(self, auth: AuthInfo | None) -> None:
        """A token from a restricted application credential may not create or delete
        application credentials, nor make EC2 credentials (a leaked one must not be
        able to renew itself, or turn into a key with every right of its owner)."""
        if auth is None or not auth.application_credential_id:
            return
        with self.db.reader() as s:
            self._check_unrestricted(s, auth)

    @staticmethod
    def _check_unrestricted(s: Session, auth: AuthInfo | None) -> None:
        if auth is None or not auth.application_credential_id:
            return
        row = s.get(ApplicationCredential, auth.application_credential_id)
        if row is None or not row.unrestricted:
            raise Forbidden(
                "Using method 'application_credential' is not allowed for managing "
                "additional application credentials."
            )

    def create_app_cred(self, user_id: str, data: Mapping[str, Any], auth: AuthInfo) -> AppCred:
        """Create an application credential for the token's own user and project."""
        self.check_may_manage_app_creds(auth)
        if auth.trust_id:
            raise Forbidden("Trust-scoped tokens cannot create application credentials.")
        if auth.user_id != user_id:
            raise Forbidden("Cannot create an application credential for another user.")
        project_id = auth.project_id
        if not project_id:
            raise BadRequest(
                "Application credentials can only be created with a project-scoped token."
            )
        expires_at = None
        if data.get("expires_at"):
            expires_at = parse_timestamp(data["expires_at"], "expires_at")
            if expires_at <= utcnow():
                raise BadRequest(
                    "Invalid input for field 'expires_at': the expiration time is in the past."
                )
        secret = data.get("secret") or _generate_secret()
        # bcrypt is slow on purpose: hash before taking the write lock
        secret_hash = self.identity.hash_password(secret)
        with self.db.session() as s:
            self.identity.users.get(s, user_id)
            roles = self._requested_roles(s, data.get("roles") or [], auth)
            rules = self._access_rules_for(s, user_id, data.get("access_rules") or [])
            row = ApplicationCredential(
                id=new_id(),
                name=data["name"],
                user_id=user_id,
                project_id=project_id,
                secret_hash=secret_hash,
                description=data.get("description"),
                expires_at=expires_at,
                unrestricted=bool(data.get("unrestricted")),
                role_ids=[r.id for r in roles],
                access_rule_ids=[r.id for r in rules],
            )
            with conflict_on_duplicate(
                s,
                "Conflict occurred attempting to store application_credential - "
                f"Duplicate entry found with name {row.name}.",
            ):
                s.add(row)
        self.identity.changed()
        return AppCred(row, roles, rules, secret)

    def _requested_roles(
        self, s: Session, wanted: Sequence[Mapping[str, Any]], auth: AuthInfo
    ) -> list[Role]:
        """The roles asked for (by id or name), each one the creating token carries;
        all of the token's roles when none are asked for."""
        token_roles = set(auth.role_ids)
        if not wanted:
            ids = list(dict.fromkeys(auth.role_ids))
            return self._roles(s, ids)
        roles: dict[str, Role] = {}
        for spec in wanted:
            role: Role | None
            if spec.get("id"):
                role = s.get(Role, spec["id"])
                label = spec["id"]
            elif spec.get("name"):
                domain = spec.get("domain_id") or GLOBAL
                role = s.scalar(
                    select(Role).where(Role.name == spec["name"], Role.domain_id == domain)
                )
                label = spec["name"]
            else:
                raise BadRequest(
                    "Invalid input for field 'roles': each role needs an id or a name."
                )
            if role is None:
                raise BadRequest(f"Invalid input for field 'roles': could not find role {label}.")
            if role.id not in token_roles:
                raise BadRequest(
                    "Cannot create an application credential with unassigned role "
                    f"{role.name}: the token does not carry it."
                )
            roles[role.id] = role
        return list(roles.values())

    def _roles(self, s: Session, role_ids: Iterable[str]) -> list[Role]:
        ids = list(role_ids)
        if not ids:
            return []
        found = {r.id: r for r in s.scalars(select(Role).where(Role.id.in_(ids)))}
        return [found[i] for i in ids if i in found]

    def _access_rules_for(
        self, s: Session, user_id: str, specs: Sequence[Mapping[str, Any]]
    ) -> list[AccessRule]:
        """Resolve access rules: existing ones by id, identical ones reused, new ones added."""
        rules: dict[str, AccessRule] = {}
        for spec in specs:
            rule: AccessRule | None = None
            if spec.get("id"):
                rule = s.get(AccessRule, spec["id"])
                if rule is not None and rule.user_id != user_id:
                    rule = None
                if rule is None and not all(spec.get(k) for k in ("service", "path", "method")):
                    raise BadRequest(
                        f"Invalid input for field 'access_rules': could not find access rule "
                        f"{spec['id']}."
                    )
            if rule is None:
                if not all(spec.get(k) for k in ("service", "path", "method")):
                    raise BadRequest(
                        "Invalid input for field 'access_rules': each rule needs an id, or a "
                        "service, a method and a path."
                    )
                rule = s.scalar(
                    select(AccessRule).where(
                        AccessRule.user_id == user_id,
                        AccessRule.service == spec["service"],
                        AccessRule.path == spec["path"],
                        AccessRule.method == spec["method"],
                    )
                )
            if rule is None:
                rule_id = spec.get("id") or new_id()
                if s.get(AccessRule, rule_id) is not None:
                    raise Conflict(f"An access rule with id {rule_id} already exists.")
                rule = AccessRule(
                    id=rule_id,
                    user_id=user_id,
                    service=spec["service"],
                    path=spec["path"],
                    method=spec["method"],
                )
                s.add(rule)
                s.flush()
            rules[rule.id] = rule
        return list(rules.values())

    def _resolve(self, s: Session, row: ApplicationCredential) -> AppCred:
        rules_by_id = {
            r.id: r
            for r in s.scalars(
                select(AccessRule).where(AccessRule.id.in_(row.access_rule_ids or []))
            )
        }
        rules = [rules_by_id[i] for i in row.access_rule_ids or [] if i in rules_by_id]
        return AppCred(row, self._roles(s, row.role_ids or []), rules)

    def find_app_cred(self, app_cred_id: str) -> ApplicationCredential | None:
        """The row or None (handlers check the owner before saying more)."""
        with self.db.reader() as s:
            row: ApplicationCredential | None = s.get(ApplicationCredential, app_cred_id)
        return row

    def get_app_cred(self, user_id: str, app_cred_id: str) -> AppCred:
        with self.db.reader() as s:
            row = s.get(ApplicationCredential, app_cred_id)
            if row is None or row.user_id != user_id:
                raise NotFound(f"Could not find application credential: {app_cred_id}.")
            return self._resolve(s, row)

    def list_app_creds(self, user_id: str, query: Mapping[str, str], page: Page) -> list[AppCred]:
        with self.db.reader() as s:
            self.identity.users.get(s, user_id)
            stmt = apply_filters(
                select(ApplicationCredential).where(ApplicationCredential.user_id == user_id),
                query,
                {"name": ApplicationCredential.name},
            )
            rows = list(s.scalars(paginate(s, stmt, ApplicationCredential, page)))
            return [self._resolve(s, r) for r in rows]

    def delete_app_cred(self, user_id: str, app_cred_id: str, auth: AuthInfo) -> None:
        """Delete an application credential; tokens issued with it stop working at once."""
        self.check_may_manage_app_creds(auth)
        with self.db.session() as s:
            row = s.get(ApplicationCredential, app_cred_id)
            if row is None or row.user_id != user_id:
                raise NotFound(f"Could not find application credential: {app_cred_id}.")
            s.delete(row)
            self.identity.revocations.add(s, application_credential_id=app_cred_id)
        self.identity.changed()

    # -- access rules ------------------------------------------------------------

    def list_access_rules(self, user_id: str, query: Mapping[str, str]) -> list[AccessRule]:
        with self.db.reader() as s:
            self.identity.users.get(s, user_id)
            stmt = apply_filters(
                select(AccessRule).where(AccessRule.user_id == user_id),
                query,
                {
                    "service": AccessRule.service,
                    "path": AccessRule.path,
                    "method": AccessRule.method,
                },
            )
            return list(s.scalars(stmt.order_by(AccessRule.id)))

    def get_access_rule(self, user_id: str, rule_id: str) -> AccessRule:
        with self.db.reader() as s:
            rule: AccessRule | None = s.get(AccessRule, rule_id)
        if rule is None or rule.user_id != user_id:
            raise NotFound(f"Could not find access rule: {rule_id}.")
        return rule

    def delete_access_rule(self, user_id: str, rule_id: str) -> None:
        with self.db.session() as s:
            rule = s.get(AccessRule, rule_id)
            if rule is None or rule.user_id != user_id:
                raise NotFound(f"Could not find access rule: {rule_id}.")
            for cred in s.scalars(
                select(ApplicationCredential).where(ApplicationCredential.user_id == user_id)
            ):
                if rule_id in (cred.access_rule_ids or []):
                    raise Forbidden(
                        f"Cannot delete access rule {rule_id}: application credential "
                        f"{cred.id} still uses it."
                    )
            s.delete(rule)

    # -- credentials -------------------------------------------------------------

    def _encrypt(self, blob: str) -> str:
        return self.identity.credential_keys.fernet().encrypt(blob.encode()).decode()

    def _decrypt(self, row: Credential) -> str:
        try:
            return (
                self.identity.credential_keys.fernet().decrypt(row.encrypted_blob.encode()).decode()
            )
        except InvalidToken as exc:
            raise NuboError(
                f"Credential {row.id} cannot be decrypted with the current credential keys."
            ) from exc

    def reencrypt_all(self) -> int:
        """Re-encrypt every blob with the primary credential key; returns how many.
        Run it after rotating the credential keys, before the next rotation drops the
        key older blobs were encrypted with (Keystone's ``credential_migrate``)."""
        fernet = self.identity.credential_keys.fernet()
        count = 0
        with self.db.session() as s:
            for row in s.scalars(select(Credential)):
                try:
                    row.encrypted_blob = fernet.rotate(row.encrypted_blob.encode()).decode()
                except InvalidToken as exc:
                    raise NuboError(
                        f"Credential {row.id} cannot be decrypted with the current credential keys."
                    ) from exc
                count += 1
        return count

    def _stored(self, row: Credential) -> StoredCredential:
        return StoredCredential(
            id=row.id,
            user_id=row.user_id,
            project_id=row.project_id,
            type=row.type,
            blob=self._decrypt(row),
            extra=dict(row.extra or {}),
        )

    def _ec2_access(self, blob: str) -> str:
        """The access key of an ec2 blob; a 400 unless the blob is JSON with one."""
        try:
            doc = json.loads(blob)
        except ValueError as exc:
            raise BadRequest("Invalid blob in credential: an ec2 blob must be JSON.") from exc
        access = doc.get("access") if isinstance(doc, dict) else None
        if not isinstance(access, str) or not access:
            raise BadRequest("Invalid blob in credential: an ec2 blob needs an 'access' key.")
        return access

    def _check_refs(self, s: Session, user_id: str | None, project_id: str | None) -> None:
        if user_id is not None and s.get(User, user_id) is None:
            raise NotFound(f"Could not find user: {user_id}.")
        if project_id is not None:
            project = s.get(Project, project_id)
            if project is None or project.is_domain:
                raise NotFound(f"Could not find project: {project_id}.")

    def _check_owner_role(self, s: Session, user_id: str, project_id: str | None) -> None:
        """Forbidden unless ``user_id`` holds a role on ``project_id`` (if any)."""
        if project_id is None:
            return
        if not self.identity.assignments.effective_role_ids(s, user_id, project_id=project_id):
            raise Forbidden(
                f"User {user_id} has no role on project {project_id}; a credential can "
                "only be tied to a project its owner has a role on."
            )

    def create_credential(
        self, data: Mapping[str, Any], *, is_admin: bool = False, auth: AuthInfo | None = None
    ) -> StoredCredential:
        """Store a credential. Unless ``is_admin``, its owner must hold a role on its
        project; ``auth`` (the caller's token) may not be a restricted application
        credential's when the credential is an EC2 one."""
        kind = data["type"]
        blob = data["blob"]
        project_id = data.get("project_id")
        access: str | None = None
        cred_id = new_id()
        if kind == EC2:
            self.check_may_manage_app_creds(auth)
            access = self._ec2_access(blob)
            if not project_id:
                raise BadRequest("Invalid input for field 'project_id': ec2 credentials need one.")
            cred_id = access_key_id(access)
        with self.db.session() as s:
            self._check_refs(s, data["user_id"], project_id)
            if not is_admin:
                self._check_owner_role(s, data["user_id"], project_id)
            if s.get(Credential, cred_id) is not None:
                raise Conflict(
                    f"Conflict occurred attempting to store credential - Duplicate ID, {cred_id}."
                )
            row = Credential(
                id=cred_id,
                user_id=data["user_id"],
                project_id=project_id,
                type=kind,
                encrypted_blob=self._encrypt(blob),
                access_key=access,
                extra={k: v for k, v in data.items() if k not in CREDENTIAL_FIELDS},
            )
            s.add(row)
        return StoredCredential(row.id, row.user_id, project_id, kind, blob, dict(row.extra))

    def list_credentials(self, query: Mapping[str, str], page: Page) -> list[StoredCredential]:
        """Credentials matching the ``user_id`` and ``type`` filters in ``query``."""
        with self.db.reader() as s:
            stmt = apply_filters(
                select(Credential),
                query,
                {"user_id": Credential.user_id, "type": Credential.type},
            )
            rows = list(s.scalars(paginate(s, stmt, Credential, page)))
        return [self._stored(r) for r in rows]

    def find_credential(self, credential_id: str) -> Credential | None:
        with self.db.reader() as s:
            row: Credential | None = s.get(Credential, credential_id)
        return row

    def get_credential(self, credential_id: str) -> StoredCredential:
        with self.db.reader() as s:
            row = get_or_404(s, Credential, credential_id, "credential")
        return self._stored(row)

    def update_credential(
        self,
        credential_id: str,
        changes: Mapping[str, Any],
        *,
        is_admin: bool = False,
        auth: AuthInfo | None = None,
    ) -> StoredCredential:
        """Change a credential. Only admins (``is_admin``) may hand it to another user
        or project; nobody else may touch one tied to a project its owner has no role
        on; a restricted application credential's token may not touch EC2 ones."""
        with self.db.session() as s:
            row = get_or_404(s, Credential, credential_id, "credential")
            blob = changes["blob"] if "blob" in changes else self._decrypt(row)
            kind = changes.get("type", row.type)
            user_id = changes.get("user_id", row.user_id)
            project_id = changes.get("project_id", row.project_id)
            if kind == EC2 or row.type == EC2:
                self._check_unrestricted(s, auth)
            if not is_admin:
                for name, old, new in (
                    ("user_id", row.user_id, user_id),
                    ("project_id", row.project_id, project_id),
                ):
                    if new != old:
                        raise Forbidden(f"Only an admin may change the {name} of a credential.")
            self._check_refs(s, changes.get("user_id"), changes.get("project_id"))
            if not is_admin:
                self._check_owner_role(s, user_id, project_id)
            access: str | None = None
            if kind == EC2:
                access = self._ec2_access(blob)
                if not project_id:
                    raise BadRequest(
                        "Invalid input for field 'project_id': ec2 credentials need one."
                    )
            if "user_id" in changes:
                row.user_id = changes["user_id"]
            row.type = kind
            row.project_id = project_id
            row.access_key = access
            if "blob" in changes:
                row.encrypted_blob = self._encrypt(blob)
            extra = dict(row.extra or {})
            extra.update({k: v for k, v in changes.items() if k not in CREDENTIAL_FIELDS})
            row.extra = extra
        return StoredCredential(row.id, row.user_id, row.project_id, row.type, blob, extra)

    def delete_credential(self, credential_id: str) -> None:
        with self.db.session() as s:
            s.delete(get_or_404(s, Credential, credential_id, "credential"))

    # -- EC2 credentials ---------------------------------------------------------

    def _ec2(self, row: Credential) -> Ec2Credential:
        try:
            doc = json.loads(self._decrypt(row))
        except ValueError:
            doc = {}
        doc = doc if isinstance(doc, dict) else {}
        return Ec2Credential(
            user_id=row.user_id,
            project_id=row.project_id,
            access=str(doc.get("access") or row.access_key or ""),
            secret=str(doc.get("secret") or ""),
            trust_id=doc.get("trust_id"),
        )

    def create_ec2(
        self, user_id: str, project_id: str, auth: AuthInfo | None = None
    ) -> Ec2Credential:
        """A new random access/secret pair for ``user_id`` on ``project_id``, which the
        user must hold a role on (whoever asks); ``auth`` (the caller's token) may not
        be a restricted application credential's."""
        self.check_may_manage_app_creds(auth)
        access = secrets.token_hex(16)
        secret = secrets.token_hex(16)
        blob = json.dumps({"access": access, "secret": secret, "trust_id": None})
        with self.db.session() as s:
            self.identity.users.get(s, user_id)
            self._check_refs(s, None, project_id)
            self._check_owner_role(s, user_id, project_id)
            s.add(
                Credential(
                    id=access_key_id(access),
                    user_id=user_id,
                    project_id=project_id,
                    type=EC2,
                    encrypted_blob=self._encrypt(blob),
                    access_key=access,
                    extra={},
                )
            )
        return Ec2Credential(user_id, project_id, access, secret)

    def list_ec2(self, user_id: str) -> list[Ec2Credential]:
        with self.db.reader() as s:
            self.identity.users.get(s, user_id)
            rows = list(
                s.scalars(
                    select(Credential)
                    .where(Credential.user_id == user_id, Credential.type == EC2)
                    .order_by(Credential.id)
                )
            )
        return [self._ec2(r) for r in rows]

    def find_ec2(self, access: str) -> Credential | None:
        """The ec2 credential row of an access key, or None."""
        with self.db.reader() as s:
            # an ec2 credential's id is the hash of its first access key; the key
            # itself may change later (Keystone keeps the id), so look it up by key
            row: Credential | None = s.scalar(
                select(Credential).where(Credential.access_key == access, Credential.type == EC2)
            )
        return row

    def get_ec2(self, user_id: str, access: str) -> Ec2Credential:
        row = self.find_ec2(access)
        if row is None or row.user_id != user_id:
            raise NotFound(f"Could not find EC2 access key: {access}.")
        return self._ec2(row)

    def delete_ec2(self, user_id: str, access: str) -> None:
        with self.db.session() as s:
            row = s.get(Credential, access_key_id(access))
            if row is None or row.type != EC2 or row.user_id != user_id:
                raise NotFound(f"Could not find EC2 access key: {access}.")
            s.delete(row)

    def ec2_by_access(self, access: str) -> tuple[str, str, str]:
        """``(user_id, project_id, secret)`` of an EC2 access key, for request signing
        (S3); NotFound when no such key exists, Unauthorized when it may no longer be
        used: its user or project (or their domain) is gone or disabled, or the user
        holds no role on the project any more."""
        with self.db.reader() as s:
            row = s.scalar(
                select(Credential).where(Credential.access_key == access, Credential.type == EC2)
            )
            if row is None:
                raise NotFound(f"Could not find EC2 access key: {access}.")
            if not self._ec2_usable(s, row.user_id, row.project_id):
                # the same answer whatever the reason: the caller has not proven yet
                # that it knows the secret
                raise Unauthorized("The EC2 credential is no longer valid.")
            cred = self._ec2(row)
        return cred.user_id, cred.project_id or "", cred.secret

    def _ec2_usable(self, s: Session, user_id: str, project_id: str | None) -> bool:
        user = s.get(User, user_id)
        if user is None or not user.enabled or not self._enabled_domain(s, user.domain_id):
            return False
        if project_id is None:
            return False
        project = s.get(Project, project_id)
        if (
            project is None
            or project.is_domain
            or not project.enabled
            or not self._enabled_domain(s, project.domain_id)
        ):
            return False
        return bool(self.identity.assignments.effective_role_ids(s, user_id, project_id=project_id))

    @staticmethod
    def _enabled_domain(s: Session, domain_id: str) -> bool:
        domain = s.get(Project, domain_id)
        return domain is not None and domain.enabled
