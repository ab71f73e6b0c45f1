"""The agent's steps of interface attach and detach: the driver plugs or unplugs
the NIC of a running (or paused) instance; a stopped one gets it at its next start
from its ports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from nubo.compute import models as m
from nubo.compute.drivers.base import Nic, PowerState
from nubo.compute.operations import operation
from nubo.compute.server_interfaces import ATTACHING, DETACHING, release_port
from nubo.compute.server_operations import complete, failed, power_of
from nubo.network import models as nm

if TYPE_CHECKING:
    from nubo.compute.agent import ComputeAgent

LIVE = (int(PowerState.RUNNING), int(PowerState.PAUSED))


def _args_without(server: m.Server, key: str) -> dict[str, Any]:
    return {k: v for k, v in (server.task_args or {}).items() if k != key}


@operation(ATTACHING)
def attach_interface(agent: ComputeAgent, server: m.Server) -> None:
    port_id = str((server.task_args or {}).get("attach_port_id", ""))
    event = "compute_attach_interface"
    try:
        with agent.svc.db.reader() as s:
            port = s.get(nm.Port, port_id)
            if port is None or port.device_id != server.id:
                raise LookupError(f"Port {port_id} went away before it was attached.")
            network = s.get(nm.Network, port.network_id)
            nic = Nic(port.id, port.mac_address, network.mtu if network else 1450)
        if power_of(agent, server.id) in LIVE:
            agent.driver.attach_interface(agent.spec(server), nic, agent.plugger)
    except Exception as exc:
        requested: list[Any] = []

        def undo(s: Session) -> None:
            requested.extend(release_port(agent.svc, s, server, port_id))
            row = s.get(m.Server, server.id)
            if row is not None:
                row.requested_networks = requested

        failed(
            agent,
            server,
            "attach_interface",
            event,
            exc,
            extra=undo,
            task_args=_args_without(server, "attach_port_id"),
        )
        return
    complete(
        agent,
        server,
        ATTACHING,
        "attach_interface",
        (event,),
        task_args=_args_without(server, "attach_port_id"),
    )


@operation(DETACHING)
def detach_interface(agent: ComputeAgent, server: m.Server) -> None:
    port_id = str((server.task_args or {}).get("detach_port_id", ""))
    event = "compute_detach_interface"
    try:
        agent.driver.detach_interface(server.id, port_id, agent.plugger)
    except Exception as exc:
        failed(
            agent,
            server,
            "detach_interface",
            event,
            exc,
            task_args=_args_without(server, "detach_port_id"),
        )
        return

    def release(s: Session) -> None:
        requested = release_port(agent.svc, s, server, port_id)
        row = s.get(m.Server, server.id)
        if row is not None:
            row.requested_networks = requested

    complete(
        agent,
        server,
        DETACHING,
        "detach_interface",
        (event,),
        extra=release,
        task_args=_args_without(server, "detach_port_id"),
    )
