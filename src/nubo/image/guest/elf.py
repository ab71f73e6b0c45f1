"""Just enough ELF reading for an image build.

Which shared libraries a program needs (DT_NEEDED, PT_INTERP), so the tiny
image carries dropbear's libraries and nothing else; and a kernel module's
.modinfo (its dependencies), so the initramfs carries the modules it loads
and what they need. Only 64-bit little-endian files, which is all amd64 has.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from nubo.image.guest.errors import GuestImageError

_PT_INTERP = 3
_SHT_DYNAMIC = 6
_DT_NEEDED = 1


@dataclass(frozen=True)
class _Section:
    name_offset: int
    type: int
    offset: int
    size: int
    link: int


class ElfFile:
    """A parsed 64-bit little-endian ELF file held in memory."""

    def __init__(self, data: bytes, name: str = "<elf>") -> None:
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            raise GuestImageError(f"{name} is not a 64-bit little-endian ELF file")
        self.data = data
        self.name = name
        (phoff, shoff) = struct.unpack_from("<QQ", data, 0x20)
        (phentsize, phnum, shentsize, shnum, shstrndx) = struct.unpack_from("<HHHHH", data, 0x36)
        self._programs = [
            struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize) for i in range(phnum)
        ]
        self._sections = []
        for i in range(shnum):
            name_off, stype, _flags, _addr, offset, size, link = struct.unpack_from(
                "<IIQQQQI", data, shoff + i * shentsize
            )
            self._sections.append(_Section(name_off, stype, offset, size, link))
        self._shstr = self._sections[shstrndx] if self._sections else None

    @classmethod
    def read(cls, path: Path) -> ElfFile:
        return cls(path.read_bytes(), str(path))

    def _string(self, table: _Section, offset: int) -> str:
        start = table.offset + offset
        end = self.data.index(b"\0", start)
        return self.data[start:end].decode()

    def section(self, name: str) -> bytes | None:
        """The contents of the named section, or None."""
        if self._shstr is None:
            return None
        for sec in self._sections:
            if self._string(self._shstr, sec.name_offset) == name:
                return self.data[sec.offset : sec.offset + sec.size]
        return None

    def interpreter(self) -> str | None:
        """The program interpreter (dynamic loader) path, if any."""
        for ptype, _flags, offset, _vaddr, _paddr, filesz, _memsz, _align in self._programs:
            if ptype == _PT_INTERP:
                return self.data[offset : offset + filesz].rstrip(b"\0").decode()
        return None

    def needed(self) -> list[str]:
        """The sonames of the shared libraries this file links against."""
        names: list[str] = []
        for sec in self._sections:
            if sec.type != _SHT_DYNAMIC:
                continue
            strtab = self._sections[sec.link]
            for pos in range(sec.offset, sec.offset + sec.size, 16):
                tag, value = struct.unpack_from("<qQ", self.data, pos)
                if tag == 0:
                    break
                if tag == _DT_NEEDED:
                    names.append(self._string(strtab, value))
        return names


def parse_modinfo(section: bytes) -> dict[str, list[str]]:
    """Split a kernel module's .modinfo section into key -> values (in order)."""
    fields: dict[str, list[str]] = {}
    for entry in section.split(b"\0"):
        key, sep, value = entry.decode(errors="replace").partition("=")
        if sep:
            fields.setdefault(key, []).append(value)
    return fields
