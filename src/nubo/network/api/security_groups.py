"""Security groups and rules: /v2.0/security-groups and /v2.0/security-group-rules.

Rules have no update (Neutron has none): a PUT on a rule is 405."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.network import security_groups
from nubo.network.api import tags
from nubo.network.api.common import (
    body,
    bulk_bodies,
    caller,
    filters,
    list_of,
    many,
    route,
    service,
    show,
)

tags.register(security_groups.TAG_COLLECTION, "security_group", security_groups.find)


@route("GET", "/v2.0/security-groups")
def list_security_groups(req: ApiRequest) -> Reply:
    items = security_groups.list_security_groups(service(req), caller(req), filters(req))
    return list_of(req, "security_groups", items)


@route("POST", "/v2.0/security-groups")
def create_security_group(req: ApiRequest) -> Reply:
    svc, who = service(req), caller(req)
    attrs = security_groups.GROUP_ATTRS
    items = bulk_bodies(req, "security_group", "security_groups", attrs)
    if items is not None:
        return many(req, "security_groups", security_groups.create_security_groups(svc, who, items))
    created = security_groups.create_security_group(svc, who, body(req, "security_group", attrs))
    return show(req, "security_group", created, 201)


@route("GET", "/v2.0/security-groups/{security_group_id}")
def show_security_group(req: ApiRequest) -> Reply:
    group = security_groups.get_security_group(
        service(req), caller(req), req.params["security_group_id"]
    )
    return show(req, "security_group", group)


@route("PUT", "/v2.0/security-groups/{security_group_id}")
def update_security_group(req: ApiRequest) -> Reply:
    attrs = body(req, "security_group", security_groups.GROUP_ATTRS, update=True)
    updated = security_groups.update_security_group(
        service(req), caller(req), req.params["security_group_id"], attrs, req.headers
    )
    return show(req, "security_group", updated)


@route("DELETE", "/v2.0/security-groups/{security_group_id}")
def delete_security_group(req: ApiRequest) -> Reply:
    security_groups.delete_security_group(
        service(req), caller(req), req.params["security_group_id"], req.headers
    )
    return Reply(204)


@route("GET", "/v2.0/security-group-rules")
def list_security_group_rules(req: ApiRequest) -> Reply:
    items = security_groups.list_security_group_rules(service(req), caller(req), filters(req))
    return list_of(req, "security_group_rules", items)


@route("POST", "/v2.0/security-group-rules")
def create_security_group_rule(req: ApiRequest) -> Reply:
    svc, who = service(req), caller(req)
    attrs = security_groups.RULE_ATTRS
    items = bulk_bodies(req, "security_group_rule", "security_group_rules", attrs)
    if items is not None:
        created = security_groups.create_security_group_rules(svc, who, items)
        return many(req, "security_group_rules", created)
    rule = security_groups.create_security_group_rule(
        svc, who, body(req, "security_group_rule", attrs)
    )
    return show(req, "security_group_rule", rule, 201)


@route("GET", "/v2.0/security-group-rules/{rule_id}")
def show_security_group_rule(req: ApiRequest) -> Reply:
    rule = security_groups.get_security_group_rule(service(req), caller(req), req.params["rule_id"])
    return show(req, "security_group_rule", rule)


@route("DELETE", "/v2.0/security-group-rules/{rule_id}")
def delete_security_group_rule(req: ApiRequest) -> Reply:
    security_groups.delete_security_group_rule(service(req), caller(req), req.params["rule_id"])
    return Reply(204)
