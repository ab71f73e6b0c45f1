"""Migrations: /os-migrations (admin), every resize and migration with filters.

2.23 adds ``migration_type`` (and links to in-progress live migrations), 2.59 the
uuid, ``limit``/``marker`` paging (newest first) and ``changes-since``, 2.66
``changes-before``, 2.80 ``user_id``/``project_id`` (fields and filters).
"""

from __future__ import annotations

from typing import Any

from nubo.api.routing import ApiRequest, Reply
from nubo.compute import hosts, migrations
from nubo.compute import models as m
from nubo.compute.api.common import caller, compute, limit_marker, link, next_links, router
from nubo.compute.api.services import strict_query

LIVE_IN_PROGRESS = frozenset({"queued", "preparing", "running", "post-migrating"})
_FILTERS_V21 = ("hidden", "host", "instance_uuid", "source_compute", "status", "migration_type")


def _flavor_id(value: str | None) -> int | str | None:
    # Nova shows its internal integer flavor ids here; nubo's ids are the flavors' own
    if value is None:
        return None
    return int(value) if value.isdigit() else value


def view(req: ApiRequest, row: m.Migration, host_ips: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row.id,
        "instance_uuid": row.server_id,
        "status": row.status,
        "source_compute": row.source_compute,
        "source_node": row.source_node,
        "dest_compute": row.dest_compute,
        "dest_node": row.dest_node,
        "dest_host": host_ips.get(row.dest_compute or ""),
        "old_instance_type_id": _flavor_id(row.old_flavor_id),
        "new_instance_type_id": _flavor_id(row.new_flavor_id),
        "created_at": hosts.nova_time(row.created_at),
        "updated_at": hosts.nova_time(row.updated_at),
    }
    if req.at_least("2.23"):
        body["migration_type"] = row.migration_type
        if row.migration_type == "live-migration" and row.status in LIVE_IN_PROGRESS:
            body["links"] = link(req, f"servers/{row.server_id}/migrations", str(row.id))
    if req.at_least("2.59"):
        body["uuid"] = row.uuid
    if req.at_least("2.80"):
        body["user_id"] = row.user_id
        body["project_id"] = row.project_id
    return body


def _allowed(req: ApiRequest) -> tuple[str, ...]:
    allowed = [*_FILTERS_V21, "limit", "marker", "changes-since"]
    if req.at_least("2.66"):
        allowed.append("changes-before")
    if req.at_least("2.80"):
        allowed += ["user_id", "project_id"]
    return tuple(allowed)


@router.route("GET", "/v2.1/os-migrations")
def list_migrations(req: ApiRequest) -> Reply:
    who = caller(req)
    who.check("os-migrations:index")
    paging = req.at_least("2.59")
    strict_query(req, _allowed(req), "2.59")
    limit: int | None = None
    marker: str | None = None
    if paging:
        limit, marker = limit_marker(req)
        limit = limit or 1000
    # Nova never lists hidden migrations; nubo has none
    if req.query.get("hidden", "0").strip().lower() in ("1", "true", "yes", "on"):
        rows: list[m.Migration] = []
        host_ips: dict[str, str] = {}
    else:
        with compute(req).db.reader() as s:
            rows = migrations.list_migrations(
                s, req.query, req.query_all("status"), req.version, limit, marker
            )
            host_ips = migrations.host_ips(s)
    items = [view(req, r, host_ips) for r in rows]
    body: dict[str, Any] = {"migrations": items}
    if paging:
        links = next_links(req, items, limit, "os-migrations", id_key="uuid")
        if links:
            body["migrations_links"] = links
    return Reply(200, body)
