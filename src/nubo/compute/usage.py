"""Tenant usage (os-simple-tenant-usage): server hours and the vCPU, memory and disk
hours they add up to, per project, over a period.

A server counts from its launch until it was terminated (or deleted), clipped to the
period; servers that never launched cost nothing, as in Nova. Deleted servers keep
their rows, so past periods stay answerable.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from nubo.compute import models as m
from nubo.compute.access import Caller
from nubo.compute.hosts import nova_time
from nubo.db.base import UTCDateTime, utcnow
from nubo.errors import BadRequest

if TYPE_CHECKING:
    from nubo.compute.service import ComputeService

# Nova's CONF.api.max_limit: a page never holds more servers
MAX_LIMIT = 1000
_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d %H:%M:%S.%f")


def parse_time(value: str | None, field: str) -> dt.datetime | None:
    """A ``start``/``end`` query value (Nova's formats, or ISO 8601 with a zone)."""
    if value is None or value == "":
        return None
    for fmt in _FORMATS:
        try:
            return dt.datetime.strptime(value, fmt).replace(tzinfo=dt.UTC)
        except ValueError:
            pass
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        when = dt.datetime.fromisoformat(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return when.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise BadRequest(
            f"Invalid datetime string: '{field}' ({value}) is in an invalid format; "
            "use YYYY-MM-DDThh:mm:ss[.ffffff]."
        ) from None


def period(start_text: str | None, end_text: str | None) -> tuple[dt.datetime, dt.datetime]:
    """The period asked for (both ends default to now), its end capped at now."""
    now = utcnow()
    start = parse_time(start_text, "start") or now
    stop = parse_time(end_text, "end") or now
    if start > stop or (start == stop and (start_text or end_text)):
        raise BadRequest("Invalid start time. The start time cannot occur after the end time.")
    return start, min(stop, now)


def _ended(server: m.Server) -> dt.datetime | None:
    return server.terminated_at or server.deleted_at


def hours_in(server: m.Server, start: dt.datetime, stop: dt.datetime) -> float:
    """The hours of ``server``'s life inside [start, stop]."""
    launched = server.launched_at
    if launched is None:
        return 0.0
    ended = _ended(server)
    begin = max(launched, start)
    end = min(ended, stop) if ended else stop
    return max(0.0, (end - begin).total_seconds() / 3600.0)


def server_usage(
    server: m.Server, start: dt.datetime, stop: dt.datetime, now: dt.datetime
) -> dict[str, Any]:
    flavor = server.flavor or {}
    ended = _ended(server)
    launched = server.launched_at or server.created_at
    return {
        "instance_id": server.id,
        "name": server.name,
        "tenant_id": server.project_id,
        "hours": hours_in(server, start, stop),
        "flavor": flavor.get("name", ""),
        "memory_mb": int(flavor.get("memory_mb", 0)),
        "local_gb": int(flavor.get("root_gb", 0)) + int(flavor.get("ephemeral_gb", 0)),
        "vcpus": int(flavor.get("vcpus", 0)),
        "started_at": nova_time(launched),
        "ended_at": nova_time(ended),
        "state": "terminated" if ended else server.vm_state,
        "uptime": int(((ended or now) - launched).total_seconds()),
    }


def _servers(
    s: Session,
    start: dt.datetime,
    stop: dt.datetime,
    project_id: str | None,
    limit: int,
    marker: str | None,
) -> list[m.Server]:
    ended = func.coalesce(m.Server.terminated_at, m.Server.deleted_at, type_=UTCDateTime)
    stmt = select(m.Server).where(
        m.Server.launched_at.is_not(None),
        m.Server.launched_at < stop,
        or_(ended.is_(None), ended > start),
    )
    if project_id is not None:
        stmt = stmt.where(m.Server.project_id == project_id)
    if marker is not None:
        anchor = s.get(m.Server, marker)
        if anchor is None:
            raise BadRequest(f"Marker {marker} could not be found.")
        stmt = stmt.where(
            or_(
                m.Server.project_id > anchor.project_id,
                and_(m.Server.project_id == anchor.project_id, m.Server.id > anchor.id),
            )
        )
    stmt = stmt.order_by(m.Server.project_id, m.Server.id).limit(limit)
    return list(s.scalars(stmt))


def tenant_usages(
    svc: ComputeService,
    caller: Caller,
    start: dt.datetime,
    stop: dt.datetime,
    *,
    project_id: str | None = None,
    detailed: bool = True,
    limit: int | None = None,
    marker: str | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per-project totals (with ``server_usages`` when detailed) and every server
    usage of the page (for its ``next`` link). ``project_id`` None: every project
    (admin); else that project's (its members and admins)."""
    if project_id is None:
        caller.check("os-simple-tenant-usage:list")
    else:
        caller.check("os-simple-tenant-usage:show", {"project_id": project_id})
    page = MAX_LIMIT if limit is None else min(limit, MAX_LIMIT)
    now = utcnow()
    with svc.db.reader() as s:
        servers = _servers(s, start, stop, project_id, page, marker)
    totals: dict[str, dict[str, Any]] = {}
    every: list[dict[str, Any]] = []
    for server in servers:
        info = server_usage(server, start, stop, now)
        summary = totals.get(server.project_id)
        if summary is None:
            summary = totals[server.project_id] = {
                "tenant_id": server.project_id,
                "total_local_gb_usage": 0.0,
                "total_vcpus_usage": 0.0,
                "total_memory_mb_usage": 0.0,
                "total_hours": 0.0,
                "start": nova_time(start),
                "stop": nova_time(stop),
            }
            if detailed:
                summary["server_usages"] = []
        hours = info["hours"]
        summary["total_local_gb_usage"] += info["local_gb"] * hours
        summary["total_vcpus_usage"] += info["vcpus"] * hours
        summary["total_memory_mb_usage"] += info["memory_mb"] * hours
        summary["total_hours"] += hours
        if detailed:
            summary["server_usages"].append(info)
        every.append(info)
    return list(totals.values()), every
