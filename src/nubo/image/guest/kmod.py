"""The kernel of the tiny image: its files and the modules its initramfs loads.

Debian's kernel has the virtio, ATA, ext4, iso9660 and vfat drivers as
modules. The initramfs loads a fixed list of them with busybox insmod, so it
needs them in dependency order. Debian does not ship modules.dep (depmod runs
at install time), so the order comes from each module's own .modinfo
("depends=" and "softdep=pre:"), read in one pass over the package.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from nubo.image.guest.debs import members, read_member
from nubo.image.guest.elf import ElfFile, parse_modinfo
from nubo.image.guest.errors import GuestImageError

# Drivers a guest needs, whatever disk and NIC model the hypervisor gives it:
# virtio disks/NICs/RNG, SCSI and ATA disks and CD-ROMs (config drives are
# often CD-ROMs), the filesystems of the root disk and config drives, and the
# ACPI power button (a clean shutdown on the hypervisor's request).
GUEST_MODULES = (
    "virtio_pci",
    "virtio_blk",
    "virtio_net",
    "virtio_scsi",
    "virtio_rng",
    "sd_mod",
    "ata_piix",
    "ahci",
    "sr_mod",
    "ext4",
    "isofs",
    "vfat",
    "nls_cp437",
    "nls_ascii",
    "button",
    "evdev",
)


@dataclass(frozen=True)
class Module:
    """What the build needs to know about one kernel module."""

    name: str
    path: str
    depends: tuple[str, ...] = ()
    softdeps: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()


def normalize(name: str) -> str:
    """Module names treat "-" and "_" alike; the kernel uses "_"."""
    return name.replace("-", "_")


def parse_softdeps(values: Iterable[str]) -> tuple[str, ...]:
    """The "pre:" names of softdep= fields ("pre: a b post: c" -> a, b)."""
    names: list[str] = []
    for value in values:
        section = ""
        for word in value.split():
            if word.endswith(":"):
                section = word[:-1]
            elif section == "pre":
                names.append(word)
    return tuple(names)


def module_from_modinfo(path: str, fields: Mapping[str, list[str]]) -> Module:
    stem = path.rsplit("/", 1)[-1].removesuffix(".ko")
    depends = [d for value in fields.get("depends", []) for d in value.split(",") if d]
    return Module(
        name=normalize(fields.get("name", [stem])[0]),
        path=path,
        depends=tuple(normalize(d) for d in depends),
        softdeps=parse_softdeps(fields.get("softdep", [])),
        aliases=tuple(fields.get("alias", [])),
    )


def load_order(
    wanted: Iterable[str], index: Mapping[str, Module], builtin: Iterable[str] = ()
) -> list[Module]:
    """The modules wanted needs, each after everything it depends on.

    A soft dependency names a module or an alias ("crypto-crc32c"); an alias
    is served by a *_generic module when there is one (it works on every
    CPU, unlike the accelerated variants). Built-in names need nothing; soft
    dependencies nobody provides are skipped, as modprobe does.
    """
    built = {normalize(b) for b in builtin}
    providers: dict[str, list[str]] = {}
    for module in index.values():
        for alias in module.aliases:
            providers.setdefault(alias, []).append(module.name)

    def provider(name: str) -> str | None:
        if normalize(name) in index:
            return normalize(name)
        names = sorted(providers.get(name, []), key=lambda n: (not n.endswith("_generic"), n))
        return names[0] if names else None

    order: list[Module] = []
    state: dict[str, str] = {}

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise GuestImageError(f"module dependency cycle: {' -> '.join((*chain, name))}")
        state[name] = "visiting"
        module = index[name]
        for dep in module.depends:
            if dep in index:
                visit(dep, (*chain, name))
            elif dep not in built:
                raise GuestImageError(f"module {name} needs {dep}, which this kernel lacks")
        for soft in module.softdeps:
            target = provider(soft)
            if target is not None and target != name:
                visit(target, (*chain, name))
        state[name] = "done"
        order.append(module)

    for name in wanted:
        key = normalize(name)
        if key in index:
            visit(key, ())
        elif key not in built:
            raise GuestImageError(f"this kernel has no module {name}")
    return order


@dataclass(frozen=True)
class Kernel:
    """A kernel package unpacked for an initramfs: the image and its modules."""

    version: str
    vmlinuz: Path
    modules: tuple[Path, ...]


def prepare_kernel(deb: Path, work: Path, wanted: Iterable[str] = GUEST_MODULES) -> Kernel:
    """Unpack the kernel image and the modules wanted needs from a kernel .deb.

    work is a cache directory for this one package: the module index and the
    files stay there, so a rebuild reads nothing from the .deb again.
    """
    work.mkdir(parents=True, exist_ok=True)
    index_file = work / "index.json"
    if not index_file.exists():
        _index_package(deb, work, index_file)
    saved = json.loads(index_file.read_text())
    index = {
        name: Module(
            name=m["name"],
            path=m["path"],
            depends=tuple(m["depends"]),
            softdeps=tuple(m["softdeps"]),
            aliases=tuple(m["aliases"]),
        )
        for name, m in saved["modules"].items()
    }
    order = load_order(wanted, index, saved["builtin"])
    missing = {m.path for m in order if not (work / m.path).exists()}
    if missing:
        _extract(deb, work, missing)
    return Kernel(
        version=saved["version"],
        vmlinuz=work / saved["vmlinuz"],
        modules=tuple(work / m.path for m in order),
    )


def _index_package(deb: Path, work: Path, index_file: Path) -> None:
    """One pass over the package: keep the kernel image, read every .modinfo."""
    modules: dict[str, dict[str, object]] = {}
    builtin: list[str] = []
    vmlinuz = version = ""
    for member, archive in members(deb):
        name = member.name
        if not member.isfile():
            continue
        if name.startswith("boot/vmlinuz-"):
            vmlinuz, version = name, name.removeprefix("boot/vmlinuz-")
            (work / "boot").mkdir(exist_ok=True)
            (work / name).write_bytes(read_member(archive, member))
        elif name.endswith("/modules.builtin"):
            builtin = [
                normalize(line.rsplit("/", 1)[-1].removesuffix(".ko"))
                for line in read_member(archive, member).decode().splitlines()
                if line
            ]
        elif name.endswith(".ko"):
            elf = ElfFile(read_member(archive, member), name)
            module = module_from_modinfo(name, parse_modinfo(elf.section(".modinfo") or b""))
            modules[module.name] = asdict(module)
    if not vmlinuz:
        raise GuestImageError(f"{deb.name} holds no boot/vmlinuz-*")
    saved = {"version": version, "vmlinuz": vmlinuz, "builtin": builtin, "modules": modules}
    tmp = index_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(saved))
    tmp.replace(index_file)


def _extract(deb: Path, work: Path, paths: set[str]) -> None:
    for member, archive in members(deb):
        if member.name in paths and member.isfile():
            target = work / member.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(read_member(archive, member))
