"""Guest image building blocks that need neither root nor a network.

Package resolution, kernel-module ordering, the cpio and MBR writers, the
metadata layout, and the guest's own awk/shell pieces (run with whatever
awk and busybox the machine has).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from nubo.image.guest import GuestImageError, markers
from nubo.image.guest.cache import FILES, recipe_digest
from nubo.image.guest.cpio import EPOCH, CpioWriter
from nubo.image.guest.debian import debian_sources
from nubo.image.guest.debs import (
    Package,
    package_from_stanza,
    parse_relations,
    parse_stanzas,
    resolve,
)
from nubo.image.guest.disk import (
    Partition,
    _chs,
    find_ext_filesystems,
    mbr,
    read_partitions,
)
from nubo.image.guest.elf import ElfFile, parse_modinfo
from nubo.image.guest.extract import choose_root, parse_ls
from nubo.image.guest.kmod import Module, load_order, module_from_modinfo, parse_softdeps
from nubo.image.guest.metadata import hostname_for, meta_data, network_data_dhcp, openstack_tree

# -- Debian packages -----------------------------------------------------------

SHOW = """\
Package: dropbear-bin
Version: 2022.83-1+deb12u3
Architecture: amd64
Depends: libc6 (>= 2.34), libcrypt1 (>= 1:4.1.0), zlib1g (>= 1:1.1.4)
Description: lightweight SSH2 server
 a continuation line
SHA256: abc

Package: libc6
Version: 2.36-9+deb12u14
Architecture: amd64
Depends: libgcc-s1
"""


def test_stanzas_and_relations() -> None:
    stanzas = parse_stanzas(SHOW)
    assert [s["Package"] for s in stanzas] == ["dropbear-bin", "libc6"]
    assert stanzas[0]["Description"] == "lightweight SSH2 server\na continuation line"
    package = package_from_stanza(stanzas[0])
    assert package.depends == (("libc6",), ("libcrypt1",), ("zlib1g",))
    assert package.sha256 == "abc"
    assert parse_relations("a (>= 1) | b:any [amd64], c <!nocheck>, ") == (("a", "b"), ("c",))


def test_deb_name_escapes_the_epoch() -> None:
    package = Package("libcrypt1", "1:4.4.33-2", "amd64", ())
    assert package.deb_name == "libcrypt1_1%3a4.4.33-2_amd64.deb"


def _universe() -> dict[str, Package]:
    def pkg(name: str, *depends: tuple[str, ...]) -> Package:
        return Package(name, "1", "amd64", depends)

    return {
        "app": pkg("app", ("libc6",), ("virtual-x", "real-x"), ("libz",)),
        "libc6": pkg("libc6", ("libgcc-s1",)),
        "libgcc-s1": pkg("libgcc-s1", ("gcc-base",), ("libc6",)),
        "gcc-base": pkg("gcc-base"),
        "real-x": pkg("real-x", ("libc6",)),
        "libz": pkg("libz", ("libc6",)),
    }


def test_resolve_closure_alternatives_and_exclusions() -> None:
    universe = _universe()
    names = [p.name for p in resolve(["app"], universe.get, exclude=["gcc-base"])]
    assert names == ["app", "libc6", "real-x", "libz", "libgcc-s1"]


def test_resolve_refuses_what_nothing_provides() -> None:
    with pytest.raises(GuestImageError, match="virtual-only"):
        resolve(["virtual-only"], _universe().get)


def test_debian_sources_from_apt_policy() -> None:
    policy = """Package files:
 100 /var/lib/dpkg/status
 500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
 500 http://deb.debian.org/debian bookworm-updates/main amd64 Packages
 500 http://mirror.example/debian bookworm/main amd64 Packages
 500 https://packages.cloud.google.com/apt cloud-sdk-bookworm/main amd64 Packages
