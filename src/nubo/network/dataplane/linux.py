"""The Linux dataplane: namespaces, bridges, VXLAN, veth/tap ports, dnsmasq and
nftables NAT, made to match a Topology.

``apply`` reads the kernel (one ``ip -j`` dump per namespace), compares it with the
layout the topology needs (layout.py) and changes only the differences, in rounds
so each round is one ``ip -batch`` per namespace: delete what is wrong or
orphaned, create what is missing, then set MTUs, MACs, masters, states and
addresses. Every object's failure is logged and the others carry on.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from nubo.network.dataplane import dnsmasq
from nubo.network.dataplane.firewall import Firewall, NoFirewall
from nubo.network.dataplane.layout import DriverOptions, Layout, build_layout
from nubo.network.dataplane.links import (
    BRIDGE,
    DEVICE,
    HOST_LINK,
    NUBO_LINK,
    VETH,
    VXLAN,
    LinkState,
    change_commands,
    create_commands,
    needs_recreate,
    orphan_links,
    parse_links,
    parse_proc_routes,
    route_commands,
    vxlan_create_commands,
)
from nubo.network.dataplane.netns import (
    HOST,
    DataplaneError,
    batch,
    delete_namespace,
    dump_json,
    ensure_namespace,
    link_exists,
    list_namespaces,
    listening_socket,
    namespace_exists,
    read_route_tables,
    run,
    sync_sysctls,
)
from nubo.network.dataplane.ports import make_port_device, remove_port_device
from nubo.network.dataplane.routers import render_nat
from nubo.network.dataplane.spec import (
    DATAPLANE_NS,
    DHCP_NS_PREFIX,
    EXTERNAL_NS,
    UNDERLAY_NS,
    NetworkSpec,
    PortSpec,
    Topology,
    link_name,
)

log = logging.getLogger(__name__)

# failures of one object: logged, and the rest of apply goes on
EXPECTED = (DataplaneError, OSError, ValueError, subprocess.SubprocessError)
BRIDGE_NAMESPACES = (DATAPLANE_NS, EXTERNAL_NS)
ZERO_MAC = "00:00:00:00:00:00"

States = dict[str, dict[str, LinkState]]


class LinuxNetworkDriver:
    """Realises a Topology with real kernel objects on this host (needs root)."""

    name = "linux"

    def __init__(
        self,
        state_dir: Path,
        firewall: Firewall | None = None,
        *,
        vtep_cidr: str = "198.18.0.1/24",
        physical_mtu: int = 1500,
        external_host_address: str = "",
        external_uplink: str = "",
        dns_servers: Sequence[str] = (),
        dhcp_lease_seconds: int = 86400,
        plug_grace_seconds: float = 60.0,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.firewall: Firewall = firewall if firewall is not None else NoFirewall()
        self.options = DriverOptions(
            vtep_cidr=vtep_cidr,
            physical_mtu=physical_mtu,
            external_host_address=external_host_address,
            external_uplink=external_uplink,
            dns_servers=tuple(dns_servers),
            dhcp_lease_seconds=dhcp_lease_seconds,
        )
        self.plug_grace_seconds = plug_grace_seconds
        self._lock = threading.RLock()
        self._dnsmasq = dnsmasq.Supervisor(self.state_dir)
        self._networks: dict[str, NetworkSpec] = {}
        self._nat: dict[str, str] = {}  # router namespace -> NAT script in place
        self._plugged: dict[str, float] = {}  # device -> when plug() made it

    # -- apply -------------------------------------------------------------------

    def apply(self, topology: Topology) -> None:
        """Make the host match topology (see NetworkDriver.apply)."""
        with self._lock:
            started = time.monotonic()
            self.state_dir.mkdir(parents=True, exist_ok=True)
            layout = build_layout(topology, self.options)
            self._networks = {net.id: net for net in topology.networks}
            running = self._guard("dnsmasq scan", self._dnsmasq.running) or {}
            created = self._sync_namespaces(layout, running)
            states = self._dump(layout)
            if self._delete_round(layout, states):
                states = self._dump(layout)  # deleting a veth end removes its peer too
            fresh = self._create_round(layout, states)
            for ns in {ns for ns, _ in fresh}:
                if ns == HOST or namespace_exists(ns):
                    states[ns] = self._guard(f"dump {ns}", _dump_links, ns) or {}
            self._change_round(layout, states)
            self._sync_fdb(layout, states)
            self._sync_sysctls(layout)
            self._sync_routes(layout)
            restart = created | {ns for ns, name in fresh if ns.startswith(DHCP_NS_PREFIX)}
            self._sync_dhcp(layout, running, restart)
            self._sync_nat(layout)
            self._sync_firewall(layout, topology)
            log.debug("apply took %.3fs", time.monotonic() - started)

    def _guard(self, what: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one object's step; log an expected failure and return None."""
        try:
            return func(*args, **kwargs)
        except EXPECTED as exc:
            log.error("dataplane: %s: %s", what, exc)
            log.debug("dataplane: %s", what, exc_info=True)
            return None

    def _batch(
        self,
        namespace: str,
        commands: Sequence[str],
        tool: str = "ip",
        owners: Mapping[str, str] | None = None,
    ) -> None:
        """Run commands in one batch and log each one that failed, with the object
        it was for (``owners``: command -> object)."""
        try:
            failures = batch(namespace, commands, tool)
        except EXPECTED as exc:
            failures = [(command, str(exc)) for command in commands]
        for command, error in failures:
            if command.startswith("link del") and "Cannot find device" in error:
                continue  # the peer of a veth deleted just before went with it
            owner = (owners or {}).get(command) or "dataplane"
            log.error("%s: in %s: %r failed: %s", owner, namespace or "host", command, error)

    def _sync_namespaces(self, layout: Layout, running: dict[str, list[int]]) -> set[str]:
        """Create missing namespaces, delete orphaned ones; returns those created."""
        existing = list_namespaces()
        created = set()
        for ns in sorted(layout.namespaces):
            if self._guard(f"namespace {ns}", ensure_namespace, ns):
                created.add(ns)
        for ns in sorted(existing - layout.namespaces):
            if ns.startswith(DHCP_NS_PREFIX):
                network_id = ns[len(DHCP_NS_PREFIX) :]
                # its dnsmasq would keep the namespace alive
                self._guard(
                    f"dnsmasq {network_id}",
                    self._dnsmasq.stop,
                    network_id,
                    running.pop(network_id, []),
                )
            self._nat.pop(ns, None)
            self._guard(f"namespace {ns}", delete_namespace, ns)
        for ns in created:
            self._nat.pop(ns, None)
        return created

    def _dump(self, layout: Layout) -> States:
        states: States = {}
        for ns in [HOST, *sorted(layout.namespaces)]:
            if ns == HOST or namespace_exists(ns):
                states[ns] = self._guard(f"dump {ns or 'host'}", _dump_links, ns) or {}
        return states

    def _keep(self, layout: Layout) -> set[str]:
        """Port devices plug() made recently, not yet in a topology: not orphans."""
        now = time.monotonic()
        listed = {name for specs in layout.links.values() for name in specs}
        for device in list(self._plugged):
            if device in listed or now - self._plugged[device] > self.plug_grace_seconds:
                del self._plugged[device]
        return set(self._plugged)

    def _delete_round(self, layout: Layout, states: States) -> bool:
        """Delete orphaned links, links of the wrong kind and halves of broken pairs;
        True when something was deleted."""
        deletions: dict[str, list[str]] = {}
        keep = self._keep(layout)
        # a port device in the wrong bridge namespace is moved, not deleted
        keep |= {
            name
            for ns in BRIDGE_NAMESPACES
            for name, spec in layout.links.get(ns, {}).items()
            if spec.kind == DEVICE
        }
        for ns, links in states.items():
            specs = layout.links.get(ns, {})
            pattern = HOST_LINK if ns == HOST else NUBO_LINK
            for name in orphan_links(specs, links, pattern, keep):
                deletions.setdefault(ns, []).append(name)
            for spec in specs.values():
                state = links.get(spec.name)
                if state is not None and needs_recreate(spec, state):
                    deletions.setdefault(ns, []).append(spec.name)
                if spec.kind == VETH and spec.peer is not None:
                    peer_ns, peer_name = spec.peer
                    peer_state = states.get(peer_ns, {}).get(peer_name)
                    if (state is None) != (peer_state is None):
                        # one end of the pair is gone: remake both
                        if state is not None:
                            deletions.setdefault(ns, []).append(spec.name)
                        elif peer_ns in states:
                            deletions.setdefault(peer_ns, []).append(peer_name)
        for ns, names in deletions.items():
            unique = sorted(set(names))
            log.debug("dataplane: removing from %s: %s", ns or "host", unique)
            self._batch(ns, [f"link del {name}" for name in unique])
        return bool(deletions)

    def _create_round(self, layout: Layout, states: States) -> set[tuple[str, str]]:
        """Create missing bridges, veth pairs and vxlans; move port devices and the
        uplink into their namespaces. Returns (namespace, link) of what now exists."""
        made: set[tuple[str, str]] = set()
        pid = os.getpid()
        underlay: list[str] = []
        for ns, specs in layout.links.items():
            if ns not in states:
                continue  # the namespace could not be made
            cmds: list[str] = []
            for spec in specs.values():
                if spec.name in states[ns]:
                    continue
                if spec.kind == BRIDGE:
                    cmds += create_commands(spec, pid)
                    made.add((ns, spec.name))
                elif spec.kind == VETH and spec.peer is not None:
                    peer_ns, peer_name = spec.peer
                    if peer_ns not in states:
                        continue
                    cmds += create_commands(spec, pid)
                    made |= {(ns, spec.name), (peer_ns, peer_name)}
                elif spec.kind == VXLAN:
                    underlay += vxlan_create_commands(spec, ns)
                    made |= {(ns, spec.name), (UNDERLAY_NS, spec.name)}
                elif spec.kind == DEVICE:
                    self._move_device(ns, spec.name, states, made)
            self._batch(ns, cmds)
        if underlay and UNDERLAY_NS in states:
            self._batch(UNDERLAY_NS, underlay)
        return made

    def _move_device(
        self, target: str, name: str, states: States, made: set[tuple[str, str]]
    ) -> None:
        """A port device in the other bridge namespace, or the uplink in the host."""
        sources = [ns for ns in BRIDGE_NAMESPACES if ns != target]
        if name == self.options.external_uplink:
            sources = [HOST]
        for source in sources:
            if name in states.get(source, {}):
                if source == HOST and not self._uplink_is_safe(name):
                    return
                dest = target or str(os.getpid())
                self._batch(source, [f"link set {name} netns {dest}"])
                states[source].pop(name, None)
                made |= {(source, name), (target, name)}
                return

    def _uplink_is_safe(self, name: str) -> bool:
        """Never take the interface the host's default route uses."""
        routes = self._guard("host routes", dump_json, HOST, "route", "show", "default") or []
        routes += (
            self._guard("host routes", dump_json, HOST, "-6", "route", "show", "default") or []
        )
        if any(route.get("dev") == name for route in routes):
            log.error("dataplane: uplink %s carries the host's default route: not moved", name)
            return False
        return True

    def _change_round(self, layout: Layout, states: States) -> None:
        for ns, specs in layout.links.items():
            if ns not in states:
                continue
            cmds = change_commands(specs, states[ns])
            self._batch(ns, [cmd for cmd, _ in cmds], owners=dict(cmds))

    def _sync_fdb(self, layout: Layout, states: States) -> None:
        """Flood entries (all-zero MAC) towards every VXLAN peer."""
        for ns in BRIDGE_NAMESPACES:
            vxlans = {
                name: layout.fdb.get(name, frozenset())
                for name, spec in layout.links.get(ns, {}).items()
                if spec.kind == VXLAN and name in states.get(ns, {})
            }
            if not vxlans:
                continue
            entries = self._guard(f"fdb {ns}", dump_json, ns, "fdb", "show", tool="bridge")
            if entries is None:
                continue
            have: dict[str, set[str]] = {}
            for entry in entries:
                if entry.get("mac") == ZERO_MAC and entry.get("dst") and entry.get("ifname"):
                    have.setdefault(entry["ifname"], set()).add(entry["dst"])
            cmds = []
            for name, peers in sorted(vxlans.items()):
                current = have.get(name, set())
                cmds += [f"fdb del {ZERO_MAC} dev {name} dst {p}" for p in sorted(current - peers)]
                cmds += [
                    f"fdb append {ZERO_MAC} dev {name} dst {p}" for p in sorted(peers - current)
                ]
            self._batch(ns, cmds, tool="bridge")

    def _sync_sysctls(self, layout: Layout) -> None:
        for ns, values in layout.sysctls.items():
            if namespace_exists(ns):
                self._guard(f"sysctls {ns}", sync_sysctls, ns, values)

    def _sync_routes(self, layout: Layout) -> None:
        for ns, routes in layout.routes.items():
            if not namespace_exists(ns):
                continue
            tables = self._guard(f"routes {ns}", read_route_tables, ns)
            if tables is not None:
                self._batch(ns, route_commands(routes, parse_proc_routes(*tables)))

    def _sync_dhcp(self, layout: Layout, running: dict[str, list[int]], restart: set[str]) -> None:
        for network_id, server in layout.dhcp.items():
            directory = self._dnsmasq.directory(network_id)
            argv = dnsmasq.command_line(
                server.network,
                server.interface,
                directory,
                self.options.dns_servers,
                self.options.dhcp_lease_seconds,
            )
            if not namespace_exists(server.namespace):
                continue
            self._guard(
                f"dnsmasq {network_id}",
                self._dnsmasq.ensure,
                network_id,
                server.namespace,
                argv,
                dnsmasq.render_files(server.network),
                running.get(network_id, []),
                server.namespace in restart,
            )
        for network_id, pids in running.items():
            if network_id not in layout.dhcp:
                self._guard(f"dnsmasq {network_id}", self._dnsmasq.stop, network_id, pids)
        for directory in self._state_dirs():
            if directory.name not in layout.dhcp:
                self._dnsmasq.remove_files(directory.name)

    def _state_dirs(self) -> list[Path]:
        """Per-network dnsmasq directories under state_dir."""
        if not self.state_dir.is_dir():
            return []
        return [
            d for d in self.state_dir.iterdir() if d.is_dir() and (d / dnsmasq.HOSTS_FILE).exists()
        ]

    def _sync_nat(self, layout: Layout) -> None:
        for ns in list(self._nat):
            if ns not in layout.routers:
                del self._nat[ns]
        for ns, router in layout.routers.items():
            device = link_name("g", router.gateway.port_id) if router.gateway else ""
            script = render_nat(router, device)
            if self._nat.get(ns) == script or not namespace_exists(ns):
                continue
            log.debug("dataplane: NAT of router %s:\n%s", router.id, script)
            proc = self._guard(
                f"NAT {router.id}", run, ["ip", "netns", "exec", ns, "nft", "-f", "-"], stdin=script
            )
            if proc is not None:
                self._nat[ns] = script

    def _sync_firewall(self, layout: Layout, topology: Topology) -> None:
        for ns in BRIDGE_NAMESPACES:
            if namespace_exists(ns):
                self._guard(
                    f"firewall {ns}",
                    self.firewall.sync,
                    ns,
                    layout.ports.get(ns, []),
                    topology.security_groups,
                )

    # -- ports -------------------------------------------------------------------

    def plug(self, port: PortSpec, kind: str, netns: str | None = None) -> str:
        """Create the port's device (see NetworkDriver.plug); raises DataplaneError."""
        with self._lock:
            name = make_port_device(port, kind, netns, self._networks.get(port.network_id))
            self._plugged[port.device] = time.monotonic()
            return name

    def unplug(self, port_id: str) -> None:
        """Remove the port's device (a veth's other end goes with it)."""
        with self._lock:
            self._plugged.pop(link_name("t", port_id), None)
            remove_port_device(port_id)

    def open_socket(self, namespace: str, host: str, port: int) -> socket.socket:
        """A socket listening on host:port inside namespace."""
        return listening_socket(namespace, host, port)

    # -- teardown ----------------------------------------------------------------

    def purge(self) -> None:
        """Remove every nubo namespace, link, nftables table and dnsmasq process."""
        with self._lock:
            running = self._guard("dnsmasq scan", self._dnsmasq.running) or {}
            for network_id, pids in running.items():
                self._guard(f"dnsmasq {network_id}", self._dnsmasq.stop, network_id, pids)
            for directory in self._state_dirs():
                self._dnsmasq.remove_files(directory.name)
            uplink = self.options.external_uplink
            if uplink and namespace_exists(EXTERNAL_NS) and link_exists(EXTERNAL_NS, uplink):
                # a physical interface goes home when the namespace dies, a virtual one would not
                home = [f"link set {uplink} nomaster", f"link set {uplink} netns {os.getpid()}"]
                self._batch(EXTERNAL_NS, home)
            for ns in BRIDGE_NAMESPACES:
                if namespace_exists(ns):
                    self._guard(f"firewall {ns}", self.firewall.purge, ns)
            for ns in sorted(list_namespaces()):
                self._guard(f"namespace {ns}", delete_namespace, ns)
            host = self._guard("dump host", _dump_links, HOST) or {}
            names = [name for name in host if HOST_LINK.match(name)]
            self._batch(HOST, [f"link del {name}" for name in names])
            self._nat.clear()
            self._plugged.clear()
            log.debug("dataplane: purged")

    def close(self) -> None:
        """Forget the supervised children; they keep running and are adopted later."""
        with self._lock:
            self._nat.clear()


def _dump_links(namespace: str) -> dict[str, LinkState]:
    return parse_links(dump_json(namespace, "-d", "addr", "show"))
