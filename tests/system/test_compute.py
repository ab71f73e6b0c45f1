"""Compute end to end: the real API, the compute and network agents inside ``nubo up``,
the Linux dataplane and a real instance driver, driven with openstacksdk like a user.

One ``nubo up --detach`` per driver (``container``, then ``qemu``: TCG unless KVM runs
guests here), each with its own data dir, loopback port and the Linux network driver;
nubo-tiny is registered with ``nubo image build tiny``. As demo, the tests boot a
server with a key pair and user-data on ``private``, give it a floating IP on
``public``, open TCP 22 and ICMP in the default group, and reach it from a test
namespace on ``public`` (computelab.ComputeCloud.attach_outside): SSH runs a command,
the user-data's output is in the console log and its file in the guest; stop, start
and reboot keep the address; a snapshot boots a second server; a removed rule closes
port 22 while ICMP goes on; nubo restarted (SIGTERM) leaves the server running and
reachable, nubo killed (SIGKILL) during a build leaves no server in BUILD; a delete
leaves no process, device, file, namespace, cgroup or allocation, and the address it
frees serves the next server (DHCP lease, SSH); ``nubo down --purge`` leaves nothing.

Tests never assert timings; every wait polls a condition until a deadline, and the
boot times are printed.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from nubo.image.guest import (
    STARTING_MARKER,
    USER_DATA_ALREADY_RAN_MARKER,
    USER_DATA_RAN_MARKER,
)
from nubo.network.dataplane.netns import list_namespaces
from nubo.network.dataplane.spec import DATAPLANE_NS, link_name

from .computelab import (
    ComputeCloud,
    dataplane_busy,
    instance_cgroup_exists,
    instance_netns,
    instance_pids,
    namespaces,
    sh,
    wait_for,
)
from .conftest import need_tools

pytestmark = [pytest.mark.root, pytest.mark.timeout(2400)]

DRIVERS = ("container", "qemu")
FLAVOR = "42"  # m1.nano: 128 MB, nubo-tiny's min_ram
# deadlines: to ACTIVE, and from ACTIVE to SSH (a TCG guest boots slowly on 2 cores)
ACTIVE_WAIT = {"container": 180.0, "qemu": 300.0}
SSH_WAIT = {"container": 180.0, "qemu": 900.0}
DHCP_WAIT = {"container": 120.0, "qemu": 300.0}  # from ACTIVE to the guest's lease
BUILD_TIMEOUT = 90  # NUBO_COMPUTE_BUILD_TIMEOUT of the clouds


@dataclass
class Vm:
    id: str
    name: str
    fixed_ip: str
    fip: str


@dataclass
class World:
    """One driver's cloud and what the tests made in it."""

    cloud: ComputeCloud
    driver: str
    image_id: str
    key: Path
    tag: str
    network_id: str
    public_id: str
    rules: dict[str, str]
    vms: dict[str, Vm] = field(default_factory=dict)
    freed: list[str] = field(default_factory=list)  # fixed addresses of deleted servers

    @property
    def active_wait(self) -> float:
        return ACTIVE_WAIT[self.driver]

    @property
    def ssh_wait(self) -> float:
        return SSH_WAIT[self.driver]

    def create(self, name: str, image_id: str | None = None, user_data: str = "") -> Any:
        attrs: dict[str, Any] = {
            "name": name,
            "image_id": image_id or self.image_id,
            "flavor_id": FLAVOR,
            "networks": [{"uuid": self.network_id}],
            "key_name": "k",
        }
        if user_data:
            attrs["user_data"] = base64.b64encode(user_data.encode()).decode()
        server = self.cloud.demo.compute.create_server(**attrs)
        self.cloud.server_ids.append(server.id)
        return server

    def boot(self, name: str, image_id: str | None = None, user_data: str = "") -> Vm:
        """Create, wait until ACTIVE, give it a floating IP and wait until SSH works."""
        c = self.cloud
        start = time.monotonic()
        server = self.create(name, image_id, user_data)
        active = c.wait_status(server.id, "ACTIVE", self.active_wait)
        to_active = time.monotonic() - start
        port = c.server_port(server.id)
        fip = c.demo.network.create_ip(floating_network_id=self.public_id, port_id=port.id)
        vm = Vm(server.id, name, fixed_address(active), fip.floating_ip_address)
        assert vm.fixed_ip == port.fixed_ips[0]["ip_address"]
        c.wait_ssh(vm.fip, self.key, self.ssh_wait)
        print(
            f"\n{self.driver}: {name} ACTIVE after {to_active:.1f} s, "
            f"SSH after {time.monotonic() - start:.1f} s"
        )
        self.vms[name] = vm
        return vm

    def console(self, server_id: str) -> str:
        out = self.cloud.demo.compute.get_server_console_output(server_id)
        return str(out["output"])


