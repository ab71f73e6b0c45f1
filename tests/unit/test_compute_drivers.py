"""Instance drivers without root: disk files (qemu-img), the fake driver, the choice
of driver, config drives, QEMU's command line, the QMP client and the KVM probe.

Tests that need a tool (qemu-img, genisoimage, isoinfo, qemu-system-x86_64)
skip when it is missing; none start a guest that needs root.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import nubo.compute.drivers as drivers
from nubo.compute.configdrive import build_iso
from nubo.compute.drivers import disks, kvmprobe, qemu_machine
from nubo.compute.drivers.base import DriverError, InstanceSpec, Nic, PowerState
from nubo.compute.drivers.fake import FakeComputeDriver
from nubo.compute.drivers.qemu import QemuComputeDriver
from nubo.compute.drivers.qemu_machine import read_tail, socket_dir, trim_file
from nubo.compute.drivers.qmp import Qmp, QmpError
from nubo.config import ComputeConfig, Config

MIB = 1024**2
GIB = 1024**3
INSTANCE = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"


def need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")


def info(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["qemu-img", "info", "--output=json", "-U", str(path)],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def spec(image: Path, **kw: Any) -> InstanceSpec:
    values: dict[str, Any] = {
        "id": INSTANCE,
        "hostname": "vm-one",
        "vcpus": 2,
        "memory_mb": 256,
        "root_gb": 1,
        "ephemeral_gb": 0,
        "swap_mb": 0,
        "image_path": image,
        "image_format": "qcow2",
    }
    values.update(kw)
    return InstanceSpec(**values)


class RecordingPlugger:
    def __init__(self, namespace: str | None = None) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.namespace = namespace

    def plug(self, port_id: str, kind: str, netns: str | None = None) -> str:
        self.calls.append(("plug", port_id, kind))
        return f"nubot{port_id.replace('-', '')[:10]}"

    def unplug(self, port_id: str) -> None:
        self.calls.append(("unplug", port_id))

    def dataplane_namespace(self) -> str | None:
        return self.namespace


@pytest.fixture
def base_image(tmp_path: Path) -> Path:
    """A 64 MiB qcow2 "image" with a recognisable first MiB."""
    need("qemu-img", "qemu-io")
    path = tmp_path / "_base" / "image.qcow2"
    path.parent.mkdir()
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True)
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", "write -P 0xab 0 1M", str(path)],
        check=True,
        capture_output=True,
    )
    return path


# -- disks --------------------------------------------------------------------------------


def test_root_disk_is_an_overlay_grown_to_the_flavor(base_image: Path, tmp_path: Path) -> None:
    instance = tmp_path / "inst"
    disks.create_disks(instance, spec(base_image, root_gb=2))
    root = info(instance / "disk.qcow2")
    assert root["format"] == "qcow2"
    assert root["virtual-size"] == 2 * GIB
    assert root["backing-filename"] == str(base_image.resolve())
    assert root["backing-filename-format"] == "qcow2"
    assert not (instance / "disk.eph0").exists() and not (instance / "disk.swap").exists()
    # Again: the disk is kept (no new file), and the image was never written.
    before = (instance / "disk.qcow2").stat().st_ino
    base_before = base_image.stat().st_mtime_ns
    disks.create_disks(instance, spec(base_image, root_gb=2))
    assert (instance / "disk.qcow2").stat().st_ino == before
    assert base_image.stat().st_mtime_ns == base_before
    assert not [p.name for p in instance.iterdir() if p.name.startswith(".")]


def test_root_gb_zero_takes_the_image_size(base_image: Path, tmp_path: Path) -> None:
    disks.create_root_disk(tmp_path / "inst", spec(base_image, root_gb=0))
    assert info(tmp_path / "inst" / "disk.qcow2")["virtual-size"] == 64 * MIB


def test_flavor_smaller_than_the_image_is_refused(tmp_path: Path) -> None:
    need("qemu-img")
    big = tmp_path / "big.raw"
    with big.open("wb") as f:
        f.truncate(3 * GIB)
    with pytest.raises(DriverError, match=r"flavor's disk \(1 GiB\) is smaller"):
        disks.create_root_disk(tmp_path / "inst", spec(big, image_format="raw", root_gb=1))
    assert not (tmp_path / "inst" / "disk.qcow2").exists()


def test_images_that_point_at_other_files_are_refused(base_image: Path, tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.qcow2"
    subprocess.run(
        [
            "qemu-img",
            "create",
            "-q",
            "-f",
            "qcow2",
            "-F",
            "qcow2",
            "-b",
            str(base_image),
            str(sneaky),
        ],
        check=True,
    )
    with pytest.raises(DriverError, match="refers to another file"):
        disks.create_root_disk(tmp_path / "inst", spec(sneaky))
    with pytest.raises(DriverError, match="missing"):
        disks.create_root_disk(tmp_path / "inst", spec(tmp_path / "gone.qcow2"))
    with pytest.raises(DriverError, match="cannot be booted"):
        disks.create_root_disk(tmp_path / "inst", spec(base_image, image_format="iso"))


def test_declared_raw_is_read_as_raw(base_image: Path, tmp_path: Path) -> None:
    # An image uploaded as raw that holds a qcow2 header is a raw disk to the guest.
    disks.create_root_disk(tmp_path / "inst", spec(base_image, image_format="raw", root_gb=1))
    assert info(tmp_path / "inst" / "disk.qcow2")["backing-filename-format"] == "raw"


@pytest.mark.parametrize("filesystem", ["ext4", "vfat"])
def test_ephemeral_disk_carries_a_labelled_filesystem(tmp_path: Path, filesystem: str) -> None:
    need("qemu-img", "blkid", f"mkfs.{filesystem}")
    eph = tmp_path / "disk.eph0"
    disks.create_ephemeral_disk(eph, 1, filesystem)
    meta = info(eph)
    assert meta["format"] == "qcow2" and meta["virtual-size"] == GIB
    assert eph.stat().st_size < 64 * MIB  # stored sparse
    raw = tmp_path / "check.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(eph), str(raw)], check=True)
    probe = subprocess.run(
        ["blkid", "-p", "-o", "export", str(raw)], capture_output=True, text=True, check=True
    ).stdout
    assert f"TYPE={filesystem}" in probe
    assert "LABEL=ephemeral0" in probe or "LABEL=EPHEMERAL0" in probe


def test_blank_ephemeral_and_swap_disks(tmp_path: Path) -> None:
    need("qemu-img", "mkswap")
    eph = tmp_path / "disk.eph0"
    disks.create_ephemeral_disk(eph, 2, None)
    assert info(eph)["virtual-size"] == 2 * GIB
    swap = tmp_path / "disk.swap"
    disks.create_swap_disk(swap, 64)
    assert swap.stat().st_size == 64 * MIB
    with swap.open("rb") as f:
        f.seek(4096 - 10)
        assert f.read(10) == b"SWAPSPACE2"
    assert os.stat(swap).st_blocks * 512 < 1 * MIB  # sparse
    with pytest.raises(DriverError):
        disks.create_swap_disk(tmp_path / "none.swap", 0)


def test_spec_with_all_disks(base_image: Path, tmp_path: Path) -> None:
    need("mkswap")
    made = disks.create_disks(
        tmp_path / "inst",
        spec(base_image, ephemeral_gb=1, swap_mb=32, extra={"os_type": "windows"}),
    )
    assert made.ephemeral == tmp_path / "inst" / "disk.eph0"
    assert made.swap == tmp_path / "inst" / "disk.swap"
    assert disks.ephemeral_filesystem({"os_type": "windows"}) in ("vfat", None)


def test_resize_grows_and_never_shrinks(base_image: Path, tmp_path: Path) -> None:
    instance = tmp_path / "inst"
    disks.create_root_disk(instance, spec(base_image, root_gb=1))
    disks.resize_disk(instance, 3)
    assert info(instance / "disk.qcow2")["virtual-size"] == 3 * GIB
    disks.resize_disk(instance, 3)
    with pytest.raises(DriverError, match="cannot shrink"):
        disks.resize_disk(instance, 2)
    with pytest.raises(DriverError, match="no root disk"):
        disks.resize_disk(tmp_path / "other", 3)


def test_flatten_writes_a_standalone_copy(base_image: Path, tmp_path: Path) -> None:
    instance = tmp_path / "inst"
    root = disks.create_root_disk(instance, spec(base_image, root_gb=1))
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", "write -P 0xcd 2M 1M", str(root)],
        check=True,
        capture_output=True,
    )
    target = tmp_path / "snap" / "snapshot.qcow2"
    assert disks.flatten(root, target) == "qcow2"
    meta = info(target)
    assert meta["format"] == "qcow2" and "backing-filename" not in meta
    assert meta["virtual-size"] == GIB
    same = subprocess.run(["qemu-img", "compare", str(root), str(target)], capture_output=True)
    assert same.returncode == 0, same.stdout
    base_image.unlink()  # the copy does not need the image any more
    read = subprocess.run(
        [
            "qemu-io",
            "-f",
            "qcow2",
            "-c",
            "read -P 0xab 0 1M",
            "-c",
            "read -P 0xcd 2M 1M",
            str(target),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Pattern verification failed" not in read
    with pytest.raises(DriverError, match="no root disk"):
        disks.flatten(tmp_path / "none.qcow2", target)


def test_host_disk_gb(tmp_path: Path) -> None:
    assert disks.host_disk_gb(tmp_path / "not" / "yet") == shutil.disk_usage(tmp_path).total // GIB


# -- fake driver ----------------------------------------------------------------------------


def test_fake_driver_lifecycle(tmp_path: Path) -> None:
    image = tmp_path / "image.qcow2"
    image.write_bytes(b"QFI\xfbfake")
    config = ComputeConfig(console_log_bytes=4096)
    fake = FakeComputeDriver(tmp_path / "instances", config)
    plugger = RecordingPlugger()
    nic = Nic("port-1", "fa:16:3e:00:00:01")
    s = spec(image, nics=(nic,))
    assert fake.power_state(INSTANCE) == PowerState.NOSTATE
    fake.spawn(s, plugger)
    fake.spawn(s, plugger)
    assert fake.list_instances() == {INSTANCE: PowerState.RUNNING}
    assert ("plug", "port-1", "tap") in plugger.calls
    assert b"vm-one" in fake.console_log(INSTANCE)

    fake.pause(INSTANCE)
    assert fake.power_state(INSTANCE) == PowerState.PAUSED
    with pytest.raises(DriverError):
        fake.suspend("unknown-instance")
    fake.unpause(INSTANCE)
    fake.suspend(INSTANCE)
    assert fake.power_state(INSTANCE) == PowerState.SUSPENDED
    with pytest.raises(DriverError):
        fake.pause(INSTANCE)
    fake.resume(s, plugger)
    fake.power_off(INSTANCE)
    assert fake.power_state(INSTANCE) == PowerState.SHUTDOWN
    fake.power_on(s, plugger)
    fake.reboot(s, plugger, hard=True)
    assert fake.power_state(INSTANCE) == PowerState.RUNNING
    with pytest.raises(DriverError, match="no graphical console"):
        fake.console(INSTANCE, "novnc")
    with pytest.raises(DriverError):
        fake.console(INSTANCE, "serial")

    fake.resize_disk(INSTANCE, 5)
    with pytest.raises(DriverError, match="shrink"):
        fake.resize_disk(INSTANCE, 2)
    target = tmp_path / "snap.img"
    assert fake.snapshot(INSTANCE, target) == "qcow2"
    assert target.read_bytes() == image.read_bytes()
    image.unlink()
    assert fake.snapshot(INSTANCE, target) == "raw"

    fake.attach_interface(s, Nic("port-2", "fa:16:3e:00:00:02"), plugger)
    fake.detach_interface(INSTANCE, "port-2", plugger)
    assert ("unplug", "port-2") in plugger.calls

    # A restarted nubo finds the instance as it was.
    fake.pause(INSTANCE)
    again = FakeComputeDriver(tmp_path / "instances", config)
    assert again.list_instances() == {INSTANCE: PowerState.PAUSED}
    assert b"vm-one" in again.console_log(INSTANCE)
    assert len(again.console_log(INSTANCE)) <= 4096

    again.destroy(INSTANCE, plugger)
    again.destroy(INSTANCE, plugger)
    assert ("unplug", "port-1") in plugger.calls
    assert again.list_instances() == {}
    assert not (tmp_path / "instances" / INSTANCE).exists()
    assert FakeComputeDriver(tmp_path / "instances", config).list_instances() == {}


def test_fake_driver_keep_disks_and_resources(tmp_path: Path) -> None:
    fake = FakeComputeDriver(tmp_path, ComputeConfig(vcpus=8))
    fake.spawn(spec(tmp_path / "none"), RecordingPlugger())
    fake.destroy(INSTANCE, RecordingPlugger(), keep_disks=True)
    assert fake.power_state(INSTANCE) == PowerState.SHUTDOWN
    resources = fake.host_resources()
    assert resources.vcpus == 8 and resources.hypervisor_type == "fake"
    assert resources.memory_mb > 0 and resources.disk_gb > 0


# -- choosing a driver -------------------------------------------------------------------------


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What the host offers, as choose_driver sees it."""
    state: dict[str, Any] = {
        "root": True,
        "kvm": (False, "/dev/kvm is absent"),
        "container": (False, "missing unshare: install util-linux"),
        "qemu_missing": None,
    }
    monkeypatch.setattr(drivers.os, "geteuid", lambda: 0 if state["root"] else 1000)
    monkeypatch.setattr(drivers, "_kvm", lambda d: state["kvm"])
    monkeypatch.setattr(drivers, "_container_available", lambda d: state["container"])
    monkeypatch.setattr(drivers, "_qemu_missing", lambda: state["qemu_missing"])
    return state