"""
    assert debian_sources(policy) == {
        "bookworm": "http://mirror.example/debian",
        "bookworm-updates": "http://deb.debian.org/debian",
        "bookworm-security": "http://deb.debian.org/debian-security",
    }
    with pytest.raises(GuestImageError):
        debian_sources("nothing here")


# -- ELF and kernel modules --------------------------------------------------


def test_elf_interpreter_and_needed_libraries() -> None:
    sh = Path("/bin/sh").resolve()
    if sh.read_bytes()[:5] != b"\x7fELF\x02":
        pytest.skip("/bin/sh is not a 64-bit ELF here")
    elf = ElfFile.read(sh)
    assert elf.interpreter() is not None
    assert "libc.so.6" in elf.needed()


def test_not_elf_is_refused() -> None:
    with pytest.raises(GuestImageError):
        ElfFile(b"#!/bin/sh\n" + bytes(64))


def test_modinfo_fields() -> None:
    fields = parse_modinfo(b"license=GPL\0depends=jbd2,mbcache,crc16\0softdep=pre: crc32c\0\0")
    module = module_from_modinfo("lib/modules/6.1/kernel/fs/ext4/ext4.ko", fields)
    assert module.name == "ext4"
    assert module.depends == ("jbd2", "mbcache", "crc16")
    assert module.softdeps == ("crc32c",)
    assert parse_softdeps(["pre: a b post: c", "pre: d"]) == ("a", "b", "d")


def _index() -> dict[str, Module]:
    modules = [
        Module("ext4", "ext4.ko", ("jbd2", "mbcache", "crc16"), ("crypto-crc32c",)),
        Module("jbd2", "jbd2.ko"),
        Module("mbcache", "mbcache.ko"),
        Module("crc32c_intel", "crc32c-intel.ko", aliases=("crypto-crc32c",)),
        Module("crc32c_generic", "crc32c_generic.ko", aliases=("crypto-crc32c",)),
        Module("virtio_net", "virtio_net.ko", ("virtio", "net_failover")),
        Module("net_failover", "net_failover.ko", ("failover",)),
        Module("failover", "failover.ko"),
        Module("virtio", "virtio.ko"),
        Module("loop_a", "a.ko", ("loop_b",)),
        Module("loop_b", "b.ko", ("loop_a",)),
    ]
    return {m.name: m for m in modules}


def test_load_order_puts_dependencies_first() -> None:
    order = [m.name for m in load_order(["virtio-net", "ext4"], _index(), builtin=["crc16"])]
    assert order == [
        "virtio",
        "failover",
        "net_failover",
        "virtio_net",
        "jbd2",
        "mbcache",
        "crc32c_generic",
        "ext4",
    ]


def test_load_order_errors() -> None:
    with pytest.raises(GuestImageError, match="cycle"):
        load_order(["loop_a"], _index())
    with pytest.raises(GuestImageError, match="crc16"):
        load_order(["ext4"], _index())
    with pytest.raises(GuestImageError, match="no module"):
        load_order(["nonexistent"], _index())
    assert load_order(["already_builtin"], _index(), builtin=["already_builtin"]) == []


# -- cpio and disks ----------------------------------------------------------------


def _read_cpio(data: bytes) -> dict[str, tuple[int, int, int, int, bytes]]:
    """name -> (mode, uid, rdevmajor, rdevminor, data) from a newc archive."""
    entries = {}
    pos = 0
    while True:
        assert data[pos : pos + 6] == b"070701"
        fields = [int(data[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)]
        namesize, filesize = fields[11], fields[6]
        name_start = pos + 110
        name = data[name_start : name_start + namesize - 1].decode()
        pos = name_start + namesize
        pos += -pos % 4
        body = data[pos : pos + filesize]
        pos += filesize
        pos += -pos % 4
        if name == "TRAILER!!!":
            return entries
        assert fields[5] == EPOCH
        entries[name] = (fields[1], fields[2], fields[9], fields[10], body)


def test_cpio_writer(tmp_path: Path) -> None:
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    (tmp_path / "tree" / "sub" / "f").write_bytes(b"abc")
    (tmp_path / "tree" / "link").symlink_to("sub/f")
    w = CpioWriter()
    w.file("init", b"#!/bin/sh\n", 0o755)
    w.char_device("dev/console", 5, 1)
    w.tree(tmp_path / "tree", "opt")
    entries = _read_cpio(w.data())
    assert set(entries) == {"init", "dev", "dev/console", "opt", "opt/sub", "opt/sub/f", "opt/link"}
    mode, uid, major, minor, _ = entries["dev/console"]
    assert stat.S_ISCHR(mode) and (major, minor) == (5, 1) and uid == 0
    assert entries["init"][0] == stat.S_IFREG | 0o755
    assert entries["opt/link"][4] == b"sub/f"
    assert entries["opt/sub/f"][4] == b"abc"


def test_mbr_round_trip() -> None:
    parts = [
        Partition(1 << 20, 32 << 20, 0x0E, bootable=True),
        Partition(33 << 20, 95 << 20, 0x83),
    ]
    sector = mbr(parts, b"\xeb" * 500, disk_id=0x12345678)
    assert len(sector) == 512 and sector[:440] == b"\xeb" * 440
    assert struct.unpack_from("<I", sector, 440)[0] == 0x12345678
    assert read_partitions(io.BytesIO(sector + bytes(4096))) == parts
    assert _chs(2048) == bytes([32, 33, 0])
    assert _chs(10**9) == b"\xfe\xff\xff"
    with pytest.raises(GuestImageError):
        mbr([Partition(100, 512)], b"", 0)


def _gpt_disk() -> bytes:
    data = bytearray(64 * 512)
    data[510:512] = b"\x55\xaa"
    struct.pack_into("<B3sB3sII", data, 446, 0, b"\0\0\2", 0xEE, b"\xff\xff\xff", 1, 63)
    data[512:520] = b"EFI PART"
    struct.pack_into("<QII", data, 512 + 72, 2, 4, 128)
    entry = 2 * 512 + 128
    data[entry : entry + 16] = b"\x11" * 16
    struct.pack_into("<QQ", data, entry + 32, 40, 59)
    return bytes(data)


def test_gpt_partitions() -> None:
    assert read_partitions(io.BytesIO(_gpt_disk())) == [Partition(40 * 512, 20 * 512, 0)]


def test_ext_filesystems_are_found_by_superblock() -> None:
    disk = bytearray(8 << 20)
    disk[:512] = mbr([Partition(1 << 20, 4 << 20, 0x83)], b"", 1)
    superblock = (1 << 20) + 1024
    struct.pack_into("<H", disk, superblock + 0x38, 0xEF53)
    disk[superblock + 0x78 : superblock + 0x78 + 9] = b"nubo-root"
    found = find_ext_filesystems(io.BytesIO(bytes(disk)))
    assert [(f.offset, f.label) for f in found] == [(1 << 20, "nubo-root")]
    assert choose_root(found).label == "nubo-root"
    with pytest.raises(GuestImageError):
        choose_root([])


def test_debugfs_listing() -> None:
    output = """debugfs 1.47.0 (5-Feb-2023)
