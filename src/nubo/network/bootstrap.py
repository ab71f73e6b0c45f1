"""The networks every new cloud starts with, as DevStack makes them: an external flat
network ``public`` (172.24.4.0/24, floating range .2-.254) owned by admin, and for
project demo a private network, subnet and router whose gateway is on ``public``.

Made once, on the first start that finds no ``public`` network; after that they are
the operator's to change or delete."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from nubo.network import models as m
from nubo.network.access import Caller
from nubo.network.service import NetworkService

PUBLIC_CIDR = "172.24.4.0/24"
PRIVATE_CIDR = "10.0.0.0/26"


def _caller(project_id: str) -> Caller:
    return Caller(project_id=project_id, is_admin=True, allowed=lambda _rule, _target: True)


def bootstrap(svc: NetworkService, say: Callable[[str], None]) -> None:
    from nubo.network import networks, routers, subnets

    identity = svc.identity
    with svc.db.reader() as s:
        exists = s.scalar(
            select(m.Network.id).where(m.Network.name == "public", m.Network.external)
        )
        admin = identity.resources.find_project(s, name="admin", domain_id="default")
        demo = identity.resources.find_project(s, name="demo", domain_id="default")
    if exists:
        return
    as_admin = _caller(admin.id)
    public = networks.create_network(
        svc,
        as_admin,
        {
            "name": "public",
            "router:external": True,
            "provider:network_type": "flat",
            "provider:physical_network": svc.config.network.physical_network,
        },
    )
    subnets.create_subnet(
        svc,
        as_admin,
        {
            "name": "public-subnet",
            "network_id": public["id"],
            "ip_version": 4,
            "cidr": PUBLIC_CIDR,
            "gateway_ip": "172.24.4.1",
            "allocation_pools": [{"start": "172.24.4.2", "end": "172.24.4.254"}],
            "enable_dhcp": False,
        },
    )
    as_demo = Caller(project_id=demo.id, is_admin=False, allowed=lambda _rule, _target: True)
    private = networks.create_network(svc, as_demo, {"name": "private"})
    subnet = subnets.create_subnet(
        svc,
        as_demo,
        {
            "name": "private-subnet",
            "network_id": private["id"],
            "ip_version": 4,
            "cidr": PRIVATE_CIDR,
        },
    )
    router = routers.create_router(
        svc, as_demo, {"name": "router1", "external_gateway_info": {"network_id": public["id"]}}
    )
    routers.add_router_interface(svc, as_demo, router["id"], {"subnet_id": subnet["id"]})
    say(f"networks: public ({PUBLIC_CIDR}); demo's private ({PRIVATE_CIDR}) routed by router1")
