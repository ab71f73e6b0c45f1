"""The interface between the network agent and a dataplane driver."""

from __future__ import annotations

import socket
from typing import Protocol

from nubo.network.dataplane.spec import PortSpec, Topology


class NetworkDriver(Protocol):
    """Realises a ``Topology`` on this host. Every method is idempotent."""

    name: str

    def apply(self, topology: Topology) -> None:
        """Make the host match ``topology``: create what is missing, change what differs
        (touching only that), remove nubo objects that are not in it, restart dnsmasq
        servers that died. The first call after a start adopts what still exists."""

    def plug(self, port: PortSpec, kind: str, netns: str | None = None) -> str:
        """Create the port's device: ``kind`` "veth" makes a pair whose bridge end is
        ``port.device`` and whose other end (returned) is moved into ``netns`` with the
        port's MAC; "tap" makes a persistent tap named ``port.device``. The next
        ``apply`` (or this call, when the network exists) puts it on its bridge."""

    def unplug(self, port_id: str) -> None:
        """Remove the port's device, if any."""

    def open_socket(self, namespace: str, host: str, port: int) -> socket.socket:
        """A listening TCP socket bound to ``host:port`` inside ``namespace`` (the
        metadata proxy serves from nubo's own process through it)."""

    def purge(self) -> None:
        """Remove every nubo namespace, link, nftables table and dnsmasq process."""

    def close(self) -> None:
        """Stop supervising children (they keep running: a restart adopts them)."""
