"""What every network handler shares: the router, the service, the caller, and the
Neutron request/response conventions (bodies, ``fields``, lists)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
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


Filters = dict[str, list[str]]
Headers = Mapping[str, str]
Item = dict[str, Any]


@dataclass(frozen=True)
class Collection:
    """A Neutron collection's standard routes (list, create with bulk, show, update,
    delete) wired to its service functions, so every resource answers the same way."""

    resource: str  # "network"
    collection: str  # "networks"
    path: str  # "/v2.0/networks"
    attrs: Mapping[str, Attr]
    list_items: Callable[[NetworkService, Caller, Filters], list[Item]]
    get_item: Callable[[NetworkService, Caller, str], Item]
    create_item: Callable[[NetworkService, Caller, Item], Item]
    delete_item: Callable[[NetworkService, Caller, str, Headers], None]
    update_item: Callable[[NetworkService, Caller, str, Item, Headers], Item] | None = None
    create_items: Callable[[NetworkService, Caller, list[Item]], list[Item]] | None = None
    # filters the service already applied in its own way (not compared on the views)
    skip_filters: tuple[str, ...] = ()

    def serve(self) -> None:
        """Add the routes to the network router."""
        one = self.path + "/{id}"
        route("GET", self.path)(self._list)
        route("POST", self.path)(self._create)
        route("GET", one)(self._show)
        if self.update_item is not None:
            route("PUT", one)(self._update)
        route("DELETE", one)(self._delete)

    def _list(self, req: ApiRequest) -> Reply:
        items = self.list_items(service(req), caller(req), filters(req))
        return list_of(req, self.collection, items, self.skip_filters)

    def _create(self, req: ApiRequest) -> Reply:
        svc, who = service(req), caller(req)
        if self.create_items is not None:
            items = bulk_bodies(req, self.resource, self.collection, self.attrs)
            if items is not None:
                return many(req, self.collection, self.create_items(svc, who, items))
        created = self.create_item(svc, who, body(req, self.resource, self.attrs))
        return show(req, self.resource, created, 201)

    def _show(self, req: ApiRequest) -> Reply:
        return show(req, self.resource, self.get_item(service(req), caller(req), req.params["id"]))

    def _update(self, req: ApiRequest) -> Reply:
        assert self.update_item is not None
        attrs = body(req, self.resource, self.attrs, update=True)
        updated = self.update_item(service(req), caller(req), req.params["id"], attrs, req.headers)
        return show(req, self.resource, updated)

    def _delete(self, req: ApiRequest) -> Reply:
        self.delete_item(service(req), caller(req), req.params["id"], req.headers)
        return Reply(204)
