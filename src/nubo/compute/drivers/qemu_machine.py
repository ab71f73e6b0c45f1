"""QEMU's side of an instance: where its files are and its command line.

Devices sit at fixed PCI slots (disks 0x04-0x07, NICs from 0x10 in the order
they were plugged, kept in instance.json), so a guest sees the same hardware
after a reboot, a restore of saved memory, or a hot-plug followed by a restart.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nubo.compute.drivers import disks
from nubo.compute.drivers.base import DriverError, InstanceSpec, Nic
from nubo.compute.drivers.kvmprobe import QEMU

# PCI slots on the i440fx machine (0x01 is the PIIX3 bridge, 0x02 the VGA).
SLOT_RESCUE = 0x04
SLOT_ROOT = 0x05
SLOT_EPHEMERAL = 0x06
SLOT_SWAP = 0x07
SLOT_RNG = 0x08
NIC_SLOTS = range(0x10, 0x20)

SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes


@dataclass(frozen=True)
class Files:
    """The paths of one instance's files."""

    dir: Path
    sockets: Path

    @property
    def root(self) -> Path:
        return self.dir / disks.ROOT_DISK

    @property
    def ephemeral(self) -> Path:
        return self.dir / disks.EPHEMERAL_DISK

    @property
    def swap(self) -> Path:
        return self.dir / disks.SWAP_DISK

    @property
    def rescue(self) -> Path:
        return self.dir / disks.RESCUE_DISK

    @property
    def console(self) -> Path:
        return self.dir / "console.log"

    @property
    def pid(self) -> Path:
        return self.dir / "qemu.pid"

    @property
    def log(self) -> Path:
        return self.dir / "qemu.log"

    @property
    def meta(self) -> Path:
        return self.dir / "instance.json"

    @property
    def state(self) -> Path:
        return self.dir / "memory.state"

    @property
    def qmp(self) -> Path:
        return self.sockets / "qmp.sock"

    @property
    def vnc(self) -> Path:
        return self.sockets / "vnc.sock"

    @property
    def serial(self) -> Path:
        return self.sockets / "serial.sock"


def socket_dir(instance_dir: Path) -> Path:
    """Where an instance's unix sockets go: its own directory when the path is short
    enough for a socket address, else a short directory named by its hash."""
    if len(str(instance_dir / "serial.sock")) <= SOCKET_PATH_MAX:
        return instance_dir
    digest = hashlib.sha256(str(instance_dir).encode()).hexdigest()[:20]
    run = Path("/run")
    base = run / "nubo" if os.access(run, os.W_OK) else Path(tempfile.gettempdir())
    return base / f"nubo-sockets-{digest}"


