"""nubo's guest images, booted for real.

nubo-tiny under QEMU (TCG) on a tap, as a namespace container on a veth,
and from a config drive; nubo-debian under QEMU (systemd + cloud-init) and
as a container. Everything runs in namespaces the test creates, with dnsmasq
for DHCP and a Python HTTP server as the metadata service: the guest must
take its lease (MTU and classless routes included), read its metadata, run
its user-data once per instance and answer SSH with the injected key. Boot
times are printed, never asserted.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from nubo.image.guest import (
    BOOT_FINISHED_MARKER,
    CONTAINER_ENV,
    CONTAINER_INIT,
    DHCP_MARKER,
    METADATA_MARKER,
    SHUTDOWN_MARKER,
    SSH_READY_MARKER,
    USER_DATA_ALREADY_RAN_MARKER,
    USER_DATA_RAN_MARKER,
    build_tiny,
    extract_rootfs,
    read_manifest,
)
from nubo.image.guest.metadata import (
    meta_data,
    network_data_dhcp,
    openstack_tree,
    write_config_drive,
    write_tree,
)

from .guestlab import GATEWAY, METADATA_IP, MTU, Lab, child_pids, qmp, wait_for

pytestmark = [pytest.mark.root, pytest.mark.timeout(1800)]

VM_MAC = "52:54:00:6e:75:01"
VM_IP = "10.77.0.11"
CONTAINER_MAC = "52:54:00:6e:75:02"
CONTAINER_IP = "10.77.0.12"
BOOT_TIMEOUT = 600


def marker_line(console: Path, marker: str) -> str:
    for line in console.read_text(errors="replace").splitlines():
        if line.startswith(marker):
            return line
    raise AssertionError(f"no line starting {marker!r} in {console}")


def serve_instance(
    lab: Lab, instance_id: str, name: str, key: Path, user_data: bytes, mac: str = ""
) -> None:
    meta = meta_data(
        instance_id=instance_id,
        name=name,
        public_keys={"test-key": key.with_suffix(".pub").read_text()},
    )
    network = network_data_dhcp({mac: MTU}) if mac else None
    write_tree(lab.metadata_root, openstack_tree(meta, user_data, network_data=network))


def script(marker: str, code: int) -> bytes:
    return f"#!/bin/sh\necho {marker} from $(hostname) as $(id -u)\nexit {code}\n".encode()


def start_qemu(
    image: Path,
    workdir: Path,
    console: Path,
    *,
    lab: Lab | None = None,
    tap: str = "",
    mac: str = "",
    cdrom: Path | None = None,
    memory: int = 128,
    extra: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    """Boot image (through a qcow2 overlay in workdir, kept across boots) under TCG."""
    overlay = workdir / "disk.qcow2"
    if not overlay.exists():
        create = ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image)]
        subprocess.run([*create, str(overlay)], check=True)
    cmd = [
        "qemu-system-x86_64",
        "-accel",
        "tcg",
        "-m",
        str(memory),
        "-nographic",
        "-serial",
        f"file:{console}",
        "-monitor",
        "none",
        "-qmp",
        f"unix:{workdir / 'qmp.sock'},server=on,wait=off",
        "-drive",
        f"file={overlay},if=virtio,format=qcow2",
        # Entropy for the host keys the guest makes at its first boot.
        "-device",
        "virtio-rng-pci",
    ]
    if tap:
        cmd += [
            "-netdev",
            f"tap,id=net0,ifname={tap},script=no,downscript=no",
            "-device",
            f"virtio-net-pci,netdev=net0,mac={mac}",
        ]
    else:
        cmd += ["-nic", "none"]
    if cdrom is not None:
        cmd += ["-drive", f"file={cdrom},media=cdrom,readonly=on"]
    cmd += extra
    if lab is not None:
        return lab.spawn(lab.in_ns(lab.ns, cmd), workdir / "qemu.log")
    log = (workdir / "qemu.log").open("ab")
    with log:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)


@contextlib.contextmanager
def stopped_at_end(proc: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """Kill the process (by pid) when the block ends, if it still runs."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)


def test_tiny_image_is_small_and_cached(tiny_image: Path, guest_cache: Path) -> None:
    size = tiny_image.stat().st_size
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "--output=json", str(tiny_image)],
            capture_output=True,
            check=True,
        ).stdout
    )
    manifest = read_manifest(tiny_image)
    print(
        f"\nnubo-tiny: {size / 1e6:.1f} MB qcow2, virtual {info['virtual-size'] >> 20} MiB, "
        f"built in {manifest['build_seconds']}s, kernel {manifest['kernel']}"
    )
    assert info["format"] == "qcow2"
    assert size < 64 * 1024 * 1024
    assert manifest["disk_format"] == "qcow2" and manifest["container_format"] == "bare"
    mtime = tiny_image.stat().st_mtime_ns
    start = time.monotonic()
    again = build_tiny(guest_cache, print)
    print(f"nubo-tiny cached build call: {time.monotonic() - start:.3f}s")
    assert again == tiny_image
    assert tiny_image.stat().st_mtime_ns == mtime


