"""What every network handler shares: the router, the service, the caller, and the
Neutron request/response conventions (bodies, ``fields``, lists)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from nubo.api.routing import ApiRequest, Reply, Router
from nubo.errors import BadRequest
from nubo.network.access import Caller
from nubo.network.attributes import Attr, parse_body, parse_item
from nubo.network.listing import listing, query_filters, select_fields
from nubo.network.service import NetworkService

router = Router()
route = router.route


def service(req: ApiRequest) -> NetworkService:
    svc: NetworkService = req.app.state["network"]
    return svc


def caller(req: ApiRequest) -> Caller:
    ctx = req.ctx
    return Caller(
        project_id=ctx.project_id or "",
        is_admin=req.allowed("context_is_admin"),
        allowed=lambda rule, target: req.allowed(rule, target),
        user_id=ctx.user_id,
        request_id=ctx.request_id,
    )


def body(
    req: ApiRequest, resource: str, attrs: Mapping[str, Attr], update: bool = False
) -> dict[str, Any]:
    return parse_body(req.json(), resource, attrs, update=update)


def bulk_bodies(
    req: ApiRequest, resource: str, collection: str, attrs: Mapping[str, Attr]
) -> list[dict[str, Any]] | None:
    """The items of a bulk create (``{"networks": [...]}``), or None for a single one."""
    data = req.json()
    if isinstance(data, dict) and collection in data:
        items = data[collection]
        if not isinstance(items, list) or not items:
            raise BadRequest(f"Resources required: '{collection}' must be a non-empty list.")
        return [parse_item(i, resource, attrs) for i in items]
    return None


def fields(req: ApiRequest) -> list[str]:
    return [v for k, v in req.query_items if k == "fields"]


def filters(req: ApiRequest) -> dict[str, list[str]]:
    return query_filters(req.query_items)


def show(req: ApiRequest, resource: str, item: dict[str, Any], status: int = 200) -> Reply:
    return Reply(status, {resource: select_fields(item, fields(req))})


def many(req: ApiRequest, collection: str, items: list[dict[str, Any]], status: int = 201) -> Reply:
    return Reply(status, {collection: items})


def list_of(
    req: ApiRequest,
    collection: str,
    items: Iterable[dict[str, Any]],
    skip_filters: Iterable[str] = (),
) -> Reply:
    items = list(items)
    sortable = set(items[0]) if items else {"id", "name"}
    sortable |= {"id", "name", "created_at", "updated_at"}
    url = f"{req.service_url}{req.path}"
    return Reply(200, listing(items, req.query_items, collection, url, sortable, skip_filters))
