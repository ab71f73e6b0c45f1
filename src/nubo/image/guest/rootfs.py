"""Filling a root filesystem tree from unpacked Debian packages.

The tiny image takes single programs out of packages (busybox, dropbear)
with exactly the shared libraries they load, found by reading their ELF
headers, instead of installing packages with dpkg.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from nubo.image.guest.elf import ElfFile
from nubo.image.guest.errors import GuestImageError
from nubo.image.guest.process import run

# Where Debian's amd64 loader looks for libraries, in its order.
LIBRARY_DIRS = ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib", "usr/lib")


def _resolve_link(pkgroot: Path, rel: str) -> str:
    """Where the symlink pkgroot/rel points, as a path relative to pkgroot."""
    target = os.readlink(pkgroot / rel)
    joined = target.lstrip("/") if target.startswith("/") else str(Path(rel).parent / target)
    return os.path.normpath(joined)


def copy_path(pkgroot: Path, root: Path, rel: str) -> None:
    """Copy pkgroot/rel to root/rel; a symlink is copied with what it points to."""
    seen: set[str] = set()
    while rel not in seen:
        seen.add(rel)
        src = pkgroot / rel
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            if not dest.is_symlink():
                dest.unlink(missing_ok=True)
                dest.symlink_to(os.readlink(src))
            rel = _resolve_link(pkgroot, rel)
            continue
        if not src.is_file():
            raise GuestImageError(f"{rel} is not in the unpacked packages")
        shutil.copy2(src, dest)
        return


def find_library(pkgroot: Path, soname: str) -> str:
    for directory in LIBRARY_DIRS:
        rel = f"{directory}/{soname}"
        if (pkgroot / rel).exists() or (pkgroot / rel).is_symlink():
            return rel
    raise GuestImageError(f"library {soname} is in none of the unpacked packages")


def install_program(pkgroot: Path, root: Path, rel: str) -> list[str]:
    """Copy a program and every shared library it loads; returns the libraries."""
    copy_path(pkgroot, root, rel)
    libraries: list[str] = []
    queue = [rel]
    done: set[str] = set()
    while queue:
        current = queue.pop()
        if current in done:
            continue
        done.add(current)
        real = (pkgroot / current).resolve()
        elf = ElfFile.read(real)
        interpreter = elf.interpreter()
        if interpreter:
            copy_path(pkgroot, root, interpreter.lstrip("/"))
        for soname in elf.needed():
            lib = find_library(pkgroot, soname)
            if lib not in libraries:
                libraries.append(lib)
                copy_path(pkgroot, root, lib)
                target = lib
                while (pkgroot / target).is_symlink():
                    target = _resolve_link(pkgroot, target)
                queue.append(target)
    return libraries


def install_busybox(busybox: Path, root: Path) -> list[str]:
    """Put busybox in /bin and a symlink for each of its applets."""
    dest = root / "bin" / "busybox"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(busybox, dest)
    dest.chmod(0o755)
    applets = applet_paths(busybox)
    for applet in applets:
        link = root / applet
        if link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to("/bin/busybox")
    return applets


def applet_paths(busybox: Path) -> list[str]:
    """The applets of a busybox binary, as paths ("bin/sh", "sbin/init", ...)."""
    # The binary is Debian's static busybox for this very architecture.
    return [line.strip("/") for line in run([busybox, "--list-full"]).split() if line]


def write_files(root: Path, files: Mapping[str, tuple[str | bytes, int]]) -> None:
    """Write path -> (content, mode) under root."""
    for rel, (content, mode) in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        path.write_bytes(data)
        path.chmod(mode)


def make_dirs(root: Path, dirs: Iterable[tuple[str, int]]) -> None:
    for rel, mode in dirs:
        path = root / rel
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(mode)


def normalize_times(root: Path, when: int) -> None:
    """One timestamp on every entry, so the filesystem image is reproducible."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.utime(Path(dirpath) / name, (when, when), follow_symlinks=False)
    os.utime(root, (when, when))
