"""Migrations of servers (os-migrations): the rows every resize and move writes, listed
with Nova's filters. 2.59 pages newest first by ``marker`` (a uuid) and adds
``changes-since``, 2.66 ``changes-before``, 2.80 ``user_id``/``project_id``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from nubo.api.microversions import Version
from nubo.api.validation import parse_timestamp
from nubo.compute import models as m
from nubo.db.base import UTCDateTime
from nubo.errors import BadRequest

V = Version.parse


def host_ips(s: Session) -> dict[str, str]:
    """Each compute host's address (``dest_host``)."""
    return {n.host: n.host_ip for n in s.scalars(select(m.ComputeNode))}


def list_migrations(
    s: Session,
    query: Mapping[str, str],
    statuses: Sequence[str],
    version: Version,
    limit: int | None,
    marker: str | None,
) -> list[m.Migration]:
    """The migrations matching Nova's filters at ``version``."""
    stmt = select(m.Migration)
    if statuses:
        stmt = stmt.where(m.Migration.status.in_(statuses))
    if "host" in query:
        host = query["host"]
        stmt = stmt.where(or_(m.Migration.source_compute == host, m.Migration.dest_compute == host))
    for key, column in (
        ("source_compute", m.Migration.source_compute),
        ("instance_uuid", m.Migration.server_id),
        ("migration_type", m.Migration.migration_type),
    ):
        if key in query:
            stmt = stmt.where(column == query[key])
    if version >= V("2.80"):
        for key, column in (
            ("user_id", m.Migration.user_id),
            ("project_id", m.Migration.project_id),
        ):
            if key in query:
                stmt = stmt.where(column == query[key])
    changed = func.coalesce(m.Migration.updated_at, m.Migration.created_at, type_=UTCDateTime)
    if version >= V("2.59"):
        since = before = None
        if "changes-since" in query:
            since = parse_timestamp(query["changes-since"], "changes-since")
            stmt = stmt.where(changed >= since)
        if version >= V("2.66") and "changes-before" in query:
            before = parse_timestamp(query["changes-before"], "changes-before")
            if since is not None and before < since:
                raise BadRequest(
                    "The value of changes-since must be less than or equal to changes-before."
                )
            stmt = stmt.where(changed <= before)
        if marker is not None:
            anchor = s.scalar(select(m.Migration).where(m.Migration.uuid == marker))
            if anchor is None:
                raise BadRequest(f"Marker {marker} could not be found.")
            stmt = stmt.where(
                or_(
                    m.Migration.created_at < anchor.created_at,
                    and_(m.Migration.created_at == anchor.created_at, m.Migration.id < anchor.id),
                )
            )
        stmt = stmt.order_by(m.Migration.created_at.desc(), m.Migration.id.desc())
        if limit is not None:
            stmt = stmt.limit(limit)
    else:
        stmt = stmt.order_by(m.Migration.id)
    return list(s.scalars(stmt))
