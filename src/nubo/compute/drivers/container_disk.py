"""The container driver's files: image root filesystems, snapshots, overlay checks.

An image's root filesystem is extracted once into ``_base/<image file
stem>.rootfs/`` (the overlay's lower layer for every instance of the image).
A snapshot rebuilds the image's root partition from the merged view of an
instance: its ``upper/`` layer over that tree, mounted read-only in a private
mount namespace, copied by ``mke2fs -d`` with the partition's label, UUID and
block size, on a raw copy of the image then converted to qcow2 (the boot
partition and everything else on the disk are the image's own).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import shutil
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from nubo.compute.drivers.base import DriverError
from nubo.image.guest import GuestImageError, extract_rootfs
from nubo.image.guest.disk import find_ext_filesystems
from nubo.image.guest.extract import choose_root

log = logging.getLogger(__name__)

BASE_DIR = "_base"
ROOTFS_SUFFIX = ".rootfs"

# A read-only overlay of the instance's layer over the image's tree, copied
# into the root partition of a raw disk. Arguments: upper, lower, mount point,
# then mke2fs's arguments.
SNAPSHOT = """\
set -e
mount -t overlay overlay -o "ro,lowerdir=$1:$2" "$3"
shift 3
exec mke2fs "$@"
"""


def rootfs_dir(instances_dir: Path, image_path: Path) -> Path:
    """Where the image's root filesystem is extracted, once per image file."""
    return instances_dir / BASE_DIR / (image_path.stem + ROOTFS_SUFFIX)


def overlay_safe(path: Path) -> bool:
    """Overlay options are comma- and colon-separated: such paths cannot be given."""
    return not any(c in str(path) for c in ",:\\\n")


def base_rootfs(instances_dir: Path, image: Path) -> Path:
    """The image's root filesystem, extracted on first use (one extraction at a
    time per image, whatever the number of spawns)."""
    rootfs = rootfs_dir(instances_dir, image)
    if (rootfs / "etc").is_dir():
        return rootfs
    if not image.exists():
        raise DriverError(f"The image file {image} is missing on this host.")
    rootfs.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(rootfs.with_suffix(".lock")):
        if not (rootfs / "etc").is_dir():
            start = time.monotonic()
            if rootfs.exists():
                shutil.rmtree(rootfs)
            try:
                extract_rootfs(image, rootfs)
            except GuestImageError as exc:
                raise DriverError(f"The image cannot run as a container: {exc}") from exc
            log.info("extracted %s to %s in %.1fs", image.name, rootfs, time.monotonic() - start)
    return rootfs


def write_snapshot(
    image: Path,
    upper: Path,
    lower: Path,
    target: Path,
    scratch: Path,
    quiesce: contextlib.AbstractContextManager[None] | None = None,
) -> None:
    """Write image with its root partition rebuilt from upper over lower to target
    (qcow2). scratch is an empty directory for the raw copy; quiesce, if given,
    is held while the files are copied (a running container frozen)."""
    raw = scratch / "disk.raw"
    run(["qemu-img", "convert", "-O", "raw", image, raw])
    with raw.open("rb") as f:
        try:
            root = choose_root(find_ext_filesystems(f))
        except GuestImageError as exc:
            raise DriverError(str(exc)) from exc
        uuid, block_size = ext_identity(f, root.offset)
    merged = scratch / "merged"
    merged.mkdir()
    mke2fs = ["-q", "-F", "-t", "ext4", "-b", str(block_size), "-L", root.label, "-U", uuid]
    mke2fs += ["-E", f"offset={root.offset},root_owner=0:0", "-d", str(merged)]
    mke2fs += [str(raw), f"{root.size // 1024}k"]
    cmd = ["unshare", "--mount", "--propagation=private", "--", "sh", "-c", SNAPSHOT]
    cmd += ["nubo-snapshot", str(upper), str(lower), str(merged), *mke2fs]
    with quiesce or contextlib.nullcontext():
        try:
            run(cmd)
        except DriverError as exc:
            raise DriverError(
                f"The instance's files do not fit the image's root partition "
                f"({root.size >> 20} MiB) or cannot be copied: {exc}"
            ) from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, target])


def ext_identity(f: BinaryIO, offset: int) -> tuple[str, int]:
    """The UUID and block size of the ext filesystem at offset."""
    f.seek(offset + 1024)
    sb = f.read(1024)
    (log_block,) = struct.unpack_from("<I", sb, 0x18)
    raw = sb[0x68:0x78]
    h = raw.hex()
    uuid = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return uuid, 1024 << log_block


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on path (created if need be) for the block."""
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def overlay_mountable(directory: Path | None = None) -> tuple[bool, str]:
    """Mount an overlay in a private mount namespace, as a container start does
    (its layers in directory, else in the temporary directory)."""
    if directory is not None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return False, f"cannot create {directory}: {exc.strerror}"
    with tempfile.TemporaryDirectory(prefix=".nubo-overlay-check-", dir=directory) as tmp:
        base = Path(tmp)
        for sub in ("lower", "upper", "work", "merged"):
            (base / sub).mkdir()
        options = f"lowerdir={base / 'lower'},upperdir={base / 'upper'},workdir={base / 'work'}"
        cmd = [
            "unshare",
            "--mount",
            "--propagation=private",
            "--",
            "mount",
            "-t",
            "overlay",
            "overlay",
            "-o",
            options,
            str(base / "merged"),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, f"cannot try an overlay mount: {exc}"
        if proc.returncode != 0:
            reason = proc.stderr.strip() or f"exit status {proc.returncode}"
            return False, f"cannot mount overlayfs in a private mount namespace: {reason}"
    return True, "overlayfs"


def run(cmd: Sequence[str | Path], timeout: float = 600) -> str:
    """Run a tool; its failure raises DriverError with its error output."""
    args = [str(c) for c in cmd]
    try:
        proc = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError as exc:
        raise DriverError(f"{args[0]} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise DriverError(f"{args[0]} did not finish within {timeout:.0f}s") from exc
    if proc.returncode != 0:
        raise DriverError(f"{args[0]} failed: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def mounts_below(directory: Path) -> list[str]:
    """Mount points at or below directory in nubo's own mount namespace."""
    prefix = str(directory.absolute())
    found = []
    with contextlib.suppress(FileNotFoundError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) > 1:
                point = fields[1].replace("\\040", " ")
                if point == prefix or point.startswith(prefix + "/"):
                    found.append(point)
    return found
