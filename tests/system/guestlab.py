"""A throwaway network for booting guests, kept inside namespaces.

One "lab" namespace holds a bridge with the gateway address and the
metadata address, a dnsmasq serving DHCP on it and a Python HTTP server for
the metadata tree. Guests join the bridge through a tap (QEMU, run inside the
lab namespace) or a veth whose other end is eth0 in a namespace of the
guest's own (containers). Every client runs through `ip netns exec`, so no
packet leaves the namespaces, and close() removes every process (by pid),
namespace and file the lab made.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

SUBNET = "10.77.0"
GATEWAY = f"{SUBNET}.1"
PREFIX = 24
METADATA_IP = "169.254.169.254"
MTU = 1450


def run(cmd: Sequence[str], *, check: bool = True, timeout: float = 60) -> str:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def wait_for(
    path: Path, text: str, timeout: float, proc: subprocess.Popen[bytes] | None = None
) -> float:
    """Seconds until text appears in the file at path; fails on timeout or exit."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if path.exists() and text in path.read_text(errors="replace"):
            return time.monotonic() - start
        if proc is not None and proc.poll() is not None:
            raise AssertionError(
                f"process exited ({proc.returncode}) before {text!r}\n{tail(path)}"
            )
        time.sleep(0.2)
    raise AssertionError(f"{text!r} did not appear within {timeout}s\n{tail(path)}")


def tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class Lab:
    """Namespaces, links and processes for one test; close() undoes them all."""

    def __init__(self, workdir: Path) -> None:
        tag = uuid.uuid4().hex[:6]
        self.tag = tag
        self.ns = f"nubo-test-{tag}"
        self.bridge = f"nubobr{tag}"[:15]
        self.dir = workdir
        self.namespaces: list[str] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self.leases = workdir / "dnsmasq.leases"
        self.dnsmasq_log = workdir / "dnsmasq.log"
        self.metadata_root = workdir / "metadata"
        self.metadata_log = workdir / "metadata.log"
        self._links = 0

    # -- setup -------------------------------------------------------------

    def start(self, hosts: Mapping[str, str]) -> None:
        """Create the lab namespace, bridge, dnsmasq (hosts: MAC -> IP) and metadata server."""
        self.add_namespace(self.ns)
        self.ip("link", "set", "lo", "up")
        self.ip("link", "add", self.bridge, "type", "bridge")
        self.ip("addr", "add", f"{GATEWAY}/{PREFIX}", "dev", self.bridge)
        self.ip("addr", "add", f"{METADATA_IP}/32", "dev", self.bridge)
        self.ip("link", "set", self.bridge, "up")
        self.metadata_root.mkdir(parents=True, exist_ok=True)
        dnsmasq = [
            "dnsmasq",
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--port=0",
            "--user=root",
            f"--interface={self.bridge}",
            "--bind-interfaces",
            f"--dhcp-range={SUBNET}.100,{SUBNET}.150,255.255.255.0,1h",
            f"--dhcp-leasefile={self.leases}",
            f"--pid-file={self.dir / 'dnsmasq.pid'}",
            f"--dhcp-option=option:router,{GATEWAY}",
            f"--dhcp-option=option:mtu,{MTU}",
            # Option 121: the metadata route and the default route (a client
            # honouring 121 ignores the router option, RFC 3442).
            "--dhcp-option=option:classless-static-route,"
            f"{METADATA_IP}/32,{GATEWAY},0.0.0.0/0,{GATEWAY}",
            "--dhcp-authoritative",
            "--log-dhcp",
            f"--log-facility={self.dnsmasq_log}",
        ]
        dnsmasq += [f"--dhcp-host={mac},{ip}" for mac, ip in hosts.items()]
        self.spawn(self.in_ns(self.ns, dnsmasq), self.dir / "dnsmasq.out")
        server = [
            sys.executable,
            "-u",
            "-m",
            "http.server",
            "80",
            "--bind",
            METADATA_IP,
            "--directory",
            str(self.metadata_root),
        ]
        self.spawn(self.in_ns(self.ns, server), self.metadata_log)
        self.wait_port(self.ns, METADATA_IP, 80, timeout=20)

    def add_namespace(self, name: str) -> None:
        run(["ip", "netns", "add", name])
        self.namespaces.append(name)

    def in_ns(self, ns: str, cmd: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", ns, *cmd]

    def ip(self, *args: str, ns: str | None = None) -> str:
        return run(self.in_ns(ns or self.ns, ["ip", *args]))

    def spawn(
        self,
        cmd: Sequence[str],
        log: Path,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            proc = subprocess.Popen(
                list(cmd),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def add_tap(self) -> str:
        """A tap on the bridge for QEMU (which must run in the lab namespace)."""
        self._links += 1
        tap = f"nubotap{self.tag}{self._links}"[:15]
        self.ip("tuntap", "add", "mode", "tap", "name", tap)
        self.ip("link", "set", tap, "master", self.bridge, "up")
        return tap

    def add_guest_namespace(self, mac: str) -> str:
        """A namespace whose eth0 (MAC mac, down) is a veth into the bridge."""
        self._links += 1
        ns = f"nubo-guest-{self.tag}{self._links}"
        self.add_namespace(ns)
        outside = f"nubove{self.tag}{self._links}"[:15]
        self.ip("link", "add", outside, "type", "veth", "peer", "name", "eth0", "address", mac)
        self.ip("link", "set", "eth0", "netns", ns)
        self.ip("link", "set", outside, "master", self.bridge, "up")
        return ns

    # -- observations ----------------------------------------------------------

    def lease(self, mac: str) -> str | None:
        """The IP dnsmasq leased to mac, if it did."""
        if not self.leases.exists():
            return None
        for line in self.leases.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[1].lower() == mac.lower():
                return fields[2]
        return None

    def metadata_requests(self) -> list[str]:
        return [
            line
            for line in self.metadata_log.read_text(errors="replace").splitlines()
            if '"GET ' in line
        ]

    def wait_port(self, ns: str, host: str, port: int, timeout: float) -> None:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            probe = f"import socket; socket.create_connection(({host!r}, {port}), 2).close()"
            probe_cmd = self.in_ns(ns, [sys.executable, "-c", probe])
            if subprocess.run(probe_cmd, capture_output=True, check=False).returncode == 0:
                return
            time.sleep(0.3)
        raise AssertionError(f"nothing listens on {host}:{port} in {ns} after {timeout}s")

    def ssh_banner(self, host: str, timeout: float) -> tuple[str, float]:
        """The SSH identification string of host:22 (read from the lab namespace)."""
        script = (
            "import socket, sys\n"
            f"s = socket.create_connection(({host!r}, 22), 5)\n"
            "s.settimeout(10)\n"
            "print(s.recv(256).decode(errors='replace').strip())\n"
        )
        start = time.monotonic()
        last = ""
        while time.monotonic() - start < timeout:
            proc = subprocess.run(
                self.in_ns(self.ns, [sys.executable, "-c", script]),
                capture_output=True,
                text=True,
                timeout=30,
            )
            if proc.returncode == 0 and proc.stdout.startswith("SSH-"):
                return proc.stdout.strip(), time.monotonic() - start
            last = proc.stderr.strip().splitlines()[-1:] and proc.stderr.strip().splitlines()[-1]
            time.sleep(0.5)
        raise AssertionError(f"no SSH banner from {host} within {timeout}s: {last}")

    def ssh(self, host: str, key: Path, user: str, command: str) -> str:
        """Run command on host over SSH with key (from the lab namespace)."""
        cmd = [
            "ssh",
            "-i",
            str(key),
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=20",
            "-o",
            "LogLevel=ERROR",
            f"{user}@{host}",
            command,
        ]
        return run(self.in_ns(self.ns, cmd), timeout=120)

    def host_key_fingerprint(self, host: str) -> str:
        """SHA256 fingerprint of host's ed25519 key, as ssh-keyscan sees it."""
        scanned = run(self.in_ns(self.ns, ["ssh-keyscan", "-t", "ed25519", host]), timeout=60)
        keyfile = self.dir / f"scanned-{host}.pub"
        keyfile.write_text(scanned)
        return run(["ssh-keygen", "-lf", str(keyfile)]).split()[1]

    # -- teardown ------------------------------------------------------------

    def stop(
        self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, grace: float = 10
    ) -> None:
        """Stop one process the lab started (by its pid), then kill it if it lingers."""
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def close(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc, grace=5)
        for ns in reversed(self.namespaces):
            # Deleting a namespace deletes the links in it (the veth peers too).
            run(["ip", "netns", "del", ns], check=False)
        self.namespaces.clear()


def child_pids(pid: int) -> list[int]:
    """The children of pid (e.g. the PID 1 that `unshare --fork` started)."""
    children: list[int] = []
    with contextlib.suppress(FileNotFoundError):
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            children += [int(c) for c in text.split()]
    return children


def qmp(sock: Path, command: str) -> dict[str, object]:
    """Send one QMP command to QEMU's control socket and return the reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(sock))
        reader = s.makefile("r")
        json.loads(reader.readline())  # greeting
        s.sendall(b'{"execute": "qmp_capabilities"}\n')
        json.loads(reader.readline())
        s.sendall(json.dumps({"execute": command}).encode() + b"\n")
        while True:
            reply: dict[str, object] = json.loads(reader.readline())
            if "return" in reply or "error" in reply:
                return reply
