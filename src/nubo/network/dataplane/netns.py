"""Network namespaces and the ``ip`` tool, as the Linux driver uses them.

Reads go through ``ip -j`` dumps (one process per namespace); changes go through
``ip -force -batch -`` so one process applies many commands and each failed
command is reported on its own. Work inside a namespace that needs a syscall
(sysctls, listening sockets) runs in a short-lived thread that entered the
namespace with setns(2): the network namespace is per thread, so the rest of the
process is never moved.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import re
import socket
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from nubo.network.dataplane.spec import (
    DATAPLANE_NS,
    DHCP_NS_PREFIX,
    EXTERNAL_NS,
    ROUTER_NS_PREFIX,
    UNDERLAY_NS,
)

log = logging.getLogger(__name__)

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
HOST = ""  # the key of the host's own namespace in the driver's maps
TIMEOUT = 60.0
IP_FREEBIND = 15  # socket option (linux/in.h), not exported by the socket module

T = TypeVar("T")

_FAILED = re.compile(r"^Command failed -:(\d+)\s*$")


class DataplaneError(RuntimeError):
    """A kernel object could not be created or changed."""


def run(
    cmd: Sequence[str], *, stdin: str | None = None, check: bool = True, timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run a tool, capturing its output; raise DataplaneError when check and it fails."""
    proc = subprocess.run(
        list(cmd),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        raise DataplaneError(f"{' '.join(cmd)}: {proc.stderr.strip() or proc.returncode}")
    return proc


def ns_args(namespace: str) -> list[str]:
    """``-n <namespace>`` for ip/bridge, nothing for the host namespace."""
    return ["-n", namespace] if namespace else []


def ip(namespace: str, *args: str, check: bool = True) -> str:
    """Run one ``ip`` command in namespace and return its output."""
    return run(["ip", *ns_args(namespace), *args], check=check).stdout


def batch(namespace: str, commands: Sequence[str], tool: str = "ip") -> list[tuple[str, str]]:
    """Run commands through one ``<tool> -force -batch -`` in namespace.

    Returns (command, error) for each command that failed; the others took effect.
    """
    if not commands:
        return []
    for command in commands:
        log.debug("%s %s: %s", tool, namespace or "(host)", command)
    proc = run(
        [tool, *ns_args(namespace), "-force", "-batch", "-"],
        stdin="\n".join(commands) + "\n",
        check=False,
    )
    if proc.returncode == 0:
        return []
    return batch_failures(commands, proc.stderr, proc.returncode)


def batch_failures(commands: Sequence[str], stderr: str, returncode: int) -> list[tuple[str, str]]:
    """(command, error) for each command a failed ``-force -batch -`` run reports.

    ip and bridge print the error, then ``Command failed -:<line>``.
    """
    failed: list[tuple[str, str]] = []
    pending: list[str] = []
    for line in stderr.splitlines():
        match = _FAILED.match(line)
        if match is None:
            pending.append(line.strip())
            continue
        index = int(match.group(1)) - 1
        if 0 <= index < len(commands):
            failed.append((commands[index], "; ".join(p for p in pending if p) or "failed"))
        pending = []
    if not failed:  # the tool failed as a whole (e.g. the namespace is gone)
        reason = stderr.strip() or f"exit status {returncode}"
        failed = [(command, reason) for command in commands]
    return failed


def dump_json(namespace: str, *args: str, tool: str = "ip") -> list[dict[str, Any]]:
    """A ``<tool> -j`` listing in namespace, parsed."""
    out = run([tool, *ns_args(namespace), "-j", *args]).stdout
    return json_arrays(out)


def json_arrays(text: str) -> list[dict[str, Any]]:
    """Every JSON array in text (``ip -j -batch`` prints one per command), concatenated."""
    decoder = json.JSONDecoder()
    items: list[dict[str, Any]] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return items
        value, pos = decoder.raw_decode(text, pos)
        if isinstance(value, list):
            items.extend(v for v in value if isinstance(v, dict))


def is_nubo_namespace(name: str) -> bool:
    """True for the namespaces nubo owns (and for no other namespace, e.g. test ones)."""
    return name in (DATAPLANE_NS, EXTERNAL_NS, UNDERLAY_NS) or name.startswith(
        (ROUTER_NS_PREFIX, DHCP_NS_PREFIX)
    )


def list_namespaces() -> set[str]:
    """Names of every nubo namespace that exists."""
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return set()
    return {name for name in names if is_nubo_namespace(name)}


def _nsfs_dev() -> int:
    return os.stat("/proc/self/ns/net").st_dev


def namespace_exists(name: str) -> bool:
    """True when /run/netns/<name> is a mounted namespace (not a stale file)."""
    try:
        return os.stat(NETNS_DIR / name).st_dev == _nsfs_dev()
    except OSError:
        return False


def ensure_namespace(name: str) -> bool:
    """Create the namespace (with lo up) unless it exists; True when it was created."""
    if namespace_exists(name):
        return False
    stale = NETNS_DIR / name
    if stale.exists():  # left by a reboot: a plain file where a mount was
        stale.unlink()
    run(["ip", "netns", "add", name])
    ip(name, "link", "set", "lo", "up")
    log.debug("created namespace %s", name)
    return True


def delete_namespace(name: str) -> None:
    """Remove the namespace (its virtual links go with it); nothing if it is gone."""
    if not (NETNS_DIR / name).exists():
        return
    run(["ip", "netns", "del", name], check=False)
    log.debug("deleted namespace %s", name)


_libc = ctypes.CDLL(None, use_errno=True)


def in_namespace(namespace: str, func: Callable[[], T]) -> T:
    """Call func in a thread that entered namespace, and return its result.

    Sockets func creates stay in that namespace for their whole life.
    """
    result: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            if namespace:
                fd = os.open(NETNS_DIR / namespace, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    if _libc.setns(fd, CLONE_NEWNET) != 0:
                        err = ctypes.get_errno()
                        raise OSError(err, f"setns {namespace}: {os.strerror(err)}")
                finally:
                    os.close(fd)
            result.append(func())
        except BaseException as exc:  # handed to the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target, name=f"netns-{namespace}", daemon=True)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


def sync_sysctls(namespace: str, values: Mapping[str, str]) -> list[str]:
    """Set /proc/sys/<key> = value in namespace where it differs; returns the keys changed."""

    def apply() -> list[str]:
        changed: list[str] = []
        for key, value in values.items():
            path = Path("/proc/sys") / key
            if path.read_text().strip() != value:
                path.write_text(value + "\n")
                changed.append(key)
        return changed

    changed = in_namespace(namespace, apply) if values else []
    for key in changed:
        log.debug("sysctl %s in %s = %s", key, namespace, values[key])
    return changed


def read_route_tables(namespace: str) -> tuple[str, str]:
    """The text of /proc/net/route and /proc/net/ipv6_route inside namespace."""

    def read() -> tuple[str, str]:
        # thread-self: /proc/self/net would show the main thread's namespace
        base = Path("/proc/thread-self/net")
        try:
            route6 = (base / "ipv6_route").read_text()
        except FileNotFoundError:  # IPv6 off
            route6 = ""
        return (base / "route").read_text(), route6

    return in_namespace(namespace, read)


def listening_socket(namespace: str, host: str, port: int, backlog: int = 128) -> socket.socket:
    """A TCP socket listening on host:port inside namespace.

    IP_FREEBIND lets it bind before the address is configured, so callers do not
    depend on the order in which the dataplane comes up.
    """

    def create() -> socket.socket:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
            sock.bind((host, port))
            sock.listen(backlog)
        except BaseException:
            sock.close()
            raise
        return sock

    return in_namespace(namespace, create)


def namespace_inode(name: str) -> int | None:
    """The inode of a named namespace (to tell which namespace a process is in)."""
    try:
        return os.stat(NETNS_DIR / name).st_ino
    except OSError:
        return None


def link_exists(namespace: str, name: str) -> bool:
    """True when a link called name exists in namespace."""
    return (
        run(["ip", *ns_args(namespace), "link", "show", "dev", name], check=False).returncode == 0
    )
