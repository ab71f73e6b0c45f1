"""The disk-image inspector: real images from qemu-img, crafted attacks, and fuzzing."""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import struct
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from nubo.errors import BadRequest
from nubo.image import formats
from nubo.image.formats import DiskInspector, Inspection, check

MiB = 1024 * 1024
pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-img")


def run(*args: str | Path, cwd: Path | None = None) -> None:
    subprocess.run([str(a) for a in args], check=True, capture_output=True, cwd=cwd)


def qemu_virtual_size(path: Path, fmt: str) -> int:
    out = subprocess.run(
        ["qemu-img", "info", "--output", "json", "-f", fmt, str(path)],
        check=True,
        capture_output=True,
    ).stdout
    return int(json.loads(out)["virtual-size"])


def chunks(data: bytes, sizes: int | Sequence[int]) -> Iterator[bytes]:
    cycle = [sizes] if isinstance(sizes, int) else list(sizes)
    pos, i = 0, 0
    while pos < len(data):
        n = cycle[i % len(cycle)]
        yield data[pos : pos + n]
        pos, i = pos + n, i + 1


def inspect(data: bytes, sizes: int | Sequence[int] = 65536) -> Inspection:
    inspector = DiskInspector()
    for chunk in chunks(data, sizes):
        inspector.feed(chunk)
    return inspector.finish()


# Image name -> (qemu-img create arguments, format qemu-img info needs, detected format,
# a problem the inspection must report or None for a clean image).
IMAGES: dict[str, tuple[list[str], str, str, str | None]] = {
    "qcow2": (["-f", "qcow2", "{}", "1G"], "qcow2", "qcow2", None),
    "qcow2-v2": (["-f", "qcow2", "-o", "compat=0.10", "{}", "1G"], "qcow2", "qcow2", None),
    "qcow2-backing": (
        ["-f", "qcow2", "-b", "base.raw", "-F", "raw", "{}"],
        "qcow2",
        "qcow2",
        "names a backing file",
    ),
    "qcow2-data-file": (
        ["-f", "qcow2", "-o", "data_file=data.raw", "{}", "64M"],
        "qcow2",
        "qcow2",
        "external data file",
    ),
    "vmdk": (["-f", "vmdk", "{}", "1G"], "vmdk", "vmdk", None),
    "vmdk-stream": (
        ["-f", "vmdk", "-o", "subformat=streamOptimized", "{}", "1G"],
        "vmdk",
        "vmdk",
        None,
    ),
    "vmdk-flat": (
        ["-f", "vmdk", "-o", "subformat=monolithicFlat", "{}", "1M"],
        "vmdk",
        "vmdk",
        "only a descriptor",
    ),
    "vmdk-split": (
        ["-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse", "{}", "64M"],
        "vmdk",
        "vmdk",
        "only a descriptor",
    ),
    "vmdk-child": (
        ["-f", "vmdk", "-b", "base.vmdk", "-F", "vmdk", "{}"],
        "vmdk",
        "vmdk",
        "parentFileNameHint",
    ),
    "vhd": (["-f", "vpc", "{}", "1G"], "vpc", "vhd", None),
    "vhd-fixed": (["-f", "vpc", "-o", "subformat=fixed", "{}", "1M"], "vpc", "vhd", None),
    "vhdx": (["-f", "vhdx", "{}", "1G"], "vhdx", "vhdx", None),
    "vdi": (["-f", "vdi", "{}", "1G"], "vdi", "vdi", None),
    "parallels": (["-f", "parallels", "{}", "1G"], "parallels", "parallels", None),
    "qed-backing": (
        ["-f", "qed", "-b", "base.raw", "-F", "raw", "{}"],
        "qed",
        "qed",
        "backing file",
    ),
}
CLEAN = [name for name, spec in IMAGES.items() if spec[3] is None]


