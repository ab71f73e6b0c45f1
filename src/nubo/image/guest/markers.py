"""What nubo's guest images print on their console, and how to run them.

nubo-init (files/boot) writes one line per boot step, each starting with
MARKER_PREFIX, to the serial console of a VM or the stdout of a container.
Compute tests and drivers match these to tell how far a guest got; the lines
are an interface, so change them together with files/boot.
"""

from __future__ import annotations

MARKER_PREFIX = "nubo-init:"

# "nubo-init: starting <image> as vm|container (kernel ...)"
STARTING_MARKER = "nubo-init: starting "
# "nubo-init: dhcp eth0 ip=10.0.0.5/24 router=10.0.0.1 mtu=1450 dns=... server=... lease=...s"
# or "nubo-init: dhcp eth0 no lease yet (...)"
DHCP_MARKER = "nubo-init: dhcp "
DHCP_NO_LEASE = "no lease yet"
# "nubo-init: metadata source=metadata service http://... instance-id=... hostname=... keys=N
#  user-data=..." or "nubo-init: metadata source=none: ..."
METADATA_MARKER = "nubo-init: metadata source="
METADATA_NONE_MARKER = "nubo-init: metadata source=none"
# "nubo-init: user-data ran, exit code N"; "nubo-init: user-data none";
# "nubo-init: user-data already ran for instance ..."
USER_DATA_RAN_MARKER = "nubo-init: user-data ran, exit code "
USER_DATA_NONE_MARKER = "nubo-init: user-data none"
USER_DATA_ALREADY_RAN_MARKER = "nubo-init: user-data already ran"
# "nubo-init: ssh ready port 22 (dropbear) host keys ssh-ed25519 SHA256:..., ecdsa-... SHA256:..."
SSH_READY_MARKER = "nubo-init: ssh ready port 22"
# "nubo-init: boot finished in 12.3s (vm, instance <id>)"
BOOT_FINISHED_MARKER = "nubo-init: boot finished"
# "nubo-init: shutting down"
SHUTDOWN_MARKER = "nubo-init: shutting down"
# nubo's initramfs (VM boots only): "nubo-initramfs: root LABEL=nubo-root is /dev/vda2"
INITRAMFS_PREFIX = "nubo-initramfs:"

# The user an injected key logs in as.
LOGIN_USER = {"tiny": "root", "debian": "debian"}

# A namespace-container driver runs this as PID 1 inside the image's root
# filesystem, with this environment (the systemd convention for telling an
# init it runs in a container; nubo-init also checks its PID namespace).
CONTAINER_INIT = "/sbin/init"
CONTAINER_ENV = {"container": "nubo", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "TERM": "vt100"}

# Properties to give the images in the image service.
IMAGE_PROPERTIES = {
    "hw_disk_bus": "virtio",
    "hw_vif_model": "virtio",
    "os_type": "linux",
}
