"""Compute figures, next to OpenStack's published Rally figures.

Starts its own `nubo up` for each part (SQLite, its own data dir and loopback port):

(a) the fake compute and network drivers: ``--servers`` servers (1,000) created by
    ``--clients`` concurrent clients (10 threads, one httpx client each, raw HTTP with
    a token, ``networks: none``): the create call's latency, each server's time from
    its create call to ACTIVE (seen by a poller listing ``status=ACTIVE`` servers),
    the time until all are ACTIVE and the boots per second that makes;
(b) as root, with the Linux dataplane: the container and QEMU drivers (TCG unless
    KVM runs guests here) booting nubo-tiny on demo's ``private`` network, one at a
    time: create call to ACTIVE, and to the guest's SSH banner, read from inside the
    network's DHCP namespace (``nubo-dhcp-<network id>``); the servers stay until the
    driver's last boot, so every boot has a fresh address.

(b) is skipped, saying why, when not root, when tools are missing or another nubo
dataplane runs here. Every packet stays inside nubo's namespaces; the servers are
deleted, `nubo down --purge` runs and anything of the instances still left is
removed (tests/system/computelab.py). Prints a table and exits 0.

    .venv/bin/python bench/compute.py [--servers 1000] [--clients 10]
        [--container-boots 5] [--qemu-boots 3] [--networks none|auto] [--skip-real]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from clouds import password_token

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "system"))  # computelab: the tests' own cloud

from computelab import ComputeCloud, dataplane_busy  # noqa: E402

GUEST_CACHE = ROOT / "build" / "guest-cache"  # shared with the system tests
FLAVOR = "42"  # m1.nano
# OpenStack's published Rally figures, as quoted in the issue
RALLY_ACTIVE = "12-13 s mean (concurrency 5)"
RALLY_RATE = "~1.5 boots/s before failures"


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def wait(what: str, condition: Callable[[], Any], timeout: float, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not after {timeout:.0f} s")
        time.sleep(step)


def api(cloud: ComputeCloud, tok: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://127.0.0.1:{cloud.port}",
        headers={"X-Auth-Token": tok},
        timeout=300,
    )


def call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    r = client.request(method, path, **kwargs)
    if r.status_code >= 400:
        raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:300]}")
    return r.json() if r.content else None


# -- (a) the fake driver at scale ----------------------------------------------------


def listed(client: httpx.Client, status: str) -> list[str]:
    """Ids of every server in ``status`` (all pages)."""
    ids: list[str] = []
    marker = ""
    while True:
        query = f"/compute/v2.1/servers?status={status}&limit=1000"
        page = call(client, "GET", query + (f"&marker={marker}" if marker else ""))["servers"]
        ids += [s["id"] for s in page]
        if len(page) < 1000:
            return ids
        marker = page[-1]["id"]


def bench_fake(workdir: Path, servers: int, clients: int, networks: str) -> dict[str, Any]:
    cloud = ComputeCloud(workdir / "fake", "fake", network_driver="fake", build_timeout=1800)
    try:
        say("starting nubo (fake compute and network drivers) ...")
        cloud.up()
        tok, project = password_token(cloud.data_dir, "nubo")
        with api(cloud, tok) as admin:
            quota = {"quota_set": {"instances": -1, "cores": -1, "ram": -1}}
            call(admin, "PUT", f"/compute/v2.1/os-quota-sets/{project}", json=quota)
            if networks == "auto":
                net = {"quota": {"port": -1}}
                call(admin, "PUT", f"/network/v2.0/quotas/{project}", json=net)
            image = call(
                admin,
                "POST",
                "/image/v2/images",
                json={
                    "name": "bench-image",
                    "disk_format": "raw",
                    "container_format": "bare",
                    "visibility": "public",
                },
            )
            call(
                admin,
                "PUT",
                f"/image/v2/images/{image['id']}/file",
                content=b"\0" * 65536,
                headers={"Content-Type": "application/octet-stream"},
            )
        created: dict[str, float] = {}  # server id -> its create call's start
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        per_client = [servers // clients + (i < servers % clients) for i in range(clients)]

        def client_run(index: int, count: int) -> None:
            with api(cloud, tok) as client:
                for n in range(count):
                    body = {
                        "server": {
                            "name": f"bench-{index}-{n}",
                            "imageRef": image["id"],
                            "flavorRef": FLAVOR,
                            "networks": networks,
                        }
                    }
                    start = time.monotonic()
                    r = client.post(
                        "/compute/v2.1/servers",
                        json=body,
                        headers={"OpenStack-API-Version": "compute 2.37"},
                    )
                    took = time.monotonic() - start
                    with lock:
                        if r.status_code != 202:
                            errors.append(f"{r.status_code} {r.text[:200]}")
                            continue
                        created[r.json()["server"]["id"]] = start
                        latencies.append(took)

        active_at: dict[str, float] = {}
        failed: set[str] = set()
        done = threading.Event()

        def poll() -> None:
            with api(cloud, tok) as client:
                rounds = 0
                while not done.is_set():
                    ids = listed(client, "ACTIVE")
                    now = time.monotonic()
                    for server_id in ids:
                        active_at.setdefault(server_id, now)
                    if rounds % 5 == 0 or len(active_at) == len(created):
                        failed.update(listed(client, "ERROR"))
                    rounds += 1
                    time.sleep(0.5)

        say(f"creating {servers} servers with {clients} clients ...")
        threads = [
            threading.Thread(target=client_run, args=(i, n), daemon=True)
            for i, n in enumerate(per_client)
        ]
        poller = threading.Thread(target=poll, daemon=True)
        first = time.monotonic()
        poller.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        calls_done = time.monotonic()
        try:
            wait(
                f"{len(created)} servers ACTIVE or ERROR",
                lambda: set(created) <= set(active_at) | failed,
                1800,
                0.25,
            )
        finally:
            done.set()
            poller.join(timeout=60)
        last = max((active_at[i] for i in created if i in active_at), default=first)
        boots = [active_at[i] - created[i] for i in created if i in active_at]
        return {
            "create": latencies,
            "to_active": boots,
            "all_active": last - first,
            "calls": calls_done - first,
            "active": len(boots),
            "errors": len(errors) + len(failed & set(created)),
            "api_errors": errors[:3],
        }
    except BaseException:
        say(cloud.log())
        raise
    finally:
        say("nubo down --purge ...")
        cloud.close()


# -- (b) real instances -----------------------------------------------------------------


def real_blocker(driver: str) -> str:
    if os.geteuid() != 0:
        return "not root"
    tools = ["ip", "nft", "dnsmasq", "busybox", "qemu-img", "genisoimage"]
    if driver == "qemu":
        tools.append("qemu-system-x86_64")
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        return f"missing {', '.join(missing)}"
    if busy := dataplane_busy():
        return str(busy)
    if driver == "container":
        from nubo.compute.drivers.container import ContainerComputeDriver

        ok, why = ContainerComputeDriver.available(None)
        if not ok:
            return why
    return ""


def banner(ns: str, ip: str) -> bool:
    """The SSH identification string comes from ip:22 (read inside namespace ns)."""
    from nubo.network.dataplane.netns import in_namespace

    def read() -> bool:
        try:
            with socket.create_connection((ip, 22), timeout=1) as s:
                s.settimeout(2)
                return s.recv(64).startswith(b"SSH-")
        except OSError:
            return False

    return in_namespace(ns, read)


def bench_real(workdir: Path, driver: str, boots: int) -> dict[str, Any]:
    from nubo.image.guest import build_tiny

    cloud = ComputeCloud(workdir / driver, driver, build_timeout=600)
    try:
        tiny = build_tiny(GUEST_CACHE, say)
        say(f"starting nubo ({driver} driver, Linux dataplane) ...")
        cloud.up()
        cloud.connect()
        image_id = cloud.register_tiny(tiny)
        cloud.open_default_group()  # TCP 22 (and ICMP) from anywhere, the DHCP port too
        private = cloud.demo.network.find_network("private", ignore_missing=False)
        ns = f"nubo-dhcp-{private.id}"
        tok, _ = password_token(cloud.data_dir, "nubo-demo")
        to_active: list[float] = []
        to_banner: list[float] = []
        with api(cloud, tok) as client:
            for n in range(boots):
                body = {
                    "server": {
                        "name": f"bench-{driver}-{n}",
                        "imageRef": image_id,
                        "flavorRef": FLAVOR,
                        "networks": [{"uuid": private.id}],
                    }
                }
                start = time.monotonic()
                server_id = call(client, "POST", "/compute/v2.1/servers", json=body)["server"]["id"]
                cloud.server_ids.append(server_id)

                def active(sid: str = server_id) -> dict[str, Any] | None:
                    server: dict[str, Any] = call(client, "GET", f"/compute/v2.1/servers/{sid}")[
                        "server"
                    ]
                    if server["status"] == "ERROR":
                        raise RuntimeError(f"server {sid} in ERROR: {server.get('fault')}")
                    return server if server["status"] == "ACTIVE" else None

                server = wait(f"server {server_id} ACTIVE", active, 600)
                t_active = time.monotonic() - start
                ip = next(iter(server["addresses"].values()))[0]["addr"]
                wait(f"SSH banner of {ip}", partial(banner, ns, ip), 900, 0.1)
                t_banner = time.monotonic() - start
                to_active.append(t_active)
                to_banner.append(t_banner)
                say(
                    f"  {driver} boot {n + 1}: ACTIVE {t_active:.2f} s, SSH banner {t_banner:.2f} s"
                )
        # deleted at the end (close), not between boots: an address freed by a delete and
        # given to the next port gets no DHCP lease while dnsmasq still holds the old one
        return {"to_active": to_active, "to_banner": to_banner, "name": driver}
    except BaseException:
        say(cloud.log())
        raise
    finally:
        say("nubo down --purge ...")
        cloud.close()


def accel() -> str:
    """What the QEMU driver runs on here (the name nubo doctor gives)."""
    from nubo.compute.drivers.kvmprobe import kvm_usable

    with tempfile.TemporaryDirectory(prefix="nubo-bench-kvm-") as tmp:
        ok, _ = kvm_usable(Path(tmp))
    return "KVM" if ok else "TCG"


# -- report ---------------------------------------------------------------------------


def row(label: str, values: list[float], unit: str, upstream: str = "") -> str:
    scale = 1000.0 if unit == "ms" else 1.0
    if values:
        cells = f"{pct(values, 0.5) * scale:9.2f} {pct(values, 0.95) * scale:9.2f} {len(values):>5}"
    else:
        cells = f"{'-':>9} {'-':>9} {0:>5}"
    return f"{label:<46} {unit:>3} {cells}   {upstream}".rstrip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=1000, help="fake servers to create")
    parser.add_argument("--clients", type=int, default=10, help="concurrent API clients")
    parser.add_argument("--networks", choices=("none", "auto"), default="none")
    parser.add_argument("--container-boots", type=int, default=5)
    parser.add_argument("--qemu-boots", type=int, default=3)
    parser.add_argument("--skip-real", action="store_true", help="only the fake-driver part")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="nubo-bench-compute-"))
    real: list[dict[str, Any]] = []
    skipped: list[str] = []
    try:
        fake = bench_fake(workdir, args.servers, args.clients, args.networks)
        for driver, boots in (("container", args.container_boots), ("qemu", args.qemu_boots)):
            blocker = "--skip-real" if args.skip_real else real_blocker(driver)
            if blocker or boots <= 0:
                skipped.append(f"{driver}: skipped ({blocker or 'no boots asked'})")
                continue
            real.append(bench_real(workdir, driver, boots))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    n = len(fake["to_active"])
    rate = n / fake["all_active"] if fake["all_active"] else 0.0
    print()
    print(f"nubo compute benchmark ({os.cpu_count()} CPUs, SQLite)")
    print(f"{'figure':<46} {'':>3} {'p50':>9} {'p95':>9} {'n':>5}   OpenStack (Rally)")
    label = f"fake: create call ({args.clients} clients)"
    print(row(label, fake["create"], "ms"))
    print(row("fake: create call to ACTIVE", fake["to_active"], "s"))
    print(
        f"fake: {n} of {args.servers} servers ACTIVE in {fake['all_active']:.1f} s "
        f"(create calls done in {fake['calls']:.1f} s): {rate:.1f} boots/s, "
        f"{fake['errors']} errors   [Rally: {RALLY_RATE}]"
    )
    for err in fake["api_errors"]:
        print(f"  API error: {err}")
    for result in real:
        name = result["name"] if result["name"] != "qemu" else f"qemu ({accel()})"
        print(row(f"{name}: boot to ACTIVE", result["to_active"], "s", RALLY_ACTIVE))
        print(row(f"{name}: boot to SSH banner", result["to_banner"], "s"))
    for line in skipped:
        print(line)
    print(
        "Rally: OpenStack's published boot-server figures (boot to ACTIVE 12-13 s mean at "
        "concurrency 5; about 1.5 boots/s before failures). Real boots here are sequential, "
        "one server at a time (the earlier ones still running), nubo-tiny on m1.nano; the "
        "SSH banner is read from the network's DHCP namespace."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
