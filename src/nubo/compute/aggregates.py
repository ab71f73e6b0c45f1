"""Host aggregates (os-aggregates): named groups of compute hosts with metadata; an
aggregate with an ``availability_zone`` puts its hosts in that zone.

A host belongs to at most one zone, so adding it to a second aggregate with another
zone, or renaming the zone of an aggregate whose hosts are in another zoned
aggregate, is refused; so is any change that would move servers that already run
into another zone. Membership is mirrored into Placement (the host's resource
provider joins the aggregate's uuid) for ``member_of`` scheduling.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nubo.compute import hosts
from nubo.compute import models as m
from nubo.compute.access import Caller
from nubo.db.base import utcnow
from nubo.errors import BadRequest, Conflict, NotFound, NuboError

if TYPE_CHECKING:
    from nubo.compute.service import ComputeService

log = logging.getLogger(__name__)

ZONE_KEY = "availability_zone"
_UNSET: Any = object()


def view(row: m.Aggregate, *, show_uuid: bool, members: bool = True) -> dict[str, Any]:
    """Nova's aggregate body; the zone is also a metadata item, as Nova stores it."""
    metadata = dict(row.metadata_items or {})
    if row.availability_zone:
        metadata[ZONE_KEY] = row.availability_zone
    body: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "availability_zone": row.availability_zone,
        "created_at": hosts.nova_time(row.created_at),
        "updated_at": hosts.nova_time(row.updated_at),
        "deleted_at": None,
        "deleted": False,
    }
    if members:
        body["hosts"] = list(row.hosts or [])
        body["metadata"] = metadata
    if show_uuid:
        body["uuid"] = row.uuid
    return body


def _find(s: Session, aggregate_id: int) -> m.Aggregate:
    row = s.get(m.Aggregate, aggregate_id)
    if row is None:
        raise NotFound(f"Aggregate {aggregate_id} could not be found.")
    return row


def _check_name(s: Session, name: str, exclude: int | None = None) -> None:
    stmt = select(func.count()).select_from(m.Aggregate).where(m.Aggregate.name == name)
    if exclude is not None:
        stmt = stmt.where(m.Aggregate.id != exclude)
    if s.scalar(stmt):
        raise Conflict(f"Aggregate {name} already exists.")


def _flush_named(s: Session, name: str) -> None:
    """Flush a new or renamed aggregate; a concurrent one with the name wins."""
    try:
        s.flush()
    except IntegrityError:
        raise Conflict(f"Aggregate {name} already exists.") from None


def _has_servers(s: Session, host_names: Sequence[str]) -> int:
    if not host_names:
        return 0
    count = s.scalar(
        select(func.count())
        .select_from(m.Server)
        .where(m.Server.host.in_(list(host_names)), m.Server.deleted_at.is_(None))
    )
    return int(count or 0)


def _zone_problem(
    s: Session,
    row: m.Aggregate,
    zone: str | None,
    host_names: Sequence[str],
    *,
    check_servers: bool,
) -> str | None:
    """Why ``row`` may not have ``zone`` with ``host_names`` (None when it may)."""
    if not zone:
        return f"Aggregate {row.name} does not support empty named availability zone"
    others = [
        a.availability_zone
        for a in s.scalars(select(m.Aggregate).where(m.Aggregate.id != row.id))
        if a.availability_zone
        and a.availability_zone != zone
        and set(a.hosts or []) & set(host_names)
    ]
    if others:
        return f"One or more hosts already in availability zone(s) {sorted(set(others))!r}"
    if check_servers and zone != row.availability_zone and _has_servers(s, host_names):
        return "One or more hosts contain instances in this zone"
    return None


def _effective_zone(svc: ComputeService, s: Session, host: str, skip: int | None = None) -> str:
    for agg in hosts.host_aggregates(s, host):
        if agg.id != skip and agg.availability_zone:
            return agg.availability_zone
    return hosts.default_zone(svc)


def _mirror(svc: ComputeService, s: Session, host: str) -> None:
    """Give the host's resource provider the uuids of the host's aggregates."""
    node = hosts.node_of_host(s, host)
    if node is None:
        return
    uuids = [a.uuid for a in hosts.host_aggregates(s, host)]
    try:
        with s.begin_nested():
            svc.placement.set_provider_aggregates(s, node.uuid, uuids)
    except NuboError as exc:
        # as Nova: the aggregate change stands; the next registration re-syncs
        log.warning("Placement aggregates of %s not updated: %s", host, exc.message)


# -- service functions ---------------------------------------------------------------------


def list_aggregates(svc: ComputeService, caller: Caller) -> list[m.Aggregate]:
    caller.check("os-aggregates:index")
    with svc.db.reader() as s:
        return list(s.scalars(select(m.Aggregate).order_by(m.Aggregate.id)))


def get_aggregate(svc: ComputeService, caller: Caller, aggregate_id: int) -> m.Aggregate:
    caller.check("os-aggregates:show")
    with svc.db.reader() as s:
        return _find(s, aggregate_id)


def create_aggregate(
    svc: ComputeService, caller: Caller, name: str, zone: str | None
) -> m.Aggregate:
    caller.check("os-aggregates:create")
    with svc.db.session() as s:
        _check_name(s, name)
        row = m.Aggregate(
            name=name,
            availability_zone=zone or None,
            metadata_items={},
            hosts=[],
            created_at=utcnow(),
        )
        s.add(row)
        _flush_named(s, name)
        return row


