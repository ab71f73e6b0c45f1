"""Compute hosts: the nova-* service rows (os-services), the hypervisors (compute
nodes, os-hypervisors) and the availability zones derived from host aggregates.

Each compute agent calls ``register_host`` when it starts (the node row, its
``nova-compute`` service and its Placement resource provider with inventories) and
``heartbeat`` on every resync; the API process keeps ``nova-scheduler`` and
``nova-conductor`` rows alive with ``register_control_services``. A service whose last
heartbeat is older than a minute, or that an admin forced down, is down; the scheduler
only places servers on ``enabled_hosts``.

A host's availability zone is the zone of the aggregate it belongs to that has one,
else the configured default zone (Nova's ``nova``); services other than compute live
in the ``internal`` zone.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nubo.compute import models as m
from nubo.compute.access import Caller
from nubo.compute.drivers.base import HostResources
from nubo.db.base import utcnow
from nubo.errors import BadRequest, Conflict, NotFound
from nubo.placement import models as placement_models
from nubo.placement.service import Inventory

if TYPE_CHECKING:
    from nubo.compute.service import ComputeService

log = logging.getLogger(__name__)

# Nova's service_down_time: a service without a heartbeat for this long is down
DOWN_AFTER = dt.timedelta(seconds=60)
DEFAULT_ZONE = "nova"
INTERNAL_ZONE = "internal"
COMPUTE = "nova-compute"
SCHEDULER = "nova-scheduler"
CONDUCTOR = "nova-conductor"
CONTROL_BINARIES = (SCHEDULER, CONDUCTOR)
# migrations still under way block deleting their hosts' compute service
MIGRATION_DONE = frozenset(
    {"confirmed", "reverted", "error", "failed", "completed", "cancelled", "done"}
)


def nova_time(value: dt.datetime | None) -> str | None:
    """Nova's timestamps in these APIs: microseconds, no zone (UTC)."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def is_up(row: m.ComputeService, now: dt.datetime | None = None) -> bool:
    """Whether the service heartbeats (and no admin forced it down)."""
    if row.forced_down or row.last_seen_up is None:
        return False
    return (now or utcnow()) - row.last_seen_up <= DOWN_AFTER


def default_zone(svc: ComputeService) -> str:
    return svc.config.compute.availability_zone or DEFAULT_ZONE


# -- registration and heartbeats --------------------------------------------------------


def find_service(s: Session, host: str, binary: str) -> m.ComputeService | None:
    return s.scalar(
        select(m.ComputeService).where(
            m.ComputeService.host == host, m.ComputeService.binary == binary
        )
    )


def heartbeat(
    svc: ComputeService, s: Session, host: str, binary: str = COMPUTE
) -> m.ComputeService:
    """Record that ``binary`` runs on ``host`` now (the row is created on first use)."""
    now = utcnow()
    row = find_service(s, host, binary)
    if row is None:
        try:
            with s.begin_nested():
                row = m.ComputeService(
                    host=host, binary=binary, last_seen_up=now, created_at=now, updated_at=now
                )
                s.add(row)
        except IntegrityError:
            # another process registered it first: beat on that row
            row = find_service(s, host, binary)
            if row is None:
                raise
    row.last_seen_up = now
    row.updated_at = now
    return row


def register_control_services(svc: ComputeService, s: Session, host: str | None = None) -> None:
    """Heartbeat of the scheduler and conductor (both run in the API process)."""
    for binary in CONTROL_BINARIES:
        heartbeat(svc, s, host or svc.host, binary)


def register_host(
    svc: ComputeService,
    s: Session,
    host: str,
    resources: HostResources,
    driver_name: str,
    host_ip: str,
) -> m.ComputeNode:
    """Create or refresh ``host``'s compute node, its ``nova-compute`` service and its
    Placement resource provider (uuid = the node's) with VCPU, MEMORY_MB and DISK_GB
    inventories at the configured allocation ratios."""
    now = utcnow()
    node = s.scalar(select(m.ComputeNode).where(m.ComputeNode.host == host))
    if node is None:
        # a provider left from an earlier node of this host (one whose allocations
        # outlived its service's deletion) is taken over rather than clashing by name
        provider = s.scalar(
            select(placement_models.ResourceProvider.uuid).where(
                placement_models.ResourceProvider.name == host
            )
        )
        node = m.ComputeNode(host=host, uuid=provider or str(uuid.uuid4()), created_at=now)
        s.add(node)
    node.hypervisor_hostname = host
    node.hypervisor_type = resources.hypervisor_type
    node.hypervisor_version = resources.hypervisor_version
    node.driver = driver_name
    node.host_ip = host_ip
    node.vcpus = resources.vcpus
    node.memory_mb = resources.memory_mb
    node.local_gb = resources.disk_gb
    node.cpu_info = dict(resources.cpu_info)
    node.updated_at = now
    s.flush()
    heartbeat(svc, s, host, COMPUTE)
    _sync_provider(svc, s, node)
    return node