def choose(tmp_path: Path, driver: str) -> tuple[str, str]:
    config = Config()
    config.compute.driver = driver
    chosen, reason = drivers.choose_driver(config, tmp_path)
    return chosen.name, reason


def test_auto_prefers_kvm(host: dict[str, Any], tmp_path: Path) -> None:
    host["kvm"] = (True, "KVM booted a probe guest in 0.3s")
    host["container"] = (True, "namespaces, overlayfs and cgroup v1")
    name, reason = choose(tmp_path, "auto")
    assert name == "qemu-kvm" and "KVM booted a probe guest" in reason


def test_auto_takes_containers_without_kvm(host: dict[str, Any], tmp_path: Path) -> None:
    host["kvm"] = (False, "KVM stops guests with an internal error")
    host["container"] = (True, "namespaces, overlayfs and cgroup v1")
    name, reason = choose(tmp_path, "auto")
    assert name == "container"
    assert "internal error" in reason and "overlayfs" in reason


def test_auto_falls_back_to_tcg_then_fake(host: dict[str, Any], tmp_path: Path) -> None:
    name, reason = choose(tmp_path, "auto")
    assert name == "qemu-tcg"
    assert "/dev/kvm is absent" in reason and "missing unshare" in reason
    host["qemu_missing"] = "missing qemu-system-x86_64 (apt-get install qemu-system-x86)"
    name, reason = choose(tmp_path, "auto")
    assert name == "fake" and "apt-get install qemu-system-x86" in reason
    host["root"] = False
    name, reason = choose(tmp_path, "auto")
    assert name == "fake" and "not root" in reason