debugfs: ls -p "/"
/2/040755/0/0/.//
/2/040755/0/0/..//
/13/041777/0/0/tmp//

debugfs: ls -p "/usr/bin"
/15/040755/0/0/.//
/16/104755/0/0/sudo/35664/
/17/120777/0/0/sh/4/
"""
    assert parse_ls(output) == {
        "/": {"tmp": 0o41777},
        "/usr/bin": {"sudo": 0o104755, "sh": 0o120777},
    }


def test_recipe_digest_is_stable_and_per_image() -> None:
    assert recipe_digest("tiny", ("tiny",)) == recipe_digest("tiny", ("tiny",))
    assert recipe_digest("tiny", ("tiny",)) != recipe_digest("debian", ("tiny",))


# -- metadata and the guest's parsers ------------------------------------------------


def test_meta_data_layout() -> None:
    meta = meta_data(
        instance_id="iid-1", name="Web Server_1!", public_keys={"k": "ssh-ed25519 AAA"}
    )
    assert meta["hostname"] == "web-server-1"
    assert meta["public_keys"] == {"k": "ssh-ed25519 AAA"}
    assert meta["keys"] == [{"name": "k", "type": "ssh", "data": "ssh-ed25519 AAA"}]
    files = openstack_tree(meta, b"#!/bin/sh\n")
    assert set(files) == {
        "openstack/latest/meta_data.json",
        "openstack/latest/user_data",
        "openstack/latest/vendor_data.json",
    }
    network = network_data_dhcp({"52:54:00:AA:00:01": 1450})
    files = openstack_tree(meta, network_data=network)
    assert json.loads(files["openstack/latest/network_data.json"]) == {
        "links": [
            {"id": "tap0", "type": "phy", "ethernet_mac_address": "52:54:00:aa:00:01", "mtu": 1450}
        ],
        "networks": [{"id": "network0", "link": "tap0", "type": "ipv4_dhcp", "network_id": "net0"}],
        "services": [],
    }
    assert "openstack/latest/user_data" not in openstack_tree(meta)
    assert hostname_for("---") == "instance"


def _awks() -> list[list[str]]:
    found = []
    if shutil.which("busybox"):
        found.append(["busybox", "awk"])
    for name in ("mawk", "gawk"):
        if shutil.which(name):
            found.append([name])
    return found


AWKS = _awks()


def awk(program: str, text: str | bytes, runner: list[str]) -> str:
    data = text.encode() if isinstance(text, str) else text
    proc = subprocess.run(
        [*runner, "-f", str(FILES / program)], input=data, capture_output=True, check=True
    )
    return proc.stdout.decode()


@pytest.mark.parametrize("runner", AWKS, ids=[" ".join(a) for a in AWKS])
def test_json_awk_reads_what_nubo_serves(runner: list[str]) -> None:
    meta = meta_data(
        instance_id="83679162-1378-4288-a2d4-70e13ec132aa",
        name="vm",
        public_keys={
            "one": "ssh-ed25519 AAAA one\n",
            "two": "ssh-rsa BBBB two\nssh-rsa CCCC three",
        },
        meta={"note": 'quote " backslash \\ tab \t café'},
    )
    lines = awk("json.awk", json.dumps(meta), runner).splitlines()
    assert "uuid\t83679162-1378-4288-a2d4-70e13ec132aa" in lines
    assert "hostname\tvm" in lines
    keys = [line.split("\t", 1)[1] for line in lines if line.startswith("public_keys.")]
    assert keys == ["ssh-ed25519 AAAA one", "ssh-rsa BBBB two", "ssh-rsa CCCC three"]
    assert "launch_index\t0" in lines
    assert 'meta.note\tquote " backslash \\ tab \t café' in lines


@pytest.mark.parametrize("runner", AWKS, ids=[" ".join(a) for a in AWKS])
def test_json_awk_refuses_broken_json(runner: list[str]) -> None:
    proc = subprocess.run(
        [*runner, "-f", str(FILES / "json.awk")], input=b'{"a": [1, 2', capture_output=True
    )
    assert proc.returncode == 1


CLOUD_CONFIG = """\
#cloud-config
# comment
hostname: web-1   # trailing comment
ssh_authorized_keys:
  - ssh-ed25519 AAAA one@host
  - "ssh-rsa BBBB two@host"