def _sync_provider(svc: ComputeService, s: Session, node: m.ComputeNode) -> None:
    c = svc.config.compute
    placement = svc.placement
    placement.ensure_provider(s, node.uuid, node.hypervisor_hostname)
    inventories: dict[str, Inventory] = {}
    if node.vcpus > 0:
        inventories["VCPU"] = Inventory(
            total=node.vcpus, max_unit=node.vcpus, allocation_ratio=c.cpu_allocation_ratio
        )
    if node.memory_mb > 0:
        inventories["MEMORY_MB"] = Inventory(
            total=node.memory_mb,
            reserved=max(0, min(c.reserved_host_memory_mb, node.memory_mb - 1)),
            max_unit=node.memory_mb,
            allocation_ratio=c.ram_allocation_ratio,
        )
    if node.local_gb > 0:
        inventories["DISK_GB"] = Inventory(
            total=node.local_gb, max_unit=node.local_gb, allocation_ratio=c.disk_allocation_ratio
        )
    try:
        with s.begin_nested():
            placement.set_inventory(s, node.uuid, inventories)
    except Conflict as exc:
        # the host shrank below what its servers use: keep the old inventory
        log.warning("Inventory of %s not updated: %s", node.host, exc.message)
    aggregates = [a.uuid for a in host_aggregates(s, node.host)]
    if aggregates or placement.provider_aggregates(s, node.uuid):
        placement.set_provider_aggregates(s, node.uuid, aggregates)


# -- zones and the scheduler's view ---------------------------------------------------


def host_aggregates(s: Session, host: str) -> list[m.Aggregate]:
    """The aggregates ``host`` is a member of (oldest first)."""
    rows = s.scalars(select(m.Aggregate).order_by(m.Aggregate.id))
    return [a for a in rows if host in (a.hosts or [])]


def zone_map(svc: ComputeService, s: Session) -> dict[str, str]:
    """Host -> availability zone, for hosts in an aggregate with a zone."""
    zones: dict[str, str] = {}
    for agg in s.scalars(
        select(m.Aggregate)
        .where(m.Aggregate.availability_zone.is_not(None))
        .order_by(m.Aggregate.id)
    ):
        for host in agg.hosts or []:
            zones.setdefault(host, agg.availability_zone or default_zone(svc))
    return zones


def zone_of_host(svc: ComputeService, s: Session, host: str) -> str:
    """The availability zone of a compute host."""
    for agg in host_aggregates(s, host):
        if agg.availability_zone:
            return agg.availability_zone
    return default_zone(svc)


def service_zone(svc: ComputeService, row: m.ComputeService, zones: dict[str, str]) -> str:
    if row.binary != COMPUTE:
        return INTERNAL_ZONE
    return zones.get(row.host, default_zone(svc))


def compute_services(s: Session) -> list[m.ComputeService]:
    return list(
        s.scalars(
            select(m.ComputeService)
            .where(m.ComputeService.binary == COMPUTE)
            .order_by(m.ComputeService.id)
        )
    )


def hosts_in_zone(svc: ComputeService, s: Session, zone: str) -> list[str]:
    """The compute hosts of ``zone`` (up or not, enabled or not)."""
    zones = zone_map(svc, s)
    return [r.host for r in compute_services(s) if service_zone(svc, r, zones) == zone]


def zone_names(svc: ComputeService, s: Session) -> set[str]:
    """Zones a server may ask for: those with an enabled compute service."""
    zones = zone_map(svc, s)
    return {service_zone(svc, r, zones) for r in compute_services(s) if not r.disabled}


def enabled_hosts(svc: ComputeService, s: Session) -> list[str]:
    """Compute hosts the scheduler may use: up and not disabled."""
    now = utcnow()
    return [r.host for r in compute_services(s) if not r.disabled and is_up(r, now)]


