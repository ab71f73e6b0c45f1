"""Networks: /v2.0/networks."""

from __future__ import annotations

from nubo.network import networks
from nubo.network.api.common import Collection

Collection(
    "network",
    "networks",
    "/v2.0/networks",
    networks.ATTRS,
    list_items=networks.list_networks,
    get_item=networks.get_network,
    create_item=networks.create_network,
    create_items=networks.create_networks,
    update_item=networks.update_network,
    delete_item=networks.delete_network,
).serve()
