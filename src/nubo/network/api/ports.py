"""Ports: /v2.0/ports."""

from __future__ import annotations

from nubo.network import ports
from nubo.network.api import tags
from nubo.network.api.common import Collection

tags.register("ports", "port", ports.find)

Collection(
    "port",
    "ports",
    "/v2.0/ports",
    ports.ATTRS,
    list_items=ports.list_ports,
    get_item=ports.get_port,
    create_item=ports.create_port,
    create_items=ports.create_ports,
    update_item=ports.update_port,
    delete_item=ports.delete_port,
    # fixed_ips=ip_address=... filters are matched by the service
    skip_filters=("fixed_ips",),
).serve()
