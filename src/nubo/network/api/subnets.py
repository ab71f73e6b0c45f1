"""Subnets: /v2.0/subnets."""

from __future__ import annotations

from nubo.network import subnets
from nubo.network.api import tags
from nubo.network.api.common import Collection

tags.register("subnets", "subnet", subnets.find)

Collection(
    "subnet",
    "subnets",
    "/v2.0/subnets",
    subnets.ATTRS,
    list_items=subnets.list_subnets,
    get_item=subnets.get_subnet,
    create_item=subnets.create_subnet,
    create_items=subnets.create_subnets,
    update_item=subnets.update_subnet,
    delete_item=subnets.delete_subnet,
    # the service matched cidr filters on the normalised network
    skip_filters=("cidr",),
).serve()
