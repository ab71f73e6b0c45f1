"""Instances as namespace containers: unshare + overlayfs + cgroups.

An instance runs its image's ``/sbin/init`` as PID 1 in new PID, mount, UTS
and IPC namespaces, inside a network namespace of its own
(``nubo-inst-<10 id chars>``) into which the network agent's plugger moves one
veth per port (renamed eth0, eth1 ... in port order).

Files (``instances_dir/<id>/``):

* ``upper/``, ``work/``: the overlay's writable layer over the image's root
  filesystem, which is extracted once per image into
  ``instances_dir/_base/<image file stem>.rootfs/`` (read-only lower layer).
  The overlay is mounted inside the container's own mount namespace only (the
  host never sees it, and it disappears with the container's last process);
  ``upper/`` keeps every change across stop/start and nubo restarts.
* ``console.log``: init's stdout and stderr from the first byte; trimmed to
  the newest ``console_log_bytes`` once it grows past twice that.
* ``container.pid``: the supervising ``unshare`` process; ``container.json``:
  what destroy and snapshot need without a spec (image, NICs, cgroup paths).

The container is started detached (its own session, reparented to the host's
init), so it outlives nubo; a restarted nubo adopts it through the pid file,
checked against the process's environment (``NUBO_INSTANCE=<id>``, which the
guest's init does not inherit) and the instance's cgroup.

Power: a clean stop signals init (SIGUSR2 = busybox init's poweroff,
SIGRTMIN+4 = systemd's), waits, then kills every process of the cgroup.
Pause and suspend freeze the cgroup; a suspended container is frozen in
memory like a paused one (reported SUSPENDED) and is not saved to disk, so a
host reboot loses it. Containers have no graphical or serial console: the
console log is their output.

Limits: vCPUs (CFS quota), memory (no swap beyond it), a pids cap and (cgroup
v1) a device allow-list; the capability bounding set drops what a guest never
needs (module loading, raw I/O, clock, immutable files ...). The root disk
size is not enforced: ``upper/`` grows on the host's filesystem (there are no
project quotas here, and a loop-mounted upper would spend a scarce loop device
per instance); ``root_gb`` is kept for snapshots and the record. Ephemeral and
swap disks are not given to containers. The config drive is not shown to the
guest either: nubo-init reads a config drive only as a block device in a VM,
so a container takes its metadata from the metadata service.

Snapshot: the image is copied to a raw disk, its root partition is rebuilt
with ``mke2fs -d`` from the merged view (the upper layer over the image's tree,
mounted read-only in a private mount namespace), keeping the partition's
label and UUID, and the disk is converted to qcow2: it boots under QEMU (the
image's boot partition is untouched) and as a container.

container_launch.py holds the start command, scripts, console log and /proc
checks; container_disk.py the root filesystems and snapshots; container_net.py
the namespace's NICs; cgroups.py the control groups.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nubo.compute.drivers import cgroups
from nubo.compute.drivers.base import (
    Console,
    DriverError,
    HostResources,
    InstanceSpec,
    Nic,
    Plugger,
    PowerState,
)
from nubo.compute.drivers.container_disk import (
    base_rootfs,
    mounts_below,
    overlay_mountable,
    overlay_safe,
    write_snapshot,
)
from nubo.compute.drivers.container_launch import (
    alive,
    children,
    guest_hostname,
    has_mark,
    launch_command,
    launch_env,
    netns_name,
    proc_environ,
    read_tail,
    trim_log,
)
from nubo.compute.drivers.container_net import ensure_netns, plug, remove_device
from nubo.config import ComputeConfig
from nubo.image.guest import CONTAINER_INIT
from nubo.network.dataplane import netns

log = logging.getLogger(__name__)

STATE_FILE = "container.json"
PID_FILE = "container.pid"
CONSOLE_LOG = "console.log"
SUSPENDED_FILE = "suspended"
START_TIMEOUT = 15.0
KILL_TIMEOUT = 15.0

TOOLS = {
    "unshare": "util-linux",
    "nsenter": "util-linux",
    "setpriv": "util-linux",
    "mount": "mount",
    "umount": "mount",
    "ip": "iproute2",
    "qemu-img": "qemu-utils",
    "debugfs": "e2fsprogs",
    "mke2fs": "e2fsprogs",
}

# -- the driver -----------------------------------------------------------------------


class ContainerComputeDriver:
    """Runs each instance's image as a namespace container (see the module doc)."""

    name = "container"

    def __init__(self, instances_dir: Path, config: ComputeConfig) -> None:
        self.instances = Path(instances_dir).absolute()
        self.config = config
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()
        self._hierarchy: cgroups.Hierarchy | None = None

    # -- capability check ------------------------------------------------------------

    @staticmethod
    def available(instances_dir: Path | None = None) -> tuple[bool, str]:
        """Whether this host can run containers, and why (not). With instances_dir,
        the overlay is tried on the filesystem the instances' layers will use."""
        if os.geteuid() != 0:
            return False, "containers need root (namespaces, mounts and cgroups)"
        missing = [tool for tool in TOOLS if shutil.which(tool) is None]
        if missing:
            packages = " ".join(sorted({TOOLS[t] for t in missing}))
            return False, f"missing {', '.join(missing)}: install {packages}"
        try:
            hierarchy = cgroups.detect()
        except OSError as exc:
            return False, f"cannot read the cgroup layout: {exc}"
        if hierarchy.version == 0:
            return False, hierarchy.describe()
        ok, why = overlay_mountable(instances_dir)
        if not ok:
            return False, why
        return True, f"namespaces, overlayfs and {hierarchy.describe()}"

    # -- helpers -------------------------------------------------------------------------

    def _lock(self, instance_id: str) -> threading.RLock:
        with self._locks_guard:
            return self._locks.setdefault(instance_id, threading.RLock())

    def _dir(self, instance_id: str) -> Path:
        if not instance_id or "/" in instance_id or instance_id.startswith((".", "_")):
            raise DriverError(f"invalid instance id {instance_id!r}")
        return self.instances / instance_id

    @property
    def hierarchy(self) -> cgroups.Hierarchy:
        if self._hierarchy is None:
            self._hierarchy = cgroups.detect()
        return self._hierarchy

    def _state(self, instance_id: str) -> dict[str, Any]:
        try:
            data = json.loads((self._dir(instance_id) / STATE_FILE).read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save_state(self, instance_id: str, state: dict[str, Any]) -> None:
        path = self._dir(instance_id) / STATE_FILE
        tmp = path.with_suffix(".json.new")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
        tmp.replace(path)

    def _cgroup(self, instance_id: str, state: dict[str, Any] | None = None) -> cgroups.Cgroup:
        saved = (state if state is not None else self._state(instance_id)).get("cgroup")
        if isinstance(saved, dict) and saved.get("paths"):
            return cgroups.Cgroup.from_json(saved)
        try:
            return self.hierarchy.group(instance_id)
        except cgroups.CgroupError as exc:
            raise DriverError(str(exc)) from exc

    def _pid(self, instance_id: str) -> int | None:
        """The supervising unshare process of a running container, verified."""
        try:
            pid = int((self._dir(instance_id) / PID_FILE).read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if not alive(pid) or not has_mark(proc_environ(pid), instance_id):
            return None
        return pid

    def _init_pid(self, pid: int) -> int | None:
        """The container's PID 1 as the host sees it (the unshare process's child)."""
        kids = children(pid)
        return kids[0] if kids else None

    def _running(self, instance_id: str) -> bool:
        return self._pid(instance_id) is not None

    # -- inventory -----------------------------------------------------------------------

    def host_resources(self) -> HostResources:
        cpus = os.cpu_count() or 1
        memory_mb = 0
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemTotal:"):
                    memory_mb = int(line.split()[1]) // 1024
        self.instances.mkdir(parents=True, exist_ok=True)
        fs = os.statvfs(self.instances)
        disk_gb = fs.f_blocks * fs.f_frsize >> 30
        release = platform.release().split("-")[0].split(".")
        numbers = [int(p) if p.isdigit() else 0 for p in [*release, "0", "0", "0"][:3]]
        cpuinfo: dict[str, str] = {}
        with contextlib.suppress(OSError):
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                key, _, value = line.partition(":")
                cpuinfo.setdefault(key.strip(), value.strip())
        vendor = cpuinfo.get("vendor_id", "")
        vendor = {"GenuineIntel": "Intel", "AuthenticAMD": "AMD"}.get(vendor, vendor)
        return HostResources(
            vcpus=self.config.vcpus or cpus,
            memory_mb=self.config.memory_mb or memory_mb,
            disk_gb=self.config.disk_gb or disk_gb,
            hypervisor_type="container",
            hypervisor_version=numbers[0] * 1_000_000 + numbers[1] * 1000 + numbers[2],
            cpu_info={
                "arch": platform.machine(),
                "model": cpuinfo.get("model name", ""),
                "vendor": vendor,
                "topology": {"sockets": 1, "cores": cpus, "threads": 1},
                "features": [],
            },
        )

    def list_instances(self) -> dict[str, PowerState]:
        found: dict[str, PowerState] = {}
        if not self.instances.is_dir():
            return found
        for entry in sorted(self.instances.iterdir()):
            if entry.name.startswith(("_", ".")) or not (entry / STATE_FILE).exists():
                continue
            found[entry.name] = self.power_state(entry.name)
        return found

    def power_state(self, instance_id: str) -> PowerState:
        directory = self._dir(instance_id)
        if not (directory / STATE_FILE).exists():
            return PowerState.NOSTATE
        # The agent asks periodically: a good moment to bound the log.
        trim_log(directory / CONSOLE_LOG, self.config.console_log_bytes)
        if not self._running(instance_id):
            return PowerState.SHUTDOWN
        if self._cgroup(instance_id).freezer_state() != "THAWED":
            if (directory / SUSPENDED_FILE).exists():
                return PowerState.SUSPENDED
            return PowerState.PAUSED
        return PowerState.RUNNING

    # -- life cycle ------------------------------------------------------------------------

    def spawn(self, spec: InstanceSpec, plugger: Plugger) -> None:
        with self._lock(spec.id):
            if spec.rescue_image_path is not None:
                raise DriverError("Containers cannot be rescued.")
            directory = self._dir(spec.id)
            state = self._state(spec.id)
            if not state:
                for path in (self.instances, spec.image_path):
                    if not overlay_safe(path):
                        raise DriverError(f"{path} cannot be used with overlayfs (',' or ':')")
                lower = base_rootfs(self.instances, spec.image_path)
                if not os.path.lexists(lower / CONTAINER_INIT.lstrip("/")):
                    raise DriverError(
                        f"The image has no {CONTAINER_INIT}: it cannot run as a container."
                    )
                for sub in ("upper", "work", "root"):
                    (directory / sub).mkdir(parents=True, exist_ok=True)
                state = {
                    "image_path": str(spec.image_path),
                    "rootfs": str(lower),
                    "root_gb": spec.root_gb,
                    "nics": [],
                    "netns": netns_name(spec.id),
                    "cgroup": self._cgroup(spec.id, {}).to_json(),
                }
                self._save_state(spec.id, state)
            self.power_on(spec, plugger)

    def power_on(self, spec: InstanceSpec, plugger: Plugger) -> None:
        with self._lock(spec.id):
            if spec.rescue_image_path is not None:
                raise DriverError("Containers cannot be rescued.")
            state = self._state(spec.id)
            if not state:
                raise DriverError(f"Instance {spec.id} has no files on this host.")
            if self._running(spec.id):
                return
            directory = self._dir(spec.id)
            lower = Path(state["rootfs"])
            if not (lower / "etc").is_dir():
                # The extracted tree was removed (cache cleanup): extract it again.
                lower = base_rootfs(
                    self.instances, Path(state.get("image_path") or spec.image_path)
                )
            (directory / SUSPENDED_FILE).unlink(missing_ok=True)
            ns = ensure_netns(spec.id)
            self._plug_all(spec, plugger, state)
            group = self._cgroup(spec.id, state)
            try:
                group.kill_all()  # leftovers of a container that died badly
                group.create(
                    cgroups.Limits(
                        vcpus=spec.vcpus,
                        memory_mb=spec.memory_mb,
                        pids_max=_int(spec.extra.get("nubo:pids_max"), cgroups.DEFAULT_PIDS_MAX),
                    )
                )
            except cgroups.CgroupError as exc:
                raise DriverError(f"Cannot set the container's limits: {exc}") from exc
            state.update(
                hostname=guest_hostname(spec.hostname),
                root_gb=spec.root_gb,
                vcpus=spec.vcpus,
                memory_mb=spec.memory_mb,
            )
            self._save_state(spec.id, state)
            self._start(spec.id, group, ns, lower, state["hostname"])

    def _start(
        self, instance_id: str, group: cgroups.Cgroup, ns: str, lower: Path, hostname: str
    ) -> None:
        directory = self._dir(instance_id)
        console = directory / CONSOLE_LOG
        trim_log(console, self.config.console_log_bytes)
        pid_file = directory / PID_FILE
        pid_file.unlink(missing_ok=True)
        cmd = launch_command(
            pid_file=pid_file,
            cgroup_procs=group.procs_files(),
            netns_path=netns.NETNS_DIR / ns,
            lower=lower,
            upper=directory / "upper",
            work=directory / "work",
            mountpoint=directory / "root",
            hostname=hostname,
        )
        with console.open("ab") as out:
            launcher = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=launch_env(instance_id),
                cwd="/",
                start_new_session=True,
                close_fds=True,
            )
        try:
            code = launcher.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(launcher.pid, signal.SIGKILL)
            launcher.wait()
            code = -1
        if code != 0 or not pid_file.exists():
            raise DriverError(f"The container could not be started:{self._console_tail(console)}")
        pid = int(pid_file.read_text().strip())
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not alive(pid):
                raise DriverError(f"The container ended at once:{self._console_tail(console)}")
            init = self._init_pid(pid)
            # Once init runs, the mark is gone from PID 1's environment.
            if init is not None and alive(init) and not has_mark(proc_environ(init), instance_id):
                log.info("instance %s: container started (init is pid %d)", instance_id, init)
                return
            time.sleep(0.05)
        raise DriverError(f"The container's init did not start:{self._console_tail(console)}")

    def _console_tail(self, console: Path, lines: int = 5) -> str:
        text = read_tail(console, 4096).decode(errors="replace").strip().splitlines()
        return (" " + " / ".join(text[-lines:])) if text else " (no output)"

    def power_off(self, instance_id: str, timeout: float = 60) -> None:
        with self._lock(instance_id):
            pid = self._pid(instance_id)
            group = self._cgroup(instance_id)
            directory = self._dir(instance_id)
            (directory / SUSPENDED_FILE).unlink(missing_ok=True)
            if pid is not None:
                if group.freezer_state() != "THAWED":
                    with contextlib.suppress(cgroups.CgroupError):
                        group.thaw()
                init = self._init_pid(pid)
                if init is not None and timeout > 0:
                    for sig in (signal.SIGUSR2, signal.SIGRTMIN + 4):
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(init, sig)
                    deadline = time.monotonic() + timeout
                    while alive(pid) and time.monotonic() < deadline:
                        time.sleep(0.1)
                if alive(pid):
                    log.info("instance %s: did not stop in %ss, killing it", instance_id, timeout)
            self._kill(instance_id, pid, group)

    def _kill(self, instance_id: str, pid: int | None, group: cgroups.Cgroup) -> None:
        """End every process of the container: its PID 1 (the kernel then ends the
        whole PID namespace), the supervisor, and whatever is left in its cgroup."""
        if pid is not None:
            init = self._init_pid(pid)
            for target in (init, pid):
                if target is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(target, signal.SIGKILL)
        try:
            group.kill_all(KILL_TIMEOUT)
        except cgroups.CgroupError as exc:
            raise DriverError(f"Cannot stop the container: {exc}") from exc
        deadline = time.monotonic() + KILL_TIMEOUT
        while pid is not None and alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid is not None and alive(pid):
            raise DriverError(f"The container's process {pid} did not end.")
        (self._dir(instance_id) / PID_FILE).unlink(missing_ok=True)

    def reboot(self, spec: InstanceSpec, plugger: Plugger, hard: bool) -> None:
        with self._lock(spec.id):
            if hard:
                self._kill(spec.id, self._pid(spec.id), self._cgroup(spec.id))
            else:
                self.power_off(spec.id, timeout=60)
            self.power_on(spec, plugger)

    def pause(self, instance_id: str) -> None:
        with self._lock(instance_id):
            self._freeze(instance_id)

    def unpause(self, instance_id: str) -> None:
        with self._lock(instance_id):
            self._thaw(instance_id)

    def suspend(self, instance_id: str) -> None:
        with self._lock(instance_id):
            self._freeze(instance_id)
            (self._dir(instance_id) / SUSPENDED_FILE).touch()

    def resume(self, spec: InstanceSpec, plugger: Plugger) -> None:
        with self._lock(spec.id):
            if self._running(spec.id):
                self._thaw(spec.id)
            else:
                # Suspended in memory only: after a host reboot, boot it again.
                self.power_on(spec, plugger)
            (self._dir(spec.id) / SUSPENDED_FILE).unlink(missing_ok=True)

    def _freeze(self, instance_id: str) -> None:
        if not self._running(instance_id):
            raise DriverError(f"Instance {instance_id} is not running.")
        try:
            self._cgroup(instance_id).freeze()
        except cgroups.CgroupError as exc:
            raise DriverError(f"Cannot pause the container: {exc}") from exc

    def _thaw(self, instance_id: str) -> None:
        if not self._running(instance_id):
            raise DriverError(f"Instance {instance_id} is not running.")
        try:
            self._cgroup(instance_id).thaw()
        except cgroups.CgroupError as exc:
            raise DriverError(f"Cannot unpause the container: {exc}") from exc
        (self._dir(instance_id) / SUSPENDED_FILE).unlink(missing_ok=True)

    def destroy(self, instance_id: str, plugger: Plugger, keep_disks: bool = False) -> None:
        with self._lock(instance_id):
            directory = self._dir(instance_id)
            state = self._state(instance_id)
            group = self._cgroup(instance_id, state)
            self._kill(instance_id, self._pid(instance_id), group)
            for nic in state.get("nics", []):
                plugger.unplug(str(nic["port_id"]))
            netns.delete_namespace(str(state.get("netns") or netns_name(instance_id)))
            try:
                group.remove()
            except cgroups.CgroupError as exc:
                raise DriverError(f"Cannot remove the container's cgroup: {exc}") from exc
            # The overlay only ever lives in the container's own mount namespace;
            # anything mounted below the directory here is a leftover.
            for point in reversed(mounts_below(directory)):
                subprocess.run(["umount", "-l", point], capture_output=True, check=False)
            if keep_disks:
                if state:
                    state["nics"] = []
                    self._save_state(instance_id, state)
            elif directory.exists():
                shutil.rmtree(directory)
            with self._locks_guard:
                self._locks.pop(instance_id, None)

    # -- disks -----------------------------------------------------------------------------

    def snapshot(self, instance_id: str, target: Path) -> str:
        with self._lock(instance_id):
            state = self._state(instance_id)
            if not state:
                raise DriverError(f"Instance {instance_id} has no files on this host.")
            image = Path(state["image_path"])
            if not image.exists():
                raise DriverError(f"The image {image} the instance was built from is gone.")
            lower = Path(state["rootfs"])
            directory = self._dir(instance_id)
            group = self._cgroup(instance_id, state)
            scratch = Path(tempfile.mkdtemp(prefix=".snapshot-", dir=directory))
            try:
                # A running container is frozen while its files are copied, so
                # the copy is consistent (as after a crash).
                quiesce = _frozen(group, self._running(instance_id))
                write_snapshot(image, directory / "upper", lower, target, scratch, quiesce)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            return "qcow2"

    def resize_disk(self, instance_id: str, root_gb: int) -> None:
        # Not enforced for containers (see the module doc): only recorded.
        with self._lock(instance_id):
            state = self._state(instance_id)
            if not state:
                raise DriverError(f"Instance {instance_id} has no files on this host.")
            state["root_gb"] = root_gb
            self._save_state(instance_id, state)

    # -- consoles ----------------------------------------------------------------------------

    def console_log(self, instance_id: str) -> bytes:
        path = self._dir(instance_id) / CONSOLE_LOG
        trim_log(path, self.config.console_log_bytes)
        return read_tail(path, self.config.console_log_bytes)

    def console(self, instance_id: str, kind: str) -> Console:
        if kind == "novnc":
            raise DriverError("Containers have no graphical console.")
        raise DriverError("Containers have no serial console; read the console log instead.")

    # -- NICs ---------------------------------------------------------------------------------

    def _plug_all(self, spec: InstanceSpec, plugger: Plugger, state: dict[str, Any]) -> None:
        ns = str(state.get("netns") or netns_name(spec.id))
        wanted = {nic.port_id for nic in spec.nics}
        for old in state.get("nics", []):
            if old["port_id"] not in wanted:
                plugger.unplug(str(old["port_id"]))
        nics = []
        for index, nic in enumerate(spec.nics):
            device = plug(ns, nic, index, plugger)
            nics.append({"port_id": nic.port_id, "mac_address": nic.mac_address, "device": device})
        state["nics"] = nics
        self._save_state(spec.id, state)

    def attach_interface(self, spec: InstanceSpec, nic: Nic, plugger: Plugger) -> None:
        with self._lock(spec.id):
            state = self._state(spec.id)
            if not state:
                raise DriverError(f"Instance {spec.id} has no files on this host.")
            nics: list[dict[str, str]] = list(state.get("nics", []))
            if any(n["port_id"] == nic.port_id for n in nics):
                return
            ns = ensure_netns(spec.id)
            used = {n["device"] for n in nics}
            index = next(i for i in range(len(nics) + 1) if f"eth{i}" not in used)
            device = plug(ns, nic, index, plugger)
            nics.append({"port_id": nic.port_id, "mac_address": nic.mac_address, "device": device})
            state["nics"] = nics
            self._save_state(spec.id, state)

    def detach_interface(self, instance_id: str, port_id: str, plugger: Plugger) -> None:
        with self._lock(instance_id):
            state = self._state(instance_id)
            nics: list[dict[str, str]] = list(state.get("nics", []))
            plugger.unplug(port_id)
            ns = str(state.get("netns") or netns_name(instance_id))
            for nic in nics:
                if nic["port_id"] == port_id:
                    remove_device(ns, nic["device"])
            if state:
                state["nics"] = [n for n in nics if n["port_id"] != port_id]
                self._save_state(instance_id, state)


# -- module helpers ---------------------------------------------------------------------


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


@contextlib.contextmanager
def _frozen(group: cgroups.Cgroup, running: bool) -> Iterator[None]:
    """Freeze the group for the block unless it is not running or already frozen."""
    if not running or group.freezer_state() != "THAWED":
        yield
        return
    try:
        group.freeze()
    except cgroups.CgroupError as exc:
        raise DriverError(f"Cannot freeze the container for its snapshot: {exc}") from exc
    try:
        yield
    finally:
        with contextlib.suppress(cgroups.CgroupError):
            group.thaw()
