"""Image data throughput: upload and download through the Image API against `cp`.

Writes a file of random bytes (no holes, so nothing is sparse), starts `nubo up`
with its data dir on the same filesystem, then times:

* ``cp`` of the file, and ``cp`` followed by fsync of the copy (nubo fsyncs an
  upload before the image turns active, so that is the like-for-like figure);
* ``PUT /v2/images/{id}/file`` streamed from the file (md5, sha512 and the
  format inspector run on every byte);
* ``GET /v2/images/{id}/file`` streamed into a file;
* md5 of the file in one process, no I/O to speak of: the checksum every upload
  must compute, so no upload path can beat it on one core.

It prints MB/s, the API/cp ratios and the nubo process's peak resident memory
before and after, which must stay flat whatever the image size. Exits 0.

    .venv/bin/python bench/image.py [--size-mib 1024] [--runs 3] [--dir build/bench-image]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
from clouds import password_token

ROOT = Path(__file__).resolve().parents[1]
NUBO = ROOT / ".venv" / "bin" / "nubo"
CHUNK = 1 << 20
MB = 1e6


def write_random(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(CHUNK * 8, left)
            f.write(os.urandom(n))
            left -= n
        f.flush()
        os.fsync(f.fileno())


def drop_copy(path: Path) -> None:
    path.unlink(missing_ok=True)


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cp(src: Path, dst: Path, fsync: bool) -> None:
    subprocess.run(["cp", str(src), str(dst)], check=True)
    if fsync:
        fd = os.open(dst, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def md5_of(path: Path) -> None:
    """The checksum Glance's API requires, alone: the ceiling of any upload path."""
    digest = hashlib.md5(usedforsecurity=False)
    for chunk in file_chunks(path):
        digest.update(chunk)


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def file_chunks(path: Path):  # type: ignore[no-untyped-def]
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--dir", default=str(ROOT / "build" / "bench-image"))
    parser.add_argument("--port", type=int, default=8797)
    parser.add_argument("--runs", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    work = Path(args.dir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    size = args.size_mib * (1 << 20)
    source = work / "source.raw"
    print(f"writing {args.size_mib} MiB of random bytes to {source} ...")
    write_random(source, size)
    os.sync()  # no writeback of the source may land in the middle of a measurement

    copy = work / "copy.raw"
    results: dict[str, float] = {}

    def best(name: str, fn) -> None:  # type: ignore[no-untyped-def]
        # best of a few runs: the figure the path is capable of, not the noise
        results[name] = min(timed(fn) for _ in range(args.runs))

    def cp_once(fsync: bool) -> None:
        cp(source, copy, fsync)
        drop_copy(copy)

    best("cp", lambda: cp_once(False))
    best("cp + fsync", lambda: cp_once(True))
    best("md5 only", lambda: md5_of(source))

    data = work / "nubo"
    bind = f"127.0.0.1:{args.port}"
    env = {**os.environ, "NUBO_IDENTITY_PASSWORD_HASH_ROUNDS": "4"}
    subprocess.run(
        [str(NUBO), "up", "--data-dir", str(data), "--bind", bind, "--detach"],
        check=True,
        env=env,
        capture_output=True,
    )
    try:
        pid = int((data / "nubo.pid").read_text().split()[0])
        headers = {"X-Auth-Token": password_token(data)[0]}
        base = f"http://{bind}/image/v2/images"
        with httpx.Client(timeout=600, headers=headers) as client:
            rss_before = peak_rss_kib(pid)
            url = ""

            def upload() -> None:
                nonlocal url
                if url:  # keep one image's data at a time on disk
                    client.delete(url.removesuffix("/file")).raise_for_status()
                image = client.post(
                    base, json={"name": "bench", "disk_format": "raw", "container_format": "bare"}
                ).json()
                url = f"{base}/{image['id']}/file"
                r = client.put(
                    url,
                    content=file_chunks(source),
                    headers={"Content-Type": "application/octet-stream"},
                )
                r.raise_for_status()

            best("API upload", upload)
            rss_upload = peak_rss_kib(pid)
            out = work / "download.raw"

            def download() -> None:
                with client.stream("GET", url) as r, open(out, "wb") as f:
                    r.raise_for_status()
                    for chunk in r.iter_bytes(CHUNK):
                        f.write(chunk)

            best("API download", download)
            rss_download = peak_rss_kib(pid)
            assert out.stat().st_size == size, "download size differs"
            drop_copy(out)
    finally:
        subprocess.run([str(NUBO), "down", "--purge", "--data-dir", str(data)], check=False)

    print()
    print(f"{'path':<14} {'seconds':>8} {'MB/s':>8} {'vs cp':>7} {'vs cp+fsync':>12}")
    for name, seconds in results.items():
        rate = size / seconds / MB
        vs_cp = results["cp"] / seconds
        vs_sync = results["cp + fsync"] / seconds
        print(f"{name:<14} {seconds:8.2f} {rate:8.0f} {vs_cp:6.0%} {vs_sync:11.0%}")
    print()
    print(
        f"nubo peak RSS: {rss_before / 1024:.0f} MiB at start, "
        f"{rss_upload / 1024:.0f} MiB after upload, {rss_download / 1024:.0f} MiB after download "
        f"({args.size_mib} MiB image)"
    )
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
