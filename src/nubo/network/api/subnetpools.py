"""Subnet pools: /v2.0/subnetpools, with add_prefixes and remove_prefixes."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.network import subnetpools
from nubo.network.api import tags
from nubo.network.api.common import body, caller, filters, list_of, route, service, show

tags.register("subnetpools", "subnetpool", subnetpools.find)


@route("GET", "/v2.0/subnetpools")
def list_subnetpools(req: ApiRequest) -> Reply:
    items = subnetpools.list_subnetpools(service(req), caller(req), filters(req))
    return list_of(req, "subnetpools", items)


@route("POST", "/v2.0/subnetpools")
def create_subnetpool(req: ApiRequest) -> Reply:
    attrs = body(req, "subnetpool", subnetpools.ATTRS)
    created = subnetpools.create_subnetpool(service(req), caller(req), attrs)
    return show(req, "subnetpool", created, 201)


@route("GET", "/v2.0/subnetpools/{subnetpool_id}")
def show_subnetpool(req: ApiRequest) -> Reply:
    found = subnetpools.get_subnetpool(service(req), caller(req), req.params["subnetpool_id"])
    return show(req, "subnetpool", found)


@route("PUT", "/v2.0/subnetpools/{subnetpool_id}")
def update_subnetpool(req: ApiRequest) -> Reply:
    attrs = body(req, "subnetpool", subnetpools.ATTRS, update=True)
    updated = subnetpools.update_subnetpool(
        service(req), caller(req), req.params["subnetpool_id"], attrs, req.headers
    )
    return show(req, "subnetpool", updated)


@route("DELETE", "/v2.0/subnetpools/{subnetpool_id}")
def delete_subnetpool(req: ApiRequest) -> Reply:
    subnetpools.delete_subnetpool(
        service(req), caller(req), req.params["subnetpool_id"], req.headers
    )
    return Reply(204)


@route("PUT", "/v2.0/subnetpools/{subnetpool_id}/add_prefixes")
def add_prefixes(req: ApiRequest) -> Reply:
    prefixes = subnetpools.add_prefixes(
        service(req), caller(req), req.params["subnetpool_id"], req.json()
    )
    return Reply(200, {"prefixes": prefixes})


@route("PUT", "/v2.0/subnetpools/{subnetpool_id}/remove_prefixes")
def remove_prefixes(req: ApiRequest) -> Reply:
    prefixes = subnetpools.remove_prefixes(
        service(req), caller(req), req.params["subnetpool_id"], req.json()
    )
    return Reply(200, {"prefixes": prefixes})
