"""The QEMU instance driver, for real: nubo-tiny boots, answers SSH, stops, starts,
snapshots, suspends, hot-plugs a NIC, boots rescued, and leaves nothing behind.

The guest's NICs are taps on a bridge in a lab namespace (guestlab.Lab) that a
test plugger makes, as the network agent's plugger does in nubo-dp; QEMU runs
in that namespace. KVM is used when it really boots guests here, else TCG.
Boot times are printed, never asserted.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nubo.compute.configdrive import build_iso
from nubo.compute.drivers.base import DriverError, InstanceSpec, Nic, PowerState
from nubo.compute.drivers.kvmprobe import kvm_usable
from nubo.compute.drivers.qemu import QemuComputeDriver
from nubo.config import ComputeConfig
from nubo.image.guest import (
    BOOT_FINISHED_MARKER,
    INITRAMFS_PREFIX,
    METADATA_MARKER,
    SHUTDOWN_MARKER,
    SSH_READY_MARKER,
    USER_DATA_ALREADY_RAN_MARKER,
    USER_DATA_RAN_MARKER,
)
from nubo.image.guest.metadata import meta_data, openstack_tree

from .guestlab import MTU, Lab, run

pytestmark = [pytest.mark.root, pytest.mark.timeout(1800)]

BOOT_TIMEOUT = 600
MAC1 = "52:54:00:6e:76:01"
IP1 = "10.77.0.31"
MAC2 = "52:54:00:6e:76:02"
IP2 = "10.77.0.32"
MAC3 = "52:54:00:6e:76:03"
IP3 = "10.77.0.33"
PORT1 = "a1000000-0000-4000-8000-000000000001"
PORT2 = "a2000000-0000-4000-8000-000000000002"
PORT3 = "a3000000-0000-4000-8000-000000000003"


class TapPlugger:
    """Taps on the lab's bridge, in the lab namespace (the test's nubo-dp)."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.plugged: dict[str, str] = {}

    @staticmethod
    def device(port_id: str) -> str:
        return f"nubot{port_id.replace('-', '')[:10]}"

    def plug(self, port_id: str, kind: str, netns: str | None = None) -> str:
        assert kind == "tap"
        dev = self.device(port_id)
        if dev not in self.links():
            self.lab.ip("tuntap", "add", "mode", "tap", "name", dev)
            self.lab.ip("link", "set", dev, "mtu", str(MTU), "master", self.lab.bridge, "up")
        self.plugged[port_id] = dev
        return dev

    def unplug(self, port_id: str) -> None:
        dev = self.device(port_id)
        if dev in self.links():
            self.lab.ip("link", "del", dev)
        self.plugged.pop(port_id, None)

    def dataplane_namespace(self) -> str | None:
        return self.lab.ns

    def links(self) -> set[str]:
        out = self.lab.ip("-o", "link", "show")
        return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[QemuComputeDriver]:
    config = ComputeConfig(console_log_bytes=256 * 1024)
    accel = "kvm" if kvm_usable()[0] else "tcg"
    print(f"\nKVM probe: {kvm_usable()[1]}; using {accel}")
    drv = QemuComputeDriver(tmp_path / "instances", config, accel=accel)
    drv.soft_reboot_timeout = 60
    run_dir = Path("/run/nubo")
    had_run_dir = run_dir.exists()
    yield drv
    # Whatever a failed test left running: end it (only our own QEMUs, by pid file).
    instances = drv.instances_dir
    for entry in instances.iterdir() if instances.is_dir() else []:
        if entry.name.startswith(("_", ".")):
            continue
        f = drv.files(entry.name)
        pid = drv._pid(entry.name, f)
        if pid is not None:
            drv._kill(pid, f, graceful=False)
        if f.sockets != f.dir:
            shutil.rmtree(f.sockets, ignore_errors=True)
    if not had_run_dir:
        with contextlib.suppress(OSError):
            run_dir.rmdir()


def make_spec(
    image: Path,
    instance_id: str,
    name: str,
    nics: tuple[Nic, ...] = (),
    config_drive: Path | None = None,
    **kw: object,
) -> InstanceSpec:
    values: dict[str, object] = {
        "id": instance_id,
        "hostname": name,
        "vcpus": 1,
        "memory_mb": 128,
        "root_gb": 1,
        "ephemeral_gb": 0,
        "swap_mb": 0,
        "image_path": image,
        "image_format": "qcow2",
        "nics": nics,
        "config_drive": config_drive,
    }
    values.update(kw)
    return InstanceSpec(**values)  # type: ignore[arg-type]


