"""Tenant usage: /os-simple-tenant-usage (every project: admin) and
/os-simple-tenant-usage/{tenant_id} (the project's members; an empty id, a trailing
slash, is a 404). ``start`` and ``end`` bound the period; 2.40 pages over servers with
``limit`` and ``marker`` (a server id).
"""

from __future__ import annotations

from typing import Any

from nubo.api.routing import ApiRequest, Reply
from nubo.compute import usage
from nubo.compute.api.common import caller, compute, limit_marker, next_links, router
from nubo.compute.api.services import strict_query
from nubo.errors import NotFound


def _page(req: ApiRequest) -> tuple[int | None, str | None]:
    if not req.at_least("2.40"):
        return None, None
    limit, marker = limit_marker(req, usage.MAX_LIMIT)
    return limit or None, marker


def _links(req: ApiRequest, servers: list[dict[str, Any]], limit: int | None) -> list[Any]:
    if not req.at_least("2.40"):
        return []
    return next_links(req, servers, limit or usage.MAX_LIMIT, "", id_key="instance_id")


@router.route("GET", "/v2.1/os-simple-tenant-usage")
def list_usage(req: ApiRequest) -> Reply:
    if req.raw_path.endswith("/"):
        # ``os-simple-tenant-usage/`` names tenant "", which no Nova route matches (404);
        # it is not the list (the framework strips the slash before matching)
        raise NotFound("The resource could not be found.")
    strict_query(req, ("start", "end", "detailed", "limit", "marker"), "2.75")
    who = caller(req)
    who.check("os-simple-tenant-usage:list")
    start, stop = usage.period(req.query.get("start"), req.query.get("end"))
    detailed = req.query.get("detailed", "0").strip().lower() in ("1", "true", "yes")
    limit, marker = _page(req)
    totals, servers = usage.tenant_usages(
        compute(req), who, start, stop, detailed=detailed, limit=limit, marker=marker
    )
    body: dict[str, Any] = {"tenant_usages": totals}
    links = _links(req, servers, limit)
    if links:
        body["tenant_usages_links"] = links
    return Reply(200, body)


@router.route("GET", "/v2.1/os-simple-tenant-usage/{tenant_id}")
def show_usage(req: ApiRequest) -> Reply:
    strict_query(req, ("start", "end", "limit", "marker"), "2.75")
    who = caller(req)
    tenant_id = req.params["tenant_id"]
    who.check("os-simple-tenant-usage:show", {"project_id": tenant_id})
    start, stop = usage.period(req.query.get("start"), req.query.get("end"))
    limit, marker = _page(req)
    totals, servers = usage.tenant_usages(
        compute(req), who, start, stop, project_id=tenant_id, limit=limit, marker=marker
    )
    body: dict[str, Any] = {"tenant_usage": totals[0] if totals else {}}
    links = _links(req, servers, limit)
    if links:
        body["tenant_usage_links"] = links
    return Reply(200, body)