def fixed_address(server: Any) -> str:
    (entries,) = server.addresses.values()
    (entry,) = [e for e in entries if e.get("OS-EXT-IPS:type") == "fixed"]
    return str(entry["addr"])


def driver_blocker(driver: str) -> str:
    if driver == "container":
        from nubo.compute.drivers.container import ContainerComputeDriver

        ok, why = ContainerComputeDriver.available(None)
        return "" if ok else f"containers cannot run here: {why}"
    return ""


@pytest.fixture(scope="module", params=DRIVERS)
def world(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    tiny_image: Path,
    ssh_key: Path,
) -> Iterator[World]:
    driver: str = request.param
    need_tools({"nft": "nftables", "busybox": "busybox-static", "bridge": "iproute2"})
    if busy := dataplane_busy():
        pytest.skip(f"{busy}; the test would purge it")
    if blocker := driver_blocker(driver):
        pytest.skip(blocker)
    cloud = ComputeCloud(
        tmp_path_factory.mktemp(f"compute-{driver}"), driver, build_timeout=BUILD_TIMEOUT
    )
    try:
        cloud.up()
        cloud.connect()
        image_id = cloud.register_tiny(tiny_image)
        cloud.demo.compute.create_keypair(
            name="k", public_key=ssh_key.with_suffix(".pub").read_text()
        )
        rules = cloud.open_default_group()
        cloud.attach_outside()
        private = cloud.demo.network.find_network("private", ignore_missing=False)
        public = cloud.demo.network.find_network("public", ignore_missing=False)
        yield World(cloud, driver, image_id, ssh_key, cloud.tag, private.id, public.id, rules)
    finally:
        cloud.close()


@pytest.fixture(scope="module")
def vm1(world: World) -> Vm:
    script = (
        "#!/bin/sh\n"
        f"echo user-data-{world.tag} ran as $(id -u)\n"
        f"echo {world.tag} > /root/user-data-proof\n"
    )
    return world.boot("vm1", user_data=script)


# -- tests -------------------------------------------------------------------------


def test_a_server_boots_runs_its_user_data_and_answers_ssh(world: World, vm1: Vm) -> None:
    c = world.cloud
    server = c.demo.compute.get_server(vm1.id)
    assert server.key_name == "k"
    assert server.power_state == 1
    out = c.ssh(vm1.fip, world.key, "hostname; cat /root/user-data-proof; ip -4 -o addr show")
    lines = out.splitlines()
    assert lines[0] == "vm1", out
    assert lines[1] == world.tag, out  # the user-data's effect, in the guest
    assert f" {vm1.fixed_ip}/" in out  # the guest holds the port's fixed address
    marker = f"user-data-{world.tag} ran as 0"
    console = wait_for(
        "the user-data's output in the console log", lambda: marker_in(world, vm1, marker), 120
    )
    assert USER_DATA_RAN_MARKER + "0" in console


def marker_in(world: World, vm: Vm, marker: str) -> str:
    console = world.console(vm.id)
    return console if marker in console else ""


def test_stop_start_and_reboot_keep_the_address(world: World, vm1: Vm) -> None:
    c = world.cloud
    compute = c.demo.compute
    boots = world.console(vm1.id).count(STARTING_MARKER)
    assert boots >= 1

    compute.stop_server(vm1.id)
    stopped = c.wait_status(vm1.id, "SHUTOFF", world.active_wait)
    assert stopped.power_state == 4  # SHUTDOWN
    assert fixed_address(stopped) == vm1.fixed_ip
    assert not instance_pids(vm1.id), "the instance still runs after stop"
    assert not c.tcp_connects(vm1.fip, 22)

    compute.start_server(vm1.id)
    started = c.wait_status(vm1.id, "ACTIVE", world.active_wait)
    assert fixed_address(started) == vm1.fixed_ip
    c.wait_ssh(vm1.fip, world.key, world.ssh_wait)
    out = c.ssh(vm1.fip, world.key, "cat /root/user-data-proof; ip -4 -o addr show")
    assert out.splitlines()[0] == world.tag  # the disk kept it
    assert f" {vm1.fixed_ip}/" in out
    console = world.console(vm1.id)
    assert console.count(STARTING_MARKER) == boots + 1
    assert USER_DATA_ALREADY_RAN_MARKER in console

    compute.reboot_server(vm1.id, "SOFT")
    wait_for(
        "a third boot in the console",
        lambda: world.console(vm1.id).count(STARTING_MARKER) >= boots + 2,
        world.ssh_wait,
        2,
    )
    rebooted = c.wait_status(vm1.id, "ACTIVE", world.active_wait)
    assert fixed_address(rebooted) == vm1.fixed_ip
    c.wait_ssh(vm1.fip, world.key, world.ssh_wait)
    out = c.ssh(vm1.fip, world.key, "ip -4 -o addr show")
    assert f" {vm1.fixed_ip}/" in out
    # the user-data ran at the first boot only
    assert world.console(vm1.id).count(f"user-data-{world.tag} ran as 0") == 1


