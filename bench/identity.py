"""Token issue and validate: nubo against upstream Keystone on this machine.

Starts `nubo up` (SQLite) and upstream Keystone from PyPI (SQLite, one WSGI
worker, bcrypt at its default cost like nubo) on loopback, then measures token
issue (password, project scope) and token validate (GET /v3/auth/tokens),
sequentially and with 8 concurrent clients, and prints throughput, p50/p95
latency and the nubo/upstream ratio. Each measurement is bounded in requests
and seconds. Exits 0; figures go to docs/performance.md by hand.

    .venv/bin/python bench/identity.py [--requests 400] [--seconds 20] [--skip-upstream]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
KEYSTONE_DIR = ROOT / "build" / "keystone"


@dataclass
class Result:
    count: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


def auth_body(user: str, password: str, project: str) -> dict[str, object]:
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": user, "domain": {"id": "default"}, "password": password}
                },
            },
            "scope": {"project": {"name": project, "domain": {"id": "default"}}},
        }
    }


def measure(
    op: Callable[[httpx.Client], None], clients: int, max_requests: int, max_seconds: float
) -> Result:
    """Run ``op`` from ``clients`` threads until the request or time budget is spent."""
    lock = threading.Lock()
    latencies: list[float] = []
    counter = [0]
    start = time.perf_counter()
    deadline = start + max_seconds

    def worker() -> None:
        with httpx.Client(timeout=60) as client:
            while True:
                with lock:
                    if counter[0] >= max_requests or time.perf_counter() > deadline:
                        return
                    counter[0] += 1
                t0 = time.perf_counter()
                op(client)
                dt = time.perf_counter() - t0
                with lock:
                    latencies.append(dt)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Result(len(latencies), time.perf_counter() - start, latencies)


def bench_target(
    name: str, auth_url: str, user: str, password: str, project: str, args: argparse.Namespace
) -> dict[str, Result]:
    body = auth_body(user, password, project)
    tokens_url = f"{auth_url}/auth/tokens"
    first = httpx.post(tokens_url, json=body, timeout=60)
    first.raise_for_status()
    admin_token = first.headers["x-subject-token"]
    subject = httpx.post(tokens_url, json=body, timeout=60).headers["x-subject-token"]

    def issue(client: httpx.Client) -> None:
        r = client.post(tokens_url, json=body)
        if r.status_code != 201:
            raise RuntimeError(f"{name}: issue gave {r.status_code} {r.text[:200]}")

    def validate(client: httpx.Client) -> None:
        r = client.get(
            tokens_url, headers={"X-Auth-Token": admin_token, "X-Subject-Token": subject}
        )
        if r.status_code != 200:
            raise RuntimeError(f"{name}: validate gave {r.status_code} {r.text[:200]}")

    out = {}
    for label, op in (("issue", issue), ("validate", validate)):
        for clients in (1, 8):
            key = f"{label} x{clients}"
            print(f"  {name}: {key} ...", file=sys.stderr, flush=True)
            out[key] = measure(op, clients, args.requests, args.seconds)
    return out


def start_nubo(workdir: Path, extra_env: dict[str, str] | None = None) -> tuple[str, str, Path]:
    port = free_port()
    data = workdir / f"nubo-{port}"
    env = {**os.environ, **(extra_env or {})}
    subprocess.run(
        [
            str(BIN / "nubo"),
            "up",
            "--data-dir",
            str(data),
            "--bind",
            f"127.0.0.1:{port}",
            "--detach",
        ],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    clouds = yaml.safe_load((data / "clouds.yaml").read_text())
    return (
        f"http://127.0.0.1:{port}/identity/v3",
        clouds["clouds"]["nubo"]["auth"]["password"],
        data,
    )


def stop_nubo(data: Path) -> None:
    subprocess.run(
        [str(BIN / "nubo"), "down", "--data-dir", str(data)], check=False, stdout=subprocess.DEVNULL
    )


def start_keystone() -> tuple[str, subprocess.Popen[bytes]]:
    script = ROOT / "bench" / "upstream_keystone.py"
    subprocess.run(
        [sys.executable, str(script), "setup", "--dir", str(KEYSTONE_DIR)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(script), "serve", "--dir", str(KEYSTONE_DIR), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/v3"
    wait_http(url)
    return url, proc


def row(label: str, n: Result | None, k: Result | None) -> str:
    def cell(r: Result | None) -> str:
        if r is None:
            return f"{'-':>9} {'-':>8} {'-':>8}"
        return f"{r.rate:9.1f} {r.pct(0.5):8.2f} {r.pct(0.95):8.2f}"

    ratio = f"{n.rate / k.rate:8.1f}x" if n and k and k.rate else f"{'-':>9}"
    return f"{label:<24} {cell(n)}   {cell(k)}   {ratio}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per measurement")
    parser.add_argument("--seconds", type=float, default=20, help="seconds per measurement")
    parser.add_argument("--skip-upstream", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nubo-bench-"))
    keystone: subprocess.Popen[bytes] | None = None
    nubo_data: list[Path] = []
    try:
        print("starting nubo ...", file=sys.stderr, flush=True)
        url, pw, data = start_nubo(work)
        nubo_data.append(data)
        nubo = bench_target("nubo", url, "admin", pw, "admin", args)
        stop_nubo(data)
        print("starting nubo without the password cache ...", file=sys.stderr, flush=True)
        url, pw, data = start_nubo(work, {"NUBO_IDENTITY_PASSWORD_CACHE_SIZE": "0"})
        nubo_data.append(data)
        body = auth_body("admin", pw, "admin")
        cold = measure(
            lambda c: c.post(f"{url}/auth/tokens", json=body).raise_for_status(),
            1,
            min(args.requests, 40),
            args.seconds,
        )
        stop_nubo(data)
        upstream: dict[str, Result] = {}
        if not args.skip_upstream:
            print("starting upstream Keystone ...", file=sys.stderr, flush=True)
            kurl, keystone = start_keystone()
            upstream = bench_target("keystone", kurl, "admin", "secret", "admin", args)
        print()
        print(f"{'':<24} {'nubo':^27}   {'upstream Keystone':^27}")
        print(
            f"{'operation':<24} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8}   "
            f"{'req/s':>9} {'p50 ms':>8} {'p95 ms':>8}   {'nubo/up':>9}"
        )
        for key in nubo:
            print(row(f"token {key}", nubo[key], upstream.get(key)))
        print(row("token issue x1, no cache", cold, upstream.get("issue x1")))
        print()
        print(
            json.dumps({"requests": args.requests, "seconds": args.seconds, "cpus": os.cpu_count()})
        )
    finally:
        if keystone is not None:
            keystone.terminate()
            try:
                keystone.wait(10)
            except subprocess.TimeoutExpired:
                keystone.kill()
        for data in nubo_data:
            stop_nubo(data)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