def test_explicit_choices(host: dict[str, Any], tmp_path: Path) -> None:
    assert choose(tmp_path, "fake")[0] == "fake"
    assert choose(tmp_path, "qemu")[0] == "qemu-tcg"
    host["kvm"] = (True, "ok")
    assert choose(tmp_path, "qemu")[0] == "qemu-kvm"
    with pytest.raises(DriverError, match=r"compute\.driver = container, but missing unshare"):
        choose(tmp_path, "container")
    with pytest.raises(DriverError, match="must be one of"):
        choose(tmp_path, "xen")
    host["root"] = False
    with pytest.raises(DriverError, match="needs root"):
        choose(tmp_path, "qemu")


# -- config drive -----------------------------------------------------------------------------


def test_config_drive_iso(tmp_path: Path) -> None:
    need("genisoimage", "isoinfo")
    meta = json.dumps({"uuid": INSTANCE, "public_keys": {"k": "ssh-ed25519 AAAA test"}}).encode()
    tree = {
        "openstack/latest/meta_data.json": meta,
        "openstack/2012-08-10/meta_data.json": meta,
        "openstack/latest/user_data": b"#!/bin/sh\necho hi\n",
        "ec2/latest/meta-data.json": b"{}",
    }
    iso = tmp_path / "disk.config"
    build_iso(tree, iso)
    pvd = subprocess.run(["isoinfo", "-d", "-i", str(iso)], capture_output=True, text=True).stdout
    assert "Volume id: config-2" in pvd
    assert "Rock Ridge" in pvd and "Joliet" in pvd
    listing = subprocess.run(
        ["isoinfo", "-R", "-f", "-i", str(iso)], capture_output=True, text=True
    ).stdout.split()
    assert "/openstack/latest/meta_data.json" in listing
    assert "/openstack/2012-08-10/meta_data.json" in listing
    got = subprocess.run(
        ["isoinfo", "-R", "-i", str(iso), "-x", "/openstack/latest/meta_data.json"],
        capture_output=True,
    ).stdout
    assert json.loads(got)["uuid"] == INSTANCE
    assert [p.name for p in tmp_path.iterdir()] == ["disk.config"]
    with pytest.raises(ValueError):
        build_iso({"../escape": b"x"}, tmp_path / "bad.iso")


