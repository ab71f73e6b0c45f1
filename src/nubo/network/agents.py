"""Network agents (``/v2.0/agents``) and the availability zones derived from them.

Each host's network agent reports in with ``heartbeat`` on every resync, once per
role it plays (Linux bridge, DHCP, L3, metadata): one row per (agent type, host). The
rows are what ``/v2.0/agents`` shows an admin, and the ``tunneling_ip`` in their
configurations is where the other hosts' VXLAN tunnels end. An agent is alive while
its heartbeats are recent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nubo.db.base import utcnow
from nubo.network import models as m
from nubo.network.access import Caller, not_found
from nubo.network.attributes import DESCRIPTION, Attr, anything, boolean

if TYPE_CHECKING:
    from nubo.network.service import NetworkService

# Neutron's agent_down_time: an agent whose last heartbeat is older is dead
AGENT_DOWN_TIME = dt.timedelta(seconds=75)
DEFAULT_ZONE = "nova"
# the message topics Neutron's agents listen on ("N/A" for the others)
TOPICS = {"DHCP agent": "dhcp_agent", "L3 agent": "l3_agent"}
# agent types that host resources of an availability zone, and which resource
ZONE_RESOURCES = {"DHCP agent": "network", "L3 agent": "router"}

_READ_ONLY = Attr(anything, post=False, put=False)
ATTRS: dict[str, Attr] = {
    "admin_state_up": Attr(boolean, post=False),
    "description": Attr(DESCRIPTION.convert, post=False),
    **{
        name: _READ_ONLY
        for name in (
            "id",
            "agent_type",
            "binary",
            "topic",
            "host",
            "alive",
            "created_at",
            "started_at",
            "heartbeat_timestamp",
            "availability_zone",
            "configurations",
            "resources_synced",
        )
    },
}

_UNSET: Any = object()


def _timestamp(value: dt.datetime) -> str:
    # agents keep Neutron's own format for these (not the standard attributes' one)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def is_alive(row: m.Agent, now: dt.datetime | None = None) -> bool:
    return (now or utcnow()) - row.heartbeat_at <= AGENT_DOWN_TIME


def view(row: m.Agent, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": row.id,
        "agent_type": row.agent_type,
        "binary": row.binary,
        "topic": row.topic,
        "host": row.host,
        "admin_state_up": row.admin_state_up,
        "alive": is_alive(row, now),
        "created_at": _timestamp(row.created_at),
        "started_at": _timestamp(row.started_at),
        "heartbeat_timestamp": _timestamp(row.heartbeat_at),
        "description": row.description,
        "availability_zone": row.availability_zone,
        "configurations": dict(row.configurations or {}),
        "resources_synced": None,
    }


def _can_see(caller: Caller) -> bool:
    return caller.allowed("get_agent", {"project_id": caller.project_id})


def find(s: Session, caller: Caller, agent_id: str) -> m.Agent:
    """The agent; 404 for a missing one and for a caller who may not see agents."""
    row = s.get(m.Agent, agent_id)
    if row is None or not _can_see(caller):
        raise not_found("agent", agent_id)
    return row


def list_agents(
    svc: NetworkService, caller: Caller, filters: Mapping[str, list[str]]
) -> list[dict[str, Any]]:
    # as Neutron: a caller without get_agent sees an empty list, not a 403
    if not _can_see(caller):
        return []
    with svc.db.reader() as s:
        stmt = select(m.Agent).order_by(m.Agent.host, m.Agent.agent_type)
        for key, column in (
            ("id", m.Agent.id),
            ("host", m.Agent.host),
            ("agent_type", m.Agent.agent_type),
        ):
            if key in filters:
                stmt = stmt.where(column.in_(filters[key]))
        now = utcnow()
        return [view(r, now) for r in s.scalars(stmt)]


def get_agent(svc: NetworkService, caller: Caller, agent_id: str) -> dict[str, Any]:
    with svc.db.reader() as s:
        return view(find(s, caller, agent_id), utcnow())


def update_agent(
    svc: NetworkService, caller: Caller, agent_id: str, attrs: Mapping[str, Any]
) -> dict[str, Any]:
    with svc.db.session() as s:
        row = find(s, caller, agent_id)
        caller.check("update_agent", {"project_id": caller.project_id})
        if "description" in attrs:
            row.description = attrs["description"]
        if "admin_state_up" in attrs and attrs["admin_state_up"] != row.admin_state_up:
            row.admin_state_up = attrs["admin_state_up"]
            svc.changed(s)
        return view(row, utcnow())


def delete_agent(svc: NetworkService, caller: Caller, agent_id: str) -> None:
    with svc.db.session() as s:
        row = find(s, caller, agent_id)
        caller.check("delete_agent", {"project_id": caller.project_id})
        s.delete(row)
        # a host's tunnel endpoint may have gone with it
        svc.changed(s)


def heartbeat(
    svc: NetworkService,
    host: str,
    agent_type: str,
    binary: str,
    configurations: Mapping[str, Any],
    *,
    availability_zone: str | None = _UNSET,
    started: bool = False,
) -> str:
    """Record that ``agent_type`` runs on ``host``: insert its row or refresh it.

    ``started`` marks a (re)start of the agent (``started_at``). The availability zone
    defaults to ``nova`` for the agents that host zone resources (DHCP, L3) and none
    for the others, as Neutron's agents report. Returns the agent's id. A new agent or
    new configurations (a moved tunnel endpoint) bump the dataplane generation so the
    other hosts converge.
    """
    zone = (
        (DEFAULT_ZONE if agent_type in ZONE_RESOURCES else None)
        if availability_zone is _UNSET
        else availability_zone
    )
    conf = dict(configurations)
    for attempt in range(2):
        try:
            with svc.db.session() as s:
                return _beat(svc, s, host, agent_type, binary, conf, zone, started)
        except IntegrityError:
            # another process inserted the same (type, host) first: update that row
            if attempt:
                raise
    raise AssertionError("unreachable")


def _beat(
    svc: NetworkService,
    s: Session,
    host: str,
    agent_type: str,
    binary: str,
    conf: dict[str, Any],
    zone: str | None,
    started: bool,
) -> str:
    now = utcnow()
    row = s.scalar(select(m.Agent).where(m.Agent.agent_type == agent_type, m.Agent.host == host))
    if row is None:
        row = m.Agent(
            agent_type=agent_type,
            binary=binary,
            topic=TOPICS.get(agent_type, "N/A"),
            host=host,
            availability_zone=zone,
            configurations=conf,
            created_at=now,
            started_at=now,
            heartbeat_at=now,
        )
        s.add(row)
        s.flush()
        svc.changed(s)
        return row.id
    if row.configurations != conf:
        row.configurations = conf
        svc.changed(s)
    row.binary = binary
    row.availability_zone = zone
    row.heartbeat_at = now
    if started:
        row.started_at = now
    return row.id


# -- availability zones --------------------------------------------------------------


def availability_zones(svc: NetworkService, caller: Caller) -> list[dict[str, Any]]:
    """Neutron's zones: one per (zone, resource) of the DHCP (network) and L3 (router)
    agents, available when any of its agents is administratively up.

    Before any agent reported (a fresh cloud whose agent has not run yet) the default
    zone is listed: every nubo host runs both roles.
    """
    caller.check("get_availability_zone", {"project_id": caller.project_id})
    zones: dict[tuple[str, str], bool] = {}
    with svc.db.reader() as s:
        rows = s.execute(
            select(m.Agent.agent_type, m.Agent.availability_zone, m.Agent.admin_state_up).where(
                m.Agent.agent_type.in_(ZONE_RESOURCES)
            )
        ).all()
    if not rows:
        zones = {(DEFAULT_ZONE, "network"): True, (DEFAULT_ZONE, "router"): True}
    for agent_type, zone, up in rows:
        if not zone:
            continue
        key = (zone, ZONE_RESOURCES[agent_type])
        zones[key] = zones.get(key, False) or bool(up)
    return [
        {"name": name, "resource": resource, "state": "available" if up else "unavailable"}
        for (name, resource), up in sorted(zones.items())
    ]
