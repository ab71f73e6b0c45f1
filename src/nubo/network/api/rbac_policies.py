"""RBAC policies: /v2.0/rbac-policies (no revision number, so no If-Match)."""

from __future__ import annotations

from nubo.network import rbac_policies
from nubo.network.api.common import Collection

Collection(
    "rbac_policy",
    "rbac_policies",
    "/v2.0/rbac-policies",
    rbac_policies.ATTRS,
    list_items=rbac_policies.list_policies,
    get_item=rbac_policies.get_policy,
    create_item=rbac_policies.create_policy,
    update_item=lambda svc, who, ident, attrs, _headers: rbac_policies.update_policy(
        svc, who, ident, attrs
    ),
    delete_item=lambda svc, who, ident, _headers: rbac_policies.delete_policy(svc, who, ident),
).serve()
