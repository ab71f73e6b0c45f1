"""The scheduler: picks a host for each server waiting in ``scheduling`` and claims its
resources in Placement, in one transaction per server.

Filters: the host's compute service is up and enabled, the build has not failed there
already, it is in the requested availability zone, its aggregates match the flavor's
``aggregate_instance_extra_specs:*``, the server group's (anti-)affinity holds, and
Placement says the resources fit. Weighers: spread (most free memory first) or pack
(least), with the soft group policies on top. No host: the server goes to ERROR with
a fault saying why.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nubo.compute import actions, states
from nubo.compute import models as m
from nubo.compute.service import ComputeService
from nubo.db.base import utcnow
from nubo.errors import Conflict

log = logging.getLogger(__name__)

SERVICE_DOWN_SECONDS = 60
AGGREGATE_SPEC = "aggregate_instance_extra_specs:"


@dataclass
class HostState:
    host: str
    node: m.ComputeNode
    zone: str
    aggregates: list[m.Aggregate] = field(default_factory=list)
    free_ram: float = 0.0


class NoValidHost(Exception):
    """No host passes the filters; the message says which filter ruled them out."""


def resources_of(flavor: dict[str, Any]) -> dict[str, int]:
    disk = flavor.get("root_gb", 0) + flavor.get("ephemeral_gb", 0)
    disk += math.ceil(flavor.get("swap_mb", 0) / 1024)
    wanted = {"VCPU": flavor["vcpus"], "MEMORY_MB": flavor["memory_mb"]}
    if disk:
        wanted["DISK_GB"] = disk
    return wanted


def zone_map(s: Session, default_zone: str) -> dict[str, str]:
    """host -> availability zone (from aggregates with a zone; else the default)."""
    zones: dict[str, str] = {}
    for agg in s.scalars(select(m.Aggregate).where(m.Aggregate.availability_zone.isnot(None))):
        for host in agg.hosts or []:
            zones[host] = agg.availability_zone or default_zone
    return zones


def host_states(svc: ComputeService, s: Session) -> list[HostState]:
    """Compute hosts whose service is up and enabled."""
    now = utcnow()
    up: set[str] = set()
    for service in s.scalars(
        select(m.ComputeService).where(m.ComputeService.binary == "nova-compute")
    ):
        seen = service.last_seen_up
        alive = seen is not None and now - seen < dt.timedelta(seconds=SERVICE_DOWN_SECONDS)
        if alive and not service.disabled and not service.forced_down:
            up.add(service.host)
    zones = zone_map(s, svc.config.compute.availability_zone)
    aggregates = list(s.scalars(select(m.Aggregate)))
    result = []
    for node in s.scalars(select(m.ComputeNode).order_by(m.ComputeNode.host)):
        if node.host in up:
            result.append(
                HostState(
                    host=node.host,
                    node=node,
                    zone=zones.get(node.host, svc.config.compute.availability_zone),
                    aggregates=[a for a in aggregates if node.host in (a.hosts or [])],
                )
            )
    return result


def _group_hosts(s: Session, server: m.Server) -> tuple[str | None, dict[str, int], dict[str, Any]]:
    """The server group's policy, how many of its other members each host has, its rules."""
    if not server.server_group_id:
        return None, {}, {}
    group = s.get(m.ServerGroup, server.server_group_id)
    if group is None:
        return None, {}, {}
    counts: dict[str, int] = {}
    members = select(m.ServerGroupMember.server_id).where(
        m.ServerGroupMember.group_id == group.id, m.ServerGroupMember.server_id != server.id
    )
    for host in s.scalars(
        select(m.Server.host).where(
            m.Server.id.in_(members), m.Server.host.isnot(None), m.Server.deleted_at.is_(None)
        )
    ):
        if host is not None:
            counts[host] = counts.get(host, 0) + 1
    return group.policy, counts, dict(group.rules or {})


