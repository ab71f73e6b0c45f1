"""Consoles: the console log (os-getConsoleOutput) and remote consoles (a URL with a
token valid for ten minutes, kept hashed in ``compute_console_tokens``).

The console log is read from the driver of the host's agent when it runs in this
process (``nubo up``); the token opens the console through ``console_proxy``.
Which console kinds a host offers follows its driver: QEMU has a VNC display and a
serial port, containers and the fake driver have neither.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets

from sqlalchemy import delete, select

from nubo.compute import models as m
from nubo.compute import servers
from nubo.compute.access import Caller
from nubo.compute.console_proxy import console_url, token_hash
from nubo.compute.drivers.base import DriverError, PowerState
from nubo.compute.server_actions import invalid_state, not_ready
from nubo.compute.service import ComputeService
from nubo.db.base import utcnow
from nubo.errors import BadRequest, Conflict, NotFound

TOKEN_SECONDS = 600
# control characters Nova strips from console output (all but tab and newline)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f]")
# console kinds (Nova's console types) each driver offers
DRIVER_CONSOLES = {
    "qemu-kvm": frozenset({"novnc", "serial"}),
    "qemu-tcg": frozenset({"novnc", "serial"}),
    "qemu": frozenset({"novnc", "serial"}),
}
# protocol -> the console types Nova accepts with it
PROTOCOL_TYPES = {
    "vnc": frozenset({"novnc", "xvpvnc"}),
    "spice": frozenset({"spice-html5", "spice-direct"}),
    "rdp": frozenset({"rdp-html5"}),
    "serial": frozenset({"serial"}),
    "mks": frozenset({"webmks"}),
}


def console_output(svc: ComputeService, caller: Caller, server_id: str, length: int | None) -> str:
    """The console log, tailed as Nova tails it (``tail``)."""
    from nubo.compute.server_operations import LOCAL_AGENTS

    with svc.db.reader() as s:
        server = servers.find(s, caller, server_id)
        caller.check("os-console-output", {"project_id": server.project_id})
        if not server.host:
            raise not_ready(server)
        host = server.host
    agent = LOCAL_AGENTS.get(host)
    if agent is None:
        raise Conflict(
            f"The console of instance {server.id} is on host {host}, which this API "
            "process cannot reach."
        )
    try:
        data = agent.driver.console_log(server.id)
    except DriverError as exc:
        raise NotFound(f"Guest does not have a console available: {exc}") from None
    return tail(data.decode("utf-8", errors="replace"), length)


def tail(text: str, length: int | None) -> str:
    """Nova's tail of a console log: the last ``length`` pieces of the text split at
    newlines, joined again (a log ending in a newline gives ``length - 1`` lines and
    the empty piece after the last newline); all of it with None or -1, nothing with 0.
    Control characters other than tab and newline are dropped."""
    if length is not None and length >= 0:
        text = "\n".join(text.split("\n")[-length:]) if length else ""
    return _CONTROL.sub("", text)


def remote_console(
    svc: ComputeService,
    caller: Caller,
    server_id: str,
    protocol: str,
    console_type: str,
    service_url: str,
) -> str:
    """A console URL carrying a fresh token (valid ``TOKEN_SECONDS``)."""
    if console_type not in PROTOCOL_TYPES.get(protocol, frozenset()):
        raise BadRequest(f"Invalid console type {console_type} for protocol {protocol}.")
    with svc.db.session() as s:
        server = servers.find(s, caller, server_id)
        caller.check("os-remote-consoles", {"project_id": server.project_id})
        if not server.host:
            raise not_ready(server)
        if server.task_state in ("deleting", "migrating"):
            raise invalid_state(server, "get_console", "task_state", server.task_state)
        node = s.scalar(select(m.ComputeNode).where(m.ComputeNode.host == server.host))
        driver = node.driver if node is not None else ""
        if console_type not in DRIVER_CONSOLES.get(driver, frozenset()):
            raise BadRequest(
                f"Unavailable console type {console_type}: the {driver or 'unknown'} driver "
                f"of host {server.host} offers none."
            )
        if server.power_state != int(PowerState.RUNNING):
            raise Conflict(f"Instance {server.id} is not ready")
        now = utcnow()
        s.execute(delete(m.ConsoleToken).where(m.ConsoleToken.expires_at < now))
        token = secrets.token_urlsafe(24)
        s.add(
            m.ConsoleToken(
                token_hash=token_hash(token),
                server_id=server.id,
                console_type=console_type,
                host=server.host,
                expires_at=now + dt.timedelta(seconds=TOKEN_SECONDS),
            )
        )
    return console_url(service_url, console_type, token)


def token_connection(svc: ComputeService, caller: Caller, token: str) -> dict[str, object]:
    """os-console-auth-tokens (admin): the console a live token opens."""
    caller.check("os-console-auth-tokens")
    with svc.db.reader() as s:
        row = s.get(m.ConsoleToken, token_hash(token))
        if row is None or row.expires_at < utcnow():
            raise NotFound("The token's console has expired or does not exist.")
        node = s.scalar(select(m.ComputeNode).where(m.ComputeNode.host == row.host))
        return {
            "instance_uuid": row.server_id,
            "host": node.host_ip if node is not None else row.host,
            "port": None,
            "internal_access_path": None,
        }
