"""Instance actions and their events (os-instance-actions): every user-visible
operation on a server is recorded with the request that asked for it, and the agent
adds the events of carrying it out (``compute_<op>`` with Success or Error)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nubo.compute import models as m
from nubo.compute.access import Caller
from nubo.db.base import utcnow


def start(s: Session, server: m.Server, action: str, caller: Caller) -> m.InstanceAction:
    """Record that ``caller`` asked for ``action`` on ``server``."""
    row = m.InstanceAction(
        server_id=server.id,
        action=action,
        request_id=caller.request_id or "",
        user_id=caller.user_id,
        project_id=caller.project_id,
    )
    s.add(row)
    s.flush()
    return row


def latest(s: Session, server_id: str, action: str | None = None) -> m.InstanceAction | None:
    stmt = select(m.InstanceAction).where(m.InstanceAction.server_id == server_id)
    if action is not None:
        stmt = stmt.where(m.InstanceAction.action == action)
    return s.scalars(
        stmt.order_by(m.InstanceAction.start_time.desc(), m.InstanceAction.id.desc()).limit(1)
    ).first()


def event(
    s: Session,
    server_id: str,
    action: str,
    event_name: str,
    host: str,
    error: str | None = None,
) -> None:
    """Add a finished event to the server's latest ``action`` (and finish the action)."""
    row = latest(s, server_id, action)
    if row is None:
        return
    now = utcnow()
    s.add(
        m.InstanceActionEvent(
            action_id=row.id,
            event=event_name,
            result="Error" if error else "Success",
            host=host,
            details=error,
            traceback=error,
            start_time=row.start_time,
            finish_time=now,
        )
    )
    row.finish_time = now
    row.updated_at = now
    if error:
        row.message = "Error"


def list_actions(s: Session, server_id: str) -> list[m.InstanceAction]:
    return list(
        s.scalars(
            select(m.InstanceAction)
            .where(m.InstanceAction.server_id == server_id)
            .order_by(m.InstanceAction.start_time.desc(), m.InstanceAction.id.desc())
        )
    )


def events_of(s: Session, action_id: int) -> list[m.InstanceActionEvent]:
    return list(
        s.scalars(
            select(m.InstanceActionEvent)
            .where(m.InstanceActionEvent.action_id == action_id)
            .order_by(m.InstanceActionEvent.id)
        )
    )


def action_view(row: m.InstanceAction) -> dict[str, Any]:
    return {
        "action": row.action,
        "instance_uuid": row.server_id,
        "request_id": row.request_id,
        "user_id": row.user_id,
        "project_id": row.project_id,
        "start_time": _time(row.start_time),
        "message": row.message,
    }


def _time(value: Any) -> str | None:
    if value is None:
        return None
    text: str = value.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return text
