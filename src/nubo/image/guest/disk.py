"""Disk images built from files, without mounting anything.

A guest disk is an MBR with two partitions: a small FAT boot partition
(syslinux, the kernel and the initramfs) and an ext4 root partition. Each
partition is made as a file (mkfs.vfat + mtools + `syslinux --install`,
`mke2fs -d`), then copied into place behind a master boot record written
here, and the whole converted to qcow2. Nothing needs a loop device, a
mount or root. The same module reads disks back: partition tables (MBR and
GPT) and ext2/3/4 superblocks, for extract_rootfs.
"""

from __future__ import annotations

import os
import shlex
import shutil
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from nubo.image.guest.errors import GuestImageError
from nubo.image.guest.process import run

SECTOR = 512
MIB = 1 << 20
# The syslinux package's boot code for an MBR disk.
SYSLINUX_MBR = Path("/usr/lib/syslinux/mbr/mbr.bin")
# A fixed time for filesystem timestamps keeps builds reproducible.
FAKE_TIME = "1700000000"

TYPE_FAT16_LBA = 0x0E
TYPE_LINUX = 0x83
_GPT_PROTECTIVE = 0xEE
_EXT_MAGIC = 0xEF53


@dataclass(frozen=True)
class Partition:
    """A partition: where it is (bytes) and its MBR type (0 on GPT disks)."""

    start: int
    size: int
    type: int = TYPE_LINUX
    bootable: bool = False


def _chs(lba: int) -> bytes:
    """CHS address of lba in the usual 255-head, 63-sector geometry."""
    if lba >= 1024 * 255 * 63:
        return b"\xfe\xff\xff"
    cylinder, rest = divmod(lba, 255 * 63)
    head, sector = divmod(rest, 63)
    return bytes([head, (sector + 1) | ((cylinder >> 2) & 0xC0), cylinder & 0xFF])


def mbr(partitions: Sequence[Partition], boot_code: bytes, disk_id: int) -> bytes:
    """The 512-byte master boot record for up to four primary partitions."""
    if len(partitions) > 4:
        raise GuestImageError("an MBR holds at most four primary partitions")
    entries = b""
    for p in partitions:
        if p.start % SECTOR or p.size % SECTOR:
            raise GuestImageError("partitions must be sector aligned")
        first, count = p.start // SECTOR, p.size // SECTOR
        entries += struct.pack(
            "<B3sB3sII",
            0x80 if p.bootable else 0,
            _chs(first),
            p.type,
            _chs(first + count - 1),
            first,
            count,
        )
    code = boot_code[:440].ljust(440, b"\0")
    return code + struct.pack("<IH", disk_id, 0) + entries.ljust(64, b"\0") + b"\x55\xaa"


def read_partitions(f: BinaryIO) -> list[Partition]:
    """The partitions of a disk image: MBR primaries or GPT entries.

    An empty list means no partition table (a filesystem on the whole disk).
    """
    f.seek(0)
    sector = f.read(SECTOR)
    if len(sector) < SECTOR or sector[510:512] != b"\x55\xaa":
        return []
    entries = [struct.unpack_from("<B3sB3sII", sector, 446 + 16 * i) for i in range(4)]
    if any(e[2] == _GPT_PROTECTIVE for e in entries):
        return _read_gpt(f)
    # A FAT or NTFS boot sector also ends in 55 AA; a real table has sane entries.
    parts = []
    for status, _chs_first, ptype, _chs_last, first, count in entries:
        if ptype == 0 or count == 0:
            continue
        if status not in (0, 0x80) or ptype in (0x05, 0x0F, 0x85):
            continue
        parts.append(Partition(first * SECTOR, count * SECTOR, ptype, status == 0x80))
    return parts


def _read_gpt(f: BinaryIO) -> list[Partition]:
    f.seek(SECTOR)
    header = f.read(92)
    if header[:8] != b"EFI PART":
        raise GuestImageError("protective MBR without a GPT header")
    (entries_lba,) = struct.unpack_from("<Q", header, 72)
    count, entry_size = struct.unpack_from("<II", header, 80)
    f.seek(entries_lba * SECTOR)
    table = f.read(count * entry_size)
    parts = []
    for i in range(count):
        entry = table[i * entry_size : (i + 1) * entry_size]
        if len(entry) < 48 or entry[:16] == b"\0" * 16:
            continue
        first, last = struct.unpack_from("<QQ", entry, 32)
        parts.append(Partition(first * SECTOR, (last - first + 1) * SECTOR, 0))
    return parts


@dataclass(frozen=True)
class ExtFilesystem:
    """An ext2/3/4 filesystem found on a disk."""

    offset: int
    size: int
    label: str


def find_ext_filesystems(f: BinaryIO) -> list[ExtFilesystem]:
    """Every ext2/3/4 filesystem on the disk, by partition (or whole disk)."""
    f.seek(0, os.SEEK_END)
    disk_size = f.tell()
    found = []
    for p in read_partitions(f) or [Partition(0, disk_size)]:
        f.seek(p.start + 1024)
        superblock = f.read(1024)
        if len(superblock) < 136:
            continue
        (magic,) = struct.unpack_from("<H", superblock, 0x38)
        if magic == _EXT_MAGIC:
            label = superblock[0x78:0x88].split(b"\0")[0].decode(errors="replace")
            found.append(ExtFilesystem(p.start, p.size, label))
    return found


