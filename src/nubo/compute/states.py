"""Nova's server states: vm_state (what the server should be), task_state (the
operation under way) and how the API's ``status`` is derived from them."""

from __future__ import annotations

# vm states
ACTIVE = "active"
BUILDING = "building"
PAUSED = "paused"
SUSPENDED = "suspended"
STOPPED = "stopped"
RESCUED = "rescued"
RESIZED = "resized"
SOFT_DELETED = "soft-delete"
DELETED = "deleted"
ERROR = "error"
SHELVED = "shelved"
SHELVED_OFFLOADED = "shelved_offloaded"

# task states
SCHEDULING = "scheduling"
BLOCK_DEVICE_MAPPING = "block_device_mapping"
NETWORKING = "networking"
SPAWNING = "spawning"
IMAGE_SNAPSHOT = "image_snapshot"
IMAGE_SNAPSHOT_PENDING = "image_snapshot_pending"
IMAGE_PENDING_UPLOAD = "image_pending_upload"
IMAGE_UPLOADING = "image_uploading"
UPDATING_PASSWORD = "updating_password"
RESIZE_PREP = "resize_prep"
RESIZE_MIGRATING = "resize_migrating"
RESIZE_MIGRATED = "resize_migrated"
RESIZE_FINISH = "resize_finish"
RESIZE_REVERTING = "resize_reverting"
RESIZE_CONFIRMING = "resize_confirming"
REBOOTING = "rebooting"
REBOOT_PENDING = "reboot_pending"
REBOOT_STARTED = "reboot_started"
REBOOTING_HARD = "rebooting_hard"
REBOOT_PENDING_HARD = "reboot_pending_hard"
REBOOT_STARTED_HARD = "reboot_started_hard"
PAUSING = "pausing"
UNPAUSING = "unpausing"
SUSPENDING = "suspending"
RESUMING = "resuming"
POWERING_OFF = "powering-off"
POWERING_ON = "powering-on"
RESCUING = "rescuing"
UNRESCUING = "unrescuing"
REBUILDING = "rebuilding"
REBUILD_BLOCK_DEVICE_MAPPING = "rebuild_block_device_mapping"
REBUILD_SPAWNING = "rebuild_spawning"
MIGRATING = "migrating"
DELETING = "deleting"
SHELVING = "shelving"
SHELVING_IMAGE_PENDING_UPLOAD = "shelving_image_pending_upload"
SHELVING_IMAGE_UPLOADING = "shelving_image_uploading"
SHELVING_OFFLOADING = "shelving_offloading"
UNSHELVING = "unshelving"

# (vm_state, task_state or None for any) -> API status; Nova's table
_STATUS_BY_VM_STATE = {
    ACTIVE: "ACTIVE",
    BUILDING: "BUILD",
    STOPPED: "SHUTOFF",
    RESIZED: "VERIFY_RESIZE",
    PAUSED: "PAUSED",
    SUSPENDED: "SUSPENDED",
    RESCUED: "RESCUE",
    ERROR: "ERROR",
    DELETED: "DELETED",
    SOFT_DELETED: "SOFT_DELETED",
    SHELVED: "SHELVED",
    SHELVED_OFFLOADED: "SHELVED_OFFLOADED",
}
_STATUS_BY_TASK = {
    ACTIVE: {
        REBOOTING: "REBOOT",
        REBOOT_PENDING: "REBOOT",
        REBOOT_STARTED: "REBOOT",
        REBOOTING_HARD: "HARD_REBOOT",
        REBOOT_PENDING_HARD: "HARD_REBOOT",
        REBOOT_STARTED_HARD: "HARD_REBOOT",
        UPDATING_PASSWORD: "PASSWORD",
        REBUILDING: "REBUILD",
        REBUILD_BLOCK_DEVICE_MAPPING: "REBUILD",
        REBUILD_SPAWNING: "REBUILD",
        MIGRATING: "MIGRATING",
        RESIZE_PREP: "RESIZE",
        RESIZE_MIGRATING: "RESIZE",
        RESIZE_MIGRATED: "RESIZE",
        RESIZE_FINISH: "RESIZE",
    },
    STOPPED: {
        RESIZE_PREP: "RESIZE",
        RESIZE_MIGRATING: "RESIZE",
        RESIZE_MIGRATED: "RESIZE",
        RESIZE_FINISH: "RESIZE",
        REBUILDING: "REBUILD",
        REBUILD_BLOCK_DEVICE_MAPPING: "REBUILD",
        REBUILD_SPAWNING: "REBUILD",
    },
    RESIZED: {RESIZE_REVERTING: "REVERT_RESIZE"},
    ERROR: {
        REBUILDING: "REBUILD",
        REBUILD_BLOCK_DEVICE_MAPPING: "REBUILD",
        REBUILD_SPAWNING: "REBUILD",
    },
}


def status(vm_state: str, task_state: str | None) -> str:
    """The API ``status`` of a server (Nova's mapping); ``UNKNOWN`` if none fits."""
    if task_state == DELETING:
        return "DELETED" if vm_state == DELETED else _STATUS_BY_VM_STATE.get(vm_state, "UNKNOWN")
    by_task = _STATUS_BY_TASK.get(vm_state, {})
    if task_state in by_task:
        return by_task[task_state]
    return _STATUS_BY_VM_STATE.get(vm_state, "UNKNOWN")


def vm_states_for_status(wanted: str) -> list[str]:
    """The vm_states a ``status=`` list filter stands for."""
    wanted = wanted.upper()
    found = [vm for vm, st in _STATUS_BY_VM_STATE.items() if st == wanted]
    for vm, tasks in _STATUS_BY_TASK.items():
        if wanted in tasks.values() and vm not in found:
            found.append(vm)
    return found


def task_states_for_status(wanted: str) -> list[str]:
    """Task states that alone map to ``wanted`` (REBOOT, HARD_REBOOT, RESIZE ...)."""
    wanted = wanted.upper()
    return sorted(
        {t for tasks in _STATUS_BY_TASK.values() for t, st in tasks.items() if st == wanted}
    )


ALL_STATUSES = frozenset(_STATUS_BY_VM_STATE.values()) | {
    status for tasks in _STATUS_BY_TASK.values() for status in tasks.values()
}
