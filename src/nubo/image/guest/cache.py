"""The build cache: one finished image per recipe, built once, under a lock.

An image is named after a digest of everything that shapes it (the guest
files and the build code), so changing a script rebuilds it and a second call
returns the existing file at once. Debian package versions are not part of
the digest: reading them needs apt, and the point of the cache is to skip
that; pass rebuild=True to pick up a newer kernel.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from nubo.image.guest.errors import GuestImageError

FILES = Path(__file__).with_name("files")
_PACKAGE = Path(__file__).parent


def recipe_digest(name: str, modules: tuple[str, ...]) -> str:
    """Digest of the guest files and the named modules of this package."""
    h = hashlib.sha256(name.encode())
    paths = sorted(FILES.iterdir()) + [_PACKAGE / f"{m}.py" for m in modules]
    for path in paths:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


@contextlib.contextmanager
def _locked(lock: Path) -> Iterator[None]:
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def manifest_path(image: Path) -> Path:
    return image.with_suffix(".json")


def read_manifest(image: Path) -> dict[str, Any]:
    """What a built image holds (packages, kernel, sizes, properties)."""
    data: dict[str, Any] = json.loads(manifest_path(image).read_text())
    return data


def cached_build(
    cache_dir: Path,
    name: str,
    digest: str,
    build: Callable[[Path], tuple[Path, dict[str, Any]]],
    say: Callable[[str], None],
    *,
    rebuild: bool = False,
) -> Path:
    """The image nubo-<name>-<digest>.qcow2 in cache_dir, built if missing.

    build(workdir) makes the image inside workdir and returns its path and a
    manifest; only a complete image is moved into place, so an interrupted
    build leaves nothing that looks finished. Older images of the same name
    are removed.
    """
    cache_dir = cache_dir.resolve()
    image = cache_dir / f"nubo-{name}-{digest[:12]}.qcow2"
    if image.exists() and not rebuild:
        return image
    with _locked(cache_dir / f".{name}.lock"):
        if image.exists() and not rebuild:
            return image
        work = cache_dir / f".work-{name}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        started = time.monotonic()
        try:
            built, manifest = build(work)
            if not built.is_file():
                raise GuestImageError(f"the {name} build produced no image")
            manifest.update(
                name=f"nubo-{name}",
                digest=digest,
                file=image.name,
                size=built.stat().st_size,
                build_seconds=round(time.monotonic() - started, 1),
            )
            manifest_path(image).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            built.replace(image)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        for old in cache_dir.glob(f"nubo-{name}-*.qcow2"):
            if old != image:
                old.unlink(missing_ok=True)
                manifest_path(old).unlink(missing_ok=True)
        say(f"built {image} ({image.stat().st_size / 1e6:.1f} MB)")
        return image
