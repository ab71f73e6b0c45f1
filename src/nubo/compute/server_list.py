"""Listing servers: Nova's filters, sorting and limit/marker pagination."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Select, Text, cast, select
from sqlalchemy.orm import Session

from nubo.api.microversions import Version
from nubo.compute import models as m
from nubo.compute import states
from nubo.compute.access import Caller
from nubo.compute.server_views import addresses
from nubo.errors import BadRequest

V = Version.parse
SORT_KEYS = {
    "created_at": m.Server.created_at,
    "updated_at": m.Server.updated_at,
    "display_name": m.Server.name,
    "uuid": m.Server.id,
    "vm_state": m.Server.vm_state,
    "task_state": m.Server.task_state,
    "power_state": m.Server.power_state,
    "launched_at": m.Server.launched_at,
    "terminated_at": m.Server.terminated_at,
    "availability_zone": m.Server.availability_zone,
    "host": m.Server.host,
    "hostname": m.Server.hostname,
    "key_name": m.Server.key_name,
    "project_id": m.Server.project_id,
    "user_id": m.Server.user_id,
    "launch_index": m.Server.launch_index,
    "display_description": m.Server.description,
    "locked": m.Server.locked,
}
_ADMIN_SORT_ONLY = {"host", "node"}


def parse_time(name: str, value: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"Invalid filter field: {name}. Value {value!r} is not an ISO 8601 date-time."
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _bool(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "1", "yes", "t", "on"):
        return True
    if lowered in ("false", "0", "no", "f", "off"):
        return False
    raise BadRequest(f"Invalid input for query parameters {name}. Value: {value}.")


def list_servers(
    s: Session,
    caller: Caller,
    query: Mapping[str, str],
    query_all: Mapping[str, Sequence[str]],
    version: Version,
    limit: int | None,
    marker: str | None,
    detail: bool,
) -> list[m.Server]:
    """The servers the caller may see that match the query, sorted and paged."""
    all_tenants = "all_tenants" in query and query["all_tenants"].lower() not in (
        "0",
        "false",
        "f",
        "no",
        "off",
    )
    if all_tenants:
        caller.check(("servers:detail" if detail else "servers:index") + ":get_all_tenants")
    stmt: Select[Any] = select(m.Server)
    if not (caller.is_admin and all_tenants):
        stmt = stmt.where(m.Server.project_id == caller.project_id)
    elif query.get("project_id") or query.get("tenant_id"):
        stmt = stmt.where(
            m.Server.project_id == (query.get("project_id") or query.get("tenant_id"))
        )
    since = query.get("changes-since")
    before = query.get("changes-before")
    if before is not None and version < V("2.66"):
        before = None
    deleted = caller.is_admin and query.get("deleted", "").lower() in ("true", "1", "yes")
    if since:
        stmt = stmt.where(m.Server.updated_at >= parse_time("changes-since", since))
    if before:
        stmt = stmt.where(m.Server.updated_at <= parse_time("changes-before", before))
    if (
        since
        and before
        and parse_time("changes-since", since) > parse_time("changes-before", before)
    ):
        raise BadRequest("The value of changes-since must be less than or equal to changes-before.")
    if deleted:
        stmt = stmt.where(m.Server.deleted_at.isnot(None))
    elif not since and not before:
        stmt = stmt.where(m.Server.deleted_at.is_(None))
    statuses = {v.upper() for v in query_all.get("status", [])}
    if "DELETED" in statuses:
        if not caller.is_admin:
            return []
        stmt = stmt.where(m.Server.deleted_at.isnot(None))
        statuses.discard("DELETED")
        statuses.add("DELETED")
    for value in statuses:
        if value not in states.ALL_STATUSES:
            if caller.is_admin:
                raise BadRequest(f"Invalid status value: {value}")
            return []
    if "flavor" in query:
        wanted = query["flavor"].rstrip("/").rsplit("/", 1)[-1]
        stmt = stmt.where(cast(m.Server.flavor, Text).like(f'%"id": {json.dumps(wanted)}%'))
    if "image" in query:
        image = query["image"].rstrip("/").rsplit("/", 1)[-1]
        stmt = stmt.where(m.Server.image_id == image)
    if "reservation_id" in query:
        stmt = stmt.where(m.Server.reservation_id == query["reservation_id"])
    for name, column in (
        ("host", m.Server.host),
        ("node", m.Server.node),
        ("user_id", m.Server.user_id),
        ("key_name", m.Server.key_name),
        ("vm_state", m.Server.vm_state),
        ("task_state", m.Server.task_state),
        ("uuid", m.Server.id),
        ("availability_zone", m.Server.availability_zone),
    ):
        if name in query and (
            caller.is_admin
            or name in ("availability_zone", "uuid")
            or (version >= V("2.83") and name in ("user_id", "key_name", "vm_state", "task_state"))
        ):
            stmt = stmt.where(column == query[name])
    if "locked" in query and version >= V("2.73"):
        stmt = stmt.where(m.Server.locked.is_(_bool("locked", query["locked"])))
    if "config_drive" in query and (caller.is_admin or version >= V("2.83")):
        stmt = stmt.where(m.Server.config_drive.is_(_bool("config_drive", query["config_drive"])))
    stmt = _sorted(stmt, caller, query_all)
    rows = list(s.scalars(stmt))
    if statuses:
        rows = [
            r
            for r in rows
            if states.status(r.vm_state, r.task_state) in statuses
            or (r.deleted_at is not None and "DELETED" in statuses)
        ]
    rows = _python_filters(s, rows, query, version)
    if marker is not None:
        position = next((i for i, r in enumerate(rows) if r.id == marker), None)
        if position is None:
            if s.get(m.Server, marker) is None:
                raise BadRequest(f"marker [{marker}] not found")
            position = -1
        rows = rows[position + 1 :]
    if limit is not None:
        rows = rows[:limit]
    return rows


def _sorted(
    stmt: Select[Any], caller: Caller, query_all: Mapping[str, Sequence[str]]
) -> Select[Any]:
    keys = list(query_all.get("sort_key", []))
    dirs = list(query_all.get("sort_dir", []))
    order: list[Any] = []
    for index, key in enumerate(keys):
        if key not in SORT_KEYS or (key in _ADMIN_SORT_ONLY and not caller.is_admin):
            if key in _ADMIN_SORT_ONLY:
                raise BadRequest(f"Only administrators can sort servers by {key}")
            raise BadRequest(f"Invalid input for query parameters sort_key. Value: {key}.")
        direction = dirs[index] if index < len(dirs) else (dirs[-1] if dirs else "desc")
        if direction not in ("asc", "desc"):
            raise BadRequest(f"Invalid input for query parameters sort_dir. Value: {direction}.")
        column = SORT_KEYS[key]
        order.append(column.asc() if direction == "asc" else column.desc())
    if not order:
        order = [m.Server.created_at.desc()]
    return stmt.order_by(*order, m.Server.id.desc())


def _python_filters(
    s: Session, rows: list[m.Server], query: Mapping[str, str], version: Version
) -> list[m.Server]:
    if "name" in query:
        pattern = _regex("name", query["name"])
        rows = [r for r in rows if pattern.search(r.name)]
    if "description" in query and version >= V("2.83"):
        pattern = _regex("description", query["description"])
        rows = [r for r in rows if r.description and pattern.search(r.description)]
    if "hostname" in query and version >= V("2.90"):
        pattern = _regex("hostname", query["hostname"])
        rows = [r for r in rows if pattern.search(r.hostname)]
    if "ip" in query or "ip6" in query:
        addrs = addresses(s, [r.id for r in rows])
        ip4 = _regex("ip", query["ip"]) if "ip" in query else None
        ip6 = _regex("ip6", query["ip6"]) if "ip6" in query else None

        def matches(server_id: str) -> bool:
            for entries in addrs.get(server_id, {}).values():
                for entry in entries:
                    if entry["OS-EXT-IPS:type"] != "fixed":
                        continue
                    pattern = ip4 if entry["version"] == 4 else ip6
                    if pattern is not None and pattern.search(entry["addr"]):
                        return True
            return False

        rows = [r for r in rows if matches(r.id)]
    if version >= V("2.26"):
        rows = _tag_filters(rows, query)
    return rows


def _regex(name: str, value: str) -> re.Pattern[str]:
    try:
        return re.compile(value)
    except re.error:
        raise BadRequest(
            f"Invalid input for query parameters {name}: not a regular expression."
        ) from None


def _tag_filters(rows: list[m.Server], query: Mapping[str, str]) -> list[m.Server]:
    def tags(name: str) -> set[str] | None:
        return set(query[name].split(",")) if query.get(name) else None

    every, some, not_every, not_some = (
        tags("tags"),
        tags("tags-any"),
        tags("not-tags"),
        tags("not-tags-any"),
    )
    result = []
    for row in rows:
        have = set(row.tags or [])
        if every is not None and not every <= have:
            continue
        if some is not None and not some & have:
            continue
        if not_every is not None and not_every <= have:
            continue
        if not_some is not None and not_some & have:
            continue
        result.append(row)
    return result
