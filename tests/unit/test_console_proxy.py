"""The remote-console proxy: console URLs, token redemption (live, unknown, expired,
other kind, server gone or moved) on a real SQLite database with tokens minted by the
remote-console API's service function, and the websocket relay through the real ASGI
app under uvicorn to a fake VNC server on a unix socket that speaks RFB 3.8, driven
the way Tempest's test_novnc does (raw handshake, ``path`` from the URL) and with the
``websockets`` client."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import socket
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from sqlalchemy import update
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from nubo.api.app import NuboApp
from nubo.api.policy import PolicyEngine
from nubo.compute import console_proxy, hosts, server_consoles
from nubo.compute import models as m
from nubo.compute.access import Caller
from nubo.compute.api import build_service
from nubo.compute.api import console_proxy as proxy_api
from nubo.compute.console_proxy import ConsoleTarget, TokenRejected
from nubo.compute.drivers.base import Console, DriverError, HostResources
from nubo.compute.policies import RULES
from nubo.compute.server_operations import LOCAL_AGENTS
from nubo.compute.service import ComputeService
from nubo.config import Config
from nubo.db import migrate
from nubo.db.base import utcnow
from nubo.db.engine import Database
from nubo.placement.service import PlacementService

POLICY = PolicyEngine()
POLICY.register(RULES)
HOST = "console-host"
RESOURCES = HostResources(
    vcpus=8, memory_mb=16384, disk_gb=100, hypervisor_type="QEMU", hypervisor_version=1
)
SERVER_NAME = b"nubo-test-desktop"


def caller(project: str) -> Caller:
    creds = {"roles": ["member", "reader"], "project_id": project, "user_id": f"u-{project}"}
    return Caller(
        project_id=project,
        user_id=f"u-{project}",
        is_admin=False,
        allowed=lambda rule, target: POLICY.allowed(rule, creds, target),
    )


ALICE = caller("alice")


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[ComputeService]:
    cfg = Config(data_dir=str(tmp_path))
    cfg.compute.host = HOST
    db = Database(cfg.database_url)
    migrate.upgrade(db.engine)
    service = ComputeService(cfg, db, None, None, None, PlacementService(cfg, db))  # type: ignore[arg-type]
    with db.session() as s:
        hosts.register_host(service, s, HOST, RESOURCES, "qemu-tcg", "192.0.2.10")
    yield service
    db.dispose()


def add_server(svc: ComputeService, host: str = HOST) -> str:
    server_id = str(uuid.uuid4())
    flavor = {"name": "m1.tiny", "vcpus": 1, "memory_mb": 512, "root_gb": 1,
              "ephemeral_gb": 0, "swap_mb": 0}  # fmt: skip
    with svc.db.session() as s:
        s.add(
            m.Server(
                id=server_id,
                project_id="alice",
                user_id="u-alice",
                name="vm",
                flavor=flavor,
                host=host,
                vm_state="active",
                power_state=1,
            )
        )
    return server_id


def mint(svc: ComputeService, server_id: str, protocol: str = "vnc", kind: str = "novnc") -> str:
    """A token from the remote-console API's own service function."""
    url = server_consoles.remote_console(
        svc, ALICE, server_id, protocol, kind, "http://127.0.0.1:1/compute"
    )
    found = re.search(r"token(?:=|%3D)([A-Za-z0-9_-]+)", url)
    assert found, url
    return found[1]


# -- URLs and tokens ---------------------------------------------------------------------


def test_novnc_url_names_the_page_and_the_websocket_path() -> None:
    url = console_proxy.console_url("http://cloud.example:8774/compute", "novnc", "tok-1")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "http",
        "cloud.example:8774",
        "/compute/console/vnc_lite.html",
    )
    # noVNC's page and Tempest open ws://<host>/<path>
    assert parse_qs(parts.query)["path"] == ["compute/console/websockify?token=tok-1"]


def test_serial_url_is_the_websocket() -> None:
    assert (
        console_proxy.console_url("https://cloud.example/compute", "serial", "tok-2")
        == "wss://cloud.example/compute/console/serial?token=tok-2"
    )


def test_remote_console_api_returns_the_proxy_url(svc: ComputeService) -> None:
    server_id = add_server(svc)
    url = server_consoles.remote_console(
        svc, ALICE, server_id, "vnc", "novnc", "http://127.0.0.1:1/compute"
    )
    path = parse_qs(urlsplit(url).query)["path"][0]
    assert path.startswith("compute/console/websockify?token="), url
    serial = server_consoles.remote_console(
        svc, ALICE, server_id, "serial", "serial", "http://127.0.0.1:1/compute"
    )
    assert serial.startswith("ws://127.0.0.1:1/compute/console/serial?token="), serial