def update_aggregate(
    svc: ComputeService,
    caller: Caller,
    aggregate_id: int,
    *,
    name: str | None = None,
    zone: Any = _UNSET,
) -> m.Aggregate:
    """Rename and/or move the aggregate's hosts to another zone (400 when refused)."""
    caller.check("os-aggregates:update")
    with svc.db.session() as s:
        row = _find(s, aggregate_id)
        if name is not None and name != row.name:
            _check_name(s, name, exclude=row.id)
            row.name = name
            _flush_named(s, name)
        if zone is not _UNSET:
            problem = _zone_problem(s, row, zone, row.hosts or [], check_servers=True)
            if problem:
                raise BadRequest(f"Cannot update aggregate {row.id}. Reason: {problem}.")
            row.availability_zone = zone
        row.updated_at = utcnow()
        s.flush()
        return row


def set_metadata(
    svc: ComputeService, caller: Caller, aggregate_id: int, metadata: Mapping[str, str | None]
) -> m.Aggregate:
    """Merge ``metadata`` (a null value removes the key); ``availability_zone`` moves
    the aggregate's hosts to that zone."""
    caller.check("os-aggregates:set_metadata")
    with svc.db.session() as s:
        row = _find(s, aggregate_id)
        if ZONE_KEY in metadata:
            zone = metadata[ZONE_KEY]
            problem = _zone_problem(s, row, zone, row.hosts or [], check_servers=True)
            if problem:
                raise BadRequest(
                    f"Cannot update metadata of aggregate {row.id}. Reason: {problem}."
                )
            row.availability_zone = zone
        items = dict(row.metadata_items or {})
        for key, value in metadata.items():
            if key == ZONE_KEY:
                continue
            if value is None:
                items.pop(key, None)
            else:
                items[key] = value
        row.metadata_items = items
        row.updated_at = utcnow()
        s.flush()
        return row


def delete_aggregate(svc: ComputeService, caller: Caller, aggregate_id: int) -> None:
    caller.check("os-aggregates:delete")
    with svc.db.session() as s:
        row = _find(s, aggregate_id)
        if row.hosts:
            raise BadRequest(
                f"Cannot remove host from aggregate {row.id}. Reason: Host aggregate is not empty."
            )
        s.delete(row)


def add_host(svc: ComputeService, caller: Caller, aggregate_id: int, host: str) -> m.Aggregate:
    """Add a compute host (404 unknown host, 409 already a member or in another zone)."""
    caller.check("os-aggregates:add_host")
    with svc.db.session() as s:
        if hosts.find_service(s, host, hosts.COMPUTE) is None:
            raise NotFound(f"Compute host {host} could not be found.")
        row = _find(s, aggregate_id)
        if host in (row.hosts or []):
            raise Conflict(f"Aggregate {row.id} already has host {host}.")
        if row.availability_zone:
            problem = _zone_problem(s, row, row.availability_zone, [host], check_servers=False)
            if problem is None and _has_servers(s, [host]):
                old = _effective_zone(svc, s, host)
                if old != row.availability_zone:
                    problem = (
                        "The host cannot be added to the aggregate as the availability zone "
                        f"of the host would change from '{old}' to '{row.availability_zone}' "
                        "but the host already has instances. Move the instances away from "
                        "this host then try again"
                    )
            if problem:
                raise Conflict(f"Cannot add host to aggregate {row.id}. Reason: {problem}.")
        row.hosts = [*(row.hosts or []), host]
        row.updated_at = utcnow()
        s.flush()
        _mirror(svc, s, host)
        return row


def remove_host(svc: ComputeService, caller: Caller, aggregate_id: int, host: str) -> m.Aggregate:
    """Remove a member (404 when it is none; 409 when its servers would change zone)."""
    caller.check("os-aggregates:remove_host")
    with svc.db.session() as s:
        row = s.get(m.Aggregate, aggregate_id)
        if row is None or host not in (row.hosts or []):
            raise NotFound(f"Cannot remove host {host} in aggregate {aggregate_id}")
        if row.availability_zone and _has_servers(s, [host]):
            new = _effective_zone(svc, s, host, skip=row.id)
            if new != row.availability_zone:
                raise Conflict(
                    f"Cannot remove host from aggregate {row.id}. Reason: The host cannot be "
                    "removed from the aggregate as the availability zone of the host would "
                    f"change from '{row.availability_zone}' to '{new}' but the host already "
                    "has instances. Move the instances away from this host then try again."
                )
        row.hosts = [h for h in row.hosts if h != host]
        row.updated_at = utcnow()
        s.flush()
        _mirror(svc, s, host)
        return row


def cache_images(
    svc: ComputeService, caller: Caller, aggregate_id: int, image_ids: Sequence[str]
) -> None:
    """Accept a request to pre-cache images on the aggregate's hosts (2.81).

    Hosts fill their image cache when a server first needs an image; the request is
    validated and accepted, as Nova's is before its conductor starts the work."""
    caller.check("os-aggregates:images")
    if len(set(image_ids)) != len(image_ids):
        raise BadRequest("Duplicate images in request")
    with svc.db.reader() as s:
        _find(s, aggregate_id)
