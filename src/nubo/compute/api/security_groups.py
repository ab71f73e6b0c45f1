"""The security groups proxy (to 2.35): ``/os-security-groups``,
``/os-security-group-rules`` and ``/servers/{id}/os-security-groups``. Newer
microversions get 404, as from Nova. Adding and removing a server's groups are the
``addSecurityGroup``/``removeSecurityGroup`` actions (``server_actions``)."""

from __future__ import annotations

from typing import Any

from nubo.api.routing import ApiRequest, Reply
from nubo.compute.api.common import caller, compute, router
from nubo.compute.proxies import security_groups
from nubo.errors import BadRequest, NotFound

GROUPS = "/v2.1/os-security-groups"
RULES = "/v2.1/os-security-group-rules"


def gate(req: ApiRequest) -> None:
    """Nova removed the network proxies at 2.36."""
    if req.at_least("2.36"):
        raise NotFound("The resource could not be found.")


def from_body(req: ApiRequest, key: str) -> Any:
    """Nova's ``_from_body``: the object under ``key`` of a non-empty body."""
    body = req.json()
    if not body:
        raise BadRequest("The request body can't be empty")
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
    value = body.get(key)
    if value is None:
        raise BadRequest(f"Missing parameter {key}")
    if not isinstance(value, dict):
        raise BadRequest(f"Invalid input for field/attribute {key}: it must be an object")
    return value


@router.route("GET", GROUPS)
def list_groups(req: ApiRequest) -> Reply:
    gate(req)
    items = security_groups.list_groups(compute(req), caller(req), req.query)
    return Reply(200, {"security_groups": items})


@router.route("POST", GROUPS)
def create_group(req: ApiRequest) -> Reply:
    gate(req)
    body = from_body(req, "security_group")
    group = security_groups.create_group(compute(req), caller(req), body)
    return Reply(200, {"security_group": group})


@router.route("DELETE", GROUPS)
def delete_without_id(req: ApiRequest) -> Reply:
    # ``DELETE /os-security-groups/`` (an empty id): no such group
    raise NotFound("The resource could not be found.")


@router.route("GET", GROUPS + "/{group_id}")
def show_group(req: ApiRequest) -> Reply:
    gate(req)
    group = security_groups.show_group(compute(req), caller(req), req.params["group_id"])
    return Reply(200, {"security_group": group})


@router.route("PUT", GROUPS + "/{group_id}")
def update_group(req: ApiRequest) -> Reply:
    gate(req)
    body = from_body(req, "security_group")
    group = security_groups.update_group(compute(req), caller(req), req.params["group_id"], body)
    return Reply(200, {"security_group": group})


@router.route("DELETE", GROUPS + "/{group_id}")
def delete_group(req: ApiRequest) -> Reply:
    gate(req)
    security_groups.delete_group(compute(req), caller(req), req.params["group_id"])
    return Reply(202)


@router.route("POST", RULES)
def create_rule(req: ApiRequest) -> Reply:
    gate(req)
    body = from_body(req, "security_group_rule")
    rule = security_groups.create_rule(compute(req), caller(req), body)
    return Reply(200, {"security_group_rule": rule})


@router.route("DELETE", RULES)
def delete_rule_without_id(req: ApiRequest) -> Reply:
    raise NotFound("The resource could not be found.")


@router.route("DELETE", RULES + "/{rule_id}")
def delete_rule(req: ApiRequest) -> Reply:
    gate(req)
    security_groups.delete_rule(compute(req), caller(req), req.params["rule_id"])
    return Reply(202)


@router.route("GET", "/v2.1/servers/{server_id}/os-security-groups")
def list_server_groups(req: ApiRequest) -> Reply:
    gate(req)
    items = security_groups.server_groups(compute(req), caller(req), req.params["server_id"])
    return Reply(200, {"security_groups": items})