def make_fat(
    path: Path,
    size: int,
    label: str,
    files: Mapping[str, Path | bytes],
    *,
    hidden_sectors: int,
    volume_id: str = "6e75626f",
) -> None:
    """A FAT filesystem image holding files and, bootable, syslinux.

    hidden_sectors is where the partition starts on its disk: syslinux's
    boot sector adds it to find its loader.
    """
    path.unlink(missing_ok=True)
    with path.open("wb") as f:
        f.truncate(size)
    run(
        [
            "mkfs.vfat",
            "--invariant",
            "-n",
            label,
            "-i",
            volume_id,
            "-h",
            str(hidden_sectors),
            path,
        ]
    )
    env = {"MTOOLS_SKIP_CHECK": "1"}
    staging = path.with_suffix(".files")
    staging.mkdir(exist_ok=True)
    try:
        for name, content in files.items():
            src = staging / name
            if isinstance(content, bytes):
                src.write_bytes(content)
            else:
                shutil.copyfile(content, src)
            # mcopy -m keeps the source's time: a fixed one, for reproducibility.
            os.utime(src, (int(FAKE_TIME), int(FAKE_TIME)))
            run(["mcopy", "-m", "-o", "-i", path, src, f"::{name}"], env=env)
    finally:
        for leftover in staging.iterdir():
            leftover.unlink()
        staging.rmdir()
    # The mtools build of syslinux writes into the image file; no mount.
    run(["syslinux", "--install", path], env=env)


def make_ext4(path: Path, size: int, rootdir: Path, label: str, uuid: str) -> None:
    """An ext4 image of size bytes holding rootdir's tree, owned by root."""
    path.unlink(missing_ok=True)
    run(
        [
            "mke2fs",
            "-q",
            "-F",
            "-t",
            "ext4",
            "-T",
            "default",
            "-b",
            "4096",
            "-L",
            label,
            "-U",
            uuid,
            "-E",
            f"root_owner=0:0,hash_seed={uuid}",
            "-d",
            rootdir,
            path,
            str(size // 1024) + "k",
        ],
        env={"E2FSPROGS_FAKE_TIME": FAKE_TIME},
    )
    if os.geteuid() != 0:
        # mke2fs -d copies the builder's uid/gid; the guest wants root's.
        chown_all_root(path, rootdir)


def chown_all_root(image: Path, rootdir: Path) -> None:
    """Give every inode copied from rootdir to uid 0 / gid 0 with debugfs."""
    commands = []
    for entry in _walk(rootdir):
        name = "/" + str(entry.relative_to(rootdir))
        quoted = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        commands += [f"sif {quoted} uid 0", f"sif {quoted} gid 0"]
    script = image.with_suffix(".debugfs")
    script.write_text("\n".join(commands) + "\n")
    try:
        run(["debugfs", "-w", "-f", script, image])
    finally:
        script.unlink()


def _walk(root: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            yield Path(dirpath) / name


def assemble(raw: Path, size: int, partitions: Sequence[tuple[Partition, Path]]) -> None:
    """Write a raw disk: the MBR, then each partition image at its offset."""
    boot_code = SYSLINUX_MBR.read_bytes() if SYSLINUX_MBR.exists() else b""
    if not boot_code:
        raise GuestImageError(f"{SYSLINUX_MBR} is missing: install syslinux-common")
    table = mbr([p for p, _ in partitions], boot_code, disk_id=0x6E75626F)
    raw.unlink(missing_ok=True)
    with raw.open("wb") as out:
        out.truncate(size)
        out.write(table)
        for part, image in partitions:
            if image.stat().st_size > part.size:
                raise GuestImageError(f"{image.name} does not fit its partition")
            _copy_sparse(image, out, part.start)


def _copy_sparse(src: Path, out: BinaryIO, offset: int) -> None:
    """Copy src into out at offset, leaving all-zero blocks as holes."""
    block = 1 << 16
    zero = bytes(block)
    with src.open("rb") as f:
        pos = offset
        while chunk := f.read(block):
            if chunk != zero[: len(chunk)]:
                out.seek(pos)
                out.write(chunk)
            pos += len(chunk)


def to_qcow2(raw: Path, out: Path, *, compress: bool = False) -> None:
    """Convert a raw disk to qcow2 (only the written clusters take space).

    compress zlib-compresses the clusters: a smaller file to upload, read
    back transparently; guests write to their own overlay anyway.
    """
    out.unlink(missing_ok=True)
    options = ["-c"] if compress else []
    run(["qemu-img", "convert", *options, "-f", "raw", "-O", "qcow2", "-o", "compat=1.1", raw, out])


def to_raw(image: Path, out: Path) -> None:
    """Convert any disk image qemu-img reads to a sparse raw file."""
    out.unlink(missing_ok=True)
    run(["qemu-img", "convert", "-O", "raw", image, out])


def debugfs_source(image: Path, offset: int) -> str:
    """The device argument debugfs takes for a filesystem at offset in image."""
    return f"{image}?offset={offset}" if offset else str(image)


def quote(args: Sequence[str | Path]) -> str:
    return " ".join(shlex.quote(str(a)) for a in args)
