"""Users, passwords, groups and group membership."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from nubo.api.pagination import Page, apply_filters, paginate
from nubo.db.base import new_id, utcnow
from nubo.db.helpers import (
    add_if_absent,
    conflict_on_duplicate,
    flush_or_conflict,
    get_or_404,
    merge_options,
)
from nubo.errors import BadRequest, Forbidden, NotFound, Unauthorized
from nubo.identity.models import (
    ApplicationCredential,
    Assignment,
    Credential,
    Group,
    Membership,
    PasswordHistory,
    Project,
    Trust,
    User,
)
from nubo.identity.passwords import MAX_PASSWORD_BYTES, verify_password

if TYPE_CHECKING:
    from nubo.identity.service import Identity

USER_FIELDS = frozenset(
    {
        "id",
        "name",
        "domain_id",
        "enabled",
        "password",
        "default_project_id",
        "description",
        "options",
        "links",
        "password_expires_at",
    }
)
GROUP_FIELDS = frozenset({"id", "name", "domain_id", "description", "links"})
USER_OPTIONS = frozenset(
    {
        "ignore_change_password_upon_first_use",
        "ignore_password_expiry",
        "ignore_lockout_failure_attempts",
        "lock_password",
        "multi_factor_auth_rules",
        "multi_factor_auth_enabled",
        "ignore_user_inactivity",
    }
)


def _check_password_length(password: str | None, field: str) -> None:
    """bcrypt reads only the first 72 bytes: refuse longer passwords rather than let
    every password sharing those bytes log in."""
    if password and len(password.encode()) > MAX_PASSWORD_BYTES:
        raise BadRequest(
            f"Invalid input for field '{field}': a password is at most "
            f"{MAX_PASSWORD_BYTES} bytes long."
        )


class Users:
    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.db = identity.db

    # -- users -----------------------------------------------------------------

    def get(self, s: Session, user_id: str) -> User:
        return get_or_404(s, User, user_id, "user")

    def find(
        self,
        s: Session,
        *,
        id: str | None = None,
        name: str | None = None,
        domain_id: str | None = None,
    ) -> User | None:
        if id is not None:
            return s.get(User, id)
        return s.scalar(select(User).where(User.name == name, User.domain_id == domain_id))

    def _check_domain(self, s: Session, domain_id: str) -> None:
        domain = s.get(Project, domain_id)
        if domain is None or not domain.is_domain:
            raise NotFound(f"Could not find domain: {domain_id}.")

    def _check_options(self, options: Mapping[str, Any] | None) -> None:
        unknown = sorted(set(options or {}) - USER_OPTIONS)
        if unknown:
            raise BadRequest(f"Invalid input for field 'options': unknown option {unknown[0]}.")

    def _password_expiry(self, options: Mapping[str, Any]) -> dt.datetime | None:
        days = self.identity.config.identity.password_expires_days
        if not days or options.get("ignore_password_expiry"):
            return None
        return utcnow() + dt.timedelta(days=days)

    def create(self, data: Mapping[str, Any], default_domain_id: str) -> User:
        self._check_options(data.get("options"))
        password = data.get("password")
        _check_password_length(password, "user/password")
        hashed = self.identity.hash_password(password) if password else None
        with self.db.session() as s:
            domain_id = data.get("domain_id") or default_domain_id
            self._check_domain(s, domain_id)
            options = dict(data.get("options") or {})
            row = User(
                id=new_id(),
                name=data["name"],
                domain_id=domain_id,
                enabled=data.get("enabled", True),
                password_hash=hashed,
                password_created_at=utcnow() if hashed else None,
                password_expires_at=self._password_expiry(options) if hashed else None,
                default_project_id=data.get("default_project_id"),
                description=data.get("description"),
                extra={k: v for k, v in data.items() if k not in USER_FIELDS},
                options=options,
            )
            with conflict_on_duplicate(
                s,
                "Conflict occurred attempting to store user - Duplicate entry found with "
                f"name {row.name} at domain ID {domain_id}.",
            ):
                s.add(row)
            if hashed:
                s.add(PasswordHistory(user_id=row.id, password_hash=hashed))
        self.identity.changed()
        return row

    def list_users(
        self, query: Mapping[str, str], page: Page, group_id: str | None = None
    ) -> list[User]:
        with self.db.reader() as s:
            stmt = select(User)
            filters: dict[str, Any] = dict(query)
            stmt = apply_filters(
                stmt,
                filters,
                {"name": User.name, "domain_id": User.domain_id, "enabled": User.enabled},
            )
            if group_id is not None:
                get_or_404(s, Group, group_id, "group")
                stmt = stmt.join(Membership, Membership.user_id == User.id).where(
                    Membership.group_id == group_id
                )
            return list(s.scalars(paginate(s, stmt, User, page)))

    def update(self, user_id: str, changes: Mapping[str, Any]) -> User:
        self._check_options(changes.get("options"))
        password = changes.get("password")
        _check_password_length(password, "user/password")
        hashed = self.identity.hash_password(password) if password else None
        with self.db.session() as s:
            row = self.get(s, user_id)
            if "domain_id" in changes and changes["domain_id"] != row.domain_id:
                raise BadRequest("Cannot change the domain_id of a user.")
            disabling = row.enabled and changes.get("enabled") is False
            for key in ("name", "enabled", "default_project_id", "description"):
                if key in changes:
                    setattr(row, key, changes[key])
            if "options" in changes:
                row.options = merge_options(row.options, changes["options"])
            extra = dict(row.extra or {})
            extra.update({k: v for k, v in changes.items() if k not in USER_FIELDS})
            row.extra = extra
            if hashed:
                self._set_password(s, row, hashed)
            flush_or_conflict(
                s,
                "Conflict occurred attempting to update user - Duplicate entry found with "
                f"name {row.name} at domain ID {row.domain_id}.",
            )
            if disabling or hashed:
                self.identity.revocations.add(s, user_id=row.id)
        self.identity.changed()
        return row

    def _set_password(self, s: Session, row: User, hashed: str) -> None:
        row.password_hash = hashed
        row.password_created_at = utcnow()
        row.password_expires_at = self._password_expiry(row.options or {})
        row.failed_auth_count = 0
        row.failed_auth_at = None
        s.add(PasswordHistory(user_id=row.id, password_hash=hashed))

    def check_password(self, user: User | None, password: str) -> User:
        """The one password check (login and own password change): the same 401 for an
        unknown user and a wrong password, failed attempts counted, lockout honoured."""
        stored = user.password_hash if user else None
        locked = user is not None and self.locked_out(user)
        if not self.identity.passwords.verify(user.id if user else "", password, stored):
            if user is not None:
                self.record_failed_login(user.id)
            raise Unauthorized("The request you have made requires authentication.")
        assert user is not None
        if locked:
            # the right password does not open a locked account until the lock expires
            raise Unauthorized("The request you have made requires authentication.")
        if user.failed_auth_count:
            self.clear_failed_logins(user.id)
        return user

    def change_password(self, user_id: str, original: str, new: str) -> None:
        """A user changing their own password: the original is the credential."""
        _check_password_length(new, "user/password")
        with self.db.reader() as s:
            found = s.get(User, user_id)
            # an unknown or disabled user gets the same 401 as a wrong password
            usable = found if found is not None and found.enabled else None
        row = self.check_password(usable, original)
        with self.db.reader() as s:
            if (row.options or {}).get("lock_password"):
                raise Forbidden(
                    "You cannot change your password at this time due to password "
                    "policy disallowing password changes."
                )
            min_age = self.identity.config.identity.minimum_password_age
            if (
                min_age
                and row.password_created_at
                and (utcnow() - row.password_created_at < dt.timedelta(days=min_age))
            ):
                raise BadRequest(
                    "You cannot change your password at this time due to the minimum password age."
                )
            self._check_history(s, row.id, new)
        hashed = self.identity.hash_password(new)
        with self.db.session() as s:
            row = self.get(s, user_id)
            self._set_password(s, row, hashed)
            self.identity.revocations.add(s, user_id=row.id)
        self.identity.changed()

    def _check_history(self, s: Session, user_id: str, new: str) -> None:
        """Refuse reusing one of the last N passwords (self-service changes only)."""
        count = self.identity.config.identity.unique_last_password_count
        if count <= 1:
            return
        recent = s.scalars(
            select(PasswordHistory.password_hash)
            .where(PasswordHistory.user_id == user_id)
            .order_by(PasswordHistory.id.desc())
            .limit(count)
        )
        if any(verify_password(new, old) for old in recent):
            raise BadRequest(
                "The new password cannot be identical to a previous password: it must differ "
                f"from the last {count} passwords."
            )

    # -- lockout ---------------------------------------------------------------

    def locked_out(self, row: User) -> bool:
        """Whether failed logins have locked this user out right now."""
        cfg = self.identity.config.identity
        if cfg.lockout_failure_attempts <= 0 or row.failed_auth_at is None:
            return False
        if (row.options or {}).get("ignore_lockout_failure_attempts"):
            return False
        if row.failed_auth_count < cfg.lockout_failure_attempts:
            return False
        return utcnow() < row.failed_auth_at + dt.timedelta(seconds=cfg.lockout_duration)

    def record_failed_login(self, user_id: str) -> None:
        cfg = self.identity.config.identity
        if cfg.lockout_failure_attempts <= 0:
            return
        now = utcnow()
        # counted in SQL, so concurrent guesses cannot overwrite each other's count
        with self.db.session() as s:
            s.execute(  # a lock that has run out starts the count afresh
                update(User)
                .where(
                    User.id == user_id,
                    User.failed_auth_count >= cfg.lockout_failure_attempts,
                    User.failed_auth_at < now - dt.timedelta(seconds=cfg.lockout_duration),
                )
                .values(failed_auth_count=0)
            )
            s.execute(
                update(User)
                .where(User.id == user_id)
                .values(failed_auth_count=User.failed_auth_count + 1, failed_auth_at=now)
            )

    def clear_failed_logins(self, user_id: str) -> None:
        with self.db.session() as s:
            row = s.get(User, user_id)
            if row is not None:
                row.failed_auth_count = 0
                row.failed_auth_at = None

    def delete(self, user_id: str) -> None:
        with self.db.session() as s:
            row = self.get(s, user_id)
            s.execute(delete(Assignment).where(Assignment.actor_id == user_id))
            s.execute(delete(Membership).where(Membership.user_id == user_id))
            s.execute(delete(ApplicationCredential).where(ApplicationCredential.user_id == user_id))
            s.execute(delete(Credential).where(Credential.user_id == user_id))
            s.execute(delete(PasswordHistory).where(PasswordHistory.user_id == user_id))
            s.execute(
                delete(Trust).where(
                    or_(Trust.trustor_user_id == user_id, Trust.trustee_user_id == user_id)
                )
            )
            s.delete(row)
            self.identity.revocations.add(s, user_id=user_id)
        self.identity.changed()

    # -- groups ----------------------------------------------------------------

    def get_group(self, s: Session, group_id: str) -> Group:
        return get_or_404(s, Group, group_id, "group")

    def create_group(self, data: Mapping[str, Any], default_domain_id: str) -> Group:
        with self.db.session() as s:
            domain_id = data.get("domain_id") or default_domain_id
            self._check_domain(s, domain_id)
            row = Group(
                id=new_id(),
                name=data["name"],
                domain_id=domain_id,
                description=data.get("description"),
                extra={k: v for k, v in data.items() if k not in GROUP_FIELDS},
            )
            with conflict_on_duplicate(
                s,
                "Conflict occurred attempting to store group - Duplicate entry found with "
                f"name {row.name} at domain ID {domain_id}.",
            ):
                s.add(row)
        self.identity.changed()
        return row

    def list_groups(
        self, query: Mapping[str, str], page: Page, user_id: str | None = None
    ) -> list[Group]:
        with self.db.reader() as s:
            stmt = apply_filters(
                select(Group), query, {"name": Group.name, "domain_id": Group.domain_id}
            )
            if user_id is not None:
                self.get(s, user_id)
                stmt = stmt.join(Membership, Membership.group_id == Group.id).where(
                    Membership.user_id == user_id
                )
            return list(s.scalars(paginate(s, stmt, Group, page)))

    def update_group(self, group_id: str, changes: Mapping[str, Any]) -> Group:
        with self.db.session() as s:
            row = self.get_group(s, group_id)
            if "domain_id" in changes and changes["domain_id"] != row.domain_id:
                raise BadRequest("Cannot change the domain_id of a group.")
            for key in ("name", "description"):
                if key in changes:
                    setattr(row, key, changes[key])
            extra = dict(row.extra or {})
            extra.update({k: v for k, v in changes.items() if k not in GROUP_FIELDS})
            row.extra = extra
            flush_or_conflict(
                s,
                "Conflict occurred attempting to update group - Duplicate entry found with "
                f"name {row.name} at domain ID {row.domain_id}.",
            )
        self.identity.changed()
        return row

    def delete_group(self, group_id: str) -> None:
        with self.db.session() as s:
            row = self.get_group(s, group_id)
            members = list(
                s.scalars(select(Membership.user_id).where(Membership.group_id == group_id))
            )
            had_roles = (
                s.scalar(select(Assignment.role_id).where(Assignment.actor_id == group_id).limit(1))
                is not None
            )
            s.execute(delete(Assignment).where(Assignment.actor_id == group_id))
            s.execute(delete(Membership).where(Membership.group_id == group_id))
            s.delete(row)
            if had_roles:
                for user_id in members:
                    self.identity.revocations.add(s, user_id=user_id)
        self.identity.changed()

    def add_member(self, group_id: str, user_id: str) -> None:
        with self.db.session() as s:
            self.get_group(s, group_id)
            self.get(s, user_id)
            add_if_absent(s, Membership(user_id=user_id, group_id=group_id))
        self.identity.changed()

    def is_member(self, group_id: str, user_id: str) -> bool:
        with self.db.reader() as s:
            self.get_group(s, group_id)
            self.get(s, user_id)
            return s.get(Membership, (user_id, group_id)) is not None

    def remove_member(self, group_id: str, user_id: str) -> None:
        with self.db.session() as s:
            self.get_group(s, group_id)
            self.get(s, user_id)
            row = s.get(Membership, (user_id, group_id))
            if row is None:
                raise NotFound(f"Could not find user: {user_id} in group {group_id}.")
            s.delete(row)
            self.identity.revocations.add(s, user_id=user_id)
        self.identity.changed()

    def group_ids(self, s: Session, user_id: str) -> list[str]:
        return list(s.scalars(select(Membership.group_id).where(Membership.user_id == user_id)))

    def member_ids(self, s: Session, group_id: str) -> list[str]:
        return list(s.scalars(select(Membership.user_id).where(Membership.group_id == group_id)))
