"""A server's instance actions (``/servers/{id}/os-instance-actions``): what was asked,
by whom, and (policy permitting) the events of carrying it out. From 2.21 a deleted
server's actions stay readable; from 2.58 the list pages by request id and filters
on ``changes-since`` / ``changes-before`` (2.66)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nubo.compute import actions
from nubo.compute import models as m
from nubo.compute.access import Caller
from nubo.compute.server_views import host_id
from nubo.compute.servers import not_found
from nubo.compute.service import ComputeService
from nubo.errors import BadRequest, NotFound


def _server(s: Session, caller: Caller, server_id: str, deleted_too: bool) -> m.Server:
    row = s.get(m.Server, server_id)
    if row is None or not caller.owns(row.project_id):
        raise not_found(server_id)
    if row.deleted_at is not None and not deleted_too:
        raise not_found(server_id)
    return row


def _time(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def _action(row: m.InstanceAction, updated: bool) -> dict[str, Any]:
    body = {
        "action": row.action,
        "instance_uuid": row.server_id,
        "request_id": row.request_id,
        "user_id": row.user_id,
        "project_id": row.project_id,
        "start_time": _time(row.start_time),
        "message": row.message,
    }
    if updated:
        body["updated_at"] = _time(row.updated_at)
    return body


def list_actions(
    svc: ComputeService,
    caller: Caller,
    server_id: str,
    *,
    deleted_too: bool,
    paged: bool,
    limit: int | None = None,
    marker: str | None = None,
    since: dt.datetime | None = None,
    before: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Newest first; ``marker`` is the request id of the last action of the page before."""
    if since and before and since > before:
        raise BadRequest("The value of changes-since must be less than or equal to changes-before.")
    with svc.db.reader() as s:
        server = _server(s, caller, server_id, deleted_too)
        caller.check("os-instance-actions:list", {"project_id": server.project_id})
        rows = actions.list_actions(s, server.id)
    if since:
        rows = [r for r in rows if r.updated_at >= since]
    if before:
        rows = [r for r in rows if r.updated_at <= before]
    if marker is not None:
        ids = [r.request_id for r in rows]
        if marker not in ids:
            raise BadRequest(f"Marker {marker} could not be found.")
        rows = rows[ids.index(marker) + 1 :]
    if limit is not None:
        rows = rows[:limit]
    return [_action(r, paged) for r in rows]


def show_action(
    svc: ComputeService,
    caller: Caller,
    server_id: str,
    request_id: str,
    *,
    deleted_too: bool,
    updated: bool,
    events_for_all: bool,
    host_ids: bool,
    details: bool,
) -> dict[str, Any]:
    """One action with its events: all of an event for callers the events policy allows;
    from 2.51 the others see events without traceback and host."""
    with svc.db.reader() as s:
        server = _server(s, caller, server_id, deleted_too)
        target = {"project_id": server.project_id}
        caller.check("os-instance-actions:show", target)
        row = s.scalar(
            select(m.InstanceAction)
            .where(
                m.InstanceAction.server_id == server.id,
                m.InstanceAction.request_id == request_id,
            )
            .order_by(m.InstanceAction.id.desc())
        )
        if row is None:
            raise NotFound(f"Action {request_id} not found")
        body = _action(row, updated)
        full = caller.can("os-instance-actions:events", target)
        if not (full or events_for_all):
            return body
        show_details = details and caller.can("os-instance-actions:events:details", target)
        events = []
        for event in actions.events_of(s, row.id):
            item: dict[str, Any] = {
                "event": event.event,
                "start_time": _time(event.start_time),
                "finish_time": _time(event.finish_time),
                "result": event.result,
            }
            if full:
                item["traceback"] = event.traceback
                if host_ids:
                    item["host"] = event.host
            if host_ids:
                item["hostId"] = host_id(row.project_id or server.project_id, event.host)
            if show_details:
                item["details"] = event.details
            events.append(item)
        body["events"] = events
        return body
