"""Disk-image format inspection: what an upload really is, and whether it is safe to boot.

Image data is streamed, so `DiskInspector` is fed chunks as they arrive and keeps bounded
memory: the first `HEAD_SIZE` bytes (every header we parse lives there, the largest being a
qcow2 first cluster of up to 2 MiB), a rolling `TAIL_SIZE` tail (a VHD keeps its footer in
the last 512 bytes) and, for VHDX only, one window of at most `WINDOW_SIZE` bytes for the
metadata region, which may sit anywhere in the file.

Detection follows what QEMU would probe, because a disguised format is the classic attack:
an image declared ``raw`` that is really a qcow2 whose backing file is ``/etc/shadow``.
The parsers are written from the published specifications (QEMU's qcow2 and qed specs,
VMware's VMDK 1.1, Microsoft's VHD and MS-VHDX, ECMA-119 for ISO 9660, VirtualBox's VDI
header, the Parallels disk format); LUKS, Bochs and cloop are only recognised by magic.
MBR and GPT partition tables are not formats here: such a disk is raw.

`check` turns an inspection into the upload decision; see its docstring for the rules.
"""

from __future__ import annotations

import logging
import re
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeAlias

from nubo.errors import BadRequest

LOG = logging.getLogger(__name__)

KiB = 1024
MiB = 1024 * KiB

# A qcow2 header and its extensions must fit in the first cluster, at most 2 MiB; VMDK
# descriptors, VHD dynamic headers, the VHDX header section and ISO volume descriptors
# are all well inside that.
HEAD_SIZE = 2 * MiB
TAIL_SIZE = 512
WINDOW_SIZE = 1 * MiB

#: disk_format values `check` knows how to judge.
DISK_FORMATS = frozenset(
    {"raw", "qcow2", "vmdk", "vhd", "vhdx", "vdi", "ploop", "iso", "ami", "aki", "ari"}
)

# Detected formats that are plain bytes to QEMU (it probes them as raw) and name nothing
# outside the image, so data declared ``raw`` may contain them: an ISO is read as raw, and
# Cinder uploads encrypted volumes as raw LUKS.
_RAW_COMPATIBLE = frozenset({"raw", "iso", "luks"})
# Declared formats whose detected name differs.
_DETECTED_AS = {"ploop": "parallels"}
# What users should read when the detected name is not a disk_format they would type.
_DESCRIBE = {
    "vhd": "vhd (QEMU: vpc)",
    "parallels": "ploop (parallels)",
    "luks": "LUKS-encrypted",
    "qed": "QEMU qed",
    "bochs": "Bochs",
}


@dataclass(frozen=True, slots=True)
class Inspection:
    """What the data turned out to be.

    ``format`` is one of raw, qcow2, vmdk, vhd, vhdx, iso, vdi, parallels, qed, luks, bochs,
    cloop; ``raw`` means nothing else was recognised (MBR/GPT-partitioned disks are raw).
    ``virtual_size`` is the guest-visible size in bytes when the header gives it (for raw,
    the data size). ``size`` is the number of bytes inspected. ``problems`` lists why the
    data must not be used (names a backing file, truncated header, ...); empty when fine.
    """

    format: str
    virtual_size: int | None
    size: int
    problems: tuple[str, ...] = ()


class _Malformed(Exception):
    """A header is inconsistent or cut short; the message becomes a problem."""


@dataclass(slots=True)
class _Window:
    start: int
    end: int
    data: bytearray = field(default_factory=bytearray)


