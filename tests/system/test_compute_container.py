"""The container compute driver, for real: nubo-tiny as a namespace container.

A plugger like the network agent's makes each port's veth into a test
bridge (guestlab.Lab: dnsmasq for DHCP, a Python HTTP server as the metadata
service) and moves its instance end into the instance's network namespace.
The guest must boot (nubo-init's console markers), lease its address, take
its key from the metadata and answer SSH; its changes must survive a stop
and start; pause, suspend, a restarted driver, reboot, a hot-plugged NIC and
snapshot (booted under QEMU) must work; destroy must leave no process, mount, namespace,
cgroup, link or file. Boot times are printed, never asserted.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nubo.compute.drivers.base import InstanceSpec, Nic, PowerState
from nubo.compute.drivers.container import ContainerComputeDriver
from nubo.compute.drivers.container_launch import netns_name
from nubo.config import ComputeConfig
from nubo.image.guest import (
    BOOT_FINISHED_MARKER,
    DHCP_MARKER,
    METADATA_MARKER,
    SHUTDOWN_MARKER,
    SSH_READY_MARKER,
    STARTING_MARKER,
    USER_DATA_ALREADY_RAN_MARKER,
    USER_DATA_RAN_MARKER,
    extract_rootfs,
)
from nubo.image.guest.metadata import (
    meta_data,
    network_data_dhcp,
    openstack_tree,
    write_config_drive,
    write_tree,
)
from nubo.network.dataplane.netns import link_exists, namespace_exists

from .guestlab import MTU, Lab, run

pytestmark = [pytest.mark.root, pytest.mark.timeout(1200)]

INSTANCE = "c0a1b2c3-d4e5-4f60-8a7b-0c0c00000001"
PORT = "9e8d7c6b-5a49-4382-9170-0c0c0000aaaa"
MAC = "52:54:00:6e:75:31"
IP = "10.77.0.31"
SNAP_INSTANCE = "c0a1b2c3-d4e5-4f60-8a7b-0c0c00000002"
PORT2 = "7b6a5c4d-3e2f-4180-9170-0c0c0000bbbb"
MAC2 = "52:54:00:6e:75:32"


class LabPlugger:
    """The network agent's part for the test: each port a veth into the lab bridge."""

    def __init__(self, lab: Lab, macs: dict[str, str]) -> None:
        self.lab = lab
        self.macs = macs
        self.plugged: dict[str, str] = {}

    @staticmethod
    def outside(port_id: str) -> str:
        return "nubot" + port_id.replace("-", "")[:10]

    def plug(self, port_id: str, kind: str, netns: str | None = None) -> str:
        assert kind == "veth" and netns, (kind, netns)
        outside = self.outside(port_id)
        inside = "nuboi" + port_id.replace("-", "")[:10]
        if link_exists(self.lab.ns, outside):
            self.lab.ip("link", "del", outside)
        self.lab.ip("link", "add", outside, "type", "veth", "peer", "name", inside, "netns", netns)
        address = self.macs[port_id]
        run(["ip", "-n", netns, "link", "set", inside, "address", address, "mtu", str(MTU), "up"])
        self.lab.ip("link", "set", outside, "master", self.lab.bridge, "mtu", str(MTU), "up")
        self.plugged[port_id] = outside
        return inside

    def unplug(self, port_id: str) -> None:
        outside = self.outside(port_id)
        if link_exists(self.lab.ns, outside):
            self.lab.ip("link", "del", outside)
        self.plugged.pop(port_id, None)

    def dataplane_namespace(self) -> str | None:
        return self.lab.ns


class NoNetwork:
    def plug(self, port_id: str, kind: str, netns: str | None = None) -> str:
        raise AssertionError("no ports here")

    def unplug(self, port_id: str) -> None:
        pass

    def dataplane_namespace(self) -> str | None:
        return None


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[ContainerComputeDriver]:
    ok, why = ContainerComputeDriver.available()
    if not ok:
        pytest.skip(f"containers cannot run here: {why}")
    print(f"\ncontainer driver: {why}")
    drv = ContainerComputeDriver(tmp_path / "instances", ComputeConfig())
    try:
        yield drv
    finally:
        for instance_id in drv.list_instances():
            # Plugged veths go with the lab's namespaces.
            drv.destroy(instance_id, NoNetwork())