def test_tiny_boots_under_qemu(lab: Lab, tiny_image: Path, ssh_key: Path, tmp_path: Path) -> None:
    instance_id = "9a7f3c52-0d5e-4c1b-8a43-0e1a00000001"
    lab.start({VM_MAC: VM_IP})
    serve_instance(lab, instance_id, "tiny-vm", ssh_key, script("user-data-marker-qemu", 0))
    tap = lab.add_tap()
    console = tmp_path / "console.log"

    start = time.monotonic()
    with stopped_at_end(
        start_qemu(tiny_image, tmp_path, console, lab=lab, tap=tap, mac=VM_MAC)
    ) as vm:
        finished = wait_for(console, BOOT_FINISHED_MARKER, BOOT_TIMEOUT, vm)
        banner, _ = lab.ssh_banner(VM_IP, timeout=120)
        to_banner = time.monotonic() - start
        print(
            f"\nnubo-tiny under QEMU TCG: boot finished after {finished:.1f}s, "
            f"SSH banner after {to_banner:.1f}s ({marker_line(console, BOOT_FINISHED_MARKER)})"
        )
        text = console.read_text(errors="replace")

        assert lab.lease(VM_MAC) == VM_IP
        dhcp = marker_line(console, DHCP_MARKER + "eth0")
        assert f"ip={VM_IP}/24" in dhcp and f"mtu={MTU}" in dhcp
        assert f"{METADATA_IP}/32 via {GATEWAY}" in dhcp

        requests = lab.metadata_requests()
        assert any("/openstack/latest/meta_data.json" in r for r in requests), requests
        assert any("/openstack/latest/user_data" in r for r in requests), requests
        metadata = marker_line(console, METADATA_MARKER)
        assert "metadata service" in metadata and f"instance-id={instance_id}" in metadata

        assert "user-data-marker-qemu from tiny-vm as 0" in text
        assert USER_DATA_RAN_MARKER + "0" in text
        assert banner.startswith("SSH-2.0-dropbear"), banner

        out = lab.ssh(
            VM_IP, ssh_key, "root", "hostname; cat /sys/class/net/eth0/mtu; ip route; id -u"
        ).split("\n")
        assert out[0] == "tiny-vm" and out[1] == str(MTU), out
        assert any(line.startswith(f"{METADATA_IP} via {GATEWAY}") for line in out), out
        assert "0" in out
        fingerprint = lab.host_key_fingerprint(VM_IP)
        ssh_ready = marker_line(console, SSH_READY_MARKER)
        assert fingerprint in ssh_ready, (fingerprint, ssh_ready)

        # A clean shutdown on the ACPI power button (as a cloud's soft stop).
        qmp(tmp_path / "qmp.sock", "system_powerdown")
        vm.wait(180)
        assert SHUTDOWN_MARKER in console.read_text(errors="replace")

    # The same disk boots again: state persists, user-data does not rerun.
    console2 = tmp_path / "console2.log"
    start = time.monotonic()
    with stopped_at_end(
        start_qemu(tiny_image, tmp_path, console2, lab=lab, tap=tap, mac=VM_MAC)
    ) as vm:
        wait_for(console2, BOOT_FINISHED_MARKER, BOOT_TIMEOUT, vm)
        print(f"second boot finished after {time.monotonic() - start:.1f}s")
        text2 = console2.read_text(errors="replace")
        assert USER_DATA_ALREADY_RAN_MARKER in text2
        assert "user-data-marker-qemu" not in text2
        assert "new instance" not in text2
        assert fingerprint in marker_line(console2, SSH_READY_MARKER)


def start_container(lab: Lab, ns: str, rootfs: Path, console: Path) -> subprocess.Popen[bytes]:
    """Run the image's init as PID 1 in new pid/mount/uts/ipc namespaces, in ns."""
    cmd = [
        "unshare",
        "--pid",
        "--fork",
        "--mount",
        "--uts",
        "--ipc",
        "--kill-child",
        f"--root={rootfs}",
        CONTAINER_INIT,
    ]
    return lab.spawn(lab.in_ns(ns, cmd), console, env=CONTAINER_ENV)


