"""An instance driver with no guests: state in memory and one small JSON file each.

For API tests and scale runs (a thousand servers on a laptop): every call is
a dictionary update and a file write, no process starts. The state file per
instance (``<instances_dir>/<id>/fake.json``) lets a restarted nubo find its
"running" instances again, like a real host would. Ports are still plugged
and unplugged through the plugger, so the network side sees the same calls
as with a real driver.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nubo.compute.drivers.base import (
    Console,
    DriverError,
    HostResources,
    InstanceSpec,
    Nic,
    Plugger,
    PowerState,
)
from nubo.config import ComputeConfig

STATE_FILE = "fake.json"


@dataclass
class _Instance:
    id: str
    hostname: str
    power: PowerState
    root_gb: int
    image_path: str
    image_format: str
    ports: list[str] = field(default_factory=list)
    boots: int = 0
    rescued: bool = False
    log: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "hostname": self.hostname,
            "power": int(self.power),
            "root_gb": self.root_gb,
            "image_path": self.image_path,
            "image_format": self.image_format,
            "ports": self.ports,
            "boots": self.boots,
            "rescued": self.rescued,
            "log": self.log,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _Instance:
        return cls(
            id=str(data["id"]),
            hostname=str(data.get("hostname", "")),
            power=PowerState(int(data.get("power", PowerState.SHUTDOWN))),
            root_gb=int(data.get("root_gb", 0)),
            image_path=str(data.get("image_path", "")),
            image_format=str(data.get("image_format", "raw")),
            ports=[str(p) for p in data.get("ports", [])],
            boots=int(data.get("boots", 0)),
            rescued=bool(data.get("rescued", False)),
            log=[str(line) for line in data.get("log", [])],
        )


class FakeComputeDriver:
    """Pretends to run instances; see the module docstring."""

    name = "fake"

    def __init__(self, instances_dir: Path, config: ComputeConfig) -> None:
        self.instances_dir = instances_dir
        self.config = config
        self._lock = threading.Lock()
        self._instances: dict[str, _Instance] = {}
        self._load()

    # -- persistence -------------------------------------------------------------

    def _load(self) -> None:
        if not self.instances_dir.is_dir():
            return
        for entry in os.scandir(self.instances_dir):
            state = Path(entry.path) / STATE_FILE
            if entry.name.startswith(("_", ".")) or not state.is_file():
                continue
            try:
                inst = _Instance.from_json(json.loads(state.read_text()))
            except (ValueError, KeyError, OSError):
                continue
            # Power states carry over, as daemonized QEMUs outlive a nubo restart.
            self._instances[inst.id] = inst

    def _save(self, inst: _Instance) -> None:
        directory = self.instances_dir / inst.id
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{STATE_FILE}.tmp"
        tmp.write_text(json.dumps(inst.to_json()))
        os.replace(tmp, directory / STATE_FILE)

    def _get(self, instance_id: str) -> _Instance:
        inst = self._instances.get(instance_id)
        if inst is None:
            raise DriverError(f"Instance {instance_id} is not on this host")
        return inst

    def _set_power(self, inst: _Instance, power: PowerState, line: str) -> None:
        inst.power = power
        self._log(inst, line)
        self._save(inst)

    def _log(self, inst: _Instance, line: str) -> None:
        inst.log.append(f"[{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}] {line}")
        # keep the file small: the newest lines only
        del inst.log[:-50]

    def _boot(self, inst: _Instance) -> None:
        inst.boots += 1
        # a few lines like a guest's boot, so console-log tails have something to cut
        self._log(inst, f"fake boot {inst.boots} of {inst.hostname} ({inst.id})")
        self._log(inst, f"Linux version 6.1.0-fake (nubo fake driver), {inst.root_gb} GiB root")
        if inst.rescued:
            self._log(inst, f"{inst.hostname} booted the rescue image")
        self._log(inst, f"Mounting root filesystem from {Path(inst.image_path).name or 'disk'}")
        self._log(inst, "Starting network: ok")
        self._log(inst, f"{inst.hostname} login:")
        inst.power = PowerState.RUNNING
        self._save(inst)

    # -- protocol ----------------------------------------------------------------

    def host_resources(self) -> HostResources:
        # Large, like Nova's fake driver, so scale runs are not limited by the laptop.
        c = self.config
        return HostResources(
            vcpus=c.vcpus or 1000,
            memory_mb=c.memory_mb or 800_000,
            disk_gb=c.disk_gb or 600_000,
            hypervisor_type="fake",
            hypervisor_version=1000,
            cpu_info={"arch": "x86_64", "model": "fake", "vendor": "nubo"},
        )

    def list_instances(self) -> dict[str, PowerState]:
        with self._lock:
            return {i: inst.power for i, inst in self._instances.items()}

    def power_state(self, instance_id: str) -> PowerState:
        with self._lock:
            inst = self._instances.get(instance_id)
            return inst.power if inst else PowerState.NOSTATE

    def spawn(self, spec: InstanceSpec, plugger: Plugger) -> None:
        with self._lock:
            inst = self._instances.get(spec.id)
            if inst is not None and inst.power == PowerState.RUNNING:
                return
            if inst is None:
                inst = _Instance(
                    id=spec.id,
                    hostname=spec.hostname,
                    power=PowerState.SHUTDOWN,
                    root_gb=spec.root_gb,
                    image_path=str(spec.image_path),
                    image_format=spec.image_format,
                )
                self._instances[spec.id] = inst
            self._plug(inst, spec.nics, plugger)
            inst.rescued = spec.rescue_image_path is not None
            self._boot(inst)

    def power_on(self, spec: InstanceSpec, plugger: Plugger) -> None:
        with self._lock:
            inst = self._get(spec.id)
            if inst.power == PowerState.RUNNING:
                return
            self._plug(inst, spec.nics, plugger)
            inst.rescued = spec.rescue_image_path is not None
            self._boot(inst)

    def power_off(self, instance_id: str, timeout: float = 60) -> None:
        with self._lock:
            inst = self._get(instance_id)
            if inst.power != PowerState.SHUTDOWN:
                self._set_power(inst, PowerState.SHUTDOWN, f"{inst.hostname} powered off")

    def reboot(self, spec: InstanceSpec, plugger: Plugger, hard: bool) -> None:
        with self._lock:
            inst = self._get(spec.id)
            self._log(inst, f"{'hard' if hard else 'soft'} reboot")
            self._plug(inst, spec.nics, plugger)
            inst.rescued = spec.rescue_image_path is not None
            self._boot(inst)

    def pause(self, instance_id: str) -> None:
        with self._lock:
            inst = self._get(instance_id)
            if inst.power == PowerState.PAUSED:
                return
            if inst.power != PowerState.RUNNING:
                raise DriverError("Only a running instance can be paused")
            self._set_power(inst, PowerState.PAUSED, "paused")

    def unpause(self, instance_id: str) -> None:
        with self._lock:
            inst = self._get(instance_id)
            if inst.power == PowerState.RUNNING:
                return
            if inst.power != PowerState.PAUSED:
                raise DriverError("The instance is not paused")
            self._set_power(inst, PowerState.RUNNING, "unpaused")

    def suspend(self, instance_id: str) -> None:
        with self._lock:
            inst = self._get(instance_id)
            if inst.power == PowerState.SUSPENDED:
                return
            if inst.power not in (PowerState.RUNNING, PowerState.PAUSED):
                raise DriverError("Only a running instance can be suspended")
            self._set_power(inst, PowerState.SUSPENDED, "suspended")

    def resume(self, spec: InstanceSpec, plugger: Plugger) -> None:
        with self._lock:
            inst = self._get(spec.id)
            if inst.power == PowerState.RUNNING:
                return
            if inst.power != PowerState.SUSPENDED:
                raise DriverError("The instance is not suspended")
            self._plug(inst, spec.nics, plugger)
            self._set_power(inst, PowerState.RUNNING, "resumed")

    def destroy(self, instance_id: str, plugger: Plugger, keep_disks: bool = False) -> None:
        with self._lock:
            inst = self._instances.get(instance_id)
            if inst is not None:
                for port in list(inst.ports):
                    plugger.unplug(port)
                inst.ports.clear()
            if keep_disks:
                if inst is not None:
                    self._set_power(inst, PowerState.SHUTDOWN, "destroyed, disks kept")
                return
            self._instances.pop(instance_id, None)
            directory = self.instances_dir / instance_id
            with contextlib.suppress(FileNotFoundError):
                (directory / STATE_FILE).unlink()
            shutil.rmtree(directory, ignore_errors=True)

    def snapshot(self, instance_id: str, target: Path) -> str:
        with self._lock:
            inst = self._get(instance_id)
            source = Path(inst.image_path)
            fmt = inst.image_format
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        if source.is_file():
            shutil.copyfile(source, tmp)
        else:
            # The image is gone from the cache: a small raw disk stands in.
            with tmp.open("wb") as f:
                f.write(f"fake disk of {instance_id}\n".encode())
                f.truncate(1024 * 1024)
            fmt = "raw"
        os.replace(tmp, target)
        return fmt

    def resize_disk(self, instance_id: str, root_gb: int) -> None:
        with self._lock:
            inst = self._get(instance_id)
            if root_gb and root_gb < inst.root_gb:
                raise DriverError(
                    f"A disk cannot shrink ({inst.root_gb} GiB now, {root_gb} GiB asked)"
                )
            inst.root_gb = max(root_gb, inst.root_gb)
            self._save(inst)

    def console_log(self, instance_id: str) -> bytes:
        with self._lock:
            inst = self._get(instance_id)
            data = "".join(f"{line}\n" for line in inst.log).encode()
        limit = self.config.console_log_bytes
        return data[-limit:] if limit > 0 else data

    def console(self, instance_id: str, kind: str) -> Console:
        with self._lock:
            self._get(instance_id)
        if kind == "novnc":
            raise DriverError("The fake driver has no graphical console")
        raise DriverError(f"The fake driver has no {kind} console")

    def attach_interface(self, spec: InstanceSpec, nic: Nic, plugger: Plugger) -> None:
        with self._lock:
            inst = self._get(spec.id)
            if nic.port_id in inst.ports:
                return
            self._plug(inst, (nic,), plugger)
            self._log(inst, f"interface {nic.mac_address} attached")
            self._save(inst)

    def detach_interface(self, instance_id: str, port_id: str, plugger: Plugger) -> None:
        with self._lock:
            inst = self._instances.get(instance_id)
            plugger.unplug(port_id)
            if inst is None or port_id not in inst.ports:
                return
            inst.ports.remove(port_id)
            self._log(inst, "interface detached")
            self._save(inst)

    # -- helpers -------------------------------------------------------------------

    def _plug(self, inst: _Instance, nics: tuple[Nic, ...], plugger: Plugger) -> None:
        for nic in nics:
            plugger.plug(nic.port_id, "tap", None)
            if nic.port_id not in inst.ports:
                inst.ports.append(nic.port_id)
