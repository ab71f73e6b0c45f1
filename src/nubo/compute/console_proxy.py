"""The remote-console proxy: a websocket from a browser (noVNC) or a serial-console
client, authorised by the token in its query, relayed byte for byte to the console's
unix socket of an instance on this host (QEMU's VNC display or serial port).

Tokens are minted by the remote-console API (``server_consoles``), stored as their
SHA-256 in ``compute_console_tokens`` with an expiry, and, as in Nova, open the console
as often as asked until they expire. A token that is unknown, expired, for another
kind of console or for a server that has gone or moved is refused before the
websocket handshake completes (HTTP 403), so a client never gets a byte.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import anyio
import anyio.abc
import anyio.to_thread

from nubo.api.routing import WebSocketRequest
from nubo.compute import models as m
from nubo.compute.drivers.base import DriverError
from nubo.compute.service import ComputeService
from nubo.db.base import utcnow

log = logging.getLogger(__name__)

# paths under the compute prefix (/compute)
VNC_WEBSOCKET_PATH = "/console/websockify"
SERIAL_WEBSOCKET_PATH = "/console/serial"
VNC_PAGE_PATH = "/console/vnc_lite.html"
CHUNK = 65536


class TokenRejected(Exception):
    """The websocket may not open a console; the message goes to the log only."""


@dataclass(frozen=True)
class ConsoleTarget:
    """The console a valid token opens."""

    server_id: str
    kind: str  # novnc or serial
    host: str


def token_hash(token: str) -> str:
    """How a token is stored (``ConsoleToken.token_hash``)."""
    return hashlib.sha256(token.encode()).hexdigest()


def console_url(service_url: str, console_type: str, token: str) -> str:
    """The URL a remote-console API returns for a fresh ``token``.

    Serial: the websocket itself (Nova: ``ws://host:6083/?token=...``). noVNC: the
    page, whose ``path`` query names the websocket relative to the host root, the way
    noVNC's pages and Tempest's test_novnc read it (``GET /<path>``)."""
    if console_type == "serial":
        base = service_url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
        return f"{base}{SERIAL_WEBSOCKET_PATH}?token={token}"
    prefix = urlsplit(service_url).path.strip("/")
    ws_path = f"{prefix}{VNC_WEBSOCKET_PATH}?token={token}".lstrip("/")
    return f"{service_url}{VNC_PAGE_PATH}?path={quote(ws_path, safe='')}"


def redeem(svc: ComputeService, token: str, kinds: Collection[str]) -> ConsoleTarget:
    """The console ``token`` opens, if it is live and of one of ``kinds``."""
    if not token:
        raise TokenRejected("no console token in the query")
    with svc.db.reader() as s:
        row = s.get(m.ConsoleToken, token_hash(token))
        if row is None or row.expires_at <= utcnow():
            raise TokenRejected("the console token is unknown or has expired")
        if row.console_type not in kinds:
            raise TokenRejected(f"a {row.console_type} token cannot open this console")
        server = s.get(m.Server, row.server_id)
        if server is None or server.deleted_at is not None or server.host != row.host:
            raise TokenRejected(f"server {row.server_id} is gone or no longer on {row.host}")
        return ConsoleTarget(row.server_id, row.console_type, row.host)


def console_socket(target: ConsoleTarget) -> Path:
    """The unix socket of the console, from the driver of the host's agent, which must
    run in this process."""
    from nubo.compute.server_operations import LOCAL_AGENTS

    agent = LOCAL_AGENTS.get(target.host)
    if agent is None:
        raise TokenRejected(
            f"the console of server {target.server_id} is on host {target.host}, "
            "which this process does not run"
        )
    try:
        return agent.driver.console(target.server_id, target.kind).unix_socket
    except DriverError as exc:
        raise TokenRejected(
            f"server {target.server_id} has no {target.kind} console: {exc}"
        ) from None


def origin_allowed(ws: WebSocketRequest) -> bool:
    """A browser's Origin must name the host it connected to (Nova checks the same):
    a page elsewhere cannot use a token it got hold of. Non-browsers send none."""
    origin = ws.headers.get("origin")
    if not origin:
        return True
    expected = urlsplit(ws.base_url).hostname
    return urlsplit(origin).hostname == expected


async def serve(ws: WebSocketRequest, svc: ComputeService, kinds: Collection[str]) -> None:
    """Authorise the websocket by its token, connect the console and relay until one
    side closes; refuse the handshake (HTTP 403) when any step fails."""
    try:
        if not origin_allowed(ws):
            raise TokenRejected(f"origin {ws.headers.get('origin')} is not this host")
        target = await anyio.to_thread.run_sync(redeem, svc, ws.query.get("token", ""), kinds)
        path = await anyio.to_thread.run_sync(console_socket, target)
        stream = await anyio.connect_unix(path)
    except TokenRejected as exc:
        log.info("console websocket refused: %s", exc)
        await ws.reject()
        return
    except OSError as exc:
        log.warning("console websocket refused: cannot connect the console: %s", exc)
        await ws.reject()
        return
    async with stream:
        await ws.accept("binary" if "binary" in ws.subprotocols else None)
        log.info("console %s of server %s opened", target.kind, target.server_id)
        await relay(ws, stream)
    log.info("console %s of server %s closed", target.kind, target.server_id)


async def relay(ws: WebSocketRequest, stream: anyio.abc.ByteStream) -> None:
    """Copy client messages to the console and console bytes to the client (one
    message per read) until either side closes; then close the other."""

    async def to_console(scope: anyio.CancelScope) -> None:
        try:
            while (data := await ws.receive_bytes()) is not None:
                if data:
                    await stream.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
        scope.cancel()

    async def to_client(scope: anyio.CancelScope) -> None:
        try:
            while True:
                await ws.send_bytes(await stream.receive(CHUNK))
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            await ws.close()
        except OSError:  # the client went away
            pass
        scope.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(to_console, tg.cancel_scope)
        tg.start_soon(to_client, tg.cancel_scope)
