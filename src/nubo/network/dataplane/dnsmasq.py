"""One dnsmasq per network: its files and command line (pure), and its supervision.

dnsmasq reads static host entries (``--dhcp-hostsfile``), options
(``--dhcp-optsfile``) and DNS names (``--addn-hosts``) from files it re-reads on
SIGHUP, so port changes are a rewrite and a HUP; anything on the command line
(subnets, interface, domain) changes by restarting it. Processes are found
again after a nubo restart from their pid file and their command line, which
names a pid file under this driver's state directory: nothing else is touched.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from nubo.network.dataplane.netns import DataplaneError, namespace_inode
from nubo.network.dataplane.spec import METADATA_IP, NetworkSpec, PortSpec, SubnetSpec

log = logging.getLogger(__name__)

HOSTS_FILE = "host"
OPTS_FILE = "opts"
ADDN_HOSTS_FILE = "addn_hosts"
PID_FILE = "pid"
LEASES_FILE = "leases"
LOG_FILE = "dnsmasq.log"
MAX_LEASES = 2**24
# A tag set by a --dhcp-hostsfile entry. dnsmasq 2.90 (Debian 12) frees such tags
# when a SIGHUP re-reads the file while a lease still points at them: the next DHCP
# packet, from any client, crashes it (SIGSEGV). A server whose hosts file has a tag
# is therefore restarted, not reloaded, and only ports that need one get one.
TAG = "set:"


def dhcp_subnets(network: NetworkSpec) -> list[SubnetSpec]:
    """The subnets dnsmasq serves: DHCP enabled, and for IPv6 a DHCPv6 address mode
    (SLAAC subnets get their addresses from router advertisements, not from dnsmasq)."""
    served = []
    for subnet in network.subnets:
        if not subnet.enable_dhcp:
            continue
        if subnet.ip_version == 6:
            mode = subnet.ipv6_address_mode
            if mode == "slaac" or ipaddress.ip_network(subnet.cidr).prefixlen > 64:
                continue
        served.append(subnet)
    return served


def hostname_for(port: PortSpec, ip: str) -> str:
    """The port's name as dnsmasq serves it: its dns_name, else host-<ip>."""
    if port.hostname:
        return port.hostname
    return "host-" + ip.replace(".", "-").replace(":", "-")


def domain_of(network: NetworkSpec) -> str:
    """The network's DNS domain without its final dot ("" for none)."""
    return network.dns_domain.rstrip(".")


def _clean(value: str) -> str:
    """A value safe on one line of a dnsmasq file."""
    return value.replace("\n", " ").replace("\r", " ").strip()


def render_hosts(network: NetworkSpec) -> str:
    """The --dhcp-hostsfile: ``mac,ip,hostname`` per DHCP address, with
    ``set:port-<id>`` after the MAC for ports that have extra DHCP options (the tag
    selects them in the options file; Neutron tags only those too: see TAG)."""
    served = {s.id: s for s in dhcp_subnets(network)}
    lines = []
    for port in sorted(network.hosts, key=lambda p: p.id):
        tag = f"{TAG}port-{port.id}," if port.extra_dhcp_opts else ""
        for fixed in port.fixed_ips:
            subnet = served.get(fixed.subnet_id)
            if subnet is None:
                continue
            if subnet.ip_version == 6 and subnet.ipv6_address_mode == "dhcpv6-stateless":
                continue  # stateless: options only, the address comes from SLAAC
            ip = fixed.ip_address if subnet.ip_version == 4 else f"[{fixed.ip_address}]"
            name = _clean(hostname_for(port, fixed.ip_address))
            lines.append(f"{port.mac_address.lower()},{tag}{ip},{name}")
    return "".join(line + "\n" for line in lines)


def render_addn_hosts(network: NetworkSpec) -> str:
    """The --addn-hosts file: every fixed IP of the network with its names (DNS)."""
    subnets = {s.id for s in network.subnets}
    domain = domain_of(network)
    lines = []
    for port in sorted(network.hosts, key=lambda p: p.id):
        for fixed in port.fixed_ips:
            if fixed.subnet_id not in subnets:
                continue
            name = _clean(hostname_for(port, fixed.ip_address))
            fqdn = f"{name}.{domain}" if domain else name
            lines.append(f"{fixed.ip_address}\t{fqdn} {name}")
    return "".join(line + "\n" for line in lines)


