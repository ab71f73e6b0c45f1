"""Subnet pools: /v2.0/subnetpools, with add_prefixes and remove_prefixes."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.network import subnetpools
from nubo.network.api import tags
from nubo.network.api.common import Collection, caller, route, service

tags.register("subnetpools", "subnetpool", subnetpools.find)

Collection(
    "subnetpool",
    "subnetpools",
    "/v2.0/subnetpools",
    subnetpools.ATTRS,
    list_items=subnetpools.list_subnetpools,
    get_item=subnetpools.get_subnetpool,
    create_item=subnetpools.create_subnetpool,
    update_item=subnetpools.update_subnetpool,
    delete_item=subnetpools.delete_subnetpool,
).serve()


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
