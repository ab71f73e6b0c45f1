"""The legacy hosts API (os-hosts, microversions 2.1 to 2.42): hosts as the nova-*
services running on them, what a compute host's servers use, and host-wide actions.

Nova forwards the host-wide actions to the host's virt driver. What nubo does with
them, for each of its drivers (fake, qemu, container):

* ``status`` enable/disable enables or disables the host's ``nova-compute`` service,
  as ``os-services`` does: the scheduler stops (or resumes) placing servers there.
  Nova's libvirt driver has no such call (501); its meaning ("whether new servers
  may start on the host") is what the service flag already is.
* ``maintenance_mode`` and the power actions (startup, shutdown, reboot of the host
  machine) answer 501, as with Nova's libvirt driver: nubo has no maintenance mode and
  does not power hosts on or off through the compute API.

An unknown host (one without a ``nova-compute`` service) is a 404 before any of this.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nubo.compute import hosts
from nubo.compute import models as m
from nubo.compute.access import Caller
from nubo.compute.hypervisors import node_usage
from nubo.errors import NotFound, NotImplementedYet

if TYPE_CHECKING:
    from nubo.compute.service import ComputeService

POWER_ACTIONS = ("startup", "shutdown", "reboot")
# Nova's policy names for the power actions (startup's is "start")
_POWER_RULES = {"startup": "start", "shutdown": "shutdown", "reboot": "reboot"}
# Nova's message when a virt driver lacks a feature
NOT_SUPPORTED = "The requested functionality is not supported."


def topic(binary: str) -> str:
    """A service's topic: its binary without the ``nova-`` prefix."""
    return binary.removeprefix("nova-")


def list_hosts(svc: ComputeService, caller: Caller, zone: str | None) -> list[dict[str, Any]]:
    """One row per enabled service (Nova leaves disabled ones out), optionally only
    those of an availability zone (``internal`` for the scheduler and conductor)."""
    caller.check("os-hosts:list")
    with svc.db.reader() as s:
        zones = hosts.zone_map(svc, s)
        rows = s.scalars(
            select(m.ComputeService)
            .where(m.ComputeService.disabled.is_(False))
            .order_by(m.ComputeService.id)
        )
        result = [
            {
                "host_name": row.host,
                "service": topic(row.binary),
                "zone": hosts.service_zone(svc, row, zones),
            }
            for row in rows
        ]
    if zone:
        result = [r for r in result if r["zone"] == zone]
    return result


def _resource(host: str, project: str, cpu: int, memory_mb: int, disk_gb: int) -> dict[str, Any]:
    return {
        "resource": {
            "host": host,
            "project": project,
            "cpu": cpu,
            "memory_mb": memory_mb,
            "disk_gb": disk_gb,
        }
    }


def show_host(svc: ComputeService, caller: Caller, host: str) -> list[dict[str, Any]]:
    """A compute host's resources: its capacity ``(total)``, what is in use now
    ``(used_now)``, the host's reserved memory included), what its servers' flavors add
    up to ``(used_max)``, then the same sum per project."""
    caller.check("os-hosts:show")
    with svc.db.reader() as s:
        node = hosts.node_of_host(s, host)
        if node is None or hosts.find_service(s, host, hosts.COMPUTE) is None:
            raise NotFound(f"Compute host {host} could not be found.")
        used = node_usage(svc, s, node)
        servers = hosts.servers_on_host(s, host)
        rows = [
            _resource(host, "(total)", node.vcpus, node.memory_mb, node.local_gb),
            _resource(host, "(used_now)", used.vcpus_used, used.memory_mb_used, used.local_gb_used),
        ]
        per_project: dict[str, list[int]] = {}
        total = [0, 0, 0]
        for server in servers:
            flavor = server.flavor or {}
            sizes = (
                int(flavor.get("vcpus", 0)),
                int(flavor.get("memory_mb", 0)),
                int(flavor.get("root_gb", 0)) + int(flavor.get("ephemeral_gb", 0)),
            )
            sums = per_project.setdefault(server.project_id, [0, 0, 0])
            for i, size in enumerate(sizes):
                sums[i] += size
                total[i] += size
    rows.append(_resource(host, "(used_max)", *total))
    rows += [_resource(host, project, *sums) for project, sums in per_project.items()]
    return rows


def _compute_service(s: Session, host: str) -> m.ComputeService:
    row = hosts.find_service(s, host, hosts.COMPUTE)
    if row is None:
        raise NotFound(f"Compute host {host} could not be found.")
    return row


def update_host(
    svc: ComputeService,
    caller: Caller,
    host: str,
    *,
    enabled: bool | None,
    maintenance: bool | None,
) -> dict[str, Any]:
    """``PUT /os-hosts/{host}``: ``{"host", "status": "enabled"|"disabled"}``."""
    caller.check("os-hosts:update")
    with svc.db.session() as s:
        row = _compute_service(s, host)
        if maintenance is not None:
            raise NotImplementedYet(NOT_SUPPORTED)
        result: dict[str, Any] = {"host": host}
        if enabled is not None:
            hosts.apply_changes(svc, s, row, {"disabled": not enabled})
            result["status"] = "enabled" if enabled else "disabled"
    return result


def power_action(svc: ComputeService, caller: Caller, host: str, action: str) -> dict[str, Any]:
    """``GET /os-hosts/{host}/{startup,shutdown,reboot}``: 404 for an unknown host,
    else 501 (no nubo driver powers hosts)."""
    caller.check(f"os-hosts:{_POWER_RULES[action]}")
    with svc.db.reader() as s:
        _compute_service(s, host)
    raise NotImplementedYet(NOT_SUPPORTED)
