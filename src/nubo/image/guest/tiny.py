"""nubo-tiny: a guest image of a few MB, in the spirit of CirrOS.

Debian's kernel, busybox-static and dropbear (with exactly the libraries it
loads), and nubo-init as the boot sequence. The disk has a FAT boot
partition (syslinux, kernel, an initramfs of busybox and the drivers a guest
needs) and an ext4 root partition labelled nubo-root; the same root
filesystem runs as a namespace container (see extract_rootfs).
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nubo.image.guest import disk
from nubo.image.guest.cache import FILES, cached_build, recipe_digest
from nubo.image.guest.cpio import EPOCH, CpioWriter
from nubo.image.guest.debs import Apt, unpack
from nubo.image.guest.kmod import Kernel, prepare_kernel
from nubo.image.guest.markers import IMAGE_PROPERTIES
from nubo.image.guest.process import require
from nubo.image.guest.rootfs import (
    applet_paths,
    install_busybox,
    install_program,
    make_dirs,
    normalize_times,
    write_files,
)

DISK_SIZE = 128 * disk.MIB
BOOT_SIZE = 32 * disk.MIB
ROOT_LABEL = "nubo-root"
# Cloud images share their filesystem UUIDs too; nothing mounts by UUID.
ROOT_UUID = "6e75626f-7469-6e79-8000-000000000001"
KERNEL_ARGS = f"root=LABEL={ROOT_LABEL} rw console=tty0 console=ttyS0,115200n8"
# The build code whose changes make a new image (with files/).
_RECIPE_MODULES = ("tiny", "disk", "debs", "kmod", "elf", "cpio", "rootfs", "cache")
# libc6 pulls in libgcc-s1 and, through it, gcc-12-base (documentation only).
_EXCLUDE = ("gcc-12-base",)

GUEST_SCRIPTS = {
    "usr/lib/nubo-init/boot": ("boot", 0o755),
    "usr/lib/nubo-init/shutdown": ("shutdown", 0o755),
    "usr/lib/nubo-init/udhcpc.script": ("udhcpc.script", 0o755),
    "usr/lib/nubo-init/json.awk": ("json.awk", 0o644),
    "usr/lib/nubo-init/cloud-config.awk": ("cloud-config.awk", 0o644),
    "etc/inittab": ("inittab", 0o644),
    "etc/acpi/PWRF/00000080": ("acpi-power-button", 0o755),
}


def build_tiny(cache_dir: Path, say: Callable[[str], None], *, rebuild: bool = False) -> Path:
    """Build (or find in cache_dir) the nubo-tiny qcow2 image; returns its path."""
    digest = recipe_digest("tiny", _RECIPE_MODULES)
    return cached_build(
        cache_dir,
        "tiny",
        digest,
        lambda work: _build(cache_dir.resolve(), work, say, digest),
        say,
        rebuild=rebuild,
    )


def _build(
    cache_dir: Path, work: Path, say: Callable[[str], None], digest: str
) -> tuple[Path, dict[str, Any]]:
    require("apt-get", "apt-cache", "dpkg-deb", "mke2fs", "mkfs.vfat", "mcopy", "syslinux")
    require("qemu-img")
    if os.geteuid() != 0:
        require("debugfs")
    apt = Apt(cache_dir / "debs")
    say("resolving Debian packages (kernel, busybox-static, dropbear-bin)")
    meta = apt.package("linux-image-amd64")
    kernel_pkg = apt.package(meta.depends[0][0])
    userland = apt.closure(["busybox-static", "dropbear-bin"], exclude=_EXCLUDE)
    debs = apt.download([kernel_pkg, *userland])
    say(f"unpacking {kernel_pkg.name} {kernel_pkg.version}")
    kernel = prepare_kernel(debs[kernel_pkg.name], cache_dir / "kernel" / kernel_pkg.deb_name)

    pkgroot = work / "packages"
    for package in userland:
        unpack(debs[package.name], pkgroot, lambda name: not name.startswith("usr/share/"))
    versions = {p.name: p.version for p in [kernel_pkg, *userland]}
    release = (
        f"nubo-tiny {digest[:12]} (Debian kernel {kernel.version}, busybox "
        f"{versions['busybox-static']}, dropbear {versions['dropbear-bin']})"
    )

    say("assembling the root filesystem")
    root = work / "rootfs"
    make_rootfs(pkgroot, root, release)
    normalize_times(root, EPOCH)

    say("building the initramfs")
    busybox = pkgroot / "bin" / "busybox"
    initrd = build_initramfs(busybox, kernel)

    say("writing the disk")
    boot = work / "boot.img"
    first = disk.MIB
    disk.make_fat(
        boot,
        BOOT_SIZE,
        "NUBOBOOT",
        {
            "vmlinuz": kernel.vmlinuz,
            "initrd.img": initrd,
            "syslinux.cfg": syslinux_config(KERNEL_ARGS).encode(),
        },
        hidden_sectors=first // disk.SECTOR,
    )
    root_img = work / "root.img"
    root_size = DISK_SIZE - first - BOOT_SIZE
    disk.make_ext4(root_img, root_size, root, ROOT_LABEL, ROOT_UUID)
    raw = work / "disk.raw"
    disk.assemble(
        raw,
        DISK_SIZE,
        [
            (disk.Partition(first, BOOT_SIZE, disk.TYPE_FAT16_LBA, bootable=True), boot),
            (disk.Partition(first + BOOT_SIZE, root_size, disk.TYPE_LINUX), root_img),
        ],
    )
    qcow2 = work / "disk.qcow2"
    disk.to_qcow2(raw, qcow2)
    manifest: dict[str, Any] = {
        "release": release,
        "kernel": kernel.version,
        "kernel_args": KERNEL_ARGS,
        "packages": versions,
        "modules": [m.name.removesuffix(".ko") for m in kernel.modules],
        "initramfs_size": len(initrd),
        "disk_format": "qcow2",
        "container_format": "bare",
        "virtual_size": DISK_SIZE,
        "min_disk": 1,
        "min_ram": 128,
        "login_user": "root",
        "root_label": ROOT_LABEL,
        "properties": dict(IMAGE_PROPERTIES),
    }
    return qcow2, manifest


def syslinux_config(kernel_args: str) -> str:
    # No menu, no wait: straight to the kernel, the loader's own output on
    # the serial port too.
    return (
        "SERIAL 0 115200\n"
        "DEFAULT nubo\n"
        "PROMPT 0\n"
        "TIMEOUT 0\n"
        "LABEL nubo\n"
        "  LINUX /vmlinuz\n"
        "  INITRD /initrd.img\n"
        f"  APPEND {kernel_args}\n"
    )


def make_rootfs(pkgroot: Path, root: Path, release: str) -> None:
    """The tiny image's root filesystem tree, from the unpacked packages."""
    make_dirs(
        root,
        [
            ("proc", 0o555),
            ("sys", 0o555),
            ("dev", 0o755),
            ("run", 0o755),
            ("tmp", 0o1777),
            ("root", 0o700),
            ("home", 0o755),
            ("mnt", 0o755),
            ("etc/dropbear", 0o700),
            ("var/lib/nubo-init", 0o700),
            ("var/log", 0o755),
            ("var/tmp", 0o1777),
        ],
    )
    (root / "var" / "run").symlink_to("../run")
    install_busybox(pkgroot / "bin" / "busybox", root)
    for program in ("usr/sbin/dropbear", "usr/bin/dropbearkey", "usr/bin/dbclient"):
        install_program(pkgroot, root, program)
    scripts = {
        dest: ((FILES / name).read_bytes(), mode) for dest, (name, mode) in GUEST_SCRIPTS.items()
    }
    write_files(root, scripts)
    write_files(root, etc_files(release))


