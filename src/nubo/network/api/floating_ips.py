"""Floating IPs: /v2.0/floatingips."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.network import floating_ips
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

tag_routes.register("floatingips", "floatingip", floating_ips.find)


@route("GET", "/v2.0/floatingips")
def list_floatingips(req: ApiRequest) -> Reply:
    items = floating_ips.list_floatingips(service(req), caller(req), filters(req))
    return list_of(req, "floatingips", items)


@route("POST", "/v2.0/floatingips")
def create_floatingip(req: ApiRequest) -> Reply:
    svc, who = service(req), caller(req)
    items = bulk_bodies(req, "floatingip", "floatingips", floating_ips.ATTRS)
    if items is not None:
        return many(req, "floatingips", floating_ips.create_floatingips(svc, who, items))
    created = floating_ips.create_floatingip(svc, who, body(req, "floatingip", floating_ips.ATTRS))
    return show(req, "floatingip", created, 201)


@route("GET", "/v2.0/floatingips/{floatingip_id}")
def show_floatingip(req: ApiRequest) -> Reply:
    item = floating_ips.get_floatingip(service(req), caller(req), req.params["floatingip_id"])
    return show(req, "floatingip", item)


@route("PUT", "/v2.0/floatingips/{floatingip_id}")
def update_floatingip(req: ApiRequest) -> Reply:
    attrs = body(req, "floatingip", floating_ips.ATTRS, update=True)
    updated = floating_ips.update_floatingip(
        service(req), caller(req), req.params["floatingip_id"], attrs, req.headers
    )
    return show(req, "floatingip", updated)


@route("DELETE", "/v2.0/floatingips/{floatingip_id}")
def delete_floatingip(req: ApiRequest) -> Reply:
    floating_ips.delete_floatingip(
        service(req), caller(req), req.params["floatingip_id"], req.headers
    )
    return Reply(204)
