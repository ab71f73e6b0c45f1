"""The Linux dataplane driver on real namespaces, bridges, VXLAN, dnsmasq and nftables.

A hand-built Topology: a VXLAN network 10.50.0.0/24 with a DHCP port and two
instance ports plugged as veths into test namespaces; a flat external network
172.24.4.0/24 with a third test namespace on it (the "outside", 172.24.4.1);
a router between them with a gateway and a floating IP. The firewall is the
no-op one (the firewall has its own tests). Every packet stays inside namespaces:
nubo's (made by the driver) and ``nubotest-*`` ones (made here); the finalizer
purges the driver and deletes the test namespaces whatever happened.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from nubo.network.dataplane import netns
from nubo.network.dataplane.dnsmasq import PID_FILE, read_cmdline
from nubo.network.dataplane.linux import LinuxNetworkDriver
from nubo.network.dataplane.metadata_proxy import MetadataProxy, sign
from nubo.network.dataplane.netns import in_namespace, list_namespaces
from nubo.network.dataplane.spec import (
    DATAPLANE_NS,
    METADATA_IP,
    UNDERLAY_NS,
    FixedIp,
    FloatingIpSpec,
    GatewaySpec,
    NetworkSpec,
    PortSpec,
    RouterInterfaceSpec,
    RouterSpec,
    SubnetSpec,
    Topology,
    link_name,
)

pytestmark = pytest.mark.root

VNI = 3917
PEER_VTEP = "198.18.0.2"
FLOATING = "172.24.4.20"
GATEWAY_IP = "172.24.4.10"
OUTSIDE_IP = "172.24.4.1"
SECRET = b"test-secret"

UDHCPC_SCRIPT = """#!/bin/sh
# udhcpc hook for the tests: records the lease and configures only $interface
# (addresses, MTU, routes) inside the test namespace. Never touches resolv.conf.
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


@pytest.fixture(autouse=True)
def _tools() -> None:
    for tool, package in (
        ("nft", "nftables"),
        ("busybox", "busybox-static"),
        ("bridge", "iproute2"),
    ):
        if shutil.which(tool) is None:
            pytest.skip(f"missing {tool}: apt-get install {package}")
    if list_namespaces():
        pytest.skip(
            f"nubo namespaces exist ({', '.join(sorted(list_namespaces()))}): "
            "a nubo dataplane runs on this host; the test would purge it"
        )