class DiskInspector:
    """Streaming inspector: `feed` every chunk of the upload in order, then `finish`.

    Neither method raises for any content: malformed or hostile data is reported as
    problems in the `Inspection`. Feeding after `finish` is a programming error
    (RuntimeError); `finish` may be called again and returns the same result.
    """

    def __init__(self) -> None:
        self._head = bytearray()
        self._tail = bytearray()
        self._windows: list[_Window] = []
        self._size = 0
        self._result: Inspection | None = None

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        """Inspect the next chunk of the stream."""
        if self._result is not None:
            raise RuntimeError("DiskInspector.feed() after finish()")
        view = memoryview(chunk).cast("B")
        if not view:
            return
        if len(self._head) < HEAD_SIZE:
            take = min(HEAD_SIZE - len(self._head), len(view))
            self._head += view[:take]
            self._size += take
            view = view[take:]
            if len(self._head) == HEAD_SIZE:
                self._plan_windows()
            if not view:
                return
        start = self._size
        for window in self._windows:
            want = window.start + len(window.data)
            if start <= want < window.end and want < start + len(view):
                window.data += view[want - start : window.end - start]
        self._size += len(view)
        self._remember_tail(view)

    def finish(self) -> Inspection:
        """Return the inspection of everything fed so far (the whole image)."""
        if self._result is None:
            try:
                self._result = self._inspect()
            except Exception:  # fail closed: an inspector bug must not let data through
                LOG.exception("disk image inspection failed")
                self._result = Inspection(
                    "raw", None, self._size, ("the image could not be inspected",)
                )
            # Drop the buffers: the result is all that is needed from here on.
            self._head = bytearray()
            self._tail = bytearray()
            self._windows = []
        return self._result

    # -- buffering ---------------------------------------------------------------------

    def _remember_tail(self, data: memoryview) -> None:
        # Only bytes past the head go here; the head already holds the tail of short data.
        if len(data) >= TAIL_SIZE:
            self._tail = bytearray(data[-TAIL_SIZE:])
        else:
            self._tail += data
            if len(self._tail) > TAIL_SIZE:
                del self._tail[:-TAIL_SIZE]

    def _plan_windows(self) -> None:
        """Once the head is complete, ask for data beyond it that a parser will need."""
        if not self._head.startswith(_VHDX_MAGIC):
            return
        try:
            region = _vhdx_regions(self._read)[_VHDX_METADATA]
        except Exception:  # whatever it is, finish() reports it; feed() never raises
            return
        offset, length = region
        if offset + length > HEAD_SIZE:
            window = _Window(offset, offset + min(length, WINDOW_SIZE))
            if offset < HEAD_SIZE:
                window.data += self._head[offset:]
            self._windows.append(window)

    def _read(self, offset: int, length: int) -> bytes:
        """Bytes kept at ``offset``; raise _Malformed when they were never received."""
        end = offset + length
        if offset < 0 or length < 0:
            raise _Malformed("header points outside the image")
        if end <= len(self._head):
            return bytes(self._head[offset:end])
        for window in self._windows:
            if window.start <= offset and end <= window.start + len(window.data):
                return bytes(window.data[offset - window.start : end - window.start])
        if end > self._size:
            raise _Malformed("image is truncated")
        raise _Malformed("header points beyond the part of the image that is inspected")

    # -- detection ---------------------------------------------------------------------

    def _inspect(self) -> Inspection:
        head = bytes(self._head)
        size = self._size
        tail = bytes(self._head[-TAIL_SIZE:] + self._tail)[-TAIL_SIZE:]
        fmt: str | None = None
        problems: list[str] = []
        virtual_size: int | None = None
        parser = _detect_head(head)
        if parser is not None:
            fmt = parser[0]
            try:
                virtual_size = parser[1](self._read, size, tail, problems)
            except _Malformed as e:
                problems.append(f"{fmt} {e}")
        is_iso, iso_size = _iso(head)
        tail_vhd = fmt != "vhd" and _is_vhd_footer(tail)
        if fmt is None and is_iso:
            fmt, virtual_size = "iso", iso_size
        elif fmt is None and tail_vhd:
            fmt, tail_vhd = "vhd", False
            try:
                virtual_size = _parse_fixed_vhd(tail, size, problems)
            except _Malformed as e:
                problems.append(f"vhd {e}")
        elif is_iso:
            # e.g. a qcow2 header hidden in an ISO's system area: QEMU would probe qcow2.
            problems.append(f"data is both {fmt} and iso")
        if tail_vhd:
            problems.append(f"data is both {fmt} and vhd (it ends with a VHD footer)")
        if fmt is None:
            fmt, virtual_size = "raw", size
        return Inspection(fmt, virtual_size, size, tuple(problems))


# ``read(offset, length)`` returns kept bytes or raises _Malformed. Each parser gets it, the
# data size, the last 512 bytes and a list to append problems to; it returns the virtual
# size (or None), and any _Malformed it raises becomes a problem too.
_Reader: TypeAlias = Callable[[int, int], bytes]
_Parser: TypeAlias = Callable[[_Reader, int, bytes, list[str]], int | None]