def mbr(partition_type: int = 0x83) -> bytes:
    """A boot sector with one partition, as fdisk writes it."""
    sector = bytearray(512)
    sector[446:462] = struct.pack("<B3sB3sII", 0x80, b"\0\2\0", partition_type, b"\0\0\0", 1, 2047)
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Build every image once; raw, MBR, GPT and ISO images alongside the qemu-img ones."""
    root = tmp_path_factory.mktemp("images")
    run("qemu-img", "create", "-q", "-f", "raw", root / "base.raw", "1M")
    run("qemu-img", "create", "-q", "-f", "vmdk", root / "base.vmdk", "1M")
    paths = {}
    for name, (args, _, _, _) in IMAGES.items():
        path = root / f"{name}.img"
        # cwd: qemu-img resolves data_file= against it, not against the image's directory.
        run("qemu-img", "create", "-q", *[a.replace("{}", str(path)) for a in args], cwd=root)
        paths[name] = path
    paths["raw-mbr"] = root / "mbr.raw"
    paths["raw-mbr"].write_bytes(mbr() + bytes(MiB - 512))
    if shutil.which("sfdisk"):
        paths["raw-gpt"] = root / "gpt.raw"
        paths["raw-gpt"].write_bytes(bytes(2 * MiB))
        subprocess.run(
            ["sfdisk", "-q", str(paths["raw-gpt"])], input=b"label: gpt\n,1M\n", check=True
        )
    if shutil.which("genisoimage"):
        (root / "iso").mkdir()
        (root / "iso" / "hello.txt").write_text("hello\n")
        paths["iso"] = root / "image.iso"
        run("genisoimage", "-quiet", "-r", "-V", "NUBO", "-o", paths["iso"], root / "iso")
    return paths


def image(images: dict[str, Path], name: str) -> bytes:
    if name not in images:
        pytest.skip(f"{name} needs a tool that is not installed (sfdisk, genisoimage)")
    return images[name].read_bytes()


def chunkings(size: int) -> list[int | tuple[int, ...]]:
    """Chunk sizes to feed an image with; byte-by-byte only where it stays quick."""
    sizes: list[int | tuple[int, ...]] = [65536, 1 << 30, (1, 7, 509, 4096, 65539)]
    if size <= 512 * 1024:
        sizes.append(1)
    if size <= 2 * MiB:
        sizes.append(7)
    return sizes


@pytest.mark.parametrize("name", list(IMAGES))
def test_detects_qemu_images(images: dict[str, Path], name: str) -> None:
    _, qemu_format, detected, problem = IMAGES[name]
    data = image(images, name)
    expected_size = qemu_virtual_size(images[name], qemu_format)
    for sizes in chunkings(len(data)):
        result = inspect(data, sizes)
        assert result.format == detected, sizes
        assert result.size == len(data)
        assert result.virtual_size == expected_size, sizes
        if problem is None:
            assert result.problems == (), sizes
        else:
            assert any(problem in p for p in result.problems), (sizes, result.problems)


@pytest.mark.parametrize("name", ["raw-mbr", "raw-gpt", "iso"])
def test_detects_raw_and_iso(images: dict[str, Path], name: str) -> None:
    data = image(images, name)
    for sizes in chunkings(len(data)):
        result = inspect(data, sizes)
        assert result == Inspection(name.split("-")[0], len(data), len(data)), sizes


def test_fixed_vhd_is_found_by_its_footer_alone(images: dict[str, Path]) -> None:
    data = image(images, "vhd-fixed")
    assert not data.startswith(b"conectix")  # only the footer: QEMU probes it as raw
    assert inspect(data).format == "vhd"
    # Without its last sector it is just a raw disk.
    assert inspect(data[:-512]).format == "raw"


def test_vhdx_metadata_beyond_the_head_is_captured(images: dict[str, Path]) -> None:
    data = image(images, "vhdx")
    metadata = data.find(b"metadata", 64 * 1024)
    assert metadata >= formats.HEAD_SIZE  # so the window, not the head, must hold it
    assert inspect(data, 1 << 30).virtual_size == 1 << 30


# -- check() ------------------------------------------------------------------------------

ACCEPTED = {
    "qcow2": "qcow2",
    "qcow2-v2": "qcow2",
    "vmdk": "vmdk",
    "vmdk-stream": "vmdk",
    "vhd": "vhd",
    "vhd-fixed": "vhd",
    "vhdx": "vhdx",
    "vdi": "vdi",
    "parallels": "ploop",
}


@pytest.mark.parametrize(("name", "declared"), ACCEPTED.items())
def test_check_accepts_matching_content(images: dict[str, Path], name: str, declared: str) -> None:
    result = inspect(image(images, name))
    assert check(declared, result) == result.virtual_size
    with pytest.raises(BadRequest, match=r"data is .* but disk_format is raw"):
        check("raw", result)  # a disguised format
    for other in ("ami", "aki", "ari", "iso"):
        with pytest.raises(BadRequest):
            check(other, result)


@pytest.mark.parametrize("name", ["raw-mbr", "raw-gpt"])
def test_check_raw_disks(images: dict[str, Path], name: str) -> None:
    data = image(images, name)
    result = inspect(data)
    assert check("raw", result) == len(data)
    assert check("ami", result) == len(data)
    assert check("aki", result) is None
    assert check("ari", result) is None
    for declared in ("qcow2", "vmdk", "vhd", "vhdx", "iso"):
        with pytest.raises(BadRequest, match=f"data is raw but disk_format is {declared}"):
            check(declared, result)


def test_check_iso(images: dict[str, Path]) -> None:
    data = image(images, "iso")
    result = inspect(data)
    assert check("iso", result) == len(data)
    assert check("raw", result) == len(data)  # QEMU reads an ISO as raw; Glance allows it
    for declared in ("ami", "aki", "ari", "qcow2"):
        with pytest.raises(BadRequest, match="data is iso"):
            check(declared, result)


@pytest.mark.parametrize("name", [n for n, spec in IMAGES.items() if spec[3] is not None])
def test_check_refuses_unsafe_images_whatever_is_declared(
    images: dict[str, Path], name: str
) -> None:
    result = inspect(image(images, name))
    for declared in sorted(formats.DISK_FORMATS):
        with pytest.raises(BadRequest, match=IMAGES[name][3]):
            check(declared, result)


def test_check_names_vhd_as_qemu_does() -> None:
    with pytest.raises(BadRequest, match=r"vhd \(QEMU: vpc\)"):
        check("vhd", Inspection("raw", 10, 10))


def test_check_unknown_disk_format() -> None:
    with pytest.raises(BadRequest, match="cannot be checked for disk_format 'floppy'"):
        check("floppy", Inspection("raw", 10, 10))


# -- crafted attacks ----------------------------------------------------------------------


def test_truncated_qcow2_magic_is_reported_not_raised() -> None:
    for data in (b"QFI\xfb", b"QFI\xfb\0\0\0\3" + bytes(40), b"QFI\xfb\0\0\0\2" + bytes(60)):
        result = inspect(data, 1)
        assert result.format == "qcow2"
        assert result.problems == ("qcow2 header is truncated",)
        with pytest.raises(BadRequest, match="truncated"):
            check("raw", result)


def test_qcow2_truncated_in_its_header_extensions(images: dict[str, Path]) -> None:
    data = image(images, "qcow2")
    result = inspect(data[:120])
    assert result.problems == ("qcow2 image is truncated",)


def patched(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value) :]


def test_qcow2_encryption(images: dict[str, Path]) -> None:
    data = image(images, "qcow2")
    # LUKS encryption (method 2) keeps the key out of the image and names no host file.
    assert inspect(patched(data, 32, struct.pack(">I", 2))).problems == ()
    aes = inspect(patched(data, 32, struct.pack(">I", 1)))
    assert aes.problems == ("qcow2 image uses the legacy AES encryption QEMU no longer runs",)


def test_qcow2_unknown_incompatible_feature(images: dict[str, Path]) -> None:
    data = patched(image(images, "qcow2"), 72, struct.pack(">Q", 1 << 40))
    assert inspect(data).problems == ("qcow2 image uses unknown incompatible features",)


def test_qcow2_in_the_system_area_of_an_iso(images: dict[str, Path]) -> None:
    iso = image(images, "iso")
    header = image(images, "qcow2")[:4096]
    result = inspect(header + iso[len(header) :])
    assert result.format == "qcow2"
    assert result.problems == ("data is both qcow2 and iso",)
    for declared in ("iso", "raw", "qcow2"):
        with pytest.raises(BadRequest):
            check(declared, result)


def test_udf_only_media_is_iso() -> None:
    data = bytes(32768) + b"\0BEA01\1".ljust(2048, b"\0") + b"\0NSR02\1".ljust(2048, b"\0")
    result = inspect(data)
    assert (result.format, result.virtual_size, result.problems) == ("iso", None, ())
    assert check("iso", result) is None


def test_hybrid_iso_with_a_partition_table_is_iso(images: dict[str, Path]) -> None:
    iso = image(images, "iso")
    result = inspect(mbr(0x17) + iso[512:])
    assert (result.format, result.problems) == ("iso", ())


def test_qcow2_ending_with_a_vhd_footer(images: dict[str, Path]) -> None:
    footer = image(images, "vhd-fixed")[-512:]
    result = inspect(image(images, "qcow2") + footer)
    assert result.problems == ("data is both qcow2 and vhd (it ends with a VHD footer)",)


def vhd_checksummed(footer: bytes, at: int = 64) -> bytes:
    footer = patched(footer, at, bytes(4))
    return patched(footer, at, struct.pack(">I", ~sum(footer) & 0xFFFFFFFF))


def test_vhd_differencing_disk(images: dict[str, Path]) -> None:
    data = image(images, "vhd")
    footer = vhd_checksummed(patched(data[:512], 60, struct.pack(">I", 4)))
    result = inspect(footer + data[512:-512] + footer)
    assert result.problems == ("vhd is a differencing disk that names a parent image",)


def test_vhd_corrupt_or_truncated(images: dict[str, Path]) -> None:
    data = image(images, "vhd")
    assert inspect(data[:-512]).problems == ("vhd is truncated: it does not end with its footer",)
    assert inspect(data[:1000]).problems == ("vhd image is truncated",)
    bad = patched(data, 40, b"\xff")
    assert inspect(bad).problems == ("vhd footer is corrupt (bad checksum)",)
    fixed = image(images, "vhd-fixed")
    short = inspect(fixed[:4096] + fixed[-512:])
    assert short.problems == ("vhd is truncated: its data is shorter than its virtual size",)


def test_crc32c_known_answer() -> None:
    assert formats._crc32c(b"123456789") == 0xE3069283


def vhdx_with(data: bytes, offset: int, value: bytes) -> bytes:
    """Patch a VHDX header and fix its CRC-32C."""
    block = bytearray(data[offset : offset + 4096])
    block[: len(value)] = value
    block[4:8] = bytes(4)
    block[4:8] = struct.pack("<I", formats._crc32c(bytes(block)))
    return patched(data, offset, bytes(block))


def test_vhdx_pending_log(images: dict[str, Path]) -> None:
    data = image(images, "vhdx")
    for header in (64 * 1024, 128 * 1024):
        original = data[header : header + 80]
        data = vhdx_with(data, header, original[:48] + b"\1" * 16 + original[64:])
    assert inspect(data).problems == ("vhdx has a log that must be replayed",)


def test_vhdx_differencing_disk(images: dict[str, Path]) -> None:
    data = image(images, "vhdx")
    table = data.find(b"metadata", formats.HEAD_SIZE)
    file_parameters = struct.pack(
        "<IHH8s", 0xCAA16737, 0xFA36, 0x4D43, bytes.fromhex("B3B633F0AA44E76B")
    )
    entry = data.find(file_parameters, table, table + 65536)
    (offset,) = struct.unpack_from("<I", data, entry + 16)
    (flags,) = struct.unpack_from("<I", data, table + offset + 4)
    data = patched(data, table + offset + 4, struct.pack("<I", flags | 2))
    assert inspect(data).problems == ("vhdx is a differencing disk that names a parent image",)


def test_vhdx_truncated_before_its_metadata(images: dict[str, Path]) -> None:
    data = image(images, "vhdx")
    assert inspect(data[: 3 * MiB + 100]).problems == ("vhdx image is truncated",)
    assert inspect(data[: 100 * 1024]).problems == ("vhdx image is truncated",)


def vmdk_descriptor(data: bytes) -> tuple[int, int]:
    offset, size = struct.unpack_from("<QQ", data, 28)
    return offset * 512, size * 512


def with_descriptor(data: bytes, text: bytes) -> bytes:
    offset, size = vmdk_descriptor(data)
    return patched(data, offset, text.ljust(size, b"\0"))


def test_vmdk_embedded_descriptor_attacks(images: dict[str, Path]) -> None:
    data = image(images, "vmdk")
    offset, size = vmdk_descriptor(data)
    text = data[offset : offset + size].rstrip(b"\0")
    flat = text.replace(b"monolithicSparse", b"monolithicFlat")
    assert inspect(with_descriptor(data, flat)).problems == (
        "vmdk createType monolithicFlat is not supported "
        "(only monolithicSparse and streamOptimized keep all data in one file)",
    )
    extents = text.replace(b'SPARSE "', b'FLAT "/etc/shadow" 0\nRW 10 SPARSE "')
    problems = inspect(with_descriptor(data, extents)).problems
    assert "vmdk descriptor references extents outside the file" in problems
    assert "vmdk FLAT extent names a path: '/etc/shadow'" in problems
    hidden = text.replace(b"# Extent", b'ddb.x = "parentFileNameHint=x"\n# Extent')
    assert inspect(with_descriptor(data, hidden)).problems == (
        "vmdk descriptor names a parent image (parentFileNameHint)",
    )
    shadowed = b'ddb.y = "createType="vmfs""\n' + text
    assert (
        "vmdk createType vmfs is not supported"
        in inspect(with_descriptor(data, shadowed)).problems[0]
    )
    zero = patched(data, 12, bytes(8))  # capacity 0: QEMU follows the descriptor's extents
    assert inspect(zero).problems == ("vmdk header has zero capacity",)
    far = patched(data, 28, struct.pack("<Q", 1 << 40))
    assert inspect(far).problems == ("vmdk embedded descriptor lies too far into the file",)


def test_text_that_qemu_probes_as_vmdk() -> None:
    data = b"# a comment\n  \r\nversion=1\n" + bytes(4096)
    result = inspect(data, 1)
    assert result.format == "vmdk"
    with pytest.raises(BadRequest, match="only a descriptor"):
        check("raw", result)


def test_other_formats_qemu_would_probe_are_not_raw() -> None:
    luks = b"LUKS\xba\xbe\0\1" + bytes(4096)
    for data, fmt in [
        (luks, "luks"),
        (b"Bochs Virtual HD Image\0" + bytes(1024), "bochs"),
        (b"QED\0" + bytes(1024), "qed"),
    ]:
        result = inspect(data)
        assert result.format == fmt
        with pytest.raises(BadRequest):
            check("qcow2", result)
        if fmt == "luks":  # Cinder uploads encrypted volumes as raw LUKS
            assert check("raw", result) == len(data)
        else:
            with pytest.raises(BadRequest, match=f"(?i)data is .*{fmt}"):
                check("raw", result)


# -- streaming contract -------------------------------------------------------------------


def test_memory_stays_bounded(images: dict[str, Path]) -> None:
    inspector = DiskInspector()
    data = image(images, "vhdx")
    for chunk in chunks(data, 65536):
        inspector.feed(chunk)
    for _ in range(64):
        inspector.feed(bytes(MiB))
    assert len(inspector._head) == formats.HEAD_SIZE
    assert len(inspector._tail) == formats.TAIL_SIZE
    assert sum(len(w.data) for w in inspector._windows) <= formats.WINDOW_SIZE
    assert inspector.finish().format == "vhdx"


def test_finish_is_final() -> None:
    inspector = DiskInspector()
    inspector.feed(b"")
    inspector.feed(memoryview(b"abc"))
    result = inspector.finish()
    assert result == Inspection("raw", 3, 3)
    assert inspector.finish() is result
    with pytest.raises(RuntimeError):
        inspector.feed(b"more")
    assert DiskInspector().finish() == Inspection("raw", 0, 0)


def assert_robust(data: bytes, rng: random.Random) -> None:
    """Any chunking gives the same result, and check() only ever refuses with BadRequest."""
    whole = inspect(data, 1 << 30)
    assert "the image could not be inspected" not in whole.problems  # no inspector bug
    sizes = tuple(rng.choice((1, 3, 512, 4093, 65536, 70001)) for _ in range(5))
    assert inspect(data, sizes) == whole
    for declared in formats.DISK_FORMATS:
        with contextlib.suppress(BadRequest):
            check(declared, whole)


MAGICS = [
    b"",
    b"QFI\xfb\0\0\0\3",
    b"QFI\xfb\0\0\0\2",
    b"KDMV\1\0\0\0",
    b"COWD",
    b"conectix",
    b"vhdxfile",
    b"QED\0",
    b"WithouFreSpacExt\2\0\0\0",
    b"LUKS\xba\xbe",
    b"version=1\n",
]


def test_fuzz_random_data() -> None:
    rng = random.Random(20240607)
    for _ in range(300):
        length = rng.choice((0, 7, 100, 600, 5000, 40000))
        data = rng.choice(MAGICS) + rng.randbytes(length)
        if rng.random() < 0.3:  # a plausible ISO descriptor or VHD footer somewhere
            data = data.ljust(32 * 1024 + 2048, b"\0")
            data = patched(data, 32 * 1024, b"\1CD001")
        if rng.random() < 0.2:
            data += vhd_checksummed(b"conectix" + rng.randbytes(504))
        assert_robust(data, rng)


@pytest.mark.parametrize("name", CLEAN)
def test_fuzz_truncated_and_mutated_images(images: dict[str, Path], name: str) -> None:
    rng = random.Random(name)
    data = image(images, name)
    cuts = {0, 1, 8, 72, 104, 511, 512, 513, 1024, 4096, 65536, 196 * 1024, len(data) - 1}
    cuts |= {rng.randrange(len(data)) for _ in range(5)}
    for cut in sorted(c for c in cuts if 0 <= c <= len(data)):
        assert_robust(data[:cut], rng)
    prefix = data[: 300 * 1024]  # keep each case small; headers are all in here
    for _ in range(25):
        mutated = bytearray(prefix)
        for _ in range(rng.choice((1, 4, 16))):
            mutated[rng.randrange(min(len(mutated), 4096))] = rng.randrange(256)
        assert_robust(bytes(mutated), rng)
