"""The remote-console proxy on a real ``nubo up``: the noVNC page and its modules
without a keystone token, and websockets refused before the handshake completes when
their console token is missing, unknown or for another path (the fake compute driver
has no consoles, so the relay itself is covered by tests/unit/test_console_proxy.py
and tests/system/test_compute_console.py)."""

from __future__ import annotations

import re
import socket
from urllib.parse import quote

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from nubo.compute.api import console_proxy as proxy_api

PAGE = "/compute/console/vnc_lite.html"
WEBSOCKET = "/compute/console/websockify"


def ws_base(cloud) -> str:
    return cloud.base_url.replace("http://", "ws://")


def test_novnc_page_needs_no_token(cloud) -> None:
    path = quote("compute/console/websockify?token=abc", safe="")
    for page in (PAGE, "/compute/console/vnc_auto.html"):
        resp = httpx.get(f"{cloud.base_url}{page}?path={path}")
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("text/html")
        assert re.search("<html.*>", resp.text) and "</html>" in resp.text
        assert "noVNC" in resp.text and "<script" in resp.text
        assert "x-compute-request-id" in resp.headers


def test_novnc_library_modules(cloud) -> None:
    installed = [d for d in proxy_api.NOVNC_DIRS if (d / "core" / "rfb.js").is_file()]
    resp = httpx.get(f"{cloud.base_url}/compute/console/core/rfb.js")
    if not installed:
        assert resp.status_code == 404
        pytest.skip("the noVNC library is not installed (tools/fetch_novnc.py)")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/javascript")
    assert resp.content == (installed[0] / "core" / "rfb.js").read_bytes()
    assert "export default class RFB" in resp.text


@pytest.mark.parametrize("name", ["core/none.js", "LICENSE.txt", "core/%2e%2e/%2e%2e/x.js"])
def test_other_console_files_are_not_found(cloud, name: str) -> None:
    resp = httpx.get(f"{cloud.base_url}/compute/console/{name}")
    assert resp.status_code == 404
    assert resp.json()["itemNotFound"]["code"] == 404


@pytest.mark.parametrize("query", ["", "?token=", "?token=bad-token"])
@pytest.mark.parametrize("path", [WEBSOCKET, "/compute/console/serial"])
def test_websocket_without_a_valid_token_is_refused(cloud, path: str, query: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{ws_base(cloud)}{path}{query}", open_timeout=20)
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize("path", ["/compute/v2.1/servers", "/identity/v3", "/", "/nowhere"])
def test_websockets_elsewhere_are_refused(cloud, path: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{ws_base(cloud)}{path}?token=x", open_timeout=20)
    assert refused.value.response.status_code == 403


def test_bad_token_the_tempest_way(cloud) -> None:
    """Tempest's test_novnc_bad_token: a raw upgrade to ``GET /<path>``; the proxy must
    close without sending a byte of data."""
    host, port = "127.0.0.1", cloud.port
    with socket.create_connection((host, port), timeout=20) as sock:
        sock.sendall(
            (
                f"GET /compute/console/websockify?token=badtoken HTTP/1.1\r\n"
                f"Host: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Cookie: path=%3Ftoken%3Dbadtoken\r\n"
                "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: binary\r\n\r\n"
            ).encode()
        )
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 403"), head
    assert rest == b""


def test_plain_http_to_the_websocket_path(cloud) -> None:
    resp = httpx.get(f"{cloud.base_url}{WEBSOCKET}?token=x")
    assert resp.status_code == 404
    assert "itemNotFound" in resp.json()
