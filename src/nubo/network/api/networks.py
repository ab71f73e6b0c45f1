"""Networks: /v2.0/networks."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.network import networks
from nubo.network.api.common import (
    body,
    bulk_bodies,
    caller,
    filters,
    list_of,
    many,
    route,
    service,
    show,
)


@route("GET", "/v2.0/networks")
def list_networks(req: ApiRequest) -> Reply:
    return list_of(req, "networks", networks.list_networks(service(req), caller(req), filters(req)))


@route("POST", "/v2.0/networks")
def create_network(req: ApiRequest) -> Reply:
    svc, who = service(req), caller(req)
    items = bulk_bodies(req, "network", "networks", networks.ATTRS)
    if items is not None:
        return many(req, "networks", networks.create_networks(svc, who, items))
    created = networks.create_network(svc, who, body(req, "network", networks.ATTRS))
    return show(req, "network", created, 201)


@route("GET", "/v2.0/networks/{network_id}")
def show_network(req: ApiRequest) -> Reply:
    return show(
        req, "network", networks.get_network(service(req), caller(req), req.params["network_id"])
    )


@route("PUT", "/v2.0/networks/{network_id}")
def update_network(req: ApiRequest) -> Reply:
    attrs = body(req, "network", networks.ATTRS, update=True)
    updated = networks.update_network(
        service(req), caller(req), req.params["network_id"], attrs, req.headers
    )
    return show(req, "network", updated)


@route("DELETE", "/v2.0/networks/{network_id}")
def delete_network(req: ApiRequest) -> Reply:
    networks.delete_network(service(req), caller(req), req.params["network_id"], req.headers)
    return Reply(204)
