"""Unified limits: registered limits, project and domain limits, the enforcement model."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.errors import BadRequest
from nubo.identity import schemas, views
from nubo.identity.api.common import NO_CONTENT, identity, listing, one, page, route
from nubo.identity.limits import MODEL

# -- registered limits ----------------------------------------------------------


@route(
    "POST",
    "/v3/registered_limits",
    policy="identity:create_registered_limit",
    body=schemas.REGISTERED_LIMITS_CREATE,
)
def create_registered_limits(req: ApiRequest) -> Reply:
    rows = identity(req).limits.create_registered_limits(req.json()["registered_limits"])
    base = req.service_url
    return Reply(201, {"registered_limits": [views.registered_limit(base, r) for r in rows]})


@route("GET", "/v3/registered_limits", policy="identity:list_registered_limits")
def list_registered_limits(req: ApiRequest) -> Reply:
    pg = page(req, ("id", "resource_name", "service_id"), "id")
    rows = identity(req).limits.list_registered_limits(req.query, pg)
    return listing(req, "registered_limits", rows, views.registered_limit, pg)


@route("GET", "/v3/registered_limits/{limit_id}", policy="identity:get_registered_limit")
def get_registered_limit(req: ApiRequest) -> Reply:
    row = identity(req).limits.get_registered_limit(req.params["limit_id"])
    return one("registered_limit", views.registered_limit(req.service_url, row))


@route(
    "PATCH",
    "/v3/registered_limits/{limit_id}",
    policy="identity:update_registered_limit",
    body=schemas.REGISTERED_LIMIT_UPDATE,
)
def update_registered_limit(req: ApiRequest) -> Reply:
    changes = req.json()["registered_limit"]
    if "id" in changes and changes["id"] != req.params["limit_id"]:
        raise BadRequest("Cannot change the id of a registered limit.")
    row = identity(req).limits.update_registered_limit(req.params["limit_id"], changes)
    return one("registered_limit", views.registered_limit(req.service_url, row))


@route("DELETE", "/v3/registered_limits/{limit_id}", policy="identity:delete_registered_limit")
def delete_registered_limit(req: ApiRequest) -> Reply:
    identity(req).limits.delete_registered_limit(req.params["limit_id"])
    return NO_CONTENT


# -- limits -----------------------------------------------------------------------


@route("GET", "/v3/limits/model", policy="identity:get_limit_model")
def get_limit_model(req: ApiRequest) -> Reply:
    return Reply(200, {"model": dict(MODEL)})


@route("POST", "/v3/limits", policy="identity:create_limit", body=schemas.LIMITS_CREATE)
def create_limits(req: ApiRequest) -> Reply:
    rows = identity(req).limits.create_limits(req.json()["limits"])
    return Reply(201, {"limits": [views.limit(req.service_url, r) for r in rows]})


@route("GET", "/v3/limits", policy="identity:list_limits")
def list_limits(req: ApiRequest) -> Reply:
    """Admins and system readers see every limit; others those of their project or domain."""
    auth = req.ctx.auth
    pg = page(req, ("id", "resource_name", "service_id"), "id")
    rows = identity(req).limits.list_limits(
        req.query,
        pg,
        project_id=auth.project_id if auth else None,
        domain_id=auth.domain_id if auth else None,
        everything=req.allowed("identity:get_limit", {"limit": {}}),
    )
    return listing(req, "limits", rows, views.limit, pg)


@route("GET", "/v3/limits/{limit_id}")
def get_limit(req: ApiRequest) -> Reply:
    row = identity(req).limits.get_limit(req.params["limit_id"])
    req.enforce(
        "identity:get_limit",
        {"limit": {"project_id": row.project_id, "domain_id": row.domain_id}},
    )
    return one("limit", views.limit(req.service_url, row))


@route("PATCH", "/v3/limits/{limit_id}", policy="identity:update_limit", body=schemas.LIMIT_UPDATE)
def update_limit(req: ApiRequest) -> Reply:
    changes = req.json()["limit"]
    if "id" in changes and changes["id"] != req.params["limit_id"]:
        raise BadRequest("Cannot change the id of a limit.")
    row = identity(req).limits.update_limit(req.params["limit_id"], changes)
    return one("limit", views.limit(req.service_url, row))


@route("DELETE", "/v3/limits/{limit_id}", policy="identity:delete_limit")
def delete_limit(req: ApiRequest) -> Reply:
    identity(req).limits.delete_limit(req.params["limit_id"])
    return NO_CONTENT
