"""A driver that only remembers: API tests and machines without root use it."""

from __future__ import annotations

import socket
import threading

from nubo.network.dataplane.spec import PortSpec, Topology, link_name


class FakeNetworkDriver:
    """Records the last applied topology and the plugged ports, in memory."""

    name = "fake"

    def __init__(self) -> None:
        self.topology = Topology()
        self.applied = 0  # how many times apply ran
        self.plugged: dict[str, tuple[PortSpec, str, str | None]] = {}  # port id -> plug args
        self.sockets: list[socket.socket] = []
        self.closed = False
        self._lock = threading.Lock()

    def apply(self, topology: Topology) -> None:
        with self._lock:
            self.topology = topology
            self.applied += 1

    def plug(self, port: PortSpec, kind: str, netns: str | None = None) -> str:
        if kind not in ("veth", "tap"):
            raise ValueError(f"unknown port kind {kind!r}")
        with self._lock:
            self.plugged[port.id] = (port, kind, netns)
        return link_name("i", port.id) if kind == "veth" else port.device

    def unplug(self, port_id: str) -> None:
        with self._lock:
            self.plugged.pop(port_id, None)

    def open_socket(self, namespace: str, host: str, port: int) -> socket.socket:
        """A real listening socket, on 127.0.0.1 and a free port whatever is asked."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        with self._lock:
            self.sockets.append(sock)
        return sock

    def purge(self) -> None:
        with self._lock:
            self.topology = Topology()
            self.plugged.clear()

    def close(self) -> None:
        with self._lock:
            self.closed = True
