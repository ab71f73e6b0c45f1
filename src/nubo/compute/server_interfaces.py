"""A server's addresses (``/ips``) and interfaces (``/os-interface``).

Attaching makes (or takes) the port here, bound to the server's host, and asks the
host's agent to plug it into the running instance (the ``attaching_interface`` task);
the request waits for the agent as Nova's does for the compute service, so the answer
says whether the attach worked. Detaching is asynchronous (202), as in Nova; a port
the server made goes with it, a port the user brought stays, unbound.
"""

from __future__ import annotations

import ipaddress
import time
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nubo.compute import actions, servers
from nubo.compute import models as m
from nubo.compute.access import Caller
from nubo.compute.server_actions import begin, start_task
from nubo.compute.server_views import addresses
from nubo.compute.service import ComputeService
from nubo.errors import BadRequest, Conflict, NotFound, NuboError
from nubo.network import models as nm
from nubo.network import networks as net_networks
from nubo.network import ports as net_ports
from nubo.network import security_groups as net_groups

ATTACHING = "attaching_interface"
DETACHING = "detaching_interface"
ATTACH_WAIT_SECONDS = 60.0


class InterfaceAttachFailed(NuboError):
    status = 500
    title = "Internal Server Error"


# -- ips ---------------------------------------------------------------------------------