def qemu_version() -> tuple[int, int, int]:
    """The installed QEMU's version, (0, 0, 0) if it cannot say."""
    try:
        out = subprocess.run(
            [QEMU, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except OSError:
        return (0, 0, 0)
    words = out.split()
    if "version" in words and words.index("version") + 1 < len(words):
        parts = words[words.index("version") + 1].split(".")
        try:
            major, minor, micro = (int(p) for p in [*parts, "0", "0"][:3])
        except ValueError:
            return (0, 0, 0)
        return (major, minor, micro)
    return (0, 0, 0)


@functools.lru_cache(maxsize=1)
def _vhost_net_usable() -> bool:
    try:
        os.close(os.open("/dev/vhost-net", os.O_RDWR))
    except OSError:
        return False
    return True


def host_cpu_info() -> dict[str, object]:
    info: dict[str, object] = {"arch": os.uname().machine}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key == "vendor_id":
                info["vendor"] = value
            elif key == "model name":
                info["model"] = value
            elif key == "flags":
                info["features"] = sorted(value.split())
                break
    count = os.cpu_count() or 1
    info["topology"] = {"sockets": 1, "cores": count, "threads": 1}
    return info


def host_memory_mb() -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 0


def _q(value: object) -> str:
    """A value inside a QEMU option list (commas are doubled)."""
    return str(value).replace(",", ",,")


def read_tail(path: Path, limit: int) -> bytes:
    """The newest limit bytes of a file (all of it when limit <= 0); b"" if absent."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            if limit > 0 and size > limit:
                f.seek(size - limit)
            else:
                f.seek(0)
            return f.read()
    except FileNotFoundError:
        return b""


def trim_file(path: Path, limit: int) -> None:
    """Cut a log down to its newest limit bytes, in place (a writer with O_APPEND
    goes on appending at the new end)."""
    if limit <= 0:
        return
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    if size <= limit:
        return
    tail = read_tail(path, limit)
    with path.open("r+b") as f:
        f.seek(0)
        f.write(tail)
        f.truncate(len(tail))


def qemu_command(
    spec: InstanceSpec,
    f: Files,
    nics: list[tuple[Nic, str, int]],
    accel: str,
    incoming: bool = False,
) -> list[str]:
    """QEMU's command line for spec; nics: (nic, tap device, PCI slot)."""
    cmd = [
        QEMU,
        "-name",
        f"guest={spec.id},debug-threads=on",
        "-uuid",
        spec.id,
        "-no-user-config",
        "-nodefaults",
    ]
    if accel == "kvm":
        cmd += ["-machine", "pc,accel=kvm", "-cpu", "host"]
    else:
        cmd += ["-machine", "pc", "-accel", "tcg,thread=multi", "-cpu", "max"]
    smbios = (
        "type=1,manufacturer=OpenStack Foundation,product=OpenStack Nova,"
        f"family=Virtual Machine,serial={spec.id},uuid={spec.id}"
    )
    cmd += [
        "-m",
        str(spec.memory_mb),
        "-smp",
        str(max(1, spec.vcpus)),
        "-smbios",
        smbios,
        "-rtc",
        "base=utc",
        "-boot",
        "strict=on",
        "-qmp",
        f"unix:{_q(f.qmp)},server=on,wait=off",
        "-chardev",
        f"socket,id=serial0,path={_q(f.serial)},server=on,wait=off,"
        f"logfile={_q(f.console)},logappend=on",
        "-serial",
        "chardev:serial0",
        "-vga",
        "std",
        "-vnc",
        f"unix:{_q(f.vnc)}",
        "-device",
        f"virtio-rng-pci,addr={SLOT_RNG:#x}",
        "-device",
        "pvpanic",
        "-action",
        "panic=pause",
        "-usb",
        "-device",
        "usb-tablet",
    ]
    bus = spec.extra.get("hw_disk_bus", "virtio")
    if bus == "scsi":
        cmd += ["-device", "virtio-scsi-pci,id=scsi0,addr=0x3"]
    drives: list[tuple[str, Path, str, int]] = []
    if spec.rescue_image_path is not None:
        drives.append(("rescue", f.rescue, "qcow2", SLOT_RESCUE))
    drives.append(("root", f.root, "qcow2", SLOT_ROOT))
    if spec.ephemeral_gb > 0:
        drives.append(("eph0", f.ephemeral, "qcow2", SLOT_EPHEMERAL))
    if spec.swap_mb > 0:
        drives.append(("swap", f.swap, "raw", SLOT_SWAP))
    # IDE has four places; the config drive CD-ROM takes ide.1 unit 0.
    ide_places = iter(["bus=ide.0,unit=0", "bus=ide.0,unit=1", "bus=ide.1,unit=1"])
    for boot, (name, path, fmt, slot) in enumerate(drives):
        drive = f"file={_q(path)},if=none,id=disk-{name},format={fmt},discard=unmap"
        if bus in ("ide", "sata"):
            place = next(ide_places, None)
            if place is None:
                raise DriverError("IDE has room for three disks and the config drive")
            device = f"ide-hd,drive=disk-{name},{place}"
        elif bus == "scsi":
            device = f"scsi-hd,drive=disk-{name},bus=scsi0.0,scsi-id={boot}"
        else:
            device = f"virtio-blk-pci,drive=disk-{name},addr={slot:#x}"
        if name in ("rescue", "root"):
            device += f",bootindex={boot}"
        cmd += ["-drive", drive, "-device", device]
    if spec.config_drive is not None:
        cmd += [
            "-drive",
            f"file={_q(spec.config_drive)},if=none,id=config-drive,media=cdrom,"
            "readonly=on,format=raw",
            "-device",
            "ide-cd,drive=config-drive,bus=ide.1,unit=0",
        ]
    for nic, device, slot in nics:
        netdev = f"tap,id=net-{nic.port_id},ifname={_q(device)},script=no,downscript=no"
        if use_vhost(accel):
            netdev += ",vhost=on"
        device_args = nic_device(spec, nic, slot)
        cmd += [
            "-netdev",
            netdev,
            "-device",
            ",".join([device_args.pop("driver")] + [f"{k}={v}" for k, v in device_args.items()]),
        ]
    if incoming:
        cmd += ["-incoming", "defer"]
    cmd += [
        "-msg",
        "timestamp=on",
        "-D",
        str(f.log),
        "-pidfile",
        str(f.pid),
        "-daemonize",
    ]
    return cmd


def nic_device(spec: InstanceSpec, nic: Nic, slot: int) -> dict[str, Any]:
    """The NIC's -device / device_add properties."""
    model = {"e1000": "e1000", "rtl8139": "rtl8139"}.get(
        spec.extra.get("hw_vif_model", "virtio"), "virtio-net-pci"
    )
    device: dict[str, Any] = {
        "driver": model,
        "id": f"nic-{nic.port_id}",
        "netdev": f"net-{nic.port_id}",
        "mac": nic.mac_address,
        "addr": f"{slot:#x}",
    }
    if model == "virtio-net-pci":
        device["host_mtu"] = nic.mtu
    return device


def use_vhost(accel: str) -> bool:
    # vhost-net moves packets in the kernel, for KVM guests only; QEMU fails
    # to start when asked for it and the device cannot be opened.
    return accel == "kvm" and _vhost_net_usable()


def slot_for(meta: dict[str, Any], port_id: str) -> int:
    """The PCI slot of the port's NIC: the one it had, else the lowest free one."""
    ports: dict[str, dict[str, Any]] = meta["ports"]
    if port_id in ports and "slot" in ports[port_id]:
        return int(ports[port_id]["slot"])
    used = {int(p["slot"]) for p in ports.values() if "slot" in p}
    for slot in NIC_SLOTS:
        if slot not in used:
            return slot
    raise DriverError(f"An instance has at most {len(NIC_SLOTS)} interfaces")