def _detect_head(head: bytes) -> tuple[str, _Parser] | None:
    """The format announced by the first bytes (as QEMU would probe it) and its parser."""
    for magic, fmt, parser in _MAGICS:
        if head.startswith(magic):
            return fmt, parser
    if head[0x40:0x44] == _VDI_SIGNATURE:
        return "vdi", _parse_vdi
    if _is_vmdk_descriptor(head):
        return "vmdk", _parse_vmdk_descriptor
    return None


def _u(fmt: str, data: bytes, offset: int) -> tuple[int, ...]:
    """Unpack integers, turning a short buffer into _Malformed."""
    try:
        return struct.unpack_from(fmt, data, offset)
    except struct.error:
        raise _Malformed("header is truncated") from None


# -- qcow2 -------------------------------------------------------------------------------

_QCOW2_EXT_END = 0
_QCOW2_EXT_DATA_FILE = 0x44415441
_QCOW2_INCOMPAT_DATA_FILE = 1 << 2
_QCOW2_INCOMPAT_KNOWN = 0b11111  # dirty, corrupt, data file, compression type, extended L2


def _parse_qcow2(read: _Reader, size: int, tail: bytes, problems: list[str]) -> int | None:
    head = read(0, min(size, 104))
    (version,) = _u(">I", head, 4)
    if version not in (2, 3):
        # Version 1 (the original qcow) shares the magic and also has backing files.
        problems.append(f"qcow2 version {version} is not supported")
        return None
    if len(head) < 72:
        raise _Malformed("header is truncated")
    backing_offset, _, cluster_bits, virtual_size, crypt = _u(">QIIQI", head, 8)
    if backing_offset:
        problems.append("qcow2 image names a backing file")
    # LUKS encryption (2) is fine, as in Glance: the key is not in the image and it names no
    # host file. The legacy AES scheme (1) is refused because QEMU no longer boots it.
    if crypt == 1:
        problems.append("qcow2 image uses the legacy AES encryption QEMU no longer runs")
    elif crypt > 2:
        problems.append(f"qcow2 image uses unknown encryption method {crypt}")
    if not 9 <= cluster_bits <= 21:
        problems.append(f"qcow2 cluster size 2^{cluster_bits} is not supported")
        return virtual_size
    cluster = 1 << cluster_bits
    header_length = 72
    incompatible = 0
    if version == 3:
        if len(head) < 104:
            raise _Malformed("header is truncated")
        (incompatible,) = _u(">Q", head, 72)
        (header_length,) = _u(">I", head, 100)
        if incompatible & _QCOW2_INCOMPAT_DATA_FILE:
            problems.append("qcow2 image uses an external data file")
        if incompatible & ~_QCOW2_INCOMPAT_KNOWN:
            problems.append("qcow2 image uses unknown incompatible features")
        if header_length < 104 or header_length % 8:
            raise _Malformed(f"header length {header_length} is invalid")
    # Header extensions follow the header, all within the first cluster.
    offset = header_length
    for _ in range(4096):
        if offset + 8 > cluster:
            raise _Malformed("header extensions run past the first cluster")
        ext_type, ext_length = _u(">II", read(offset, 8), 0)
        if ext_type == _QCOW2_EXT_END:
            break
        if ext_type == _QCOW2_EXT_DATA_FILE and not incompatible & _QCOW2_INCOMPAT_DATA_FILE:
            problems.append("qcow2 image names an external data file")
        offset += 8 + (ext_length + 7) // 8 * 8
        if offset > cluster:
            raise _Malformed("header extensions run past the first cluster")
    else:
        raise _Malformed("has too many header extensions")
    return virtual_size


# -- VMDK --------------------------------------------------------------------------------

_VMDK_SAFE_CREATE_TYPES = frozenset({"monolithicSparse", "streamOptimized"})
_VMDK_EXTENT = re.compile(
    r'(RW|RDONLY|NOACCESS)\s+(\d+)\s+([A-Z]+)(?:\s+"([^"]*)"(?:\s+(\d+))?)?\s*$'
)
# QEMU finds these keys as substrings anywhere in the descriptor, so we look the same way.
_VMDK_CREATE_TYPE = re.compile(r'createType\s*=\s*"([^"\n]*)"')


def _is_vmdk_descriptor(head: bytes) -> bool:
    """A text descriptor: comment or blank lines, then ``version=N`` (what QEMU probes)."""
    for raw_line in head[: 64 * KiB].split(b"\n"):
        line = raw_line.strip(b" \t\r")
        if not line or line.startswith(b"#"):
            continue
        return re.fullmatch(rb"version=\d+", line) is not None
    return False


