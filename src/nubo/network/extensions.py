"""The Neutron extensions nubo implements: ``/v2.0/extensions`` lists exactly these, and
clients (Tempest among them) decide what to use from this list, so an alias belongs
here only when what it names works."""

from __future__ import annotations

from typing import Any

# alias -> (name, description)
EXTENSIONS: dict[str, tuple[str, str]] = {
    "address-scope": ("Address scope", "Address scopes for subnet pools"),
    "agent": ("agent", "The agent management extension"),
    "allowed-address-pairs": ("Allowed Address Pairs", "Extra addresses a port may use"),
    "availability_zone": ("Availability Zone", "The availability zone extension"),
    "binding": ("Port Binding", "Expose port bindings of a virtual port to external application"),
    "default-subnetpools": ("Default Subnetpools", "Default subnet pools per IP version"),
    "dns-integration": ("DNS Integration", "Instance names in the network's DNS"),
    "empty-string-filtering": ("Empty String Filtering", "Filter on empty string values"),
    "external-net": ("Neutron external network", "Adds external network attribute"),
    "ext-gw-mode": ("Neutron L3 Configurable external gateway mode", "SNAT on the gateway"),
    "extra_dhcp_opt": ("Neutron Extra DHCP options", "Extra DHCP options on a port"),
    "extraroute": ("Neutron Extra Route", "Static routes on routers"),
    "extraroute-atomic": (
        "Atomic add/remove of extra routes",
        "add_extraroutes/remove_extraroutes",
    ),
    "fip-port-details": ("Floating IP Port Details", "The associated port's details"),
    "floating-ip-port-forwarding": ("Floating IP Port Forwarding", "Port forwardings"),
    "floating-ip-port-forwarding-description": (
        "Floating IP Port Forwarding description",
        "Descriptions on port forwardings",
    ),
    "floating-ip-port-forwarding-port-ranges": (
        "Floating IP Port Forwarding port ranges",
        "Port ranges on port forwardings",
    ),
    "ip-allocation": ("IP Allocation", "ip_allocation on ports"),
    "ip-substring-filtering": ("IP address substring filtering", "fixed_ips=ip_address_substr="),
    "expose-port-forwarding-in-fip": (
        "Expose port forwardings in a floating IP",
        "FIP shows its forwardings",
    ),
    "net-mtu": ("Network MTU", "The network's MTU"),
    "net-mtu-writable": ("Network MTU (writable)", "The network's MTU may be changed"),
    "network_availability_zone": ("Network Availability Zone", "Availability zones of networks"),
    "network-ip-availability": ("Network IP Availability", "Address usage of networks"),
    "pagination": ("Pagination support", "limit, marker and page_reverse on lists"),
    "port-security": ("Port Security", "Anti-spoofing and security groups may be turned off"),
    "project-id": ("project_id field enabled", "Resources carry project_id"),
    "provider": ("Provider Network", "Provider network attributes"),
    "quotas": ("Quota management support", "Per-project quotas"),
    "quota_details": ("Quota details management support", "Quota usage details"),
    "rbac-policies": ("RBAC Policies", "Share networks with projects"),
    "revision-if-match": ("If-Match constraints based on revision_number", "If-Match on updates"),
    "router": ("Neutron L3 Router", "Routers and floating IPs"),
    "router_availability_zone": ("Router Availability Zone", "Availability zones of routers"),
    "security-group": ("security-group", "The security groups extension"),
    "security-groups-normalized-cidr": ("Normalized CIDR field", "normalized_cidr on rules"),
    "security-groups-rules-belongs-to-default-sg": (
        "Rules of default groups",
        "belongs_to_default_sg on rules",
    ),
    "sorting": ("Sorting support", "sort_key and sort_dir on lists"),
    "standard-attr-description": ("standard-attr-description", "Descriptions on resources"),
    "standard-attr-revisions": ("Resource revision numbers", "revision_number on resources"),
    "standard-attr-tag": ("Tag support for resources", "Tags on resources"),
    "tag": ("Tag support", "Tags on networks, subnets, ports, routers and subnet pools"),
    "standard-attr-timestamp": ("Resource timestamps", "created_at and updated_at"),
    "stateful-security-group": ("Stateful security group", "Stateless security groups"),
    "subnet_allocation": ("Subnet Allocation", "Subnets from subnet pools"),
    "subnet-external-network": (
        "Subnet External Network",
        "Subnets of external networks are visible to every project",
    ),
    "subnetpool-prefix-ops": ("Subnet pool prefix operations", "add_prefixes/remove_prefixes"),
}

UPDATED = "2026-11-21T00:00:00-00:00"


def view(alias: str) -> dict[str, Any]:
    name, description = EXTENSIONS[alias]
    return {
        "alias": alias,
        "name": name,
        "description": description,
        "updated": UPDATED,
        "links": [],
    }