# -- the QEMU driver without a guest ------------------------------------------------------------


def qemu_driver(tmp_path: Path, accel: str = "tcg") -> QemuComputeDriver:
    return QemuComputeDriver(tmp_path / "instances", ComputeConfig(), accel=accel)


def test_qemu_command_line(tmp_path: Path) -> None:
    drv = qemu_driver(tmp_path)
    iso = tmp_path / "disk,config"
    s = spec(
        tmp_path / "image",
        ephemeral_gb=1,
        swap_mb=512,
        config_drive=iso,
        rescue_image_path=tmp_path / "rescue",
        nics=(Nic("port-1", "fa:16:3e:00:00:01", 1450), Nic("port-2", "fa:16:3e:00:00:02")),
    )
    f = drv.files(INSTANCE)
    nics = [(s.nics[0], "nubotport1", 0x10), (s.nics[1], "nubotport2", 0x11)]
    cmd = drv.command(s, f, nics, incoming=False)
    joined = " ".join(cmd)
    assert cmd[0] == "qemu-system-x86_64" and cmd[-1] == "-daemonize"
    assert INSTANCE in joined and "-incoming" not in cmd
    assert "tcg,thread=multi" in cmd and "kvm" not in joined
    assert cmd[cmd.index("-m") + 1] == "256" and cmd[cmd.index("-smp") + 1] == "2"
    assert "virtio-blk-pci,drive=disk-rescue,addr=0x4,bootindex=0" in joined
    assert "virtio-blk-pci,drive=disk-root,addr=0x5,bootindex=1" in joined
    assert f"file={f.dir}/disk.swap,if=none,id=disk-swap,format=raw" in joined
    assert f"file={f.dir}/disk.eph0,if=none,id=disk-eph0,format=qcow2" in joined
    assert "file=" + str(iso).replace(",", ",,") + ",if=none,id=config-drive,media=cdrom" in joined
    assert "ide-cd,drive=config-drive" in joined
    assert "tap,id=net-port-1,ifname=nubotport1,script=no,downscript=no" in cmd
    assert (
        "virtio-net-pci,id=nic-port-1,netdev=net-port-1,mac=fa:16:3e:00:00:01,"
        "addr=0x10,host_mtu=1450"
    ) in cmd
    assert f"logfile={f.dir}/console.log,logappend=on" in joined
    assert f"unix:{f.sockets}/vnc.sock" in cmd
    assert f"unix:{f.sockets}/qmp.sock,server=on,wait=off" in cmd
    assert "manufacturer=OpenStack Foundation,product=OpenStack Nova" in joined

    kvm = qemu_driver(tmp_path, "kvm")
    assert kvm.name == "qemu-kvm"
    cmd = kvm.command(spec(tmp_path / "image", extra={"hw_disk_bus": "ide"}), f, [], True)
    assert "pc,accel=kvm" in cmd and cmd[cmd.index("-cpu") + 1] == "host"
    assert cmd[cmd.index("-incoming") + 1] == "defer"
    assert "ide-hd,drive=disk-root,bus=ide.0,unit=0,bootindex=0" in cmd