def _check_vmdk_descriptor(text: str, problems: list[str], *, embedded: bool) -> int:
    """Judge a descriptor; return the disk size it declares in bytes."""
    if "parentFileNameHint" in text:
        # QEMU opens the named file as the backing file.
        problems.append("vmdk descriptor names a parent image (parentFileNameHint)")
    create_type = None
    at = text.find("createType")
    if at >= 0 and (match := _VMDK_CREATE_TYPE.match(text, at)):
        create_type = match[1]
    extents: list[tuple[str, int, str, str | None]] = []
    for raw_line in text.split("\n"):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("RW", "RDONLY", "NOACCESS")):
            match = _VMDK_EXTENT.match(line)
            if match is None:
                raise _Malformed(f"descriptor has a malformed extent line: {line[:80]!r}")
            access, sectors, kind, name, _ = match.groups()
            extents.append((access, int(sectors), kind, name))
    if not embedded:
        problems.append(
            "vmdk upload is only a descriptor: its extents are other files "
            f"(createType {create_type or 'unknown'})"
        )
    elif create_type not in _VMDK_SAFE_CREATE_TYPES:
        problems.append(
            f"vmdk createType {create_type or 'missing'} is not supported "
            "(only monolithicSparse and streamOptimized keep all data in one file)"
        )
    data_extents = [e for e in extents if e[2] != "ZERO"]
    if embedded and (len(data_extents) != 1 or data_extents[0][2] != "SPARSE"):
        problems.append("vmdk descriptor references extents outside the file")
    for _, _, kind, name in extents:
        if name is not None and ("/" in name or "\\" in name):
            problems.append(f"vmdk {kind} extent names a path: {name[:80]!r}")
    return sum(e[1] for e in extents) * 512


def _parse_vmdk(read: _Reader, size: int, tail: bytes, problems: list[str]) -> int | None:
    head = read(0, min(size, 512))
    if head.startswith(b"COWD"):
        problems.append("vmdk variant COWD (ESX sparse) is not supported")
        return None
    (version, _, capacity, _, desc_offset, desc_size) = _u("<IIQQQQ", head, 4)
    if version not in (1, 2, 3):
        problems.append(f"vmdk version {version} is not supported")
        return None
    if capacity == 0:
        # QEMU then treats the embedded descriptor as a descriptor file and opens its extents.
        problems.append("vmdk header has zero capacity")
    if desc_offset == 0 or desc_size == 0:
        problems.append("vmdk has no embedded descriptor")
        return capacity * 512
    if (desc_offset + desc_size) * 512 > HEAD_SIZE:
        raise _Malformed("embedded descriptor lies too far into the file")
    raw_text = read(desc_offset * 512, desc_size * 512).split(b"\0", 1)[0]
    _check_vmdk_descriptor(raw_text.decode("latin-1"), problems, embedded=True)
    return capacity * 512


def _parse_vmdk_descriptor(
    read: _Reader, size: int, tail: bytes, problems: list[str]
) -> int | None:
    text = read(0, min(size, HEAD_SIZE)).split(b"\0", 1)[0].decode("latin-1")
    return _check_vmdk_descriptor(text, problems, embedded=False)


# -- VHD ---------------------------------------------------------------------------------

_VHD_COOKIE = b"conectix"
_VHD_FIXED, _VHD_DYNAMIC, _VHD_DIFFERENCING = 2, 3, 4
# Creators whose images QEMU sizes by the footer's current size; for the others (Virtual PC,
# old QEMU) the CHS geometry is the size the guest sees.
_VHD_SIZE_BY_FOOTER = frozenset({b"win ", b"qem2", b"d2v ", b"CTXS", b"tap\0"})
_VHD_MAX_CHS_SECTORS = 65535 * 16 * 255


def _vhd_checksum(data: bytes, at: int) -> int:
    """One's complement of the byte sum, with the checksum field itself taken as zero."""
    return ~(sum(data) - sum(data[at : at + 4])) & 0xFFFFFFFF


def _is_vhd_footer(data: bytes) -> bool:
    if len(data) != 512 or not data.startswith(_VHD_COOKIE):
        return False
    return _vhd_checksum(data, 64) == _u(">I", data, 64)[0]


