"""Instance disk files, shared by the QEMU and container drivers.

An instance's directory holds:

* ``disk.qcow2``: the root disk, a qcow2 overlay whose backing file is the
  cached image (``spec.image_path``), grown to the flavor's root_gb (0: the
  image's own size). The image is never written.
* ``disk.eph0``: the ephemeral disk (qcow2), formatted like Nova does, with
  the label ``ephemeral0`` (ext4 for Linux guests, vfat otherwise) so
  cloud-init finds and mounts it.
* ``disk.swap``: the swap disk, a sparse raw file with a swap signature.
* ``disk.rescue``: while rescued, an overlay on the rescue image.

Every function is idempotent: a disk that exists is kept (grown if asked),
and files are written under a temporary name and renamed, so a crash never
leaves a half-made disk that a retry would take as done.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nubo.compute.drivers.base import DriverError, InstanceSpec

GIB = 1024**3
MIB = 1024**2

ROOT_DISK = "disk.qcow2"
EPHEMERAL_DISK = "disk.eph0"
SWAP_DISK = "disk.swap"
RESCUE_DISK = "disk.rescue"
EPHEMERAL_LABEL = "ephemeral0"

# Formats QEMU may read an image as (the image service's disk_format values).
BACKING_FORMATS = {"qcow2", "raw", "vmdk", "vdi", "vhdx", "vpc", "qed"}


@dataclass(frozen=True)
class InstanceDisks:
    root: Path
    ephemeral: Path | None
    swap: Path | None


def run(cmd: Sequence[str | Path], timeout: float = 1800) -> str:
    """Run a disk tool; DriverError with its message when it fails."""
    argv = [str(c) for c in cmd]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise DriverError(f"{argv[0]} is not installed on this compute host") from exc
    except subprocess.TimeoutExpired as exc:
        raise DriverError(f"{argv[0]} did not finish within {timeout:.0f}s") from exc
    if proc.returncode != 0:
        message = (proc.stderr or proc.stdout).strip().splitlines()
        raise DriverError(
            f"{argv[0]} {argv[1]} failed: {' '.join(message[-3:]) or proc.returncode}"
        )
    return proc.stdout


def image_info(path: Path, fmt: str | None = None) -> dict[str, Any]:
    """``qemu-img info`` of a file (read even while a running QEMU holds it)."""
    cmd: list[str | Path] = ["qemu-img", "info", "--output=json", "-U"]
    if fmt:
        cmd += ["-f", fmt]
    info: dict[str, Any] = json.loads(run([*cmd, path], timeout=60))
    return info


def virtual_size(path: Path, fmt: str | None = None) -> int:
    """The disk's size as the guest sees it, in bytes."""
    return int(image_info(path, fmt)["virtual-size"])


def host_disk_gb(path: Path) -> int:
    """Size of the filesystem holding path (or its nearest existing parent), in GiB."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).total // GIB


def _tmp(path: Path, tag: str = "tmp") -> Path:
    return path.with_name(f".{path.name}.{tag}")


def _discard(*paths: Path) -> None:
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def detect_format(path: Path) -> str:
    """The format qemu-img recognises in a file (for images whose format is not recorded)."""
    if not path.is_file():
        raise DriverError(f"The image file {path} is missing on this compute host")
    return str(image_info(path)["format"])


def check_image(image: Path, fmt: str) -> None:
    """The image must exist, be of a format QEMU reads, and refer to no other file."""
    if fmt not in BACKING_FORMATS:
        raise DriverError(f"Disk format {fmt!r} cannot be booted (use qcow2 or raw)")
    if not image.is_file():
        raise DriverError(f"The image file {image} is missing on this compute host")
    info = image_info(image, fmt)
    # A qcow2 naming a backing or data file of its own would let an image read host files.
    if info.get("backing-filename") or info.get("format-specific", {}).get("data", {}).get(
        "data-file"
    ):
        raise DriverError("The image refers to another file (backing or data file)")


def create_overlay(path: Path, base: Path, base_format: str, size_gb: int = 0) -> None:
    """A qcow2 overlay on base, at least size_gb large (0: base's size). Kept if present."""
    if path.exists():
        if size_gb > 0:
            grow(path, size_gb)
        return
    check_image(base, base_format)
    base_size = virtual_size(base, base_format)
    if size_gb > 0 and size_gb * GIB < base_size:
        raise DriverError(
            f"The flavor's disk ({size_gb} GiB) is smaller than the image "
            f"({-(-base_size // GIB)} GiB virtual size)"
        )
    tmp = _tmp(path)
    _discard(tmp)
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd: list[str | Path] = [
        "qemu-img", "create", "-q", "-f", "qcow2", "-F", base_format, "-b", base.resolve(), tmp,
    ]  # fmt: skip
    if size_gb > 0 and size_gb * GIB > base_size:
        cmd.append(str(size_gb * GIB))
    try:
        run(cmd, timeout=120)
        os.replace(tmp, path)
    finally:
        _discard(tmp)


def create_root_disk(instance_dir: Path, spec: InstanceSpec) -> Path:
    """The root disk of spec in instance_dir (an overlay on spec.image_path)."""
    path = instance_dir / ROOT_DISK
    create_overlay(path, spec.image_path, spec.image_format, spec.root_gb)
    return path


def ephemeral_filesystem(extra: Mapping[str, str]) -> str | None:
    """What Nova would format an ephemeral disk with, given the image's os_type."""
    os_type = extra.get("os_type", "linux").lower()
    if os_type == "linux" and shutil.which("mkfs.ext4"):
        return "ext4"
    if shutil.which("mkfs.vfat"):
        return "vfat"
    return None


def create_ephemeral_disk(
    path: Path, size_gb: int, filesystem: str | None = "ext4", label: str = EPHEMERAL_LABEL
) -> None:
    """A qcow2 disk of size_gb formatted with filesystem (None: left blank). Kept if present."""
    if path.exists():
        return
    if size_gb <= 0:
        raise DriverError("An ephemeral disk needs a size")
    raw = _tmp(path, "raw")
    tmp = _tmp(path)
    _discard(raw, tmp)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if filesystem is None:
            run(["qemu-img", "create", "-q", "-f", "qcow2", tmp, str(size_gb * GIB)], timeout=60)
        else:
            # mkfs needs a block device or a plain file: format a sparse raw file, then
            # store it as qcow2 (qemu-img skips the zeros, so it stays small).
            with raw.open("wb") as f:
                f.truncate(size_gb * GIB)
            run(mkfs_command(filesystem, label, raw), timeout=600)
            run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw, tmp])
        os.replace(tmp, path)
    finally:
        _discard(raw, tmp)


