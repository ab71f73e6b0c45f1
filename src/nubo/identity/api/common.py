"""What every identity handler shares: the router, the service object, listings."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from nubo.api.pagination import Page, next_link, page_params
from nubo.api.routing import ApiRequest, Reply, Router, collection_links
from nubo.identity.resources import DEFAULT_DOMAIN_ID
from nubo.identity.service import Identity

router = Router()
route = router.route


def identity(req: ApiRequest) -> Identity:
    svc: Identity = req.app.state["identity"]
    return svc


def page(req: ApiRequest, sort_keys: Sequence[str] = ("id", "name"), default: str = "id") -> Page:
    return page_params(req.query, sort_keys, default)


def listing(
    req: ApiRequest,
    key: str,
    rows: Sequence[Any],
    view: Callable[..., dict[str, Any]],
    pg: Page | None = None,
) -> Reply:
    """A Keystone list body: ``{key: [...], "links": {...}}``."""
    items = [view(req.service_url, r) for r in rows]
    nxt = next_link(req.url, req.query_items, pg, items) if pg else None
    return Reply(200, {key: items, "links": collection_links(req, nxt)})


def one(key: str, item: dict[str, Any], status: int = 200) -> Reply:
    return Reply(status, {key: item})


def default_domain(req: ApiRequest) -> str:
    """Where a new user, group or project lands when the body names no domain."""
    auth = req.ctx.auth
    if auth is not None and auth.domain_id:
        return auth.domain_id
    return DEFAULT_DOMAIN_ID


NO_CONTENT = Reply(204)