def stop_container(proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Power the container off as a driver would: SIGUSR2 to its init (busybox poweroff)."""
    for init in child_pids(proc.pid):
        os.kill(init, signal.SIGUSR2)
    proc.wait(timeout)


def test_tiny_boots_as_container(lab: Lab, tiny_image: Path, ssh_key: Path, tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    start = time.monotonic()
    extract_rootfs(tiny_image, rootfs)
    print(f"\nextract_rootfs: {time.monotonic() - start:.1f}s")
    assert (rootfs / "sbin" / "init").is_symlink()
    assert (rootfs / "root").stat().st_mode & 0o7777 == 0o700
    assert (rootfs / "tmp").stat().st_mode & 0o7777 == 0o1777

    instance_id = "5d1e2c3b-7f4a-4e8d-9b6c-0c0a00000001"
    lab.start({CONTAINER_MAC: CONTAINER_IP})
    serve_instance(lab, instance_id, "tiny-ct", ssh_key, script("user-data-marker-ct", 3))
    ns = lab.add_guest_namespace(CONTAINER_MAC)
    console = tmp_path / "console.log"

    start = time.monotonic()
    with stopped_at_end(start_container(lab, ns, rootfs, console)) as ct:
        finished = wait_for(console, BOOT_FINISHED_MARKER, 180, ct)
        banner, _ = lab.ssh_banner(CONTAINER_IP, timeout=60)
        to_banner = time.monotonic() - start
        print(
            f"nubo-tiny as a container: boot finished after {finished:.1f}s, "
            f"SSH banner after {to_banner:.1f}s"
        )
        text = console.read_text(errors="replace")
        assert " as container " in text
        assert lab.lease(CONTAINER_MAC) == CONTAINER_IP
        dhcp = marker_line(console, DHCP_MARKER + "eth0")
        assert f"ip={CONTAINER_IP}/24" in dhcp and f"mtu={MTU}" in dhcp
        assert any("/openstack/latest/meta_data.json" in r for r in lab.metadata_requests())
        assert f"instance-id={instance_id}" in marker_line(console, METADATA_MARKER)
        assert "user-data-marker-ct from tiny-ct as 0" in text
        assert USER_DATA_RAN_MARKER + "3" in text
        assert banner.startswith("SSH-2.0-dropbear"), banner
        out = lab.ssh(
            CONTAINER_IP, ssh_key, "root", "hostname; cat /sys/class/net/eth0/mtu; cat /proc/1/comm"
        ).split("\n")
        assert out[:3] == ["tiny-ct", str(MTU), "init"], out
        stop_container(ct)
        assert SHUTDOWN_MARKER in console.read_text(errors="replace")

    # Restarted over the same root filesystem: the instance is known.
    console2 = tmp_path / "console2.log"
    with stopped_at_end(start_container(lab, ns, rootfs, console2)) as ct:
        wait_for(console2, BOOT_FINISHED_MARKER, 180, ct)
        text2 = console2.read_text(errors="replace")
        assert USER_DATA_ALREADY_RAN_MARKER in text2
        assert "user-data-marker-ct" not in text2
        stop_container(ct)


CLOUD_CONFIG = b"""#cloud-config
hostname: from-config-drive
write_files:
  - path: /etc/nubo-test
    permissions: '0600'
    content: |
      written by write_files
runcmd:
  - echo "runcmd-marker $(hostname) $(cat /etc/nubo-test)"
  - [sh, -c, "stat -c 'mode=%a' /etc/nubo-test"]
packages: [nginx]
"""


def test_tiny_reads_config_drive(tiny_image: Path, ssh_key: Path, tmp_path: Path) -> None:
    """No network at all: the instance data comes from an ISO 9660 config-2 CD-ROM."""
    meta = meta_data(
        instance_id="0c0f1d2e-3a4b-4c5d-8e6f-0cd000000001",
        name="cd-vm",
        public_keys={"test-key": ssh_key.with_suffix(".pub").read_text()},
    )
    drive = tmp_path / "config.iso"
    write_config_drive(drive, openstack_tree(meta, CLOUD_CONFIG))
    console = tmp_path / "console.log"
    with stopped_at_end(start_qemu(tiny_image, tmp_path, console, cdrom=drive)) as vm:
        finished = wait_for(console, BOOT_FINISHED_MARKER, BOOT_TIMEOUT, vm)
        print(f"\nnubo-tiny with a config drive: boot finished after {finished:.1f}s")
        text = console.read_text(errors="replace")
        assert "source=config drive /dev/sr0" in marker_line(console, METADATA_MARKER)
        assert "keys=1" in marker_line(console, METADATA_MARKER)
        assert "runcmd-marker from-config-drive written by write_files" in text
        assert "mode=600" in text
        assert "'packages' is not supported" in text
        assert USER_DATA_RAN_MARKER + "0" in text


DEBIAN_VM_MAC = "52:54:00:6e:75:11"
DEBIAN_VM_IP = "10.77.0.21"
DEBIAN_CT_MAC = "52:54:00:6e:75:12"
DEBIAN_CT_IP = "10.77.0.22"


def test_debian_boots_under_qemu_with_cloud_init(
    lab: Lab, debian_image: Path, ssh_key: Path, tmp_path: Path
) -> None:
    instance_id = "6f1c9e0a-2b3d-4e5f-8a9b-0de000000001"
    lab.start({DEBIAN_VM_MAC: DEBIAN_VM_IP})
    serve_instance(
        lab, instance_id, "deb-vm", ssh_key, script("user-data-marker-debian", 0), DEBIAN_VM_MAC
    )
    tap = lab.add_tap()
    console = tmp_path / "console.log"
    # cloud-init believes it is on OpenStack only when the SMBIOS says so.
    smbios = f"type=1,manufacturer=OpenStack Foundation,product=OpenStack Nova,uuid={instance_id}"
    start = time.monotonic()
    with stopped_at_end(
        start_qemu(
            debian_image,
            tmp_path,
            console,
            lab=lab,
            tap=tap,
            mac=DEBIAN_VM_MAC,
            memory=512,
            extra=["-smbios", smbios],
        )
    ) as vm:
        finished = wait_for(console, BOOT_FINISHED_MARKER, 1200, vm)
        banner, _ = lab.ssh_banner(DEBIAN_VM_IP, timeout=120)
        print(
            f"\nnubo-debian under QEMU TCG: boot finished after {finished:.1f}s, "
            f"SSH banner after {time.monotonic() - start:.1f}s"
        )
        text = console.read_text(errors="replace")
        assert lab.lease(DEBIAN_VM_MAC) == DEBIAN_VM_IP
        assert any("/openstack/latest/meta_data.json" in r for r in lab.metadata_requests())
        assert "user-data-marker-debian from deb-vm as 0" in text
        assert "cloud-init status done" in text
        assert banner.startswith("SSH-2.0-OpenSSH"), banner
        out = lab.ssh(
            DEBIAN_VM_IP,
            ssh_key,
            "debian",
            "hostname; cat /sys/class/net/e*/mtu; sudo -n true && echo sudo-ok",
        ).split("\n")
        assert out[0] == "deb-vm" and out[1] == str(MTU) and "sudo-ok" in out, out
        fingerprint = lab.host_key_fingerprint(DEBIAN_VM_IP)
        assert fingerprint in marker_line(console, SSH_READY_MARKER)


def test_debian_boots_as_container(
    lab: Lab, debian_image: Path, ssh_key: Path, tmp_path: Path
) -> None:
    rootfs = tmp_path / "rootfs"
    start = time.monotonic()
    extract_rootfs(debian_image, rootfs)
    print(f"\nextract_rootfs (nubo-debian): {time.monotonic() - start:.1f}s")
    assert (rootfs / "usr/bin/sudo").stat().st_mode & 0o7777 == 0o4755
    assert (rootfs / "tmp").stat().st_mode & 0o7777 == 0o1777
    instance_id = "7a2d0f1b-3c4e-4f60-9b1c-0dc000000001"
    lab.start({DEBIAN_CT_MAC: DEBIAN_CT_IP})
    serve_instance(lab, instance_id, "deb-ct", ssh_key, script("user-data-marker-debct", 0))
    ns = lab.add_guest_namespace(DEBIAN_CT_MAC)
    console = tmp_path / "console.log"
    start = time.monotonic()
    with stopped_at_end(start_container(lab, ns, rootfs, console)) as ct:
        finished = wait_for(console, BOOT_FINISHED_MARKER, 300, ct)
        banner, _ = lab.ssh_banner(DEBIAN_CT_IP, timeout=60)
        print(
            f"nubo-debian as a container: boot finished after {finished:.1f}s, "
            f"SSH banner after {time.monotonic() - start:.1f}s"
        )
        text = console.read_text(errors="replace")
        assert " as container " in text
        assert f"ip={DEBIAN_CT_IP}/24" in marker_line(console, DHCP_MARKER + "eth0")
        assert "user-data-marker-debct from deb-ct as 0" in text
        assert banner.startswith("SSH-2.0-OpenSSH"), banner
        out = lab.ssh(DEBIAN_CT_IP, ssh_key, "debian", "hostname; sudo -n id -u").split("\n")
        assert out[:2] == ["deb-ct", "0"], out
        stop_container(ct)
