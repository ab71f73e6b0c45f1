"""Deferred delete (``restore`` and ``forceDelete`` server actions).

Nova keeps a deleted server in ``soft-delete`` for ``reclaim_instance_interval``
seconds when that is set; nubo deletes at once (Nova's default of 0), so no server
is ever soft-deleted: ``restore`` finds every server in a state it cannot restore
from (409), and ``forceDelete`` is an immediate delete that runs even while another
delete is under way.
"""

from __future__ import annotations

from nubo.compute import servers
from nubo.compute.access import Caller
from nubo.compute.server_actions import invalid_state, load
from nubo.compute.service import ComputeService


def restore(svc: ComputeService, caller: Caller, server_id: str) -> None:
    """Only a soft-deleted server can be restored (never one here): 409."""
    with svc.db.reader() as s:
        server = load(s, caller, server_id, "os-deferred-delete:restore", for_update=False)
        servers.check_unlocked(caller, server)
        raise invalid_state(server, "restore", "vm_state", server.vm_state)


def force_delete(svc: ComputeService, caller: Caller, server_id: str) -> None:
    with svc.db.reader() as s:
        load(s, caller, server_id, "os-deferred-delete:force", for_update=False)
    servers.delete_server(svc, caller, server_id, force=True)
