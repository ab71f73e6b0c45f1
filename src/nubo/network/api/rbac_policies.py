"""RBAC policies: /v2.0/rbac-policies."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.network import rbac_policies
from nubo.network.api.common import body, caller, filters, list_of, route, service, show


@route("GET", "/v2.0/rbac-policies")
def list_rbac_policies(req: ApiRequest) -> Reply:
    items = rbac_policies.list_policies(service(req), caller(req), filters(req))
    return list_of(req, "rbac_policies", items)


@route("POST", "/v2.0/rbac-policies")
def create_rbac_policy(req: ApiRequest) -> Reply:
    attrs = body(req, "rbac_policy", rbac_policies.ATTRS)
    created = rbac_policies.create_policy(service(req), caller(req), attrs)
    return show(req, "rbac_policy", created, 201)


@route("GET", "/v2.0/rbac-policies/{policy_id}")
def show_rbac_policy(req: ApiRequest) -> Reply:
    item = rbac_policies.get_policy(service(req), caller(req), req.params["policy_id"])
    return show(req, "rbac_policy", item)


@route("PUT", "/v2.0/rbac-policies/{policy_id}")
def update_rbac_policy(req: ApiRequest) -> Reply:
    attrs = body(req, "rbac_policy", rbac_policies.ATTRS, update=True)
    updated = rbac_policies.update_policy(service(req), caller(req), req.params["policy_id"], attrs)
    return show(req, "rbac_policy", updated)


@route("DELETE", "/v2.0/rbac-policies/{policy_id}")
def delete_rbac_policy(req: ApiRequest) -> Reply:
    rbac_policies.delete_policy(service(req), caller(req), req.params["policy_id"])
    return Reply(204)