def node_of_host(s: Session, host: str) -> m.ComputeNode | None:
    return s.scalar(select(m.ComputeNode).where(m.ComputeNode.host == host))


def host_of_providers(s: Session, provider_uuids: Iterable[str]) -> dict[str, str]:
    """Placement provider uuid -> compute host, for the scheduler's candidates."""
    wanted = list(provider_uuids)
    if not wanted:
        return {}
    rows = s.scalars(select(m.ComputeNode).where(m.ComputeNode.uuid.in_(wanted)))
    return {n.uuid: n.host for n in rows}


# -- os-services --------------------------------------------------------------------------


def service_view(
    svc: ComputeService,
    row: m.ComputeService,
    zones: dict[str, str],
    now: dt.datetime,
    *,
    uuid_ids: bool,
    forced_down: bool,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row.uuid if uuid_ids else row.id,
        "binary": row.binary,
        "host": row.host,
        "zone": service_zone(svc, row, zones),
        "status": "disabled" if row.disabled else "enabled",
        "state": "up" if is_up(row, now) else "down",
        "updated_at": nova_time(row.updated_at or row.last_seen_up),
        "disabled_reason": row.disabled_reason,
    }
    if forced_down:
        body["forced_down"] = row.forced_down
    return body


def list_services(
    svc: ComputeService,
    caller: Caller,
    *,
    host: str | None = None,
    binary: str | None = None,
    uuid_ids: bool = True,
    forced_down: bool = True,
) -> list[dict[str, Any]]:
    """Every service (filtered by host and binary), as os-services shows them."""
    caller.check("os-services:list")
    with svc.db.reader() as s:
        stmt = select(m.ComputeService).order_by(m.ComputeService.id)
        if host:
            stmt = stmt.where(m.ComputeService.host == host)
        if binary:
            stmt = stmt.where(m.ComputeService.binary == binary)
        zones = zone_map(svc, s)
        now = utcnow()
        return [
            service_view(svc, r, zones, now, uuid_ids=uuid_ids, forced_down=forced_down)
            for r in s.scalars(stmt)
        ]


def _only_compute(row: m.ComputeService) -> None:
    if row.binary != COMPUTE:
        raise BadRequest(
            f"Updating a {row.binary} service is not supported. Only nova-compute "
            "services can be updated."
        )


def update_service_by_host(
    svc: ComputeService, caller: Caller, host: str, binary: str, changes: dict[str, Any]
) -> None:
    """The pre-2.53 updates (enable, disable, force-down), by host and binary."""
    caller.check("os-services:update")
    if binary != COMPUTE:
        raise BadRequest(
            f"Updating a {binary} service is not supported. Only nova-compute "
            "services can be updated."
        )
    with svc.db.session() as s:
        row = find_service(s, host, binary)
        if row is None:
            raise NotFound(f"Could not find binary {binary} on host {host}.")
        apply_changes(svc, s, row, changes)


def get_service(s: Session, service_id: str, uuid_ids: bool) -> m.ComputeService:
    if uuid_ids:
        row = s.scalar(select(m.ComputeService).where(m.ComputeService.uuid == service_id))
    else:
        row = s.get(m.ComputeService, int(service_id))
    if row is None:
        raise NotFound(f"Service {service_id} could not be found.")
    return row