def mkfs_command(filesystem: str, label: str, target: Path) -> list[str | Path]:
    if filesystem == "ext4":
        return [
            "mkfs.ext4", "-q", "-F", "-L", label,
            "-E", "lazy_itable_init=1,lazy_journal_init=1", target,
        ]  # fmt: skip
    if filesystem == "vfat":
        return ["mkfs.vfat", "-n", label.upper()[:11], target]
    raise DriverError(f"Unknown ephemeral filesystem {filesystem!r}")


def create_swap_disk(path: Path, size_mb: int) -> None:
    """A sparse raw file of size_mb with a swap signature. Kept if present."""
    if path.exists():
        return
    if size_mb <= 0:
        raise DriverError("A swap disk needs a size")
    tmp = _tmp(path)
    _discard(tmp)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tmp.open("wb") as f:
            f.truncate(size_mb * MIB)
        run(["mkswap", tmp], timeout=60)
        os.replace(tmp, path)
    finally:
        _discard(tmp)


def create_disks(instance_dir: Path, spec: InstanceSpec) -> InstanceDisks:
    """Root, ephemeral and swap disks of spec in instance_dir (those the flavor has)."""
    instance_dir.mkdir(parents=True, exist_ok=True)
    root = create_root_disk(instance_dir, spec)
    ephemeral = swap = None
    if spec.ephemeral_gb > 0:
        ephemeral = instance_dir / EPHEMERAL_DISK
        create_ephemeral_disk(ephemeral, spec.ephemeral_gb, ephemeral_filesystem(spec.extra))
    if spec.swap_mb > 0:
        swap = instance_dir / SWAP_DISK
        create_swap_disk(swap, spec.swap_mb)
    return InstanceDisks(root, ephemeral, swap)


def grow(path: Path, size_gb: int) -> None:
    """Grow a qcow2 disk to size_gb; never shrinks (DriverError if asked to)."""
    current = virtual_size(path, "qcow2")
    wanted = size_gb * GIB
    if wanted < current:
        raise DriverError(
            f"A disk cannot shrink ({-(-current // GIB)} GiB now, {size_gb} GiB asked)"
        )
    if wanted > current:
        run(["qemu-img", "resize", "-q", "-f", "qcow2", path, str(wanted)], timeout=120)


def resize_disk(instance_dir: Path, root_gb: int) -> None:
    """Grow the root disk of the instance in instance_dir to root_gb."""
    path = instance_dir / ROOT_DISK
    if not path.exists():
        raise DriverError("The instance has no root disk on this host")
    if root_gb > 0:
        grow(path, root_gb)


def flatten(source: Path, target: Path, *, in_use: bool = False) -> str:
    """Write source with its backing chain merged into one qcow2 at target.

    in_use: the disk is open in a QEMU that the caller paused (its writes are
    flushed), so the lock is shared. Returns the disk format written.
    """
    if not source.exists():
        raise DriverError("The instance has no root disk on this host")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(target)
    _discard(tmp)
    cmd: list[str | Path] = ["qemu-img", "convert", "-q", "-O", "qcow2"]
    if in_use:
        cmd.append("-U")
    try:
        run([*cmd, "-f", "qcow2", source, tmp])
        os.replace(tmp, target)
    finally:
        _discard(tmp)
    return "qcow2"


def remove_disks(instance_dir: Path) -> None:
    """Remove the disk files of an instance (the directory itself stays)."""
    for name in (ROOT_DISK, EPHEMERAL_DISK, SWAP_DISK, RESCUE_DISK):
        _discard(instance_dir / name, _tmp(instance_dir / name))