def _dhcp_port_ip(network: NetworkSpec, subnet_id: str) -> str | None:
    port = network.dhcp_port
    if port is None:
        return None
    return next((f.ip_address for f in port.fixed_ips if f.subnet_id == subnet_id), None)


def _v4_routes(network: NetworkSpec, subnet: SubnetSpec, dhcp_ip: str | None) -> list[str]:
    """Option 121 routes: metadata via the DHCP port, host routes, the network's
    other subnets on-link, then the default route (a client honouring 121 ignores
    option 3, RFC 3442)."""
    routes: list[tuple[str, str]] = []
    if dhcp_ip is not None:
        routes.append((f"{METADATA_IP}/32", dhcp_ip))
    for destination, nexthop in subnet.host_routes:
        if ipaddress.ip_network(destination, strict=False).version == 4:
            routes.append((destination, nexthop))
    for other in network.subnets:
        if other.id != subnet.id and other.ip_version == 4:
            routes.append((other.cidr, "0.0.0.0"))
    if routes and subnet.gateway_ip:
        routes.append(("0.0.0.0/0", subnet.gateway_ip))
    return [f"{dst},{via}" for dst, via in routes]


def render_opts(network: NetworkSpec) -> str:
    """The --dhcp-optsfile: per-subnet options (tag subnet-<id>) and the ports' extra
    options (tag port-<id>, which dnsmasq prefers over the subnet's)."""
    lines = []
    domain = domain_of(network)
    for subnet in dhcp_subnets(network):
        tag = f"tag:subnet-{subnet.id}"
        dhcp_ip = _dhcp_port_ip(network, subnet.id)
        dns = [
            d
            for d in subnet.dns_nameservers
            if ipaddress.ip_address(d).version == subnet.ip_version
        ]
        if not dns and dhcp_ip is not None:
            dns = [dhcp_ip]
        if subnet.ip_version == 4:
            if dns:
                lines.append(f"{tag},option:dns-server,{','.join(dns)}")
            lines.append(
                f"{tag},option:router" + (f",{subnet.gateway_ip}" if subnet.gateway_ip else "")
            )
            lines.append(f"{tag},option:mtu,{network.mtu}")
            routes = _v4_routes(network, subnet, dhcp_ip)
            if routes:
                lines.append(f"{tag},option:classless-static-route,{','.join(routes)}")
                lines.append(f"{tag},249,{','.join(routes)}")  # the Windows variant
        else:
            if dns:
                lines.append(f"{tag},option6:dns-server,{','.join(f'[{d}]' for d in dns)}")
            if domain:
                lines.append(f"{tag},option6:domain-search,{domain}")
    for port in sorted(network.hosts, key=lambda p: p.id):
        for opt in port.extra_dhcp_opts:
            name, value = _clean(opt.opt_name), _clean(opt.opt_value)
            if not name:
                continue
            if opt.ip_version == 6:
                key = f"option6:{name}"
            else:
                key = name if name.isdigit() else f"option:{name}"
            lines.append(f"tag:port-{port.id},{key},{value}")
    return "".join(line + "\n" for line in lines)


def render_files(network: NetworkSpec) -> dict[str, str]:
    """The files dnsmasq re-reads on SIGHUP, by file name."""
    return {
        HOSTS_FILE: render_hosts(network),
        ADDN_HOSTS_FILE: render_addn_hosts(network),
        OPTS_FILE: render_opts(network),
    }


def command_line(
    network: NetworkSpec,
    interface: str,
    directory: Path,
    dns_servers: Sequence[str] = (),
    lease_seconds: int = 86400,
) -> list[str]:
    """dnsmasq's argv for network (everything that needs a restart to change)."""
    argv = [
        "dnsmasq",
        "--conf-file=/dev/null",
        "--no-hosts",
        f"--pid-file={directory / PID_FILE}",
        f"--dhcp-hostsfile={directory / HOSTS_FILE}",
        f"--addn-hosts={directory / ADDN_HOSTS_FILE}",
        f"--dhcp-optsfile={directory / OPTS_FILE}",
        f"--dhcp-leasefile={directory / LEASES_FILE}",
        f"--log-facility={directory / LOG_FILE}",
        "--quiet-dhcp",
        "--quiet-dhcp6",
        "--user=root",
        "--bind-interfaces",
        f"--interface={interface}",
        "--except-interface=lo",
        "--dhcp-authoritative",
    ]
    if dns_servers:
        argv += [f"--server={server}" for server in dns_servers]
    else:
        argv.append("--no-resolv")
    # plain names are never sent upstream; the network's domain is answered here
    # only (NXDOMAIN/NODATA, not REFUSED, for what it does not know)
    argv.append("--domain-needed")
    domain = domain_of(network)
    if domain:
        argv += [f"--domain={domain}", f"--local=/{domain}/"]
    size = 0
    for subnet in dhcp_subnets(network):
        net = ipaddress.ip_network(subnet.cidr, strict=False)
        mask = str(net.netmask) if net.version == 4 else str(net.prefixlen)
        argv.append(
            f"--dhcp-range=set:subnet-{subnet.id},{net.network_address},static,{mask},"
            f"{lease_seconds}"
        )
        size += net.num_addresses
    argv.append(f"--dhcp-lease-max={min(max(size, 1), MAX_LEASES)}")
    return argv


