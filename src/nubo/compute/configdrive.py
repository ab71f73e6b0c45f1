"""Config drives: the instance's metadata tree on an ISO 9660 disk labelled config-2.

The tree is the one the metadata service serves (``openstack/<version>/...``
and ``ec2/...``); cloud-init and nubo-init look for a filesystem labelled
``config-2`` and read the same paths from it. The ISO carries Rock Ridge
(long, case-kept names) and Joliet names, as Nova's genisoimage call does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from nubo.compute.drivers.base import DriverError

LABEL = "config-2"


def _safe_relative(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f"config drive path {name!r} is not a relative path in the tree")
    return path


def build_iso(tree: Mapping[str, bytes], target: Path) -> None:
    """Write tree (relative path -> content) as an ISO 9660 config drive at target.

    The file appears complete or not at all (written beside and renamed).
    Raises DriverError if genisoimage is missing or fails.
    """
    tool = shutil.which("genisoimage") or shutil.which("mkisofs")
    if tool is None:
        raise DriverError(
            "genisoimage is not installed on this compute host: no config drive "
            "(apt-get install genisoimage)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.tmp")
    with tempfile.TemporaryDirectory(prefix=".config-drive-", dir=target.parent) as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        for name, content in tree.items():
            path = root.joinpath(*_safe_relative(name).parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        cmd = [
            tool,
            "-quiet",
            "-o",
            str(partial),
            "-V",
            LABEL,
            "-publisher",
            "nubo",
            "-J",
            "-r",
            "-input-charset",
            "utf-8",
            "-l",
            "-ldots",
            "-allow-lowercase",
            "-allow-multidot",
            str(root),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        if proc.returncode != 0:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
            raise DriverError(f"genisoimage failed: {proc.stderr.strip()[-500:]}")
        os.replace(partial, target)
