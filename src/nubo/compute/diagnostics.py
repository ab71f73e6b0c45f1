"""Server diagnostics (``/servers/{id}/diagnostics``, admin): what the database knows
of a running instance in Nova's standard shape (2.48+), or a flat legacy dict before.

Nova's driver names are an enumeration; nubo's QEMU, container and fake drivers drive
what libvirt drives (KVM or TCG QEMU, LXC-like containers), so they report as
``libvirt`` with the hypervisor named. Counters the drivers do not keep are null.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from nubo.compute import models as m
from nubo.compute.access import Caller
from nubo.compute.drivers.base import PowerState
from nubo.compute.server_actions import invalid_state, load, not_ready
from nubo.compute.service import ComputeService
from nubo.db.base import utcnow
from nubo.network import models as nm

STATE = {
    PowerState.NOSTATE: "pending",
    PowerState.RUNNING: "running",
    PowerState.PAUSED: "paused",
    PowerState.SHUTDOWN: "shutdown",
    PowerState.CRASHED: "crashed",
    PowerState.SUSPENDED: "suspended",
}
HYPERVISOR = {"qemu-kvm": "kvm", "qemu-tcg": "qemu", "qemu": "qemu", "container": "lxc"}


def _disk_count(server: m.Server) -> int:
    """Root, then ephemeral and swap disks when the flavor has them, and a config drive."""
    flavor = server.flavor or {}
    extra = [int(flavor.get("ephemeral_gb") or 0), int(flavor.get("swap_mb") or 0)]
    return 1 + sum(1 for size in extra if size) + (1 if server.config_drive else 0)


def diagnostics(
    svc: ComputeService, caller: Caller, server_id: str, standard: bool
) -> dict[str, Any]:
    with svc.db.reader() as s:
        server = load(s, caller, server_id, "os-server-diagnostics", for_update=False)
        if not server.host:
            raise not_ready(server)
        power = PowerState(server.power_state)
        if power != PowerState.RUNNING:
            raise invalid_state(server, "get_diagnostics", "power state", STATE[power])
        node = s.scalar(select(m.ComputeNode).where(m.ComputeNode.host == server.host))
        macs = list(
            s.scalars(
                select(nm.Port.mac_address)
                .where(nm.Port.device_id == server.id)
                .order_by(nm.Port.created_at, nm.Port.id)
            )
        )
    flavor = server.flavor or {}
    vcpus = int(flavor.get("vcpus") or 1)
    memory = int(flavor.get("memory_mb") or 0)
    disks = _disk_count(server)
    uptime = int((utcnow() - server.launched_at).total_seconds()) if server.launched_at else None
    driver = node.driver if node is not None else "fake"
    if not standard:
        legacy: dict[str, Any] = {
            "state": STATE[power],
            "driver": driver,
            "uptime": uptime,
            "num_cpus": vcpus,
            "num_disks": disks,
            "num_nics": len(macs),
            "memory": memory * 1024,
        }
        for i, mac in enumerate(macs):
            legacy[f"nic{i}_mac_address"] = mac
        return legacy
    return {
        "state": STATE[power],
        "driver": "libvirt",
        "hypervisor": HYPERVISOR.get(driver, driver),
        "hypervisor_os": "linux",
        "uptime": uptime,
        "config_drive": bool(server.config_drive),
        "num_cpus": vcpus,
        "num_nics": len(macs),
        "num_disks": disks,
        "memory_details": {"maximum": memory, "used": None},
        "cpu_details": [{"id": i, "time": None, "utilisation": None} for i in range(vcpus)],
        "nic_details": [
            {
                "mac_address": mac,
                "rx_octets": None,
                "rx_errors": None,
                "rx_drop": None,
                "rx_packets": None,
                "rx_rate": None,
                "tx_octets": None,
                "tx_errors": None,
                "tx_drop": None,
                "tx_packets": None,
                "tx_rate": None,
            }
            for mac in macs
        ],
        "disk_details": [
            {
                "read_bytes": None,
                "read_requests": None,
                "write_bytes": None,
                "write_requests": None,
                "errors_count": None,
            }
            for _ in range(disks)
        ],
    }