def test_redeem_a_live_token(svc: ComputeService) -> None:
    server_id = add_server(svc)
    token = mint(svc, server_id)
    target = console_proxy.redeem(svc, token, ("novnc",))
    assert target == ConsoleTarget(server_id, "novnc", HOST)
    # as in Nova the token opens the console again until it expires
    assert console_proxy.redeem(svc, token, ("novnc",)) == target


@pytest.mark.parametrize("token", ["", "not-a-token"])
def test_redeem_refuses_unknown_tokens(svc: ComputeService, token: str) -> None:
    add_server(svc)
    with pytest.raises(TokenRejected):
        console_proxy.redeem(svc, token, ("novnc",))


def test_redeem_refuses_an_expired_token(svc: ComputeService) -> None:
    token = mint(svc, add_server(svc))
    with svc.db.session() as s:
        s.execute(
            update(m.ConsoleToken)
            .where(m.ConsoleToken.token_hash == console_proxy.token_hash(token))
            .values(expires_at=utcnow() - dt.timedelta(seconds=1))
        )
    with pytest.raises(TokenRejected, match="expired"):
        console_proxy.redeem(svc, token, ("novnc",))


def test_redeem_refuses_a_token_of_another_kind(svc: ComputeService) -> None:
    token = mint(svc, add_server(svc), "serial", "serial")
    assert console_proxy.redeem(svc, token, ("serial",)).kind == "serial"
    with pytest.raises(TokenRejected, match="serial token"):
        console_proxy.redeem(svc, token, ("novnc",))


@pytest.mark.parametrize("change", ["deleted", "moved"])
def test_redeem_refuses_when_the_server_is_gone_or_moved(svc: ComputeService, change: str) -> None:
    server_id = add_server(svc)
    token = mint(svc, server_id)
    values: dict[str, Any] = (
        {"deleted_at": utcnow(), "vm_state": "deleted"} if change == "deleted" else {"host": "h2"}
    )
    with svc.db.session() as s:
        s.execute(update(m.Server).where(m.Server.id == server_id).values(**values))
    with pytest.raises(TokenRejected):
        console_proxy.redeem(svc, token, ("novnc",))


# -- a fake VNC server and the app under uvicorn -----------------------------------------


def recv_exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


@dataclass
class FakeVnc:
    """A unix-socket server that does RFB 3.8's handshake (security None), then echoes."""

    path: Path
    closed: threading.Event = field(default_factory=threading.Event)
    connections: int = 0

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(self.path))
        self.sock.listen(8)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError, EOFError):
            conn.sendall(b"RFB 003.008\n")
            assert recv_exact(conn, 12) == b"RFB 003.008\n"
            conn.sendall(b"\x01\x01")  # one security type: None
            assert recv_exact(conn, 1) == b"\x01"
            conn.sendall(b"\x00\x00\x00\x00")
            recv_exact(conn, 1)  # ClientInit (shared flag)
            init = struct.pack(">HH16sL", 640, 480, bytes(16), len(SERVER_NAME))
            conn.sendall(init + SERVER_NAME)
            while data := conn.recv(65536):
                if data == b"quit":
                    return  # the console side ends the session
                conn.sendall(data)
        self.closed.set()

    def close(self) -> None:
        self.sock.close()


@dataclass
class FakeDriver:
    sockets: dict[str, Path]

    def console(self, instance_id: str, kind: str) -> Console:
        if kind not in self.sockets:
            raise DriverError(f"no {kind} console")
        return Console(kind, self.sockets[kind])


@dataclass
class FakeAgent:
    driver: FakeDriver


class Authenticator:
    def validate(self, token: str) -> Any:
        raise AssertionError("the console proxy needs no keystone token")


@dataclass
class Proxy:
    svc: ComputeService
    base_url: str
    vnc: FakeVnc
    server_id: str

    @property
    def ws_base(self) -> str:
        return self.base_url.replace("http://", "ws://")