packages: [nginx]
write_files:
- path: /etc/motd
  content: |
    Hello 'world'

    bye
  permissions: '0600'
  owner: root:root
- path: /etc/blob
  encoding: b64
  content: aGVsbG8K
  append: true
- content: >
    folded
    line

    para
  path: "/tmp/folded"
runcmd:
  - echo "hi there" > /tmp/a
  - [sh, -c, "echo $HOME 'q'"]
  -
    - ls
    - -l
  - |
    echo one
    echo two
"""

# Records each cc_* call the translation makes: arguments end in \001, calls in \002.
RECORDER = """\
record() { for a; do printf '%s\\001' "$a"; done >>"$OUT"; printf '\\002' >>"$OUT"; }
cc_hostname() { record hostname "$@"; }
cc_ssh_key() { record key "$@"; }
cc_write_file() { record file "$@"; }
cc_runcmd() { record run "$@"; }
cc_unsupported() { record unsupported "$@"; }
cc_error() { record error "$@"; }
. "$1"
"""


def run_cloud_config(text: str, runner: list[str], tmp_path: Path) -> list[list[str]]:
    script = tmp_path / "cc.sh"
    script.write_text(awk("cloud-config.awk", text, runner))
    out = tmp_path / "calls"
    out.unlink(missing_ok=True)
    out.touch()
    subprocess.run(["sh", "-c", RECORDER, "sh", str(script)], env={"OUT": str(out)}, check=True)
    calls = out.read_text().split("\002")[:-1]
    return [call.split("\001")[:-1] for call in calls]


@pytest.mark.parametrize("runner", AWKS, ids=[" ".join(a) for a in AWKS])
def test_cloud_config_subset(runner: list[str], tmp_path: Path) -> None:
    calls = run_cloud_config(CLOUD_CONFIG, runner, tmp_path)
    assert calls == [
        ["hostname", "web-1"],
        ["key", "ssh-ed25519 AAAA one@host"],
        ["key", "ssh-rsa BBBB two@host"],
        ["unsupported", "packages"],
        ["file", "/etc/motd", "0600", "root:root", "", "false", "Hello 'world'\n\nbye\n"],
        ["file", "/etc/blob", "0644", "root:root", "b64", "true", "aGVsbG8K"],
        ["file", "/tmp/folded", "0644", "root:root", "", "false", "folded line\npara\n"],
        ["run", 'echo "hi there" > /tmp/a'],
        ["run", "'sh' '-c' 'echo $HOME '\\''q'\\'''"],
        ["run", "'ls' '-l'"],
        ["run", "echo one\necho two\n"],
    ]


@pytest.mark.parametrize("runner", AWKS, ids=[" ".join(a) for a in AWKS])
def test_cloud_config_runcmd_argv_lines_run_as_written(runner: list[str], tmp_path: Path) -> None:
    """A list item of runcmd becomes a shell line that runs exactly that argv."""
    text = "#cloud-config\nruncmd:\n  - [printf, '%s|', \"it's\", 'a $b', 'c\"d']\n"
    calls = run_cloud_config(text, runner, tmp_path)
    assert len(calls) == 1 and calls[0][0] == "run"
    out = subprocess.run(["sh", "-c", calls[0][1]], capture_output=True, text=True, check=True)
    assert out.stdout == "it's|a $b|c\"d|"


@pytest.mark.parametrize("runner", AWKS, ids=[" ".join(a) for a in AWKS])
def test_cloud_config_reports_what_it_cannot_read(runner: list[str], tmp_path: Path) -> None:
    text = "#cloud-config\nruncmd: echo hi\nwrite_files:\n  - content: x\n???\n"
    calls = run_cloud_config(text, runner, tmp_path)
    assert [c[0] for c in calls] == ["error", "error", "error"]
    assert "runcmd must be a list" in calls[0][1]
    assert "without a path" in calls[1][1]


@pytest.mark.parametrize(
    "name", ["boot", "shutdown", "udhcpc.script", "initramfs-init", "acpi-power-button"]
)
def test_guest_scripts_parse(name: str) -> None:
    shells = [["sh", "-n"]] + ([["busybox", "sh", "-n"]] if shutil.which("busybox") else [])
    for shell in shells:
        subprocess.run([*shell, str(FILES / name)], check=True)


UDHCPC_STUB = """#!/bin/sh
# Stands in for busybox: records `ip` calls, runs the real awk.
if [ "$1" = ip ]; then shift; echo "ip $*" >>"$IP_LOG"; exit 0; fi
if [ "$1" = awk ]; then shift; exec awk "$@"; fi
exec "$@"
"""


def run_udhcpc_script(tmp_path: Path, event: str, env: dict[str, str]) -> list[str]:
    """Run a copy of udhcpc.script whose state and resolv.conf live in tmp_path.

    The copy has its paths rewritten (and is checked to touch nothing else),
    and `busybox ip` is a stub, so the host's network and files stay as they are.
    """
    text = (FILES / "udhcpc.script").read_text()
    text = text.replace("/run/nubo-init", str(tmp_path / "run"))
    text = text.replace("/etc/resolv.conf", str(tmp_path / "resolv.conf"))
    for line in text.splitlines():
        assert not re.search(r"(?<!TMP)/(etc|run)/", line.replace(str(tmp_path), "TMP")), line
    script = tmp_path / "udhcpc.script"
    script.write_text(text)
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    stub = bindir / "busybox"
    stub.write_text(UDHCPC_STUB)
    stub.chmod(0o755)
    log = tmp_path / "ip.log"
    log.unlink(missing_ok=True)
    full_env = {
        "PATH": f"{bindir}:{os.environ['PATH']}",
        "IP_LOG": str(log),
        "interface": "eth0",
        **env,
    }
    subprocess.run(["sh", str(script), event], env=full_env, check=True)
    return log.read_text().splitlines() if log.exists() else []


def test_udhcpc_script_mtu_and_classless_routes(tmp_path: Path) -> None:
    lease = {
        "ip": "10.0.0.5",
        "mask": "24",
        "router": "10.0.0.1",
        "mtu": "1450",
        "dns": "10.0.0.2 10.0.0.3",
        "domain": "example.org",
        "staticroutes": "169.254.169.254/32 10.0.0.1 0.0.0.0/0 10.0.0.254 10.9.0.0/16 0.0.0.0",
        "serverid": "10.0.0.1",
        "lease": "3600",
    }
    calls = run_udhcpc_script(tmp_path, "bound", lease)
    assert calls == [
        "ip link set dev eth0 mtu 1450",
        "ip -4 addr flush dev eth0",
        "ip addr add 10.0.0.5/24 dev eth0",
        "ip route replace 169.254.169.254/32 via 10.0.0.1 dev eth0",
        # Option 121 wins over the router option (RFC 3442).
        "ip route replace 0.0.0.0/0 via 10.0.0.254 dev eth0",
        "ip route replace 10.9.0.0/16 dev eth0",
    ]
    assert (tmp_path / "resolv.conf").read_text() == (
        "search example.org\nnameserver 10.0.0.2\nnameserver 10.0.0.3\n"
    )
    summary = (tmp_path / "run" / "dhcp.eth0").read_text()
    assert "ip=10.0.0.5/24" in summary and "mtu=1450" in summary
    assert "routes=[169.254.169.254/32 via 10.0.0.1, 0.0.0.0/0 via 10.0.0.254" in summary
    # A renewal with the same lease changes nothing.
    assert run_udhcpc_script(tmp_path, "renew", lease) == []
    # Without option 121 the router is the default route.
    del lease["staticroutes"]
    calls = run_udhcpc_script(tmp_path, "renew", lease)
    assert "ip route replace default via 10.0.0.1 dev eth0" in calls
    assert "ip route del 169.254.169.254/32 dev eth0" in calls


def test_udhcpc_script_secondary_nic_keeps_the_default_route(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "primary").write_text("eth0\n")
    lease = {"interface": "eth1", "ip": "10.1.0.5", "mask": "24", "router": "10.1.0.1"}
    calls = run_udhcpc_script(tmp_path, "bound", lease)
    assert not any("default" in c for c in calls)
    assert not (tmp_path / "resolv.conf").exists()


def test_markers_match_the_guest_scripts() -> None:
    scripts = (FILES / "boot").read_text() + (FILES / "shutdown").read_text()
    for name in dir(markers):
        value = getattr(markers, name)
        if name.endswith("_MARKER") and isinstance(value, str):
            assert value.startswith(markers.MARKER_PREFIX), name
            assert value.removeprefix(markers.MARKER_PREFIX).lstrip() in scripts, name
    assert markers.DHCP_NO_LEASE in scripts


if sys.platform != "linux":  # pragma: no cover
    pytest.skip("guest images are built on Linux", allow_module_level=True)