def test_qemu_command_runs_in_the_dataplane_namespace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """_start runs ip netns exec <namespace> qemu ... and reports QEMU's own words."""
    monkeypatch.setattr(qemu_machine, "SOCKET_PATH_MAX", 4096)  # sockets stay under tmp_path
    drv = qemu_driver(tmp_path)
    seen: list[list[str]] = []

    def fake_run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        seen.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "qemu-system-x86_64: -m 256: no memory")

    monkeypatch.setattr(subprocess, "run", fake_run)
    f = drv.files(INSTANCE)
    f.dir.mkdir(parents=True)
    s = spec(tmp_path / "image", nics=(Nic("port-1", "fa:16:3e:00:00:01"),))
    plugger = RecordingPlugger("nubo-dp")
    with pytest.raises(DriverError, match=r"QEMU did not start: .*no memory"):
        drv._start(s, plugger, f)
    assert seen[0][:4] == ["ip", "netns", "exec", "nubo-dp"]
    assert ("plug", "port-1", "tap") in plugger.calls
    meta = json.loads(f.meta.read_text())
    assert meta["ports"] == {"port-1": {"device": "nubotport1", "slot": 0x10}}

    # A port the spec no longer has is unplugged at the next start.
    with pytest.raises(DriverError):
        drv._start(spec(tmp_path / "image"), plugger, f)
    assert ("unplug", "port-1") in plugger.calls
    assert json.loads(f.meta.read_text())["ports"] == {}


