"""Control groups for namespace containers: limits, freezing, killing.

One group per instance, ``nubo/<instance id>``, made below the cgroup the
nubo process itself runs in (the delegation convention: a manager only
creates groups under its own), so a nubo started by a service manager or a
sandbox keeps its containers inside its own accounting. Where the group is
lives in the instance's directory (``Cgroup.to_json``), so a restarted nubo
finds the groups of the containers it adopts even if it now runs elsewhere.

cgroup v1 (one hierarchy per controller): ``cpu`` (CFS quota = vCPUs x
period), ``memory`` (limit, and memory+swap when the kernel accounts swap),
``pids``, ``freezer`` (pause, suspend) and ``devices`` (the few character
devices a guest needs; block devices only by explicit allowance). cgroup v2
(one unified hierarchy) is used when it has the cpu, memory and pids
controllers; as its controllers cannot be enabled below a group that holds
processes, v2 groups live at ``/nubo/<instance id>`` from the root, and
there is no device filter (that needs eBPF).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# The controllers a container needs, and those used when present.
REQUIRED_V1 = ("cpu", "memory", "pids", "freezer")
OPTIONAL_V1 = ("devices",)
REQUIRED_V2 = ("cpu", "memory", "pids")
UNIFIED = "unified"  # the key of the v2 hierarchy in paths

GROUP_PARENT = "nubo"
CFS_PERIOD_US = 100_000
DEFAULT_PIDS_MAX = 4096

# What a guest may open (v1 devices controller): the usual character devices,
# pseudo-terminals, tun and fuse. Every device may be created (mknod) but not
# opened unless listed, as container runtimes do.
DEVICE_RULES = (
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",  # null
    "c 1:5 rwm",  # zero
    "c 1:7 rwm",  # full
    "c 1:8 rwm",  # random
    "c 1:9 rwm",  # urandom
    "c 5:0 rwm",  # tty
    "c 5:1 rwm",  # console
    "c 5:2 rwm",  # ptmx
    "c 136:* rwm",  # pts
    "c 10:200 rwm",  # net/tun
    "c 10:229 rwm",  # fuse
)


class CgroupError(Exception):
    """A control group could not be made, changed or removed."""


@dataclass(frozen=True)
class Limits:
    """What one instance may use."""

    vcpus: int
    memory_mb: int
    pids_max: int = DEFAULT_PIDS_MAX
    cfs_period_us: int = CFS_PERIOD_US

    @property
    def cfs_quota_us(self) -> int:
        return max(1, self.vcpus) * self.cfs_period_us

    @property
    def memory_bytes(self) -> int:
        return self.memory_mb << 20


def parse_mounts(text: str) -> tuple[dict[str, Path], Path | None]:
    """From /proc/self/mounts: v1 controller -> mount point, and the v2 mount point.

    A v1 hierarchy may carry several controllers (``cpu,cpuacct``); each of
    them maps to the same mount point. Named hierarchies (``name=systemd``)
    are not controllers and are left out.
    """
    v1: dict[str, Path] = {}
    v2: Path | None = None
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        mountpoint = Path(fields[1].replace("\\040", " "))
        if fields[2] == "cgroup2":
            v2 = v2 or mountpoint
        elif fields[2] == "cgroup":
            for option in fields[3].split(","):
                if option in REQUIRED_V1 + OPTIONAL_V1 + ("cpuacct", "cpuset", "blkio"):
                    v1.setdefault(option, mountpoint)
    return v1, v2


def parse_self_cgroup(text: str) -> tuple[dict[str, str], str | None]:
    """From /proc/self/cgroup: v1 controller -> group path, and the v2 group path."""
    v1: dict[str, str] = {}
    v2: str | None = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            v2 = path
            continue
        for controller in controllers.split(","):
            if not controller.startswith("name="):
                v1[controller] = path
    return v1, v2


def _join(mount: Path, *parts: str) -> Path:
    path = mount
    for part in parts:
        path = path / part.strip("/") if part.strip("/") else path
    return path


@dataclass(frozen=True)
class Hierarchy:
    """The host's cgroup layout, as nubo sees it from its own process."""

    version: int  # 1, 2, or 0 when neither is usable
    mounts: Mapping[str, Path]  # v1: controller -> mount point; v2: {UNIFIED: mount}
    own: Mapping[str, str]  # the group nubo runs in, per controller (v1) or UNIFIED
    missing: tuple[str, ...] = ()

    def group(self, instance_id: str) -> Cgroup:
        """Where the group of instance_id goes (nothing is created)."""
        if self.version == 2:
            mount = self.mounts[UNIFIED]
            return Cgroup(2, {UNIFIED: _join(mount, GROUP_PARENT, instance_id)})
        if self.version != 1:
            raise CgroupError(f"no usable cgroup hierarchy: {', '.join(self.missing)} missing")
        paths = {
            controller: _join(
                self.mounts[controller], self.own.get(controller, "/"), GROUP_PARENT, instance_id
            )
            for controller in REQUIRED_V1 + OPTIONAL_V1
            if controller in self.mounts
        }
        return Cgroup(1, paths)

    def describe(self) -> str:
        if self.version == 2:
            return "cgroup v2 (cpu, memory, pids, freeze)"
        if self.version == 1:
            present = [c for c in REQUIRED_V1 + OPTIONAL_V1 if c in self.mounts]
            return f"cgroup v1 ({', '.join(present)})"
        return f"no usable cgroups ({', '.join(self.missing)} missing)"


