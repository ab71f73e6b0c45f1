"""API extensions: /extensions and /extensions/{alias} (any user).

Nova v2.1 has no extensions any more but still lists the v2 ones it folded in;
clients (and Tempest) read the list to see what a cloud offers. This is the list of
those nubo honours.
"""

from __future__ import annotations

from typing import Any

from nubo.api.routing import ApiRequest, Reply
from nubo.compute.api.common import caller, router
from nubo.errors import NotFound

_NAMESPACE = "http://docs.openstack.org/compute/ext/fake_xml"
_UPDATED = "2014-12-03T00:00:00Z"

# (alias, name, description), listed in alias order as Nova does
_HONOURED = (
    ("NMN", "Multinic", "Several networks per server."),
    ("OS-DCF", "DiskConfig", "Disk configuration (diskConfig) of servers."),
    ("OS-EXT-AZ", "ExtendedAvailabilityZone", "The availability zone of a server."),
    ("OS-EXT-IPS", "ExtendedIps", "The type (fixed or floating) of a server's addresses."),
    ("OS-EXT-IPS-MAC", "ExtendedIpsMac", "The MAC address of a server's addresses."),
    ("OS-EXT-SRV-ATTR", "ExtendedServerAttributes", "Host and instance names of servers."),
    ("OS-EXT-STS", "ExtendedStatus", "vm_state, task_state and power_state of servers."),
    ("OS-FLV-DISABLED", "FlavorDisabled", "Whether a flavor is disabled."),
    ("OS-FLV-EXT-DATA", "FlavorExtraData", "Ephemeral disk size of flavors."),
    ("OS-SCH-HNT", "SchedulerHints", "Hints to the scheduler when creating servers."),
    ("OS-SRV-USG", "ServerUsage", "launched_at and terminated_at of servers."),
    ("os-access-ips", "AccessIPs", "accessIPv4 and accessIPv6 of servers."),
    ("os-admin-actions", "AdminActions", "Reset the state of servers."),
    ("os-admin-password", "AdminPassword", "Change a server's administrator password."),
    ("os-aggregates", "Aggregates", "Host aggregates."),
    ("os-attach-interfaces", "AttachInterfaces", "Attach and detach network interfaces."),
    ("os-availability-zone", "AvailabilityZone", "Availability zones."),
    ("os-config-drive", "ConfigDrive", "Config drives for servers."),
    ("os-console-auth-tokens", "ConsoleAuthTokens", "The connection behind a console token."),
    ("os-console-output", "ConsoleOutput", "The console log of servers."),
    ("os-consoles", "Consoles", "Interactive consoles of servers."),
    ("os-create-backup", "CreateBackup", "Rotating backups of servers."),
    ("os-deferred-delete", "DeferredDelete", "Restore and force-delete servers."),
    ("os-extended-status", "ExtendedStatus", "Extended status attributes of servers."),
    ("os-extended-hypervisors", "ExtendedHypervisors", "More hypervisor attributes."),
    ("os-extended-quotas", "ExtendedQuotas", "Delete a project's quotas."),
    ("os-extended-rescue-with-image", "ExtendedRescueWithImage", "Rescue from a given image."),
    ("os-extended-services", "ExtendedServices", "Disable services with a reason."),
    ("os-extended-services-delete", "ExtendedServicesDelete", "Delete compute services."),
    ("os-flavor-access", "FlavorAccess", "Private flavors and the projects using them."),
    ("os-flavor-extra-specs", "FlavorExtraSpecs", "Extra specs of flavors."),
    ("os-flavor-manage", "FlavorManage", "Create and delete flavors."),
    ("os-flavor-rxtx", "FlavorRxtx", "The rxtx factor of flavors."),
    ("os-flavor-swap", "FlavorSwap", "The swap size of flavors."),
    ("os-hosts", "Hosts", "Hosts and what their servers use (before 2.43)."),
    ("os-hypervisor-status", "HypervisorStatus", "The state and status of hypervisors."),
    ("os-hypervisors", "Hypervisors", "Hypervisors and their resources."),
    ("os-instance-actions", "InstanceActions", "The actions taken on servers."),
    ("os-keypairs", "Keypairs", "SSH keypairs."),
    ("os-lock-server", "LockServer", "Lock and unlock servers."),
    ("os-migrate-server", "MigrateServer", "Migrate servers between hosts."),
    ("os-migrations", "Migrations", "Migrations and resizes."),
    ("os-multiple-create", "MultipleCreate", "Create several servers in one request."),
    ("os-pause-server", "PauseServer", "Pause and unpause servers."),
    ("os-quota-class-sets", "QuotaClasses", "Default quotas."),
    ("os-quota-sets", "Quotas", "Quotas of projects and users."),
    ("os-remote-consoles", "RemoteConsoles", "Remote (VNC and serial) consoles."),
    ("os-rescue", "Rescue", "Rescue and unrescue servers."),
    ("os-security-groups", "SecurityGroups", "Security groups of servers."),
    ("os-server-groups", "ServerGroups", "Server groups (affinity and anti-affinity)."),
    ("os-server-password", "ServerPassword", "Encrypted server passwords."),
    ("os-server-group-quotas", "ServerGroupQuotas", "Quotas on server groups."),
    ("os-server-list-multi-status", "ServerListMultiStatus", "Filter servers by several statuses."),
    ("os-server-start-stop", "ServerStartStop", "Start and stop servers."),
    ("os-server-sort-keys", "ServerSortKeys", "Sort server lists."),
    ("os-services", "Services", "Compute services."),
    ("os-shelve", "Shelve", "Shelve and unshelve servers."),
    ("os-simple-tenant-usage", "SimpleTenantUsage", "Usage of projects over a period."),
    ("os-suspend-server", "SuspendServer", "Suspend and resume servers."),
    ("os-used-limits", "UsedLimits", "What a project uses of its limits."),
    ("os-used-limits-for-admin", "UsedLimitsForAdmin", "Another project's limits, for admins."),
    ("os-user-data", "UserData", "User data for servers."),
    ("os-user-quotas", "UserQuotas", "Quotas per user."),
)

EXTENSIONS: list[dict[str, Any]] = [
    {
        "alias": alias,
        "name": name,
        "description": description,
        "links": [],
        "namespace": _NAMESPACE,
        "updated": _UPDATED,
    }
    for alias, name, description in sorted(_HONOURED)
]


@router.route("GET", "/v2.1/extensions")
def list_extensions(req: ApiRequest) -> Reply:
    caller(req).check("extensions")
    return Reply(200, {"extensions": EXTENSIONS})


@router.route("GET", "/v2.1/extensions/{alias}")
def show_extension(req: ApiRequest) -> Reply:
    caller(req).check("extensions")
    alias = req.params["alias"]
    for extension in EXTENSIONS:
        if extension["alias"] == alias:
            return Reply(200, {"extension": extension})
    raise NotFound(f"Extension {alias} could not be found.")
