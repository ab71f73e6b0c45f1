"""Keystone v3 extensions: OS-OAUTH1 consumers, domain-specific configuration and
OS-EP-FILTER (endpoint groups and project-endpoint associations). No HTTP in here.

Rows that name a domain, project, endpoint or endpoint group go away with it: the
tables reference them with ``ON DELETE CASCADE``, so the resource managers need no
hooks (a service's endpoints cascade in turn). Nothing here changes what tokens
carry (the token catalog is not filtered by OS-EP-FILTER, as in Keystone's default
catalog driver), so writes leave the identity generation alone.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from nubo.api.pagination import Page, apply_filters, paginate
from nubo.db.base import new_id
from nubo.db.helpers import add_if_absent, get_or_404
from nubo.errors import BadRequest, Forbidden, NotFound
from nubo.identity.models import (
    DomainConfigOption,
    Endpoint,
    EndpointGroup,
    OAuthConsumer,
    Project,
    ProjectEndpoint,
    ProjectEndpointGroup,
)

if TYPE_CHECKING:
    from nubo.identity.service import Identity

CONSUMER_FIELDS = frozenset({"id", "description", "secret", "links"})

# Options a domain may override, with the value a domain without its own setting
# gets (Keystone's defaults for these options).
CONFIG_DEFAULTS: dict[str, dict[str, Any]] = {
    "identity": {"driver": "sql", "list_limit": None},
    "ldap": {
        "url": "ldap://localhost",
        "user": None,
        "suffix": "cn=example,cn=com",
        "query_scope": "one",
        "page_size": 0,
        "alias_dereferencing": "default",
        "debug_level": None,
        "chase_referrals": None,
        "user_tree_dn": None,
        "user_filter": None,
        "user_objectclass": "inetOrgPerson",
        "user_id_attribute": "cn",
        "user_name_attribute": "sn",
        "user_mail_attribute": "mail",
        "user_description_attribute": "description",
        "user_pass_attribute": "userPassword",
        "user_enabled_attribute": "enabled",
        "user_enabled_invert": False,
        "user_enabled_mask": 0,
        "user_enabled_default": "True",
        "user_attribute_ignore": ["default_project_id"],
        "user_default_project_id_attribute": None,
        "user_enabled_emulation": False,
        "user_enabled_emulation_dn": None,
        "user_enabled_emulation_use_group_config": False,
        "user_additional_attribute_mapping": [],
        "group_tree_dn": None,
        "group_filter": None,
        "group_objectclass": "groupOfNames",
        "group_id_attribute": "cn",
        "group_name_attribute": "ou",
        "group_members_are_ids": False,
        "group_member_attribute": "member",
        "group_desc_attribute": "description",
        "group_attribute_ignore": [],
        "group_additional_attribute_mapping": [],
        "tls_cacertfile": None,
        "tls_cacertdir": None,
        "use_tls": False,
        "tls_req_cert": "demand",
        "use_pool": True,
        "pool_size": 10,
        "pool_retry_max": 3,
        "pool_retry_delay": 0.1,
        "pool_connection_timeout": -1,
        "pool_connection_lifetime": 600,
        "use_auth_pool": True,
        "auth_pool_size": 100,
        "auth_pool_connection_lifetime": 60,
    },
}
# Stored, usable by substitution in other options, but never shown.
SENSITIVE_OPTIONS: dict[str, frozenset[str]] = {
    "identity": frozenset(),
    "ldap": frozenset({"password"}),
}

Config = dict[str, dict[str, Any]]


def invalid_config(reason: str) -> Forbidden:
    """Keystone answers unsupported domain configuration with a 403."""
    return Forbidden(f"Invalid domain specific configuration: {reason}.")


def config_not_found(domain_id: str, what: str) -> NotFound:
    return NotFound(f"Could not find {what} in domain configuration for domain {domain_id}.")


def _check_group_and_option(group: str | None, option: str | None = None) -> None:
    if group is None:
        return
    if group not in CONFIG_DEFAULTS:
        raise invalid_config(f"Group {group} is not supported for domain specific configurations")
    if option is not None and not (
        option in CONFIG_DEFAULTS[group] or option in SENSITIVE_OPTIONS[group]
    ):
        raise invalid_config(
            f"Option {option} in group {group} is not supported for domain specific configurations"
        )


def _check_config(config: Mapping[str, Any]) -> None:
    if not config:
        raise invalid_config("No options specified")
    for group, options in config.items():
        if not options or not isinstance(options, dict):
            raise invalid_config(
                f"The value of group {group} specified in the config should be a "
                "dictionary of options"
            )
        for option in options:
            _check_group_and_option(group, option)


def _what(group: str | None, option: str | None) -> str:
    if option is not None:
        return f"option {option} in group {group}"
    if group is not None:
        return f"group {group}"
    return "any options"


class Extensions:
    """OS-OAUTH1 consumers, domain configuration and OS-EP-FILTER."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.db = identity.db

    # -- OS-OAUTH1 consumers ---------------------------------------------------

    def create_consumer(self, data: Mapping[str, Any]) -> tuple[OAuthConsumer, str]:
        """A new consumer and its secret (shown to the caller this once)."""
        secret = secrets.token_hex(16)
        encrypted = self.identity.credential_keys.fernet().encrypt(secret.encode()).decode()
        with self.db.session() as s:
            row = OAuthConsumer(
                id=new_id(),
                description=data.get("description"),
                encrypted_secret=encrypted,
                extra={k: v for k, v in data.items() if k not in CONSUMER_FIELDS},
            )
            s.add(row)
        return row, secret

    def list_consumers(self, query: Mapping[str, str], page: Page) -> list[OAuthConsumer]:
        with self.db.reader() as s:
            stmt = apply_filters(
                select(OAuthConsumer), query, {"description": OAuthConsumer.description}
            )
            return list(s.scalars(paginate(s, stmt, OAuthConsumer, page)))

    def get_consumer(self, consumer_id: str) -> OAuthConsumer:
        with self.db.reader() as s:
            return get_or_404(s, OAuthConsumer, consumer_id, "consumer")

    def consumer_secret(self, consumer_id: str) -> str:
        """The consumer's secret in clear (for OAuth1 request signing)."""
        row = self.get_consumer(consumer_id)
        return (
            self.identity.credential_keys.fernet().decrypt(row.encrypted_secret.encode()).decode()
        )

    def update_consumer(self, consumer_id: str, changes: Mapping[str, Any]) -> OAuthConsumer:
        if "secret" in changes:
            raise BadRequest("Cannot change consumer secret.")
        if "id" in changes and changes["id"] != consumer_id:
            raise BadRequest("Cannot change the id of a consumer.")
        with self.db.session() as s:
            row = get_or_404(s, OAuthConsumer, consumer_id, "consumer")
            if "description" in changes:
                row.description = changes["description"]
            extra = dict(row.extra or {})
            extra.update({k: v for k, v in changes.items() if k not in CONSUMER_FIELDS})
            row.extra = extra
        return row

    def delete_consumer(self, consumer_id: str) -> None:
        with self.db.session() as s:
            s.delete(get_or_404(s, OAuthConsumer, consumer_id, "consumer"))

    # -- domain configuration --------------------------------------------------

    @staticmethod
    def _domain(s: Session, domain_id: str) -> Project:
        row = s.get(Project, domain_id)
        if row is None or not row.is_domain:
            raise NotFound(f"Could not find domain: {domain_id}.")
        return row

    @staticmethod
    def _options(
        s: Session,
        domain_id: str,
        group: str | None = None,
        option: str | None = None,
        sensitive: bool | None = False,
    ) -> list[DomainConfigOption]:
        stmt = select(DomainConfigOption).where(DomainConfigOption.domain_id == domain_id)
        if group is not None:
            stmt = stmt.where(DomainConfigOption.group_name == group)
        if option is not None:
            stmt = stmt.where(DomainConfigOption.option_name == option)
        if sensitive is not None:
            stmt = stmt.where(DomainConfigOption.sensitive == sensitive)
        return list(s.scalars(stmt))

    @staticmethod
    def _as_config(rows: list[DomainConfigOption]) -> Config:
        config: Config = {}
        for row in sorted(rows, key=lambda r: (r.group_name, r.option_name)):
            config.setdefault(row.group_name, {})[row.option_name] = row.value
        return config

    @staticmethod
    def _store(s: Session, domain_id: str, config: Mapping[str, Mapping[str, Any]]) -> None:
        for group, options in config.items():
            for option, value in options.items():
                s.merge(
                    DomainConfigOption(
                        domain_id=domain_id,
                        group_name=group,
                        option_name=option,
                        value=value,
                        sensitive=option in SENSITIVE_OPTIONS[group],
                    )
                )

    def create_domain_config(
        self, domain_id: str, config: Mapping[str, Any]
    ) -> tuple[Config, bool]:
        """Replace the domain's whole configuration; returns it (without sensitive
        options) and whether the domain had none before."""
        _check_config(config)
        with self.db.session() as s:
            self._domain(s, domain_id)
            created = not self._options(s, domain_id, sensitive=None)
            s.execute(delete(DomainConfigOption).where(DomainConfigOption.domain_id == domain_id))
            s.flush()
            self._store(s, domain_id, config)
            s.flush()
            result = self._as_config(self._options(s, domain_id))
        return result, created

    def get_domain_config(
        self, domain_id: str, group: str | None = None, option: str | None = None
    ) -> dict[str, Any]:
        """The whole configuration, one group of it, or ``{option: value}``."""
        _check_group_and_option(group, option)
        with self.db.reader() as s:
            self._domain(s, domain_id)
            rows = self._options(s, domain_id, group, option)
        if not rows:
            raise config_not_found(domain_id, _what(group, option))
        if option is not None:
            return {option: rows[0].value}
        return dict(self._as_config(rows))

    def update_domain_config(
        self,
        domain_id: str,
        config: Mapping[str, Any],
        group: str | None = None,
        option: str | None = None,
    ) -> Config:
        """Merge ``config`` into the domain's configuration. With a group (and option)
        in the path, the body must hold just that group (option), which must exist.
        Returns the whole configuration."""
        if group is not None and option is not None:
            # the body of an option update is {option: value}
            config = {group: dict(config)}
        _check_config(config)
        _check_group_and_option(group, option)
        if group is not None:
            if len(config) != 1 or (option is not None and len(config.get(group, {})) != 1):
                if option is not None:
                    raise invalid_config(
                        f"Trying to update option {option} in group {group}, so that, and "
                        "only that, option must be specified in the config"
                    )
                raise invalid_config(
                    f"Trying to update group {group}, so that, and only that, group must "
                    "be specified in the config"
                )
            if group not in config:
                raise invalid_config(
                    f"request to update group {group}, but config provided contains group "
                    f"{next(iter(config))} instead"
                )
            if option is not None and option not in config[group]:
                raise invalid_config(
                    f"Trying to update option {option} in group {group}, but config "
                    f"provided contains option {next(iter(config[group]))} instead"
                )
        with self.db.session() as s:
            self._domain(s, domain_id)
            if group is not None and not self._options(s, domain_id, group, option, None):
                raise config_not_found(domain_id, _what(group, option))
            self._store(s, domain_id, config)
            s.flush()
            result = self._as_config(self._options(s, domain_id))
        return result

    def delete_domain_config(
        self, domain_id: str, group: str | None = None, option: str | None = None
    ) -> None:
        """Delete the whole configuration, a group of it or one option."""
        _check_group_and_option(group, option)
        with self.db.session() as s:
            self._domain(s, domain_id)
            if group is not None:
                if not self._options(s, domain_id, group, None, None):
                    raise config_not_found(domain_id, _what(group, None))
                if option is not None and not self._options(s, domain_id, group, option, None):
                    raise config_not_found(domain_id, _what(group, option))
            stmt = delete(DomainConfigOption).where(DomainConfigOption.domain_id == domain_id)
            if group is not None:
                stmt = stmt.where(DomainConfigOption.group_name == group)
            if option is not None:
                stmt = stmt.where(DomainConfigOption.option_name == option)
            s.execute(stmt)

    @staticmethod
    def default_config(group: str | None = None, option: str | None = None) -> dict[str, Any]:
        """The values a domain without its own configuration uses."""
        _check_group_and_option(group, option)
        if group is None:
            return {g: dict(opts) for g, opts in CONFIG_DEFAULTS.items()}
        if option is None:
            return {group: dict(CONFIG_DEFAULTS[group])}
        if option not in CONFIG_DEFAULTS[group]:
            raise invalid_config(
                f"Reading the default for option {option} in group {group} is not supported"
            )
        return {option: CONFIG_DEFAULTS[group][option]}

    # -- OS-EP-FILTER: endpoint groups -----------------------------------------

    def create_endpoint_group(self, data: Mapping[str, Any]) -> EndpointGroup:
        with self.db.session() as s:
            row = EndpointGroup(
                id=new_id(),
                name=data["name"],
                description=data.get("description"),
                filters=dict(data["filters"]),
            )
            s.add(row)
        return row

    def list_endpoint_groups(self, query: Mapping[str, str], page: Page) -> list[EndpointGroup]:
        with self.db.reader() as s:
            stmt = apply_filters(select(EndpointGroup), query, {"name": EndpointGroup.name})
            return list(s.scalars(paginate(s, stmt, EndpointGroup, page)))

    def get_endpoint_group(self, group_id: str) -> EndpointGroup:
        with self.db.reader() as s:
            return get_or_404(s, EndpointGroup, group_id, "endpoint group")

    def update_endpoint_group(self, group_id: str, changes: Mapping[str, Any]) -> EndpointGroup:
        if "id" in changes and changes["id"] != group_id:
            raise BadRequest("Cannot change the id of an endpoint group.")
        with self.db.session() as s:
            row = get_or_404(s, EndpointGroup, group_id, "endpoint group")
            if "name" in changes:
                row.name = changes["name"]
            if "description" in changes:
                row.description = changes["description"]
            if "filters" in changes:
                row.filters = dict(changes["filters"])
        return row

    def delete_endpoint_group(self, group_id: str) -> None:
        with self.db.session() as s:
            s.delete(get_or_404(s, EndpointGroup, group_id, "endpoint group"))

    @staticmethod
    def _matching(s: Session, filters: Mapping[str, str]) -> list[Endpoint]:
        columns = {
            "service_id": Endpoint.service_id,
            "region_id": Endpoint.region_id,
            "interface": Endpoint.interface,
        }
        stmt = select(Endpoint).order_by(Endpoint.id)
        for key, value in filters.items():
            stmt = stmt.where(columns[key] == value)
        return list(s.scalars(stmt))

    def endpoints_in_group(self, group_id: str) -> list[Endpoint]:
        """The endpoints an endpoint group's filters select now."""
        with self.db.reader() as s:
            group = get_or_404(s, EndpointGroup, group_id, "endpoint group")
            return self._matching(s, group.filters or {})

    def add_group_to_project(self, group_id: str, project_id: str) -> None:
        with self.db.session() as s:
            get_or_404(s, Project, project_id, "project")
            get_or_404(s, EndpointGroup, group_id, "endpoint group")
            add_if_absent(
                s, ProjectEndpointGroup(endpoint_group_id=group_id, project_id=project_id)
            )

    def _group_association(
        self, s: Session, group_id: str, project_id: str
    ) -> ProjectEndpointGroup:
        get_or_404(s, Project, project_id, "project")
        get_or_404(s, EndpointGroup, group_id, "endpoint group")
        row = s.get(ProjectEndpointGroup, (group_id, project_id))
        if row is None:
            raise NotFound(
                f"Could not find an association between endpoint group {group_id} and "
                f"project {project_id}."
            )
        return row

    def check_group_in_project(self, group_id: str, project_id: str) -> None:
        with self.db.reader() as s:
            self._group_association(s, group_id, project_id)

    def remove_group_from_project(self, group_id: str, project_id: str) -> None:
        with self.db.session() as s:
            s.delete(self._group_association(s, group_id, project_id))

    def projects_for_group(self, group_id: str) -> list[Project]:
        with self.db.reader() as s:
            get_or_404(s, EndpointGroup, group_id, "endpoint group")
            stmt = (
                select(Project)
                .join(ProjectEndpointGroup, ProjectEndpointGroup.project_id == Project.id)
                .where(ProjectEndpointGroup.endpoint_group_id == group_id)
                .order_by(Project.id)
            )
            return list(s.scalars(stmt))

    def groups_for_project(self, project_id: str) -> list[EndpointGroup]:
        with self.db.reader() as s:
            get_or_404(s, Project, project_id, "project")
            stmt = (
                select(EndpointGroup)
                .join(
                    ProjectEndpointGroup,
                    ProjectEndpointGroup.endpoint_group_id == EndpointGroup.id,
                )
                .where(ProjectEndpointGroup.project_id == project_id)
                .order_by(EndpointGroup.id)
            )
            return list(s.scalars(stmt))

    # -- OS-EP-FILTER: project-endpoint associations ---------------------------

    def add_endpoint_to_project(self, project_id: str, endpoint_id: str) -> None:
        with self.db.session() as s:
            get_or_404(s, Endpoint, endpoint_id, "endpoint")
            get_or_404(s, Project, project_id, "project")
            add_if_absent(s, ProjectEndpoint(endpoint_id=endpoint_id, project_id=project_id))

    def _endpoint_association(
        self, s: Session, project_id: str, endpoint_id: str
    ) -> ProjectEndpoint:
        get_or_404(s, Endpoint, endpoint_id, "endpoint")
        get_or_404(s, Project, project_id, "project")
        row = s.get(ProjectEndpoint, (endpoint_id, project_id))
        if row is None:
            raise NotFound(f"Endpoint {endpoint_id} not found in project {project_id}.")
        return row

    def check_endpoint_in_project(self, project_id: str, endpoint_id: str) -> None:
        with self.db.reader() as s:
            self._endpoint_association(s, project_id, endpoint_id)

    def remove_endpoint_from_project(self, project_id: str, endpoint_id: str) -> None:
        with self.db.session() as s:
            s.delete(self._endpoint_association(s, project_id, endpoint_id))

    def endpoints_for_project(self, project_id: str) -> list[Endpoint]:
        """Endpoints associated with the project directly or through endpoint groups."""
        with self.db.reader() as s:
            get_or_404(s, Project, project_id, "project")
            found: dict[str, Endpoint] = {}
            direct = (
                select(Endpoint)
                .join(ProjectEndpoint, ProjectEndpoint.endpoint_id == Endpoint.id)
                .where(ProjectEndpoint.project_id == project_id)
            )
            for ep in s.scalars(direct):
                found[ep.id] = ep
            groups = (
                select(EndpointGroup)
                .join(
                    ProjectEndpointGroup,
                    ProjectEndpointGroup.endpoint_group_id == EndpointGroup.id,
                )
                .where(ProjectEndpointGroup.project_id == project_id)
            )
            for group in s.scalars(groups):
                for ep in self._matching(s, group.filters or {}):
                    found.setdefault(ep.id, ep)
        return [found[k] for k in sorted(found)]

    def projects_for_endpoint(self, endpoint_id: str) -> list[Project]:
        """Projects the endpoint is associated with directly."""
        with self.db.reader() as s:
            get_or_404(s, Endpoint, endpoint_id, "endpoint")
            stmt = (
                select(Project)
                .join(ProjectEndpoint, ProjectEndpoint.project_id == Project.id)
                .where(ProjectEndpoint.endpoint_id == endpoint_id)
                .order_by(Project.id)
            )
            return list(s.scalars(stmt))
