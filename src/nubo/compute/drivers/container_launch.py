"""How a container starts, and how nubo recognises its processes and bounds its log.

Pure pieces of the container driver (see container.py): names, the launcher
and pre-init scripts and the command around them, the console log's
trimming, and /proc checks. Nothing here needs a running container.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from nubo.image.guest import CONTAINER_ENV, CONTAINER_INIT

NETNS_PREFIX = "nubo-inst-"
# In the environment of the supervising process (never in init's): marks a
# process as the container of one instance.
ENV_MARK = "NUBO_INSTANCE"

# Taken out of the capability bounding set of everything in a container.
DROPPED_CAPABILITIES = (
    "sys_module",
    "sys_rawio",
    "sys_time",
    "syslog",
    "sys_pacct",
    "linux_immutable",
    "mac_admin",
    "mac_override",
    "audit_control",
    "wake_alarm",
    "block_suspend",
)

# Runs detached: starts the container (below) in the background, in the
# instance's cgroups, and records its pid. Arguments: pid file, cgroup.procs
# files, "--", the container's command.
LAUNCHER = """\
pidfile=$1
shift
sh -c 'while [ "$1" != -- ]; do echo $$ >"$1" || exit 1; shift; done; shift; exec "$@"' \\
    nubo-start "$@" &
echo $! >"$pidfile.new" && mv "$pidfile.new" "$pidfile"
"""

# PID 1 of the new namespaces, before it becomes the guest's init: name the
# host, mount the overlay, make it the root and detach the host's mounts
# (pivot_root, so none of them stays reachable or pinned), then exec init.
# Python with system calls rather than a shell with mount tools: once the
# root has moved, every program name resolves in the guest's tree, and the
# guest's umount or libraries must not be what finishes the job. Arguments:
# lower, upper, work, mount point, host name, init.
PRE_INIT = """\
import ctypes, os, socket, sys
lower, upper, work, root, hostname, init = sys.argv[1:7]
libc = ctypes.CDLL(None, use_errno=True)
PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
MNT_DETACH = 2


def fail(what):
    sys.stderr.write("nubo: cannot %s: %s\\n" % (what, os.strerror(ctypes.get_errno())))
    sys.exit(1)


try:
    socket.sethostname(hostname)
except OSError as exc:
    sys.stderr.write("nubo: cannot set the host name: %s\\n" % exc.strerror)
    sys.exit(1)
options = "lowerdir=%s,upperdir=%s,workdir=%s" % (lower, upper, work)
if libc.mount(b"overlay", root.encode(), b"overlay", 0, options.encode()) != 0:
    fail("mount the root overlay")
os.chdir(root)
number = PIVOT_ROOT.get(os.uname().machine)
if number is None:
    sys.stderr.write("nubo: pivot_root unknown on %s\\n" % os.uname().machine)
    sys.exit(1)
if libc.syscall(number, b".", b".") != 0:
    fail("make the overlay the root (pivot_root)")
if libc.umount2(b".", MNT_DETACH) != 0:
    fail("detach the host's mounts")
os.chdir("/")
env = {k: v for k, v in os.environ.items() if k not in ("NUBO_INSTANCE", "PWD", "OLDPWD")}
try:
    os.execve(init, [init], env)
except OSError as exc:
    sys.stderr.write("nubo: cannot run %s: %s\\n" % (init, exc.strerror))
    sys.exit(1)
"""

# -- names and commands (pure) ---------------------------------------------------------


def netns_name(instance_id: str) -> str:
    """The instance's network namespace: ``nubo-inst-`` and 10 characters of its id."""
    return NETNS_PREFIX + instance_id.replace("-", "")[:10]


def guest_hostname(name: str) -> str:
    """A host name the kernel takes: letters, digits, '-' and '.', at most 63."""
    cleaned = "".join(c if (c.isascii() and c.isalnum()) or c in "-." else "-" for c in name)[
        :63
    ].strip("-.")
    return cleaned or "instance"


def launch_command(
    *,
    pid_file: Path,
    cgroup_procs: Sequence[Path],
    netns_path: Path,
    lower: Path,
    upper: Path,
    work: Path,
    mountpoint: Path,
    hostname: str,
    init: str = CONTAINER_INIT,
) -> list[str]:
    """The command that starts the container detached and writes its pid file."""
    container = [
        "setpriv",
        "--bounding-set=" + ",".join("-" + cap for cap in DROPPED_CAPABILITIES),
        "nsenter",
        f"--net={netns_path}",
        "--",
        "unshare",
        "--fork",
        "--pid",
        "--mount",
        "--uts",
        "--ipc",
        "--kill-child",
        "--propagation=private",
        "--",
        sys.executable,
        "-I",
        "-S",
        "-c",
        PRE_INIT,
        str(lower),
        str(upper),
        str(work),
        str(mountpoint),
        hostname,
        init,
    ]
    procs = [str(p) for p in cgroup_procs]
    return ["sh", "-c", LAUNCHER, "nubo-launch", str(pid_file), *procs, "--", *container]


def launch_env(instance_id: str) -> dict[str, str]:
    """The environment of the container's processes (init's, without the mark)."""
    return {**CONTAINER_ENV, ENV_MARK: instance_id}


# -- console log -------------------------------------------------------------------------

FALLOC_FL_COLLAPSE_RANGE = 0x08
_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]


def _collapse_head(fd: int, length: int) -> bool:
    """Cut the first length bytes out of the file in place (atomically for
    concurrent appends); False where the filesystem cannot."""
    return bool(_libc.fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, length) == 0)


def trim_log(path: Path, limit: int, *, collapse: bool = True) -> bool:
    """Keep about the newest limit bytes of a log that grew past twice limit.

    The log stays the same file (the guest's processes hold it open for
    appending): on ext4 or XFS the head is collapsed in place, block-aligned,
    so nothing written meanwhile is lost; elsewhere the tail is copied to the
    front and the file truncated (a line written in that instant may be lost).
    Returns True when the file was trimmed.
    """
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        st = os.fstat(fd)
        if limit <= 0 or st.st_size <= 2 * limit:
            return False
        block = max(st.st_blksize, 4096)
        cut = (st.st_size - limit) // block * block
        if collapse and cut > 0 and _collapse_head(fd, cut):
            return True
        os.lseek(fd, st.st_size - limit, os.SEEK_SET)
        tail = os.read(fd, limit)
        os.pwrite(fd, tail, 0)
        os.ftruncate(fd, len(tail))
        return True
    finally:
        os.close(fd)


def read_tail(path: Path, limit: int) -> bytes:
    """The newest limit bytes of a file (empty if there is none)."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - limit) if limit > 0 else 0)
            return f.read()
    except FileNotFoundError:
        return b""


# -- processes ---------------------------------------------------------------------------


def proc_environ(pid: int) -> bytes:
    """The environment of pid, empty when it is gone."""
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return b""


def alive(pid: int) -> bool:
    """True while pid exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def children(pid: int) -> list[int]:
    """The child processes of pid."""
    found: list[int] = []
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                text = Path(f"/proc/{pid}/task/{task}/children").read_text()
                found += [int(c) for c in text.split()]
    return found


def has_mark(environ: bytes, instance_id: str) -> bool:
    """True when an environment (/proc/<pid>/environ) carries the instance's mark."""
    return f"{ENV_MARK}={instance_id}".encode() in environ.split(b"\0")
