"""The network agent: a level-triggered reconciler that makes this host's dataplane
match the database.

It reads everything the host needs into a ``Topology`` and hands it to the driver,
which changes only what differs. It runs when the dataplane generation moves (every
relevant write bumps it, in any process) and on a periodic resync, so a lost wake-up
or a restart never strands anything; on start it rebuilds from the database,
adopting what still runs.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from nubo.config import Config
from nubo.network import ipam, routers, security_groups
from nubo.network import models as m
from nubo.network.dataplane.base import NetworkDriver
from nubo.network.dataplane.metadata_proxy import MetadataProxy
from nubo.network.dataplane.spec import (
    DATAPLANE_NS,
    AddressPair,
    DhcpOption,
    FixedIp,
    NetworkSpec,
    PortSpec,
    SubnetSpec,
    Topology,
)
from nubo.network.service import NetworkService

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 30  # agents count as dead after 75 s without one, as in Neutron
AGENT_TYPES = (
    ("Linux bridge agent", "nubo-network-agent"),
    ("DHCP agent", "nubo-dhcp-agent"),
    ("L3 agent", "nubo-l3-agent"),
    ("Metadata agent", "nubo-metadata-agent"),
)


def hostname_of(port: m.Port, ip: str) -> str:
    """The name dnsmasq gives the port: its dns_name, else Neutron's host-<ip>."""
    if port.dns_name:
        return port.dns_name
    return "host-" + ip.replace(".", "-").replace(":", "-")


def port_spec(port: m.Port, fixed: list[dict[str, str]], groups: Sequence[str]) -> PortSpec:
    return PortSpec(
        id=port.id,
        network_id=port.network_id,
        mac_address=port.mac_address,
        fixed_ips=tuple(FixedIp(a["subnet_id"], a["ip_address"]) for a in fixed),
        device_owner=port.device_owner,
        admin_state_up=port.admin_state_up,
        port_security_enabled=port.port_security_enabled,
        security_group_ids=tuple(sorted(groups)),
        allowed_address_pairs=tuple(
            AddressPair(p["ip_address"], p.get("mac_address") or port.mac_address)
            for p in port.allowed_address_pairs or []
        ),
        hostname=hostname_of(port, fixed[0]["ip_address"]) if fixed else "",
        extra_dhcp_opts=tuple(
            DhcpOption(o["opt_name"], str(o["opt_value"]), int(o.get("ip_version") or 4))
            for o in port.extra_dhcp_opts or []
            if o.get("opt_value") is not None
        ),
    )


def subnet_spec(subnet: m.Subnet) -> SubnetSpec:
    return SubnetSpec(
        id=subnet.id,
        cidr=subnet.cidr,
        ip_version=subnet.ip_version,
        gateway_ip=subnet.gateway_ip,
        enable_dhcp=subnet.enable_dhcp,
        dns_nameservers=tuple(subnet.dns_nameservers or ()),
        host_routes=tuple((r["destination"], r["nexthop"]) for r in subnet.host_routes or ()),
        allocation_pools=tuple((p["start"], p["end"]) for p in subnet.allocation_pools or ()),
        ipv6_ra_mode=subnet.ipv6_ra_mode,
        ipv6_address_mode=subnet.ipv6_address_mode,
    )