def config_drive(tmp_path: Path, instance_id: str, name: str, key: Path) -> Path:
    meta = meta_data(
        instance_id=instance_id,
        name=name,
        public_keys={"test-key": key.with_suffix(".pub").read_text()},
    )
    user_data = b"#!/bin/sh\necho user-data-marker from $(hostname)\n"
    path = tmp_path / f"{name}.iso"
    build_iso(openstack_tree(meta, user_data), path)
    return path


def wait_console(
    drv: QemuComputeDriver, instance_id: str, text: str, count: int = 1, timeout: float = 600
) -> float:
    """Seconds until the console log holds text count times."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if drv.console_log(instance_id).decode(errors="replace").count(text) >= count:
            return time.monotonic() - start
        if drv.power_state(instance_id) in (PowerState.SHUTDOWN, PowerState.CRASHED):
            break
        time.sleep(0.3)
    tail = drv.console_log(instance_id).decode(errors="replace")[-3000:]
    qemu_log = drv.files(instance_id).log
    extra = qemu_log.read_text(errors="replace")[-2000:] if qemu_log.exists() else ""
    raise AssertionError(f"{text!r} x{count} not on the console\n{tail}\n--- qemu.log\n{extra}")


def console_text(drv: QemuComputeDriver, instance_id: str) -> str:
    return drv.console_log(instance_id).decode(errors="replace")


def marker_lines(text: str, marker: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(marker)]


def qemu_pids(instance_id: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"qemu-system" in cmdline and instance_id.encode() in cmdline:
            pids.append(int(entry.name))
    return pids


def test_qemu_instance_lifecycle(
    lab: Lab,
    tiny_image: Path,
    ssh_key: Path,
    tmp_path: Path,
    driver: QemuComputeDriver,
) -> None:
    instance_id = "4e0b1c2d-3f4a-4b5c-8d6e-7f8091a2b301"
    lab.start({MAC1: IP1, MAC2: IP2, MAC3: IP3})
    plugger = TapPlugger(lab)
    drive = config_drive(tmp_path, instance_id, "qemu-vm", ssh_key)
    nic = Nic(PORT1, MAC1, MTU)
    spec = make_spec(tiny_image, instance_id, "qemu-vm", (nic,), drive, ephemeral_gb=1, swap_mb=64)

    start = time.monotonic()
    driver.spawn(spec, plugger)
    driver.spawn(spec, plugger)  # idempotent: the running instance is kept
    assert len(qemu_pids(instance_id)) == 1
    assert driver.power_state(instance_id) == PowerState.RUNNING
    assert driver.list_instances() == {instance_id: PowerState.RUNNING}
    booted = wait_console(driver, instance_id, BOOT_FINISHED_MARKER)
    banner, _ = lab.ssh_banner(IP1, timeout=120)
    print(
        f"{driver.name}: boot finished after {booted:.1f}s, "
        f"SSH banner after {time.monotonic() - start:.1f}s"
    )
    text = console_text(driver, instance_id)
    assert banner.startswith("SSH-2.0-dropbear"), banner
    metadata = marker_lines(text, METADATA_MARKER)
    assert metadata and "source=config drive" in metadata[0], metadata
    assert f"instance-id={instance_id}" in metadata[0] and "keys=1" in metadata[0]
    assert "user-data-marker from qemu-vm" in text
    assert USER_DATA_RAN_MARKER + "0" in text
    assert lab.lease(MAC1) == IP1

    # The injected key logs in; the flavor's disks are there, the state persists.
    out = lab.ssh(
        IP1,
        ssh_key,
        "root",
        "hostname; cat /sys/class/net/eth0/mtu; cat /sys/block/vdb/size /sys/block/vdc/size; "
        "echo kept-across-boots > /root/mark; sync",
    ).split("\n")
    assert out[0] == "qemu-vm" and out[1] == str(MTU), out
    assert out[2] == str(2 * 1024 * 1024) and out[3] == str(64 * 2048), out

    # Consoles: the serial socket speaks the guest's console, VNC greets as RFB.
    serial = driver.console(instance_id, "serial")
    vnc = driver.console(instance_id, "novnc")
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(str(vnc.unix_socket))
        assert s.recv(12).startswith(b"RFB 003.")
    with socket.socket(socket.AF_UNIX) as s:
        # The image runs no getty: what the guest writes to ttyS0 comes through.
        s.settimeout(10)
        s.connect(str(serial.unix_socket))
        lab.ssh(IP1, ssh_key, "root", "echo serial-console-marker > /dev/ttyS0")
        seen = b""
        deadline = time.monotonic() + 30
        while b"serial-console-marker" not in seen and time.monotonic() < deadline:
            seen += s.recv(4096)
        assert b"serial-console-marker" in seen, seen
    assert "serial-console-marker" in console_text(driver, instance_id)
    with pytest.raises(DriverError):
        driver.console(instance_id, "spice-html5")

    # Pause, unpause, suspend to a file and resume: the guest goes on where it was.
    driver.pause(instance_id)
    assert driver.power_state(instance_id) == PowerState.PAUSED
    driver.unpause(instance_id)
    assert driver.power_state(instance_id) == PowerState.RUNNING
    t = time.monotonic()
    driver.suspend(instance_id)
    suspended = time.monotonic() - t
    assert driver.power_state(instance_id) == PowerState.SUSPENDED
    assert qemu_pids(instance_id) == []
    t = time.monotonic()
    driver.resume(spec, plugger)
    print(f"suspend {suspended:.1f}s, resume {time.monotonic() - t:.1f}s")
    assert driver.power_state(instance_id) == PowerState.RUNNING
    assert lab.ssh(IP1, ssh_key, "root", "cat /root/mark").strip() == "kept-across-boots"

    # Hot-plug a second NIC and take it away again.
    nic2 = Nic(PORT2, MAC2, MTU)
    driver.attach_interface(spec, nic2, plugger)
    deadline = time.monotonic() + 60
    addresses = ""
    while MAC2 not in addresses and time.monotonic() < deadline:
        addresses = lab.ssh(IP1, ssh_key, "root", "cat /sys/class/net/*/address")
        time.sleep(1)
    assert MAC2 in addresses, addresses
    driver.detach_interface(instance_id, PORT2, plugger)
    assert MAC2 not in lab.ssh(IP1, ssh_key, "root", "cat /sys/class/net/*/address")
    assert TapPlugger.device(PORT2) not in plugger.links()

    # A clean stop on the ACPI power button; the same disk boots again.
    t = time.monotonic()
    driver.power_off(instance_id, timeout=120)
    print(f"power_off {time.monotonic() - t:.1f}s")
    assert driver.power_state(instance_id) == PowerState.SHUTDOWN
    assert qemu_pids(instance_id) == []
    assert SHUTDOWN_MARKER in console_text(driver, instance_id)
    driver.power_off(instance_id)  # idempotent
    driver.power_on(spec, plugger)
    assert driver.power_state(instance_id) == PowerState.RUNNING
    wait_console(driver, instance_id, BOOT_FINISHED_MARKER, count=2)
    text = console_text(driver, instance_id)
    assert USER_DATA_ALREADY_RAN_MARKER in text
    # The console log runs from the first boot on.
    assert text.count(SSH_READY_MARKER) == 2 and "user-data-marker from qemu-vm" in text
    lab.ssh_banner(IP1, timeout=120)
    assert lab.ssh(IP1, ssh_key, "root", "cat /root/mark").strip() == "kept-across-boots"

    # Reboots: soft (power button, then a new QEMU) and hard (reset).
    driver.reboot(spec, plugger, hard=False)
    wait_console(driver, instance_id, BOOT_FINISHED_MARKER, count=3)
    driver.reboot(spec, plugger, hard=True)
    wait_console(driver, instance_id, BOOT_FINISHED_MARKER, count=4)
    assert driver.power_state(instance_id) == PowerState.RUNNING

    # Snapshot while running: a flat qcow2 that boots as an instance of its own.
    snapshot = tmp_path / "snapshot.qcow2"
    assert driver.snapshot(instance_id, snapshot) == "qcow2"
    assert driver.power_state(instance_id) == PowerState.RUNNING
    info = run(["qemu-img", "info", "--output=json", str(snapshot)])
    assert '"backing-filename"' not in info and '"format": "qcow2"' in info

    copy_id = "4e0b1c2d-3f4a-4b5c-8d6e-7f8091a2b302"
    copy = make_spec(snapshot, copy_id, "qemu-copy", (Nic(PORT3, MAC3, MTU),))
    driver.spawn(copy, plugger)
    wait_console(driver, copy_id, BOOT_FINISHED_MARKER)
    lab.ssh_banner(IP3, timeout=120)
    assert lab.ssh(IP3, ssh_key, "root", "cat /root/mark").strip() == "kept-across-boots"
    driver.destroy(copy_id, plugger)

    # Destroy: no process, no tap, no files.
    instance_dir = driver.files(instance_id).dir
    driver.destroy(instance_id, plugger)
    driver.destroy(instance_id, plugger)  # idempotent
    assert qemu_pids(instance_id) == [] and qemu_pids(copy_id) == []
    assert not instance_dir.exists()
    assert not any(link.startswith("nubot") for link in plugger.links())
    assert driver.list_instances() == {}
    assert driver.power_state(instance_id) == PowerState.NOSTATE


def test_qemu_rescue_and_resize(
    lab: Lab,
    tiny_image: Path,
    ssh_key: Path,
    tmp_path: Path,
    driver: QemuComputeDriver,
) -> None:
    instance_id = "4e0b1c2d-3f4a-4b5c-8d6e-7f8091a2b303"
    lab.start({MAC1: IP1})
    plugger = TapPlugger(lab)
    drive = config_drive(tmp_path, instance_id, "rescue-vm", ssh_key)
    spec = make_spec(
        tiny_image, instance_id, "rescue-vm", (Nic(PORT1, MAC1, MTU),), drive, root_gb=2
    )
    driver.spawn(spec, plugger)
    wait_console(driver, instance_id, BOOT_FINISHED_MARKER)
    lab.ssh_banner(IP1, timeout=120)
    lab.ssh(IP1, ssh_key, "root", "echo on-the-root-disk > /root/mark; sync")

    # Rescue: the rescue image boots from the first disk, the root disk is the second.
    rescue = make_spec(
        tiny_image,
        instance_id,
        "rescue-vm",
        (Nic(PORT1, MAC1, MTU),),
        drive,
        root_gb=2,
        rescue_image_path=tiny_image,
    )
    driver.power_off(instance_id, timeout=120)
    driver.power_on(rescue, plugger)
    wait_console(driver, instance_id, BOOT_FINISHED_MARKER, count=2)
    lab.ssh_banner(IP1, timeout=120)
    # vda is the rescue disk (the image's size), vdb the instance's root disk (root_gb).
    # Both carry the root label; the guest mounts the rescue disk's and can reach the
    # instance's files on vdb.
    sizes = lab.ssh(IP1, ssh_key, "root", "cat /sys/block/vda/size /sys/block/vdb/size").split()
    image_size = json.loads(run(["qemu-img", "info", "--output=json", str(tiny_image)]))[
        "virtual-size"
    ]
    assert sizes == [str(image_size // 512), str(2 * 1024**3 // 512)], sizes
    assert (
        "root LABEL=nubo-root is /dev/vda2"
        in marker_lines(console_text(driver, instance_id), INITRAMFS_PREFIX)[-1]
    )
    assert lab.ssh(IP1, ssh_key, "root", "test -e /root/mark || echo absent").strip() == "absent"
    found = lab.ssh(
        IP1, ssh_key, "root", "mkdir -p /mnt/r && mount /dev/vdb2 /mnt/r && cat /mnt/r/root/mark"
    )
    assert found.strip() == "on-the-root-disk"
    lab.ssh(IP1, ssh_key, "root", "umount /mnt/r")
    assert driver.files(instance_id).rescue.exists()

    # Unrescue (a new QEMU without the rescue disk), then grow the root disk while off.
    driver.reboot(spec, plugger, hard=True)
    wait_console(driver, instance_id, BOOT_FINISHED_MARKER, count=3)
    assert not driver.files(instance_id).rescue.exists()
    lab.ssh_banner(IP1, timeout=120)
    assert lab.ssh(IP1, ssh_key, "root", "cat /root/mark").strip() == "on-the-root-disk"
    driver.resize_disk(instance_id, 3)  # online: QMP block_resize
    size = lab.ssh(IP1, ssh_key, "root", "cat /sys/block/vda/size").strip()
    assert size == str(3 * 1024**3 // 512), size
    with pytest.raises(DriverError, match="shrink"):
        driver.resize_disk(instance_id, 1)
    driver.power_off(instance_id, timeout=120)
    driver.resize_disk(instance_id, 4)  # offline: qemu-img resize
    out = subprocess.run(
        ["qemu-img", "info", "--output=json", str(driver.files(instance_id).root)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out)["virtual-size"] == 4 * 1024**3
    driver.destroy(instance_id, plugger)
    assert qemu_pids(instance_id) == []
    assert not any(link.startswith("nubot") for link in plugger.links())
