"""Debian packages for the guest images: resolve, download, unpack.

Packages come from the host's configured Debian mirror through its own apt
(`apt-cache show`, `apt-get download`), so a build needs no other network
access and gets the same versions the host would install.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from nubo.image.guest.errors import GuestImageError
from nubo.image.guest.process import run


@dataclass(frozen=True)
class Package:
    """One version of a binary package, as `apt-cache show` describes it."""

    name: str
    version: str
    architecture: str
    depends: tuple[tuple[str, ...], ...]
    sha256: str = ""

    @property
    def deb_name(self) -> str:
        """The file name `apt-get download` saves the package under."""
        version = self.version.replace(":", "%3a")
        return f"{self.name}_{version}_{self.architecture}.deb"


def parse_stanzas(text: str) -> list[dict[str, str]]:
    """Split deb822 text (apt-cache show, Packages files) into field maps."""
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    field = ""
    for line in text.splitlines():
        if not line.strip():
            if current:
                stanzas.append(current)
            current, field = {}, ""
        elif line[0] in " \t":
            if field:
                current[field] += "\n" + line.strip()
        elif ":" in line:
            field, _, value = line.partition(":")
            current[field] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


_RELATION_EXTRAS = re.compile(r"\(.*?\)|\[.*?\]|<.*?>")


def parse_relations(value: str) -> tuple[tuple[str, ...], ...]:
    """Parse a Depends-style field into groups of alternative package names.

    Version constraints, architecture lists and build profiles are dropped:
    the candidate versions of one mirror snapshot satisfy each other.
    """
    groups: list[tuple[str, ...]] = []
    for group in value.split(","):
        names = []
        for alternative in group.split("|"):
            name = _RELATION_EXTRAS.sub("", alternative).strip().split(":")[0]
            if name:
                names.append(name)
        if names:
            groups.append(tuple(names))
    return tuple(groups)


def package_from_stanza(stanza: dict[str, str]) -> Package:
    relations = ", ".join(v for k in ("Pre-Depends", "Depends") if (v := stanza.get(k, "")))
    return Package(
        name=stanza["Package"],
        version=stanza["Version"],
        architecture=stanza.get("Architecture", "amd64"),
        depends=parse_relations(relations),
        sha256=stanza.get("SHA256", ""),
    )


def resolve(
    roots: Iterable[str],
    lookup: Callable[[str], Package | None],
    *,
    exclude: Iterable[str] = (),
) -> list[Package]:
    """The dependency closure of roots, in discovery order.

    lookup returns None for a name with no installable package (a virtual
    one); the first alternative of a group that resolves is taken. Names in
    exclude are neither taken nor followed (packages whose files the image
    does not use, e.g. the compiler's base package behind libgcc-s1).
    """
    skip = set(exclude)
    seen: dict[str, Package] = {}
    queue: list[tuple[str, ...]] = [(name,) for name in roots]
    while queue:
        group = queue.pop(0)
        if any(name in seen or name in skip for name in group):
            continue
        for name in group:
            package = lookup(name)
            if package is not None:
                seen[name] = package
                queue.extend(package.depends)
                break
        else:
            raise GuestImageError(f"no installable package for {' | '.join(group)}")
    return list(seen.values())


class Apt:
    """The host's apt, as a source of package metadata and .deb files."""

    def __init__(self, deb_dir: Path) -> None:
        self.deb_dir = deb_dir
        self._cache: dict[str, Package | None] = {}

    def lookup(self, name: str) -> Package | None:
        """The candidate version of name, or None when it has none."""
        if name not in self._cache:
            proc = subprocess.run(
                ["apt-cache", "show", "--no-all-versions", name],
                capture_output=True,
                text=True,
                check=False,
            )
            stanzas = parse_stanzas(proc.stdout) if proc.returncode == 0 else []
            self._cache[name] = package_from_stanza(stanzas[0]) if stanzas else None
        return self._cache[name]

    def package(self, name: str) -> Package:
        package = self.lookup(name)
        if package is None:
            raise GuestImageError(
                f"apt knows no package {name}; is the Debian mirror in the apt sources "
                "and `apt-get update` done?"
            )
        return package

    def closure(self, roots: Iterable[str], exclude: Iterable[str] = ()) -> list[Package]:
        return resolve(roots, self.lookup, exclude=exclude)

    def download(self, packages: Iterable[Package]) -> dict[str, Path]:
        """The .deb file of each package, fetched with apt-get when missing."""
        self.deb_dir.mkdir(parents=True, exist_ok=True)
        wanted = {p.name: p for p in packages}
        missing = [p for p in wanted.values() if not _valid(self.deb_dir / p.deb_name, p)]
        if missing:
            run(
                ["apt-get", "download", "-q", *(f"{p.name}={p.version}" for p in missing)],
                cwd=self.deb_dir,
            )
        files = {}
        for name, package in wanted.items():
            path = self.deb_dir / package.deb_name
            if not _valid(path, package):
                raise GuestImageError(f"apt-get download gave no valid {package.deb_name}")
            files[name] = path
        return files


def _valid(path: Path, package: Package) -> bool:
    if not path.is_file():
        return False
    if not package.sha256:
        return True
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest() == package.sha256


def members(deb: Path) -> Iterator[tuple[tarfile.TarInfo, tarfile.TarFile]]:
    """Stream the entries of a .deb's data archive (with the archive to read them).

    The data streams through dpkg-deb, so the 400 MB kernel package is read
    once without landing on disk whole. A member's bytes can be read only
    while it is the current one.
    """
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    complete = False
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as archive:
            for member in archive:
                member.name = member.name.removeprefix("./")
                if member.name:
                    yield member, archive
        complete = True
    finally:
        proc.stdout.close()
        code = proc.wait()
    if complete and code != 0:
        raise GuestImageError(f"dpkg-deb could not read {deb.name} (exit {code})")


def read_member(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    f = archive.extractfile(member)
    if f is None:
        raise GuestImageError(f"cannot read {member.name}")
    return f.read()


def unpack(deb: Path, dest: Path, want: Callable[[str], bool] | None = None) -> list[str]:
    """Unpack a .deb's files (all, or those want() accepts) under dest.

    Paths are given to want() without the leading "./". Returns the paths
    unpacked.
    """
    dest.mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    for member, archive in members(deb):
        if want is None or want(member.name):
            _extract(archive, member, dest)
            names.append(member.name)
    return names


def _extract(archive: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> None:
    if hasattr(tarfile, "tar_filter"):
        archive.extract(member, dest, filter="tar")
        return
    # Python before 3.11.4 has no extraction filters: refuse escaping paths.
    parts = Path(member.name).parts
    if member.name.startswith("/") or ".." in parts:
        raise GuestImageError(f"unsafe path in package: {member.name}")
    archive.extract(member, dest)
