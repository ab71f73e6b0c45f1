"""A writer for the "newc" cpio archives the kernel unpacks as an initramfs.

Written here rather than with cpio(1) so every entry gets owner root and a
fixed timestamp, and /dev/console can be a device node, without root and
without depending on the files' owners on the build host.
"""

from __future__ import annotations

import stat
from pathlib import Path

# A fixed timestamp keeps the archive identical from build to build.
EPOCH = 1_700_000_000


class CpioWriter:
    """Collects entries; data() returns the archive with its trailer."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._inode = 1
        self._dirs: set[str] = set()

    def _entry(
        self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)
    ) -> None:
        encoded = name.encode() + b"\0"
        fields = (
            self._inode,
            mode,
            0,  # uid
            0,  # gid
            2 if stat.S_ISDIR(mode) else 1,
            EPOCH,
            len(data),
            0,  # devmajor
            0,  # devminor
            rdev[0],
            rdev[1],
            len(encoded),
            0,  # check
        )
        self._inode += 1
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        self._parts.append(header + encoded + _pad(len(header) + len(encoded)))
        self._parts.append(data + _pad(len(data)))

    def _parents(self, name: str) -> None:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            self.directory("/".join(parts[:i]))

    def directory(self, name: str, mode: int = 0o755) -> None:
        name = name.strip("/")
        if name in self._dirs:
            return
        self._parents(name)
        self._dirs.add(name)
        self._entry(name, stat.S_IFDIR | mode)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        name = name.strip("/")
        self._parents(name)
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name: str, target: str) -> None:
        name = name.strip("/")
        self._parents(name)
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def char_device(self, name: str, major: int, minor: int, mode: int = 0o600) -> None:
        name = name.strip("/")
        self._parents(name)
        self._entry(name, stat.S_IFCHR | mode, rdev=(major, minor))

    def tree(self, root: Path, prefix: str = "") -> None:
        """Add a directory tree (files, directories, symlinks), sorted."""
        for path in sorted(root.rglob("*")):
            name = f"{prefix}/{path.relative_to(root)}".strip("/")
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                self.symlink(name, str(path.readlink()))
            elif stat.S_ISDIR(st.st_mode):
                self.directory(name, stat.S_IMODE(st.st_mode))
            elif stat.S_ISREG(st.st_mode):
                self.file(name, path.read_bytes(), stat.S_IMODE(st.st_mode))

    def data(self) -> bytes:
        trailer = CpioWriter()
        trailer._entry("TRAILER!!!", 0)
        return b"".join(self._parts) + b"".join(trailer._parts)


def _pad(length: int) -> bytes:
    return b"\0" * (-length % 4)