@pytest.fixture
def proxy(svc: ComputeService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Proxy]:
    sockdir = Path(f"/tmp/nubo-cp-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    sockdir.mkdir()
    vnc = FakeVnc(sockdir / "vnc.sock")
    serial = FakeVnc(sockdir / "serial.sock")
    driver = FakeDriver({"novnc": sockdir / "vnc.sock", "serial": sockdir / "serial.sock"})
    monkeypatch.setitem(LOCAL_AGENTS, HOST, FakeAgent(driver))  # type: ignore[arg-type]
    app = NuboApp(
        services=[build_service()],
        policy=POLICY,
        authenticator=Authenticator(),
        state={"compute": svc},
        access_log_enabled=False,
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield Proxy(svc, f"http://127.0.0.1:{port}", vnc, add_server(svc))
    finally:
        server.should_exit = True
        thread.join(20)
        vnc.close()
        serial.close()
        for leftover in sockdir.iterdir():
            leftover.unlink()
        sockdir.rmdir()


class TempestStyleSocket:
    """What Tempest's compute.create_websocket does: a raw handshake to ``GET /<path>``
    (the ``path`` of the console URL), then frames read one by one."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        path = parse_qs(parts.query)["path"][0]
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        request = (
            f"GET /{path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Cookie: {parts.query}\r\n"
            "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: binary\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            self.buffer += chunk
        self.response, _, self.buffer = self.buffer.partition(b"\r\n\r\n")

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise EOFError
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def receive_frame(self) -> tuple[int, bytes] | None:
        """(opcode, payload) of the next frame, None when the server closed."""
        try:
            head = self._read(2)
            length = head[1] & 127
            if length == 126:
                length = struct.unpack(">H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self._read(8))[0]
            return head[0] & 15, self._read(length)
        except EOFError:
            return None

    def send_frame(self, data: bytes) -> None:
        mask = b"\x07\x02\x01\x09"
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(bytes((130, len(data) | 128)) + mask + masked)

    def close(self) -> None:
        self.sock.close()


def test_tempest_style_rfb_negotiation_through_the_proxy(proxy: Proxy) -> None:
    token = mint(proxy.svc, proxy.server_id)
    url = console_proxy.console_url(proxy.base_url + "/compute", "novnc", token)
    ws = TempestStyleSocket(url)
    try:
        assert ws.response.startswith(b"HTTP/1.1 101 Switching Protocols"), ws.response
        assert b"upgrade: websocket" in ws.response.lower()
        assert b"sec-websocket-protocol: binary" in ws.response.lower()
        assert ws.receive_frame() == (2, b"RFB 003.008\n")
        ws.send_frame(b"RFB 003.008\n")
        assert ws.receive_frame() == (2, b"\x01\x01")
        ws.send_frame(b"\x01")
        assert ws.receive_frame() == (2, b"\x00\x00\x00\x00")
        ws.send_frame(b"\x01")
        frame = ws.receive_frame()
        assert frame is not None
        init = frame[1]
        assert struct.unpack(">L", init[20:24])[0] + 24 == len(init)
        assert init[24:] == SERVER_NAME
    finally:
        ws.close()


def test_bad_token_is_refused_before_any_data(proxy: Proxy) -> None:
    token = mint(proxy.svc, proxy.server_id)
    url = console_proxy.console_url(proxy.base_url + "/compute", "novnc", "bad" + token)
    ws = TempestStyleSocket(url)
    try:
        assert ws.response.startswith(b"HTTP/1.1 403"), ws.response
        assert ws.receive_frame() is None
    finally:
        ws.close()
    assert proxy.vnc.connections == 0


def handshake(conn: Any) -> None:
    assert conn.recv(timeout=10) == b"RFB 003.008\n"
    conn.send(b"RFB 003.008\n")
    assert conn.recv(timeout=10) == b"\x01\x01"
    conn.send(b"\x01")
    assert conn.recv(timeout=10) == b"\x00\x00\x00\x00"
    conn.send(b"\x01")
    assert conn.recv(timeout=10).endswith(SERVER_NAME)


def test_relay_carries_large_messages_both_ways(proxy: Proxy) -> None:
    token = mint(proxy.svc, proxy.server_id)
    url = f"{proxy.ws_base}/compute/console/websockify?token={token}"
    payload = os.urandom(300_000)
    with connect(url, subprotocols=["binary"]) as conn:  # type: ignore[list-item]
        assert conn.subprotocol == "binary"
        handshake(conn)
        conn.send(payload)
        echoed = b""
        while len(echoed) < len(payload):
            echoed += conn.recv(timeout=10)
        assert echoed == payload
        conn.send("text is relayed as UTF-8 \u00e9")
        assert conn.recv(timeout=10) == "text is relayed as UTF-8 \u00e9".encode()


def test_client_closing_ends_the_console_connection(proxy: Proxy) -> None:
    token = mint(proxy.svc, proxy.server_id)
    with connect(f"{proxy.ws_base}/compute/console/websockify?token={token}") as conn:
        handshake(conn)
    assert proxy.vnc.closed.wait(10)


def test_console_closing_closes_the_websocket(proxy: Proxy) -> None:
    token = mint(proxy.svc, proxy.server_id)
    with connect(f"{proxy.ws_base}/compute/console/websockify?token={token}") as conn:
        handshake(conn)
        conn.send(b"quit")
        with pytest.raises(ConnectionClosed) as closed:
            conn.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000


def test_serial_console_through_its_own_path(proxy: Proxy) -> None:
    token = mint(proxy.svc, proxy.server_id, "serial", "serial")
    url = console_proxy.console_url(proxy.base_url + "/compute", "serial", token)
    with connect(url) as conn:
        assert conn.recv(timeout=10) == b"RFB 003.008\n"  # the fake serves both
    # a serial token does not open the VNC console, nor a VNC token the serial one
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{proxy.ws_base}/compute/console/websockify?token={token}")
    assert refused.value.response.status_code == 403
    vnc_token = mint(proxy.svc, proxy.server_id)
    with pytest.raises(InvalidStatus):
        connect(f"{proxy.ws_base}/compute/console/serial?token={vnc_token}")


@pytest.mark.parametrize(
    "query",
    ["", "?token=", "?token=nope"],
)
def test_missing_or_unknown_tokens_get_403(proxy: Proxy, query: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{proxy.ws_base}/compute/console/websockify{query}")
    assert refused.value.response.status_code == 403


def test_other_websocket_paths_are_refused(proxy: Proxy) -> None:
    token = mint(proxy.svc, proxy.server_id)
    for path in (f"/compute/v2.1/servers?token={token}", f"/?token={token}", "/nowhere"):
        with pytest.raises(InvalidStatus) as refused:
            connect(f"{proxy.ws_base}{path}")
        assert refused.value.response.status_code == 403


def test_a_foreign_origin_is_refused(proxy: Proxy) -> None:
    token = mint(proxy.svc, proxy.server_id)
    url = f"{proxy.ws_base}/compute/console/websockify?token={token}"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, origin="http://evil.example")  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
    with connect(url, origin="http://127.0.0.1:1") as conn:  # type: ignore[arg-type]
        handshake(conn)


def test_console_not_available_is_refused(proxy: Proxy, monkeypatch: pytest.MonkeyPatch) -> None:
    token = mint(proxy.svc, proxy.server_id)
    monkeypatch.setitem(LOCAL_AGENTS, HOST, FakeAgent(FakeDriver({})))  # type: ignore[arg-type]
    with pytest.raises(InvalidStatus):
        connect(f"{proxy.ws_base}/compute/console/websockify?token={token}")
    monkeypatch.delitem(LOCAL_AGENTS, HOST)
    with pytest.raises(InvalidStatus):
        connect(f"{proxy.ws_base}/compute/console/websockify?token={token}")


# -- the page ----------------------------------------------------------------------------


def test_page_is_a_novnc_html_document(proxy: Proxy) -> None:
    token = mint(proxy.svc, proxy.server_id)
    url = console_proxy.console_url(proxy.base_url + "/compute", "novnc", token)
    resp = httpx.get(url)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    # what Tempest's validate_novnc_html looks for
    assert re.search("<html.*>", resp.text) and "</html>" in resp.text
    assert "noVNC" in resp.text and "<script" in resp.text
    assert httpx.get(proxy.base_url + "/compute/console/vnc_auto.html").status_code == 200


def test_novnc_modules_are_served_from_the_library_only(
    proxy: Proxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = tmp_path / "novnc"
    (library / "core").mkdir(parents=True)
    (library / "core" / "rfb.js").write_text("export default class RFB {}\n")
    (tmp_path / "secret.js").write_text("secret")
    monkeypatch.setattr(proxy_api, "NOVNC_DIRS", (library,))
    resp = httpx.get(proxy.base_url + "/compute/console/core/rfb.js")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/javascript")
    assert resp.text == "export default class RFB {}\n"
    for name in ("core/missing.js", "core/%2e%2e/%2e%2e/secret.js", "vnc.sock", "other/x.js"):
        resp = httpx.get(f"{proxy.base_url}/compute/console/{name}")
        assert resp.status_code == 404, name
        assert "itemNotFound" in resp.json()
