"""A server's instance actions: ``/servers/{id}/os-instance-actions[/{request_id}]``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from nubo.api.routing import ApiRequest, Reply
from nubo.compute import server_history
from nubo.compute.api.common import caller, compute, limit_marker, router
from nubo.compute.server_list import parse_time

BASE = "/v2.1/servers/{server_id}/os-instance-actions"


@router.route("GET", BASE)
def list_instance_actions(req: ApiRequest) -> Reply:
    paged = req.at_least("2.58")
    kwargs: dict[str, Any] = {}
    limit = None
    if paged:
        limit, marker = limit_marker(req)
        kwargs.update(limit=limit, marker=marker)
        if "changes-since" in req.query:
            kwargs["since"] = parse_time("changes-since", req.query["changes-since"])
        if req.at_least("2.66") and "changes-before" in req.query:
            kwargs["before"] = parse_time("changes-before", req.query["changes-before"])
    items = server_history.list_actions(
        compute(req),
        caller(req),
        req.params["server_id"],
        deleted_too=req.at_least("2.21"),
        paged=paged,
        **kwargs,
    )
    body: dict[str, Any] = {"instanceActions": items}
    if paged and limit is not None and items and len(items) >= limit:
        query = [(k, v) for k, v in req.query_items if k != "marker"]
        query.append(("marker", items[-1]["request_id"]))
        body["links"] = [{"rel": "next", "href": f"{req.url}?{urlencode(query)}"}]
    return Reply(200, body)


@router.route("GET", BASE + "/{request_id}")
def show_instance_action(req: ApiRequest) -> Reply:
    item = server_history.show_action(
        compute(req),
        caller(req),
        req.params["server_id"],
        req.params["request_id"],
        deleted_too=req.at_least("2.21"),
        updated=req.at_least("2.58"),
        events_for_all=req.at_least("2.51"),
        host_ids=req.at_least("2.62"),
        details=req.at_least("2.84"),
    )
    return Reply(200, {"instanceAction": item})
