"""Fixtures for the system tests: they run only as root with the tools present.

A test skips (never fails) when the machine cannot run it: not root, or a
tool missing; the reason names what to install. Everything a fixture creates
is removed in its finalizer, whether the test passed or not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from nubo.image.guest import build_debian, build_tiny

from .guestlab import Lab

REPO = Path(__file__).resolve().parents[2]
# Shared with `nubo image build`, so reruns reuse the built images.
GUEST_CACHE = REPO / "build" / "guest-cache"

BUILD_TOOLS = {
    "apt-get": "apt",
    "dpkg-deb": "dpkg",
    "mke2fs": "e2fsprogs",
    "debugfs": "e2fsprogs",
    "mkfs.vfat": "dosfstools",
    "mcopy": "mtools",
    "syslinux": "syslinux",
    "qemu-img": "qemu-utils",
}
RUN_TOOLS = {
    "qemu-system-x86_64": "qemu-system-x86",
    "ip": "iproute2",
    "dnsmasq": "dnsmasq-base",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "ssh-keyscan": "openssh-client",
    "unshare": "util-linux",
    "genisoimage": "genisoimage",
}


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("system tests need root (network namespaces, taps, QEMU, containers)")


def need_tools(tools: dict[str, str]) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        packages = " ".join(sorted({tools[t] for t in missing}))
        pytest.skip(f"missing {', '.join(missing)}: apt-get install {packages}")


@pytest.fixture(autouse=True)
def _root_and_tools() -> None:
    need_root()
    need_tools(RUN_TOOLS)


@pytest.fixture(scope="session")
def guest_cache() -> Path:
    need_root()
    GUEST_CACHE.mkdir(parents=True, exist_ok=True)
    return GUEST_CACHE


@pytest.fixture(scope="session")
def tiny_image(guest_cache: Path) -> Path:
    need_tools(BUILD_TOOLS)
    return build_tiny(guest_cache, lambda msg: print(f"[build] {msg}", flush=True))


@pytest.fixture(scope="session")
def debian_image(guest_cache: Path) -> Path:
    need_tools({**BUILD_TOOLS, "debootstrap": "debootstrap", "chroot": "coreutils"})
    return build_debian(guest_cache, lambda msg: print(f"[build] {msg}", flush=True))


@pytest.fixture(scope="session")
def ssh_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_root()
    key = tmp_path_factory.mktemp("ssh") / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "nubo-test", "-f", str(key)],
        check=True,
    )
    return key


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    workdir = tmp_path / "lab"
    workdir.mkdir()
    net = Lab(workdir)
    try:
        yield net
    finally:
        net.close()
