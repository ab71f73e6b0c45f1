"""Hypervisors (os-hypervisors): the compute nodes with their service's state and,
before microversion 2.88, what the servers on them use (vCPUs, memory with the host's
reservation, disk), summed by ``statistics``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nubo.compute import models as m
from nubo.compute.access import Caller
from nubo.compute.hosts import compute_services, is_up, servers_on_host
from nubo.db.base import utcnow
from nubo.errors import BadRequest, NotFound, NotImplementedYet

if TYPE_CHECKING:
    from nubo.compute.service import ComputeService


@dataclass
class NodeUsage:
    """What a hypervisor's servers use (the pre-2.88 statistics fields)."""

    vcpus_used: int = 0
    memory_mb_used: int = 0
    local_gb_used: int = 0
    running_vms: int = 0
    current_workload: int = 0


def node_usage(svc: ComputeService, s: Session, node: m.ComputeNode) -> NodeUsage:
    used = NodeUsage(memory_mb_used=min(svc.config.compute.reserved_host_memory_mb, node.memory_mb))
    for server in servers_on_host(s, node.host):
        flavor = server.flavor or {}
        used.vcpus_used += int(flavor.get("vcpus", 0))
        used.memory_mb_used += int(flavor.get("memory_mb", 0))
        used.local_gb_used += int(flavor.get("root_gb", 0)) + int(flavor.get("ephemeral_gb", 0))
        used.running_vms += 1
        if server.task_state:
            used.current_workload += 1
    return used


@dataclass
class Hypervisor:
    node: m.ComputeNode
    service: m.ComputeService
    up: bool
    usage: NodeUsage | None = None
    servers: list[m.Server] | None = None


def _hypervisors(
    svc: ComputeService,
    s: Session,
    nodes: Iterable[m.ComputeNode],
    *,
    usage: bool,
    servers: bool,
) -> list[Hypervisor]:
    services = {r.host: r for r in compute_services(s)}
    now = utcnow()
    result = []
    for node in nodes:
        service = services.get(node.host)
        if service is None:  # a deleted service's node is left out, as Nova does
            continue
        result.append(
            Hypervisor(
                node,
                service,
                is_up(service, now),
                node_usage(svc, s, node) if usage else None,
                servers_on_host(s, node.host) if servers else None,
            )
        )
    return result


def list_hypervisors(
    svc: ComputeService,
    caller: Caller,
    *,
    detail: bool,
    uuid_ids: bool,
    pattern: str | None = None,
    limit: int | None = None,
    marker: str | None = None,
    with_usage: bool = False,
    with_servers: bool = False,
) -> list[Hypervisor]:
    caller.check("os-hypervisors:list-detail" if detail else "os-hypervisors:list")
    with svc.db.reader() as s:
        stmt = select(m.ComputeNode).order_by(m.ComputeNode.id)
        if pattern is not None:
            like = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            stmt = stmt.where(m.ComputeNode.hypervisor_hostname.like(f"%{like}%", escape="\\"))
            nodes = list(s.scalars(stmt))
            if not nodes:
                raise NotFound(f"No hypervisor matching '{pattern}' could be found.")
        else:
            if marker is not None:
                anchor = _find_node(s, marker, uuid_ids)
                if anchor is None:
                    raise BadRequest(f"marker [{marker}] not found")
                stmt = stmt.where(m.ComputeNode.id > anchor.id)
            if limit is not None:
                stmt = stmt.limit(limit)
            nodes = list(s.scalars(stmt))
        return _hypervisors(svc, s, nodes, usage=with_usage, servers=with_servers)


def _find_node(s: Session, node_id: str, uuid_ids: bool) -> m.ComputeNode | None:
    if uuid_ids:
        return s.scalar(select(m.ComputeNode).where(m.ComputeNode.uuid == node_id))
    try:
        number = int(node_id)
    except ValueError:
        return None
    return s.get(m.ComputeNode, number)


def get_hypervisor(
    svc: ComputeService,
    caller: Caller,
    node_id: str,
    *,
    uuid_ids: bool,
    rule: str = "os-hypervisors:show",
    with_usage: bool = False,
    with_servers: bool = False,
) -> Hypervisor:
    caller.check(rule)
    with svc.db.reader() as s:
        node = _find_node(s, node_id, uuid_ids)
        found = _hypervisors(svc, s, [node], usage=with_usage, servers=with_servers) if node else []
        if not found:
            raise NotFound(f"Hypervisor with ID '{node_id}' could not be found.")
        return found[0]


def statistics(svc: ComputeService, caller: Caller) -> dict[str, int]:
    """Sums over every hypervisor (GET /os-hypervisors/statistics, before 2.88)."""
    caller.check("os-hypervisors:statistics")
    totals = dict.fromkeys(
        (
            "count",
            "vcpus",
            "memory_mb",
            "local_gb",
            "vcpus_used",
            "memory_mb_used",
            "local_gb_used",
            "free_ram_mb",
            "free_disk_gb",
            "current_workload",
            "running_vms",
            "disk_available_least",
        ),
        0,
    )
    with svc.db.reader() as s:
        nodes = list(s.scalars(select(m.ComputeNode).order_by(m.ComputeNode.id)))
        for hyp in _hypervisors(svc, s, nodes, usage=True, servers=False):
            fields = usage_fields(hyp)
            totals["count"] += 1
            for key in totals:
                if key != "count":
                    totals[key] += int(fields[key])
    return totals


def usage_fields(hyp: Hypervisor) -> dict[str, Any]:
    """The resource fields of a hypervisor's detail view before 2.88."""
    node = hyp.node
    used = hyp.usage or NodeUsage()
    free_disk = node.local_gb - used.local_gb_used
    return {
        "vcpus": node.vcpus,
        "memory_mb": node.memory_mb,
        "local_gb": node.local_gb,
        "vcpus_used": used.vcpus_used,
        "memory_mb_used": used.memory_mb_used,
        "local_gb_used": used.local_gb_used,
        "free_ram_mb": node.memory_mb - used.memory_mb_used,
        "free_disk_gb": free_disk,
        "current_workload": used.current_workload,
        "running_vms": used.running_vms,
        "disk_available_least": free_disk,
    }


def uptime_text(svc: ComputeService, hyp: Hypervisor) -> str | None:
    """``uptime``'s line for a hypervisor; only this machine's own host can say."""
    if hyp.node.host != svc.host or not hyp.up:
        return None
    try:
        with open("/proc/uptime", encoding="ascii") as f:
            seconds = int(float(f.read().split()[0]))
        loads = os.getloadavg()
    except (OSError, ValueError, IndexError):
        return None
    now = utcnow()
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    up = f"{days} day{'s' if days != 1 else ''}, {hours:2d}:{minutes:02d}"
    load = ", ".join(f"{x:.2f}" for x in loads)
    return f" {now:%H:%M:%S} up {up},  0 users,  load average: {load}"


def uptime(
    svc: ComputeService, caller: Caller, node_id: str, *, uuid_ids: bool
) -> tuple[Hypervisor, str]:
    """GET /os-hypervisors/{id}/uptime (before 2.88)."""
    hyp = get_hypervisor(svc, caller, node_id, uuid_ids=uuid_ids, rule="os-hypervisors:uptime")
    if not hyp.up:
        raise BadRequest(f"Compute service of {hyp.node.host} is unavailable at this time.")
    text = uptime_text(svc, hyp)
    if text is None:
        raise NotImplementedYet("Uptime is only known for the API's own host.")
    return hyp, text