def filter_hosts(svc: ComputeService, s: Session, server: m.Server) -> list[HostState]:
    """The hosts that may take the server, best first (before Placement's say)."""
    candidates = host_states(svc, s)
    if not candidates:
        raise NoValidHost("No compute host is up and enabled.")
    forced = (server.scheduler_hints or {}).get("force_host")
    if forced:
        candidates = [h for h in candidates if h.host == forced]
        if not candidates:
            raise NoValidHost(f"The requested host {forced} is not an enabled compute host.")
    tried = set(server.attempted_hosts or [])
    candidates = [h for h in candidates if h.host not in tried]
    if not candidates:
        raise NoValidHost(
            f"The build failed on every host that could take it ({', '.join(sorted(tried))})."
        )
    wanted_zone = (server.scheduler_hints or {}).get("availability_zone")
    if wanted_zone:
        candidates = [h for h in candidates if h.zone == wanted_zone]
        if not candidates:
            raise NoValidHost(f"No host in availability zone {wanted_zone} can take it.")
    specs = {
        k[len(AGGREGATE_SPEC) :]: v
        for k, v in (server.flavor.get("extra_specs") or {}).items()
        if k.startswith(AGGREGATE_SPEC)
    }
    if specs:
        candidates = [
            h
            for h in candidates
            if all(
                any((a.metadata_items or {}).get(k) == v for a in h.aggregates)
                for k, v in specs.items()
            )
        ]
        if not candidates:
            raise NoValidHost("No host is in an aggregate matching the flavor's extra specs.")
    policy, counts, rules = _group_hosts(s, server)
    if policy == "affinity" and counts:
        candidates = [h for h in candidates if h.host in counts]
        if not candidates:
            raise NoValidHost(
                "The server group's affinity policy pins it to a host that cannot take it."
            )
    elif policy == "anti-affinity":
        limit = int(rules.get("max_server_per_host", 1))
        candidates = [h for h in candidates if counts.get(h.host, 0) < limit]
        if not candidates:
            raise NoValidHost("The server group's anti-affinity policy rules out every host.")
    return _weigh(svc, candidates, policy, counts)


def _weigh(
    svc: ComputeService, hosts: list[HostState], policy: str | None, counts: dict[str, int]
) -> list[HostState]:
    pack = svc.config.compute.weigher == "pack"

    def key(h: HostState) -> tuple[float, float]:
        group = 0.0
        if policy == "soft-affinity":
            group = -counts.get(h.host, 0)
        elif policy == "soft-anti-affinity":
            group = counts.get(h.host, 0)
        return group, (h.free_ram if pack else -h.free_ram)

    return sorted(hosts, key=key)


def schedule(svc: ComputeService, server_id: str) -> None:
    """Place one server waiting in ``scheduling``; ERROR with a fault if nothing fits."""
    with svc.db.session() as s:
        server = s.get(m.Server, server_id, with_for_update=True)
        if server is None or server.task_state != states.SCHEDULING or server.deleted_at:
            return
        wanted = resources_of(server.flavor)
        try:
            hosts = filter_hosts(svc, s, server)
            summaries = {p.uuid: p for p in svc.placement.candidates(s, wanted)}
            hosts = [h for h in hosts if h.node.uuid in summaries]
            if not hosts:
                raise NoValidHost(
                    f"There are not enough resources on any host for {_describe(wanted)}."
                )
            for h in hosts:
                summary = summaries[h.node.uuid]
                h.free_ram = summary.capacity.get("MEMORY_MB", 0) - summary.used.get("MEMORY_MB", 0)
            hosts = _weigh(svc, hosts, *_group_hosts(s, server)[:2])
            chosen = None
            for h in hosts:
                try:
                    with s.begin_nested():
                        svc.placement.claim(
                            s, server.id, server.project_id, server.user_id, {h.node.uuid: wanted}
                        )
                    chosen = h
                    break
                except Conflict:
                    continue
            if chosen is None:
                raise NoValidHost("Every host that fitted was taken by other builds meanwhile.")
        except NoValidHost as exc:
            fail_build(s, server, f"No valid host was found. {exc}", code=500)
            log.info("server %s: no valid host: %s", server.id, exc)
            return
        server.host = chosen.host
        server.node = chosen.node.hypervisor_hostname
        server.availability_zone = chosen.zone
        server.task_state = states.NETWORKING
        server.updated_at = utcnow()
        svc.changed(s, chosen.host)
        log.debug("server %s: scheduled to %s", server.id, chosen.host)


def fail_build(
    s: Session, server: m.Server, message: str, code: int = 500, details: str = ""
) -> None:
    """A build that cannot go on: ERROR with a fault the user can read."""
    server.vm_state = states.ERROR
    server.task_state = None
    server.task_deadline = None
    server.fault = {
        "code": code,
        "message": message,
        "details": details or message,
        "created": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    server.updated_at = utcnow()
    actions.event(
        s, server.id, "create", "compute_build_and_run_instance", server.host or "", message
    )


def _describe(wanted: dict[str, int]) -> str:
    return ", ".join(f"{amount} {rc}" for rc, amount in wanted.items())


def pending(svc: ComputeService) -> list[str]:
    """Servers waiting for a host, oldest first."""
    with svc.db.reader() as s:
        return list(
            s.scalars(
                select(m.Server.id)
                .where(m.Server.task_state == states.SCHEDULING, m.Server.deleted_at.is_(None))
                .order_by(m.Server.created_at)
            )
        )