def layout(mounts_text: str, self_cgroup_text: str, v2_controllers: str | None = None) -> Hierarchy:
    """The hierarchy from the text of /proc/self/mounts, /proc/self/cgroup and the
    v2 root's cgroup.controllers (None if unreadable).

    v2 wins when its root offers cpu, memory and pids (a unified host, or a
    hybrid one whose v2 hierarchy has them); else v1 when all its required
    controllers are mounted.
    """
    v1_mounts, v2_mount = parse_mounts(mounts_text)
    v1_own, v2_own = parse_self_cgroup(self_cgroup_text)
    v2_available = set((v2_controllers or "").split())
    if v2_mount is not None and all(c in v2_available for c in REQUIRED_V2):
        return Hierarchy(2, {UNIFIED: v2_mount}, {UNIFIED: v2_own or "/"})
    missing = tuple(c for c in REQUIRED_V1 if c not in v1_mounts)
    if not missing:
        return Hierarchy(1, v1_mounts, v1_own)
    return Hierarchy(0, v1_mounts, v1_own, missing)


def detect() -> Hierarchy:
    """The running host's hierarchy."""
    mounts = Path("/proc/self/mounts").read_text()
    own = Path("/proc/self/cgroup").read_text()
    _, v2_mount = parse_mounts(mounts)
    controllers = None
    if v2_mount is not None:
        with contextlib.suppress(OSError):
            controllers = (v2_mount / "cgroup.controllers").read_text()
    return layout(mounts, own, controllers)


def _write(path: Path, value: str) -> None:
    try:
        with path.open("w") as f:
            f.write(value)
    except OSError as exc:
        raise CgroupError(f"cannot write {value!r} to {path}: {exc.strerror}") from exc


