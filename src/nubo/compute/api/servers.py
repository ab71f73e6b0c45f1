"""Server handlers: list, detail, show, create, update, delete and the action entry."""

from __future__ import annotations

from typing import Any

from nubo.api.routing import ApiRequest, Reply
from nubo.compute import server_list, servers
from nubo.compute.api.common import caller, compute, limit_marker, next_links, router
from nubo.compute.api.server_actions_registry import ACTIONS
from nubo.compute.server_views import ViewContext, basic, brief, views
from nubo.errors import BadRequest


def view_context(req: ApiRequest) -> ViewContext:
    return ViewContext(service_url=req.service_url, version=req.version, caller=caller(req))


def _query_all(req: ApiRequest) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for key, value in req.query_items:
        result.setdefault(key, []).append(value)
    return result


def _list(req: ApiRequest, detail: bool) -> Reply:
    who = caller(req)
    who.check("servers:detail" if detail else "servers:index")
    limit, marker = limit_marker(req)
    svc = compute(req)
    ctx = view_context(req)
    with svc.db.reader() as s:
        rows = server_list.list_servers(
            s, who, req.query, _query_all(req), req.version, limit, marker, detail
        )
        items = views(s, ctx, rows) if detail else [brief(ctx, r) for r in rows]
    body: dict[str, Any] = {"servers": items}
    links = next_links(req, items, limit, "servers")
    if links:
        body["servers_links"] = links
    return Reply(200, body)


@router.route("GET", "/v2.1/servers")
def list_servers(req: ApiRequest) -> Reply:
    return _list(req, detail=False)


@router.route("GET", "/v2.1/servers/detail")
def list_servers_detail(req: ApiRequest) -> Reply:
    return _list(req, detail=True)


@router.route("GET", "/v2.1/servers/{server_id}")
def show_server(req: ApiRequest) -> Reply:
    who = caller(req)
    svc = compute(req)
    with svc.db.reader() as s:
        row = servers.find(s, who, req.params["server_id"])
        who.check("servers:show", {"project_id": row.project_id})
        (body,) = views(s, view_context(req), [row], with_groups=True)
    return Reply(200, {"server": body})


@router.route("POST", "/v2.1/servers")
def create_server(req: ApiRequest) -> Reply:
    who = caller(req)
    body = req.json()
    rows, reservation = servers.create_servers(compute(req), who, body, req.version)
    server = body["server"]
    if server.get("return_reservation_id") in (True, "True", "true"):
        return Reply(202, {"reservation_id": reservation})
    first = rows[0]
    ctx = view_context(req)
    reply: dict[str, Any] = {
        "id": first.id,
        "links": ctx.links("servers", first.id),
        "OS-DCF:diskConfig": first.disk_config,
        "security_groups": [{"name": n} for n in first.security_groups],
        "adminPass": first.task_args.get("admin_pass", ""),
    }
    return Reply(
        202, {"server": reply}, headers={"location": ctx.links("servers", first.id)[0]["href"]}
    )


@router.route("PUT", "/v2.1/servers/{server_id}")
def update_server(req: ApiRequest) -> Reply:
    who = caller(req)
    svc = compute(req)
    row = servers.update_server(svc, who, req.params["server_id"], req.json(), req.version)
    with svc.db.reader() as s:
        (body,) = views(s, view_context(req), [row], with_groups=True)
    return Reply(200, {"server": basic(body, req.version)})


@router.route("DELETE", "/v2.1/servers/{server_id}")
def delete_server(req: ApiRequest) -> Reply:
    servers.delete_server(compute(req), caller(req), req.params["server_id"])
    return Reply(204)


@router.route("POST", "/v2.1/servers/{server_id}/action")
def server_action(req: ApiRequest) -> Reply:
    body = req.json()
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("The action body must be an object with exactly one action.")
    ((name, args),) = body.items()
    handler = ACTIONS.get(name)
    if handler is None:
        raise BadRequest(f"There is no such action: {name}")
    return handler(req, req.params["server_id"], args)
