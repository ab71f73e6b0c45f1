"""Routers: /v2.0/routers, their interfaces and extra routes."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.network import routers
from nubo.network.api import tags as tag_routes
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

tag_routes.register("routers", "router", routers.find)


@route("GET", "/v2.0/routers")
def list_routers(req: ApiRequest) -> Reply:
    return list_of(req, "routers", routers.list_routers(service(req), caller(req), filters(req)))


@route("POST", "/v2.0/routers")
def create_router(req: ApiRequest) -> Reply:
    svc, who = service(req), caller(req)
    items = bulk_bodies(req, "router", "routers", routers.ATTRS)
    if items is not None:
        return many(req, "routers", routers.create_routers(svc, who, items))
    created = routers.create_router(svc, who, body(req, "router", routers.ATTRS))
    return show(req, "router", created, 201)


@route("GET", "/v2.0/routers/{router_id}")
def show_router(req: ApiRequest) -> Reply:
    return show(
        req, "router", routers.get_router(service(req), caller(req), req.params["router_id"])
    )


@route("PUT", "/v2.0/routers/{router_id}")
def update_router(req: ApiRequest) -> Reply:
    attrs = body(req, "router", routers.ATTRS, update=True)
    updated = routers.update_router(
        service(req), caller(req), req.params["router_id"], attrs, req.headers
    )
    return show(req, "router", updated)


@route("DELETE", "/v2.0/routers/{router_id}")
def delete_router(req: ApiRequest) -> Reply:
    routers.delete_router(service(req), caller(req), req.params["router_id"], req.headers)
    return Reply(204)


@route("PUT", "/v2.0/routers/{router_id}/add_router_interface")
def add_router_interface(req: ApiRequest) -> Reply:
    info = routers.add_router_interface(
        service(req), caller(req), req.params["router_id"], req.json()
    )
    return Reply(200, info)


@route("PUT", "/v2.0/routers/{router_id}/remove_router_interface")
def remove_router_interface(req: ApiRequest) -> Reply:
    info = routers.remove_router_interface(
        service(req), caller(req), req.params["router_id"], req.json()
    )
    return Reply(200, info)


@route("PUT", "/v2.0/routers/{router_id}/add_extraroutes")
def add_extraroutes(req: ApiRequest) -> Reply:
    updated = routers.change_extraroutes(
        service(req), caller(req), req.params["router_id"], req.json(), add=True
    )
    return show(req, "router", updated)


@route("PUT", "/v2.0/routers/{router_id}/remove_extraroutes")
def remove_extraroutes(req: ApiRequest) -> Reply:
    updated = routers.change_extraroutes(
        service(req), caller(req), req.params["router_id"], req.json(), add=False
    )
    return show(req, "router", updated)
