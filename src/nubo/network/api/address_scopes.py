"""Address scopes: /v2.0/address-scopes."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.network import address_scopes
from nubo.network.api.common import body, caller, filters, list_of, route, service, show


@route("GET", "/v2.0/address-scopes")
def list_address_scopes(req: ApiRequest) -> Reply:
    items = address_scopes.list_address_scopes(service(req), caller(req), filters(req))
    return list_of(req, "address_scopes", items)


@route("POST", "/v2.0/address-scopes")
def create_address_scope(req: ApiRequest) -> Reply:
    attrs = body(req, "address_scope", address_scopes.ATTRS)
    created = address_scopes.create_address_scope(service(req), caller(req), attrs)
    return show(req, "address_scope", created, 201)


@route("GET", "/v2.0/address-scopes/{scope_id}")
def show_address_scope(req: ApiRequest) -> Reply:
    found = address_scopes.get_address_scope(service(req), caller(req), req.params["scope_id"])
    return show(req, "address_scope", found)


@route("PUT", "/v2.0/address-scopes/{scope_id}")
def update_address_scope(req: ApiRequest) -> Reply:
    attrs = body(req, "address_scope", address_scopes.ATTRS, update=True)
    updated = address_scopes.update_address_scope(
        service(req), caller(req), req.params["scope_id"], attrs
    )
    return show(req, "address_scope", updated)


@route("DELETE", "/v2.0/address-scopes/{scope_id}")
def delete_address_scope(req: ApiRequest) -> Reply:
    address_scopes.delete_address_scope(service(req), caller(req), req.params["scope_id"])
    return Reply(204)
