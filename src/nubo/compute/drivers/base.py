"""What the compute agent asks of an instance driver (QEMU, container, fake).

The agent owns the database and the order of steps; a driver owns one host's
instances: their disks, processes, consoles and NICs. Every call is idempotent
(calling ``spawn`` for an instance that runs is a no-op, ``destroy`` of one that is
gone succeeds), so a restarted agent can simply call again. Failures raise
``DriverError`` with a message a user can act on; it becomes the server's fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Protocol


class PowerState(IntEnum):
    """Nova's power states (the numbers the API shows)."""

    NOSTATE = 0
    RUNNING = 1
    PAUSED = 3
    SHUTDOWN = 4
    CRASHED = 6
    SUSPENDED = 7


class DriverError(Exception):
    """An instance operation failed; the message is shown to the user as the fault."""


@dataclass(frozen=True)
class Nic:
    """One of the instance's ports, in the order the guest sees them."""

    port_id: str
    mac_address: str
    mtu: int = 1450


@dataclass(frozen=True)
class InstanceSpec:
    """Everything a driver needs to build and run one instance."""

    id: str
    hostname: str
    vcpus: int
    memory_mb: int
    root_gb: int
    ephemeral_gb: int
    swap_mb: int
    # the image's data as a local file (the agent's image cache), and its format
    image_path: Path
    image_format: str  # qcow2 or raw
    nics: tuple[Nic, ...] = ()
    # an ISO 9660 config drive (label config-2) the agent built, if the server has one
    config_drive: Path | None = None
    # flavor extra specs and the image's properties (hw_*, os_type ...)
    extra: Mapping[str, str] = field(default_factory=dict)
    # while rescued: the image booted instead, the root disk attached second
    rescue_image_path: Path | None = None


@dataclass(frozen=True)
class Console:
    """Where a remote console of a running instance can be reached on this host."""

    kind: str  # novnc or serial
    unix_socket: Path  # VNC (RFB) or the serial port's character stream


@dataclass(frozen=True)
class HostResources:
    vcpus: int
    memory_mb: int
    disk_gb: int
    hypervisor_type: str  # QEMU, container, fake
    hypervisor_version: int
    cpu_info: Mapping[str, object] = field(default_factory=dict)


class Plugger(Protocol):
    """The network agent's side of a NIC: the agent hands its own one to drivers."""

    def plug(self, port_id: str, kind: str, netns: str | None = None) -> str:
        """Create the port's device: ``tap`` (in the dataplane namespace, QEMU must
        open it from there) or ``veth`` (its instance end moved into ``netns``).
        Returns the name the instance side uses."""
        ...

    def unplug(self, port_id: str) -> None: ...

    def dataplane_namespace(self) -> str | None:
        """The namespace taps live in (None with the fake network driver)."""
        ...


class ComputeDriver(Protocol):
    name: str  # qemu-kvm, qemu-tcg, container or fake

    def host_resources(self) -> HostResources: ...

    def list_instances(self) -> dict[str, PowerState]:
        """Every instance this driver has on the host (running or only on disk)."""
        ...

    def power_state(self, instance_id: str) -> PowerState: ...

    def spawn(self, spec: InstanceSpec, plugger: Plugger) -> None:
        """Create the disks (a qcow2 overlay on the image grown to root_gb, ephemeral
        and swap), plug the NICs and start the instance."""
        ...

    def power_on(self, spec: InstanceSpec, plugger: Plugger) -> None:
        """Start an instance whose disks exist (after stop, host reboot, crash)."""
        ...

    def power_off(self, instance_id: str, timeout: float = 60) -> None:
        """Ask the guest to shut down; after ``timeout`` seconds, end it."""
        ...

    def reboot(self, spec: InstanceSpec, plugger: Plugger, hard: bool) -> None: ...

    def pause(self, instance_id: str) -> None: ...

    def unpause(self, instance_id: str) -> None: ...

    def suspend(self, instance_id: str) -> None: ...

    def resume(self, spec: InstanceSpec, plugger: Plugger) -> None: ...

    def destroy(self, instance_id: str, plugger: Plugger, keep_disks: bool = False) -> None:
        """Stop it, unplug its NICs and (unless keep_disks) remove its files."""
        ...

    def snapshot(self, instance_id: str, target: Path) -> str:
        """Write the root disk, flattened, to ``target``; returns its disk format."""
        ...

    def resize_disk(self, instance_id: str, root_gb: int) -> None:
        """Grow the root disk (while the instance is off)."""
        ...

    def console_log(self, instance_id: str) -> bytes:
        """The console output since the first boot, bounded to the newest bytes."""
        ...

    def console(self, instance_id: str, kind: str) -> Console:
        """A remote console; raises DriverError if this driver has none of ``kind``."""
        ...

    def attach_interface(self, spec: InstanceSpec, nic: Nic, plugger: Plugger) -> None: ...

    def detach_interface(self, instance_id: str, port_id: str, plugger: Plugger) -> None: ...