def stale_leases(directory: Path, hosts: str | None) -> list[tuple[str, str]]:
    """IPv4 leases (mac, ip) whose pair the new hosts file no longer has: the port
    went, or its address now belongs to another port. dnsmasq keeps a lease until it
    expires and would refuse the address to its new owner meanwhile."""
    if hosts is None:
        return []
    wanted = set()
    for line in hosts.splitlines():
        fields = line.split(",")
        if len(fields) >= 2:
            wanted.add((fields[0].lower(), fields[-2].strip("[]")))
    try:
        leases = (directory / LEASES_FILE).read_text().splitlines()
    except FileNotFoundError:
        return []
    stale = []
    for line in leases:
        fields = line.split()
        if (
            len(fields) >= 3
            and ":" not in fields[2]
            and (fields[1].lower(), fields[2]) not in wanted
        ):
            stale.append((fields[1].lower(), fields[2]))
    return stale


def release(namespace: str, argv: Sequence[str], leases: Sequence[tuple[str, str]]) -> None:
    """Have the running dnsmasq drop ``leases`` (``dhcp_release``, from dnsmasq-utils,
    sends it a DHCPRELEASE on the client's behalf)."""
    interface = next((a.split("=", 1)[1] for a in argv if a.startswith("--interface=")), None)
    if not leases or interface is None:
        return
    if shutil.which("dhcp_release") is None:
        log.warning(
            "dhcp_release missing (apt-get install dnsmasq-utils): %d stale leases "
            "kept until they expire",
            len(leases),
        )
        return
    for mac, ip in leases:
        subprocess.run(
            ["ip", "netns", "exec", namespace, "dhcp_release", interface, ip, mac],
            capture_output=True,
            timeout=10,
            check=False,
        )
        log.debug("dnsmasq: released lease %s of %s", ip, mac)


def drop_leases(directory: Path, leases: Sequence[tuple[str, str]]) -> None:
    """Remove ``leases`` from the lease file of a stopped dnsmasq (it reads it on start)."""
    if not leases:
        return
    path = directory / LEASES_FILE
    drop = set(leases)
    kept = [line for line in path.read_text().splitlines() if tuple(line.split()[1:3]) not in drop]
    path.write_text("".join(line + "\n" for line in kept))


def write_if_changed(path: Path, content: str) -> bool:
    """Replace path's content atomically when it differs; True when it did."""
    with contextlib.suppress(FileNotFoundError):
        if path.read_text() == content:
            return False
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(content)
    os.replace(tmp, path)
    return True