def etc_files(release: str) -> dict[str, tuple[str | bytes, int]]:
    """Accounts and settings of the tiny image (root logs in with a key only)."""
    return {
        "etc/passwd": (
            "root:x:0:0:root:/root:/bin/sh\n"
            "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
            0o644,
        ),
        "etc/group": ("root:x:0:\ndaemon:x:1:\ntty:x:5:\nnogroup:x:65534:\n", 0o644),
        # "*" matches no password yet is not a lock ("!"), which dropbear
        # would hold against key logins too.
        "etc/shadow": (
            "root:*:19700:0:99999:7:::\ndaemon:*:19700:0:99999:7:::\nnobody:*:19700:0:99999:7:::\n",
            0o600,
        ),
        "etc/shells": ("/bin/sh\n/bin/ash\n", 0o644),
        "etc/hostname": ("nubo-tiny\n", 0o644),
        "etc/hosts": ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n", 0o644),
        "etc/resolv.conf": ("", 0o644),
        "etc/nsswitch.conf": (
            "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n",
            0o644,
        ),
        "etc/profile": (
            "export PATH=/usr/sbin:/usr/bin:/sbin:/bin\nexport PS1='\\u@\\h:\\w\\$ '\numask 022\n",
            0o644,
        ),
        "etc/motd": (
            f"{release}\n"
            "busybox userland; boot log: dmesg and /var/log/messages, nubo-init state in\n"
            "/run/nubo-init and /var/lib/nubo-init.\n",
            0o644,
        ),
        "etc/nubo-release": (release + "\n", 0o644),
        "etc/os-release": (
            f'NAME="nubo tiny"\nID=nubo-tiny\nPRETTY_NAME="nubo tiny guest"\nVERSION="{release}"\n',
            0o644,
        ),
        "etc/fstab": ("# nubo-init mounts what the guest needs; nothing here.\n", 0o644),
    }


def build_initramfs(busybox: Path, kernel: Kernel) -> bytes:
    """The gzip'd cpio initramfs: busybox, files/initramfs-init, the modules."""
    w = CpioWriter()
    for directory in ("bin", "dev", "etc", "lib/modules", "newroot", "proc", "sys", "run", "tmp"):
        w.directory(directory)
    # The kernel opens /dev/console for init before anything is mounted.
    w.char_device("dev/console", 5, 1)
    w.char_device("dev/null", 1, 3, 0o666)
    w.file("bin/busybox", busybox.read_bytes(), 0o755)
    for name in sorted({p.rsplit("/", 1)[-1] for p in applet_paths(busybox)} - {"busybox"}):
        w.symlink(f"bin/{name}", "busybox")
    w.file("init", (FILES / "initramfs-init").read_bytes(), 0o755)
    names = []
    for module in kernel.modules:
        name = module.name.removesuffix(".ko")
        names.append(name)
        w.file(f"lib/modules/{name}.ko", module.read_bytes())
    w.file("etc/modules", ("\n".join(names) + "\n").encode())
    return gzip.compress(w.data(), compresslevel=9, mtime=0)
