"""The network service end to end: the real API, the agent inside ``nubo up`` and the
Linux dataplane, driven with openstacksdk like a user would.

One ``nubo up --detach`` for the module (its own data dir and loopback port, the
linux driver, ``NUBO_NETWORK_HOST`` fixed so ports can be bound to it). The
bootstrap gives demo a VXLAN network ``private`` (10.0.0.0/26) behind ``router1``,
whose gateway is on the flat external network ``public`` (172.24.4.0/24).

"Instances" are plain namespaces ``nubotest-*``: a port is made through the API
(device_owner ``compute:nova``) and bound to the agent's host by admin, then this
process plugs it with the Linux driver's ``plug`` (a veth whose far end is moved into
the instance's namespace) and waits for the agent to put the bridge end on its
bridge. Every packet stays inside namespaces: clients and servers run in test
namespaces (``ip netns exec`` or sockets made by a thread that entered one), nothing
is sent from the host namespace. The finalizer runs ``nubo down --purge`` and deletes
every namespace, socket and file the module made, whatever happened.

Tests never assert timings; every wait polls a condition until a deadline.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from openstack import config as os_config
from openstack import connection

from nubo.network.dataplane import nft_rules
from nubo.network.dataplane.layout import UNDERLAY_BRIDGE, bridge_name
from nubo.network.dataplane.linux import LinuxNetworkDriver
from nubo.network.dataplane.netns import in_namespace, list_namespaces
from nubo.network.dataplane.spec import (
    DATAPLANE_NS,
    EXTERNAL_NS,
    METADATA_IP,
    UNDERLAY_NS,
    FixedIp,
    PortSpec,
    link_name,
)

pytestmark = pytest.mark.root

REPO = Path(__file__).resolve().parents[2]
HOST = "nubotest-host"  # NUBO_NETWORK_HOST of the cloud: the agent builds ports bound here
PEER_HOST = "nubotest-peer-host"
LOCAL_VTEP = "198.18.0.1"  # the default network.vxlan_local_ip
PEER_VTEP = "198.18.0.2"  # NUBO_NETWORK_VXLAN_PEERS: the simulated second host
NET2_CIDR = "10.0.1.0/24"
SSH_PORT = 22
WAIT = 30.0  # deadline of any one wait for the agent
IP_MTU_DISCOVER, IP_PMTUDISC_DO = 10, 2  # linux/in.h, not in the socket module

UDHCPC_SCRIPT = """#!/bin/sh
# udhcpc hook of the tests: records the lease and configures only $interface
# (address, MTU, routes) inside the test namespace. Never touches resolv.conf.
case "$1" in bound|renew) ;; *) exit 0 ;; esac
env | grep -E '^(ip|mask|mtu|router|staticroutes|dns|hostname|domain)=' > "{out}.$interface"
ip addr flush dev "$interface"
ip addr add "$ip/$mask" dev "$interface"
[ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
if [ -n "$staticroutes" ]; then
    set -- $staticroutes
    while [ $# -ge 2 ]; do ip route replace "$1" via "$2" dev "$interface"; shift 2; done
elif [ -n "$router" ]; then
    ip route replace default via "${{router%% *}}" dev "$interface"
fi
"""


def sh(*argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed: {(proc.stderr or proc.stdout).strip()}")
    return proc


def wait_for(what: str, condition: Callable[[], Any], timeout: float = WAIT) -> Any:
    """Poll condition until it returns something true; fail naming what never happened."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout:.0f} s")
        time.sleep(0.1)


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


def dnsmasq_pids(data_dir: Path) -> list[int]:
    """Running dnsmasq processes whose pid file is under data_dir (that cloud's)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not argv or not argv[0].endswith(b"dnsmasq"):
            continue
        prefix = f"--pid-file={data_dir}/".encode()
        if any(arg.startswith(prefix) for arg in argv) and alive(int(entry.name)):
            pids.append(int(entry.name))
    return pids


def host_nft_tables() -> list[str]:
    """Names of the nftables tables in the host namespace (read only)."""
    out = sh("nft", "-j", "list", "tables").stdout
    return [
        item["table"]["name"] for item in json.loads(out).get("nftables", []) if "table" in item
    ]


@dataclass
class Instance:
    """A namespace standing in for an instance, with its port."""

    name: str
    namespace: str
    port: Any  # openstack.network.v2.port.Port
    external: bool = False

    @property
    def ip(self) -> str:
        return str(self.port.fixed_ips[0]["ip_address"])

    @property
    def iface(self) -> str:
        return link_name("i", self.port.id)

    @property
    def spec(self) -> PortSpec:
        return PortSpec(
            id=self.port.id,
            network_id=self.port.network_id,
            mac_address=self.port.mac_address,
            fixed_ips=tuple(FixedIp(f["subnet_id"], f["ip_address"]) for f in self.port.fixed_ips),
            device_owner=self.port.device_owner,
            port_security_enabled=bool(self.port.is_port_security_enabled),
        )

    @property
    def bridge_namespace(self) -> str:
        return EXTERNAL_NS if self.external else DATAPLANE_NS


@dataclass
class Cloud:
    """The module's nubo, its clients and everything the tests made around it."""

    tmp: Path
    port: int = field(default_factory=free_port)
    namespaces: list[str] = field(default_factory=list)
    sockets: list[socket.socket] = field(default_factory=list)
    instances: dict[str, Instance] = field(default_factory=dict)
    admin: Any = None
    demo: Any = None
    running: bool = False

    def __post_init__(self) -> None:
        self.data_dir = self.tmp / "data"
        self.tag = uuid.uuid4().hex[:6]
        # the test's own driver only plugs; it never applies (that is the agent's job)
        self.driver = LinuxNetworkDriver(self.tmp / "plug-state")

    # -- the nubo process ----------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NUBO_", "OS_"))}
        env.update(
            NUBO_NETWORK_DRIVER="linux",
            NUBO_IDENTITY_PASSWORD_HASH_ROUNDS="4",
            NUBO_NETWORK_VXLAN_PEERS=PEER_VTEP,
            NUBO_NETWORK_HOST=HOST,
        )
        return env

    def nubo(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
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

    def down(self, purge: bool = True) -> subprocess.CompletedProcess[str]:
        proc = self.nubo("down", *(["--purge"] if purge else []))
        self.running = False
        return proc

    def log(self, lines: int = 40) -> str:
        try:
            text = (self.data_dir / "nubo.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n--- nubo.log (end) ---\n" + "\n".join(text.splitlines()[-lines:])

    def connect(self) -> None:
        config = os_config.OpenStackConfig(
            config_files=[str(self.data_dir / "clouds.yaml")], vendor_files=[], load_envvars=False
        )
        self.admin = connection.Connection(config=config.get_one(cloud="nubo"))
        self.demo = connection.Connection(config=config.get_one(cloud="nubo-demo"))

    # -- namespaces and instances --------------------------------------------------

    def namespace(self, what: str) -> str:
        name = f"nubotest-{what}-{self.tag}"
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def instance(
        self,
        name: str,
        network_id: str,
        *,
        conn: Any = None,
        external: bool = False,
        **port_attrs: Any,
    ) -> Instance:
        """A port made through the API, bound to the agent's host, and a namespace;
        not plugged yet (``plug``)."""
        port = (conn or self.demo).network.create_port(
            network_id=network_id,
            name=f"nubotest-{name}",
            device_owner="compute:nova",
            device_id=str(uuid.uuid4()),
            **port_attrs,
        )
        # what compute does before plugging: bind the port to the host it runs on
        port = self.admin.network.update_port(port.id, binding_host_id=HOST)
        inst = Instance(name, self.namespace(name), port, external)
        self.instances[name] = inst
        return inst

    def has_iface(self, inst: Instance) -> bool:
        """The instance's end of its veth exists."""
        return bool(sh("ip", "-n", inst.namespace, "link", "show", inst.iface, check=False).stdout)

    def attached(self, inst: Instance) -> bool:
        """The agent put the port's device on its network's bridge (and, for a
        filtered port, its firewall chains exist)."""
        if not self.has_iface(inst):
            return False
        out = sh(
            "ip", "-n", inst.bridge_namespace, "-j", "link", "show", inst.spec.device, check=False
        ).stdout
        links = json.loads(out) if out.strip() else []
        if not links or links[0].get("master") != bridge_name(inst.port.network_id):
            return False
        if "UP" not in links[0].get("flags", ()):
            return False
        if inst.spec.filtered:
            chain = nft_rules.port_chain(inst.port.id, "i")
            listed = sh(
                "ip", "netns", "exec", inst.bridge_namespace, "nft", "list", "chain", "inet",
                nft_rules.TABLE, chain, check=False,
            )  # fmt: skip
            return listed.returncode == 0
        return True

    def plug(self, *instances: Instance) -> None:
        """Plug the instances' ports as compute would and wait until the agent wired
        them. This process's driver does not know the networks (it never applies), so
        the veth's bridge end starts unattached in nubo-dp; the agent's next apply
        attaches it (moving it to nubo-ext for an external network). A plug from
        another process does not wake the agent (compute will plug through the agent's
        own driver, in its process), so a binding update, which bumps the dataplane
        generation, asks for that apply. An apply that raced the plug with an older
        topology may have removed the device as an orphan: then plug again."""
        pending = list(instances)
        deadline = time.monotonic() + WAIT
        while pending:
            for inst in pending:
                self.driver.plug(inst.spec, "veth", inst.namespace)
            self.admin.network.update_port(pending[0].port.id, binding_host_id=HOST)
            late = time.monotonic() + 10
            while time.monotonic() < late and not all(self.attached(i) for i in pending):
                if not all(self.has_iface(i) for i in pending):
                    break  # removed as an orphan: plug again
                time.sleep(0.1)
            pending = [i for i in pending if not self.attached(i)]
            if pending and time.monotonic() > deadline:
                names = ", ".join(i.name for i in pending)
                raise AssertionError(f"the agent did not attach {names}{self.log()}")

    def exec(self, ns: str, *argv: str, check: bool = True, timeout: float = 60) -> str:
        return sh("ip", "netns", "exec", ns, *argv, check=check, timeout=timeout).stdout

    def dhcp(self, inst: Instance) -> dict[str, str]:
        """busybox udhcpc on the instance's interface (its own script, in a temp dir);
        the lease's variables. Retries until the deadline: dnsmasq learns a new port
        when the agent has applied it."""
        script = self.tmp / "udhcpc.sh"
        out = self.tmp / f"lease-{inst.name}"
        script.write_text(UDHCPC_SCRIPT.format(out=out))
        script.chmod(0o755)
        lease_file = Path(f"{out}.{inst.iface}")
        lease_file.unlink(missing_ok=True)

        def attempt() -> bool:
            proc = sh(
                "ip", "netns", "exec", inst.namespace, "busybox", "udhcpc", "-i", inst.iface,
                "-n", "-q", "-f", "-t", "3", "-T", "1", "-O", "mtu", "-O", "staticroutes",
                "-s", str(script), check=False,
            )  # fmt: skip
            return proc.returncode == 0 and lease_file.exists()

        wait_for(f"a DHCP lease for {inst.name}", attempt, timeout=60)
        return dict(line.split("=", 1) for line in lease_file.read_text().splitlines())

    def addressed(self, *instances: Instance) -> None:
        """Each instance has its port's address (from DHCP)."""
        for inst in instances:
            have = self.exec(inst.namespace, "ip", "-br", "addr", "show", inst.iface, check=False)
            if f" {inst.ip}/" not in have:
                assert self.dhcp(inst)["ip"] == inst.ip

    def ping(self, ns: str, ip: str, count: int = 1) -> bool:
        argv = ("busybox", "ping", "-c", str(count), "-W", "1", ip)
        return sh("ip", "netns", "exec", ns, *argv, check=False).returncode == 0

    def pings(self, ns: str, ip: str) -> bool:
        """Pings get through within the deadline (the agent applies asynchronously)."""
        return bool(wait_for(f"ping {ip} from {ns}", lambda: self.ping(ns, ip), timeout=WAIT))

    # -- sockets inside namespaces -----------------------------------------------

    def udp(self, ns: str, host: str, port: int) -> socket.socket:
        def make() -> socket.socket:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((host, port))
            sock.settimeout(5)
            return sock

        sock = in_namespace(ns, make)
        self.sockets.append(sock)
        return sock

    def tcp_server(self, ns: str, port: int, reply: Callable[[str], bytes]) -> None:
        """A TCP listener in ns answering each connection with reply(peer address)."""

        def make() -> socket.socket:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("0.0.0.0", port))
            sock.listen(16)
            return sock

        listener = in_namespace(ns, make)
        self.sockets.append(listener)

        def serve() -> None:
            while True:
                try:
                    conn, peer = listener.accept()
                except OSError:
                    return  # closed by the finalizer
                with conn:
                    conn.sendall(reply(peer[0]))

        threading.Thread(target=serve, daemon=True).start()

    def tcp_get(self, ns: str, ip: str, port: int, send: bytes = b"") -> bytes | None:
        """Connect from ns and read until the server closes; None when the connection
        cannot be made (dropped or refused)."""

        def talk() -> bytes | None:
            try:
                sock = socket.create_connection((ip, port), timeout=2)
            except OSError:
                return None
            with sock:
                sock.settimeout(5)
                if send:
                    sock.sendall(send)
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
                return data

        return in_namespace(ns, talk)

    # -- teardown ------------------------------------------------------------------

    def close(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.sockets.clear()
        for conn in (self.admin, self.demo):
            if conn is not None:
                conn.close()
        try:
            if self.running:  # purge only what our nubo made (names are host-wide)
                self.down(purge=True)
        finally:
            if self.data_dir.exists() and self.pid_alive():
                with contextlib.suppress(OSError):
                    os.kill(self.pid(), signal.SIGKILL)
            for pid in dnsmasq_pids(self.data_dir):  # ours: the pid file is in our data dir
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            for name in self.namespaces:
                sh("ip", "netns", "del", name, check=False)
            shutil.rmtree(self.tmp, ignore_errors=True)

    def pid_alive(self) -> bool:
        try:
            return alive(self.pid())
        except (OSError, ValueError):
            return False


def need_tools() -> None:
    for tool, package in (
        ("nft", "nftables"),
        ("busybox", "busybox-static"),
        ("bridge", "iproute2"),
        ("dnsmasq", "dnsmasq-base"),
    ):
        if shutil.which(tool) is None:
            pytest.skip(f"missing {tool}: apt-get install {package}")
    if list_namespaces():
        pytest.skip(
            f"nubo namespaces exist ({', '.join(sorted(list_namespaces()))}): "
            "a nubo dataplane runs on this host; the test would purge it"
        )


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    if os.geteuid() != 0:
        pytest.skip("the network system tests need root (namespaces, nftables, dnsmasq)")
    need_tools()
    c = Cloud(tmp_path_factory.mktemp("network"))
    try:
        c.up()
        c.connect()
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def private(cloud: Cloud) -> Any:
    """demo's bootstrap network (VXLAN, 10.0.0.0/26), as admin sees it."""
    net = cloud.demo.network.find_network("private", ignore_missing=False)
    return cloud.admin.network.get_network(net.id)


@pytest.fixture(scope="module")
def public(cloud: Cloud) -> Any:
    return cloud.admin.network.find_network("public", ignore_missing=False)


@pytest.fixture(scope="module")
def pair(cloud: Cloud, private: Any) -> tuple[Instance, Instance]:
    """vm1 and vm2 on private, in demo's default security group, plugged; vm2 has an
    extra DHCP option (its own domain name)."""
    vm1 = cloud.instance("vm1", private.id)
    vm2 = cloud.instance(
        "vm2",
        private.id,
        extra_dhcp_opts=[{"opt_name": "domain-name", "opt_value": "vm2.nubotest"}],
    )
    cloud.plug(vm1, vm2)
    return vm1, vm2


@pytest.fixture(scope="module")
def routed(cloud: Cloud, pair: tuple[Instance, Instance]) -> Instance:
    """A second demo network, 10.0.1.0/24, on router1, with vm3 plugged on it."""
    demo = cloud.demo.network
    net = demo.create_network(name="nubotest-net2")
    subnet = demo.create_subnet(
        network_id=net.id, name="nubotest-net2-subnet", ip_version=4, cidr=NET2_CIDR
    )
    router = demo.find_router("router1", ignore_missing=False)
    demo.add_interface_to_router(router, subnet=subnet.id)
    vm3 = cloud.instance("vm3", net.id)
    cloud.plug(vm3)
    return vm3


@dataclass
class Floating:
    web: Instance
    outside: Instance
    address: str
    outside_cidr: str  # the outside namespace's static address


@pytest.fixture(scope="module")
def floating(cloud: Cloud, private: Any, public: Any) -> Floating:
    """web on private (default group plus one open to the world for ICMP and TCP
    8080) with a floating IP, and an "outside" namespace on public: an unsecured
    port there, its address configured statically from the port."""
    demo = cloud.demo.network
    group = demo.create_security_group(name="nubotest-open")
    for proto, port in (("icmp", None), ("tcp", 8080)):
        demo.create_security_group_rule(
            security_group_id=group.id,
            direction="ingress",
            ethertype="IPv4",
            protocol=proto,
            port_range_min=port,
            port_range_max=port,
            remote_ip_prefix="0.0.0.0/0",
        )
    default = demo.find_security_group("default", ignore_missing=False)
    web = cloud.instance("web", private.id, security_group_ids=[default.id, group.id])
    outside = cloud.instance(
        "outside", public.id, conn=cloud.admin, external=True, port_security_enabled=False
    )
    cloud.plug(web, outside)
    subnet = cloud.admin.network.get_subnet(outside.port.fixed_ips[0]["subnet_id"])
    cidr = f"{outside.ip}/{subnet.cidr.split('/')[1]}"
    sh("ip", "-n", outside.namespace, "addr", "add", cidr, "dev", outside.iface)
    fip = demo.create_ip(floating_network_id=public.id, port_id=web.port.id)
    return Floating(web, outside, fip.floating_ip_address, cidr)


# -- tests -------------------------------------------------------------------------


def test_dhcp_gives_the_port_address_and_the_vxlan_mtu(
    cloud: Cloud, private: Any, pair: tuple[Instance, Instance]
) -> None:
    vm1, vm2 = pair
    assert private.provider_network_type == "vxlan"
    assert private.mtu == 1450
    lease = cloud.dhcp(vm1)
    assert lease["ip"] == vm1.ip
    assert lease["mask"] == "26"
    assert lease["mtu"] == "1450"
    assert lease["router"] == "10.0.0.1"
    link = json.loads(cloud.exec(vm1.namespace, "ip", "-j", "link", "show", vm1.iface))
    assert link[0]["mtu"] == 1450
    assert link[0]["address"] == vm1.port.mac_address
    lease = cloud.dhcp(vm2)
    assert lease["ip"] == vm2.ip
    assert lease["domain"] == "vm2.nubotest"  # the port's option beats the network's
    assert cloud.dhcp(vm1)["domain"] == "openstacklocal"


def test_two_instances_on_one_network_ping_each_other(
    cloud: Cloud, pair: tuple[Instance, Instance]
) -> None:
    vm1, vm2 = pair
    cloud.addressed(vm1, vm2)
    # demo's default group lets members of the group in
    assert cloud.pings(vm1.namespace, vm2.ip)
    assert cloud.pings(vm2.namespace, vm1.ip)


def test_a_security_group_blocks_until_a_rule_opens(
    cloud: Cloud, private: Any, pair: tuple[Instance, Instance]
) -> None:
    vm1, _ = pair
    demo = cloud.demo.network
    closed = demo.create_security_group(name="nubotest-closed")
    rules = list(demo.security_group_rules(security_group_id=closed.id))
    assert rules and all(r.direction == "egress" for r in rules)
    srv = cloud.instance("srv", private.id, security_group_ids=[closed.id])
    cloud.plug(srv)
    cloud.addressed(vm1, srv)
    cloud.tcp_server(srv.namespace, SSH_PORT, lambda peer: b"open\n")
    # the listener answers inside its own namespace: a failure below is the firewall
    assert cloud.tcp_get(srv.namespace, "127.0.0.1", SSH_PORT) == b"open\n"

    assert cloud.tcp_get(vm1.namespace, srv.ip, SSH_PORT) is None
    assert not cloud.ping(vm1.namespace, srv.ip)
    demo.create_security_group_rule(
        security_group_id=closed.id,
        direction="ingress",
        ethertype="IPv4",
        protocol="tcp",
        port_range_min=SSH_PORT,
        port_range_max=SSH_PORT,
    )
    wait_for(
        "TCP 22 open after the rule",
        lambda: cloud.tcp_get(vm1.namespace, srv.ip, SSH_PORT) == b"open\n",
    )
    # the TCP rule opened TCP only
    assert not cloud.ping(vm1.namespace, srv.ip)
    demo.create_security_group_rule(
        security_group_id=closed.id, direction="ingress", ethertype="IPv4", protocol="icmp"
    )
    assert cloud.pings(vm1.namespace, srv.ip)


def test_two_networks_talk_through_the_router(
    cloud: Cloud, pair: tuple[Instance, Instance], routed: Instance
) -> None:
    vm1, _ = pair
    lease = cloud.dhcp(routed)
    assert lease["ip"] == routed.ip
    # the routes come from DHCP (classless static routes: metadata and default)
    assert lease["staticroutes"].split()[-2:] == ["0.0.0.0/0", "10.0.1.1"]
    routes = cloud.exec(routed.namespace, "ip", "route", "show", "default")
    assert "via 10.0.1.1" in routes
    cloud.addressed(vm1)
    assert cloud.pings(vm1.namespace, routed.ip)
    assert cloud.pings(routed.namespace, vm1.ip)


def test_a_floating_ip_is_reachable_and_is_the_source_of_outbound_traffic(
    cloud: Cloud, floating: Floating
) -> None:
    web, outside, address = floating.web, floating.outside, floating.address
    cloud.addressed(web)
    # inbound: the outside reaches web at its floating IP (DNAT keeps the source)
    assert cloud.pings(outside.namespace, address)
    cloud.tcp_server(web.namespace, 8080, lambda peer: peer.encode())
    seen = wait_for(
        "TCP to the floating IP", lambda: cloud.tcp_get(outside.namespace, address, 8080)
    )
    assert seen.decode() == outside.ip
    # outbound: web's traffic leaves with its floating IP as source
    cloud.tcp_server(outside.namespace, 8081, lambda peer: peer.encode())
    seen = wait_for("TCP from web", lambda: cloud.tcp_get(web.namespace, outside.ip, 8081))
    assert seen.decode() == address


def test_a_full_payload_crosses_vxlan_to_another_host_unfragmented(
    cloud: Cloud, private: Any, pair: tuple[Instance, Instance]
) -> None:
    vm1, _ = pair
    cloud.addressed(vm1)
    vni = private.provider_segmentation_id
    assert vni, "admin sees the network's VNI"
    # the far instance's address, reserved through the API on the other host
    far_port = cloud.demo.network.create_port(
        network_id=private.id, name="nubotest-far", device_owner="compute:nova"
    )
    far_port = cloud.admin.network.update_port(far_port.id, binding_host_id=PEER_HOST)
    far_ip = far_port.fixed_ips[0]["ip_address"]
    prefix = cloud.demo.network.get_subnet(far_port.fixed_ips[0]["subnet_id"]).cidr.split("/")[1]

    # the second host: a namespace on nubo's underlay bridge with the peer VTEP
    peer = cloud.namespace("peer")
    wire = f"tstu{cloud.tag}"  # not a nubo name: the agent leaves it alone
    sh("ip", "-n", UNDERLAY_NS, "link", "add", wire, "type", "veth",
       "peer", "name", "eth0", "netns", peer)  # fmt: skip
    sh("ip", "-n", UNDERLAY_NS, "link", "set", wire, "master", UNDERLAY_BRIDGE, "up")
    sh("ip", "-n", peer, "addr", "add", f"{PEER_VTEP}/24", "dev", "eth0")
    sh("ip", "-n", peer, "link", "set", "eth0", "up")
    sh("ip", "-n", peer, "link", "add", "vx0", "type", "vxlan", "id", str(vni),
       "local", PEER_VTEP, "dstport", "4789")  # fmt: skip
    sh("bridge", "-n", peer, "fdb", "append", "00:00:00:00:00:00", "dev", "vx0", "dst", LOCAL_VTEP)
    sh("ip", "-n", peer, "link", "add", "br0", "type", "bridge")
    sh("ip", "-n", peer, "link", "set", "vx0", "mtu", "1450", "master", "br0", "up")
    sh("ip", "-n", peer, "link", "set", "br0", "up")
    # ... and its instance, on that host's bridge
    far = cloud.namespace("far")
    sh("ip", "-n", peer, "link", "add", "tfar0", "type", "veth", "peer", "name", "eth0",
       "netns", far)  # fmt: skip
    sh("ip", "-n", peer, "link", "set", "tfar0", "mtu", "1450", "master", "br0", "up")
    sh("ip", "-n", far, "link", "set", "eth0", "address", far_port.mac_address,
       "mtu", "1450", "up")  # fmt: skip
    sh("ip", "-n", far, "addr", "add", f"{far_ip}/{prefix}", "dev", "eth0")

    fdb = cloud.exec(DATAPLANE_NS, "bridge", "fdb", "show", "dev", link_name("x", private.id))
    assert f"dst {PEER_VTEP}" in fdb
    assert cloud.pings(vm1.namespace, far_ip)
    # the far port is in demo's default group: vm1 lets it in once the agent has
    # added its address to the group's set
    assert cloud.pings(far, vm1.ip)
    payload = os.urandom(1400)
    senders = []
    for src_ns, src_ip, dst_ns, dst_ip, udp_port in (
        (vm1.namespace, vm1.ip, far, far_ip, 7401),
        (far, far_ip, vm1.namespace, vm1.ip, 7402),
    ):
        receiver = cloud.udp(dst_ns, dst_ip, udp_port)
        sender = cloud.udp(src_ns, src_ip, 0)
        # don't fragment: a datagram larger than the path allows would fail, not split
        sender.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
        sender.sendto(payload, (dst_ip, udp_port))
        data, source = receiver.recvfrom(4096)
        assert (data, source[0]) == (payload, src_ip)
        senders.append(sender)
    # the instance's MTU (1450, from DHCP) is the limit: one byte over is refused
    with pytest.raises(OSError) as refused:
        senders[0].sendto(b"x" * (1450 - 28 + 1), (far_ip, 7401))
    assert refused.value.errno == errno.EMSGSIZE


def test_metadata_names_the_asking_port(cloud: Cloud, pair: tuple[Instance, Instance]) -> None:
    vm1, _ = pair
    cloud.addressed(vm1)
    root = cloud.exec(
        vm1.namespace, "busybox", "wget", "-q", "-O", "-", f"http://{METADATA_IP}/openstack"
    )
    assert root.split()[-1] == "latest"
    wget = sh(
        "ip", "netns", "exec", vm1.namespace, "busybox", "wget", "-q", "-O", "-",
        f"http://{METADATA_IP}/openstack/latest/meta_data.json", check=False,
    )  # fmt: skip
    assert wget.returncode != 0 and "404" in wget.stderr
    # busybox wget drops an error's body: read it with a plain HTTP request

    request = (
        b"GET /openstack/latest/meta_data.json HTTP/1.1\r\n"
        b"Host: 169.254.169.254\r\nX-Nubo-Port-Id: forged\r\nConnection: close\r\n\r\n"
    )
    raw = cloud.tcp_get(vm1.namespace, METADATA_IP, 80, send=request)
    assert raw is not None
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404")
    assert vm1.port.id in body.decode()
    assert "forged" not in body.decode()


def test_a_restart_rebuilds_the_dataplane_from_the_database(
    cloud: Cloud, pair: tuple[Instance, Instance], routed: Instance, floating: Floating
) -> None:
    vm1, _ = pair
    os.kill(cloud.pid(), signal.SIGKILL)  # ours: started by the fixture
    wait_for("nubo gone", lambda: not cloud.pid_alive())
    for pid_file in (cloud.data_dir / "network").glob("*/pid"):
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
    wait_for("dnsmasq gone", lambda: not dnsmasq_pids(cloud.data_dir))
    for ns in sorted(list_namespaces()):
        sh("ip", "netns", "del", ns)
    assert not list_namespaces()

    cloud.up()
    # no API call: the agent rebuilds everything from the database on its own
    private_dhcp = f"nubo-dhcp-{vm1.port.network_id}"
    wait_for("the DHCP namespace", lambda: private_dhcp in list_namespaces())
    wait_for("dnsmasq running again", lambda: dnsmasq_pids(cloud.data_dir))
    router = cloud.demo.network.find_router("router1", ignore_missing=False)
    assert f"nubo-router-{router.id}" in list_namespaces()

    # The instances' veth ends died with nubo-dp: their peers were in it. On a
    # restart compute plugs its instances again (their namespaces, like VMs, outlive
    # nubo), which is what happens here; the agent then wires the new devices.

    def ends_gone() -> bool:
        return not any(cloud.has_iface(i) for i in cloud.instances.values())

    wait_for("the instances' veth ends gone with nubo-dp", ends_gone)
    cloud.plug(*cloud.instances.values())
    outside = floating.outside
    sh("ip", "-n", outside.namespace, "addr", "add", floating.outside_cidr, "dev", outside.iface)

    assert cloud.dhcp(vm1)["ip"] == vm1.ip
    assert cloud.dhcp(routed)["ip"] == routed.ip
    assert cloud.pings(vm1.namespace, routed.ip)
    cloud.addressed(floating.web)
    assert cloud.pings(outside.namespace, floating.address)


def test_down_purge_leaves_nothing(cloud: Cloud, pair: tuple[Instance, Instance]) -> None:
    proc = cloud.down(purge=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not cloud.pid_alive()
    assert not list_namespaces()
    host_links = json.loads(sh("ip", "-j", "link", "show").stdout)
    assert not [link["ifname"] for link in host_links if link["ifname"].startswith("nubo")]
    assert not dnsmasq_pids(cloud.data_dir)
    assert not [name for name in host_nft_tables() if re.match(r"nubo", name)]
    # the test's own namespaces are not nubo's: still there; their veth ends go when
    # the kernel has finished destroying nubo-dp (asynchronously, after its unmount)
    vm1, _ = pair
    assert Path("/run/netns", vm1.namespace).exists()
    wait_for("the instance end of vm1's veth gone", lambda: not cloud.has_iface(vm1))