def test_qemu_states_without_a_process(tmp_path: Path) -> None:
    drv = qemu_driver(tmp_path)
    f = drv.files(INSTANCE)
    assert drv.power_state(INSTANCE) == PowerState.NOSTATE
    assert drv.list_instances() == {}
    f.dir.mkdir(parents=True)
    f.root.write_bytes(b"")
    # A pid file naming a process that is not this instance's QEMU is ignored.
    f.pid.write_text(str(os.getpid()))
    assert drv.power_state(INSTANCE) == PowerState.SHUTDOWN
    assert drv.list_instances() == {INSTANCE: PowerState.SHUTDOWN}
    f.state.write_bytes(b"saved")
    assert drv.power_state(INSTANCE) == PowerState.SUSPENDED
    drv.power_off(INSTANCE)  # stopping drops the saved memory
    assert drv.power_state(INSTANCE) == PowerState.SHUTDOWN
    with pytest.raises(DriverError, match="cannot be paused while it is shut off"):
        drv.pause(INSTANCE)
    with pytest.raises(DriverError, match="not running"):
        drv.console(INSTANCE, "novnc")
    with pytest.raises(DriverError, match="no rdp console"):
        drv.console(INSTANCE, "rdp")
    with pytest.raises(DriverError):
        drv.files("../etc")
    plugger = RecordingPlugger()
    f.meta.write_text(json.dumps({"ports": {"port-9": {"device": "t", "slot": 16}}}))
    drv.destroy(INSTANCE, plugger)
    assert plugger.calls == [("unplug", "port-9")]
    assert not f.dir.exists()
    drv.destroy(INSTANCE, plugger)


