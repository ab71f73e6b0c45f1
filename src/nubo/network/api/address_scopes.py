"""Address scopes: /v2.0/address-scopes (no standard attributes, so no If-Match)."""

from __future__ import annotations

from nubo.network import address_scopes
from nubo.network.api.common import Collection

Collection(
    "address_scope",
    "address_scopes",
    "/v2.0/address-scopes",
    address_scopes.ATTRS,
    list_items=address_scopes.list_address_scopes,
    get_item=address_scopes.get_address_scope,
    create_item=address_scopes.create_address_scope,
    update_item=lambda svc, who, ident, attrs, _headers: address_scopes.update_address_scope(
        svc, who, ident, attrs
    ),
    delete_item=lambda svc, who, ident, _headers: address_scopes.delete_address_scope(
        svc, who, ident
    ),
).serve()
