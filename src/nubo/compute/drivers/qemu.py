"""Instances as QEMU virtual machines (KVM when it really runs guests, else TCG).

Each instance is one daemonized ``qemu-system-x86_64`` (``-daemonize
-pidfile``), so it outlives a nubo restart; the driver finds it again by its
pid file, checks ``/proc/<pid>/cmdline`` names the instance, and asks it over
QMP. Files live in ``<instances_dir>/<id>/`` (see disks.py for the disks):

* ``console.log``: the serial console from the first boot on (QEMU appends to
  it; a socket chardev with a log file, so ``serial.sock`` is also a live
  serial console), bounded to ``compute.console_log_bytes`` when read and
  trimmed at each start;
* ``qmp.sock``, ``vnc.sock`` (VNC on a unix socket for noVNC), ``serial.sock``;
* ``qemu.pid``, ``qemu.log`` (QEMU's own messages), ``instance.json`` (ports
  and the PCI slots of their NICs, whether it was started rescued);
* ``memory.state`` while suspended.

Suspend saves the guest's memory and device state to ``memory.state`` with
QMP ``migrate`` to ``exec:cat`` (the VM is stopped first) and ends QEMU, as
libvirt's managed save does; resume starts QEMU with ``-incoming defer``,
loads the file and continues. NICs are taps the network agent made in its
dataplane namespace, so QEMU runs there (``ip netns exec``); devices sit at
fixed PCI slots so a restored or rebooted guest sees the same hardware.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nubo.compute.drivers import disks
from nubo.compute.drivers.base import (
    Console,
    DriverError,
    HostResources,
    InstanceSpec,
    Nic,
    Plugger,
    PowerState,
)
from nubo.compute.drivers.kvmprobe import kvm_usable
from nubo.compute.drivers.qemu_machine import (
    Files,
    host_cpu_info,
    host_memory_mb,
    nic_device,
    qemu_command,
    qemu_version,
    read_tail,
    slot_for,
    socket_dir,
    trim_file,
    use_vhost,
)
from nubo.compute.drivers.qmp import Qmp, QmpError
from nubo.config import ComputeConfig

log = logging.getLogger(__name__)

# QMP run states -> power states (anything not here counts as PAUSED).
RUN_STATES = {
    "running": PowerState.RUNNING,
    "suspended": PowerState.SUSPENDED,  # guest-initiated ACPI S3
    "shutdown": PowerState.SHUTDOWN,
    "internal-error": PowerState.CRASHED,
    "guest-panicked": PowerState.CRASHED,
    "watchdog": PowerState.CRASHED,
}
BROKEN_STATES = {"internal-error", "guest-panicked", "watchdog", "shutdown"}


class QemuComputeDriver:
    """Runs instances as QEMU VMs; see the module docstring."""

    def __init__(
        self, instances_dir: Path, config: ComputeConfig, accel: str | None = None
    ) -> None:
        if accel is None:
            accel = "kvm" if kvm_usable(instances_dir)[0] else "tcg"
        if accel not in ("kvm", "tcg"):
            raise ValueError(f"accel must be kvm or tcg, not {accel!r}")
        self.accel = accel
        self.name = f"qemu-{accel}"
        self.instances_dir = instances_dir
        self.config = config
        self.soft_reboot_timeout = 120.0
        self.quit_timeout = 10.0
        self._locks: dict[str, threading.RLock] = {}
        self._locks_lock = threading.Lock()

    # -- bookkeeping ------------------------------------------------------------

    def files(self, instance_id: str) -> Files:
        if not instance_id or "/" in instance_id or instance_id.startswith((".", "_")):
            raise DriverError(f"{instance_id!r} is not an instance id")
        directory = self.instances_dir / instance_id
        return Files(directory, socket_dir(directory))

    @contextlib.contextmanager
    def _locked(self, instance_id: str) -> Iterator[Files]:
        with self._locks_lock:
            lock = self._locks.setdefault(instance_id, threading.RLock())
        with lock:
            yield self.files(instance_id)

    def _read_meta(self, f: Files) -> dict[str, Any]:
        try:
            meta: dict[str, Any] = json.loads(f.meta.read_text())
        except (FileNotFoundError, ValueError):
            meta = {}
        meta.setdefault("ports", {})  # port id -> {"device": tap, "slot": n}
        return meta

    def _write_meta(self, f: Files, meta: dict[str, Any]) -> None:
        tmp = f.dir / ".instance.json.tmp"
        tmp.write_text(json.dumps(meta, indent=1, sort_keys=True))
        os.replace(tmp, f.meta)

    def _pid(self, instance_id: str, f: Files) -> int | None:
        """The pid of this instance's QEMU if it runs (and is really ours)."""
        try:
            pid = int(f.pid.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        # A zombie has no cmdline; a reused pid names another program.
        if not cmdline or not cmdline[0].endswith(b"qemu-system-x86_64"):
            return None
        if not any(instance_id.encode() in arg for arg in cmdline):
            return None
        return pid

    def _status(self, f: Files) -> str:
        """QEMU's run state (query-status), or "unknown" if QMP does not answer."""
        try:
            with Qmp(f.qmp, timeout=5) as q:
                return str(q.execute("query-status")["status"])
        except QmpError:
            return "unknown"

    # -- protocol: host and listing ---------------------------------------------------

    def host_resources(self) -> HostResources:
        c = self.config
        major, minor, micro = qemu_version()
        return HostResources(
            vcpus=c.vcpus or (os.cpu_count() or 1),
            memory_mb=c.memory_mb or host_memory_mb(),
            disk_gb=c.disk_gb or disks.host_disk_gb(self.instances_dir),
            hypervisor_type="QEMU",
            hypervisor_version=major * 1_000_000 + minor * 1_000 + micro,
            cpu_info=host_cpu_info(),
        )

    def list_instances(self) -> dict[str, PowerState]:
        found: dict[str, PowerState] = {}
        if not self.instances_dir.is_dir():
            return found
        for entry in sorted(os.scandir(self.instances_dir), key=lambda e: e.name):
            if entry.name.startswith(("_", ".")) or not entry.is_dir():
                continue
            d = Path(entry.path)
            if (d / "instance.json").exists() or (d / disks.ROOT_DISK).exists():
                found[entry.name] = self.power_state(entry.name)
        return found

    def power_state(self, instance_id: str) -> PowerState:
        f = self.files(instance_id)
        if self._pid(instance_id, f) is not None:
            status = self._status(f)
            if status == "unknown":
                # Alive but not answering (busy, or starting): not stopped.
                return PowerState.RUNNING
            return RUN_STATES.get(status, PowerState.PAUSED)
        if f.state.exists():
            return PowerState.SUSPENDED
        if f.root.exists():
            return PowerState.SHUTDOWN
        return PowerState.NOSTATE

    # -- protocol: lifecycle ------------------------------------------------------------

    def spawn(self, spec: InstanceSpec, plugger: Plugger) -> None:
        with self._locked(spec.id) as f:
            if self._pid(spec.id, f) is not None:
                return
            f.dir.mkdir(parents=True, exist_ok=True)
            disks.create_disks(f.dir, spec)
            self._start(spec, plugger, f)

    def power_on(self, spec: InstanceSpec, plugger: Plugger) -> None:
        with self._locked(spec.id) as f:
            pid = self._pid(spec.id, f)
            if pid is not None:
                status = self._status(f)
                if status in ("running", "unknown"):
                    return
                if status == "suspended":
                    self._qmp(f, "system_wakeup")
                    return
                if status not in BROKEN_STATES:
                    self._qmp(f, "cont")
                    return
                self._kill(pid, f)
            if not f.root.exists():
                raise DriverError("The instance's root disk is missing on this host")
            # A fresh boot: saved memory (if any) no longer matches.
            f.state.unlink(missing_ok=True)
            disks.create_disks(f.dir, spec)
            self._start(spec, plugger, f)

    def power_off(self, instance_id: str, timeout: float = 60) -> None:
        with self._locked(instance_id) as f:
            pid = self._pid(instance_id, f)
            if pid is None:
                f.state.unlink(missing_ok=True)
                return
            if timeout > 0 and self._status(f) == "running":
                with contextlib.suppress(QmpError):
                    self._qmp(f, "system_powerdown")
                    if self._wait_exit(pid, timeout):
                        return
            self._kill(pid, f)

    def reboot(self, spec: InstanceSpec, plugger: Plugger, hard: bool) -> None:
        with self._locked(spec.id) as f:
            pid = self._pid(spec.id, f)
            if pid is None:
                f.state.unlink(missing_ok=True)
                disks.create_disks(f.dir, spec)
                self._start(spec, plugger, f)
                return
            status = self._status(f)
            rescued = bool(self._read_meta(f).get("rescued"))
            if rescued != (spec.rescue_image_path is not None) or status in BROKEN_STATES:
                # Into or out of rescue, or QEMU is past saving: a new QEMU.
                self._kill(pid, f)
                disks.create_disks(f.dir, spec)
                self._start(spec, plugger, f)
                return
            if not hard and status == "running":
                # The ACPI power button, then a new boot; a guest that ignores
                # it gets the reset button, as Nova falls back to a hard reboot.
                with contextlib.suppress(QmpError):
                    self._qmp(f, "system_powerdown")
                    if self._wait_exit(pid, self.soft_reboot_timeout):
                        self._start(spec, plugger, f)
                        return
            self._qmp(f, "system_reset")
            if status != "running":
                self._qmp(f, "cont")

    def pause(self, instance_id: str) -> None:
        with self._locked(instance_id) as f:
            status = self._running_status(instance_id, f)
            if status == "paused":
                return
            if status != "running":
                raise DriverError(f"The instance cannot be paused while it is {status}")
            self._qmp(f, "stop")

    def unpause(self, instance_id: str) -> None:
        with self._locked(instance_id) as f:
            status = self._running_status(instance_id, f)
            if status == "running":
                return
            if status != "paused":
                raise DriverError(f"The instance cannot be unpaused while it is {status}")
            self._qmp(f, "cont")

    def suspend(self, instance_id: str) -> None:
        with self._locked(instance_id) as f:
            pid = self._pid(instance_id, f)
            if pid is None:
                if f.state.exists():
                    return
                raise DriverError("The instance is not running")
            tmp = f.dir / ".memory.state.tmp"
            tmp.unlink(missing_ok=True)
            timeout = float(self.config.action_timeout)
            with Qmp(f.qmp, timeout=30) as q:
                was_running = q.execute("query-status")["status"] == "running"
                if was_running:
                    q.execute("stop")
                try:
                    # No bandwidth cap (QEMU's default is 32 MiB/s, meant for networks).
                    q.execute("migrate-set-parameters", {"max-bandwidth": 1 << 40})
                    q.execute("migrate", {"uri": f"exec:cat > {shlex.quote(str(tmp))}"})
                    self._wait_migration(q, timeout)
                except DriverError:
                    # Not saved: the guest goes on as it was.
                    with contextlib.suppress(QmpError):
                        q.execute("migrate_cancel")
                        if was_running:
                            q.execute("cont")
                    tmp.unlink(missing_ok=True)
                    raise
                with contextlib.suppress(QmpError):
                    q.execute("quit")
            if not self._wait_exit(pid, self.quit_timeout):
                self._kill(pid, f)
            os.replace(tmp, f.state)

    def resume(self, spec: InstanceSpec, plugger: Plugger) -> None:
        with self._locked(spec.id) as f:
            pid = self._pid(spec.id, f)
            if pid is not None:
                status = self._status(f)
                if status == "suspended":
                    self._qmp(f, "system_wakeup")
                elif status not in ("running", "unknown"):
                    self._qmp(f, "cont")
                return
            if not f.state.exists():
                # Nothing saved (the file was lost): boot it rather than fail.
                log.warning("instance %s has no saved state; booting it instead", spec.id)
                disks.create_disks(f.dir, spec)
                self._start(spec, plugger, f)
                return
            self._start(spec, plugger, f, incoming=True)
            try:
                with Qmp(f.qmp, timeout=30) as q:
                    uri = f"exec:cat {shlex.quote(str(f.state))}"
                    q.execute("migrate-incoming", {"uri": uri})
                    self._wait_incoming(q, float(self.config.action_timeout))
                    q.execute("cont")
            except DriverError:
                new_pid = self._pid(spec.id, f)
                if new_pid is not None:
                    self._kill(new_pid, f)
                raise
            f.state.unlink(missing_ok=True)

    def destroy(self, instance_id: str, plugger: Plugger, keep_disks: bool = False) -> None:
        with self._locked(instance_id) as f:
            pid = self._pid(instance_id, f)
            if pid is not None:
                self._kill(pid, f, graceful=False)
            meta = self._read_meta(f)
            for port_id in list(meta["ports"]):
                plugger.unplug(port_id)
            if keep_disks:
                meta["ports"] = {}
                if f.dir.is_dir():
                    self._write_meta(f, meta)
                for p in (f.state, f.pid, f.rescue):
                    p.unlink(missing_ok=True)
            else:
                shutil.rmtree(f.dir, ignore_errors=True)
            if f.sockets != f.dir:
                shutil.rmtree(f.sockets, ignore_errors=True)
        with self._locks_lock:
            if not keep_disks:
                self._locks.pop(instance_id, None)

    # -- protocol: disks ------------------------------------------------------------------

    def snapshot(self, instance_id: str, target: Path) -> str:
        with self._locked(instance_id) as f:
            if not f.root.exists():
                raise DriverError("The instance has no root disk on this host")
            if self._pid(instance_id, f) is None:
                return disks.flatten(f.root, target)
            # Stopping the VM drains and flushes its disk writes: the copy is a
            # consistent (crash-consistent) image, and the guest goes on after.
            was_running = self._status(f) == "running"
            if was_running:
                self._qmp(f, "stop")
            try:
                return disks.flatten(f.root, target, in_use=True)
            finally:
                if was_running:
                    self._qmp(f, "cont")

    def resize_disk(self, instance_id: str, root_gb: int) -> None:
        with self._locked(instance_id) as f:
            if self._pid(instance_id, f) is None:
                disks.resize_disk(f.dir, root_gb)
                return
            current = disks.virtual_size(f.root, "qcow2")
            if root_gb * disks.GIB < current:
                raise DriverError(
                    f"A disk cannot shrink ({-(-current // disks.GIB)} GiB now, "
                    f"{root_gb} GiB asked)"
                )
            if root_gb * disks.GIB > current:
                self._qmp(f, "block_resize", {"device": "disk-root", "size": root_gb * disks.GIB})

    # -- protocol: consoles ----------------------------------------------------------------

    def console_log(self, instance_id: str) -> bytes:
        f = self.files(instance_id)
        limit = self.config.console_log_bytes
        # A chatty guest: keep the file within a few times the limit while it runs.
        with contextlib.suppress(FileNotFoundError):
            if limit > 0 and f.console.stat().st_size > 4 * limit:
                trim_file(f.console, limit)
        return read_tail(f.console, limit)

    def console(self, instance_id: str, kind: str) -> Console:
        f = self.files(instance_id)
        sockets = {"novnc": f.vnc, "serial": f.serial}
        if kind not in sockets:
            raise DriverError(f"QEMU instances have no {kind} console (novnc or serial)")
        if self._pid(instance_id, f) is None or not sockets[kind].exists():
            raise DriverError("The instance is not running: it has no console")
        return Console(kind, sockets[kind])

    # -- protocol: interfaces ----------------------------------------------------------------

    def attach_interface(self, spec: InstanceSpec, nic: Nic, plugger: Plugger) -> None:
        with self._locked(spec.id) as f:
            if not f.dir.is_dir():
                raise DriverError("The instance is not on this host")
            meta = self._read_meta(f)
            device = plugger.plug(nic.port_id, "tap", None)
            slot = slot_for(meta, nic.port_id)
            meta["ports"][nic.port_id] = {"device": device, "slot": slot}
            self._write_meta(f, meta)
            if self._pid(spec.id, f) is None:
                return  # the next start puts it on the command line
            with Qmp(f.qmp) as q:
                present = {
                    d["name"] for d in q.execute("qom-list", {"path": "/machine/peripheral"})
                }
                if f"nic-{nic.port_id}" in present:
                    return
                netdev: dict[str, Any] = {"type": "tap", "id": f"net-{nic.port_id}"}
                netdev |= {"ifname": device, "script": "no", "downscript": "no"}
                if use_vhost(self.accel):
                    netdev["vhost"] = True
                if f"net-{nic.port_id}" not in self._netdevs(q):
                    q.execute("netdev_add", netdev)
                q.execute("device_add", nic_device(spec, nic, slot))

    def detach_interface(self, instance_id: str, port_id: str, plugger: Plugger) -> None:
        with self._locked(instance_id) as f:
            if self._pid(instance_id, f) is not None:
                with Qmp(f.qmp) as q:
                    present = {
                        d["name"] for d in q.execute("qom-list", {"path": "/machine/peripheral"})
                    }
                    if f"nic-{port_id}" in present:
                        q.execute("device_del", {"id": f"nic-{port_id}"})
                        if q.wait_event("DEVICE_DELETED", 30, device=f"nic-{port_id}") is None:
                            raise DriverError(
                                "The guest did not release the interface (no ACPI hot-unplug?)"
                            )
                    if f"net-{port_id}" in self._netdevs(q):
                        q.execute("netdev_del", {"id": f"net-{port_id}"})
            plugger.unplug(port_id)
            if f.dir.is_dir():
                meta = self._read_meta(f)
                if meta["ports"].pop(port_id, None) is not None:
                    self._write_meta(f, meta)

    # -- starting and stopping ---------------------------------------------------------------

    def command(
        self, spec: InstanceSpec, f: Files, nics: list[tuple[Nic, str, int]], incoming: bool
    ) -> list[str]:
        """QEMU's command line for spec; nics: (nic, tap device, PCI slot)."""
        return qemu_command(spec, f, nics, self.accel, incoming)

    def _start(
        self, spec: InstanceSpec, plugger: Plugger, f: Files, incoming: bool = False
    ) -> None:
        if spec.rescue_image_path is not None:
            f.rescue.unlink(missing_ok=True)
            disks.create_overlay(
                f.rescue,
                spec.rescue_image_path,
                "qcow2" if spec.rescue_image_path.suffix != ".raw" else "raw",
            )
        else:
            f.rescue.unlink(missing_ok=True)
        if spec.config_drive is not None and not spec.config_drive.is_file():
            raise DriverError("The config drive was not built")
        meta = self._read_meta(f)
        # Ports that are no longer the instance's (detached while it was off).
        wanted = {nic.port_id for nic in spec.nics}
        for port_id in [p for p in meta["ports"] if p not in wanted]:
            plugger.unplug(port_id)
            del meta["ports"][port_id]
        nics = []
        for nic in spec.nics:
            device = plugger.plug(nic.port_id, "tap", None)
            slot = slot_for(meta, nic.port_id)
            meta["ports"][nic.port_id] = {"device": device, "slot": slot}
            nics.append((nic, device, slot))
        meta["rescued"] = spec.rescue_image_path is not None
        meta["accel"] = self.accel
        self._write_meta(f, meta)

        f.sockets.mkdir(parents=True, exist_ok=True)
        for stale in (f.qmp, f.vnc, f.serial, f.pid):
            stale.unlink(missing_ok=True)
        trim_file(f.console, self.config.console_log_bytes)
        cmd = self.command(spec, f, nics, incoming)
        namespace = plugger.dataplane_namespace()
        if namespace is not None:
            cmd = ["ip", "netns", "exec", namespace, *cmd]
        log.debug("starting %s: %s", spec.id, shlex.join(cmd))
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        except subprocess.TimeoutExpired as exc:
            raise DriverError("QEMU did not start within 120s") from exc
        except FileNotFoundError as exc:
            raise DriverError(f"{cmd[0]} is not installed on this compute host") from exc
        if proc.returncode != 0 or self._pid(spec.id, f) is None:
            raise DriverError(f"QEMU did not start: {self._failure(proc, f)}")

    def _failure(self, proc: subprocess.CompletedProcess[str], f: Files) -> str:
        lines = (proc.stderr + "\n" + read_tail(f.log, 4096).decode(errors="replace")).splitlines()
        useful = [ln.strip() for ln in lines if ln.strip() and "warning:" not in ln]
        return " ".join(useful[-3:]) or f"exit status {proc.returncode}"

    def _running_status(self, instance_id: str, f: Files) -> str:
        if self._pid(instance_id, f) is None:
            return "shut off"
        return self._status(f)

    def _qmp(self, f: Files, command: str, arguments: dict[str, Any] | None = None) -> Any:
        with Qmp(f.qmp) as q:
            return q.execute(command, arguments)

    @staticmethod
    def _netdevs(q: Qmp) -> set[str]:
        # query-netdev is not in every QEMU; the "info network" text works everywhere.
        text = str(q.execute("human-monitor-command", {"command-line": "info network"}))
        names = set()
        for line in text.splitlines():
            word = line.strip().lstrip("\\_ ").split(":", 1)[0]
            if word:
                names.add(word)
        return names

    def _wait_migration(self, q: Qmp, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = q.execute("query-migrate")
            status = info.get("status", "none")
            if status == "completed":
                return
            if status in ("failed", "cancelled"):
                raise DriverError(
                    f"Saving or loading the memory failed: {info.get('error-desc', status)}"
                )
            time.sleep(0.1)
        raise DriverError(f"Saving or loading the memory took longer than {timeout:.0f}s")

    @staticmethod
    def _wait_incoming(q: Qmp, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if q.execute("query-status")["status"] != "inmigrate":
                return
            info = q.execute("query-migrate")
            if info.get("status") in ("failed", "cancelled"):
                raise DriverError(f"Loading the saved memory failed: {info.get('error-desc', '')}")
            time.sleep(0.1)
        raise DriverError(f"Loading the saved memory took longer than {timeout:.0f}s")

    @staticmethod
    def _alive(pid: int) -> bool:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        # The state follows the parenthesised command name; Z is a zombie.
        return stat.rsplit(")", 1)[-1].split()[0] != "Z"

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._alive(pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True

    def _kill(self, pid: int, f: Files, graceful: bool = True) -> None:
        """End this instance's QEMU: QMP quit, then SIGTERM, then SIGKILL."""
        if graceful:
            with contextlib.suppress(QmpError):
                self._qmp(f, "quit")
            if self._wait_exit(pid, self.quit_timeout):
                return
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 10.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            if self._wait_exit(pid, wait):
                return
        raise DriverError(f"QEMU (pid {pid}) did not end")
