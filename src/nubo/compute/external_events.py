"""Server external events (``/os-server-external-events``, admin or service) and the
``injectNetworkInfo`` admin action.

Neutron and Cinder tell Nova about changes with these events; nubo's network service
is in-process and its agents read ports from the database, so there is no cache to
refresh and no waiter to wake: an event for a server on a host is accepted
(``completed``, 200), one for an unknown server fails with 404 and one for a server
on no host with 422 (the response is then 207, or 404 when no event was accepted),
as Nova answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nubo.compute import models as m
from nubo.compute.access import Caller
from nubo.compute.server_actions import load, not_ready
from nubo.compute.service import ComputeService
from nubo.errors import NotFound


def create_events(
    svc: ComputeService, caller: Caller, events: Sequence[dict[str, Any]]
) -> tuple[int, list[dict[str, Any]]]:
    """Each event with its ``status`` and ``code``; the response status."""
    caller.check("os-server-external-events:create")
    result = 200
    accepted = 0
    out: list[dict[str, Any]] = []
    with svc.db.reader() as s:
        for event in events:
            reply = dict(event)
            server = s.get(m.Server, event["server_uuid"])
            if server is None or server.deleted_at is not None:
                reply.update(status="failed", code=404)
                result = 207
            elif not server.host:
                reply.update(status="failed", code=422)
                result = 207
            else:
                reply.update(status=event.get("status", "completed"), code=200)
                accepted += 1
            out.append(reply)
    if not accepted:
        raise NotFound("No instances found for any event")
    return result, out


def inject_network_info(svc: ComputeService, caller: Caller, server_id: str) -> None:
    """Nothing to inject: guests take their network from DHCP and the metadata
    service, which read the ports as they are. The server must be on a host."""
    with svc.db.reader() as s:
        server = load(
            s, caller, server_id, "os-admin-actions:inject_network_info", for_update=False
        )
        if not server.host:
            raise not_ready(server)
