"""The nftables security-group firewall on real namespaces, bridges and veths.

A dataplane namespace holds one bridge; each client namespace is an "instance" whose
eth0 is the far end of a veth whose near end (``port.device``) is on the bridge.
Everything is built with plain ``ip`` commands and removed in the finalizer; packets
never leave these namespaces.
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from nubo.network.dataplane import nft_rules
from nubo.network.dataplane.firewall import NftFirewall
from nubo.network.dataplane.spec import (
    AddressPair,
    FixedIp,
    PortSpec,
    RuleSpec,
    SecurityGroupSpec,
    link_name,
)

DP = "nubotest-fw-dp"
CLIENT_PREFIX = "nubotest-fw-c"
NET = "6f0c1a52-3d4e-4b7a-9c11-0a0b0c0d0e01"
BRIDGE = link_name("b", NET)
CLONE_NEWNET = 0x40000000

T = TypeVar("T")


@pytest.fixture(autouse=True)
def _tools() -> None:
    for tool in ("nft", "busybox"):
        if shutil.which(tool) is None:
            pytest.skip(f"missing {tool}: apt-get install {'nftables' if tool == 'nft' else tool}")


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=30)


def in_netns(namespace: str, fn: Callable[[], T]) -> T:
    """Call fn in a thread that entered namespace: sockets it creates stay there."""
    libc = ctypes.CDLL(None, use_errno=True)
    out: dict[str, object] = {}

    def target() -> None:
        fd = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
            out["value"] = fn()
        except BaseException as exc:
            out["error"] = exc
        finally:
            os.close(fd)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]  # type: ignore[misc]
    return out["value"]  # type: ignore[return-value]


@dataclasses.dataclass
class Client:
    namespace: str
    port: PortSpec

    @property
    def ip(self) -> str:
        return self.port.fixed_ips[0].ip_address

    @property
    def ip6(self) -> str:
        return self.port.fixed_ips[1].ip_address


class Lab:
    """The dataplane namespace, its bridge and the client namespaces."""

    def __init__(self) -> None:
        self.clients: list[Client] = []
        self.listeners: list[socket.socket] = []
        self.processes: list[subprocess.Popen[bytes]] = []
        self.cleanup()  # leftovers of an interrupted run
        sh("ip", "netns", "add", DP)
        sh("ip", "-n", DP, "link", "set", "lo", "up")
        sh("ip", "-n", DP, "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "-n", DP, "link", "set", BRIDGE, "up")

    def client(self, n: int, **port_fields: object) -> Client:
        """Client n: MAC 02:00:00:60:00:0n, 10.60.0.n/24 and fd00:60::n/64."""
        namespace = f"{CLIENT_PREFIX}{n}"
        fields: dict[str, object] = {
            "id": f"{n:08x}-1111-4222-8333-444444444444",
            "network_id": NET,
            "mac_address": f"02:00:00:60:00:{n:02x}",
            "fixed_ips": (FixedIp("s4", f"10.60.0.{n}"), FixedIp("s6", f"fd00:60::{n:x}")),
            "device_owner": "compute:nova",
        }
        fields.update(port_fields)
        port = PortSpec(**fields)  # type: ignore[arg-type]
        sh("ip", "netns", "add", namespace)
        sh("ip", "-n", namespace, "link", "set", "lo", "up")
        sh("ip", "link", "add", port.device, "netns", DP, "type", "veth", "peer", "name", "eth0",
           "netns", namespace)  # fmt: skip
        sh("ip", "-n", DP, "link", "set", port.device, "master", BRIDGE, "up")
        sh("ip", "-n", namespace, "link", "set", "eth0", "address", port.mac_address, "up")
        sh("ip", "-n", namespace, "addr", "add", f"10.60.0.{n}/24", "dev", "eth0")
        sh("ip", "-n", namespace, "addr", "add", f"fd00:60::{n:x}/64", "dev", "eth0", "nodad")
        client = Client(namespace, port)
        self.clients.append(client)
        return client

    def start(self, client: Client, *argv: str) -> subprocess.Popen[bytes]:
        """A long-running program in client's namespace, stopped by cleanup."""
        proc = subprocess.Popen(
            ["ip", "netns", "exec", client.namespace, *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(proc)
        return proc

    def cleanup(self) -> None:
        for proc in self.processes:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for sock in self.listeners:
            sock.close()
        names = sh("ip", "netns", "list").stdout.split()
        for name in names:
            if name == DP or name.startswith(CLIENT_PREFIX):
                sh("ip", "netns", "del", name, check=False)

    def nft_json(self, family: str) -> list[dict[str, object]]:
        out = sh("ip", "netns", "exec", DP, "nft", "-j", "-a", "list", "table", family, "nubo_fw")
        return [item for item in json.loads(out.stdout)["nftables"] if "metainfo" not in item]

    def handles(self) -> dict[tuple[str, str], list[int]]:
        """Rule handles per (family, chain) of both firewall tables."""
        found: dict[tuple[str, str], list[int]] = {}
        for family in nft_rules.FAMILIES:
            for item in self.nft_json(family):
                if "chain" in item:
                    found.setdefault((family, str(item["chain"]["name"])), [])  # type: ignore[index]
                if "rule" in item:
                    rule = item["rule"]
                    found.setdefault((family, rule["chain"]), []).append(rule["handle"])  # type: ignore[index]
        return found


@pytest.fixture
def lab() -> Iterator[Lab]:
    net = Lab()
    try:
        yield net
    finally:
        net.cleanup()


@pytest.fixture
def fw() -> NftFirewall:
    return NftFirewall()


def pings(src: Client, dst_ip: str) -> bool:
    proc = sh("ip", "netns", "exec", src.namespace, "busybox", "ping", "-c", "1", "-W", "1", dst_ip,
              check=False)  # fmt: skip
    return proc.returncode == 0


def listen(lab: Lab, client: Client, port: int) -> socket.socket:
    server = in_netns(client.namespace, lambda: socket.create_server((client.ip, port)))
    server.settimeout(3)
    lab.listeners.append(server)
    return server


def connect(src: Client, dst_ip: str, port: int) -> socket.socket | None:
    """A TCP connection from src, or None when the handshake is filtered."""
    try:
        sock = in_netns(
            src.namespace, lambda: socket.create_connection((dst_ip, port), timeout=1.5)
        )
    except OSError:
        return None
    sock.settimeout(3)
    return sock


def group(
    gid: str, *rules: RuleSpec, members: tuple[str, ...] = (), stateful: bool = True
) -> SecurityGroupSpec:
    return SecurityGroupSpec(id=gid, stateful=stateful, rules=rules, member_ips=members)


EGRESS_ALL = (RuleSpec("e4", "egress", "IPv4", None), RuleSpec("e6", "egress", "IPv6", None))
ICMP_IN = RuleSpec("icmp-in", "ingress", "IPv4", "icmp")
SSH_IN = RuleSpec("ssh-in", "ingress", "IPv4", "tcp", 22, 22)


def test_icmp_and_ssh_are_blocked_until_a_rule_opens_them(lab: Lab, fw: NftFirewall) -> None:
    a = lab.client(1, security_group_ids=("g",))
    b = lab.client(2, security_group_ids=("g",))
    ports = [a.port, b.port]
    fw.sync(DP, ports, [group("g", *EGRESS_ALL)])
    server = listen(lab, b, 22)
    assert not pings(a, b.ip)
    assert connect(a, b.ip, 22) is None

    fw.sync(DP, ports, [group("g", *EGRESS_ALL, ICMP_IN)])
    assert pings(a, b.ip)
    assert connect(a, b.ip, 22) is None

    fw.sync(DP, ports, [group("g", *EGRESS_ALL, ICMP_IN, SSH_IN)])
    sock = connect(a, b.ip, 22)
    assert sock is not None
    conn, _ = server.accept()
    sock.sendall(b"hello")
    assert conn.recv(5) == b"hello"
    conn.close()
    sock.close()
    assert fw.rebuilds == 1  # the first sync only; the others were incremental


def test_removing_an_egress_rule_blocks_new_connections_not_established_ones(
    lab: Lab, fw: NftFirewall
) -> None:
    a = lab.client(1, security_group_ids=("client",))
    b = lab.client(2, security_group_ids=("server",))
    ports = [a.port, b.port]
    ssh_out = RuleSpec("ssh-out", "egress", "IPv4", "tcp", 22, 22)
    server_group = group("server", SSH_IN)
    fw.sync(DP, ports, [group("client", ssh_out), server_group])
    server = listen(lab, b, 22)
    sock = connect(a, b.ip, 22)
    assert sock is not None
    conn, _ = server.accept()

    fw.sync(DP, ports, [group("client"), server_group])
    assert connect(a, b.ip, 22) is None
    sock.sendall(b"still")
    assert conn.recv(5) == b"still"
    conn.sendall(b"there")
    assert sock.recv(5) == b"there"
    conn.close()
    sock.close()


def test_remote_group_admits_its_members_only(lab: Lab, fw: NftFirewall) -> None:
    a = lab.client(1, security_group_ids=("web",))
    b = lab.client(2, security_group_ids=("db",))
    c = lab.client(3, security_group_ids=("other",))
    ports = [a.port, b.port, c.port]
    from_web = RuleSpec("from-web", "ingress", "IPv4", "icmp", remote_group_id="web")

    def groups(web_members: tuple[str, ...]) -> list[SecurityGroupSpec]:
        return [
            group("web", *EGRESS_ALL, members=web_members),
            group("db", *EGRESS_ALL, from_web, members=(b.ip,)),
            group("other", *EGRESS_ALL, members=(c.ip,)),
        ]

    fw.sync(DP, ports, groups((a.ip,)))
    assert pings(a, b.ip)
    assert not pings(c, b.ip)

    before = lab.handles()
    fw.sync(DP, ports, groups((a.ip, c.ip)))  # c joins web: a set element, no rules
    assert lab.handles() == before
    assert pings(c, b.ip)


def test_spoofed_addresses_are_dropped_unless_an_address_pair_allows_them(
    lab: Lab, fw: NftFirewall
) -> None:
    a = lab.client(1, security_group_ids=("g",))
    b = lab.client(2, security_group_ids=("g",))
    groups = [group("g", *EGRESS_ALL, ICMP_IN)]
    fw.sync(DP, [a.port, b.port], groups)
    assert pings(a, b.ip)

    # a takes another IP; static neighbours so only the IP check can stop it
    sh("ip", "-n", a.namespace, "addr", "flush", "dev", "eth0")
    sh("ip", "-n", a.namespace, "addr", "add", "10.60.0.50/24", "dev", "eth0")
    sh("ip", "-n", a.namespace, "neigh", "replace", b.ip, "lladdr", b.port.mac_address,
       "dev", "eth0", "nud", "permanent")  # fmt: skip
    sh("ip", "-n", b.namespace, "neigh", "replace", "10.60.0.50", "lladdr", a.port.mac_address,
       "dev", "eth0", "nud", "permanent")  # fmt: skip
    assert not pings(a, b.ip)

    paired = dataclasses.replace(
        a.port, allowed_address_pairs=(AddressPair("10.60.0.48/29", a.port.mac_address),)
    )
    fw.sync(DP, [paired, b.port], groups)
    assert pings(a, b.ip)

    # a keeps a permitted IP but sends from a MAC of its own choosing
    sh("ip", "-n", a.namespace, "link", "set", "eth0", "address", "02:00:00:60:00:99")
    sh("ip", "-n", b.namespace, "neigh", "replace", "10.60.0.50", "lladdr", "02:00:00:60:00:99",
       "dev", "eth0", "nud", "permanent")  # fmt: skip
    assert not pings(a, b.ip)


def test_arp_for_a_foreign_address_is_dropped(lab: Lab, fw: NftFirewall) -> None:
    a = lab.client(1, security_group_ids=("g",))
    b = lab.client(2, security_group_ids=("g",))
    fw.sync(DP, [a.port, b.port], [group("g", *EGRESS_ALL, ICMP_IN)])
    sh("ip", "-n", a.namespace, "addr", "flush", "dev", "eth0")
    sh("ip", "-n", a.namespace, "addr", "add", "10.60.0.51/24", "dev", "eth0")
    assert not pings(a, b.ip)
    neighbours = sh("ip", "-n", b.namespace, "neigh", "show", "10.60.0.51").stdout
    assert a.port.mac_address not in neighbours


def test_ports_without_port_security_pass_everything(lab: Lab, fw: NftFirewall) -> None:
    a = lab.client(1, port_security_enabled=False, security_group_ids=("g",))
    b = lab.client(2, port_security_enabled=False)
    fw.sync(DP, [a.port, b.port], [group("g")])
    sh("ip", "-n", a.namespace, "addr", "add", "10.60.0.77/24", "dev", "eth0")
    assert pings(a, b.ip)
    listen(lab, b, 22)
    assert connect(a, b.ip, 22) is not None
    probe = sh("ip", "netns", "exec", a.namespace, "busybox", "ping", "-c", "1", "-W", "1",
               "-I", "10.60.0.77", b.ip, check=False)  # fmt: skip
    assert probe.returncode == 0


def test_stateless_group_needs_rules_for_both_directions(lab: Lab, fw: NftFirewall) -> None:
    a = lab.client(1, security_group_ids=("g",))
    b = lab.client(2, security_group_ids=("sl",))
    ports = [a.port, b.port]
    fw.sync(DP, ports, [group("g", *EGRESS_ALL), group("sl", ICMP_IN, stateful=False)])
    assert not pings(a, b.ip)  # the request gets in, the reply may not leave
    icmp_out = RuleSpec("icmp-out", "egress", "IPv4", "icmp")
    fw.sync(DP, ports, [group("g", *EGRESS_ALL), group("sl", ICMP_IN, icmp_out, stateful=False)])
    assert pings(a, b.ip)


def test_ipv6_needs_a_rule_and_neighbour_discovery_always_works(lab: Lab, fw: NftFirewall) -> None:
    a = lab.client(1, security_group_ids=("g",))
    b = lab.client(2, security_group_ids=("g",))
    ports = [a.port, b.port]
    fw.sync(DP, ports, [group("g", *EGRESS_ALL)])
    assert not pings(a, b.ip6)
    icmp6 = RuleSpec("icmp6-in", "ingress", "IPv6", "ipv6-icmp", 128)
    fw.sync(DP, ports, [group("g", *EGRESS_ALL, icmp6)])
    assert pings(a, b.ip6)


def test_a_rule_change_touches_only_its_group_chain(lab: Lab, fw: NftFirewall) -> None:
    clients = [lab.client(n, security_group_ids=("g", "h")) for n in (1, 2, 3)]
    ports = [c.port for c in clients]
    fw.sync(DP, ports, [group("g", *EGRESS_ALL), group("h")])
    before = lab.handles()
    sent = fw.transactions

    fw.sync(DP, ports, [group("g", *EGRESS_ALL, ICMP_IN), group("h")])
    after = lab.handles()
    assert fw.transactions == sent + 1
    changed = {key for key in before if before[key] != after.get(key)}
    assert changed == {("inet", nft_rules.group_chain("g", "i"))}
    assert before.keys() == after.keys()
    assert pings(clients[0], clients[1].ip)

    fw.sync(DP, ports, [group("g", *EGRESS_ALL, ICMP_IN), group("h")])
    assert fw.transactions == sent + 1  # nothing changed, nothing sent


def test_conntrack_zone_per_bridge(lab: Lab, fw: NftFirewall) -> None:
    a = lab.client(1, security_group_ids=("g",))
    b = lab.client(2, security_group_ids=("g",))
    fw.sync(DP, [a.port, b.port], [group("g", *EGRESS_ALL, ICMP_IN)])
    zone_map = next(item["map"] for item in lab.nft_json("inet") if "map" in item
                    and item["map"]["name"] == nft_rules.ZONE_MAP)  # type: ignore[index]  # fmt: skip
    [[bridge, zone]] = zone_map["elem"]  # type: ignore[index]
    assert bridge == BRIDGE
    assert pings(a, b.ip)
    table = sh("ip", "netns", "exec", DP, "cat", "/proc/net/nf_conntrack").stdout
    entries = [line for line in table.splitlines() if f"src={a.ip} dst={b.ip}" in line]
    assert entries and all(f"zone={zone}" in line for line in entries)


def test_a_failed_update_falls_back_to_a_rebuild_and_purge_removes_the_tables(
    lab: Lab, fw: NftFirewall
) -> None:
    a = lab.client(1, security_group_ids=("g",))
    b = lab.client(2, security_group_ids=("g",))
    ports = [a.port, b.port]
    fw.sync(DP, ports, [group("g", *EGRESS_ALL)])
    sh("ip", "netns", "exec", DP, "nft", "delete", "table", "inet", "nubo_fw")
    fw.sync(DP, ports, [group("g", *EGRESS_ALL, ICMP_IN)])
    assert fw.rebuilds == 2
    assert pings(a, b.ip)

    # a new process adopts the zones and rebuilds once
    zones = fw._state[DP].alloc.zones
    again = NftFirewall()
    again.sync(DP, ports, [group("g", *EGRESS_ALL, ICMP_IN)])
    assert again._state[DP].alloc.zones == zones
    assert pings(a, b.ip)

    again.purge(DP)
    listing = sh("ip", "netns", "exec", DP, "nft", "list", "tables").stdout
    assert "nubo_fw" not in listing
    assert pings(a, b.ip)  # nothing filters any more


def dnsmasq(lab: Lab, server: Client, workdir: Path, client: Client) -> None:
    """A DHCP server (no DNS) in server's namespace that offers client its fixed IP."""
    lab.start(
        server,
        "dnsmasq",
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--port=0",
        "--user=root",
        "--bind-interfaces",
        "--interface=eth0",
        "--dhcp-authoritative",
        f"--dhcp-leasefile={workdir / 'leases'}",
        f"--pid-file={workdir / 'pid'}",
        "--dhcp-range=10.60.0.0,static,255.255.255.0,10m",
        f"--dhcp-host={client.port.mac_address},{client.ip}",
    )


def dhcp_lease(client: Client) -> bool:
    """Whether busybox udhcpc gets a lease (its script does nothing with it)."""
    proc = sh("ip", "netns", "exec", client.namespace, "busybox", "udhcpc", "-i", "eth0", "-n",
              "-q", "-f", "-t", "4", "-T", "1", "-s", "/bin/true", check=False)  # fmt: skip
    return proc.returncode == 0


def test_dhcp_works_without_rules_and_rogue_servers_are_dropped(
    lab: Lab, fw: NftFirewall, tmp_path: Path
) -> None:
    if shutil.which("dnsmasq") is None:
        pytest.skip("missing dnsmasq: apt-get install dnsmasq-base")
    a = lab.client(1, security_group_ids=("g",))
    rogue = lab.client(2, security_group_ids=("open",))
    server = lab.client(9, device_owner="network:dhcp")
    ports = [a.port, rogue.port, server.port]
    groups = [group("g"), group("open", *EGRESS_ALL, RuleSpec("all-in", "ingress", "IPv4", None))]
    fw.sync(DP, ports, groups)
    (tmp_path / "rogue").mkdir()
    dnsmasq(lab, rogue, tmp_path / "rogue", a)  # an instance answering DHCP
    time.sleep(0.5)
    assert not dhcp_lease(a)
    (tmp_path / "real").mkdir()
    dnsmasq(lab, server, tmp_path / "real", a)
    time.sleep(0.5)
    assert dhcp_lease(a)
