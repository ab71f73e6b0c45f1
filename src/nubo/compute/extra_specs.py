"""Flavor extra spec checks.

Always (every microversion): keys of 1-255 characters from ``[a-zA-Z0-9-_:. ]`` and
values that are strings or numbers of at most 255 characters. From microversion 2.86
the keys of the namespaces Nova knows (``hw:``, ``hw_rng:``, ``quota:``,
``resources:``, ``trait:`` ...) must be ones it knows, with values of the right kind;
keys outside those namespaces (``aggregate_instance_extra_specs:``, ``capabilities:``,
anything without a colon) are free, since scheduler filters read them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from nubo.errors import BadRequest

KEY = re.compile(r"^[a-zA-Z0-9-_:. ]{1,255}$")
MAX_VALUE = 255

Check = Callable[[str], str | None]  # the reason a value is wrong, or None


def _enum(*choices: str) -> Check:
    def check(value: str) -> str | None:
        if value in choices:
            return None
        return f"'{value}' is not one of: {', '.join(choices)}."

    return check


def _integer(minimum: int | None = None) -> Check:
    def check(value: str) -> str | None:
        try:
            number = int(value)
        except ValueError:
            return f"'{value}' is not a valid integer value."
        if minimum is not None and number < minimum:
            return f"'{value}' is less than the min value of '{minimum}'."
        return None

    return check


BOOLEANS = frozenset({"true", "false", "1", "0", "yes", "no", "on", "off", "t", "f", "y", "n"})


def _boolean(value: str) -> str | None:
    if value.strip().lower() in BOOLEANS:
        return None
    return f"'{value}' is not a valid boolean-like value."


def _pattern(regex: str) -> Check:
    compiled = re.compile(regex)

    def check(value: str) -> str | None:
        if compiled.fullmatch(value):
            return None
        return f"'{value}' is not of the format '{regex}'."

    return check


def _any(_value: str) -> str | None:
    return None


CPU_MASK = r"\^?\d+((-\d+)?(,\^?\d+(-\d+)?)?)*"

# exact names Nova knows, with what their values must be
KNOWN: dict[str, Check] = {
    "hw:cpu_realtime": _boolean,
    "hw:cpu_realtime_mask": _pattern(r"(\^)?\d+((-\d+)?(,\^?\d+(-\d+)?)?)*"),
    "hw:hide_hypervisor_id": _boolean,
    "hw:cpu_policy": _enum("dedicated", "shared", "mixed"),
    "hw:cpu_thread_policy": _enum("prefer", "isolate", "require"),
    "hw:emulator_threads_policy": _enum("isolate", "share"),
    "hw:cpu_dedicated_mask": _pattern(CPU_MASK),
    "hw:mem_page_size": _pattern(r"(large|small|any|\d+([kKMGT]i?)?(b|bit|B)?)"),
    "hw:locked_memory": _boolean,
    "hw:numa_nodes": _integer(1),
    "hw:pci_numa_affinity_policy": _enum("required", "preferred", "legacy", "socket"),
    "hw:cpu_sockets": _integer(1),
    "hw:cpu_cores": _integer(1),
    "hw:cpu_threads": _integer(1),
    "hw:cpu_max_sockets": _integer(1),
    "hw:cpu_max_cores": _integer(1),
    "hw:cpu_max_threads": _integer(1),
    "hw:boot_menu": _boolean,
    "hw:vif_multiqueue_enabled": _boolean,
    "hw:mem_encryption": _boolean,
    "hw:mem_encryption_model": _enum("amd-sev", "amd-sev-es", "amd-sev-snp"),
    "hw:pmem": _pattern(r"([a-zA-Z0-9_]+(,)?)+"),
    "hw:pmu": _boolean,
    "hw:serial_port_count": _integer(0),
    "hw:tpm_model": _enum("tpm-tis", "tpm-crb"),
    "hw:tpm_version": _enum("1.2", "2.0"),
    "hw:tpm_secret_security": _enum("user", "host", "deployment"),
    "hw:watchdog_action": _enum("none", "pause", "poweroff", "reset", "disabled"),
    "hw:viommu_model": _enum("intel", "smmuv3", "virtio", "auto"),
    "hw:virtio_packed_ring": _boolean,
    "hw:sound_model": _any,
    "hw:usb_model": _any,
    "hw:redirected_usb_ports": _integer(0),
    "hw:ephemeral_encryption": _boolean,
    "hw:ephemeral_encryption_format": _any,
    "hw_rng:allowed": _boolean,
    "hw_rng:rate_bytes": _integer(0),
    "hw_rng:rate_period": _integer(0),
    "hw_video:ram_max_mb": _integer(0),
    "os:secure_boot": _enum("disabled", "required"),
    "hide_hypervisor_id": _boolean,
    "group_policy": _enum("isolate", "none"),
    "accel:device_profile": _any,
    "vmware:hw_version": _any,
    "vmware:storage_policy": _any,
    "pci_passthrough:alias": _pattern(r"[^:]+:\d+(?:\s*,\s*[^:]+:\d+)*"),
    "quota:cpu_shares": _integer(0),
    "quota:cpu_period": _integer(0),
    "quota:cpu_quota": _integer(),
}
for _kind in ("cpu", "memory", "disk_io", "vif"):
    KNOWN[f"quota:{_kind}_limit"] = _integer(0)
    KNOWN[f"quota:{_kind}_reservation"] = _integer(0)
    KNOWN[f"quota:{_kind}_shares_level"] = _enum("custom", "high", "normal", "low")
    KNOWN[f"quota:{_kind}_shares_share"] = _integer(0)
for _stat in ("read", "write", "total"):
    for _metric in ("bytes", "iops"):
        KNOWN[f"quota:disk_{_stat}_{_metric}_sec"] = _integer(0)
for _stat in ("inbound", "outbound"):
    for _metric in ("average", "peak", "burst"):
        KNOWN[f"quota:vif_{_stat}_{_metric}"] = _integer(0)

# names with a parameter in them
PATTERNS: list[tuple[re.Pattern[str], Check]] = [
    (re.compile(r"hw:numa_cpus\.\d+"), _pattern(CPU_MASK)),
    (re.compile(r"hw:numa_mem\.\d+"), _integer(1)),
    (re.compile(r"resources([a-zA-Z0-9_-]{1,64})?:[A-Z0-9_]+"), _integer(0)),
    (re.compile(r"trait([a-zA-Z0-9_-]{1,64})?:[A-Z0-9_]+"), _enum("required", "forbidden")),
]

# namespaces whose keys must be known ones
NAMESPACES = re.compile(
    r"hw|hw_rng|hw_video|os|quota|accel|vmware|pci_passthrough"
    r"|resources([a-zA-Z0-9_-]{1,64})?|trait([a-zA-Z0-9_-]{1,64})?"
)


def _known(name: str, value: str) -> None:
    check = KNOWN.get(name)
    if check is None:
        for pattern, candidate in PATTERNS:
            if pattern.fullmatch(name):
                check = candidate
                break
    if check is None:
        if ":" in name and NAMESPACES.fullmatch(name.split(":", 1)[0]):
            raise BadRequest(
                f"Validation failed; extra spec '{name}' does not appear to be a valid extra spec."
            )
        return
    reason = check(value)
    if reason:
        raise BadRequest(f"Validation failed; {reason}")


def check(specs: Any, strict: bool) -> dict[str, str]:
    """The specs as stored (values as strings); 400 naming the bad key or value.
    ``strict``: microversion 2.86 or later, known namespaces checked."""
    if not isinstance(specs, Mapping):
        raise BadRequest(
            "Invalid input for field/attribute extra_specs. Value: "
            f"{specs}. {specs!r} is not of type 'object'"
        )
    out: dict[str, str] = {}
    for key, value in specs.items():
        if not KEY.match(key):
            raise BadRequest(
                f"Invalid input for field/attribute extra_specs. Value: {key}. "
                f"'{key}' does not match any of the regexes: '^[a-zA-Z0-9-_:. ]{{1,255}}$'"
            )
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise BadRequest(
                f"Invalid input for field/attribute {key}. Value: {value}. "
                f"{value!r} is not of type 'string', 'number'"
            )
        text = value if isinstance(value, str) else str(value)
        if len(text) > MAX_VALUE:
            raise BadRequest(
                f"Invalid input for field/attribute {key}. Value: {text}. "
                f"extra_specs value has more than {MAX_VALUE} characters."
            )
        if strict:
            _known(key, text)
        out[key] = text
    return out