def build_topology(svc: NetworkService, s: Session) -> Topology:
    """Everything this host must realise, in a handful of queries."""
    networks = list(s.scalars(select(m.Network).order_by(m.Network.created_at, m.Network.id)))
    subnets: dict[str, list[m.Subnet]] = {}
    for subnet in s.scalars(select(m.Subnet).order_by(m.Subnet.created_at, m.Subnet.id)):
        subnets.setdefault(subnet.network_id, []).append(subnet)
    ports = list(s.scalars(select(m.Port)))
    fixed = ipam.of_ports(s, [p.id for p in ports])
    groups: dict[str, list[str]] = {}
    for port_id, group_id in s.execute(
        select(m.PortSecurityGroup.port_id, m.PortSecurityGroup.security_group_id)
    ):
        groups.setdefault(port_id, []).append(group_id)
    specs = {p.id: port_spec(p, fixed[p.id], groups.get(p.id, [])) for p in ports}
    by_network: dict[str, list[m.Port]] = {}
    for port in ports:
        by_network.setdefault(port.network_id, []).append(port)
    domain = svc.config.network.dns_domain.strip(".") + "."
    network_specs = []
    for net in networks:
        members = by_network.get(net.id, [])
        dhcp = next((p for p in members if p.device_owner == "network:dhcp"), None)
        network_specs.append(
            NetworkSpec(
                id=net.id,
                network_type=net.network_type,
                segmentation_id=net.segmentation_id,
                mtu=net.mtu,
                external=net.external and net.network_type == "flat",
                admin_state_up=net.admin_state_up,
                subnets=tuple(subnet_spec(x) for x in subnets.get(net.id, [])),
                dhcp_port=specs[dhcp.id] if dhcp else None,
                hosts=tuple(
                    specs[p.id] for p in members if fixed[p.id] and p.device_owner != "network:dhcp"
                ),
                dns_domain=(net.dns_domain.strip(".") + ".") if net.dns_domain else domain,
            )
        )
    bound = tuple(
        specs[p.id]
        for p in ports
        if p.binding_host_id == svc.host and not p.device_owner.startswith("network:")
    )
    return Topology(
        networks=tuple(network_specs),
        ports=bound,
        security_groups=tuple(security_groups.specs(s)),
        routers=tuple(routers.specs(s, svc.host)),
        vxlan_peers=tuple(vxlan_peers(svc, s)),
    )


def vxlan_peers(svc: NetworkService, s: Session) -> list[str]:
    """Other hosts' tunnel endpoints: configured ones and those agents reported."""
    peers = [p.strip() for p in svc.config.network.vxlan_peers.split(",") if p.strip()]
    for conf in s.scalars(
        select(m.Agent.configurations).where(
            m.Agent.agent_type == AGENT_TYPES[0][0], m.Agent.host != svc.host
        )
    ):
        ip = (conf or {}).get("tunneling_ip")
        if ip and ip not in peers:
            peers.append(ip)
    return peers


def choose_driver(config: Config, state_dir: Path) -> NetworkDriver:
    """The configured dataplane driver; ``auto`` takes the Linux one when this process
    can run it (root, ip, nft and dnsmasq present), else the fake with a warning."""
    wanted = config.network.driver
    missing = [tool for tool in ("ip", "nft", "dnsmasq") if shutil.which(tool) is None]
    if wanted == "auto":
        if os.geteuid() != 0 or missing:
            why = "not root" if os.geteuid() != 0 else f"missing {', '.join(missing)}"
            log.warning("network dataplane: fake driver (%s): networks will not carry packets", why)
            wanted = "fake"
        else:
            wanted = "linux"
    if wanted == "fake":
        from nubo.network.dataplane.fake import FakeNetworkDriver

        return FakeNetworkDriver()
    if wanted != "linux":
        raise ValueError(f"network.driver must be auto, linux or fake, not {wanted!r}")
    from nubo.network.dataplane.firewall import NftFirewall
    from nubo.network.dataplane.linux import LinuxNetworkDriver

    net = config.network
    return LinuxNetworkDriver(
        state_dir,
        firewall=NftFirewall(),
        vtep_cidr=net.vxlan_local_ip,
        physical_mtu=net.physical_mtu,
        dns_servers=tuple(x.strip() for x in net.dns_servers.split(",") if x.strip()),
        external_host_address=net.external_host_address,
        external_uplink=net.external_uplink,
    )


