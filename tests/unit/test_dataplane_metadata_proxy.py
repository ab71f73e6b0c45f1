"""The metadata proxy over the fake driver's loopback sockets, and the fake driver."""

from __future__ import annotations

import http.client
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from nubo.network.dataplane.fake import FakeNetworkDriver
from nubo.network.dataplane.metadata_proxy import MetadataProxy, sign
from nubo.network.dataplane.spec import FixedIp, PortSpec, Topology, link_name

SECRET = b"s3cret"


class Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": self.rfile.read(length).decode(),
            }
        ).encode()
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "keep-alive")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metadata/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def proxy(upstream: str) -> Iterator[MetadataProxy]:
    ports = {("net-a", "127.0.0.1"): "port-1"}
    proxy = MetadataProxy(FakeNetworkDriver(), lambda n, ip: ports.get((n, ip)), upstream, SECRET)
    try:
        yield proxy
    finally:
        proxy.close()


def listener(proxy: MetadataProxy, network_id: str) -> http.client.HTTPConnection:
    server = proxy._servers[network_id][0]
    return http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=5)


def test_requests_are_forwarded_with_who_asks(proxy: MetadataProxy) -> None:
    proxy.sync(["net-a", "net-b"])
    conn = listener(proxy, "net-a")
    conn.request(
        "GET",
        "/openstack/latest/meta_data.json?x=1",
        headers={"X-Nubo-Port-Id": "forged", "X-Forwarded-For": "6.6.6.6"},
    )
    resp = conn.getresponse()
    seen = json.loads(resp.read())
    assert resp.status == 200
    assert seen["path"] == "/metadata/openstack/latest/meta_data.json?x=1"
    assert seen["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert seen["headers"]["x-nubo-network-id"] == "net-a"
    assert seen["headers"]["x-nubo-port-id"] == "port-1"
    assert seen["headers"]["x-nubo-port-id-signature"] == sign(SECRET, "port-1")
    # the same connection carries a POST with a body (HTTP/1.1 keep-alive)
    conn.request("POST", "/openstack/latest/password", body=b"secret-pw")
    resp = conn.getresponse()
    seen = json.loads(resp.read())
    assert (resp.status, seen["method"], seen["body"]) == (201, "POST", "secret-pw")
    conn.request("HEAD", "/")
    resp = conn.getresponse()
    assert resp.status == 200 and resp.read() == b""
    conn.close()


def test_unknown_clients_get_no_port_headers(proxy: MetadataProxy) -> None:
    proxy.sync(["net-b"])
    conn = listener(proxy, "net-b")
    conn.request("GET", "/latest/meta-data/", headers={"X-Nubo-Port-Id-Signature": "forged"})
    seen = json.loads(conn.getresponse().read())
    assert seen["headers"]["x-nubo-network-id"] == "net-b"
    assert "x-nubo-port-id" not in seen["headers"]
    assert "x-nubo-port-id-signature" not in seen["headers"]
    conn.close()


def test_upstream_down_is_a_502_and_sync_stops_listeners(upstream: str) -> None:
    proxy = MetadataProxy(FakeNetworkDriver(), lambda n, ip: None, "http://127.0.0.1:9/", SECRET)
    try:
        proxy.sync(["n"])
        conn = listener(proxy, "n")
        conn.request("GET", "/")
        assert conn.getresponse().status == 502
        conn.close()
        proxy.sync([])
        assert proxy._servers == {}
    finally:
        proxy.close()


def test_a_failing_lookup_does_not_break_the_proxy(upstream: str) -> None:
    def lookup(network_id: str, ip: str) -> str | None:
        raise RuntimeError("database gone")

    proxy = MetadataProxy(FakeNetworkDriver(), lookup, upstream, SECRET)
    try:
        proxy.sync(["n"])
        conn = listener(proxy, "n")
        conn.request("GET", "/x")
        resp = conn.getresponse()
        assert resp.status == 200 and "x-nubo-port-id" not in json.loads(resp.read())["headers"]
        conn.close()
    finally:
        proxy.close()


def test_fake_driver_records_topology_and_plugs() -> None:
    driver = FakeNetworkDriver()
    port = PortSpec("p-1", "n", "fa:16:3e:00:00:01", (FixedIp("s", "10.0.0.5"),))
    topo = Topology(ports=(port,))
    driver.apply(topo)
    assert driver.topology is topo and driver.applied == 1
    assert driver.plug(port, "veth", "ns") == link_name("i", "p-1")
    assert driver.plug(port, "tap") == port.device
    assert driver.plugged["p-1"] == (port, "tap", None)
    with pytest.raises(ValueError):
        driver.plug(port, "macvtap")
    driver.unplug("p-1")
    assert driver.plugged == {}
    sock = driver.open_socket("nubo-dhcp-x", "169.254.169.254", 80)
    assert sock.getsockname()[0] == "127.0.0.1"
    sock.close()
    driver.purge()
    assert driver.topology == Topology()