def ips(
    svc: ComputeService, caller: Caller, server_id: str, network: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """The server's addresses by network name (Nova's ips view: version and addr)."""
    with svc.db.reader() as s:
        server = servers.find(s, caller, server_id)
        rule = "ips:show" if network is not None else "ips:index"
        caller.check(rule, {"project_id": server.project_id})
        found = addresses(s, [server.id]).get(server.id, {})
    result = {
        name: [{"version": a["version"], "addr": a["addr"]} for a in entries]
        for name, entries in found.items()
    }
    if network is not None:
        if network not in result:
            raise NotFound("Instance is not a member of specified network")
        return {network: result[network]}
    return result


# -- interface views ---------------------------------------------------------------------


def _fixed_ips(s: Session, port_ids: list[str]) -> dict[str, list[dict[str, str]]]:
    result: dict[str, list[dict[str, str]]] = {}
    for alloc in s.scalars(
        select(nm.IPAllocation)
        .where(nm.IPAllocation.port_id.in_(port_ids))
        .order_by(nm.IPAllocation.ip_address)
    ):
        result.setdefault(alloc.port_id, []).append(
            {"subnet_id": alloc.subnet_id, "ip_address": alloc.ip_address}
        )
    return result


def _tags(server: m.Server) -> dict[str, str]:
    requested = server.requested_networks if isinstance(server.requested_networks, list) else []
    return {
        e["port"]: e["tag"]
        for e in requested
        if isinstance(e, dict) and e.get("port") and e.get("tag")
    }


def _views(
    s: Session, server: m.Server, ports: list[nm.Port], with_tag: bool
) -> list[dict[str, Any]]:
    fixed = _fixed_ips(s, [p.id for p in ports])
    tags = _tags(server)
    result = []
    for port in ports:
        body: dict[str, Any] = {
            "net_id": port.network_id,
            "port_id": port.id,
            "mac_addr": port.mac_address,
            "port_state": port.status,
            "fixed_ips": fixed.get(port.id, []),
        }
        if with_tag:
            body["tag"] = tags.get(port.id)
        result.append(body)
    return result


def list_interfaces(
    svc: ComputeService, caller: Caller, server_id: str, with_tag: bool
) -> list[dict[str, Any]]:
    with svc.db.reader() as s:
        server = servers.find(s, caller, server_id)
        caller.check("os-attach-interfaces:list", {"project_id": server.project_id})
        ports = list(
            s.scalars(
                select(nm.Port)
                .where(nm.Port.device_id == server.id)
                .order_by(nm.Port.created_at, nm.Port.id)
            )
        )
        return _views(s, server, ports, with_tag)


def show_interface(
    svc: ComputeService, caller: Caller, server_id: str, port_id: str, with_tag: bool
) -> dict[str, Any]:
    with svc.db.reader() as s:
        server = servers.find(s, caller, server_id)
        caller.check("os-attach-interfaces:show", {"project_id": server.project_id})
        port = s.get(nm.Port, port_id)
        if port is None or port.device_id != server.id:
            raise NotFound(f"Instance {server.id} does not have a port with id {port_id}")
        return _views(s, server, [port], with_tag)[0]


# -- attach, detach ----------------------------------------------------------------------


def _group_ids(svc: ComputeService, s: Session, server: m.Server) -> list[str]:
    """The ids of the server's security groups (by name, as the server records them)."""
    ids: list[str] = []
    for name in server.security_groups or ["default"]:
        if name == "default":
            ids.append(net_groups.ensure_default(svc.network, s, server.project_id))
            continue
        row = s.scalar(
            select(nm.SecurityGroup).where(
                nm.SecurityGroup.project_id == server.project_id,
                (nm.SecurityGroup.name == name) | (nm.SecurityGroup.id == name),
            )
        )
        if row is not None:
            ids.append(row.id)
    return list(dict.fromkeys(ids))


def _owner(svc: ComputeService, server: m.Server) -> str:
    return f"compute:{server.availability_zone or svc.config.compute.availability_zone}"


def _network(s: Session, server: m.Server, net_id: str | None) -> nm.Network:
    ncaller = servers.network_caller(server.project_id)
    if net_id:
        try:
            uuid.UUID(net_id)
            return net_networks.find(s, ncaller, net_id)
        except (ValueError, NotFound):
            raise NotFound(f"Network {net_id} could not be found.") from None
    try:
        found = servers.resolve_auto_network(s, server.project_id)
    except Conflict as exc:
        raise BadRequest(exc.message) from None
    if not found:
        raise BadRequest(
            f"Failed to attach network adapter device to {server.id}: no network is available."
        )
    network = s.get(nm.Network, found[0]["uuid"])
    assert network is not None
    return network


def attach(
    svc: ComputeService,
    caller: Caller,
    server_id: str,
    *,
    net_id: str | None,
    port_id: str | None,
    fixed_ip: str | None,
    tag: str | None,
) -> str:
    """Attach a port (given, or made on ``net_id``); returns the port's id once the
    host's agent plugged it (or the wait ran out: it will be plugged)."""
    if net_id and port_id:
        raise BadRequest("Must not input both network_id and port_id")
    if fixed_ip and not net_id:
        raise BadRequest("Must input network_id when request IP address")
    if fixed_ip:
        try:
            ipaddress.ip_address(fixed_ip)
        except ValueError:
            raise BadRequest(f"Invalid fixed IP address ({fixed_ip})") from None
    with svc.db.session() as s:
        server = begin(s, caller, server_id, "os-attach-interfaces:create", "attach_interface")
        if not server.host:
            raise Conflict(f"Instance {server.id} is not ready")
        requested = [e for e in server.requested_networks or [] if isinstance(e, dict)]
        if port_id:
            port = s.get(nm.Port, port_id)
            if port is None or not (caller.is_admin or port.project_id == server.project_id):
                raise NotFound(f"Port id {port_id} could not be found.")
            if port.device_id:
                raise Conflict(f"Port {port_id} is still in use.")
            port.device_id = server.id
            port.device_owner = _owner(svc, server)
            port.binding_host_id = server.host
            net_ports.bind(port)
            entry: dict[str, Any] = {"port": port.id, "uuid": port.network_id}
            if tag:
                entry["tag"] = tag
            server.requested_networks = [*requested, entry]
            svc.network.changed(s)
        else:
            network = _network(s, server, net_id)
            port = net_ports.new_port(
                svc.network,
                s,
                project_id=server.project_id,
                network=network,
                device_owner=_owner(svc, server),
                device_id=server.id,
                fixed_ips=[{"ip_address": fixed_ip}] if fixed_ip else None,
                security_group_ids=(
                    _group_ids(svc, s, server) if network.port_security_enabled else []
                ),
                binding_host_id=server.host,
                dns_name=server.hostname,
            )
        attached = port.id
        start_task(svc, s, caller, server, "attach_interface", ATTACHING, attach_port_id=attached)
    _wait(svc, caller, server_id)
    return attached


def _wait(svc: ComputeService, caller: Caller, server_id: str) -> None:
    """Until the agent ended the attach; its error becomes this request's."""
    deadline = time.monotonic() + min(ATTACH_WAIT_SECONDS, svc.config.compute.action_timeout)
    while time.monotonic() < deadline:
        with svc.db.reader() as s:
            row = s.get(m.Server, server_id)
            if row is None or row.task_state != ATTACHING:
                action = actions.latest(s, server_id, "attach_interface")
                events = actions.events_of(s, action.id) if action is not None else []
                errors = [e for e in events if e.result == "Error"]
                if errors and action is not None and action.request_id == caller.request_id:
                    raise InterfaceAttachFailed(
                        f"Failed to attach network adapter device to {server_id}: "
                        f"{errors[-1].details or 'the host could not plug it'}"
                    )
                return
        time.sleep(0.1)


def detach(svc: ComputeService, caller: Caller, server_id: str, port_id: str) -> None:
    with svc.db.session() as s:
        server = begin(s, caller, server_id, "os-attach-interfaces:delete", "detach_interface")
        port = s.get(nm.Port, port_id)
        if port is None or port.device_id != server.id:
            raise NotFound(f"Port id {port_id} could not be found.")
        start_task(svc, s, caller, server, "detach_interface", DETACHING, detach_port_id=port.id)


def release_port(svc: ComputeService, s: Session, server: m.Server, port_id: str) -> list[Any]:
    """Take a port off the server: a port the user brought is unbound and kept, one
    the server made is deleted. Returns the server's requested networks without it."""
    requested = [e for e in server.requested_networks or [] if isinstance(e, dict)]
    user_ports = {e.get("port") for e in requested}
    port = s.get(nm.Port, port_id)
    if port is not None and port.device_id == server.id:
        if port.id in user_ports:
            port.device_id = ""
            port.device_owner = ""
            port.binding_host_id = ""
            net_ports.bind(port)
        else:
            net_ports.remove_port(svc.network, s, port)
    svc.network.changed(s)
    return [e for e in requested if e.get("port") != port_id]