def sh(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed: {proc.stderr.strip()}")
    return proc


def uid() -> str:
    return str(uuid.uuid4())


SYSCTLS = (
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/send_redirects",
    "net/ipv6/conf/all/forwarding",
    "net/ipv6/conf/all/disable_ipv6",
)


def host_sysctls() -> dict[str, str]:
    return {key: Path("/proc/sys", key).read_text() for key in SYSCTLS}


@dataclass
class Lab:
    """The topology, the driver, the test namespaces and what to clean up."""

    tmp: Path
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    namespaces: list[str] = field(default_factory=list)
    servers: list[http.server.HTTPServer] = field(default_factory=list)
    sockets: list[socket.socket] = field(default_factory=list)

    def __post_init__(self) -> None:
        # the driver sets sysctls from threads inside namespaces: never the host's
        self.host_sysctls = host_sysctls()
        self.net = uid()
        self.subnet = uid()
        self.ext = uid()
        self.ext_subnet = uid()
        self.router = uid()
        self.driver = LinuxNetworkDriver(self.tmp / "state")
        self.dhcp = self.port("10.50.0.2", "fa:16:3e:00:50:02", owner="network:dhcp")
        self.vm1 = self.port("10.50.0.11", "fa:16:3e:00:50:11", hostname="vm1")
        self.vm2 = self.port("10.50.0.12", "fa:16:3e:00:50:12", hostname="vm2")
        self.outside = PortSpec(
            uid(), self.ext, "fa:16:3e:00:24:01", (FixedIp(self.ext_subnet, OUTSIDE_IP),)
        )
        self.iface_port, self.gw_port = uid(), uid()
        self.ns1 = f"nubotest-dp-vm1-{self.tag}"
        self.ns2 = f"nubotest-dp-vm2-{self.tag}"
        self.ns_out = f"nubotest-dp-out-{self.tag}"

    def start(self) -> None:
        """The instances' namespaces, then the topology applied and the ports plugged."""
        for name in (self.ns1, self.ns2, self.ns_out):
            self.namespace(name.split("-")[2])
        self.driver.apply(self.topology())
        self.plug_all()
        self.driver.apply(self.topology())

    def port(self, ip: str, mac: str, owner: str = "compute:nova", hostname: str = "") -> PortSpec:
        fixed = (FixedIp(self.subnet, ip),)
        return PortSpec(uid(), self.net, mac, fixed, device_owner=owner, hostname=hostname)

    def namespace(self, what: str) -> str:
        name = f"nubotest-dp-{what}-{self.tag}"
        sh("ip", "netns", "add", name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        self.namespaces.append(name)
        return name

    def topology(
        self,
        *,
        peers: tuple[str, ...] = (),
        extra_hosts: tuple[PortSpec, ...] = (),
        extra_subnets: tuple[SubnetSpec, ...] = (),
    ) -> Topology:
        subnet = SubnetSpec(self.subnet, "10.50.0.0/24", 4, "10.50.0.1", True)
        ext_subnet = SubnetSpec(self.ext_subnet, "172.24.4.0/24", 4, OUTSIDE_IP, False)
        router_port = PortSpec(
            self.iface_port,
            self.net,
            "fa:16:3e:00:50:01",
            (FixedIp(self.subnet, "10.50.0.1"),),
            device_owner="network:router_interface",
        )
        network = NetworkSpec(
            self.net,
            "vxlan",
            VNI,
            1450,
            False,
            True,
            (subnet, *extra_subnets),
            dhcp_port=self.dhcp,
            hosts=(self.dhcp, self.vm1, self.vm2, router_port, *extra_hosts),
        )
        external = NetworkSpec(self.ext, "flat", None, 1500, True, True, (ext_subnet,))
        router = RouterSpec(
            self.router,
            True,
            (
                RouterInterfaceSpec(
                    self.iface_port, self.net, "fa:16:3e:00:50:01", ("10.50.0.1/24",), 1450
                ),
            ),
            GatewaySpec(
                self.gw_port,
                self.ext,
                "fa:16:3e:00:24:0a",
                (f"{GATEWAY_IP}/24",),
                (OUTSIDE_IP,),
                True,
                1500,
            ),
            floating_ips=(FloatingIpSpec(uid(), FLOATING, self.vm1.fixed_ips[0].ip_address),),
        )
        return Topology(
            networks=(network, external),
            ports=(self.vm1, self.vm2, self.outside),
            routers=(router,),
            vxlan_peers=peers,
        )

    def plug_all(self) -> None:
        for port, ns in ((self.vm1, self.ns1), (self.vm2, self.ns2), (self.outside, self.ns_out)):
            self.driver.plug(port, "veth", ns)
        inner = link_name("i", self.outside.id)
        sh("ip", "-n", self.ns_out, "addr", "replace", f"{OUTSIDE_IP}/24", "dev", inner)

    def exec(self, ns: str, *argv: str, check: bool = True, timeout: float = 30) -> str:
        return sh("ip", "netns", "exec", ns, *argv, check=check, timeout=timeout).stdout

    def dhcp_lease(self, ns: str, port: PortSpec) -> dict[str, str]:
        """busybox udhcpc on the port's interface in ns; the lease's variables."""
        script = self.tmp / "udhcpc.sh"
        out = self.tmp / f"lease-{ns}"
        script.write_text(UDHCPC_SCRIPT.format(out=out))
        script.chmod(0o755)
        iface = link_name("i", port.id)
        self.exec(
            ns,
            "busybox",
            "udhcpc",
            "-i",
            iface,
            "-n",
            "-q",
            "-f",
            "-t",
            "6",
            "-T",
            "1",
            "-O",
            "mtu",
            "-O",
            "staticroutes",
            "-s",
            str(script),
            timeout=60,
        )
        lease = Path(f"{out}.{iface}").read_text().splitlines()
        return dict(line.split("=", 1) for line in lease)

    def ping(self, ns: str, ip: str, count: int = 2) -> bool:
        argv = ("busybox", "ping", "-c", str(count), "-W", "2", ip)
        return sh("ip", "netns", "exec", ns, *argv, check=False).returncode == 0

    def udp(self, ns: str, host: str, port: int) -> socket.socket:
        """A UDP socket bound in ns (closed by the finalizer)."""

        def make() -> socket.socket:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((host, port))
            sock.settimeout(5)
            return sock

        sock = in_namespace(ns, make)
        self.sockets.append(sock)
        return sock

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
        for server in self.servers:
            server.shutdown()
            server.server_close()
        try:
            self.driver.purge()
        finally:
            for name in self.namespaces:
                sh("ip", "netns", "del", name, check=False)


@pytest.fixture
def dp(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path)
    try:
        lab.start()
        yield lab
    finally:
        lab.close()


def dnsmasq_pid(lab: Lab) -> int:
    return int((lab.tmp / "state" / lab.net / PID_FILE).read_text())


def test_dhcp_gives_each_port_its_address_and_the_network_mtu(dp: Lab) -> None:
    lease = dp.dhcp_lease(dp.ns1, dp.vm1)
    assert lease["ip"] == "10.50.0.11"
    assert lease["mask"] == "24"
    assert lease["mtu"] == "1450"
    assert lease["router"] == "10.50.0.1"
    assert lease["dns"] == "10.50.0.2"
    assert lease["hostname"] == "vm1"
    assert lease["domain"] == "openstacklocal"
    assert lease["staticroutes"] == (f"{METADATA_IP}/32 10.50.0.2 0.0.0.0/0 10.50.0.1")
    link = json.loads(dp.exec(dp.ns1, "ip", "-j", "link", "show", link_name("i", dp.vm1.id)))
    assert link[0]["mtu"] == 1450
    assert dp.dhcp_lease(dp.ns2, dp.vm2)["ip"] == "10.50.0.12"
    assert dp.ping(dp.ns1, "10.50.0.12")
    assert dp.ping(dp.ns2, "10.50.0.11")
    # DNS from the network's dnsmasq: instance names, no upstream
    answer = dp.exec(dp.ns1, "busybox", "nslookup", "vm2.openstacklocal", "10.50.0.2", check=False)
    assert "Address: 10.50.0.12" in answer


def _send_df(sock: socket.socket, payload: int, dest: tuple[str, int]) -> None:
    # never fragment: a datagram larger than the path's MTU must fail, not be split
    sock.setsockopt(socket.IPPROTO_IP, 10, 2)  # IP_MTU_DISCOVER = IP_PMTUDISC_DO
    sock.sendto(b"x" * payload, dest)


def test_full_size_packets_cross_the_bridge_and_vxlan_without_fragmenting(dp: Lab) -> None:
    dp.dhcp_lease(dp.ns1, dp.vm1)
    dp.dhcp_lease(dp.ns2, dp.vm2)
    # a 1400-byte IP packet (1372 bytes of UDP payload) with DF between the instances
    server = dp.udp(dp.ns2, "10.50.0.12", 7001)
    client = dp.udp(dp.ns1, "10.50.0.11", 7001)
    _send_df(client, 1372, ("10.50.0.12", 7001))
    data, source = server.recvfrom(4096)
    assert (len(data), source[0]) == (1372, "10.50.0.11")

    # a second "host" behind the underlay: its own VXLAN endpoint for the same VNI
    peer = dp.namespace("peer")
    outside_end, inside_end = f"tstu{dp.tag}", "eth0"
    sh(
        "ip",
        "-n",
        UNDERLAY_NS,
        "link",
        "add",
        outside_end,
        "type",
        "veth",
        "peer",
        "name",
        inside_end,
        "netns",
        peer,
    )
    underlay_bridge = link_name("b", "underlay")
    sh("ip", "-n", UNDERLAY_NS, "link", "set", outside_end, "master", underlay_bridge, "up")
    sh("ip", "-n", peer, "addr", "add", f"{PEER_VTEP}/24", "dev", inside_end)
    sh("ip", "-n", peer, "link", "set", inside_end, "up")
    sh(
        "ip",
        "-n",
        peer,
        "link",
        "add",
        "vx0",
        "type",
        "vxlan",
        "id",
        str(VNI),
        "local",
        PEER_VTEP,
        "dstport",
        "4789",
    )
    sh(
        "bridge",
        "-n",
        peer,
        "fdb",
        "append",
        "00:00:00:00:00:00",
        "dev",
        "vx0",
        "dst",
        "198.18.0.1",
    )
    sh("ip", "-n", peer, "link", "set", "vx0", "mtu", "1450", "up")
    sh("ip", "-n", peer, "addr", "add", "10.50.0.99/24", "dev", "vx0")
    dp.driver.apply(dp.topology(peers=(PEER_VTEP,)))
    fdb = dp.exec(DATAPLANE_NS, "bridge", "fdb", "show", "dev", link_name("x", dp.net))
    assert f"dst {PEER_VTEP}" in fdb
    assert dp.ping(dp.ns1, "10.50.0.99")
    # the largest packet the network's MTU allows (1450) crosses VXLAN unfragmented
    far = dp.udp(peer, "10.50.0.99", 7002)
    near = dp.udp(dp.ns1, "10.50.0.11", 7002)
    _send_df(near, 1450 - 28, ("10.50.0.99", 7002))
    data, source = far.recvfrom(4096)
    assert (len(data), source[0]) == (1422, "10.50.0.11")
    # and one byte more is refused locally, as DF requires
    with pytest.raises(OSError):
        _send_df(near, 1450 - 27, ("10.50.0.99", 7002))
    # the peer leaves the topology: its flood entry goes
    dp.driver.apply(dp.topology())
    fdb = dp.exec(DATAPLANE_NS, "bridge", "fdb", "show", "dev", link_name("x", dp.net))
    assert f"00:00:00:00:00:00 dst {PEER_VTEP}" not in fdb


def test_router_snat_and_floating_ip(dp: Lab) -> None:
    dp.dhcp_lease(dp.ns1, dp.vm1)
    dp.dhcp_lease(dp.ns2, dp.vm2)
    # outside -> floating IP reaches vm1 (DNAT), the reply comes from the floating IP
    assert dp.ping(dp.ns_out, FLOATING)
    inside = dp.udp(dp.ns1, "0.0.0.0", 7100)
    out = dp.udp(dp.ns_out, OUTSIDE_IP, 7100)
    out.sendto(b"in", (FLOATING, 7100))
    data, source = inside.recvfrom(64)
    assert (data, source[0]) == (b"in", OUTSIDE_IP)
    inside.sendto(b"back", source)
    data, source = out.recvfrom(64)
    assert (data, source[0]) == (b"back", FLOATING)
    # vm1 -> outside leaves from its floating IP; vm2 (none) from the router's gateway
    server = dp.udp(dp.ns_out, OUTSIDE_IP, 7200)
    for ns, ip, seen in ((dp.ns1, "10.50.0.11", FLOATING), (dp.ns2, "10.50.0.12", GATEWAY_IP)):
        client = dp.udp(ns, ip, 0)
        client.sendto(b"out", (OUTSIDE_IP, 7200))
        data, source = server.recvfrom(64)
        assert (data, source[0]) == (b"out", seen)
    # hairpin: vm2 reaches vm1 through vm1's floating IP
    assert dp.ping(dp.ns2, FLOATING)
    router_ns = f"nubo-router-{dp.router}"
    assert dp.exec(router_ns, "cat", "/proc/sys/net/ipv4/ip_forward").strip() == "1"
    assert dp.exec(router_ns, "cat", "/proc/sys/net/ipv4/conf/all/send_redirects").strip() == "0"
    assert dp.exec(DATAPLANE_NS, "cat", "/proc/sys/net/ipv4/ip_forward").strip() == "0"
    v6off = dp.exec(DATAPLANE_NS, "cat", "/proc/sys/net/ipv6/conf/all/disable_ipv6")
    assert v6off.strip() == "1"
    assert host_sysctls() == dp.host_sysctls


class _Upstream(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"path": self.path, "headers": dict(self.headers.items())}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_metadata_proxy_in_the_dhcp_namespace(dp: Lab) -> None:
    dp.dhcp_lease(dp.ns1, dp.vm1)
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    dp.servers.append(upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    known = {(dp.net, "10.50.0.11"): dp.vm1.id}
    url = f"http://127.0.0.1:{upstream.server_address[1]}/md"
    proxy = MetadataProxy(dp.driver, lambda n, ip: known.get((n, ip)), url, SECRET)
    try:
        proxy.sync([dp.net])
        sock = in_namespace(dp.ns1, lambda: socket.create_connection((METADATA_IP, 80), 5))
        with sock:
            sock.sendall(
                b"GET /latest/meta-data/?x=1 HTTP/1.1\r\nHost: 169.254.169.254\r\n"
                b"X-Nubo-Port-Id: forged\r\nConnection: close\r\n\r\n"
            )
            raw = b""
            while chunk := sock.recv(65536):
                raw += chunk
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        seen = json.loads(body)
        assert seen["path"] == "/md/latest/meta-data/?x=1"
        headers = {k.lower(): v for k, v in seen["headers"].items()}
        assert headers["x-forwarded-for"] == "10.50.0.11"
        assert headers["x-nubo-network-id"] == dp.net
        assert headers["x-nubo-port-id"] == dp.vm1.id
        assert headers["x-nubo-port-id-signature"] == sign(SECRET, dp.vm1.id)
        proxy.sync([])
        assert proxy._servers == {}
    finally:
        proxy.close()


def test_apply_twice_changes_nothing(dp: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    pid = dnsmasq_pid(dp)
    calls: list[str] = []

    def spy_batch(namespace: str, commands: Any, tool: str = "ip") -> Any:
        calls.extend(commands)
        return netns.batch(namespace, commands, tool)

    def spy_run(cmd: Any, **kwargs: Any) -> Any:
        if "ip" in cmd[:1] and "show" not in cmd:
            calls.append(" ".join(cmd))
        return netns.run(cmd, **kwargs)

    monkeypatch.setattr("nubo.network.dataplane.linux.batch", spy_batch)
    monkeypatch.setattr("nubo.network.dataplane.linux.run", spy_run)
    started = time.monotonic()
    dp.driver.apply(dp.topology())
    elapsed = time.monotonic() - started
    assert calls == []
    assert dnsmasq_pid(dp) == pid
    assert elapsed < 2.0


def test_apply_restores_a_dead_dnsmasq_and_a_deleted_namespace(dp: Lab) -> None:
    os.kill(dnsmasq_pid(dp), 15)  # ours: started by the driver under test
    sh("ip", "netns", "del", DATAPLANE_NS)
    dp.driver.apply(dp.topology())
    # the instance ends died with their bridge ends: compute plugs them again
    dp.plug_all()
    dp.driver.apply(dp.topology())
    pid = dnsmasq_pid(dp)
    assert read_cmdline(pid) is not None
    assert dp.dhcp_lease(dp.ns1, dp.vm1)["ip"] == "10.50.0.11"
    assert dp.dhcp_lease(dp.ns2, dp.vm2)["ip"] == "10.50.0.12"
    assert dp.ping(dp.ns1, "10.50.0.12")
    assert dp.ping(dp.ns_out, FLOATING)


def test_dnsmasq_reloads_for_new_hosts_and_restarts_for_new_subnets(dp: Lab) -> None:
    pid = dnsmasq_pid(dp)
    state = dp.tmp / "state" / dp.net
    reads = (state / "dnsmasq.log").read_text().count(f"read {state}/host")
    vm3 = dp.port("10.50.0.13", "fa:16:3e:00:50:13", hostname="vm3")
    dp.driver.apply(dp.topology(extra_hosts=(vm3,)))
    assert dnsmasq_pid(dp) == pid
    assert "fa:16:3e:00:50:13,10.50.0.13,vm3" in (state / "host").read_text()
    deadline = time.monotonic() + 5
    while (state / "dnsmasq.log").read_text().count(f"read {state}/host") == reads:
        assert time.monotonic() < deadline, "dnsmasq did not re-read its hosts file"
        time.sleep(0.05)
    # a second subnet: a new --dhcp-range, so a new dnsmasq
    second = SubnetSpec(uid(), "10.51.0.0/24", 4, "10.51.0.1", True)
    dhcp = PortSpec(
        dp.dhcp.id,
        dp.net,
        dp.dhcp.mac_address,
        (*dp.dhcp.fixed_ips, FixedIp(second.id, "10.51.0.2")),
        device_owner="network:dhcp",
    )
    dp.dhcp = dhcp
    dp.driver.apply(dp.topology(extra_subnets=(second,)))
    new_pid = dnsmasq_pid(dp)
    assert new_pid != pid and read_cmdline(pid) is None
    argv = read_cmdline(new_pid) or []
    assert f"--dhcp-range=set:subnet-{second.id},10.51.0.0,static,255.255.255.0,86400" in argv
    addrs = dp.exec(f"nubo-dhcp-{dp.net}", "ip", "-br", "addr", "show", link_name("d", dhcp.id))
    assert "10.51.0.2/24" in addrs and "10.50.0.2/24" in addrs


def test_a_new_driver_adopts_the_running_dnsmasq(dp: Lab) -> None:
    pid = dnsmasq_pid(dp)
    again = LinuxNetworkDriver(dp.tmp / "state")
    again.apply(dp.topology())
    assert dnsmasq_pid(dp) == pid
    assert read_cmdline(pid) is not None


def test_orphans_go_and_purge_leaves_nothing(dp: Lab) -> None:
    dhcp_pid = dnsmasq_pid(dp)
    # the router and the VXLAN network leave the topology: their objects go
    topology = dp.topology()
    only_external = Topology(networks=topology.networks[1:], ports=(dp.outside,))
    dp.driver.apply(only_external)
    assert list_namespaces() == {"nubo-dp", "nubo-ext", "nubo-underlay"}
    assert read_cmdline(dhcp_pid) is None
    links = json.loads(dp.exec(DATAPLANE_NS, "ip", "-j", "link", "show"))
    assert [link["ifname"] for link in links] == ["lo"]
    assert not (dp.tmp / "state" / dp.net).exists()

    dp.driver.apply(topology)
    pid = dnsmasq_pid(dp)
    dp.driver.purge()
    assert list_namespaces() == set()
    host_links = json.loads(sh("ip", "-j", "link", "show").stdout)
    assert not [link["ifname"] for link in host_links if link["ifname"].startswith("nubo")]
    assert read_cmdline(pid) is None
    assert dp.driver._dnsmasq.running() == {}
    # the test's own namespaces are not nubo's: still there
    assert Path(f"/run/netns/{dp.ns1}").exists()
