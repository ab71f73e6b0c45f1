"""Default policy rules of the identity service (override any in policy.yaml).

``admin`` implies ``member`` implies ``reader`` through implied roles, so a
token's roles already carry the weaker ones. Project-scoped admins keep the
cloud-wide powers Keystone's legacy defaults gave them (Tempest and most tools
use such tokens); readers get read access on the system scope and within the
domain or project their token is scoped to.
"""

from __future__ import annotations

from nubo.api.policy import Rule

ADMIN = "rule:admin_required"
SYSTEM_READER = "rule:system_reader"
ADMIN_OR_READER = f"{ADMIN} or {SYSTEM_READER}"
OWNER = "rule:owner"

_BASE = [
    Rule("admin_required", "role:admin", "Cloud administrators"),
    Rule("system_reader", "role:reader and system_scope:all", "Readers on the system scope"),
    Rule("service_role", "role:service", "Other services"),
    Rule("owner", "user_id:%(user_id)s", "The user the path names"),
    Rule("admin_or_owner", f"{ADMIN} or {OWNER}", "Admins and the user the path names"),
    Rule("token_subject", "user_id:%(target.token.user_id)s", "The token's own user"),
    Rule(
        "domain_reader",
        "role:reader and domain_id:%(target.domain_id)s",
        "Readers scoped to the target's domain",
    ),
]


def _crud(resource: str, plural: str, read: str, write: str = ADMIN) -> list[Rule]:
    return [
        Rule(f"identity:get_{resource}", read),
        Rule(f"identity:list_{plural}", read),
        Rule(f"identity:create_{resource}", write),
        Rule(f"identity:update_{resource}", write),
        Rule(f"identity:delete_{resource}", write),
    ]


_PROJECT_READ = (
    f"{ADMIN_OR_READER} or project_id:%(target.project.id)s or "
    "(role:reader and domain_id:%(target.project.domain_id)s)"
)
_DOMAIN_READ = (
    f"{ADMIN_OR_READER} or domain_id:%(target.domain.id)s or "
    "project_domain_id:%(target.domain.id)s or user_domain_id:%(target.domain.id)s"
)

