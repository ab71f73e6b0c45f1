"""First-start identity data: the default domain, the standard roles, the admin and
demo projects and users, and the identity endpoints in the catalog."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from nubo.db.base import new_id, utcnow
from nubo.identity.models import GLOBAL, Assignment, ImpliedRole, Project, Role, User
from nubo.identity.passwords import verify_password
from nubo.identity.resources import DEFAULT_DOMAIN_ID
from nubo.identity.service import Identity

# admin implies manager implies member implies reader (Keystone 2024.2+); "service" is
# for service users. Clouds bootstrapped before "manager" existed had admin imply member
# directly: that rule goes (RETIRED), as Keystone's bootstrap drops it.
STANDARD_ROLES = ("admin", "manager", "member", "reader", "service")
IMPLIES = (("admin", "manager"), ("manager", "member"), ("member", "reader"))
RETIRED = (("admin", "member"),)


@dataclass
class Account:
    user: str
    password: str
    project: str


@dataclass
class BootstrapResult:
    admin: Account
    demo: Account
    created: bool


def bootstrap(
    identity: Identity,
    admin_password: str,
    demo_password: str,
    say: Callable[[str], None] = lambda _msg: None,
    enforce: frozenset[str] = frozenset(),
) -> BootstrapResult:
    """Create what a fresh cloud needs; a no-op for what already exists.

    An existing account keeps its password unless its name is in ``enforce`` (the
    operator set it in the configuration); a mismatch is reported through ``say``.
    """
    created = False
    with identity.db.session() as s:
        if s.get(Project, DEFAULT_DOMAIN_ID) is None:
            say("creating the Default domain, roles, admin and demo accounts")
            created = True
            s.add(
                Project(
                    id=DEFAULT_DOMAIN_ID,
                    name="Default",
                    domain_id="<<root>>",
                    is_domain=True,
                    enabled=True,
                    description="The default domain",
                    extra={},
                    options={},
                )
            )
        roles: dict[str, str] = {}
        for name in STANDARD_ROLES:
            role = s.scalar(select(Role).where(Role.name == name, Role.domain_id == GLOBAL))
            if role is None:
                role = Role(id=new_id(), name=name, domain_id=GLOBAL, extra={}, options={})
                s.add(role)
            roles[name] = role.id
        s.flush()
        for prior, implied in IMPLIES:
            if s.get(ImpliedRole, (roles[prior], roles[implied])) is None:
                s.add(ImpliedRole(prior_role_id=roles[prior], implied_role_id=roles[implied]))
        for prior, implied in RETIRED:
            old = s.get(ImpliedRole, (roles[prior], roles[implied]))
            if old is not None:
                s.delete(old)
        admin_pw = admin_password or secrets.token_urlsafe(16)
        demo_pw = demo_password or secrets.token_urlsafe(16)
        admin_new = _account(
            identity, s, "admin", admin_pw, roles["admin"], "admin" in enforce, say, system=True
        )
        demo_new = _account(identity, s, "demo", demo_pw, roles["member"], "demo" in enforce, say)
        created = created or admin_new or demo_new
    identity.changed()
    return BootstrapResult(
        Account("admin", admin_pw, "admin"), Account("demo", demo_pw, "demo"), created
    )


def _account(
    identity: Identity,
    s: Session,
    name: str,
    password: str,
    role_id: str,
    enforce: bool,
    say: Callable[[str], None],
    system: bool = False,
) -> bool:
    """The user ``name`` with ``role_id`` on the project of the same name."""
    user_name = project_name = name
    project = s.scalar(
        select(Project).where(Project.name == project_name, Project.domain_id == DEFAULT_DOMAIN_ID)
    )
    if project is None:
        project = Project(
            id=new_id(),
            name=project_name,
            domain_id=DEFAULT_DOMAIN_ID,
            parent_id=DEFAULT_DOMAIN_ID,
            is_domain=False,
            enabled=True,
            description=f"Bootstrap project {project_name}",
            extra={},
            options={},
        )
        s.add(project)
    user = s.scalar(select(User).where(User.name == user_name, User.domain_id == DEFAULT_DOMAIN_ID))
    created = user is None
    if user is None:
        user = User(
            id=new_id(),
            name=user_name,
            domain_id=DEFAULT_DOMAIN_ID,
            enabled=True,
            password_hash=identity.hash_password(password),
            password_created_at=utcnow(),
            default_project_id=project.id,
            extra={},
            options={},
        )
        s.add(user)
    elif not verify_password(password, user.password_hash or ""):
        if enforce:
            user.password_hash = identity.hash_password(password)
            user.password_created_at = utcnow()
            identity.revocations.add(s, user_id=user.id)
            say(f"password of {name} reset from the configuration")
        else:
            say(
                f"warning: the {name} password in clouds.yaml does not match the database "
                f"(changed through the API?); set identity.{name}_password to reset it"
            )
    s.flush()
    grants = [("UserProject", project.id)]
    if system:
        grants.append(("UserSystem", "system"))
    for kind, target in grants:
        key = (kind, user.id, target, role_id, False)
        if s.get(Assignment, key) is None:
            s.add(
                Assignment(
                    type=kind, actor_id=user.id, target_id=target, role_id=role_id, inherited=False
                )
            )
    return created
