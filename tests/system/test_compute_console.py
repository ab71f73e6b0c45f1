"""Remote consoles of a real QEMU instance through the console proxy: nubo-tiny boots
(no NIC, so no packet leaves QEMU), a token minted by the remote-console API opens
its serial console (the boot log streams through the websocket) and its VNC display
(the RFB 3.8 negotiation Tempest's test_novnc does), and a bad token gets nothing.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import uvicorn
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from nubo.api.app import NuboApp
from nubo.api.policy import PolicyEngine
from nubo.compute import console_proxy, hosts, server_consoles
from nubo.compute import models as m
from nubo.compute.access import Caller
from nubo.compute.api import build_service
from nubo.compute.drivers.base import InstanceSpec, PowerState
from nubo.compute.drivers.kvmprobe import kvm_usable
from nubo.compute.drivers.qemu import QemuComputeDriver
from nubo.compute.policies import RULES
from nubo.compute.server_operations import LOCAL_AGENTS
from nubo.compute.service import ComputeService
from nubo.config import ComputeConfig, Config
from nubo.db import migrate
from nubo.db.engine import Database
from nubo.image.guest import BOOT_FINISHED_MARKER
from nubo.placement.service import PlacementService

pytestmark = [pytest.mark.root, pytest.mark.timeout(1200)]

BOOT_TIMEOUT = 600
HOST = "console-system-host"
POLICY = PolicyEngine()
POLICY.register(RULES)
CREDS = {"roles": ["member", "reader"], "project_id": "alice", "user_id": "u-alice"}
ALICE = Caller(
    project_id="alice",
    user_id="u-alice",
    is_admin=False,
    allowed=lambda rule, target: POLICY.allowed(rule, CREDS, target),
)


class NoNetwork:
    """A plugger for an instance without NICs (QEMU runs with -nodefaults)."""

    def plug(self, port_id: str, kind: str, netns: str | None = None) -> str:
        raise AssertionError("no NICs here")

    def unplug(self, port_id: str) -> None:
        pass

    def dataplane_namespace(self) -> str | None:
        return None


@dataclass
class Agent:
    driver: QemuComputeDriver


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[QemuComputeDriver]:
    accel = "kvm" if kvm_usable()[0] else "tcg"
    drv = QemuComputeDriver(tmp_path / "instances", ComputeConfig(), accel=accel)
    yield drv
    for entry in drv.instances_dir.iterdir() if drv.instances_dir.is_dir() else []:
        if entry.name.startswith(("_", ".")):
            continue
        with contextlib.suppress(Exception):
            drv.destroy(entry.name, NoNetwork())
        f = drv.files(entry.name)
        pid = drv._pid(entry.name, f)
        if pid is not None:
            drv._kill(pid, f, graceful=False)
        if f.sockets != f.dir:
            shutil.rmtree(f.sockets, ignore_errors=True)


@pytest.fixture
def svc(tmp_path: Path, driver: QemuComputeDriver) -> Iterator[ComputeService]:
    cfg = Config(data_dir=str(tmp_path))
    cfg.compute.host = HOST
    db = Database(cfg.database_url)
    migrate.upgrade(db.engine)
    service = ComputeService(cfg, db, None, None, None, PlacementService(cfg, db))  # type: ignore[arg-type]
    with db.session() as s:
        hosts.register_host(service, s, HOST, driver.host_resources(), driver.name, "192.0.2.1")
    yield service
    db.dispose()


@pytest.fixture
def base_url(
    svc: ComputeService, driver: QemuComputeDriver, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The compute API (with the console proxy) under uvicorn on loopback."""
    monkeypatch.setitem(LOCAL_AGENTS, HOST, Agent(driver))  # type: ignore[arg-type]
    app = NuboApp(
        services=[build_service()],
        policy=POLICY,
        authenticator=None,  # type: ignore[arg-type]
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
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(20)


def boot(svc: ComputeService, driver: QemuComputeDriver, image: Path) -> str:
    server_id = str(uuid.uuid4())
    spec = InstanceSpec(
        id=server_id,
        hostname="console-vm",
        vcpus=1,
        memory_mb=128,
        root_gb=1,
        ephemeral_gb=0,
        swap_mb=0,
        image_path=image,
        image_format="qcow2",
    )
    driver.spawn(spec, NoNetwork())
    assert driver.power_state(server_id) == PowerState.RUNNING
    flavor = {"name": "tiny", "vcpus": 1, "memory_mb": 128, "root_gb": 1,
              "ephemeral_gb": 0, "swap_mb": 0}  # fmt: skip
    with svc.db.session() as s:
        s.add(
            m.Server(
                id=server_id,
                project_id="alice",
                user_id="u-alice",
                name="console-vm",
                flavor=flavor,
                host=HOST,
                vm_state="active",
                power_state=int(PowerState.RUNNING),
            )
        )
    return server_id


def token_of(svc: ComputeService, server_id: str, protocol: str, kind: str) -> str:
    """A token minted by the remote-console API's service function."""
    url = server_consoles.remote_console(svc, ALICE, server_id, protocol, kind, "http://x/compute")
    found = re.search(r"token(?:=|%3D)([A-Za-z0-9_-]+)", url)
    assert found, url
    return found[1]


def ws_url(base_url: str, kind: str, token: str) -> str:
    url = console_proxy.console_url(base_url + "/compute", kind, token)
    if kind == "serial":
        return url
    # the websocket the noVNC page opens: ws://<host>/<path>
    path = re.search(r"path=([^&]+)", url)
    assert path
    return base_url.replace("http://", "ws://") + "/" + unquote(path[1])


def test_serial_and_vnc_consoles_through_the_proxy(
    svc: ComputeService, driver: QemuComputeDriver, base_url: str, tiny_image: Path
) -> None:
    server_id = boot(svc, driver, tiny_image)

    # The serial console: the guest's boot messages stream through the websocket.
    serial_token = token_of(svc, server_id, "serial", "serial")
    with connect(ws_url(base_url, "serial", serial_token), open_timeout=30) as conn:
        seen = b""
        deadline = time.monotonic() + BOOT_TIMEOUT
        while BOOT_FINISHED_MARKER.encode() not in seen:
            assert time.monotonic() < deadline, seen[-2000:]
            with contextlib.suppress(TimeoutError):
                data: Any = conn.recv(timeout=10)
                seen += data if isinstance(data, bytes) else data.encode()
    print(f"\nserial console through the proxy: {len(seen)} bytes of boot log")

    # VNC: the negotiation Tempest's test_novnc does, one websocket message per step.
    vnc_token = token_of(svc, server_id, "vnc", "novnc")
    url = ws_url(base_url, "novnc", vnc_token)
    with connect(url, subprotocols=["binary"], open_timeout=30) as conn:  # type: ignore[list-item]
        assert conn.subprotocol == "binary"
        version = conn.recv(timeout=30)
        assert version == b"RFB 003.008\n", version
        conn.send(version)
        types = conn.recv(timeout=30)
        assert isinstance(types, bytes) and 1 in types[1 : 1 + types[0]], types
        conn.send(b"\x01")
        assert conn.recv(timeout=30) == b"\x00\x00\x00\x00"
        conn.send(b"\x01")
        init = conn.recv(timeout=30)
        assert isinstance(init, bytes) and len(init) > 24
        width, height = struct.unpack(">HH", init[:4])
        assert width > 0 and height > 0
        assert struct.unpack(">L", init[20:24])[0] + 24 == len(init)

    # A bad token opens nothing.
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(base_url, "novnc", "bad" + vnc_token), open_timeout=30)
    assert refused.value.response.status_code == 403

    # Once the instance is gone its console is refused, even with a live token.
    driver.destroy(server_id, NoNetwork())
    with pytest.raises(InvalidStatus):
        connect(url, open_timeout=30)
