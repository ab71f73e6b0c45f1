"""Where image data lives: a small store interface and the file store in the data dir.

The object store will be a second backend behind the same interface. Data always
moves in chunks: nothing here holds a whole image in memory.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from nubo.errors import NotFound

CHUNK = 1 << 20  # 1 MiB reads: large enough that per-chunk overhead (a thread hop) vanishes

_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


class StoreWriter(Protocol):
    def write(self, chunk: bytes) -> None: ...
    def commit(self) -> None: ...
    def abort(self) -> None: ...


class ImageStore(Protocol):
    """A place for image bytes, addressed by key."""

    name: str

    def writer(self, key: str) -> StoreWriter: ...
    def read(self, key: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]: ...
    def size(self, key: str) -> int: ...
    def delete(self, key: str) -> None: ...


class FileWriter:
    """Writes to a temporary file; ``commit`` makes it durable and puts it in place."""

    def __init__(self, final: Path, tmp: Path) -> None:
        self.final = final
        self.tmp = tmp
        self.file: BinaryIO = open(tmp, "wb")  # noqa: SIM115 - closed in commit/abort

    def write(self, chunk: bytes) -> None:
        self.file.write(chunk)

    def commit(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.tmp, self.final)
        _fsync_dir(self.final.parent)

    def abort(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)


class FileStore:
    """Image data as files under one directory (``<data_dir>/images`` by default)."""

    def __init__(self, root: Path, name: str = "file") -> None:
        self.root = root
        self.name = name
        self.partial = root / ".partial"
        self.partial.mkdir(parents=True, exist_ok=True, mode=0o700)
        # a crash mid-upload leaves a partial file nobody will finish
        for leftover in self.partial.iterdir():
            leftover.unlink(missing_ok=True)

    def _path(self, key: str) -> Path:
        if not _KEY.match(key) or key.startswith("."):
            raise ValueError(f"bad store key {key!r}")
        return self.root / key

    def writer(self, key: str) -> FileWriter:
        final = self._path(key)
        return FileWriter(final, self.partial / f"{key}.{uuid.uuid4().hex}")

    def read(self, key: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        try:
            f = open(self._path(key), "rb")  # noqa: SIM115 - closed by the generator
        except FileNotFoundError as exc:
            raise NotFound(f"Image data for {key} is missing from the {self.name} store.") from exc
        return _chunks(f, offset, length)

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError as exc:
            raise NotFound(f"Image data for {key} is missing from the {self.name} store.") from exc

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def path(self, key: str) -> Path:
        """The file holding ``key`` (local consumers such as compute read it directly)."""
        return self._path(key)


def _chunks(f: BinaryIO, offset: int, length: int | None) -> Iterator[bytes]:
    with f:
        f.seek(offset)
        remaining = length
        while remaining is None or remaining > 0:
            chunk = f.read(CHUNK if remaining is None else min(CHUNK, remaining))
            if not chunk:
                return
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