class NetworkAgent:
    """Runs the reconcile loop in a thread of the nubo process."""

    def __init__(self, svc: NetworkService, driver: NetworkDriver, metadata_secret: str) -> None:
        self.svc = svc
        self.driver = driver
        self.proxy: MetadataProxy | None = None
        if driver.name != "fake":
            self.proxy = MetadataProxy(
                driver, self.port_asking, metadata_url(svc.config), metadata_secret
            )
        self.applied_generation = -1
        self.last_full = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tunneling_ip(self) -> str:
        return str(ipaddress.ip_interface(self.svc.config.network.vxlan_local_ip).ip)

    def heartbeat(self, started: bool = False) -> None:
        from nubo.network import agents

        conf = {
            "tunneling_ip": self.tunneling_ip(),
            "tunnel_types": ["vxlan"],
            "bridge_mappings": {self.svc.config.network.physical_network: "nubo-ext"},
            "driver": self.driver.name,
        }
        for agent_type, binary in AGENT_TYPES:
            agents.heartbeat(self.svc, self.svc.host, agent_type, binary, conf, started=started)

    def sync_once(self) -> None:
        """Read the database and converge the dataplane once."""
        with self.svc.db.reader() as s:
            generation = self.svc.generation(s)
            topology = build_topology(self.svc, s)
        self.driver.apply(topology)
        if self.proxy is not None:
            self.proxy.sync(
                [
                    n.id
                    for n in topology.networks
                    if n.dhcp_port is not None and any(x.enable_dhcp for x in n.subnets)
                ]
            )
        self.applied_generation = generation

    def run(self) -> None:
        resync = max(5, self.svc.config.network.resync_seconds)
        last_heartbeat = -float(HEARTBEAT_SECONDS)
        first = True
        while not self._stop.is_set():
            try:
                now = time.monotonic()
                if now - last_heartbeat >= HEARTBEAT_SECONDS:
                    self.heartbeat(started=first)
                    last_heartbeat, first = now, False
                with self.svc.db.reader() as s:
                    generation = self.svc.generation(s)
                if generation != self.applied_generation or now - self.last_full >= resync:
                    self.last_full = now
                    self.sync_once()
            except Exception:
                log.exception("network agent: sync failed; retrying")
                self._stop.wait(2)
            self.svc.wakeup.wait(POLL_SECONDS)
            self.svc.wakeup.clear()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="network-agent", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.svc.wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self.proxy is not None:
            self.proxy.close()
        self.driver.close()

    def port_asking(self, network_id: str, ip: str) -> str | None:
        """The port on ``network_id`` holding ``ip`` (who is asking the metadata proxy)."""
        with self.svc.db.reader() as s:
            port_id: str | None = s.scalar(
                select(m.IPAllocation.port_id).where(
                    m.IPAllocation.network_id == network_id, m.IPAllocation.ip_address == ip
                )
            )
            return port_id


def metadata_url(config: Config) -> str:
    """Where the proxy forwards to: nubo's own listener, over loopback."""
    host = config.bind_host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://{host}:{config.bind_port}/metadata"


class AgentPlugger:
    """The network agent's side of an instance NIC, handed to compute drivers in the
    same process: devices are made by the agent's own driver, which then converges."""

    def __init__(self, agent: NetworkAgent) -> None:
        self.agent = agent

    def plug(self, port_id: str, kind: str, netns: str | None = None) -> str:
        svc = self.agent.svc
        with svc.db.reader() as s:
            port = s.get(m.Port, port_id)
            if port is None:
                raise LookupError(f"port {port_id} does not exist")
            fixed = [
                {"subnet_id": a.subnet_id, "ip_address": a.ip_address}
                for a in s.scalars(select(m.IPAllocation).where(m.IPAllocation.port_id == port_id))
            ]
            groups = list(
                s.scalars(
                    select(m.PortSecurityGroup.security_group_id).where(
                        m.PortSecurityGroup.port_id == port_id
                    )
                )
            )
            spec = port_spec(port, fixed, groups)
        name = self.agent.driver.plug(spec, kind, netns)
        svc.wakeup.set()
        return name

    def unplug(self, port_id: str) -> None:
        self.agent.driver.unplug(port_id)
        self.agent.svc.wakeup.set()

    def dataplane_namespace(self) -> str | None:
        return None if self.agent.driver.name == "fake" else DATAPLANE_NS
