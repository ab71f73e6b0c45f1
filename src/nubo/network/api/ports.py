"""Ports: /v2.0/ports."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.network import ports
from nubo.network.api import tags
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

tags.register("ports", "port", ports.find)


@route("GET", "/v2.0/ports")
def list_ports(req: ApiRequest) -> Reply:
    items = ports.list_ports(service(req), caller(req), filters(req))
    return list_of(req, "ports", items, skip_filters=("fixed_ips",))


@route("POST", "/v2.0/ports")
def create_port(req: ApiRequest) -> Reply:
    svc, who = service(req), caller(req)
    items = bulk_bodies(req, "port", "ports", ports.ATTRS)
    if items is not None:
        return many(req, "ports", ports.create_ports(svc, who, items))
    created = ports.create_port(svc, who, body(req, "port", ports.ATTRS))
    return show(req, "port", created, 201)


@route("GET", "/v2.0/ports/{port_id}")
def show_port(req: ApiRequest) -> Reply:
    return show(req, "port", ports.get_port(service(req), caller(req), req.params["port_id"]))


@route("PUT", "/v2.0/ports/{port_id}")
def update_port(req: ApiRequest) -> Reply:
    attrs = body(req, "port", ports.ATTRS, update=True)
    updated = ports.update_port(
        service(req), caller(req), req.params["port_id"], attrs, req.headers
    )
    return show(req, "port", updated)


@route("DELETE", "/v2.0/ports/{port_id}")
def delete_port(req: ApiRequest) -> Reply:
    ports.delete_port(service(req), caller(req), req.params["port_id"], req.headers)
    return Reply(204)
