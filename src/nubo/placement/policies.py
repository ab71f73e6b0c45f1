"""Default policy rules of the placement service, under Placement's rule names.

Placement is an operator's and the services' API: every rule defaults to
``rule:admin_api`` (the admin role), as upstream; a policy.yaml may open any of them.
"""

from __future__ import annotations

from nubo.api.policy import Rule

ADMIN_API = "rule:admin_api"

_ACTIONS: dict[str, str] = {
    "resource_providers:list": "List resource providers",
    "resource_providers:create": "Create a resource provider",
    "resource_providers:show": "Show a resource provider",
    "resource_providers:update": "Update a resource provider",
    "resource_providers:delete": "Delete a resource provider",
    "resource_providers:inventories:list": "List a resource provider's inventories",
    "resource_providers:inventories:create": "Create an inventory of a resource provider",
    "resource_providers:inventories:show": "Show an inventory of a resource provider",
    "resource_providers:inventories:update": "Update a resource provider's inventories",
    "resource_providers:inventories:delete": "Delete a resource provider's inventories",
    "resource_providers:aggregates:list": "List a resource provider's aggregates",
    "resource_providers:aggregates:update": "Update a resource provider's aggregates",
    "resource_providers:usages": "Show a resource provider's usages",
    "resource_providers:allocations:list": "List the allocations against a resource provider",
    "resource_providers:traits:list": "List a resource provider's traits",
    "resource_providers:traits:update": "Update a resource provider's traits",
    "resource_providers:traits:delete": "Remove every trait of a resource provider",
    "resource_classes:list": "List resource classes",
    "resource_classes:create": "Create a custom resource class",
    "resource_classes:show": "Show a resource class",
    "resource_classes:update": "Create or update a custom resource class",
    "resource_classes:delete": "Delete a custom resource class",
    "traits:list": "List traits",
    "traits:show": "Show a trait",
    "traits:update": "Create a custom trait",
    "traits:delete": "Delete a custom trait",
    "allocations:list": "List a consumer's allocations",
    "allocations:manage": "Write the allocations of several consumers at once",
    "allocations:update": "Write a consumer's allocations",
    "allocations:delete": "Delete a consumer's allocations",
    "allocation_candidates:list": "List allocation candidates",
    "usages": "Show a project's (or user's) total usages",
    "reshaper:reshape": "Move inventories and allocations between providers at once",
}

RULES: list[Rule] = [
    Rule("admin_api", "role:admin", "The placement API's default: administrators"),
    *(Rule(f"placement:{action}", ADMIN_API, text) for action, text in _ACTIONS.items()),
]
