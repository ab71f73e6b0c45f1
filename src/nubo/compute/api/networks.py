"""The networks proxies (to 2.35): ``/os-networks`` and ``/os-tenant-networks`` (list,
show). Their nova-network writes (create, delete, associate) are 410 Gone, as in Nova
with Neutron; newer microversions get 404."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.compute.api.common import caller, compute, router
from nubo.compute.api.security_groups import gate
from nubo.compute.proxies import networks
from nubo.errors import Gone

NETWORKS = "/v2.1/os-networks"
TENANT = "/v2.1/os-tenant-networks"


def _gone(req: ApiRequest) -> Reply:
    gate(req)
    raise Gone("nova-network is gone: networks are managed through the network service.")


@router.route("GET", NETWORKS)
def list_networks(req: ApiRequest) -> Reply:
    gate(req)
    items = networks.list_networks(compute(req), caller(req), tenant=False)
    return Reply(200, {"networks": items})


@router.route("POST", NETWORKS + "/add")
def add_network(req: ApiRequest) -> Reply:
    return _gone(req)


@router.route("POST", NETWORKS)
def create_network(req: ApiRequest) -> Reply:
    return _gone(req)


@router.route("GET", NETWORKS + "/{network_id}")
def show_network(req: ApiRequest) -> Reply:
    gate(req)
    body = networks.show_network(compute(req), caller(req), req.params["network_id"], tenant=False)
    return Reply(200, {"network": body})


@router.route("DELETE", NETWORKS + "/{network_id}")
def delete_network(req: ApiRequest) -> Reply:
    return _gone(req)


@router.route("POST", NETWORKS + "/{network_id}/action")
def network_action(req: ApiRequest) -> Reply:
    return _gone(req)


@router.route("GET", TENANT)
def list_tenant_networks(req: ApiRequest) -> Reply:
    gate(req)
    items = networks.list_networks(compute(req), caller(req), tenant=True)
    return Reply(200, {"networks": items})


@router.route("POST", TENANT)
def create_tenant_network(req: ApiRequest) -> Reply:
    return _gone(req)


@router.route("GET", TENANT + "/{network_id}")
def show_tenant_network(req: ApiRequest) -> Reply:
    gate(req)
    body = networks.show_network(compute(req), caller(req), req.params["network_id"], tenant=True)
    return Reply(200, {"network": body})


@router.route("DELETE", TENANT + "/{network_id}")
def delete_tenant_network(req: ApiRequest) -> Reply:
    return _gone(req)