def spec_for(image: Path, instance_id: str, nics: tuple[Nic, ...] = ()) -> InstanceSpec:
    return InstanceSpec(
        id=instance_id,
        hostname="ct-test",
        vcpus=1,
        memory_mb=192,
        root_gb=1,
        ephemeral_gb=0,
        swap_mb=0,
        image_path=image,
        image_format="qcow2",
        nics=nics,
    )


def wait_console(
    drv: ContainerComputeDriver, instance_id: str, text: str, timeout: float, count: int = 1
) -> float:
    """Seconds until text appears count times in the console log."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if drv.console_log(instance_id).decode(errors="replace").count(text) >= count:
            return time.monotonic() - start
        time.sleep(0.2)
    tail = drv.console_log(instance_id).decode(errors="replace")[-3000:]
    raise AssertionError(f"{text!r} (x{count}) not in the console within {timeout}s:\n{tail}")


def marker_line(text: str, marker: str) -> str:
    lines = [line for line in text.splitlines() if line.startswith(marker)]
    assert lines, f"no line starting {marker!r}"
    return lines[-1]


def marked_processes(instance_id: str) -> list[int]:
    """Every process carrying the driver's mark for instance_id."""
    found = []
    needle = f"NUBO_INSTANCE={instance_id}".encode()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if needle in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                    found.append(int(entry))
    return found


def mounts_anywhere(path: Path) -> list[str]:
    """Mounts mentioning path in any process's mount namespace."""
    hits = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{entry}/mountinfo").read_text().splitlines():
                    if str(path) in line:
                        hits.add(line)
    return sorted(hits)


def init_pid(drv: ContainerComputeDriver, instance_id: str) -> int:
    pid = int((drv.instances / instance_id / "container.pid").read_text())
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return int(children[0])


