"""``nubo doctor``: what this host can run, and what will be degraded and why."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from nubo.config import Config

OK, WARN, FAIL = "ok", "warn", "fail"

KVM_GET_API_VERSION = 0xAE00
KVM_CREATE_VM = 0xAE01
KVM_CREATE_VCPU = 0xAE41


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str


def _run(*cmd: str) -> tuple[int, str]:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, str(exc)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def _tool(name: str, binary: str, purpose: str, package: str) -> Check:
    path = shutil.which(binary)
    if path:
        return Check(name, OK, f"{path}")
    return Check(
        name, WARN, f"{binary} not found: {purpose} unavailable (apt-get install {package})."
    )


def check_root() -> Check:
    if os.geteuid() == 0:
        return Check("root", OK, "running as root: the real dataplane can be used")
    return Check(
        "root",
        WARN,
        "not root: networks, instances and volumes need root; only the "
        "API with fake drivers will run",
    )


def check_namespaces() -> Check:
    if not shutil.which("unshare") or not shutil.which("ip"):
        return Check("namespaces", FAIL, "iproute2/util-linux missing: no network namespaces")
    if os.geteuid() != 0:
        return Check("namespaces", WARN, "network namespaces need root")
    code, out = _run("unshare", "--net", "true")
    if code == 0:
        return Check("namespaces", OK, "network namespaces can be created")
    return Check("namespaces", FAIL, f"cannot create a network namespace: {out}")


def check_nftables() -> Check:
    if not shutil.which("nft"):
        return Check(
            "nftables",
            WARN,
            "nft not found: security groups and floating IPs "
            "unavailable (apt-get install nftables)",
        )
    if os.geteuid() != 0:
        return Check("nftables", WARN, "nft needs root")
    code, out = _run("nft", "list", "tables")
    if code == 0:
        return Check("nftables", OK, "nftables answers")
    return Check("nftables", FAIL, f"nft cannot talk to the kernel: {out}")


def check_kvm() -> Check:
    dev = Path("/dev/kvm")
    if not dev.exists():
        return Check("kvm", WARN, "/dev/kvm absent: QEMU guests run under TCG (slow)")
    try:
        fd = os.open(dev, os.O_RDWR)
    except OSError as exc:
        return Check("kvm", WARN, f"/dev/kvm not usable ({exc}): QEMU falls back to TCG")
    try:
        version = fcntl.ioctl(fd, KVM_GET_API_VERSION)
        vm = fcntl.ioctl(fd, KVM_CREATE_VM, 0)
        try:
            vcpu = fcntl.ioctl(vm, KVM_CREATE_VCPU, 0)
            os.close(vcpu)
        finally:
            os.close(vm)
    except OSError as exc:
        return Check("kvm", WARN, f"KVM refuses to create a VM ({exc}): QEMU uses TCG")
    finally:
        os.close(fd)
    from nubo.compute.drivers.kvmprobe import kvm_usable

    boots, why = kvm_usable()
    if boots:
        return Check("kvm", OK, f"KVM API {version} boots a guest: {why}")
    return Check(
        "kvm", WARN, f"KVM API {version} creates VMs but a probe guest fails ({why}): QEMU uses TCG"
    )


def check_cgroups() -> Check:
    root = Path("/sys/fs/cgroup")
    if (root / "cgroup.controllers").exists():
        controllers = (root / "cgroup.controllers").read_text().split()
        return Check("cgroups", OK, f"cgroup v2 with {' '.join(controllers)}")
    v1 = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if v1:
        return Check("cgroups", OK, f"cgroup v1 ({', '.join(v1)}): container limits use v1")
    return Check("cgroups", WARN, "no cgroups mounted: container CPU/memory limits unavailable")


def check_disk(data_dir: Path) -> Check:
    probe = data_dir if data_dir.exists() else data_dir.parent
    while not probe.exists():
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    free_gb = usage.free / 2**30
    if free_gb < 2:
        return Check("disk", FAIL, f"{free_gb:.1f} GiB free at {probe}: too little for images")
    if free_gb < 10:
        return Check(
            "disk",
            WARN,
            f"{free_gb:.1f} GiB free at {probe}: images and volumes will fill it quickly",
        )
    return Check("disk", OK, f"{free_gb:.0f} GiB free at {probe}")


def check_compute_driver(config: Config) -> Check:
    """The instance driver ``nubo up`` would use here (compute.driver), and why."""
    from nubo.compute.drivers import choose_driver
    from nubo.compute.drivers.base import DriverError

    try:
        driver, reason = choose_driver(config, config.instances_path)
    except DriverError as exc:
        return Check("compute driver", FAIL, str(exc))
    status = WARN if driver.name == "fake" and config.compute.driver == "auto" else OK
    return Check("compute driver", status, f"{driver.name}: {reason}")


def run_checks(data_dir: Path, config: Config | None = None) -> list[Check]:
    extra = [check_compute_driver(config)] if config is not None else []
    return [
        *extra,
        check_root(),
        check_namespaces(),
        check_nftables(),
        _tool("dnsmasq", "dnsmasq", "DHCP and DNS for guests", "dnsmasq"),
        _tool("haproxy", "haproxy", "load balancers", "haproxy"),
        _tool("qemu", "qemu-system-x86_64", "QEMU guests", "qemu-system-x86"),
        _tool("qemu-img", "qemu-img", "disk images and volumes", "qemu-utils"),
        check_kvm(),
        check_cgroups(),
        check_disk(data_dir),
    ]
