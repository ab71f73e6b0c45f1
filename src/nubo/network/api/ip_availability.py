"""Network IP availability: /v2.0/network-ip-availabilities (admin only)."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.network import ip_availability
from nubo.network.api.common import caller, fields, filters, route, service, show
from nubo.network.listing import filter_items, select_fields


@route("GET", "/v2.0/network-ip-availabilities")
def list_network_ip_availabilities(req: ApiRequest) -> Reply:
    wanted = filters(req)
    items = ip_availability.list_availabilities(service(req), caller(req), wanted)
    # ip_version selects subnets, which the service did; other filters on the views
    items = filter_items(items, wanted, skip=("ip_version",))
    chosen = fields(req)
    return Reply(200, {"network_ip_availabilities": [select_fields(i, chosen) for i in items]})


@route("GET", "/v2.0/network-ip-availabilities/{network_id}")
def show_network_ip_availability(req: ApiRequest) -> Reply:
    found = ip_availability.get_availability(service(req), caller(req), req.params["network_id"])
    return show(req, "network_ip_availability", found)