def test_container_lifecycle(
    driver: ContainerComputeDriver, lab: Lab, tiny_image: Path, ssh_key: Path
) -> None:
    lab.start({MAC: IP})
    meta = meta_data(
        instance_id=INSTANCE,
        name="ct-one",
        public_keys={"test-key": ssh_key.with_suffix(".pub").read_text()},
    )
    user_data = b"#!/bin/sh\necho user-data-marker-driver from $(hostname)\nexit 4\n"
    network = network_data_dhcp({MAC: MTU})
    write_tree(lab.metadata_root, openstack_tree(meta, user_data, network_data=network))
    plugger = LabPlugger(lab, {PORT: MAC, PORT2: MAC2})
    spec = spec_for(tiny_image, INSTANCE, (Nic(PORT, MAC, MTU),))
    directory = driver.instances / INSTANCE

    # -- spawn: boot, DHCP, metadata, SSH ------------------------------------------
    start = time.monotonic()
    driver.spawn(spec, plugger)
    spawned = time.monotonic() - start
    assert driver.power_state(INSTANCE) == PowerState.RUNNING
    finished = wait_console(driver, INSTANCE, BOOT_FINISHED_MARKER, 180)
    banner, _ = lab.ssh_banner(IP, timeout=60)
    to_ssh = time.monotonic() - start
    print(
        f"container spawn {spawned:.2f}s (first use extracts the image), "
        f"boot finished +{finished:.1f}s, SSH banner after {to_ssh:.1f}s"
    )
    text = driver.console_log(INSTANCE).decode(errors="replace")
    assert text.startswith(STARTING_MARKER), text[:200]  # from the first byte
    assert " as container " in marker_line(text, STARTING_MARKER)
    dhcp = marker_line(text, DHCP_MARKER + "eth0")
    assert f"ip={IP}/24" in dhcp and f"mtu={MTU}" in dhcp
    assert lab.lease(MAC) == IP
    metadata = marker_line(text, METADATA_MARKER)
    assert "metadata service" in metadata and f"instance-id={INSTANCE}" in metadata
    assert "keys=1" in metadata
    assert "user-data-marker-driver from ct-one" in text
    assert USER_DATA_RAN_MARKER + "4" in text
    assert SSH_READY_MARKER in text
    assert banner.startswith("SSH-2.0-dropbear"), banner

    out = lab.ssh(
        IP, ssh_key, "root", "hostname; cat /sys/class/net/eth0/mtu; cat /proc/1/comm; id -u"
    ).split("\n")
    assert out[:4] == ["ct-one", str(MTU), "init", "0"], out
    # The guest's PID 1 is the image's init, in its own namespaces.
    assert Path(f"/proc/{init_pid(driver, INSTANCE)}/comm").read_text().strip() == "init"

    # -- limits --------------------------------------------------------------------
    state = json.loads((directory / "container.json").read_text())
    cgroup_dirs = [Path(p) for p in state["cgroup"]["paths"].values()]
    memory_dir = Path(state["cgroup"]["paths"]["memory"])
    limit_file = memory_dir / "memory.limit_in_bytes"
    if not limit_file.exists():
        limit_file = memory_dir / "memory.max"
    assert int(limit_file.read_text()) == 192 << 20
    members = (memory_dir / "cgroup.procs").read_text().split()
    assert str(init_pid(driver, INSTANCE)) in members
    # The guest cannot open a host disk, nor load a module.
    probe = lab.ssh(
        IP,
        ssh_key,
        "root",
        "mknod /tmp/vda b 254 0 && (head -c 1 /tmp/vda >/dev/null 2>&1 && echo disk-open "
        "|| echo disk-denied); grep CapBnd /proc/self/status",
    )
    assert "disk-denied" in probe, probe
    bounding = int(probe.split("CapBnd:")[1].split()[0], 16)
    assert not bounding & (1 << 16)  # CAP_SYS_MODULE

    # -- the overlay keeps changes across stop and start --------------------------------
    written = lab.ssh(
        IP,
        ssh_key,
        "root",
        "echo kept-$(cat /proc/sys/kernel/random/uuid) >/root/kept; cat /root/kept; sync",
    ).strip()
    start = time.monotonic()
    driver.power_off(INSTANCE, timeout=60)
    print(f"clean power off took {time.monotonic() - start:.1f}s")
    assert driver.power_state(INSTANCE) == PowerState.SHUTDOWN
    assert SHUTDOWN_MARKER in driver.console_log(INSTANCE).decode(errors="replace")
    assert marked_processes(INSTANCE) == []
    assert (directory / "upper" / "root" / "kept").read_text().strip() == written

    start = time.monotonic()
    driver.power_on(spec, plugger)
    wait_console(driver, INSTANCE, BOOT_FINISHED_MARKER, 180, count=2)
    lab.ssh_banner(IP, timeout=60)
    print(f"second boot: SSH banner after {time.monotonic() - start:.1f}s")
    assert lab.ssh(IP, ssh_key, "root", "cat /root/kept").strip() == written
    text = driver.console_log(INSTANCE).decode(errors="replace")
    assert USER_DATA_ALREADY_RAN_MARKER in text
    assert text.count("user-data-marker-driver") == 1

    # -- pause and suspend freeze the cgroup ------------------------------------------------
    driver.pause(INSTANCE)
    assert driver.power_state(INSTANCE) == PowerState.PAUSED
    freezer = Path(state["cgroup"]["paths"].get("freezer", state["cgroup"]["paths"].get("unified")))
    if (freezer / "freezer.state").exists():
        assert (freezer / "freezer.state").read_text().strip() == "FROZEN"
    driver.unpause(INSTANCE)
    assert driver.power_state(INSTANCE) == PowerState.RUNNING
    driver.suspend(INSTANCE)
    assert driver.power_state(INSTANCE) == PowerState.SUSPENDED
    driver.resume(spec, plugger)
    assert driver.power_state(INSTANCE) == PowerState.RUNNING
    assert lab.ssh(IP, ssh_key, "root", "echo alive").strip() == "alive"

    # -- a restarted nubo adopts the running container ------------------------------------------
    adopted = ContainerComputeDriver(driver.instances, ComputeConfig())
    assert adopted.list_instances() == {INSTANCE: PowerState.RUNNING}
    before = init_pid(adopted, INSTANCE)
    adopted.spawn(spec, plugger)  # idempotent: already running
    assert init_pid(adopted, INSTANCE) == before

    # -- reboot (hard) starts a new init ---------------------------------------------------
    adopted.reboot(spec, plugger, hard=True)
    assert init_pid(adopted, INSTANCE) != before
    wait_console(adopted, INSTANCE, BOOT_FINISHED_MARKER, 180, count=3)
    lab.ssh_banner(IP, timeout=60)

    # -- a second NIC comes and goes as eth1 -----------------------------------------------
    adopted.attach_interface(spec, Nic(PORT2, MAC2, MTU), plugger)
    links = json.loads(run(["ip", "-j", "-n", netns_name(INSTANCE), "link", "show", "eth1"]))
    assert links[0]["address"] == MAC2
    assert lab.ssh(IP, ssh_key, "root", "cat /sys/class/net/eth1/address").strip() == MAC2
    adopted.detach_interface(INSTANCE, PORT2, plugger)
    assert not link_exists(netns_name(INSTANCE), "eth1")
    assert not link_exists(lab.ns, LabPlugger.outside(PORT2))
    assert lab.ssh(IP, ssh_key, "root", "echo still-here").strip() == "still-here"

    # -- destroy leaves nothing ----------------------------------------------------------------
    adopted.destroy(INSTANCE, plugger)
    assert marked_processes(INSTANCE) == []
    assert mounts_anywhere(directory) == []
    assert not namespace_exists(netns_name(INSTANCE))
    assert not Path("/run/netns", netns_name(INSTANCE)).exists()
    assert [d for d in cgroup_dirs if d.exists()] == []
    assert not directory.exists()
    assert not link_exists(lab.ns, LabPlugger.outside(PORT))
    assert adopted.list_instances() == {}
    assert adopted.power_state(INSTANCE) == PowerState.NOSTATE
    adopted.destroy(INSTANCE, plugger)  # idempotent