def test_console_log_keeps_the_newest_bytes(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    log.write_bytes(b"".join(b"line %05d\n" % i for i in range(1000)))
    assert read_tail(log, 22) == b"line 00998\nline 00999\n"
    assert read_tail(log, 0) == log.read_bytes()
    assert read_tail(tmp_path / "none", 10) == b""
    with log.open("ab") as appender:  # as QEMU holds it (O_APPEND)
        trim_file(log, 22)
        appender.write(b"after\n")
    assert log.read_bytes() == b"line 00998\nline 00999\nafter\n"

    drv = QemuComputeDriver(tmp_path / "i", ComputeConfig(console_log_bytes=10), accel="tcg")
    f = drv.files(INSTANCE)
    f.dir.mkdir(parents=True)
    f.console.write_bytes(b"x" * 100 + b"0123456789")
    assert drv.console_log(INSTANCE) == b"0123456789"
    assert f.console.stat().st_size == 10  # trimmed: it was past 4x the limit


def test_long_instance_dirs_get_short_socket_dirs(tmp_path: Path) -> None:
    short = Path("/var/lib/nubo/instances") / INSTANCE
    assert socket_dir(short) == short
    deep = Path("/x" * 60) / INSTANCE
    sockets = socket_dir(deep)
    assert sockets != deep and len(str(sockets / "serial.sock")) <= 100
    assert socket_dir(deep) == sockets


# -- QMP ---------------------------------------------------------------------------------------


@pytest.fixture
def qmp_server(tmp_path: Path) -> Iterator[tuple[Path, list[dict[str, Any]]]]:
    """A QMP peer that speaks the greeting, answers a few commands and sends an event."""
    path = tmp_path / "qmp.sock"
    received: list[dict[str, Any]] = []
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(1)

    def serve() -> None:
        conn, _ = server.accept()
        with conn, conn.makefile("rwb") as stream:
            stream.write(b'{"QMP": {"version": {}, "capabilities": []}}\n')
            stream.flush()
            for line in stream:
                msg = json.loads(line)
                received.append(msg)
                cmd = msg["execute"]
                if cmd == "query-status":
                    stream.write(b'{"event": "RESUME", "data": {}}\n')
                    stream.write(b'{"return": {"status": "running", "running": true}}\n')
                elif cmd == "device_del":
                    stream.write(b'{"return": {}}\n')
                    stream.write(b'{"event": "DEVICE_DELETED", "data": {"device": "nic-1"}}\n')
                elif cmd == "bogus":
                    stream.write(b'{"error": {"class": "CommandNotFound", "desc": "no bogus"}}\n')
                else:
                    stream.write(b'{"return": {}}\n')
                stream.flush()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path, received
    server.close()


def test_qmp_client(qmp_server: tuple[Path, list[dict[str, Any]]]) -> None:
    path, received = qmp_server
    with Qmp(path) as q:
        assert q.execute("query-status")["status"] == "running"
        assert q.events[0]["event"] == "RESUME"
        with pytest.raises(QmpError, match="no bogus"):
            q.execute("bogus")
        q.execute("device_del", {"id": "nic-1"})
        assert q.wait_event("DEVICE_DELETED", 5, device="nic-1") is not None
        assert q.wait_event("DEVICE_DELETED", 0.2, device="nic-2") is None
    assert received[0] == {"execute": "qmp_capabilities"}
    assert received[-1] == {"execute": "device_del", "arguments": {"id": "nic-1"}}


def test_qmp_without_qemu(tmp_path: Path) -> None:
    with pytest.raises(QmpError, match="does not answer"):
        Qmp(tmp_path / "none.sock").connect()


# -- KVM probe ---------------------------------------------------------------------------------


def test_probe_bytes_match_their_source(tmp_path: Path) -> None:
    sector = kvmprobe.boot_sector()
    assert len(sector) == 512 and sector.endswith(b"\x55\xaa")
    need("as", "objcopy")
    (tmp_path / "probe.S").write_text(kvmprobe.PROBE_SOURCE)
    subprocess.run(
        ["as", "--32", "-o", str(tmp_path / "probe.o"), str(tmp_path / "probe.S")], check=True
    )
    subprocess.run(
        [
            "objcopy",
            "-O",
            "binary",
            "-j",
            ".text",
            str(tmp_path / "probe.o"),
            str(tmp_path / "probe.bin"),
        ],
        check=True,
    )
    assert (tmp_path / "probe.bin").read_bytes() == sector


def test_probe_answer_is_kept_per_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def probe() -> tuple[bool, str]:
        calls.append(1)
        return False, "KVM stops guests"

    monkeypatch.setattr(kvmprobe, "_probe", probe)
    monkeypatch.setattr(kvmprobe, "_host_key", lambda: "kernel-1")
    assert kvmprobe.kvm_usable(tmp_path) == (False, "KVM stops guests")
    assert kvmprobe.kvm_usable(tmp_path) == (False, "KVM stops guests")
    assert len(calls) == 1
    monkeypatch.setattr(kvmprobe, "_host_key", lambda: "kernel-2")
    kvmprobe.kvm_usable(tmp_path)
    assert len(calls) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["_kvm_probe.json"]


def test_probe_passes_on_an_emulated_cpu(tmp_path: Path) -> None:
    """Under TCG (a correct x86) the probe prints its text and exits: what KVM must do."""
    need("qemu-system-x86_64")
    sector = tmp_path / "probe.img"
    sector.write_bytes(kvmprobe.boot_sector())
    cmd = kvmprobe.probe_command(sector, tmp_path / "serial.out")
    cmd[cmd.index("kvm")] = "tcg"
    ok, why = kvmprobe._run_probe(cmd, tmp_path / "serial.out", tmp_path / "qemu.log")
    assert ok, why
    assert "booted a probe guest" in why