def test_a_snapshot_boots_a_second_server(world: World, vm1: Vm) -> None:
    c = world.cloud
    proof = f"snapshot-{world.tag}"
    c.ssh(vm1.fip, world.key, f"echo {proof} > /root/snapshot-proof; sync")
    image = c.demo.compute.create_server_image(vm1.id, name=f"vm1-snapshot-{world.tag}")

    def image_active() -> bool:
        status = c.demo.image.get_image(image.id).status
        assert status not in ("killed", "deleted", "deactivated"), f"snapshot {status}"
        return status == "active"

    wait_for("the snapshot image active", image_active, 600, 2)
    assert c.wait_status(vm1.id, "ACTIVE", world.active_wait)

    vm2 = world.boot("vm2", image_id=image.id)
    out = c.ssh(vm2.fip, world.key, "hostname; cat /root/snapshot-proof /root/user-data-proof")
    assert out.splitlines() == ["vm2", proof, world.tag], out
    assert vm2.fixed_ip != vm1.fixed_ip


def test_removing_the_ssh_rule_closes_port_22_but_not_icmp(world: World, vm1: Vm) -> None:
    c = world.cloud
    net = c.demo.network
    wait_for("port 22 open", lambda: c.tcp_connects(vm1.fip, 22), 60)
    assert wait_for("ping the floating IP", lambda: c.ping(vm1.fip), 60)
    group = net.find_security_group("default", ignore_missing=False)
    net.delete_security_group_rule(world.rules["tcp"])
    try:
        wait_for("port 22 closed", lambda: not c.tcp_connects(vm1.fip, 22), 60)
        assert not c.tcp_connects(vm1.fip, 22)
        assert not c.ssh_works(vm1.fip, world.key)
        assert c.ping(vm1.fip), "ICMP stopped with the TCP rule"
    finally:
        rule = net.create_security_group_rule(
            security_group_id=group.id,
            direction="ingress",
            ethertype="IPv4",
            protocol="tcp",
            port_range_min=22,
            port_range_max=22,
            remote_ip_prefix="0.0.0.0/0",
        )
        world.rules["tcp"] = rule.id
    wait_for("port 22 open again", lambda: c.tcp_connects(vm1.fip, 22), 60)


def test_a_nubo_restart_leaves_an_active_server_running(world: World, vm1: Vm) -> None:
    c = world.cloud
    before = sorted(instance_pids(vm1.id))
    assert before, "vm1 has no process"
    c.restart(signal.SIGTERM)
    # no API call to the server: it runs (or runs again) with the same address
    server = c.wait_status(vm1.id, "ACTIVE", world.active_wait)
    assert fixed_address(server) == vm1.fixed_ip
    c.wait_ssh(vm1.fip, world.key, world.ssh_wait)
    out = c.ssh(vm1.fip, world.key, "cat /root/user-data-proof; ip -4 -o addr show")
    assert out.splitlines()[0] == world.tag
    assert f" {vm1.fixed_ip}/" in out
    after = sorted(instance_pids(vm1.id))
    print(f"\n{world.driver}: instance processes {before} before the restart, {after} after")