def update_service(
    svc: ComputeService, caller: Caller, service_id: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """The 2.53 update (``status``, ``disabled_reason``, ``forced_down``) by uuid."""
    caller.check("os-services:update")
    with svc.db.session() as s:
        row = get_service(s, service_id, uuid_ids=True)
        _only_compute(row)
        apply_changes(svc, s, row, changes)
        s.flush()
        return service_view(svc, row, zone_map(svc, s), utcnow(), uuid_ids=True, forced_down=True)


def apply_changes(
    svc: ComputeService, s: Session, row: m.ComputeService, changes: dict[str, Any]
) -> None:
    """Enable/disable (``disabled``, ``disabled_reason``) or force down a service."""
    if "disabled" in changes:
        row.disabled = bool(changes["disabled"])
        row.disabled_reason = changes.get("disabled_reason") if row.disabled else None
    if "forced_down" in changes:
        row.forced_down = bool(changes["forced_down"])
    row.updated_at = utcnow()
    # the host's agent and the scheduler see the change on their next pass
    svc.changed(s, row.host)


def servers_on_host(s: Session, host: str) -> list[m.Server]:
    """The servers (not deleted) a host runs."""
    return list(
        s.scalars(
            select(m.Server)
            .where(m.Server.host == host, m.Server.deleted_at.is_(None))
            .order_by(m.Server.created_at, m.Server.id)
        )
    )


def delete_service(svc: ComputeService, caller: Caller, service_id: str, uuid_ids: bool) -> None:
    """Remove a service; a compute service also takes its node, its aggregate
    memberships and its resource provider. 409 while it hosts servers or migrations."""
    caller.check("os-services:delete")
    with svc.db.session() as s:
        row = get_service(s, service_id, uuid_ids)
        if row.binary == COMPUTE:
            count = s.scalar(
                select(func.count())
                .select_from(m.Server)
                .where(m.Server.host == row.host, m.Server.deleted_at.is_(None))
            )
            if count:
                raise Conflict(
                    "Unable to delete compute service that is hosting instances. "
                    "Migrate or delete the instances first."
                )
            moving = s.scalars(
                select(m.Migration).where(
                    (m.Migration.source_compute == row.host)
                    | (m.Migration.dest_compute == row.host)
                )
            )
            if any(mig.status not in MIGRATION_DONE for mig in moving):
                raise Conflict(
                    "Unable to delete compute service that has in-progress migrations. "
                    "Complete the migrations or delete the instances first."
                )
            for agg in host_aggregates(s, row.host):
                agg.hosts = [h for h in agg.hosts if h != row.host]
                agg.updated_at = utcnow()
            node = node_of_host(s, row.host)
            if node is not None:
                _remove_provider(svc, s, node.uuid)
                s.delete(node)
        s.delete(row)


def _remove_provider(svc: ComputeService, s: Session, provider_uuid: str) -> None:
    try:
        with s.begin_nested():
            svc.placement.delete_provider(s, provider_uuid)
    except NotFound:
        pass
    except Conflict as exc:
        # allocations left behind by a server that is gone: the provider stays
        log.warning("Resource provider %s not deleted: %s", provider_uuid, exc.message)


# -- os-availability-zone ---------------------------------------------------------------------


def availability_zones(
    svc: ComputeService, caller: Caller, *, detail: bool
) -> list[dict[str, Any]]:
    """``availabilityZoneInfo``: zones of enabled services are available, zones whose
    services are all disabled are not; the internal zone only shows in the detail."""
    caller.check("os-availability-zone:detail" if detail else "os-availability-zone:list")
    with svc.db.reader() as s:
        zones = zone_map(svc, s)
        now = utcnow()
        rows = list(s.scalars(select(m.ComputeService).order_by(m.ComputeService.id)))
    available: dict[str, dict[str, dict[str, Any]]] = {}
    unavailable: list[str] = []
    for row in rows:
        if not row.disabled:
            zone = service_zone(svc, row, zones)
            hosts = available.setdefault(zone, {})
            hosts.setdefault(row.host, {})[row.binary] = {
                "available": is_up(row, now),
                "active": True,
                "updated_at": nova_time(row.updated_at or row.last_seen_up),
            }
    for row in rows:
        zone = service_zone(svc, row, zones)
        if row.disabled and zone not in available and zone not in unavailable:
            unavailable.append(zone)
    result: list[dict[str, Any]] = []
    for zone, hosts in available.items():
        if zone == INTERNAL_ZONE and not detail:
            continue
        result.append(
            {"zoneName": zone, "zoneState": {"available": True}, "hosts": hosts if detail else None}
        )
    for zone in unavailable:
        if zone == INTERNAL_ZONE and not detail:
            continue
        result.append({"zoneName": zone, "zoneState": {"available": False}, "hosts": None})
    return result


def forget_host(svc: ComputeService, s: Session, host: str) -> None:
    """Remove every trace of a host: its services, node, memberships and provider."""
    for agg in host_aggregates(s, host):
        agg.hosts = [h for h in agg.hosts if h != host]
    node = node_of_host(s, host)
    if node is not None:
        _remove_provider(svc, s, node.uuid)
    s.execute(delete(m.ComputeNode).where(m.ComputeNode.host == host))
    s.execute(delete(m.ComputeService).where(m.ComputeService.host == host))
