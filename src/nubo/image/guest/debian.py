"""nubo-debian: Debian 12 with cloud-init, for realistic workloads.

debootstrap (minbase) from the host's Debian mirror, then in the chroot the
kernel, systemd, cloud-init (OpenStack and ConfigDrive datasources, netplan
over systemd-networkd for the network, growpart to fill a larger disk),
OpenSSH and sudo, with the host's security updates. The disk has the tiny
image's layout: a FAT boot partition (syslinux, Debian's kernel and
initramfs, kept current by a kernel hook) and an ext4 root labelled
nubo-root.

Under QEMU the guest boots systemd and cloud-init, like any cloud image; it
then prints nubo-init's "ssh ready" and "boot finished" markers. As a
namespace container /sbin/init (a wrapper; systemd's is diverted) runs
nubo-init instead, the same boot sequence as the tiny image (busybox
udhcpc, metadata, user-data, OpenSSH), since systemd does not belong in a
nubo container. Building needs root: debootstrap and the package scripts
run in a chroot (with /proc, /sys and /dev mounted in a private mount
namespace that vanishes with it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from nubo.image.guest import disk
from nubo.image.guest.cache import FILES, cached_build, recipe_digest
from nubo.image.guest.errors import GuestImageError
from nubo.image.guest.markers import IMAGE_PROPERTIES
from nubo.image.guest.process import require, run
from nubo.image.guest.tiny import GUEST_SCRIPTS, ROOT_LABEL, syslinux_config

SUITE = "bookworm"
BOOT_SIZE = 128 * disk.MIB
ROOT_UUID = "6e75626f-6465-6269-8000-000000000001"
BOOT_LABEL = "NUBOBOOT"
KERNEL_ARGS = (
    f"root=LABEL={ROOT_LABEL} ro init=/lib/systemd/systemd console=tty0 console=ttyS0,115200n8"
)
LOGIN_USER = "debian"
PACKAGES = (
    "linux-image-amd64",
    "systemd-sysv",
    "systemd-resolved",
    "netplan.io",
    "cloud-init",
    "cloud-guest-utils",
    "openssh-server",
    "sudo",
    "busybox-static",
    "iproute2",
    "ca-certificates",
    "e2fsprogs",
    "less",
    "procps",
)
_RECIPE_MODULES = ("debian", "disk", "cache", "tiny")
_CHROOT_ENV = {
    "DEBIAN_FRONTEND": "noninteractive",
    "LC_ALL": "C.UTF-8",
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
}


def build_debian(cache_dir: Path, say: Callable[[str], None], *, rebuild: bool = False) -> Path:
    """Build (or find in cache_dir) the nubo-debian qcow2 image; returns its path."""
    digest = recipe_digest("debian", _RECIPE_MODULES)
    return cached_build(
        cache_dir,
        "debian",
        digest,
        lambda work: _build(cache_dir.resolve(), work, say, digest),
        say,
        rebuild=rebuild,
    )


def debian_sources(policy: str, suite: str = SUITE) -> dict[str, str]:
    """Suite -> archive URL of the host's Debian sources, from `apt-cache policy`."""
    found: dict[str, str] = {}
    pattern = re.compile(rf"^\s*\d+\s+(\S+)\s+({re.escape(suite)}(?:-[a-z]+)?)/main amd64 Packages")
    for line in policy.splitlines():
        match = pattern.match(line)
        if match:
            found.setdefault(match.group(2), match.group(1))
    if suite not in found:
        raise GuestImageError(f"no Debian {suite} main archive in the host's apt sources")
    return found


