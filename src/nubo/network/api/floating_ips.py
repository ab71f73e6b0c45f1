"""Floating IPs: /v2.0/floatingips."""

from __future__ import annotations

from nubo.network import floating_ips
from nubo.network.api import tags
from nubo.network.api.common import Collection

tags.register("floatingips", "floatingip", floating_ips.find)

Collection(
    "floatingip",
    "floatingips",
    "/v2.0/floatingips",
    floating_ips.ATTRS,
    list_items=floating_ips.list_floatingips,
    get_item=floating_ips.get_floatingip,
    create_item=floating_ips.create_floatingip,
    create_items=floating_ips.create_floatingips,
    update_item=floating_ips.update_floatingip,
    delete_item=floating_ips.delete_floatingip,
).serve()
