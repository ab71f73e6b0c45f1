"""Running the host tools an image build needs, with errors that name them."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from nubo.image.guest.errors import GuestImageError

# The Debian package each tool comes from, for the error a missing one gets.
TOOL_PACKAGES = {
    "apt-get": "apt",
    "apt-cache": "apt",
    "dpkg-deb": "dpkg",
    "mke2fs": "e2fsprogs",
    "debugfs": "e2fsprogs",
    "mkfs.vfat": "dosfstools",
    "mcopy": "mtools",
    "mmd": "mtools",
    "syslinux": "syslinux",
    "qemu-img": "qemu-utils",
    "debootstrap": "debootstrap",
    "genisoimage": "genisoimage",
}


def require(*tools: str) -> None:
    """Fail early, naming the package to install, when a tool is missing."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        packages = sorted({TOOL_PACKAGES.get(t, t) for t in missing})
        raise GuestImageError(f"missing tools {', '.join(missing)}: install {' '.join(packages)}")


def run(
    cmd: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    timeout: float | None = None,
) -> str:
    """Run cmd, return its stdout; a failure raises with its stderr."""
    full_env = None if env is None else {**os.environ, **env}
    args = [str(c) for c in cmd]
    try:
        proc = subprocess.run(
            args,
            cwd=cwd,
            env=full_env,
            input=input,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise GuestImageError(f"{args[0]} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise GuestImageError(f"{args[0]} took longer than {timeout}s") from exc
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()[-2000:]
        raise GuestImageError(f"{' '.join(args[:3])} failed (exit {proc.returncode}): {err}")
    return proc.stdout.decode(errors="replace")