def _build(
    cache_dir: Path, work: Path, say: Callable[[str], None], digest: str
) -> tuple[Path, dict[str, Any]]:
    if os.geteuid() != 0:
        raise GuestImageError("building nubo-debian needs root (debootstrap works in a chroot)")
    require("debootstrap", "unshare", "chroot", "mke2fs", "mkfs.vfat", "mcopy", "syslinux")
    require("qemu-img")
    sources = debian_sources(run(["apt-cache", "policy"]))
    mirror = sources[SUITE]
    target = work / "rootfs"
    debootstrap_cache = cache_dir / "debootstrap"
    debootstrap_cache.mkdir(parents=True, exist_ok=True)
    say(f"debootstrap {SUITE} (minbase) from {mirror}")
    _private_mounts(
        [
            "debootstrap",
            "--variant=minbase",
            f"--cache-dir={debootstrap_cache}",
            SUITE,
            str(target),
            mirror,
        ],
        timeout=3600,
    )
    _write(target / "etc/apt/sources.list", _sources_list(sources))
    # In place before any package script looks for the root filesystem.
    # (The initramfs still boots without fsck: a LABEL= root cannot be
    # resolved in the chroot; systemd-fsck-root checks it at boot instead.)
    _write(target / "etc/fstab", FSTAB)
    # Package scripts must not start services in the build chroot.
    _write(target / "usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n", 0o755)
    shutil.copy(Path("/etc/resolv.conf").resolve(), target / "etc/resolv.conf.build")
    say(f"installing {len(PACKAGES)} packages and the security updates")
    chroot(
        target,
        "cp /etc/resolv.conf.build /etc/resolv.conf\n"
        "apt-get update -q\n"
        "apt-get dist-upgrade -y -q\n"
        f"apt-get install -y -q --no-install-recommends {' '.join(PACKAGES)}\n",
        timeout=3600,
    )
    say("configuring cloud-init, accounts and the nubo-init container boot")
    configure(target)
    versions = _package_versions(target)
    kernel = _kernel_version(target)
    release = f"nubo-debian {digest[:12]} (Debian {SUITE}, kernel {kernel})"
    _write(target / "etc/nubo-release", release + "\n")
    _clean(target)

    say("writing the disk")
    boot = work / "boot.img"
    first = disk.MIB
    disk.make_fat(
        boot,
        BOOT_SIZE,
        BOOT_LABEL,
        {
            "vmlinuz": target / "boot" / f"vmlinuz-{kernel}",
            "initrd.img": target / "boot" / f"initrd.img-{kernel}",
            "syslinux.cfg": syslinux_config(KERNEL_ARGS).encode(),
        },
        hidden_sectors=first // disk.SECTOR,
    )
    used = _tree_size(target)
    # Room for the system to work in, rounded to whole GiB for a flavor's disk.
    disk_size = max(2 << 30, -(-(used * 2 + BOOT_SIZE) // (1 << 30)) << 30)
    root_size = disk_size - first - BOOT_SIZE
    root_img = work / "root.img"
    disk.make_ext4(root_img, root_size, target, ROOT_LABEL, ROOT_UUID)
    shutil.rmtree(target)
    raw = work / "disk.raw"
    disk.assemble(
        raw,
        disk_size,
        [
            (disk.Partition(first, BOOT_SIZE, disk.TYPE_FAT16_LBA, bootable=True), boot),
            (disk.Partition(first + BOOT_SIZE, root_size, disk.TYPE_LINUX), root_img),
        ],
    )
    root_img.unlink()
    qcow2 = work / "disk.qcow2"
    say("compressing to qcow2")
    disk.to_qcow2(raw, qcow2, compress=True)
    manifest: dict[str, Any] = {
        "release": release,
        "kernel": kernel,
        "kernel_args": KERNEL_ARGS,
        "packages": {name: versions.get(name, "") for name in PACKAGES},
        "installed_packages": len(versions),
        "disk_format": "qcow2",
        "container_format": "bare",
        "virtual_size": disk_size,
        "min_disk": disk_size >> 30,
        "min_ram": 512,
        "login_user": LOGIN_USER,
        "root_label": ROOT_LABEL,
        "properties": {**IMAGE_PROPERTIES, "os_distro": "debian", "os_version": "12"},
    }
    return qcow2, manifest


def _private_mounts(cmd: list[str], *, timeout: float, env: Mapping[str, str] | None = None) -> str:
    """Run cmd in a private mount namespace: whatever it mounts dies with it."""
    return run(
        ["unshare", "--mount", "--propagation", "private", *cmd],
        env={**_CHROOT_ENV, **(env or {})},
        timeout=timeout,
    )


def chroot(target: Path, script: str, *, timeout: float = 1800) -> str:
    """Run a shell script (set -e) chrooted in target with /proc, /sys and /dev."""
    outer = (
        'mount -t proc proc "$T/proc"\n'
        'mount -t sysfs -o ro sysfs "$T/sys"\n'
        'mount --rbind /dev "$T/dev"\n'
        'exec chroot "$T" /bin/sh -ec "$SCRIPT"\n'
    )
    return _private_mounts(
        ["sh", "-ec", outer], timeout=timeout, env={"T": str(target), "SCRIPT": script}
    )


def _sources_list(sources: Mapping[str, str]) -> str:
    lines = [f"deb {url} {suite} main" for suite, url in sorted(sources.items())]
    return "\n".join(lines) + "\n"


def _write(path: Path, content: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    path.chmod(mode)


FSTAB = (
    f"LABEL={ROOT_LABEL} / ext4 rw,discard,errors=remount-ro 0 1\n"
    f"LABEL={BOOT_LABEL} /boot/nubo vfat defaults,nofail,umask=077 0 2\n"
)

# cloud-init: where to look (a config drive first, then the metadata
# service), how patiently, and netplan for the network (systemd-networkd
# underneath, which honours the DHCP MTU).
CLOUD_CFG = """\
# nubo: OpenStack-style clouds only.
datasource_list: [ConfigDrive, OpenStack, None]
# The one locale every Debian system has (en_US.UTF-8 is not generated).
locale: C.UTF-8
datasource:
  OpenStack:
    metadata_urls: ["http://169.254.169.254"]
    max_wait: 120
    timeout: 10
    retries: 5
system_info:
  network:
    renderers: [netplan, networkd]
"""

# Prints nubo-init's markers once cloud-init is done, so a console log of
# this image reads like one of nubo-tiny.
VM_MARKERS = """\
#!/bin/sh
# nubo: boot markers for the console of a nubo-debian VM (after cloud-final).
say() { echo "nubo-init: $*"; }
iid=$(cat /var/lib/cloud/data/instance-id 2>/dev/null)
status=$(cloud-init status 2>/dev/null | sed -n 's/^status: //p')
say "cloud-init status ${status:-unknown}"
fingerprints=
for key in /etc/ssh/ssh_host_ed25519_key.pub /etc/ssh/ssh_host_ecdsa_key.pub; do
	[ -f "$key" ] || continue
	type=$(cut -d ' ' -f 1 "$key")
	fingerprints="$fingerprints$type $(ssh-keygen -lf "$key" | cut -d ' ' -f 2), "
done
if ss -ltn 2>/dev/null | grep -q ':22 '; then
	say "ssh ready port 22 (openssh) host keys ${fingerprints%, }"
fi
read -r up _ </proc/uptime
say "boot finished in ${up}s (vm, instance ${iid:-none})"
"""

# No default dependencies: multi-user.target must not wait for this unit,
# since cloud-final (which it follows) itself runs after multi-user.target.
VM_MARKERS_UNIT = """\
[Unit]
Description=nubo boot markers on the console
DefaultDependencies=no
After=multi-user.target cloud-final.service ssh.service

[Service]
Type=oneshot
ExecStart=/usr/lib/nubo-init/vm-markers
# Plain lines on the console, as nubo-init prints them (no journal prefix).
StandardOutput=tty
TTYPath=/dev/console

[Install]
WantedBy=multi-user.target
"""

# /sbin/init of the image: systemd on a machine, nubo-init in a container
# (the same test as files/boot: the initial PID namespace has a fixed inode).
INIT_WRAPPER = """\
#!/bin/sh
# nubo: systemd on a (virtual) machine, nubo-init's busybox init in a container.
if [ -z "$container" ]; then
	[ -e /proc/self/ns/pid ] || mount -t proc proc /proc 2>/dev/null
	case "$(readlink /proc/self/ns/pid 2>/dev/null)" in
	"pid:[4026531836]" | "") exec /lib/systemd/systemd "$@" ;;
	esac
fi
exec /bin/busybox init "$@"
"""

# Copies each new kernel and initramfs to the FAT boot partition (mounted
# at /boot/nubo), so upgrades inside the guest take effect on reboot.
BOOT_HOOK = """\
#!/bin/sh
# nubo: keep the syslinux boot partition's kernel and initramfs current.
version=$1
[ -n "$version" ] || exit 0
mountpoint -q /boot/nubo || exit 0
[ -f "/boot/vmlinuz-$version" ] && cp "/boot/vmlinuz-$version" /boot/nubo/vmlinuz
[ -f "/boot/initrd.img-$version" ] && cp "/boot/initrd.img-$version" /boot/nubo/initrd.img
exit 0
"""


def configure(target: Path) -> None:
    """Settings, accounts and nubo's files in the installed tree."""
    (target / "boot/nubo").mkdir(parents=True, exist_ok=True)
    _write(target / "etc/hostname", "debian\n")
    _write(
        target / "etc/hosts",
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    )
    _write(target / "etc/cloud/cloud.cfg.d/90_nubo.cfg", CLOUD_CFG)
    _write(target / "etc/nubo-init.conf", f"DEFAULT_USER={LOGIN_USER}\n")
    for dest, (name, mode) in GUEST_SCRIPTS.items():
        if dest.startswith("etc/acpi/"):
            continue
        path = target / dest
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(FILES / name, path)
        path.chmod(mode)
    _write(target / "usr/lib/nubo-init/vm-markers", VM_MARKERS, 0o755)
    _write(target / "etc/systemd/system/nubo-boot-markers.service", VM_MARKERS_UNIT)
    _write(target / "usr/lib/nubo-init/init", INIT_WRAPPER, 0o755)
    _write(target / "etc/kernel/postinst.d/zz-nubo-boot", BOOT_HOOK, 0o755)
    _write(target / "etc/initramfs/post-update.d/zz-nubo-boot", BOOT_HOOK, 0o755)
    chroot(
        target,
        f"useradd -m -s /bin/bash -c Debian -G sudo,adm {LOGIN_USER}\n"
        f"echo '{LOGIN_USER} ALL=(ALL) NOPASSWD:ALL' >/etc/sudoers.d/90-nubo\n"
        "chmod 440 /etc/sudoers.d/90-nubo\n"
        "dpkg-divert --local --rename --add /sbin/init\n"
        "ln -sf /usr/lib/nubo-init/init /sbin/init\n"
        "systemctl enable systemd-networkd.service systemd-resolved.service "
        "nubo-boot-markers.service\n"
        # Serial consoles show a login prompt; nothing logs in with a password.
        "passwd -l root\n",
    )


def _package_versions(target: Path) -> dict[str, str]:
    out = run(["chroot", str(target), "dpkg-query", "-W", "-f", "${Package} ${Version}\\n"])
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def _kernel_version(target: Path) -> str:
    kernels = sorted((target / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise GuestImageError("the Debian tree has no kernel in /boot")
    return kernels[-1].name.removeprefix("vmlinuz-")


def _clean(target: Path) -> None:
    """Drop what must not be shared between instances, and caches."""
    for pattern in ("etc/ssh/ssh_host_*", "var/cache/apt/archives/*.deb", "var/lib/apt/lists/*"):
        for path in target.glob(pattern):
            if path.is_file() or path.is_symlink():
                path.unlink()
    for name in ("usr/sbin/policy-rc.d", "etc/resolv.conf.build"):
        (target / name).unlink(missing_ok=True)
    resolv = target / "etc/resolv.conf"
    resolv.unlink(missing_ok=True)
    # systemd-resolved's stub in a VM; nubo-init writes a file in a container.
    resolv.symlink_to("../run/systemd/resolve/stub-resolv.conf")
    # An empty machine-id makes systemd generate one on first boot.
    (target / "etc/machine-id").write_text("")
    (target / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    for log in (target / "var/log").rglob("*"):
        if log.is_file():
            log.write_bytes(b"")
    shutil.rmtree(target / "var/lib/cloud", ignore_errors=True)
    for tmp in (target / "tmp").iterdir():
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp)
        else:
            tmp.unlink()


def _tree_size(root: Path) -> int:
    out = subprocess.run(["du", "-sxb", str(root)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])
