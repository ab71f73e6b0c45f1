"""The container driver's pieces that need no root: names, commands, the
launcher script, console-log trimming, cgroup layout and files, state checks."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from nubo.compute.drivers import cgroups
from nubo.compute.drivers import container_disk as cd
from nubo.compute.drivers import container_launch as cl
from nubo.compute.drivers.base import DriverError, PowerState
from nubo.compute.drivers.container import ContainerComputeDriver
from nubo.config import ComputeConfig
from nubo.image.guest import CONTAINER_ENV, CONTAINER_INIT

INSTANCE = "5d1e2c3b-7f4a-4e8d-9b6c-0c0a00000001"

# What this kind of host shows: cgroup v1 per controller, an empty v2 mount,
# and nubo itself in a nested memory group.
MOUNTS_V1 = """\
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/devices cgroup rw,relatime,devices 0 0
cgroup /sys/fs/cgroup/freezer cgroup rw,relatime,freezer 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
/dev/vda / ext4 rw,relatime 0 0
"""
SELF_V1 = """\
9:name=systemd:/
8:pids:/
6:freezer:/
5:devices:/
4:memory:/sandbox/abc
2:cpu,cpuacct:/
0::/
"""
MOUNTS_V2 = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0\n"
SELF_V2 = "0::/system.slice/nubo.service\n"


def driver(tmp_path: Path, console_log_bytes: int = 1 << 20) -> ContainerComputeDriver:
    config = ComputeConfig(console_log_bytes=console_log_bytes)
    return ContainerComputeDriver(tmp_path / "instances", config)


# -- names ---------------------------------------------------------------------------


def test_names() -> None:
    assert cl.netns_name(INSTANCE) == "nubo-inst-5d1e2c3b7f"
    base = cd.rootfs_dir(Path("/srv/instances"), Path("/srv/instances/_base/abc123"))
    assert base == Path("/srv/instances/_base/abc123.rootfs")
    tiny = cd.rootfs_dir(Path("/i"), Path("/cache/nubo-tiny-db935ae2e690.qcow2"))
    assert tiny == Path("/i/_base/nubo-tiny-db935ae2e690.rootfs")
    assert cl.guest_hostname("web 1_ä.example.") == "web-1--.example"
    assert cl.guest_hostname("---") == "instance"
    assert len(cl.guest_hostname("x" * 200)) == 63
    assert cd.overlay_safe(Path("/var/lib/nubo/instances"))
    assert not cd.overlay_safe(Path("/data/a,b")) and not cd.overlay_safe(Path("/data/a:b"))


def test_instance_ids_cannot_leave_the_instances_dir(tmp_path: Path) -> None:
    drv = driver(tmp_path)
    for bad in ("", "../etc", "_base", ".hidden", "a/b"):
        with pytest.raises(DriverError):
            drv.power_state(bad)


# -- the start command -------------------------------------------------------------------


def test_launch_command_layers_namespaces_and_arguments() -> None:
    cmd = cl.launch_command(
        pid_file=Path("/i/x/container.pid"),
        cgroup_procs=[Path("/cg/cpu/nubo/x/cgroup.procs"), Path("/cg/memory/nubo/x/cgroup.procs")],
        netns_path=Path("/run/netns/nubo-inst-x"),
        lower=Path("/i/_base/img.rootfs"),
        upper=Path("/i/x/upper"),
        work=Path("/i/x/work"),
        mountpoint=Path("/i/x/root"),
        hostname="web-1",
    )
    assert cmd[:5] == ["sh", "-c", cl.LAUNCHER, "nubo-launch", "/i/x/container.pid"]
    sep = cmd.index("--")
    assert cmd[5:sep] == ["/cg/cpu/nubo/x/cgroup.procs", "/cg/memory/nubo/x/cgroup.procs"]
    container = cmd[sep + 1 :]
    # capabilities first (for every process), then the network namespace, then the rest
    assert container[0] == "setpriv" and container[1].startswith("--bounding-set=-sys_module,")
    assert "-sys_admin" not in container[1] and "-sys_boot" not in container[1]
    assert container[2:5] == ["nsenter", "--net=/run/netns/nubo-inst-x", "--"]
    python = container.index(sys.executable)
    unshare = container[5:python]
    assert unshare[0] == "unshare" and unshare[-1] == "--"
    for flag in ("--fork", "--pid", "--mount", "--uts", "--ipc", "--kill-child"):
        assert flag in unshare
    # a new network namespace would be a bind mount over the named one: never
    assert not any(flag.startswith("--net") for flag in unshare)
    assert container[python + 1 : python + 4] == ["-I", "-S", "-c"]
    script = container[python + 4]
    assert script == cl.PRE_INIT and "os.execve(init" in script
    assert container[python + 5 :] == [
        "/i/_base/img.rootfs",
        "/i/x/upper",
        "/i/x/work",
        "/i/x/root",
        "web-1",
        CONTAINER_INIT,
    ]


def test_pre_init_stops_at_the_first_failure(tmp_path: Path) -> None:
    """The pre-init with layers that do not exist: it stops and says why. (As root
    it runs in throwaway UTS and mount namespaces, as its host name is set first.)"""
    args = [str(tmp_path / n) for n in ("lower", "upper", "work", "root")]
    cmd = [sys.executable, "-I", "-S", "-c", cl.PRE_INIT, *args, "host", "/sbin/init"]
    if os.geteuid() == 0:
        cmd = ["unshare", "--uts", "--mount", "--propagation=private", "--", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    expected = "mount the root overlay" if os.geteuid() == 0 else "set the host name"
    assert proc.stderr.startswith(f"nubo: cannot {expected}: "), proc.stderr


def test_launch_env_marks_the_supervisor_only() -> None:
    env = cl.launch_env(INSTANCE)
    assert env == {**CONTAINER_ENV, "NUBO_INSTANCE": INSTANCE}
    assert cl.has_mark(b"PATH=/bin\0NUBO_INSTANCE=" + INSTANCE.encode() + b"\0", INSTANCE)
    assert not cl.has_mark(b"NUBO_INSTANCE=" + INSTANCE.encode() + b"x\0", INSTANCE)
    assert not cl.has_mark(b"", INSTANCE)


def test_launcher_joins_groups_records_pid_and_detaches(tmp_path: Path) -> None:
    """The launcher script itself, with plain files for cgroup.procs."""
    procs = [tmp_path / "cpu.procs", tmp_path / "memory.procs"]
    pid_file = tmp_path / "container.pid"
    out = tmp_path / "out"
    child = ["sh", "-c", f'echo "$$ $NUBO_INSTANCE" >{out}']
    cmd = ["sh", "-c", cl.LAUNCHER, "nubo-launch", str(pid_file), *map(str, procs), "--", *child]
    launcher = subprocess.run(cmd, env={"PATH": os.environ["PATH"], "NUBO_INSTANCE": "i-1"})
    assert launcher.returncode == 0
    pid = pid_file.read_text().strip()
    for _ in range(100):
        if out.exists() and out.read_text().strip():
            break
        subprocess.run(["sleep", "0.05"])
    # the recorded pid is the process that joined the groups and became the command
    assert out.read_text().split() == [pid, "i-1"]
    for path in procs:
        assert path.read_text().strip() == pid


def test_launcher_stops_when_a_group_cannot_be_joined(tmp_path: Path) -> None:
    pid_file = tmp_path / "container.pid"
    out = tmp_path / "out"
    bad = tmp_path / "missing" / "cgroup.procs"
    cmd = ["sh", "-c", cl.LAUNCHER, "x", str(pid_file), str(bad), "--", "touch", str(out)]
    subprocess.run(cmd, capture_output=True, check=True)
    pid = int(pid_file.read_text())
    for _ in range(100):
        if not Path(f"/proc/{pid}").exists():
            break
        subprocess.run(["sleep", "0.05"])
    assert not out.exists()


# -- console log -----------------------------------------------------------------------------


@pytest.mark.parametrize("collapse", [True, False])
def test_trim_log_keeps_the_newest_bytes(tmp_path: Path, collapse: bool) -> None:
    log = tmp_path / "console.log"
    limit = 8192
    data = b"".join(f"line {i:06d}\n".encode() for i in range(3000))  # 36000 bytes
    log.write_bytes(data)
    with log.open("ab") as writer:  # a guest process holding the log open
        assert cl.trim_log(log, limit, collapse=collapse)
        size = log.stat().st_size
        assert limit <= size < limit + 4096
        assert data.endswith(log.read_bytes())
        writer.write(b"after trim\n")
        writer.flush()
    text = log.read_bytes()
    assert text.endswith(b"line 002999\nafter trim\n")
    assert len(text) == size + len(b"after trim\n")  # appended at the end, no hole


def test_trim_log_leaves_small_logs_alone(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    log.write_bytes(b"x" * 100)
    assert not cl.trim_log(log, 50)  # not past twice the limit
    assert log.read_bytes() == b"x" * 100
    assert not cl.trim_log(tmp_path / "none.log", 50)
    assert cl.read_tail(log, 10) == b"x" * 10
    assert cl.read_tail(tmp_path / "none.log", 10) == b""


def test_console_log_is_bounded(tmp_path: Path) -> None:
    drv = driver(tmp_path, console_log_bytes=4096)
    directory = tmp_path / "instances" / INSTANCE
    directory.mkdir(parents=True)
    (directory / "console.log").write_bytes(b"a" * 10000 + b"\nthe end\n")
    text = drv.console_log(INSTANCE)
    assert len(text) == 4096 and text.endswith(b"the end\n")
    assert (directory / "console.log").stat().st_size < 10000


def test_consoles_are_not_offered(tmp_path: Path) -> None:
    drv = driver(tmp_path)
    with pytest.raises(DriverError, match="no graphical console"):
        drv.console(INSTANCE, "novnc")
    with pytest.raises(DriverError, match="console log"):
        drv.console(INSTANCE, "serial")


# -- state and adoption --------------------------------------------------------------------


def test_power_state_needs_our_process(tmp_path: Path) -> None:
    drv = driver(tmp_path)
    assert drv.power_state(INSTANCE) == PowerState.NOSTATE
    assert drv.list_instances() == {}
    directory = tmp_path / "instances" / INSTANCE
    directory.mkdir(parents=True)
    (directory / "container.json").write_text(json.dumps({"nics": []}))
    (tmp_path / "instances" / "_base").mkdir()
    assert drv.list_instances() == {INSTANCE: PowerState.SHUTDOWN}
    # A pid file naming a live process that is not the container (no mark): not ours.
    (directory / "container.pid").write_text(str(os.getpid()))
    assert drv.power_state(INSTANCE) == PowerState.SHUTDOWN


def test_resize_disk_records_the_size(tmp_path: Path) -> None:
    drv = driver(tmp_path)
    with pytest.raises(DriverError):
        drv.resize_disk(INSTANCE, 5)
    directory = tmp_path / "instances" / INSTANCE
    directory.mkdir(parents=True)
    (directory / "container.json").write_text(json.dumps({"root_gb": 1}))
    drv.resize_disk(INSTANCE, 5)
    assert json.loads((directory / "container.json").read_text())["root_gb"] == 5


def test_not_available_without_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    ok, why = ContainerComputeDriver.available()
    assert not ok and "root" in why


def test_ext_identity_reads_uuid_and_block_size(tmp_path: Path) -> None:
    sb = bytearray(1024)
    struct.pack_into("<I", sb, 0x18, 2)  # 1024 << 2
    sb[0x68:0x78] = bytes.fromhex("6e75626f74696e79800000000000000a")
    disk = tmp_path / "disk"
    disk.write_bytes(bytes(4096) + bytes(1024) + bytes(sb))
    with disk.open("rb") as f:
        uuid, block = cd.ext_identity(f, 4096)
    assert uuid == "6e75626f-7469-6e79-8000-00000000000a" and block == 4096


# -- cgroups -----------------------------------------------------------------------------------


def test_cgroup_v1_layout_nests_under_nubos_own_groups() -> None:
    hierarchy = cgroups.layout(MOUNTS_V1, SELF_V1, "")
    assert hierarchy.version == 1
    assert hierarchy.mounts["cpu"] == hierarchy.mounts["cpuacct"]
    group = hierarchy.group(INSTANCE)
    assert group.paths == {
        "cpu": Path(f"/sys/fs/cgroup/cpu,cpuacct/nubo/{INSTANCE}"),
        "memory": Path(f"/sys/fs/cgroup/memory/sandbox/abc/nubo/{INSTANCE}"),
        "pids": Path(f"/sys/fs/cgroup/pids/nubo/{INSTANCE}"),
        "freezer": Path(f"/sys/fs/cgroup/freezer/nubo/{INSTANCE}"),
        "devices": Path(f"/sys/fs/cgroup/devices/nubo/{INSTANCE}"),
    }
    assert Path(f"/sys/fs/cgroup/memory/sandbox/abc/nubo/{INSTANCE}/cgroup.procs") in (
        group.procs_files()
    )
    assert "freezer" in hierarchy.describe()
    assert cgroups.Cgroup.from_json(json.loads(json.dumps(group.to_json()))) == group


def test_cgroup_v2_layout_is_at_the_root() -> None:
    hierarchy = cgroups.layout(MOUNTS_V2, SELF_V2, "cpuset cpu io memory pids")
    assert hierarchy.version == 2
    group = hierarchy.group(INSTANCE)
    assert group.paths == {cgroups.UNIFIED: Path(f"/sys/fs/cgroup/nubo/{INSTANCE}")}
    # a v2 mount without the controllers (hybrid hosts) leaves v1 in charge
    assert cgroups.layout(MOUNTS_V1, SELF_V1, "hugetlb").version == 1


def test_missing_controllers_are_named() -> None:
    mounts = "\n".join(line for line in MOUNTS_V1.splitlines() if "freezer" not in line)
    hierarchy = cgroups.layout(mounts, SELF_V1, None)
    assert hierarchy.version == 0 and hierarchy.missing == ("freezer",)
    assert "freezer missing" in hierarchy.describe()
    with pytest.raises(cgroups.CgroupError, match="freezer"):
        hierarchy.group(INSTANCE)


def test_limits() -> None:
    limits = cgroups.Limits(vcpus=2, memory_mb=512)
    assert limits.cfs_quota_us == 200_000 and limits.cfs_period_us == 100_000
    assert limits.memory_bytes == 512 << 20
    assert cgroups.Limits(vcpus=0, memory_mb=1).cfs_quota_us == 100_000


def test_cgroup_v1_files(tmp_path: Path) -> None:
    paths = {c: tmp_path / c / "nubo" / INSTANCE for c in ("cpu", "memory", "pids", "freezer")}
    group = cgroups.Cgroup(1, {**paths, "devices": tmp_path / "devices" / "nubo" / INSTANCE})
    group.create(cgroups.Limits(vcpus=3, memory_mb=256, pids_max=100))
    assert (paths["cpu"] / "cpu.cfs_quota_us").read_text() == "300000"
    assert (paths["cpu"] / "cpu.cfs_period_us").read_text() == "100000"
    assert group.memory_limit() == 256 << 20
    assert group.cpu_quota() == (300000, 100000)
    assert (paths["pids"] / "pids.max").read_text() == "100"
    assert (tmp_path / "devices" / "nubo" / INSTANCE / "devices.deny").read_text() == "a"
    assert not (paths["memory"] / "memory.memsw.limit_in_bytes").exists()
    (paths["cpu"] / "cgroup.procs").write_text("12\n34\n")
    (paths["memory"] / "cgroup.procs").write_text("34\n56\n")
    assert group.pids() == [12, 34, 56]
    assert group.freezer_state() == "THAWED"
    (paths["freezer"] / "freezer.state").write_text("FROZEN\n")
    assert group.freezer_state() == "FROZEN"


def test_cgroup_v2_files(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    root.mkdir()
    group = cgroups.Cgroup(2, {cgroups.UNIFIED: root / "nubo" / INSTANCE})
    group.create(cgroups.Limits(vcpus=1, memory_mb=64))
    directory = root / "nubo" / INSTANCE
    assert (root / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    assert (root / "nubo" / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    assert (directory / "cpu.max").read_text() == "100000 100000"
    assert group.memory_limit() == 64 << 20
    assert group.procs_files() == [directory / "cgroup.procs"]
    (directory / "cgroup.freeze").write_text("1")
    (directory / "cgroup.events").write_text("populated 1\nfrozen 0\n")
    assert group.freezer_state() == "FREEZING"
    (directory / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    assert group.freezer_state() == "FROZEN"
