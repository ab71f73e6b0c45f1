"""Default policy rules of the network service, under Neutron's rule names.

Which resources a caller can see (own project, shared through RBAC, external) is
decided in the service layer; these rules decide what a caller may do with what it
sees. Attribute rules (``create_network:shared``) are checked for every attribute a
request sets, so an operator can open or close single attributes in policy.yaml.
"""

from __future__ import annotations

from nubo.api.policy import Rule

ADMIN = "role:admin"
OWNER = "role:admin or project_id:%(project_id)s"
MEMBER_OWNER = "role:admin or (role:member and project_id:%(project_id)s)"
READER = "role:admin or role:reader or role:member"

# resource name -> (attributes only an admin may set, attributes only an admin may read)
_ADMIN_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "network": (
        "shared",
        "router:external",
        "provider:network_type",
        "provider:physical_network",
        "provider:segmentation_id",
        "is_default",
    ),
    "subnet": ("segment_id", "service_types"),
    "subnetpool": ("shared", "is_default"),
    "address_scope": ("shared",),
    "port": (
        "binding:host_id",
        "binding:profile",
        "mac_address",
        "device_owner",
        "fixed_ips:ip_address",
        "port_security_enabled",
        "allowed_address_pairs",
    ),
    "router": (
        "distributed",
        "ha",
        "external_gateway_info:external_fixed_ips",
        "external_gateway_info:enable_snat",
    ),
    "floatingip": ("floating_ip_address",),
    "security_group": (),
    "security_group_rule": (),
    "rbac_policy": (),
    "port_forwarding": (),
}

# attributes an owner may also set when the network is theirs
_OWNER_SETTABLE = {
    "port": (
        "mac_address",
        "device_owner",
        "fixed_ips:ip_address",
        "port_security_enabled",
        "allowed_address_pairs",
    )
}


def _rules() -> list[Rule]:
    rules = [
        Rule("context_is_admin", ADMIN, "Callers that see and manage every project's resources"),
        Rule("admin_only", ADMIN, "Administrators only"),
        Rule("regular_user", "", "Any authenticated user"),
        Rule("get_network_ip_availability", ADMIN, "Show address usage of networks"),
        Rule("get_agent", ADMIN, "Show network agents"),
        Rule("update_agent", ADMIN, "Change an agent's admin state or description"),
        Rule("delete_agent", ADMIN, "Remove an agent record"),
        # a project reads its own quotas without a rule (as Neutron); another's, or the
        # list of every project's, needs this
        Rule("get_quota", ADMIN, "Show another project's network quotas, list all quotas"),
        Rule("update_quota", ADMIN, "Set a project's network quotas"),
        Rule("delete_quota", ADMIN, "Reset a project's network quotas to the defaults"),
        Rule("get_availability_zone", "", "List availability zones"),
    ]
    for resource, admin_attrs in _ADMIN_ATTRIBUTES.items():
        rules += [
            Rule(f"create_{resource}", MEMBER_OWNER, f"Create a {resource}"),
            Rule(f"get_{resource}", f"{OWNER} or role:reader", f"Show a {resource}"),
            Rule(f"update_{resource}", MEMBER_OWNER, f"Update a {resource}"),
            Rule(f"delete_{resource}", MEMBER_OWNER, f"Delete a {resource}"),
        ]
        for attr in admin_attrs:
            settable = (
                "role:admin or (role:member and project_id:%(network:project_id)s)"
                if attr in _OWNER_SETTABLE.get(resource, ())
                else ADMIN
            )
            rules += [
                Rule(f"create_{resource}:{attr}", settable, f"Set {attr} on create"),
                Rule(f"update_{resource}:{attr}", settable, f"Change {attr}"),
            ]
    rules += [
        Rule(
            "restrict_wildcard",
            "(not '*':%(target_tenant)s) or role:admin",
            "Only an admin may target every project (``*``) with an RBAC policy",
        ),
        Rule(
            "create_rbac_policy:target_tenant",
            "rule:restrict_wildcard",
            "Set target_tenant when creating an RBAC policy",
        ),
        Rule(
            "update_rbac_policy:target_tenant",
            "rule:restrict_wildcard",
            "Change the target_tenant of an RBAC policy",
        ),
    ]
    return rules


RULES: list[Rule] = _rules()
ATTRIBUTE_RULES = frozenset(rule.name for rule in RULES if ":" in rule.name)