def test_a_build_interrupted_by_a_killed_nubo_ends_active_or_error(world: World) -> None:
    c = world.cloud
    server = world.create("vm3")
    created = time.monotonic()
    c.stop(signal.SIGKILL)  # right after create returned
    killed_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    c.up()
    seen: list[str] = []

    def settled() -> Any:
        now = c.demo.compute.get_server(server.id)
        if not seen or seen[-1] != now.status:
            seen.append(now.status)
        return now if now.status in ("ACTIVE", "ERROR") and not now.task_state else None

    final = wait_for("vm3 out of BUILD", settled, BUILD_TIMEOUT + 90, 1)
    launched = final.launched_at and dt.datetime.fromisoformat(final.launched_at)
    by = "the restarted nubo" if launched and launched > killed_at else "the killed nubo"
    print(
        f"\n{world.driver}: interrupted build -> {final.status} after "
        f"{time.monotonic() - created:.1f} s (statuses {seen}; launched by {by})"
    )
    if final.status == "ERROR":
        assert final.fault and final.fault.get("message"), final.fault
        assert wait_for("no process of the failed build", lambda: not instance_pids(server.id), 60)
    else:
        assert instance_pids(server.id)
    time.sleep(5)
    assert c.demo.compute.get_server(server.id).status == final.status


def test_delete_leaves_nothing_behind(world: World) -> None:
    c = world.cloud
    left = [s for s in c.demo.compute.servers() if s.id in c.server_ids]
    assert left, "no server to delete"
    devices: dict[str, list[str]] = {}
    for server in left:
        ports = [p.id for p in c.admin.network.ports(device_id=server.id)]
        devices[server.id] = [link_name("t", port_id) for port_id in ports]
        world.freed += [
            a["addr"]
            for entries in server.addresses.values()
            for a in entries
            if a.get("OS-EXT-IPS:type") == "fixed"
        ]
        if server.status != "ERROR":
            assert ports and instance_pids(server.id), f"{server.name} is not running"
            assert set(devices[server.id]) <= set(dp_links()), f"{server.name}: no device"
            assert (c.instances_dir / server.id).exists()
        c.demo.compute.delete_server(server.id)
    for server in left:
        c.wait_gone(server.id)
    present = dp_links()
    for server in left:
        assert not instance_pids(server.id), f"{server.name}: a process is left"
        assert not set(devices[server.id]) & set(present), f"{server.name}: its device is left"
        assert not (c.instances_dir / server.id).exists(), f"{server.name}: files are left"
        assert c.allocations(server.id) == {}, f"{server.name}: placement allocations left"
        assert not list(c.admin.network.ports(device_id=server.id)), f"{server.name}: ports left"
        assert instance_netns(server.id) not in namespaces(), f"{server.name}: namespace left"
        assert not instance_cgroup_exists(server.id), f"{server.name}: its cgroup is left"


def dnsmasq_said(world: World, address: str) -> str:
    """The last lines of the private network's dnsmasq log that name address."""
    log = world.cloud.data_dir / "network" / world.network_id / "dnsmasq.log"
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join([line for line in lines if address in line][-3:])


def dp_links() -> list[str]:
    """The links in the dataplane namespace (taps and veth ends of instances)."""
    out = sh("ip", "-n", DATAPLANE_NS, "-j", "link", "show").stdout
    return [link["ifname"] for link in json.loads(out or "[]")]


def test_an_address_freed_by_a_delete_serves_the_next_server(world: World) -> None:
    """The next server gets the lowest free address, often a deleted server's: its
    guest must still get that address by DHCP and answer SSH."""
    assert world.freed, "test_delete_leaves_nothing_behind frees the addresses"
    c = world.cloud
    server = world.create("vm4")
    try:
        active = c.wait_status(server.id, "ACTIVE", world.active_wait)
        address = fixed_address(active)
        print(f"\n{world.driver}: vm4 has {address}; freed by deletes: {world.freed}")
        leased = f"dhcp eth0 ip={address}/"
        try:
            wait_for(
                f"vm4's DHCP lease of {address} in its console",
                lambda: leased in world.console(server.id),
                DHCP_WAIT[world.driver],
                2,
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}; dnsmasq says:\n{dnsmasq_said(world, address)}") from None
        port = c.server_port(server.id)
        fip = c.demo.network.create_ip(floating_network_id=world.public_id, port_id=port.id)
        c.wait_ssh(fip.floating_ip_address, world.key, world.ssh_wait)
        out = c.ssh(fip.floating_ip_address, world.key, "hostname; ip -4 -o addr show")
        assert out.splitlines()[0] == "vm4"
        assert f" {address}/" in out
    finally:
        c.demo.compute.delete_server(server.id, ignore_missing=True)
        c.wait_gone(server.id)


def test_down_purge_leaves_nothing(world: World) -> None:
    c = world.cloud
    proc = c.down(purge=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not c.pid_alive()
    assert not list_namespaces()
    assert not [ns for ns in namespaces() if ns.startswith("nubo-inst-")]
    assert c.remove_leftovers() == []
