"""A nubo of the compute system tests' own: ``nubo up --detach`` with the Linux
network driver and a real compute driver (container or QEMU), nubo-tiny registered,
demo's clients, and a namespace on ``public`` from which the tests reach servers at
their floating IPs.

Every packet stays inside namespaces: the test's own ``nubotest-*`` namespace has a
port on ``public`` (admin's, no port security), plugged as a veth the way compute
plugs an instance's port, and every client (ssh, ping, TCP connects) runs in it.
``close()`` deletes the servers through the API, runs ``nubo down --purge`` and then
removes, by name and pid, anything of this cloud's instances that is still there
(processes, cgroups, ``nubo-inst-*`` namespaces, mounts), the test namespaces and
the temp directory.

Nothing here imports pytest: failures are AssertionErrors. bench/compute.py runs its
clouds with it too (the fake drivers for its scale part).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from openstack import config as os_config
from openstack import connection

REPO = Path(__file__).resolve().parents[2]
HOST = "nubotest-compute"  # NUBO_NETWORK_HOST: compute's host name follows it
WAIT = 60.0  # deadline of a wait for the agents (network side)
SSH_OPTIONS = (
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "ConnectTimeout=10",
    "-o", "LogLevel=ERROR",
)  # fmt: skip


def sh(*argv: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed: {(proc.stderr or proc.stdout).strip()}")
    return proc


def wait_for(what: str, condition: Callable[[], Any], timeout: float, step: float = 0.5) -> Any:
    """Poll condition until it returns something true; fail naming what never happened."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout:.0f} s")
        time.sleep(step)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def instance_pids(instance_id: str) -> list[int]:
    """Live processes of one instance: its QEMU (the id is in its command line), its
    container's supervisor (``NUBO_INSTANCE=<id>`` in its environment) and every
    process of the container's cgroup (``/nubo/<id>`` in /proc/<pid>/cgroup)."""
    needle = instance_id.encode()
    mark = b"NUBO_INSTANCE=" + needle
    group = f"/nubo/{instance_id}"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
            cgroup = (entry / "cgroup").read_text()
        except OSError:
            continue
        ours = needle in cmdline or mark in environ.split(b"\0") or group in cgroup
        if ours and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def no_process(instance_id: str) -> bool:
    return not instance_pids(instance_id)


def instance_netns(instance_id: str) -> str:
    """The container driver's network namespace of an instance."""
    from nubo.compute.drivers.container_launch import netns_name

    return netns_name(instance_id)


def instance_cgroup_exists(instance_id: str) -> bool:
    from nubo.compute.drivers import cgroups

    try:
        return cgroups.detect().group(instance_id).exists()
    except cgroups.CgroupError:
        return False


def namespaces() -> set[str]:
    try:
        return set(os.listdir("/run/netns"))
    except FileNotFoundError:
        return set()


def dataplane_busy() -> str:
    """Why another Linux dataplane would clash with ours ("" when none runs)."""
    from nubo.network.dataplane.netns import list_namespaces

    theirs = sorted(list_namespaces())
    if theirs:
        return f"nubo namespaces exist ({', '.join(theirs)}): another nubo dataplane runs here"
    return ""


@dataclass
class Outside:
    """The test's namespace on ``public``, with a static address from its port."""

    namespace: str
    port: Any
    iface: str
    cidr: str


