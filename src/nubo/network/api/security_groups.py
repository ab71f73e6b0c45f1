"""Security groups and rules: /v2.0/security-groups and /v2.0/security-group-rules.

Rules have no update (Neutron has none): a PUT on a rule is 405."""

from __future__ import annotations

from nubo.network import security_groups
from nubo.network.api import tags
from nubo.network.api.common import Collection

tags.register(security_groups.TAG_COLLECTION, "security_group", security_groups.find)

Collection(
    "security_group",
    "security_groups",
    "/v2.0/security-groups",
    security_groups.GROUP_ATTRS,
    list_items=security_groups.list_security_groups,
    get_item=security_groups.get_security_group,
    create_item=security_groups.create_security_group,
    create_items=security_groups.create_security_groups,
    update_item=security_groups.update_security_group,
    delete_item=security_groups.delete_security_group,
).serve()

Collection(
    "security_group_rule",
    "security_group_rules",
    "/v2.0/security-group-rules",
    security_groups.RULE_ATTRS,
    list_items=security_groups.list_security_group_rules,
    get_item=security_groups.get_security_group_rule,
    create_item=security_groups.create_security_group_rule,
    create_items=security_groups.create_security_group_rules,
    delete_item=security_groups.delete_security_group_rule,
).serve()
