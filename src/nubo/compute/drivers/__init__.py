"""Instance drivers, and the choice of one for this host (``compute.driver``).

``auto`` takes, in order: QEMU with KVM when KVM really boots a guest here
(probed once per process), namespace containers when this host can run them
(root, unshare, overlayfs, cgroups), QEMU under TCG when qemu-system-x86_64
is installed, and the fake driver (no guests) with a warning otherwise. The
reason that comes back with the driver is what ``nubo doctor`` prints.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from nubo.compute.drivers.base import ComputeDriver, DriverError
from nubo.config import Config

log = logging.getLogger(__name__)

DRIVERS = ("auto", "qemu", "container", "fake")
QEMU_TOOLS = {"qemu-system-x86_64": "qemu-system-x86", "qemu-img": "qemu-utils", "ip": "iproute2"}


def _qemu_missing() -> str | None:
    missing = [tool for tool in QEMU_TOOLS if shutil.which(tool) is None]
    if not missing:
        return None
    packages = " ".join(sorted({QEMU_TOOLS[t] for t in missing}))
    return f"missing {', '.join(missing)} (apt-get install {packages})"


def _container_available(instances_dir: Path) -> tuple[bool, str]:
    from nubo.compute.drivers.container import ContainerComputeDriver

    return ContainerComputeDriver.available(instances_dir)


def _kvm(instances_dir: Path) -> tuple[bool, str]:
    from nubo.compute.drivers.kvmprobe import kvm_usable

    return kvm_usable(instances_dir)


def choose_driver(config: Config, instances_dir: Path) -> tuple[ComputeDriver, str]:
    """The instance driver compute.driver asks for, and why it was chosen.

    An explicit choice this host cannot honour raises DriverError (the operator
    asked for it); ``auto`` falls back as the module docstring says.
    """
    from nubo.compute.drivers.fake import FakeComputeDriver
    from nubo.compute.drivers.qemu import QemuComputeDriver

    wanted = config.compute.driver
    compute = config.compute
    if wanted not in DRIVERS:
        raise DriverError(f"compute.driver must be one of {', '.join(DRIVERS)}, not {wanted!r}")
    if wanted == "fake":
        return FakeComputeDriver(instances_dir, compute), "compute.driver = fake: no guests run"

    root = os.geteuid() == 0
    if wanted == "qemu":
        if not root:
            raise DriverError("compute.driver = qemu needs root (taps in the dataplane namespace)")
        if missing := _qemu_missing():
            raise DriverError(f"compute.driver = qemu, but {missing}")
        kvm, why = _kvm(instances_dir)
        accel = "kvm" if kvm else "tcg"
        reason = f"QEMU with KVM: {why}" if kvm else f"QEMU under TCG (slow), no KVM: {why}"
        return QemuComputeDriver(instances_dir, compute, accel=accel), reason
    if wanted == "container":
        ok, why = _container_available(instances_dir)
        if not ok:
            raise DriverError(f"compute.driver = container, but {why}")
        from nubo.compute.drivers.container import ContainerComputeDriver

        return ContainerComputeDriver(instances_dir, compute), f"containers: {why}"

    # auto
    if not root:
        reason = "not root: instances need root (taps, namespaces); the fake driver runs no guests"
        log.warning("compute: %s", reason)
        return FakeComputeDriver(instances_dir, compute), reason
    qemu_missing = _qemu_missing()
    kvm, kvm_why = _kvm(instances_dir) if qemu_missing is None else (False, qemu_missing)
    if kvm:
        return QemuComputeDriver(instances_dir, compute, accel="kvm"), f"QEMU with KVM: {kvm_why}"
    ok, container_why = _container_available(instances_dir)
    if ok:
        from nubo.compute.drivers.container import ContainerComputeDriver

        reason = f"containers (no KVM: {kvm_why}): {container_why}"
        return ContainerComputeDriver(instances_dir, compute), reason
    if qemu_missing is None:
        reason = f"QEMU under TCG, slow (no KVM: {kvm_why}; no containers: {container_why})"
        return QemuComputeDriver(instances_dir, compute, accel="tcg"), reason
    reason = f"fake driver, no guests run (no QEMU: {qemu_missing}; no containers: {container_why})"
    log.warning("compute: %s", reason)
    return FakeComputeDriver(instances_dir, compute), reason


__all__ = ["DRIVERS", "choose_driver"]