def _vhd_footer(footer: bytes, problems: list[str]) -> tuple[int, int, int]:
    """Check a footer; return (disk type, data offset, virtual size)."""
    if not _is_vhd_footer(footer):
        raise _Malformed("footer is corrupt (bad checksum)")
    (data_offset,) = _u(">Q", footer, 16)
    creator = footer[28:32]
    (current_size, cylinders, heads, sectors, disk_type) = _u(">QHBBI", footer, 48)
    if disk_type == _VHD_DIFFERENCING:
        problems.append("vhd is a differencing disk that names a parent image")
    elif disk_type not in (_VHD_FIXED, _VHD_DYNAMIC):
        problems.append(f"vhd disk type {disk_type} is not supported")
    chs_sectors = cylinders * heads * sectors
    if creator in _VHD_SIZE_BY_FOOTER or chs_sectors == _VHD_MAX_CHS_SECTORS:
        virtual_size = current_size
    else:
        virtual_size = chs_sectors * 512
    return disk_type, data_offset, virtual_size


def _parse_fixed_vhd(tail: bytes, size: int, problems: list[str]) -> int:
    disk_type, _, virtual_size = _vhd_footer(tail, problems)
    if disk_type == _VHD_FIXED and size - 512 < virtual_size:
        problems.append("vhd is truncated: its data is shorter than its virtual size")
    elif disk_type != _VHD_FIXED:
        problems.append("vhd has a dynamic-disk footer but no copy of it at the start")
    return virtual_size


def _parse_vhd(read: _Reader, size: int, tail: bytes, problems: list[str]) -> int | None:
    disk_type, data_offset, virtual_size = _vhd_footer(read(0, 512), problems)
    if disk_type == _VHD_FIXED:
        return virtual_size
    if data_offset + 1024 > HEAD_SIZE:
        raise _Malformed("dynamic disk header lies too far into the file")
    header = read(data_offset, 1024)
    if not header.startswith(b"cxsparse"):
        raise _Malformed("dynamic disk header is missing")
    if _vhd_checksum(header, 36) != _u(">I", header, 36)[0]:
        raise _Malformed("dynamic disk header is corrupt (bad checksum)")
    if not _is_vhd_footer(tail):
        problems.append("vhd is truncated: it does not end with its footer")
    return virtual_size


# -- VHDX --------------------------------------------------------------------------------

_VHDX_MAGIC = b"vhdxfile"
_VHDX_BAT = uuid.UUID("2DC27766-F623-4200-9D64-115E9BFD4A08").bytes_le
_VHDX_METADATA = uuid.UUID("8B7CA206-4790-4B9A-B8FE-575F050F886E").bytes_le
_VHDX_FILE_PARAMETERS = uuid.UUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B").bytes_le
_VHDX_VIRTUAL_DISK_SIZE = uuid.UUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8").bytes_le
_VHDX_PARENT_LOCATOR = uuid.UUID("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C").bytes_le
_VHDX_KNOWN_METADATA = frozenset(
    {
        _VHDX_FILE_PARAMETERS,
        _VHDX_VIRTUAL_DISK_SIZE,
        _VHDX_PARENT_LOCATOR,
        uuid.UUID("BECA12AB-B2E6-4523-93EF-C309E000C746").bytes_le,  # page 83 data
        uuid.UUID("8141BF1D-A96F-4709-BA47-F233A8FAAB5F").bytes_le,  # logical sector size
        uuid.UUID("CDA348C7-445D-4471-9CC9-E9885251C556").bytes_le,  # physical sector size
    }
)
_VHDX_HEADERS = (64 * KiB, 128 * KiB)
_VHDX_REGION_TABLES = (192 * KiB, 256 * KiB)


def _crc32c_table() -> tuple[int, ...]:
    table = []
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC32C_TABLE = _crc32c_table()


