"""Guest images nubo builds: nubo-tiny and nubo-debian.

build_tiny() makes a CirrOS-like image of a few MB from Debian packages
(kernel, busybox-static, dropbear) with nubo-init as its boot sequence;
build_debian() makes a Debian 12 image with cloud-init via debootstrap. Both
give a qcow2 (container_format bare) that boots under QEMU and, through
extract_rootfs(), as a namespace container. The console markers nubo-init
prints are the constants re-exported from markers.
"""

from __future__ import annotations

from nubo.image.guest.cache import read_manifest
from nubo.image.guest.debian import build_debian
from nubo.image.guest.errors import GuestImageError
from nubo.image.guest.extract import extract_rootfs
from nubo.image.guest.markers import (
    BOOT_FINISHED_MARKER,
    CONTAINER_ENV,
    CONTAINER_INIT,
    DHCP_MARKER,
    DHCP_NO_LEASE,
    IMAGE_PROPERTIES,
    INITRAMFS_PREFIX,
    LOGIN_USER,
    MARKER_PREFIX,
    METADATA_MARKER,
    METADATA_NONE_MARKER,
    SHUTDOWN_MARKER,
    SSH_READY_MARKER,
    STARTING_MARKER,
    USER_DATA_ALREADY_RAN_MARKER,
    USER_DATA_NONE_MARKER,
    USER_DATA_RAN_MARKER,
)
from nubo.image.guest.tiny import build_tiny

__all__ = [
    "BOOT_FINISHED_MARKER",
    "CONTAINER_ENV",
    "CONTAINER_INIT",
    "DHCP_MARKER",
    "DHCP_NO_LEASE",
    "IMAGE_PROPERTIES",
    "INITRAMFS_PREFIX",
    "LOGIN_USER",
    "MARKER_PREFIX",
    "METADATA_MARKER",
    "METADATA_NONE_MARKER",
    "SHUTDOWN_MARKER",
    "SSH_READY_MARKER",
    "STARTING_MARKER",
    "USER_DATA_ALREADY_RAN_MARKER",
    "USER_DATA_NONE_MARKER",
    "USER_DATA_RAN_MARKER",
    "GuestImageError",
    "build_debian",
    "build_tiny",
    "extract_rootfs",
    "read_manifest",
]