def read_cmdline(pid: int) -> list[str] | None:
    """The argv of a live (not zombie) process, or None."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    if stat.rsplit(")", 1)[-1].split()[:1] == ["Z"] or not raw:
        return None
    return [a.decode(errors="replace") for a in raw.rstrip(b"\0").split(b"\0")]


class Supervisor:
    """Starts, adopts, reloads and stops the dnsmasq of each network.

    Only processes whose command line is dnsmasq with a ``--pid-file`` under
    ``state_dir`` count as ours; they are the only ones ever signalled.
    """

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self._pids: dict[str, int] = {}
        self._adopted: set[str] = set()

    def directory(self, network_id: str) -> Path:
        """Where network's files (config, leases, pid, log) live."""
        return self.state_dir / network_id

    def _network_of(self, argv: Sequence[str]) -> str | None:
        """The network id of one of our dnsmasq processes, from its argv."""
        if not argv or os.path.basename(argv[0]) != "dnsmasq":
            return None
        for arg in argv:
            if arg.startswith("--pid-file="):
                path = Path(arg.split("=", 1)[1])
                if path.name == PID_FILE and path.parent.parent == self.state_dir:
                    return path.parent.name
        return None

    def running(self) -> dict[str, list[int]]:
        """Our live dnsmasq processes by network id (a scan of /proc)."""
        found: dict[str, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            argv = read_cmdline(int(entry))
            network_id = self._network_of(argv) if argv else None
            if network_id is not None:
                found.setdefault(network_id, []).append(int(entry))
        return found

    def ensure(
        self,
        network_id: str,
        namespace: str,
        argv: Sequence[str],
        files: Mapping[str, str],
        pids: Sequence[int],
        restart: bool = False,
    ) -> None:
        """Make network's dnsmasq run with argv in namespace and serve files.

        ``pids`` are its running processes (from ``running``); a changed file means
        a SIGHUP, a changed argv or namespace (or ``restart``) a restart.
        """
        directory = self.directory(network_id)
        directory.mkdir(parents=True, exist_ok=True)
        try:
            tagged = f",{TAG}" in (directory / HOSTS_FILE).read_text()  # what it has read
        except FileNotFoundError:
            tagged = False
        stale = stale_leases(directory, files.get(HOSTS_FILE))
        changed = [name for name, text in files.items() if write_if_changed(directory / name, text)]
        keep: int | None = None
        ns_inode = namespace_inode(namespace)
        for pid in pids:
            current = read_cmdline(pid)
            if (
                keep is None
                and not restart
                and current == list(argv)
                and _netns_inode(pid) == ns_inode
            ):
                keep = pid
            else:
                self._kill(network_id, pid)
        if keep is None:
            drop_leases(directory, stale)
            self._start(network_id, namespace, argv, directory)
            return
        first_sight = self._pids.get(network_id) != keep
        if (changed or first_sight) and tagged:
            log.debug("dnsmasq %s (pid %d): restart (tagged hosts, no SIGHUP)", network_id, keep)
            self._kill(network_id, keep)
            drop_leases(directory, stale)
            self._start(network_id, namespace, argv, directory)
            return
        self._pids[network_id] = keep
        release(namespace, argv, stale)
        if changed or first_sight:
            # adopted after a restart: the files may be newer than what it read
            log.debug("dnsmasq %s (pid %d): reload (%s)", network_id, keep, changed or "adopted")
            with contextlib.suppress(ProcessLookupError):
                os.kill(keep, signal.SIGHUP)

    def _start(self, network_id: str, namespace: str, argv: Sequence[str], directory: Path) -> None:
        pid_file = directory / PID_FILE
        with contextlib.suppress(FileNotFoundError):
            pid_file.unlink()
        # dnsmasq daemonises: the command returns once the server is ready (or failed)
        proc = subprocess.run(
            ["ip", "netns", "exec", namespace, *argv],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            start_new_session=True,
        )
        if proc.returncode != 0:
            raise DataplaneError(f"dnsmasq for {network_id}: {proc.stderr.strip()}")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                pid = int(pid_file.read_text().strip())
                self._pids[network_id] = pid
                log.debug("dnsmasq %s started (pid %d) in %s", network_id, pid, namespace)
                return
            time.sleep(0.02)
        raise DataplaneError(f"dnsmasq for {network_id} wrote no pid file")

    def _kill(self, network_id: str, pid: int) -> None:
        """Stop one of our processes (checked again just before signalling)."""
        argv = read_cmdline(pid)
        if argv is None or self._network_of(argv) != network_id:
            return
        log.debug("dnsmasq %s: stopping pid %d", network_id, pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 3
        while read_cmdline(pid) is not None:
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.02)
        if self._pids.get(network_id) == pid:
            del self._pids[network_id]

    def stop(self, network_id: str, pids: Sequence[int]) -> None:
        """Stop network's dnsmasq processes and forget the network."""
        for pid in pids:
            self._kill(network_id, pid)
        self._pids.pop(network_id, None)

    def remove_files(self, network_id: str) -> None:
        """Delete network's directory (its dnsmasq must be stopped)."""
        directory = self.directory(network_id)
        if not directory.is_dir():
            return
        for path in directory.iterdir():
            with contextlib.suppress(OSError):
                path.unlink()
        with contextlib.suppress(OSError):
            directory.rmdir()


def _netns_inode(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None
