"""The metadata proxy: 169.254.169.254:80 in each DHCP namespace, served by nubo.

Each listener is a socket the driver opened inside the namespace; a small
threaded HTTP/1.1 server forwards every GET/HEAD/POST to nubo's metadata API on
the host's loopback, adding who is asking: the client address, the network, and
(when ``lookup`` knows it) the port, signed with HMAC-SHA256 so the API can trust
it. Headers a guest sends under those names are dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import logging
import os
import socket
import socketserver
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import httpx

from nubo.network.dataplane.base import NetworkDriver
from nubo.network.dataplane.netns import NETNS_DIR
from nubo.network.dataplane.spec import METADATA_IP, dhcp_namespace

log = logging.getLogger(__name__)

Lookup = Callable[[str, str], "str | None"]

MAX_BODY = 1 << 20
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "content-encoding",
}
TRUSTED = ("x-forwarded-for", "x-nubo-")  # set by the proxy only


def sign(secret: bytes, port_id: str) -> str:
    """The X-Nubo-Port-Id-Signature of port_id."""
    return hmac.new(secret, port_id.encode(), hashlib.sha256).hexdigest()


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, sock: socket.socket, network_id: str, proxy: MetadataProxy) -> None:
        super().__init__(sock.getsockname()[:2], _Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.server_name = METADATA_IP
        self.server_port = sock.getsockname()[1]
        self.network_id = network_id
        self.proxy = proxy


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60  # idle keep-alive connections
    server: _Server

    def do_GET(self) -> None:
        self._forward("GET")

    def do_HEAD(self) -> None:
        self._forward("HEAD")

    def do_POST(self) -> None:
        self._forward("POST")

    def _reply(
        self, status: int, body: bytes = b"", headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _forward(self, method: str) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self._reply(411, b"Length Required\n")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            self._reply(413, b"Request Entity Too Large\n")
            return
        body = self.rfile.read(length) if length else b""
        proxy, network_id = self.server.proxy, self.server.network_id
        client_ip = self.client_address[0]
        headers = {
            key: value
            for key, value in self.headers.items()
            if key.lower() not in HOP_BY_HOP and not key.lower().startswith(TRUSTED)
        }
        headers["X-Forwarded-For"] = client_ip
        headers["X-Nubo-Network-Id"] = network_id
        port_id = proxy.port_of(network_id, client_ip)
        if port_id:
            headers["X-Nubo-Port-Id"] = port_id
            headers["X-Nubo-Port-Id-Signature"] = sign(proxy.secret, port_id)
        path = urlsplit(self.path)
        target = path.path or "/"
        if path.query:
            target += "?" + path.query
        if not target.startswith("/"):
            target = "/" + target
        try:
            resp = proxy.client.request(
                method, proxy.upstream_url + target, headers=headers, content=body
            )
        except httpx.HTTPError as exc:
            log.warning("metadata proxy %s: upstream failed: %s", network_id, exc)
            self._reply(502, b"Bad Gateway\n", [("Content-Type", "text/plain")])
            return
        kept = [(k, v) for k, v in resp.headers.items() if k.lower() not in HOP_BY_HOP]
        self._reply(resp.status_code, resp.content, kept)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(
            "metadata %s %s: " + format, self.server.network_id, self.client_address[0], *args
        )


class MetadataProxy:
    """Listeners on 169.254.169.254 in the DHCP namespaces of the networks given to
    ``sync``, forwarding to ``upstream_url`` (nubo's metadata API)."""

    def __init__(
        self,
        driver: NetworkDriver,
        lookup: Lookup,
        upstream_url: str,
        secret: bytes | str,
        *,
        port: int = 80,
        timeout: float = 30.0,
    ) -> None:
        self.driver = driver
        self.lookup = lookup
        self.upstream_url = upstream_url.rstrip("/")
        self.secret = secret.encode() if isinstance(secret, str) else secret
        self.port = port
        self.client = httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False)
        self._servers: dict[str, tuple[_Server, threading.Thread, int | None]] = {}
        self._failed: set[str] = set()
        self._lock = threading.Lock()

    def port_of(self, network_id: str, client_ip: str) -> str | None:
        try:
            return self.lookup(network_id, client_ip)
        except Exception:  # a failing lookup must not take the listener down
            log.exception("metadata proxy: lookup %s %s failed", network_id, client_ip)
            return None

    def sync(self, network_ids: Iterable[str]) -> None:
        """Listen for exactly these networks (start new ones, stop the others)."""
        wanted = set(network_ids)
        with self._lock:
            for network_id in list(self._servers):
                inode = _inode(dhcp_namespace(network_id))
                if network_id not in wanted or inode != self._servers[network_id][2]:
                    self._stop(network_id)  # gone, or its namespace was remade
            for network_id in sorted(wanted - set(self._servers)):
                self._start(network_id)

    def _start(self, network_id: str) -> None:
        namespace = dhcp_namespace(network_id)
        try:
            sock = self.driver.open_socket(namespace, METADATA_IP, self.port)
        except OSError as exc:
            # e.g. no DHCP namespace (yet): said once, retried on every sync
            level = logging.DEBUG if network_id in self._failed else logging.WARNING
            log.log(level, "metadata proxy %s: cannot listen: %s", network_id, exc)
            self._failed.add(network_id)
            return
        self._failed.discard(network_id)
        server = _Server(sock, network_id, self)
        thread = threading.Thread(
            target=server.serve_forever, name=f"metadata-{network_id[:8]}", daemon=True
        )
        thread.start()
        self._servers[network_id] = (server, thread, _inode(namespace))
        log.debug("metadata proxy listening for network %s", network_id)

    def _stop(self, network_id: str) -> None:
        server, thread, _ = self._servers.pop(network_id)
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        log.debug("metadata proxy stopped for network %s", network_id)

    def close(self) -> None:
        """Stop every listener."""
        with self._lock:
            for network_id in list(self._servers):
                self._stop(network_id)
        self.client.close()


def _inode(namespace: str) -> int | None:
    try:
        return os.stat(NETNS_DIR / namespace).st_ino
    except OSError:
        return None
