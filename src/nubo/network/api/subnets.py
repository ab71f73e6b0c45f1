"""Subnets: /v2.0/subnets."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.network import subnets
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

tags.register("subnets", "subnet", subnets.find)


@route("GET", "/v2.0/subnets")
def list_subnets(req: ApiRequest) -> Reply:
    items = subnets.list_subnets(service(req), caller(req), filters(req))
    # the service matched cidr filters on the normalised network
    return list_of(req, "subnets", items, skip_filters=("cidr",))


@route("POST", "/v2.0/subnets")
def create_subnet(req: ApiRequest) -> Reply:
    svc, who = service(req), caller(req)
    items = bulk_bodies(req, "subnet", "subnets", subnets.ATTRS)
    if items is not None:
        return many(req, "subnets", subnets.create_subnets(svc, who, items))
    created = subnets.create_subnet(svc, who, body(req, "subnet", subnets.ATTRS))
    return show(req, "subnet", created, 201)


@route("GET", "/v2.0/subnets/{subnet_id}")
def show_subnet(req: ApiRequest) -> Reply:
    return show(
        req, "subnet", subnets.get_subnet(service(req), caller(req), req.params["subnet_id"])
    )


@route("PUT", "/v2.0/subnets/{subnet_id}")
def update_subnet(req: ApiRequest) -> Reply:
    attrs = body(req, "subnet", subnets.ATTRS, update=True)
    updated = subnets.update_subnet(
        service(req), caller(req), req.params["subnet_id"], attrs, req.headers
    )
    return show(req, "subnet", updated)


@route("DELETE", "/v2.0/subnets/{subnet_id}")
def delete_subnet(req: ApiRequest) -> Reply:
    subnets.delete_subnet(service(req), caller(req), req.params["subnet_id"], req.headers)
    return Reply(204)
