"""What every compute handler shares: the router, microversions, the caller and the
service object, and Nova's list pagination."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nubo.api.context import RequestContext
from nubo.api.microversions import Version, VersionRange
from nubo.api.routing import ApiRequest, Router
from nubo.compute.access import Caller
from nubo.compute.service import ComputeService
from nubo.errors import BadRequest

router = Router()

# the newest microversion whose behaviour changes nubo honours (see docs/compatibility.md)
MAX_VERSION = Version(2, 96)
VERSIONS = VersionRange(
    "compute", Version(2, 1), MAX_VERSION, legacy_header="X-OpenStack-Nova-API-Version"
)


def compute(req: ApiRequest) -> ComputeService:
    svc: ComputeService = req.app.state["compute"]
    return svc


def caller(req: ApiRequest) -> Caller:
    ctx = req.ctx
    return Caller(
        project_id=ctx.project_id or "",
        user_id=ctx.user_id or "",
        is_admin="admin" in ctx.roles,
        allowed=lambda rule, target: req.allowed(rule, target),
        request_id=ctx.request_id,
    )


def response_headers(ctx: RequestContext) -> dict[str, str]:
    return {"x-compute-request-id": ctx.request_id}


def limit_marker(req: ApiRequest, max_limit: int = 1000) -> tuple[int | None, str | None]:
    """Nova's ``limit`` (a non-negative integer, capped) and ``marker``."""
    query = req.query
    limit: int | None = None
    if "limit" in query:
        try:
            limit = int(query["limit"])
        except ValueError:
            raise BadRequest(
                f"Invalid input for query parameters limit. Value: {query['limit']}. "
                "Not a valid integer."
            ) from None
        if limit < 0:
            raise BadRequest("Invalid input for query parameters limit: must be >= 0.")
        limit = min(limit, max_limit)
    return limit, query.get("marker")


def next_links(
    req: ApiRequest,
    items: Sequence[dict[str, Any]],
    limit: int | None,
    collection: str,
    id_key: str = "id",
) -> list[dict[str, str]]:
    """``<collection>_links`` with a ``next`` link when the page came back full."""
    if limit is None or not items or len(items) < limit:
        return []
    from urllib.parse import urlencode

    query = [(k, v) for k, v in req.query_items if k != "marker"]
    query.append(("marker", str(items[-1][id_key])))
    base = req.url
    return [{"rel": "next", "href": f"{base}?{urlencode(query)}"}]


def link(req: ApiRequest, collection: str, item_id: str) -> list[dict[str, str]]:
    """Nova's ``links``: a versioned self and an unversioned bookmark."""
    root = req.service_url
    return [
        {"rel": "self", "href": f"{root}/v2.1/{collection}/{item_id}"},
        {"rel": "bookmark", "href": f"{root}/{collection}/{item_id}"},
    ]
