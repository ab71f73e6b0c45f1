"""Port forwardings of a floating IP: /v2.0/floatingips/{id}/port_forwardings."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.network import port_forwardings
from nubo.network.api.common import body, caller, list_of, route, service, show

BASE = "/v2.0/floatingips/{floatingip_id}/port_forwardings"


@route("GET", BASE)
def list_port_forwardings(req: ApiRequest) -> Reply:
    items = port_forwardings.list_port_forwardings(
        service(req), caller(req), req.params["floatingip_id"]
    )
    return list_of(req, "port_forwardings", items)


@route("POST", BASE)
def create_port_forwarding(req: ApiRequest) -> Reply:
    attrs = body(req, "port_forwarding", port_forwardings.ATTRS)
    created = port_forwardings.create_port_forwarding(
        service(req), caller(req), req.params["floatingip_id"], attrs
    )
    return show(req, "port_forwarding", created, 201)


@route("GET", BASE + "/{port_forwarding_id}")
def show_port_forwarding(req: ApiRequest) -> Reply:
    item = port_forwardings.get_port_forwarding(
        service(req), caller(req), req.params["floatingip_id"], req.params["port_forwarding_id"]
    )
    return show(req, "port_forwarding", item)


@route("PUT", BASE + "/{port_forwarding_id}")
def update_port_forwarding(req: ApiRequest) -> Reply:
    attrs = body(req, "port_forwarding", port_forwardings.ATTRS, update=True)
    updated = port_forwardings.update_port_forwarding(
        service(req),
        caller(req),
        req.params["floatingip_id"],
        req.params["port_forwarding_id"],
        attrs,
    )
    return show(req, "port_forwarding", updated)


@route("DELETE", BASE + "/{port_forwarding_id}")
def delete_port_forwarding(req: ApiRequest) -> Reply:
    port_forwardings.delete_port_forwarding(
        service(req), caller(req), req.params["floatingip_id"], req.params["port_forwarding_id"]
    )
    return Reply(204)
