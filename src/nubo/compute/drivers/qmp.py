"""A small client for QEMU's machine protocol (QMP) on a unix socket.

One connection per call site: connect, read the greeting, negotiate
capabilities, run commands. Asynchronous events that arrive between replies
are kept so a caller can wait for one (DEVICE_DELETED after device_del, ...).
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from nubo.compute.drivers.base import DriverError


class QmpError(DriverError):
    """QEMU refused a command, or its control socket did not answer."""


class Qmp:
    """``with Qmp(path) as q: q.execute("query-status")``."""

    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        self.path = path
        self.timeout = timeout
        self.events: list[dict[str, Any]] = []
        self._sock: socket.socket | None = None
        self._buffer = b""

    def __enter__(self) -> Qmp:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.path))
        except OSError as exc:
            sock.close()
            raise QmpError(f"QEMU control socket {self.path} does not answer: {exc}") from exc
        self._sock = sock
        greeting = self._read()
        if "QMP" not in greeting:
            raise QmpError(f"not a QMP greeting on {self.path}: {greeting}")
        self.execute("qmp_capabilities")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def execute(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        """Run one command; its ``return`` value, or QmpError with QEMU's message."""
        message: dict[str, Any] = {"execute": command}
        if arguments:
            message["arguments"] = arguments
        self._send(message)
        while True:
            reply = self._read()
            if "event" in reply:
                self.events.append(reply)
                continue
            if "error" in reply:
                error = reply["error"]
                raise QmpError(f"QEMU refused {command}: {error.get('desc', error)}")
            if "return" in reply:
                return reply["return"]

    def wait_event(self, name: str, timeout: float, **data: Any) -> dict[str, Any] | None:
        """The first event called name whose data holds data's items, or None."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.get("event") == name and all(
                    event.get("data", {}).get(k) == v for k, v in data.items()
                ):
                    self.events.remove(event)
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                reply = self._read(min(left, self.timeout))
            except QmpError:
                if time.monotonic() >= deadline:
                    return None
                raise
            except TimeoutError:
                continue
            if "event" in reply:
                self.events.append(reply)

    # -- wire ------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        if self._sock is None:
            raise QmpError("QMP connection is closed")
        try:
            self._sock.sendall(json.dumps(message).encode() + b"\n")
        except OSError as exc:
            raise QmpError(f"QEMU control socket {self.path}: {exc}") from exc

    def _read(self, timeout: float | None = None) -> dict[str, Any]:
        if self._sock is None:
            raise QmpError("QMP connection is closed")
        self._sock.settimeout(timeout if timeout is not None else self.timeout)
        while b"\n" not in self._buffer:
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError as exc:
                if timeout is not None:
                    raise
                raise QmpError(
                    f"QEMU did not answer on {self.path} within {self.timeout}s"
                ) from exc
            except OSError as exc:
                raise QmpError(f"QEMU control socket {self.path}: {exc}") from exc
            if not chunk:
                raise QmpError(f"QEMU closed its control socket {self.path}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise QmpError(f"QEMU sent something that is not JSON: {line[:200]!r}") from exc
        if not isinstance(value, dict):
            raise QmpError(f"QEMU sent something that is not an object: {line[:200]!r}")
        return value


def qmp_call(
    path: Path, command: str, arguments: dict[str, Any] | None = None, timeout: float = 10.0
) -> Any:
    """Connect, run one command, disconnect."""
    with Qmp(path, timeout) as q:
        return q.execute(command, arguments)