def _crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), which VHDX uses; zlib only has the IEEE polynomial."""
    crc = 0xFFFFFFFF
    table = _CRC32C_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _vhdx_checksum_ok(block: bytes) -> bool:
    """Checksum at offset 4, computed with that field zeroed."""
    (stored,) = _u("<I", block, 4)
    return _crc32c(block[:4] + b"\0\0\0\0" + block[8:]) == stored


def _vhdx_regions(read: _Reader) -> dict[bytes, tuple[int, int]]:
    """The first valid region table: GUID -> (offset, length); required unknowns raise."""
    for table_offset in _VHDX_REGION_TABLES:
        table = read(table_offset, 64 * KiB)
        if table.startswith(b"regi") and _vhdx_checksum_ok(table):
            break
    else:
        raise _Malformed("has no valid region table")
    (count,) = _u("<I", table, 8)
    if count > 2047:
        raise _Malformed("region table is corrupt")
    regions = {}
    for i in range(count):
        guid = table[16 + 32 * i : 32 + 32 * i]
        offset, length, required = _u("<QII", table, 32 + 32 * i)
        if guid not in (_VHDX_BAT, _VHDX_METADATA) and required & 1:
            raise _Malformed("requires an unknown region")
        regions[guid] = (offset, length)
    return regions


def _parse_vhdx(read: _Reader, size: int, tail: bytes, problems: list[str]) -> int | None:
    # The current header is the valid one with the higher sequence number.
    best: tuple[int, bytes] | None = None
    for header_offset in _VHDX_HEADERS:
        header = read(header_offset, 4 * KiB)
        if header.startswith(b"head") and _vhdx_checksum_ok(header):
            (sequence,) = _u("<Q", header, 8)
            if best is None or sequence > best[0]:
                best = (sequence, header)
    if best is None:
        raise _Malformed("has no valid header")
    header = best[1]
    if header[48:64] != bytes(16):
        # Replaying the log rewrites the file, metadata included, after our inspection.
        problems.append("vhdx has a log that must be replayed")
    regions = _vhdx_regions(read)
    if _VHDX_METADATA not in regions or _VHDX_BAT not in regions:
        raise _Malformed("lacks its metadata or BAT region")
    meta_offset, meta_length = regions[_VHDX_METADATA]
    table = read(meta_offset, min(meta_length, 64 * KiB))
    if not table.startswith(b"metadata"):
        raise _Malformed("metadata table is missing")
    (count,) = _u("<H", table, 10)
    if count > 2047:
        raise _Malformed("metadata table is corrupt")
    virtual_size = None
    for i in range(count):
        entry = table[32 + 32 * i : 64 + 32 * i]
        item = entry[:16]
        offset, length, flags = _u("<III", entry, 16)
        if offset + length > meta_length:
            raise _Malformed("metadata item lies outside the metadata region")
        if item == _VHDX_PARENT_LOCATOR:
            problems.append("vhdx is a differencing disk that names a parent image")
        elif item == _VHDX_FILE_PARAMETERS:
            (_, parameters) = _u("<II", read(meta_offset + offset, 8), 0)
            if parameters & 2:
                problems.append("vhdx is a differencing disk that names a parent image")
        elif item == _VHDX_VIRTUAL_DISK_SIZE:
            (virtual_size,) = _u("<Q", read(meta_offset + offset, 8), 0)
        elif item not in _VHDX_KNOWN_METADATA and flags & 4 and not flags & 1:
            raise _Malformed("requires unknown metadata")
    if virtual_size is None:
        raise _Malformed("metadata lacks the virtual disk size")
    return virtual_size


# -- other formats QEMU would probe -------------------------------------------------------

_VDI_SIGNATURE = struct.pack("<I", 0xBEDA107F)


def _parse_vdi(read: _Reader, size: int, tail: bytes, problems: list[str]) -> int | None:
    head = read(0, min(size, 0x178))
    (version,) = _u("<I", head, 0x44)
    if version != 0x00010001:
        problems.append(f"vdi version {version >> 16}.{version & 0xFFFF} is not supported")
        return None
    (image_type,) = _u("<I", head, 0x4C)
    if image_type not in (1, 2):  # dynamic, fixed; undo and diff images have parents
        problems.append(f"vdi image type {image_type} is not supported")
    return _u("<Q", head, 0x170)[0]


def _parse_parallels(read: _Reader, size: int, tail: bytes, problems: list[str]) -> int | None:
    head = read(0, min(size, 44))
    (version,) = _u("<I", head, 16)
    if version != 2:
        problems.append(f"parallels version {version} is not supported")
    (sectors,) = _u("<Q", head, 36)
    if head.startswith(b"WithoutFreeSpace"):
        sectors &= 0xFFFFFFFF  # the original format only has 32 bits of sector count
    return sectors * 512


def _parse_qed(read: _Reader, size: int, tail: bytes, problems: list[str]) -> int | None:
    head = read(0, min(size, 56))
    (features,) = _u("<Q", head, 16)
    if features & 1:
        problems.append("qed image names a backing file")
    return _u("<Q", head, 48)[0]


def _no_size(read: _Reader, size: int, tail: bytes, problems: list[str]) -> int | None:
    return None


_MAGICS: tuple[tuple[bytes, str, _Parser], ...] = (
    (b"QFI\xfb", "qcow2", _parse_qcow2),
    (b"KDMV", "vmdk", _parse_vmdk),
    (b"COWD", "vmdk", _parse_vmdk),
    (_VHD_COOKIE, "vhd", _parse_vhd),
    (_VHDX_MAGIC, "vhdx", _parse_vhdx),
    (b"QED\0", "qed", _parse_qed),
    (b"WithoutFreeSpace", "parallels", _parse_parallels),
    (b"WithouFreSpacExt", "parallels", _parse_parallels),
    (b"LUKS\xba\xbe", "luks", _no_size),
    (b"Bochs Virtual HD Image", "bochs", _no_size),
    (b"#!/bin/sh\n#V2.0 Format\nmodprobe cloop", "cloop", _no_size),
)


# -- ISO 9660 ----------------------------------------------------------------------------

_ISO_FIRST_DESCRIPTOR = 16 * 2048


# UDF media start their volume recognition sequence where ISO 9660 puts its descriptors.
_UDF_IDENTIFIERS = (b"BEA01", b"NSR02", b"NSR03")


def _iso(head: bytes) -> tuple[bool, int | None]:
    """Whether this is optical media, and its size from the ISO 9660 primary descriptor."""
    identifier = head[_ISO_FIRST_DESCRIPTOR + 1 : _ISO_FIRST_DESCRIPTOR + 6]
    if identifier in _UDF_IDENTIFIERS:
        return True, None
    if identifier != b"CD001":
        return False, None
    offset = _ISO_FIRST_DESCRIPTOR
    while offset + 2048 <= len(head) and head[offset + 1 : offset + 6] == b"CD001":
        kind = head[offset]
        if kind == 1:  # primary volume descriptor
            (blocks,) = struct.unpack_from("<I", head, offset + 80)
            (block_size,) = struct.unpack_from("<H", head, offset + 128)
            return True, int(blocks * block_size)
        if kind == 255:  # set terminator
            break
        offset += 2048
    return True, None


# -- the upload decision -----------------------------------------------------------------


def check(declared_disk_format: str, inspection: Inspection) -> int | None:
    """Refuse data that does not match its disk_format or is unsafe; return the virtual size.

    Raises `BadRequest` with a message for the user. Rules:

    * Any problem in the inspection refuses the data, whatever was declared.
    * qcow2, vmdk, vhd (QEMU calls it vpc), vhdx, vdi, ploop and iso: the data must be
      detected as that format.
    * raw: the data must not be a disguised container format (qcow2, vmdk, vhd including a
      fixed VHD recognised by its footer alone, vhdx, vdi, ...). An ISO or a LUKS volume is
      accepted as raw, as Glance does, because QEMU reads either as plain bytes and neither
      names another file; MBR/GPT disks are raw.
    * ami (a machine image, a raw disk) and aki/ari (a kernel, a ramdisk; not disk images at
      all): the data must not be recognised as any format, ISO and LUKS included.

    The returned virtual size is what the image should record: the header's size for a
    matched format, the data size for raw and ami, and None for aki/ari.
    """
    declared = declared_disk_format
    detected = inspection.format
    if declared not in DISK_FORMATS:
        raise BadRequest(f"Image content cannot be checked for disk_format {declared!r}.")
    if inspection.problems:
        raise BadRequest(f"Image data is rejected: {'; '.join(inspection.problems)}.")
    if declared == "raw":
        ok = detected in _RAW_COMPATIBLE
    elif declared in ("ami", "aki", "ari"):
        ok = detected == "raw"
    else:
        ok = detected == _DETECTED_AS.get(declared, declared)
    if not ok:
        raise BadRequest(
            f"Image data is {_DESCRIBE.get(detected, detected)} but disk_format is "
            f"{_DESCRIBE.get(declared, declared)}; upload it with the disk_format of its content."
        )
    if declared in ("aki", "ari"):
        return None
    if declared in ("raw", "ami"):
        return inspection.size
    return inspection.virtual_size