def test_container_snapshot_boots_under_qemu(
    driver: ContainerComputeDriver, tiny_image: Path, ssh_key: Path, tmp_path: Path
) -> None:
    spec = spec_for(tiny_image, SNAP_INSTANCE)
    driver.spawn(spec, NoNetwork())
    wait_console(driver, SNAP_INSTANCE, BOOT_FINISHED_MARKER, 180)
    init = init_pid(driver, SNAP_INSTANCE)
    # A change made inside the guest (no network here: enter its namespaces).
    subprocess.run(
        [
            "nsenter",
            "-t",
            str(init),
            "-m",
            "-u",
            "-i",
            "-n",
            "-p",
            "/bin/sh",
            "-c",
            "echo made-in-the-container >/root/snapshot-marker; rm -f /etc/motd; sync",
        ],
        check=True,
    )
    target = tmp_path / "snapshot.qcow2"
    start = time.monotonic()
    assert driver.snapshot(SNAP_INSTANCE, target) == "qcow2"
    print(f"\nsnapshot of a running container: {time.monotonic() - start:.1f}s")
    assert driver.power_state(SNAP_INSTANCE) == PowerState.RUNNING  # thawed again
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "--output=json", str(target)], capture_output=True, check=True
        ).stdout
    )
    assert info["format"] == "qcow2" and "backing-filename" not in info

    # The snapshot as a container image: the change is in its root filesystem.
    rootfs = tmp_path / "snap-rootfs"
    extract_rootfs(target, rootfs)
    assert (rootfs / "root" / "snapshot-marker").read_text() == "made-in-the-container\n"
    assert not (rootfs / "etc" / "motd").exists()
    assert (rootfs / "tmp").stat().st_mode & 0o7777 == 0o1777

    # The snapshot under QEMU: it boots, and user-data from a config drive sees the change.
    meta = meta_data(instance_id="c0a1b2c3-d4e5-4f60-8a7b-0c0c000000ff", name="from-snapshot")
    drive = tmp_path / "config.iso"
    user_data = b"#!/bin/sh\necho snapshot-says $(cat /root/snapshot-marker)\n"
    write_config_drive(drive, openstack_tree(meta, user_data))
    overlay = tmp_path / "vm.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(target), str(overlay)],
        check=True,
    )
    console = tmp_path / "vm-console.log"
    vm = subprocess.Popen(
        [
            "qemu-system-x86_64",
            "-accel",
            "tcg",
            "-m",
            "128",
            "-nographic",
            "-serial",
            f"file:{console}",
            "-monitor",
            "none",
            "-nic",
            "none",
            "-drive",
            f"file={overlay},if=virtio,format=qcow2",
            "-drive",
            f"file={drive},media=cdrom,readonly=on",
            "-device",
            "virtio-rng-pci",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    start = time.monotonic()
    try:
        while time.monotonic() - start < 600:
            text = console.read_text(errors="replace") if console.exists() else ""
            if BOOT_FINISHED_MARKER in text or vm.poll() is not None:
                break
            time.sleep(0.5)
        print(f"snapshot under QEMU TCG: boot finished after {time.monotonic() - start:.1f}s")
        assert BOOT_FINISHED_MARKER in text, text[-3000:]
        assert "snapshot-says made-in-the-container" in text
    finally:
        if vm.poll() is None:
            os.kill(vm.pid, signal.SIGKILL)
            vm.wait(30)

    driver.destroy(SNAP_INSTANCE, NoNetwork())
    assert marked_processes(SNAP_INSTANCE) == []
    assert not (driver.instances / SNAP_INSTANCE).exists()