@dataclass(frozen=True)
class Cgroup:
    """One instance's group: a directory per v1 controller, or one v2 directory."""

    version: int
    paths: Mapping[str, Path] = field(default_factory=dict)

    # -- persistence -----------------------------------------------------------

    def to_json(self) -> dict[str, object]:
        return {"version": self.version, "paths": {k: str(v) for k, v in self.paths.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Cgroup:
        raw = data.get("paths")
        paths = {str(k): Path(str(v)) for k, v in raw.items()} if isinstance(raw, dict) else {}
        return cls(int(str(data.get("version", 1))), paths)

    # -- files -----------------------------------------------------------------

    def file(self, controller: str, name: str) -> Path:
        """The control file name of controller (v2: every file is in one directory)."""
        if self.version == 2:
            return self.paths[UNIFIED] / name
        return self.paths[controller] / name

    def procs_files(self) -> list[Path]:
        """The cgroup.procs files a process writes its pid into to join the group."""
        return [path / "cgroup.procs" for path in self.paths.values()]

    def exists(self) -> bool:
        return any(path.is_dir() for path in self.paths.values())

    # -- life cycle ----------------------------------------------------------------

    def create(self, limits: Limits) -> None:
        """Make the group (idempotent) and set its limits."""
        if self.version == 2:
            self._create_v2(limits)
            return
        for path in self.paths.values():
            path.mkdir(parents=True, exist_ok=True)
        _write(self.file("cpu", "cpu.cfs_period_us"), str(limits.cfs_period_us))
        _write(self.file("cpu", "cpu.cfs_quota_us"), str(limits.cfs_quota_us))
        _write(self.file("memory", "memory.limit_in_bytes"), str(limits.memory_bytes))
        memsw = self.file("memory", "memory.memsw.limit_in_bytes")
        if memsw.exists():
            # No swap beyond the memory limit (the kernel accounts swap only
            # with swapaccount=1; without the file there is nothing to set).
            with contextlib.suppress(CgroupError):
                _write(memsw, str(limits.memory_bytes))
        _write(self.file("pids", "pids.max"), str(limits.pids_max))
        if "devices" in self.paths and not self._has_processes():
            # The device list of a group with processes can only shrink; set it
            # while the group is empty.
            _write(self.file("devices", "devices.deny"), "a")
            for rule in DEVICE_RULES:
                _write(self.file("devices", "devices.allow"), rule)

    def _create_v2(self, limits: Limits) -> None:
        group = self.paths[UNIFIED]
        parent = group.parent
        root = parent.parent
        enable = " ".join(f"+{c}" for c in REQUIRED_V2)
        parent.mkdir(exist_ok=True)
        for directory in (root, parent):
            _write(directory / "cgroup.subtree_control", enable)
        group.mkdir(exist_ok=True)
        _write(group / "cpu.max", f"{limits.cfs_quota_us} {limits.cfs_period_us}")
        _write(group / "memory.max", str(limits.memory_bytes))
        swap = group / "memory.swap.max"
        if swap.exists():
            _write(swap, "0")
        _write(group / "pids.max", str(limits.pids_max))

    def memory_limit(self) -> int:
        name = "memory.max" if self.version == 2 else "memory.limit_in_bytes"
        return int(self.file("memory", name).read_text().split()[0])

    def cpu_quota(self) -> tuple[int, int]:
        """(quota, period) in microseconds; quota -1 means none."""
        if self.version == 2:
            quota, period = self.file("cpu", "cpu.max").read_text().split()
            return (-1 if quota == "max" else int(quota)), int(period)
        quota_us = int(self.file("cpu", "cpu.cfs_quota_us").read_text())
        return quota_us, int(self.file("cpu", "cpu.cfs_period_us").read_text())

    def pids(self) -> list[int]:
        """Every process in the group (in any of its v1 directories)."""
        found: set[int] = set()
        for path in self.procs_files():
            with contextlib.suppress(FileNotFoundError):
                found.update(int(p) for p in path.read_text().split())
        return sorted(found)

    def _has_processes(self) -> bool:
        return bool(self.pids())

    # -- freezer -------------------------------------------------------------------

    def freeze(self, timeout: float = 10) -> None:
        """Stop every process of the group; returns once they are all stopped."""
        if self.version == 2:
            _write(self.file("freezer", "cgroup.freeze"), "1")
        else:
            _write(self.file("freezer", "freezer.state"), "FROZEN")
        deadline = time.monotonic() + timeout
        while self.freezer_state() != "FROZEN":
            if time.monotonic() > deadline:
                raise CgroupError("the container's processes did not all stop in time")
            time.sleep(0.05)

    def thaw(self) -> None:
        if self.version == 2:
            _write(self.file("freezer", "cgroup.freeze"), "0")
        else:
            _write(self.file("freezer", "freezer.state"), "THAWED")

    def freezer_state(self) -> str:
        """THAWED, FREEZING or FROZEN (v2 says only frozen or not)."""
        try:
            if self.version == 2:
                events = self.file("freezer", "cgroup.events").read_text()
                frozen = any(line.strip() == "frozen 1" for line in events.splitlines())
                wanted = self.file("freezer", "cgroup.freeze").read_text().strip() == "1"
                return "FROZEN" if frozen else ("FREEZING" if wanted else "THAWED")
            return self.file("freezer", "freezer.state").read_text().strip()
        except (FileNotFoundError, KeyError):
            return "THAWED"

    # -- teardown ------------------------------------------------------------------

    def kill_all(self, timeout: float = 10) -> None:
        """SIGKILL every process in the group (frozen ones too) until none is left."""
        deadline = time.monotonic() + timeout
        while pids := self.pids():
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            # A frozen task dies only once thawed.
            if self.freezer_state() != "THAWED":
                with contextlib.suppress(CgroupError):
                    self.thaw()
            if time.monotonic() > deadline:
                raise CgroupError(f"processes {pids} of the container did not end")
            time.sleep(0.05)

    def remove(self, timeout: float = 10) -> None:
        """Kill what is left, remove the group's directories, and their common
        ``nubo`` parents when those are empty."""
        self.kill_all(timeout)
        for path in self.paths.values():
            deadline = time.monotonic() + timeout
            while path.is_dir():
                try:
                    path.rmdir()
                except FileNotFoundError:
                    break
                except OSError as exc:
                    # EBUSY while the last exiting tasks leave the group.
                    if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                        raise CgroupError(f"cannot remove {path}: {exc.strerror}") from exc
                    time.sleep(0.05)
            if path.parent.name == GROUP_PARENT:
                with contextlib.suppress(OSError):
                    path.parent.rmdir()
