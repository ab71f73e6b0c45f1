"""Routers: /v2.0/routers, their interfaces and extra routes."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.network import routers
from nubo.network.api import tags
from nubo.network.api.common import Collection, caller, route, service, show

tags.register("routers", "router", routers.find)

Collection(
    "router",
    "routers",
    "/v2.0/routers",
    routers.ATTRS,
    list_items=routers.list_routers,
    get_item=routers.get_router,
    create_item=routers.create_router,
    create_items=routers.create_routers,
    update_item=routers.update_router,
    delete_item=routers.delete_router,
).serve()


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