RULES: list[Rule] = [
    *_BASE,
    *_crud("region", "regions", "@"),
    *_crud("service", "services", ADMIN_OR_READER),
    *_crud("endpoint", "endpoints", ADMIN_OR_READER),
    *_crud("domain", "domains", _DOMAIN_READ),
    *_crud("project", "projects", _PROJECT_READ),
    *_crud("user", "users", f"{ADMIN_OR_READER} or user_id:%(target.user.id)s"),
    *_crud("group", "groups", ADMIN_OR_READER),
    *_crud("role", "roles", ADMIN_OR_READER),
    *_crud("domain_role", "domain_roles", ADMIN_OR_READER),
    *_crud("policy", "policies", ADMIN_OR_READER),
    *_crud(
        "credential",
        "credentials",
        f"{ADMIN_OR_READER} or user_id:%(target.credential.user_id)s",
        f"{ADMIN} or user_id:%(target.credential.user_id)s",
    ),
    *_crud("registered_limit", "registered_limits", "@"),
    # project limits: their project (or domain) may read them, admins write them
    Rule(
        "identity:get_limit",
        f"{ADMIN_OR_READER} or project_id:%(target.limit.project_id)s or "
        "domain_id:%(target.limit.domain_id)s",
    ),
    # listing is open; the handler narrows it to the caller's project or domain
    Rule("identity:list_limits", "@"),
    Rule("identity:create_limit", ADMIN),
    Rule("identity:update_limit", ADMIN),
    Rule("identity:delete_limit", ADMIN),
    Rule("identity:list_user_projects", f"{ADMIN_OR_READER} or {OWNER}"),
    Rule("identity:list_projects_for_user", "@"),
    Rule("identity:list_domains_for_user", "@"),
    Rule("identity:get_project_tag", _PROJECT_READ),
    Rule("identity:list_project_tags", _PROJECT_READ),
    Rule("identity:update_project_tags", ADMIN),
    Rule("identity:create_project_tag", ADMIN),
    Rule("identity:delete_project_tag", ADMIN),
    Rule("identity:delete_project_tags", ADMIN),
    Rule("identity:list_groups_for_user", f"{ADMIN_OR_READER} or {OWNER}"),
    Rule("identity:list_users_in_group", ADMIN_OR_READER),
    Rule("identity:add_user_to_group", ADMIN),
    Rule("identity:check_user_in_group", ADMIN_OR_READER),
    Rule("identity:remove_user_from_group", ADMIN),
    Rule("identity:create_implied_role", ADMIN),
    Rule("identity:get_implied_role", ADMIN_OR_READER),
    Rule("identity:check_implied_role", ADMIN_OR_READER),
    Rule("identity:list_implied_roles", ADMIN_OR_READER),
    Rule("identity:list_role_inference_rules", ADMIN_OR_READER),
    Rule("identity:delete_implied_role", ADMIN),
    Rule("identity:create_grant", ADMIN),
    Rule("identity:check_grant", ADMIN_OR_READER),
    Rule("identity:list_grants", ADMIN_OR_READER),
    Rule("identity:revoke_grant", ADMIN),
    Rule("identity:create_system_grant_for_user", ADMIN),
    Rule("identity:check_system_grant_for_user", ADMIN_OR_READER),
    Rule("identity:list_system_grants_for_user", ADMIN_OR_READER),
    Rule("identity:revoke_system_grant_for_user", ADMIN),
    Rule("identity:list_role_assignments", ADMIN_OR_READER),
    Rule("identity:list_role_assignments_for_tree", ADMIN_OR_READER),
    Rule(
        "identity:validate_token", f"{ADMIN_OR_READER} or rule:service_role or rule:token_subject"
    ),
    Rule("identity:check_token", f"{ADMIN_OR_READER} or rule:service_role or rule:token_subject"),
    Rule("identity:revoke_token", f"{ADMIN} or rule:service_role or rule:token_subject"),
    Rule("identity:get_auth_catalog", "@"),
    Rule("identity:get_auth_projects", "@"),
    Rule("identity:get_auth_domains", "@"),
    Rule("identity:get_auth_system", "@"),
    Rule("identity:get_application_credential", f"{SYSTEM_READER} or {OWNER}"),
    Rule("identity:list_application_credentials", f"{SYSTEM_READER} or {OWNER}"),
    Rule("identity:create_application_credential", OWNER),
    Rule("identity:delete_application_credential", f"{ADMIN} or {OWNER}"),
    Rule("identity:get_access_rule", f"{SYSTEM_READER} or {OWNER}"),
    Rule("identity:list_access_rules", f"{SYSTEM_READER} or {OWNER}"),
    Rule("identity:delete_access_rule", f"{ADMIN} or {OWNER}"),
    Rule(
        "identity:ec2_get_credential",
        f"{ADMIN_OR_READER} or (user_id:%(target.credential.user_id)s)",
    ),
    Rule("identity:ec2_list_credentials", f"{ADMIN_OR_READER} or {OWNER}"),
    Rule("identity:ec2_create_credential", f"{ADMIN} or {OWNER}"),
    Rule("identity:ec2_delete_credential", f"{ADMIN} or (user_id:%(target.credential.user_id)s)"),
    Rule("identity:get_limit_model", "@"),
    Rule("trustor", "user_id:%(target.trust.trustor_user_id)s", "The trust's trustor"),
    Rule("trustee", "user_id:%(target.trust.trustee_user_id)s", "The trust's trustee"),
    Rule("identity:create_trust", "rule:trustor"),
    # without this rule, callers may still list the trusts they are part of
    Rule("identity:list_trusts", ADMIN_OR_READER),
    Rule("identity:get_trust", f"{ADMIN_OR_READER} or rule:trustor or rule:trustee"),
    Rule("identity:list_roles_for_trust", f"{ADMIN_OR_READER} or rule:trustor or rule:trustee"),
    Rule("identity:get_role_for_trust", f"{ADMIN_OR_READER} or rule:trustor or rule:trustee"),
    Rule("identity:delete_trust", f"{ADMIN} or rule:trustor"),
    # OS-OAUTH1 consumers, domain configuration, OS-EP-FILTER
    *_crud("consumer", "consumers", ADMIN_OR_READER),
    *_crud("endpoint_group", "endpoint_groups", ADMIN_OR_READER),
    Rule("identity:create_domain_config", ADMIN),
    Rule("identity:get_domain_config", ADMIN_OR_READER),
    Rule("identity:get_domain_config_default", ADMIN_OR_READER),
    Rule("identity:update_domain_config", ADMIN),
    Rule("identity:delete_domain_config", ADMIN),
    Rule("identity:add_endpoint_to_project", ADMIN),
    Rule("identity:check_endpoint_in_project", ADMIN_OR_READER),
    Rule("identity:list_endpoints_for_project", ADMIN_OR_READER),
    Rule("identity:list_projects_for_endpoint", ADMIN_OR_READER),
    Rule("identity:remove_endpoint_from_project", ADMIN),
    Rule("identity:add_endpoint_group_to_project", ADMIN),
    Rule("identity:get_endpoint_group_in_project", ADMIN_OR_READER),
    Rule("identity:list_endpoint_groups_for_project", ADMIN_OR_READER),
    Rule("identity:list_projects_associated_with_endpoint_group", ADMIN_OR_READER),
    Rule("identity:list_endpoints_associated_with_endpoint_group", ADMIN_OR_READER),
    Rule("identity:remove_endpoint_group_from_project", ADMIN),
]