class ComputeCloud:
    """The test's nubo (see the module docstring)."""

    def __init__(
        self, tmp: Path, driver: str, *, build_timeout: int = 90, network_driver: str = "linux"
    ) -> None:
        self.tmp = tmp
        self.driver = driver
        self.network_driver = network_driver
        self.build_timeout = build_timeout
        self.data_dir = tmp / "data"
        self.port = free_port()
        self.tag = uuid.uuid4().hex[:6]
        self.test_namespaces: list[str] = []
        self.server_ids: list[str] = []  # every server made, for close()
        self.running = False
        self.admin: Any = None
        self.demo: Any = None
        self.outside: Outside | None = None

    # -- the nubo process --------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NUBO_", "OS_"))}
        env.update(
            NUBO_NETWORK_DRIVER=self.network_driver,
            NUBO_COMPUTE_DRIVER=self.driver,
            NUBO_NETWORK_HOST=HOST,
            NUBO_COMPUTE_BUILD_TIMEOUT=str(self.build_timeout),
            NUBO_IDENTITY_PASSWORD_HASH_ROUNDS="4",
            # every command, not only `up`: a one-off command (image build) writes the
            # catalog and clouds.yaml from its own idea of the listener
            NUBO_API_BIND=f"127.0.0.1:{self.port}",
        )
        return env

    def nubo(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "nubo.cli", *args, "--data-dir", str(self.data_dir)],
            env=self.env(),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def up(self) -> None:
        proc = self.nubo("up", "--detach", "--bind", f"127.0.0.1:{self.port}")
        self.running = True  # even a failed start may have left something to purge
        assert proc.returncode == 0, f"nubo up failed:\n{proc.stdout}{proc.stderr}{self.log()}"

    def pid(self) -> int:
        return int((self.data_dir / "nubo.pid").read_text().split()[0])

    def pid_alive(self) -> bool:
        try:
            return alive(self.pid())
        except (OSError, ValueError):
            return False

    def stop(self, sig: int) -> None:
        """End our nubo with sig (SIGKILL: no cleanup at all) and wait until it is gone."""
        pid = self.pid()
        os.kill(pid, sig)
        wait_for(f"nubo (pid {pid}) gone after signal {sig}", lambda: not alive(pid), 60, 0.1)

    def restart(self, sig: int) -> None:
        self.stop(sig)
        self.up()

    def down(self, purge: bool = True) -> subprocess.CompletedProcess[str]:
        proc = self.nubo("down", *(["--purge"] if purge else []))
        self.running = False
        return proc

    def log(self, lines: int = 60) -> str:
        try:
            text = (self.data_dir / "nubo.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n--- nubo.log (end) ---\n" + "\n".join(text.splitlines()[-lines:])

    @property
    def instances_dir(self) -> Path:
        return self.data_dir / "instances"

    # -- setup -------------------------------------------------------------------

    def register_tiny(self, built: Path) -> str:
        """``nubo image build tiny`` into this data dir, its build cache seeded with
        the image the session built (same recipe digest: no rebuild)."""
        cache = self.data_dir / "guest-images"
        cache.mkdir(parents=True, exist_ok=True)
        for source in (built, built.with_suffix(".json")):
            target = cache / source.name
            if not target.exists():
                try:
                    os.link(source, target)
                except OSError:
                    shutil.copyfile(source, target)
        proc = self.nubo("image", "build", "tiny", timeout=1800)
        assert proc.returncode == 0, f"nubo image build tiny failed:\n{proc.stdout}{proc.stderr}"
        image = self.admin.image.find_image("nubo-tiny", ignore_missing=False)
        return str(image.id)

    def connect(self) -> None:
        config = os_config.OpenStackConfig(
            config_files=[str(self.data_dir / "clouds.yaml")], vendor_files=[], load_envvars=False
        )
        self.admin = connection.Connection(config=config.get_one(cloud="nubo"))
        self.demo = connection.Connection(config=config.get_one(cloud="nubo-demo"))

    def namespace(self, what: str) -> str:
        name = f"nubotest-{what}-{self.tag}"
        sh("ip", "netns", "add", name)
        self.test_namespaces.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def open_default_group(self) -> dict[str, str]:
        """TCP 22 and ICMP from anywhere in demo's default group; the rules' ids."""
        net = self.demo.network
        group = net.find_security_group("default", ignore_missing=False)
        rules = {}
        for proto, port in (("tcp", 22), ("icmp", None)):
            rule = net.create_security_group_rule(
                security_group_id=group.id,
                direction="ingress",
                ethertype="IPv4",
                protocol=proto,
                port_range_min=port,
                port_range_max=port,
                remote_ip_prefix="0.0.0.0/0",
            )
            rules[proto] = rule.id
        return rules

    def attach_outside(self) -> Outside:
        """The test namespace on public: an admin port without port security, bound to
        our host and plugged as a veth into the namespace, as compute plugs a port.
        This process's driver only plugs; the agent attaches the bridge end (moving it
        to nubo-ext) on its next apply, which the binding update asks for. An apply
        that raced the plug may have removed the device as an orphan: plug again."""
        from nubo.network.dataplane.linux import LinuxNetworkDriver
        from nubo.network.dataplane.spec import FixedIp, PortSpec, link_name

        public = self.admin.network.find_network("public", ignore_missing=False)
        ns = self.namespace("outside")
        port = self.admin.network.create_port(
            network_id=public.id,
            name=f"nubotest-outside-{self.tag}",
            device_owner="compute:nova",
            device_id=str(uuid.uuid4()),
            port_security_enabled=False,
        )
        port = self.admin.network.update_port(port.id, binding_host_id=HOST)
        spec = PortSpec(
            id=port.id,
            network_id=port.network_id,
            mac_address=port.mac_address,
            fixed_ips=tuple(FixedIp(f["subnet_id"], f["ip_address"]) for f in port.fixed_ips),
            device_owner=port.device_owner,
            port_security_enabled=False,
        )
        iface = link_name("i", port.id)
        plugger = LinuxNetworkDriver(self.tmp / "plug-state")
        deadline = time.monotonic() + WAIT
        while True:
            plugger.plug(spec, "veth", ns)
            self.admin.network.update_port(port.id, binding_host_id=HOST)
            if wait_until(lambda: self._outside_attached(spec, ns, iface), 10):
                break
            assert time.monotonic() < deadline, f"the agent did not attach {iface}{self.log()}"
        subnet = self.admin.network.get_subnet(port.fixed_ips[0]["subnet_id"])
        cidr = f"{port.fixed_ips[0]['ip_address']}/{subnet.cidr.split('/')[1]}"
        sh("ip", "-n", ns, "addr", "add", cidr, "dev", iface)
        self.outside = Outside(ns, port, iface, cidr)
        return self.outside

    @staticmethod
    def _outside_attached(spec: Any, ns: str, iface: str) -> bool:
        from nubo.network.dataplane.layout import bridge_name
        from nubo.network.dataplane.spec import EXTERNAL_NS

        if not sh("ip", "-n", ns, "link", "show", iface, check=False).stdout:
            return False
        out = sh("ip", "-n", EXTERNAL_NS, "-j", "link", "show", spec.device, check=False).stdout
        links = json.loads(out) if out.strip() else []
        return bool(links) and links[0].get("master") == bridge_name(spec.network_id)

    # -- clients in the outside namespace -------------------------------------------

    def ssh(self, ip: str, key: Path, command: str, *, check: bool = True) -> str:
        proc = sh(
            "ip", "netns", "exec", self.ns, "ssh", "-i", str(key), *SSH_OPTIONS,
            f"root@{ip}", command, check=False, timeout=120,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(f"ssh root@{ip} {command!r}: {proc.returncode} {proc.stderr}")
        return proc.stdout

    def ssh_works(self, ip: str, key: Path) -> bool:
        proc = sh(
            "ip", "netns", "exec", self.ns, "ssh", "-i", str(key), *SSH_OPTIONS,
            f"root@{ip}", "true", check=False, timeout=60,
        )  # fmt: skip
        return proc.returncode == 0

    def wait_ssh(self, ip: str, key: Path, timeout: float) -> None:
        wait_for(f"SSH to root@{ip}", lambda: self.ssh_works(ip, key), timeout, 2)

    def tcp_connects(self, ip: str, port: int, timeout: float = 3) -> bool:
        """A TCP connection from the outside namespace is accepted (False when it is
        refused or dropped)."""
        from nubo.network.dataplane.netns import in_namespace

        def attempt() -> bool:
            try:
                socket.create_connection((ip, port), timeout=timeout).close()
            except OSError:
                return False
            return True

        return in_namespace(self.ns, attempt)

    def ping(self, ip: str) -> bool:
        proc = sh(
            "ip", "netns", "exec", self.ns, "busybox", "ping", "-c", "1", "-W", "2", ip,
            check=False,
        )  # fmt: skip
        return proc.returncode == 0

    @property
    def ns(self) -> str:
        assert self.outside is not None, "attach_outside() first"
        return self.outside.namespace

    # -- servers -------------------------------------------------------------------

    def server_port(self, server_id: str) -> Any:
        ports = list(self.admin.network.ports(device_id=server_id))
        assert len(ports) == 1, f"server {server_id} has ports {[p.id for p in ports]}"
        return ports[0]

    def wait_status(self, server_id: str, wanted: str, timeout: float) -> Any:
        """Poll until the server is ``wanted`` with no task; fail at once on ERROR."""

        def reached() -> Any:
            server = self.demo.compute.get_server(server_id)
            if server.status == "ERROR" and wanted != "ERROR":
                raise AssertionError(f"server {server_id} in ERROR: {server.fault}{self.log()}")
            return server if server.status == wanted and not server.task_state else None

        return wait_for(f"server {server_id} {wanted}", reached, timeout, 1)

    def wait_gone(self, server_id: str, timeout: float = 180) -> None:
        def gone() -> bool:
            return self.demo.compute.find_server(server_id, ignore_missing=True) is None

        wait_for(f"server {server_id} deleted", gone, timeout, 1)

    def allocations(self, consumer: str) -> dict[str, Any]:
        body = self.admin.placement.get(f"/allocations/{consumer}").json()
        allocations: dict[str, Any] = body["allocations"]
        return allocations

    # -- teardown --------------------------------------------------------------------

    def close(self) -> None:
        if self.demo is not None and self.running and self.pid_alive():
            with contextlib.suppress(Exception):
                for server_id in self.server_ids:
                    self.demo.compute.delete_server(server_id, ignore_missing=True)
                for server_id in self.server_ids:
                    self.wait_gone(server_id, timeout=120)
        for conn in (self.admin, self.demo):
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
        try:
            if self.running:  # purge only what our nubo made (the names are host-wide)
                self.down(purge=True)
        finally:
            if self.data_dir.exists() and self.pid_alive():
                with contextlib.suppress(OSError):
                    os.kill(self.pid(), signal.SIGKILL)
            self.remove_leftovers()
            for name in self.test_namespaces:
                sh("ip", "netns", "del", name, check=False)
            shutil.rmtree(self.tmp, ignore_errors=True)

    def known_instances(self) -> set[str]:
        ids = set(self.server_ids)
        if self.instances_dir.is_dir():
            ids |= {p.name for p in self.instances_dir.iterdir() if not p.name.startswith("_")}
        return ids

    def remove_leftovers(self) -> list[str]:
        """Remove what our instances left (only ours: found by their ids); returns
        what had to be removed, for the tests to report."""
        from nubo.compute.drivers import cgroups

        removed: list[str] = []
        if self.driver == "fake":
            return removed  # no process, namespace or cgroup
        for instance_id in sorted(self.known_instances()):
            for pid in instance_pids(instance_id):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                removed.append(f"process {pid} of {instance_id}")
            ns = instance_netns(instance_id)
            if ns in namespaces():
                sh("ip", "netns", "del", ns, check=False)
                removed.append(f"namespace {ns}")
            if instance_cgroup_exists(instance_id):
                with contextlib.suppress(Exception):
                    wait_until(partial(no_process, instance_id), 10)
                    cgroups.detect().group(instance_id).remove()
                removed.append(f"cgroup of {instance_id}")
        for line in Path("/proc/self/mounts").read_text().splitlines():
            point = line.split()[1]
            if point.startswith(str(self.tmp)):
                sh("umount", "-l", point, check=False)
                removed.append(f"mount {point}")
        return removed


def wait_until(condition: Callable[[], Any], timeout: float, step: float = 0.2) -> bool:
    """Like wait_for, but says whether the condition came true instead of failing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())
