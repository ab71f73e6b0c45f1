"""extract_rootfs: a disk image's root filesystem as a directory.

A namespace-container driver runs an image by starting its /sbin/init over
this directory (usually as the lower layer of an overlay). The image is
read with qemu-img and debugfs, so nothing is mounted and no loop device is
used; the root filesystem must be ext2/3/4.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

from nubo.image.guest.disk import ExtFilesystem, debugfs_source, find_ext_filesystems, to_raw
from nubo.image.guest.errors import GuestImageError
from nubo.image.guest.process import require, run

# Labels root filesystems carry in nubo's and common cloud images.
ROOT_LABELS = ("nubo-root", "cloudimg-rootfs", "rootfs", "root")


def choose_root(filesystems: list[ExtFilesystem]) -> ExtFilesystem:
    """The root among a disk's ext filesystems: a known label, else the largest."""
    if not filesystems:
        raise GuestImageError("no ext2/3/4 filesystem on the image (only those can be extracted)")
    for label in ROOT_LABELS:
        for fs in filesystems:
            if fs.label == label:
                return fs
    return max(filesystems, key=lambda fs: fs.size)


def parse_ls(output: str) -> dict[str, dict[str, int]]:
    """Directory -> {name: mode} from the output of debugfs `ls -p` commands."""
    listing: dict[str, dict[str, int]] = {}
    current: dict[str, int] | None = None
    for line in output.splitlines():
        if line.startswith("debugfs: ls -p "):
            directory = line.removeprefix("debugfs: ls -p ").strip().strip('"')
            current = listing.setdefault(directory, {})
        elif current is not None and line.startswith("/"):
            # /inode/mode/uid/gid/name/size/
            fields = line.split("/")
            if len(fields) >= 7 and fields[5] not in (".", ".."):
                current[fields[5]] = int(fields[2], 8)
    return listing


def restore_modes(source: str, root: Path, script: Path) -> None:
    """Put back the setuid, setgid and sticky bits rdump loses.

    debugfs's rdump changes a file's owner after its mode, which clears
    setuid/setgid (sudo stops working), and it drops the sticky bit (/tmp
    becomes a plain world-writable directory). The filesystem's own
    listing, one `ls -p` per directory, says what each mode should be.
    """
    below = sorted("/" + str(Path(d).relative_to(root)) for d, _, _ in os.walk(root))
    directories = ["/", *(d for d in below if d != "/.")]
    script.write_text("".join(f'ls -p "{d}"\n' for d in directories if '"' not in d))
    listing = parse_ls(run(["debugfs", "-f", script, source]))
    for directory, entries in listing.items():
        for name, mode in entries.items():
            if not mode & 0o7000 or stat.S_ISLNK(mode):
                continue
            path = root / directory.lstrip("/") / name
            if path.exists() and not path.is_symlink():
                path.chmod(stat.S_IMODE(mode))


def _format(image: Path) -> str:
    info = json.loads(run(["qemu-img", "info", "--output=json", image]))
    return str(info.get("format", ""))


def extract_rootfs(image: Path, dest: Path) -> None:
    """Copy the root filesystem of a disk image (qcow2 or raw) into dest.

    dest must not exist or be empty; it is filled completely or not at all.
    Owners, modes, symlinks and timestamps are kept (owners only when run as
    root); device nodes, sockets and extended attributes (file capabilities)
    are not, and hard links become copies.
    """
    require("qemu-img", "debugfs")
    dest = dest.absolute()
    if dest.exists() and any(dest.iterdir()):
        raise GuestImageError(f"{dest} is not empty")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".nubo-extract-", dir=dest.parent) as tmp:
        work = Path(tmp)
        raw = image
        if _format(image) != "raw":
            raw = work / "disk.raw"
            to_raw(image, raw)
        with raw.open("rb") as f:
            root = choose_root(find_ext_filesystems(f))
        staging = work / "rootfs"
        staging.mkdir()
        request = f'rdump / "{staging}"'
        run(["debugfs", "-R", request, debugfs_source(raw, root.offset)])
        if not any(staging.iterdir()):
            raise GuestImageError(f"debugfs extracted nothing from {image}")
        restore_modes(debugfs_source(raw, root.offset), staging, work / "modes.debugfs")
        if dest.exists():
            dest.rmdir()
        shutil.move(str(staging), dest)
