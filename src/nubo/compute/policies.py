"""Default policy rules of the compute service, under Nova's rule names.

Tokens carry implied roles (admin implies member implies reader), so ``role:reader``
also admits members and admins. Which servers a caller sees (its project's; every
project's for an admin asking ``all_tenants``) is decided in the service layer;
these rules decide what a caller may do with what it sees.
"""

from __future__ import annotations

from nubo.api.policy import Rule

ADMIN = "role:admin"
PROJECT_READER = "role:admin or (role:reader and project_id:%(project_id)s)"
PROJECT_MEMBER = "role:admin or (role:member and project_id:%(project_id)s)"
ANY_USER = ""

P = "os_compute_api:"


def _rules() -> list[Rule]:
    member = {
        "servers:create": "Create a server",
        "servers:create:attach_network": "Create a server with networks",
        "servers:create:attach_volume": "Create a server with volumes",
        "servers:create:trusted_certs": "Create a server with trusted image certificates",
        "servers:update": "Update a server",
        "servers:delete": "Delete a server",
        "servers:start": "Start a server",
        "servers:stop": "Stop a server",
        "servers:reboot": "Reboot a server",
        "servers:resize": "Resize a server",
        "servers:confirm_resize": "Confirm a resize",
        "servers:revert_resize": "Revert a resize",
        "servers:rebuild": "Rebuild a server",
        "servers:rebuild:trusted_certs": "Rebuild with trusted image certificates",
        "servers:create_image": "Snapshot a server into an image",
        "os-pause-server:pause": "Pause a server",
        "os-pause-server:unpause": "Unpause a server",
        "os-suspend-server:suspend": "Suspend a server",
        "os-suspend-server:resume": "Resume a server",
        "os-lock-server:lock": "Lock a server",
        "os-lock-server:unlock": "Unlock a server",
        "os-rescue": "Rescue a server",
        "os-unrescue": "Unrescue a server",
        "os-shelve:shelve": "Shelve a server",
        "os-shelve:unshelve": "Unshelve a server",
        "os-security-groups:add": "Add a security group to a server",
        "os-security-groups:remove": "Remove a security group from a server",
        "os-console-output": "Show a server's console log",
        "os-remote-consoles": "Open a remote console",
        "os-create-backup": "Back up a server",
        "os-admin-password": "Change a server's password",
        "servers:trigger_crash_dump": "Trigger a crash dump in a server",
        "server-metadata:create": "Add server metadata",
        "server-metadata:update": "Update a server metadata item",
        "server-metadata:update_all": "Replace server metadata",
        "server-metadata:delete": "Delete a server metadata item",
        "os-server-tags:update": "Add a server tag",
        "os-server-tags:update_all": "Replace server tags",
        "os-server-tags:delete": "Delete a server tag",
        "os-server-tags:delete_all": "Delete every server tag",
        "os-attach-interfaces:create": "Attach an interface",
        "os-attach-interfaces:delete": "Detach an interface",
        "os-server-password:clear": "Clear a server's password",
        "os-server-groups:create": "Create a server group",
        "os-server-groups:delete": "Delete a server group",
        "os-deferred-delete:restore": "Restore a soft-deleted server",
        "os-deferred-delete:force": "Force-delete a server",
        "os-security-groups:create": "Create a security group (proxy)",
        "os-security-groups:update": "Update a security group (proxy)",
        "os-security-groups:delete": "Delete a security group (proxy)",
        "os-security-groups:rule:create": "Create a security group rule (proxy)",
        "os-security-groups:rule:delete": "Delete a security group rule (proxy)",
        "os-floating-ips:add": "Associate a floating IP with a server",
        "os-floating-ips:remove": "Disassociate a floating IP from a server",
        "os-floating-ips:create": "Allocate a floating IP (proxy)",
        "os-floating-ips:delete": "Release a floating IP (proxy)",
    }
    reader = {
        "servers:index": "List servers",
        "servers:detail": "List servers with details",
        "servers:show": "Show a server",
        "server-metadata:index": "List server metadata",
        "server-metadata:show": "Show a server metadata item",
        "os-server-tags:index": "List server tags",
        "os-server-tags:show": "Check a server tag",
        "ips:index": "List a server's addresses",
        "ips:show": "Show a server's addresses on one network",
        "os-attach-interfaces:list": "List a server's interfaces",
        "os-attach-interfaces:show": "Show a server's interface",
        "os-instance-actions:list": "List a server's actions",
        "os-instance-actions:show": "Show a server action",
        "os-server-password:show": "Show a server's password",
        "os-server-groups:index": "List server groups",
        "os-server-groups:show": "Show a server group",
        "os-quota-sets:show": "Show a project's quotas",
        "os-quota-sets:detail": "Show a project's quota usage",
        "os-simple-tenant-usage:show": "Show a project's usage",
        "os-security-groups:get": "List security groups (proxy)",
        "os-security-groups:show": "Show a security group (proxy)",
        "os-security-groups:list": "List a server's security groups",
        "os-floating-ips:list": "List floating IPs (proxy)",
        "os-floating-ips:show": "Show a floating IP (proxy)",
        "os-networks:list": "List networks (proxy)",
        "os-networks:view": "Show a network (proxy)",
        "os-tenant-networks:list": "List the project's networks (proxy)",
        "os-tenant-networks:show": "Show one of the project's networks (proxy)",
    }
    admin = {
        "servers:index:get_all_tenants": "List every project's servers",
        "servers:detail:get_all_tenants": "List every project's servers with details",
        "servers:allow_all_filters": "Filter servers by any attribute",
        "servers:show:host_status": "See host status in server bodies",
        "servers:show:host_status:unknown-only": "See only UNKNOWN host status",
        "servers:create:forced_host": "Pick the host of a new server",
        "servers:create:requested_destination": "Ask for a host of a new server",
        "servers:migrations:index": "List a server's migrations",
        "servers:migrations:show": "Show a server's migration",
        "servers:migrations:force_complete": "Force a live migration to complete",
        "servers:migrations:delete": "Abort a live migration",
        "os-extended-server-attributes": "See hosts and instance names in server bodies",
        "os-admin-actions:reset_state": "Reset a server's state",
        "os-admin-actions:inject_network_info": "Inject network info",
        "os-migrate-server:migrate": "Cold-migrate a server",
        "os-migrate-server:migrate_live": "Live-migrate a server",
        "os-evacuate": "Evacuate a server",
        "os-lock-server:unlock:unlock_override": "Unlock a server another caller locked",
        "os-instance-actions:events": "See action events",
        "os-instance-actions:events:details": "See action event details",
        "os-shelve:shelve_offload": "Offload a shelved server",
        "os-shelve:unshelve_to_host": "Unshelve a server to a given host",
        "os-server-groups:index:all_projects": "List every project's server groups",
        "os-flavor-access": "List a private flavor's projects",
        "limits:other_project": "Show another project's limits",
        "os-flavor-manage:create": "Create a flavor",
        "os-flavor-manage:update": "Update a flavor's description",
        "os-flavor-manage:delete": "Delete a flavor",
        "os-flavor-access:add_tenant_access": "Give a project a private flavor",
        "os-flavor-access:remove_tenant_access": "Take a private flavor from a project",
        "os-flavor-extra-specs:create": "Set flavor extra specs",
        "os-flavor-extra-specs:update": "Update a flavor extra spec",
        "os-flavor-extra-specs:delete": "Delete a flavor extra spec",
        "os-quota-sets:update": "Set a project's quotas",
        "os-quota-sets:delete": "Reset a project's quotas",
        "os-quota-class-sets:show": "Show quota class defaults",
        "os-quota-class-sets:update": "Set quota class defaults",
        "os-simple-tenant-usage:list": "Show every project's usage",
        "os-availability-zone:detail": "List availability zones with their hosts",
        "os-services:list": "List compute services",
        "os-services:update": "Enable, disable or force down a service",
        "os-services:delete": "Delete a compute service",
        "os-hypervisors:list": "List hypervisors",
        "os-hypervisors:list-detail": "List hypervisors with details",
        "os-hypervisors:show": "Show a hypervisor",
        "os-hypervisors:statistics": "Show hypervisor statistics",
        "os-hypervisors:uptime": "Show a hypervisor's uptime",
        "os-hypervisors:search": "Search hypervisors",
        "os-hypervisors:servers": "List a hypervisor's servers",
        "os-aggregates:index": "List aggregates",
        "os-aggregates:create": "Create an aggregate",
        "os-aggregates:show": "Show an aggregate",
        "os-aggregates:update": "Update an aggregate",
        "os-aggregates:delete": "Delete an aggregate",
        "os-aggregates:add_host": "Add a host to an aggregate",
        "os-aggregates:remove_host": "Remove a host from an aggregate",
        "os-aggregates:set_metadata": "Set an aggregate's metadata",
        "os-aggregates:images": "Cache images on an aggregate's hosts",
        "os-migrations:index": "List migrations",
        "os-hosts:list": "List hosts (legacy, up to 2.42)",
        "os-hosts:show": "Show a host's resources (legacy)",
        "os-hosts:update": "Enable or disable a host (legacy)",
        "os-hosts:start": "Start up a host (legacy)",
        "os-hosts:shutdown": "Shut down a host (legacy)",
        "os-hosts:reboot": "Reboot a host (legacy)",
        "os-console-auth-tokens": "Show a console token's connection",
        "os-instance-usage-audit-log:list": "List instance usage audit logs",
        "os-instance-usage-audit-log:show": "Show an instance usage audit log",
        "os-server-external-events:create": "Send external events to servers",
        "os-server-diagnostics": "Show a server's diagnostics",
        "os-assisted-volume-snapshots:create": "Create an assisted volume snapshot",
    }
    anyone = {
        "os-keypairs:index": "List keypairs",
        "os-keypairs:show": "Show a keypair",
        "os-keypairs:create": "Create or import a keypair",
        "os-keypairs:delete": "Delete a keypair",
        "os-flavor-extra-specs:index": "List flavor extra specs",
        "os-flavor-extra-specs:show": "Show a flavor extra spec",
        "limits": "Show absolute limits",
        "os-availability-zone:list": "List availability zones",
        "os-quota-sets:defaults": "Show default quotas",
        "extensions": "List API extensions",
    }
    rules: list[Rule] = []
    rules += [Rule(P + name, PROJECT_MEMBER, text) for name, text in member.items()]
    rules += [Rule(P + name, PROJECT_READER, text) for name, text in reader.items()]
    rules += [Rule(P + name, ADMIN, text) for name, text in admin.items()]
    # keypairs are the user's own: an admin may act on another user's (``user_id``)
    keypair_owner = "role:admin or user_id:%(user_id)s"
    rules += [
        Rule(P + name, keypair_owner if name.startswith("os-keypairs") else ANY_USER, text)
        for name, text in anyone.items()
    ]
    return rules


RULES: list[Rule] = _rules()
