"""The compute agent: a level-triggered reconciler of one host's instances.

It polls the host's generation counter (and wakes at once on writes in this process),
and on each pass takes every server of this host that has a task under way to its
next step: ``networking`` (ports made and bound here), ``block_device_mapping``
(image cached, config drive written), ``spawning`` (the driver starts it), then
ACTIVE; ``deleting`` tears it down; other task states run the step registered in
``operations``. Long driver calls run in a small pool; every outcome is written with
a conditional update, so a delete that arrived meanwhile wins.

Deadlines: a task past its ``task_deadline`` ends (a build in ERROR with a fault),
so nothing stays in BUILD whatever process died. Every ``resync_seconds`` the agent
compares power states (an instance that died shows SHUTOFF), and at start it powers
on the instances whose desired state is running (reboot-safety) and removes
instances the database no longer has.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from nubo.compute import actions, hosts, scheduler, server_operations, servers, states
from nubo.compute import models as m
from nubo.compute.drivers.base import (
    ComputeDriver,
    DriverError,
    InstanceSpec,
    Nic,
    Plugger,
    PowerState,
)
from nubo.compute.operations import OPERATIONS
from nubo.compute.service import ComputeService
from nubo.db.base import utcnow
from nubo.errors import NuboError
from nubo.network import models as nm
from nubo.network import ports as net_ports
from nubo.network import security_groups as net_groups

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10
POLL_SECONDS = 0.5
BUILD_TASKS = (states.SCHEDULING, states.NETWORKING, states.BLOCK_DEVICE_MAPPING, states.SPAWNING)


class ComputeAgent:
    """Runs the host's reconcile loop (and, in ``nubo up``, the scheduler) in a thread."""

    def __init__(
        self,
        svc: ComputeService,
        driver: ComputeDriver,
        plugger: Plugger,
        *,
        schedule: bool = True,
        workers: int = 4,
    ) -> None:
        self.svc = svc
        self.driver = driver
        self.plugger = plugger
        self.host = svc.host
        self.schedule = schedule
        self.instances = svc.config.instances_path
        self.base = self.instances / "_base"
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="compute-task")
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # set when a worker finishes: the server may be ready for its next step
        self._redispatch = threading.Event()
        self._thread: threading.Thread | None = None
        self._image_locks: dict[str, threading.Lock] = {}

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        self.instances.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.register()
        server_operations.register(self)
        self._thread = threading.Thread(target=self.run, name="compute-agent", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.svc.wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def register(self) -> None:
        resources = self.driver.host_resources()
        with self.svc.db.session() as s:
            hosts.register_host(self.svc, s, self.host, resources, self.driver.name, "127.0.0.1")
        self.heartbeat()

    def heartbeat(self) -> None:
        with self.svc.db.session() as s:
            hosts.heartbeat(self.svc, s, self.host, "nova-compute")
            if self.schedule:
                hosts.heartbeat(self.svc, s, self.host, "nova-scheduler")
                hosts.heartbeat(self.svc, s, self.host, "nova-conductor")

    def run(self) -> None:
        resync = max(5, self.svc.config.compute.resync_seconds)
        last_heartbeat = time.monotonic()
        last_full = 0.0
        seen_generation = -1
        first = True
        while not self._stop.is_set():
            try:
                now = time.monotonic()
                if now - last_heartbeat >= HEARTBEAT_SECONDS:
                    self.heartbeat()
                    last_heartbeat = now
                if first:
                    self.recover()
                    first = False
                if self.schedule:
                    self.schedule_pending()
                with self.svc.db.reader() as s:
                    generation = self.svc.generation(s, self.host)
                self.expire_deadlines()
                redispatch = self._redispatch.is_set()
                if generation != seen_generation or redispatch or now - last_full >= resync:
                    seen_generation = generation
                    self._redispatch.clear()
                    self.dispatch()
                if now - last_full >= resync:
                    last_full = now
                    self.sync_power_states()
            except Exception:  # a bad pass must not end the loop
                log.exception("compute agent pass failed")
                self._stop.wait(2)
            self.svc.wakeup.wait(POLL_SECONDS)
            self.svc.wakeup.clear()

    # -- scheduling and dispatch -----------------------------------------------------

    def schedule_pending(self) -> None:
        for server_id in scheduler.pending(self.svc):
            try:
                scheduler.schedule(self.svc, server_id)
            except Exception:
                log.exception("scheduling server %s failed", server_id)

    def dispatch(self) -> None:
        """Start a worker for every server of this host with a task under way."""
        with self.svc.db.reader() as s:
            rows = list(
                s.execute(
                    select(m.Server.id, m.Server.task_state).where(
                        m.Server.host == self.host,
                        m.Server.task_state.isnot(None),
                        m.Server.task_state != states.SCHEDULING,
                    )
                )
            )
        for server_id, task_state in rows:
            self.submit(server_id, task_state)

    def submit(self, server_id: str, task_state: str) -> None:
        with self._lock:
            if server_id in self._busy:
                return
            self._busy.add(server_id)
        self._pool.submit(self._work, server_id, task_state)

    def _work(self, server_id: str, task_state: str) -> None:
        try:
            self.step(server_id)
        except Exception:
            log.exception("server %s: %s failed", server_id, task_state)
        finally:
            with self._lock:
                self._busy.discard(server_id)
            # the step may have moved the server on: look again soon
            self._redispatch.set()
            self.svc.wakeup.set()

    def load(self, server_id: str) -> m.Server | None:
        with self.svc.db.reader() as s:
            row: m.Server | None = s.get(m.Server, server_id)
            if row is not None:
                s.expunge(row)
            return row

    def step(self, server_id: str) -> None:
        """Take one server one step further along its task."""
        server = self.load(server_id)
        if server is None or server.host != self.host or server.task_state is None:
            return
        task = server.task_state
        if task == states.DELETING:
            self.delete(server)
        elif task == states.NETWORKING:
            self.networking(server)
        elif task == states.BLOCK_DEVICE_MAPPING:
            self.prepare_disks(server)
        elif task == states.SPAWNING:
            self.spawn(server)
        elif task in OPERATIONS:
            OPERATIONS[task](self, server)
        else:
            log.warning("server %s: no step for task state %s", server.id, task)

    # -- outcomes ------------------------------------------------------------------

    def advance(self, s: Session, server: m.Server, expect_task: str | None, **values: Any) -> bool:
        """Write ``values`` if the server is still in ``expect_task`` (nobody changed it)."""
        values.setdefault("updated_at", utcnow())
        result = s.execute(
            update(m.Server)
            .where(m.Server.id == server.id, m.Server.task_state == expect_task)
            .values(**values)
        )
        changed = bool(result.rowcount)  # type: ignore[attr-defined]
        if changed:
            self.svc.changed(s, self.host)
        return changed

    def finish(
        self,
        server: m.Server,
        expect_task: str,
        action: str,
        event: str,
        error: str | None = None,
        **values: Any,
    ) -> bool:
        """End a task: write the outcome and the action's event."""
        with self.svc.db.session() as s:
            values.setdefault("task_state", None)
            values.setdefault("task_deadline", None)
            done = self.advance(s, server, expect_task, **values)
            if done:
                actions.event(s, server.id, action, event, self.host, error)
            return done

    # -- build ---------------------------------------------------------------------

    def networking(self, server: m.Server) -> None:
        """Make and bind the server's ports on this host, in one transaction."""
        try:
            with self.svc.db.session() as s:
                row = s.get(m.Server, server.id, with_for_update=True)
                if row is None or row.task_state != states.NETWORKING:
                    return
                self.make_ports(s, row)
                row.task_state = states.BLOCK_DEVICE_MAPPING
                row.updated_at = utcnow()
                self.svc.changed(s, self.host)
        except NuboError as exc:
            self.build_failed(
                server,
                f"Build of instance {server.id} aborted: {exc.message}",
                retry=False,
                code=400,
            )

    def make_ports(self, s: Session, server: m.Server) -> None:
        network_svc = self.svc.network
        owner = f"compute:{server.availability_zone or self.svc.config.compute.availability_zone}"
        requested = server.requested_networks if isinstance(server.requested_networks, list) else []
        existing = {
            p.id: p for p in s.scalars(select(nm.Port).where(nm.Port.device_id == server.id))
        }
        group_ids = self.security_group_ids(s, server)
        for entry in requested:
            if entry.get("port"):
                port = s.get(nm.Port, entry["port"])
                if port is None:
                    raise DriverLikeError(f"Port {entry['port']} was deleted before the build.")
                if port.device_id and port.device_id != server.id:
                    raise DriverLikeError(f"Port {port.id} is in use by {port.device_id}.")
                port.device_id = server.id
                port.device_owner = owner
                port.binding_host_id = self.host
                net_ports.bind(port)
                network_svc.changed(s)
                continue
            if any(
                p.network_id == entry["uuid"] and p.id not in _user_ports(requested)
                for p in existing.values()
            ):
                continue  # made by an earlier attempt of this step
            network = s.get(nm.Network, entry["uuid"])
            if network is None:
                raise DriverLikeError(f"Network {entry['uuid']} was deleted before the build.")
            fixed = [{"ip_address": entry["fixed_ip"]}] if entry.get("fixed_ip") else None
            net_ports.new_port(
                network_svc,
                s,
                project_id=server.project_id,
                network=network,
                device_owner=owner,
                device_id=server.id,
                fixed_ips=fixed,
                security_group_ids=group_ids if network.port_security_enabled else [],
                binding_host_id=self.host,
                dns_name=server.hostname,
            )
        network_svc.changed(s)

    def security_group_ids(self, s: Session, server: m.Server) -> list[str]:
        ids: list[str] = []
        for name in server.security_groups or ["default"]:
            if name == "default":
                ids.append(net_groups.ensure_default(self.svc.network, s, server.project_id))
                continue
            row = s.scalars(
                select(nm.SecurityGroup).where(
                    nm.SecurityGroup.project_id == server.project_id,
                    (nm.SecurityGroup.name == name) | (nm.SecurityGroup.id == name),
                )
            ).first()
            if row is not None:
                ids.append(row.id)
        return ids

    def prepare_disks(self, server: m.Server) -> None:
        """Cache the image on this host and write the config drive."""
        try:
            self.cached_image(server.image_id)
            if server.config_drive:
                self.write_config_drive(server)
        except (OSError, DriverError, NuboError) as exc:
            self.build_failed(server, f"Build of instance {server.id} aborted: {exc}")
            return
        with self.svc.db.session() as s:
            self.advance(s, server, states.BLOCK_DEVICE_MAPPING, task_state=states.SPAWNING)

    def spawn(self, server: m.Server) -> None:
        try:
            spec = self.spec(server)
            self.driver.spawn(spec, self.plugger)
        except (OSError, DriverError, LookupError) as exc:
            log.warning("server %s: spawn failed: %s", server.id, exc)
            self.destroy_quietly(server.id)
            self.build_failed(server, f"Build of instance {server.id} aborted: {exc}")
            return
        now = utcnow()
        done = self.finish(
            server,
            states.SPAWNING,
            "create",
            "compute_build_and_run_instance",
            vm_state=states.ACTIVE,
            power_state=int(PowerState.RUNNING),
            launched_at=now,
            progress=100,
        )
        if not done:
            log.info("server %s changed while spawning; the next pass handles it", server.id)

    def build_failed(
        self, server: m.Server, message: str, retry: bool = True, code: int = 500
    ) -> None:
        """Retry the build on another host while retries last; else ERROR."""
        with self.svc.db.session() as s:
            row = s.get(m.Server, server.id, with_for_update=True)
            if row is None or row.task_state not in BUILD_TASKS:
                return
            attempted = [*row.attempted_hosts, self.host]
            others = [h.host for h in scheduler.host_states(self.svc, s) if h.host not in attempted]
            if retry and others and len(attempted) <= self.svc.config.compute.build_retries:
                self.release_ports(s, row)
                self.svc.placement.release(s, row.id)
                row.attempted_hosts = attempted
                row.host = None
                row.node = None
                row.task_state = states.SCHEDULING
                row.updated_at = utcnow()
                self.svc.changed(s, None)
                log.info(
                    "server %s: build failed on %s, rescheduling: %s", row.id, self.host, message
                )
                return
            scheduler.fail_build(s, row, message, code=code)
            self.svc.changed(s, self.host)

    def release_ports(self, s: Session, server: m.Server) -> None:
        user_ports = _user_ports(server.requested_networks)
        for port in s.scalars(select(nm.Port).where(nm.Port.device_id == server.id)):
            if port.id in user_ports:
                port.device_id = ""
                port.device_owner = ""
                port.binding_host_id = ""
                net_ports.bind(port)
            else:
                net_ports.remove_port(self.svc.network, s, port)
        self.svc.network.changed(s)

    # -- the instance's pieces ---------------------------------------------------------

    def cached_image(self, image_id: str) -> Path:
        """The image's data in this host's cache (a hard link into the store, or a copy)."""
        target = self.base / image_id
        lock = self._image_locks.setdefault(image_id, threading.Lock())
        with lock:
            if target.exists():
                return target
            self.base.mkdir(parents=True, exist_ok=True)
            source = self.svc.image.store.path(image_id)
            if not source.exists():
                raise DriverError(f"Image {image_id} has no data in the image store.")
            tmp = target.with_suffix(".part")
            try:
                os.link(source, tmp)
            except OSError:
                shutil.copyfile(source, tmp)
            os.replace(tmp, target)
            return target

    def config_drive_path(self, server_id: str) -> Path:
        return self.instances / server_id / "disk.config"

    def write_config_drive(self, server: m.Server) -> None:
        from nubo.compute import configdrive, metadata_content

        with self.svc.db.reader() as s:
            row = s.get(m.Server, server.id)
            if row is None:
                return
            tree = metadata_content.tree(metadata_content.load(s, row, self.svc.config))
        path = self.config_drive_path(server.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        configdrive.build_iso(tree, path)

    def spec(self, server: m.Server, flavor: dict[str, Any] | None = None) -> InstanceSpec:
        """What the driver needs to run ``server`` (with ``flavor``, e.g. a resize's new one)."""
        flavor = flavor or server.flavor
        with self.svc.db.reader() as s:
            ports = list(
                s.scalars(
                    select(nm.Port)
                    .where(nm.Port.device_id == server.id)
                    .order_by(nm.Port.created_at, nm.Port.id)
                )
            )
            mtus = {
                n.id: n.mtu
                for n in s.scalars(
                    select(nm.Network).where(nm.Network.id.in_({p.network_id for p in ports}))
                )
            }
        image = self.cached_image(server.image_id)
        meta = server.image_meta or {}
        drive = self.config_drive_path(server.id)
        extra = {**(meta.get("properties") or {}), **(flavor.get("extra_specs") or {})}
        rescue = (
            server.task_args.get("rescue_image_id")
            if server.vm_state == states.RESCUED or (server.task_state == states.RESCUING)
            else None
        )
        return InstanceSpec(
            id=server.id,
            hostname=server.hostname or server.name,
            vcpus=flavor["vcpus"],
            memory_mb=flavor["memory_mb"],
            root_gb=flavor["root_gb"],
            ephemeral_gb=flavor["ephemeral_gb"],
            swap_mb=flavor["swap_mb"],
            image_path=image,
            image_format=str(meta.get("disk_format") or "qcow2"),
            nics=tuple(Nic(p.id, p.mac_address, mtus.get(p.network_id, 1450)) for p in ports),
            config_drive=drive if server.config_drive and drive.exists() else None,
            extra={str(k): str(v) for k, v in extra.items()},
            rescue_image_path=self.cached_image(rescue) if rescue else None,
        )

    def destroy_quietly(self, server_id: str, keep_disks: bool = False) -> None:
        try:
            self.driver.destroy(server_id, self.plugger, keep_disks=keep_disks)
        except Exception:
            log.exception("server %s: destroy failed", server_id)

    # -- delete --------------------------------------------------------------------

    def delete(self, server: m.Server) -> None:
        self.driver.destroy(server.id, self.plugger)
        with self.svc.db.session() as s:
            row = s.get(m.Server, server.id, with_for_update=True)
            if row is None or row.task_state != states.DELETING:
                return
            servers.finish_delete(self.svc, s, row)
            self.svc.changed(s, self.host)

    # -- deadlines and power states ----------------------------------------------------

    def expire_deadlines(self) -> None:
        """End every task of this host (or unscheduled) that is past its deadline."""
        now = utcnow()
        with self.svc.db.reader() as s:
            late = list(
                s.scalars(
                    select(m.Server).where(
                        m.Server.task_deadline.isnot(None),
                        m.Server.task_deadline < now,
                        (m.Server.host == self.host) | m.Server.host.is_(None),
                    )
                )
            )
            s.expunge_all()
        for server in late:
            with self._lock:
                if server.id in self._busy:
                    continue
            self.expire(server)

    def expire(self, server: m.Server) -> None:
        task = server.task_state
        seconds = (
            self.svc.config.compute.build_timeout
            if task in BUILD_TASKS
            else self.svc.config.compute.action_timeout
        )
        message = f"The task {task} did not finish within {seconds} seconds."
        log.warning("server %s: %s", server.id, message)
        if task in BUILD_TASKS:
            if server.host == self.host:
                self.destroy_quietly(server.id)
            with self.svc.db.session() as s:
                row = s.get(m.Server, server.id, with_for_update=True)
                if row is not None and row.task_state == task:
                    scheduler.fail_build(
                        s, row, f"Build of instance {server.id} timed out: {message}"
                    )
                    self.svc.changed(s, self.host)
            return
        if task == states.DELETING:
            self.destroy_quietly(server.id)
            with self.svc.db.session() as s:
                row = s.get(m.Server, server.id, with_for_update=True)
                if row is not None and row.task_state == task:
                    servers.finish_delete(self.svc, s, row)
            return
        with self.svc.db.session() as s:
            if self.advance(s, server, task, task_state=None, task_deadline=None):
                actions.event(
                    s, server.id, _action_of(s, server.id), f"compute_{task}", self.host, message
                )

    def recover(self) -> None:
        """At start: instances that should run are started again; orphans are removed."""
        with self.svc.db.reader() as s:
            rows = list(
                s.scalars(
                    select(m.Server).where(
                        m.Server.host == self.host, m.Server.deleted_at.is_(None)
                    )
                )
            )
            s.expunge_all()
        known = {r.id for r in rows}
        try:
            present = self.driver.list_instances()
        except Exception:
            log.exception("listing instances failed")
            present = {}
        for orphan in set(present) - known:
            log.info("removing instance %s: the database no longer has it", orphan)
            self.destroy_quietly(orphan)
        for row in rows:
            if row.task_state is not None or row.vm_state not in (states.ACTIVE, states.PAUSED):
                continue
            if present.get(row.id) == PowerState.RUNNING:
                continue
            try:
                self.driver.power_on(self.spec(row), self.plugger)
                if row.vm_state == states.PAUSED:
                    self.driver.pause(row.id)
                log.info("server %s: started again after a restart", row.id)
            except Exception as exc:
                log.warning("server %s: could not start it again: %s", row.id, exc)

    def sync_power_states(self) -> None:
        """Record what really runs; an instance that died is SHUTOFF, not ACTIVE."""
        with self.svc.db.reader() as s:
            rows = list(
                s.execute(
                    select(m.Server.id, m.Server.vm_state, m.Server.power_state).where(
                        m.Server.host == self.host,
                        m.Server.deleted_at.is_(None),
                        m.Server.task_state.is_(None),
                    )
                )
            )
        for server_id, vm_state, recorded in rows:
            with self._lock:
                if server_id in self._busy:
                    continue
            try:
                actual = self.driver.power_state(server_id)
            except Exception:
                log.exception("server %s: reading its power state failed", server_id)
                continue
            values: dict[str, Any] = {}
            if int(actual) != recorded:
                values["power_state"] = int(actual)
            if vm_state == states.ACTIVE and actual in (
                PowerState.SHUTDOWN,
                PowerState.CRASHED,
                PowerState.NOSTATE,
            ):
                values["vm_state"] = states.STOPPED
                log.info("server %s stopped by itself: now SHUTOFF", server_id)
            if values:
                with self.svc.db.session() as s:
                    s.execute(
                        update(m.Server)
                        .where(m.Server.id == server_id, m.Server.task_state.is_(None))
                        .values(updated_at=utcnow(), **values)
                    )


class DriverLikeError(NuboError):
    """A build step found the world changed under it (a port or network went away)."""

    status = 409


def _user_ports(requested: Any) -> set[str]:
    if not isinstance(requested, list):
        return set()
    return {e["port"] for e in requested if isinstance(e, dict) and e.get("port")}


def _action_of(s: Session, server_id: str) -> str:
    row = actions.latest(s, server_id)
    return row.action if row else "unknown"
