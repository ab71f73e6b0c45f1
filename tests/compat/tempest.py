#!/usr/bin/env python3
"""Run Tempest's API tests (identity, image, network, compute) against a cloud; keep the results.

    python3 tests/compat/tempest.py setup --dir build/tempest
    python3 tests/compat/tempest.py run --dir build/tempest \\
        --auth-url http://127.0.0.1:5000/v3 --admin-password secret \\
        --regex 'tempest.api.identity|tempest.api.image|tempest.api.network' \\
        --results build/compat.json
    python3 tests/compat/tempest.py check --results build/compat.json \\
        --pass-list tests/compat/identity-pass-list.txt --prefix tempest.api.identity

``setup`` makes DIR/venv with a pinned Tempest (every dependency pinned).
``run`` writes DIR/workspace/etc/tempest.conf for a cloud with identity and,
when the token's catalog lists the ``image`` service, image (Glance v2), and
when it lists ``network``, network (Neutron v2.0: the extensions Tempest may
use are the ones the cloud's ``/v2.0/extensions`` lists, and the public
network is the external network named ``public``), and when it lists
``compute``, compute (Nova v2.1: microversions up to the cloud's newest,
flavors 42/84, two public images -- nubo-tiny/nubo-debian if registered,
else small raw ones it uploads -- and a shared network ``tempest-shared``
routed to ``public``, which it makes if absent, all as the admin);
runs the tests selected by --regex with at most 2 workers, and writes
``{"passed": [...], "failed": [...], "skipped": {test: reason}}`` to FILE.
Test ids lose Tempest's ``[id-...,smoke]`` suffix so they stay stable; a
class that fails or skips as a whole (setUpClass) is recorded by its class
id.  ``check`` fails if a test in the pass list did not pass; with
``--prefix`` it looks only at the results of tests under that prefix.

Standard library only, so any python3.11 can run it.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

TEMPEST_VERSION = "47.0.0"
# Every transitive dependency, pinned to the set verified with
# TEMPEST_VERSION (pip freeze of a working install).
CONSTRAINTS = (
    "attrs==26.1.0",
    "autopage==0.6.0",
    "bcrypt==5.0.0",
    "certifi==2026.10.18",
    "cffi==2.1.1",
    "charset-normalizer==3.5.2",
    "cliff==4.17.0",
    "cmd2==4.3.1",
    "cryptography==50.0.2",
    "debtcollector==3.1.0",
    "defusedxml==0.7.1",
    "fasteners==0.20",
    "fixtures==4.3.2",
    "idna==3.20",
    "invoke==3.0.3",
    "iso8601==2.1.0",
    "jsonschema==4.26.0",
    "jsonschema-specifications==2025.9.1",
    "markdown-it-py==4.3.0",
    "mdurl==0.1.2",
    "msgpack==1.2.4",
    "netaddr==1.3.0",
    "oslo.concurrency==7.6.1",
    "oslo.config==10.7.0",
    "oslo.context==6.5.0",
    "oslo.i18n==6.9.0",
    "oslo.log==8.3.2",
    "oslo.serialization==5.11.0",
    "oslo.utils==10.2.0",
    "packaging==26.3",
    "paramiko==5.1.0",
    "pbr==7.1.3",
    "prettytable==3.18.0",
    "prompt_toolkit==3.0.53",
    "psutil==7.2.2",
    "pycparser==3.12",
    "Pygments==2.21.0",
    "PyNaCl==1.6.2",
    "pyparsing==3.3.3",
    "pyperclip==1.11.0",
    "python-dateutil==4.0.0",
    "python-subunit==1.4.6",
    "PyYAML==6.0.3",
    "referencing==0.37.0",
    "requests==2.34.2",
    "rfc3986==2.0.0",
    "rich==15.0.0",
    "rich-argparse==1.8.0",
    "rpds-py==2026.9.1",
    "stestr==4.2.1",
    "stevedore==5.10.0",
    "testscenarios==0.7.0",
    "testtools==2.9.1",
    "tomlkit==0.15.2",
    "typing_extensions==4.16.0",
    "tzdata==2026.6",
    "urllib3==2.8.0",
    "voluptuous==0.16.0",
    "wcwidth==0.9.4",
    "wrapt==2.5.2",
)

MAX_CONCURRENCY = 2
WORKSPACE = "workspace"
# [compute-feature-enabled] scheduler_enabled_filters (see TEMPEST_CONF).
SCHEDULER_FILTERS = (
    "AvailabilityZoneFilter",
    "ComputeFilter",
    "AggregateInstanceExtraSpecsFilter",
    "ServerGroupAntiAffinityFilter",
    "ServerGroupAffinityFilter",
)

# tempest.conf for a cloud that offers identity and maybe image and network.
# Each flag says why it has its value.  Identity flags: what a modern
# Keystone (2024.1 and later, default keystone.conf) offers, so one file
# serves the upstream reference run and nubo; "Matters" notes come from runs
# against upstream Keystone 30.0.0.  Image flags: what nubo's Glance v2 API offers (images,
# streamed data, JSON patch, tags, members, deactivate, glance-direct import,
# one store "file"; no metadefs, tasks, cache, locations or multi-store);
# "Matters" notes come from reading Tempest 47.0.0's tempest/api/image.
# Network flags: from reading Tempest 47.0.0's tempest/api/network (see
# build/notes/tempest-network.md).  [service_available] glance and neutron
# are filled in from the cloud's catalog; [network] public_network_id and
# [network-feature-enabled] api_extensions, floating_ips and port_security
# from the cloud's network API.  Compute flags: from reading Tempest
# 47.0.0's tempest/api/compute (see build/notes/tempest-compute.md);
# [service_available] nova from the catalog, [compute] images, flavors,
# fixed network and max_microversion from the cloud.
TEMPEST_CONF = """\
# Written by tests/compat/tempest.py; rewritten by every `run`.
[DEFAULT]
log_dir = {workspace}/logs
log_file = tempest.log
debug = false
use_stderr = false

[oslo_concurrency]
lock_path = {workspace}/lock

[auth]
# Tempest makes a project and users per test class with the admin account.
use_dynamic_credentials = true
admin_username = {admin_user}
admin_password = {admin_password}
admin_project_name = {admin_project}
admin_domain_name = {admin_domain}
admin_user_domain_name = {admin_domain}
admin_project_domain_name = {admin_domain}
# Never make a network, subnet and router for each test project: the
# network tests make their own (they call set_network_resources() with
# nothing), and the identity and image tests need none.  true would add
# three network resources to every identity and image test class.  The
# compute tests boot on [compute] fixed_network_name instead, a shared
# network every test project sees.
create_isolated_networks = false

[identity]
uri_v3 = {auth_url}
region = RegionOne
v3_endpoint_type = public
admin_role = admin
default_domain_id = default
# Keystone's default policies accept a project-scoped admin token for the
# identity admin APIs.  Does not matter on Keystone: with true (and [auth]
# admin_system = all) the same 134 tests pass, using system-scoped tokens.
use_system_token = false
admin_domain_scope = false

[identity-feature-enabled]
# OS-TRUST is part of Keystone's v3 API and always on.  false would skip
# the 6 trust tests.
trust = true
# Matters: test_identity_v3_existence asserts that it equals "v3 is listed
# in GET /".
api_v3 = true
# Keystone no longer lists extensions; all it has are built in.  The tests
# gate OS-INHERIT (6 tests) and OS-EC2 (4 tests) on this list.
api_extensions = all
# keystone.conf [identity] domain_specific_drivers_enabled defaults to false.
# Does not matter on Keystone (both pass); false is the stricter: users and
# groups must be listable across domains without a domain_id filter.
domain_specific_drivers = false
# Matters: Keystone's [security_compliance] options (lockout, password
# history, minimum password age) are all off by default.  false skips 4
# tests (2 skip entries); true fails 3 of them unless keystone.conf sets
# lockout_failure_attempts = 2, lockout_duration = 5 and
# unique_last_password_count = 2 (bench/upstream_keystone.py setup
# --security-compliance), and then all 4 pass.
security_compliance = false
# Application credential access rules exist since Train (16.0.0).  false
# would skip the 3 access rule tests and 1 application credential test.
access_rules = true
# Users live in Keystone's SQL backend and can be created and changed.
# true would skip every test that creates or changes users.
immutable_user_source = false

[enforce_scope]
# Keystone >= 2024.1 with oslo.policy >= 4.4 enforces scope and the new
# default roles (reader, member, admin).  No identity test reads this flag.
keystone = true
# nubo's image policies are the new defaults (reader, member, admin, project
# scope).  true makes the image tests read (show, list, members, schemas,
# versions) as a user with only the reader role in the test project.
glance = true
# Neutron's new defaults: true makes the network test classes that have
# reader clients (most of them) do their GETs (show, list, fields=, tags,
# extensions, versions, agents, service providers) as a user with only the
# reader role in the test project; test_list_agents_non_admin then wants
# 200 with an empty list for that reader.
neutron = true
# nubo's compute policies are Nova's new defaults (reader, member, admin,
# project scope).  true makes the compute classes do their GETs (servers,
# volumes) as a user with only the reader role in the test project.
nova = true

[image]
catalog_type = image
endpoint_type = public
# Every image class's cleanup deletes its images and polls for the 404, and
# the waiters poll for status; this bounds each wait.  nubo's imports are
# local, so a broken one should not cost the default 300 s per image.
build_timeout = 60
build_interval = 1
# Matters: empty skips ImageTaskCreate, whose negative test needs the tasks
# API (POST /v2/tasks), which nubo does not have.  The other readers of this
# URL (location tests) are skipped by manage_locations/http_store_enabled.
http_image =
# No glance cache middleware: false skips ImageCachingTest (2 tests).
image_caching_enabled = false
# Matters: ListUserImagesTest uploads random bytes under the first 6
# (container, disk) format pairs.  nubo inspects uploads (qcow2, vmdk, vhd,
# vhdx, iso must be what they claim), so Tempest is given only the disk
# formats that take arbitrary bytes; creates use the first of each.
container_formats = bare,ami,ari,aki,ovf,ova
disk_formats = raw,ami,ari,aki
# Unset on purpose: alternate_image_endpoint (no second API worker; skips
# test_remote_import/test_remote_delete), images_manifest_file (no format
# manifest).  http_qcow2_image keeps Tempest's cirros URL: only the
# web-download tests read it, and only if /v2/info/import lists web-download.

[image-feature-enabled]
# Glance v2 is the API nubo implements.
api_v2 = true
# Interoperable import: /v2/info/import lists glance-direct (stage + import).
# false would skip ImportImagesTest, ImportImagesNegativeTest and the
# multi-store import classes.
import_image = true
# os_glance_* properties are reserved (403 on create and PATCH).  false
# would skip the 2 reserved-property tests.
os_glance_reserved = true
# No image locations API (show_multiple_locations, http store): skips
# ImageLocationsTest (7) and ImageLocationsAdminTest (1).
manage_locations = false
http_store_enabled = false
# No format conversion on import.
image_conversion = false
# Matters: true skips all 17 ListUserImagesTest tests because they upload
# random bytes labelled with the configured disk formats.  nubo does enforce
# formats, but disk_formats above lists only those where random bytes are
# valid content, so the listing tests run on honest uploads.
image_format_enforcement = false
# Hashes are computed on upload (os_hash_algo/os_hash_value).  Only the
# location import tests read it, and those are skipped.
do_secure_hash = true
# One store, so no store weights: skips StoreWeightTest.
store_weight_enabled = false

[network]
# The catalog's "network" endpoint is http://host:port/network (no
# version); clients append v2.0/..., the versions test GETs it as is.
catalog_type = network
endpoint_type = public
# Project subnets: create_subnet() tries each /28 of the /16 in turn and
# moves on only when the 400 says "overlaps with another subnet"; the
# subnet tests put their gateway on the first /28 (10.100.0.1, pools
# .3-.7), so overlap must be checked per network.  IPv6 likewise: /64s of
# 2001:db8::/48, gateway 2001:db8::1.  These are Tempest's defaults.
project_network_cidr = 10.100.0.0/16
project_network_mask_bits = 28
project_network_v6_cidr = 2001:db8::/48
project_network_v6_mask_bits = 64
# API tests only: Tempest never reaches a port's address.
project_networks_reachable = false
# The external network named "public" (empty when there is none: then
# every test that uses it skips: the floating IP classes, router gateway
# tests, external network visibility).  Filled in from the cloud.
public_network_id = {public_network_id}
floating_network_name = public
# Bounds the waits for a router interface port to become ACTIVE (base
# remove_router_interface) and for a deleted port to 404 (default 300 s).
build_timeout = 60
build_interval = 1
# Prefixes of the subnet pools SubnetPoolsTestJSON and TagsExtTest create
# (Tempest's default).
default_network = 1.0.0.0/16,2.0.0.0/16
shared_physical_network = false

[network-feature-enabled]
# Matters: the IPv6 twin of almost every class (PortsIpV6TestJSON,
# RoutersIpV6Test, SecGroupIPv6Test..., NetworksTestDHCPv6); false skips
# 119 of the 262 tests.
ipv6 = true
# Matters: the aliases GET /v2.0/extensions lists, so Tempest gates its
# tests on what the cloud advertises (empty: every gated test skips).
# Filled in from the cloud at each run.
api_extensions = {network_extensions}
# Matters: ipv6_ra_mode / ipv6_address_mode on subnets and SLAAC (EUI-64)
# addresses on ports.  false skips NetworksIpV6TestAttrs (5) and
# NetworksTestDHCPv6 (11).
ipv6_subnet_attributes = true
# Floating IPs come with the router (L3) extension: true when the cloud
# lists "router".  Read by ExternalNetworksTestJSON; the floating IP
# classes also need the router extension and public_network_id.
floating_ips = {floating_ips}
# Only scenario tests read these; true when "port-security" is listed.
port_security = {port_security}
port_admin_state_change = true

[compute]
# Compute flags: from reading Tempest 47.0.0's tempest/api/compute (see
# build/notes/tempest-compute.md).  The values in braces come from the
# cloud at each run.
catalog_type = compute
endpoint_type = publicURL
# Matters: every server Tempest boots uses these.  image_ref is the guest
# image nubo builds (nubo-tiny) when the cloud has it, else a small public
# raw image the harness uploads (tempest-compute-image); image_ref_alt is
# a second, distinct image (rebuild and image-filter tests need two).
image_ref = {image_ref}
image_ref_alt = {image_ref_alt}
# DevStack's Tempest flavors, which nubo also creates: m1.nano (42) and
# m1.micro (84, bigger: resize goes 42 -> 84).  Else the two smallest.
flavor_ref = {flavor_ref}
flavor_ref_alt = {flavor_ref_alt}
# Matters: the compute tests take the network each project boots on from
# here (create_isolated_networks is false): a shared network the harness
# makes (tempest-shared, 10.252.0.0/16, routed to public by
# tempest-shared-router so floating IPs associate) so every test project
# sees it.  Empty: servers boot without a network (2.37+: networks=none).
fixed_network_name = {fixed_network_name}
# Waiters poll every build_interval up to build_timeout (default 300 s per
# wait).  The fake driver boots in about a second; a stuck server should
# not cost five minutes.
build_interval = 1
build_timeout = 60
# The microversions the cloud's version document offers.  min stays
# unset, like DevStack: tests without a min_microversion send no version
# header and get 2.1.
max_microversion = {compute_max_microversion}
# One host: the multinode tests (live/cold migration, same/different host)
# skip.
min_compute_nodes = 1
# Nova's default shelved_offload_time = 0: a shelved server is offloaded at
# once, and the shelve tests wait for SHELVED_OFFLOADED.
shelved_offload_time = 0

[compute-feature-enabled]
# Each flag: true when nubo (with the fake driver) does it.
# OS-DCF:diskConfig AUTO/MANUAL is kept and shown (ServerDiskConfigTestJSON).
disk_config = true
# No driver can set a guest's password (Nova answers 501).
change_password = false
console_output = true
# Resize on one host (like Nova's allow_resize_to_same_host = true).
resize = true
pause = true
suspend = true
shelve = true
shelve_migrate = false
# One host: nothing to migrate to.
cold_migration = false
live_migration = false
live_migrate_back_and_forth = false
block_migration_for_live_migration = false
volume_backed_live_migration = false
# Only TaggedAttachmentsTest reads it, and that needs volumes.
metadata_service = true
# Remote consoles need a guest that draws one (QEMU); the fake driver has
# none, and test_novnc speaks RFB through the websocket proxy.
vnc_console = false
spice_console = false
serial_console = false
rescue = true
# Rescue with rescue_image_ref and hw_rescue_bus/device image properties
# (2.87 API; ServerStableDeviceRescueTest).
stable_rescue = true
ide_bus = false
# adminPass in the create/rebuild response.
enable_instance_password = true
interface_attach = true
snapshot = true
# Personality (injected files, before 2.57) is not kept.
personality = false
attach_encrypted_volume = false
swap_volume = false
volume_multiattach = false
config_drive = true
# Legacy quota sets (os-quota-sets, os-quota-class-sets), not Keystone
# unified limits.
unified_limits = false
# The filters nubo's scheduler has (compute/scheduler.py); the server group
# test reads ServerGroupAffinityFilter, the multinode tests (skipped: one
# host) SameHostFilter and DifferentHostFilter, which nubo does not have.
scheduler_enabled_filters = {scheduler_filters}
hostname_fqdn_sanitization = false

[validation]
# API tests only: no SSH or ping into guests (the fake driver has none).
run_validation = false

[placement]
catalog_type = placement
endpoint_type = public

[service_available]
# Matters: nova, glance or swift = true fails test_catalog_standardization
# unless their types are in the catalog.  nova is true when the catalog
# lists "compute": then 6 port binding tests of the network tests run too
# (binding:host_id from a hypervisor), and so does the image test that
# snapshots a server (ImageDependencyTests.test_nova_image_snapshot_dependency;
# its volume twin and ImagesFormatTest still skip: no cinder, no image
# manifest).  glance is true when the catalog
# lists "image", neutron when it lists "network".  Matters: with neutron
# = true the teardown of EVERY class (identity and image too) lists the
# test project's security groups as admin (GET /v2.0/security-groups
# ?project_id=P&name=default) and deletes each; only a 404 is ignored, so
# any other error fails the class.
nova = {nova}
cinder = false
glance = {glance}
neutron = {neutron}
swift = false
"""

# Runs inside DIR/venv: turns stestr's subunit v2 stream into the results
# dict.  It uses python-subunit and testtools, both Tempest dependencies.
PARSE_SUBUNIT = r"""
import json, re, sys
import subunit, testtools

SUFFIX = re.compile(r"\[[^\]]*\]$")
CLASS_FIXTURE = re.compile(r"^(?:setUpClass|tearDownClass) \((.+)\)$")
out = {"passed": set(), "failed": set(), "skipped": {}}

def stable(test_id):
    m = CLASS_FIXTURE.match(test_id)
    if m:
        return m.group(1)
    return SUFFIX.sub("", test_id)

def reason(details):
    d = details.get("reason")
    if d is None:
        return ""
    return "".join(t for t in d.iter_text()).strip()

def on_test(test):
    tid = stable(test["id"])
    status = test["status"]
    if status in ("success", "xfail"):
        out["passed"].add(tid)
    elif status == "skip":
        out["skipped"][tid] = reason(test["details"])
    elif status in ("fail", "uxsuccess"):
        out["failed"].add(tid)

stream = subunit.ByteStreamToStreamResult(sys.stdin.buffer, non_subunit_name="stdout")
result = testtools.StreamToDict(on_test)
result.startTestRun()
try:
    stream.run(result)
finally:
    result.stopTestRun()
# A fixture failure (tearDownClass) can follow passes of the same class.
out["passed"] -= out["failed"]
for tid in out["failed"]:
    out["skipped"].pop(tid, None)
print(json.dumps({
    "passed": sorted(out["passed"]),
    "failed": sorted(out["failed"]),
    "skipped": dict(sorted(out["skipped"].items())),
}, indent=1))
"""


def log(msg: str) -> None:
    print(f"tempest.py: {msg}", file=sys.stderr, flush=True)


def venv_bin(d: Path, name: str) -> Path:
    return d / "venv" / "bin" / name


def installed_tempest(d: Path) -> str | None:
    python = venv_bin(d, "python")
    if not python.exists():
        return None
    res = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('tempest'))"],
        capture_output=True,
        text=True,
    )
    return res.stdout.strip() if res.returncode == 0 else None


def pip_install(d: Path, args: list[str]) -> None:
    """pip install into DIR/venv, hiding the noise of absent find-links."""
    cmd = [
        str(venv_bin(d, "python")),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
        *args,
    ]
    log("$ " + " ".join(cmd))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "is ignored: it is neither a file nor a directory" not in line:
            sys.stderr.write(line)
    if proc.wait() != 0:
        raise SystemExit(f"pip install failed (exit {proc.returncode})")


def cmd_setup(ns: argparse.Namespace) -> int:
    d = Path(ns.dir).resolve()
    d.mkdir(parents=True, exist_ok=True)
    if installed_tempest(d) == TEMPEST_VERSION:
        log(f"{d / 'venv'} has tempest {TEMPEST_VERSION}; reusing it")
        return 0
    if not venv_bin(d, "python").exists():
        log(f"$ {sys.executable} -m venv {d / 'venv'}")
        subprocess.run([sys.executable, "-m", "venv", str(d / "venv")], check=True)
    constraints = d / "constraints.txt"
    constraints.write_text("\n".join(CONSTRAINTS) + "\n")
    pip_install(d, ["-c", str(constraints), f"tempest=={TEMPEST_VERSION}"])
    return 0


def override(conf: str, item: str) -> str:
    """Apply one ``section.option=value`` to the tempest.conf text."""
    m = re.fullmatch(r"([^.=\s]+)\.([^.=\s]+)=(.*)", item)
    if not m:
        raise SystemExit(f"--set wants section.option=value, not {item!r}")
    section, option, value = m.groups()
    lines = conf.splitlines()
    header = f"[{section}]"
    if header not in lines:
        return conf + f"\n{header}\n{option} = {value}\n"
    start = lines.index(header) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("[")), len(lines))
    for i in range(start, end):
        if re.match(rf"{re.escape(option)}\s*=", lines[i]):
            lines[i] = f"{option} = {value}"
            break
    else:
        while end > start and not lines[end - 1].strip():
            end -= 1
        lines.insert(end, f"{option} = {value}")
    return "\n".join(lines) + "\n"


def admin_token(ns: argparse.Namespace) -> tuple[str, list[dict[str, Any]]]:
    """An admin token (project scope) and its catalog."""
    domain = {"name": ns.admin_domain}
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": ns.admin_user, "domain": domain, "password": ns.admin_password}
                },
            },
            "scope": {"project": {"name": ns.admin_project, "domain": domain}},
        }
    }
    req = urllib.request.Request(
        ns.auth_url.rstrip("/") + "/auth/tokens",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        token_id = resp.headers.get("X-Subject-Token", "")
        token = json.load(resp)["token"]
    return token_id, list(token.get("catalog") or [])


def public_url(catalog: list[dict[str, Any]], service_type: str) -> str | None:
    """The public endpoint of a service type (RegionOne first, like Tempest)."""
    for svc in catalog:
        if svc.get("type") != service_type:
            continue
        public = [ep for ep in svc.get("endpoints") or [] if ep.get("interface") == "public"]
        public.sort(key=lambda ep: ep.get("region_id", ep.get("region")) != "RegionOne")
        if public:
            return str(public[0]["url"]).rstrip("/")
    return None


def api_get(url: str, token: str) -> Any:
    req = urllib.request.Request(url, headers={"X-Auth-Token": token, "Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def api_send(method: str, url: str, token: str, body: Any = None, data: bytes | None = None) -> Any:
    """One request with a JSON body (or raw bytes); the JSON answer or None."""
    headers = {"X-Auth-Token": token, "Accept": "application/json"}
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    elif data is not None:
        headers["Content-Type"] = "application/octet-stream"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    with urllib.request.urlopen(req, timeout=60) as resp:
        raw = resp.read()
    return json.loads(raw) if raw.strip() else None


def network_settings(url: str, token: str) -> dict[str, str]:
    """tempest.conf values read from the cloud's network API at ``url``.

    api_extensions is the aliases GET /v2.0/extensions lists (none if that
    fails, so every extension-gated test skips); public_network_id is the
    external network named "public" (empty if there is none).
    """
    try:
        exts = api_get(f"{url}/v2.0/extensions", token)["extensions"]
        aliases = sorted({str(e["alias"]) for e in exts})
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log(f"could not list the network extensions ({exc}); extension tests will be skipped")
        aliases = []
    else:
        log(f"network extensions ({len(aliases)}): {', '.join(aliases) or 'none'}")
    query = urllib.parse.urlencode({"name": "public", "router:external": "true"})
    try:
        nets = api_get(f"{url}/v2.0/networks?{query}", token)["networks"]
        public = [
            str(n["id"]) for n in nets if n.get("name") == "public" and n.get("router:external")
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log(f"could not look up the public network ({exc})")
        public = []
    if public:
        log(f"public network: {public[0]}" + (f" (of {len(public)})" if len(public) > 1 else ""))
    else:
        log("no external network named public: floating IP and gateway tests will be skipped")
    return {
        "network_extensions": ",".join(aliases),
        "public_network_id": public[0] if public else "",
        "floating_ips": "true" if "router" in aliases else "false",
        "port_security": "true" if "port-security" in aliases else "false",
    }


# What tempest.conf says when the cloud has no network service.
NO_NETWORK = {
    "network_extensions": "",
    "public_network_id": "",
    "floating_ips": "false",
    "port_security": "false",
}


# The images and the network the harness makes for the compute tests when
# the cloud has none of its own (public, so every test project can boot them).
TEMPEST_IMAGE = "tempest-compute-image"
TEMPEST_IMAGE_ALT = "tempest-compute-image-alt"
# Guest images nubo builds (`nubo image build tiny|debian`), preferred when present.
GUEST_IMAGES = ("nubo-tiny", "nubo-debian")
TEMPEST_NETWORK = "tempest-shared"
TEMPEST_NETWORK_CIDR = "10.252.0.0/16"
# DevStack's Tempest flavors (m1.nano, m1.micro); nubo creates them too.
FLAVORS = ("42", "84")


def find_images(image_url: str, token: str, name: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"name": name, "status": "active"})
    images: list[dict[str, Any]] = api_get(f"{image_url}/v2/images?{query}", token)["images"]
    return images


def ensure_image(image_url: str, token: str, name: str) -> str:
    """The id of the active image called ``name``, uploading a small raw one
    (1 MiB of zeros: enough for the fake driver) if there is none."""
    found = find_images(image_url, token, name)
    if found:
        return str(found[0]["id"])
    body = {
        "name": name,
        "disk_format": "raw",
        "container_format": "bare",
        "visibility": "public",
    }
    image = api_send("POST", f"{image_url}/v2/images", token, body=body)
    api_send("PUT", f"{image_url}/v2/images/{image['id']}/file", token, data=bytes(1 << 20))
    log(f"uploaded image {name} ({image['id']})")
    return str(image["id"])


def compute_images(image_url: str | None, token: str) -> tuple[str, str]:
    """image_ref and image_ref_alt: two distinct active public images."""
    if not image_url:
        log("no image service: compute tests have no image")
        return "", ""
    try:
        refs: list[str] = []
        for name in GUEST_IMAGES:
            refs += [str(i["id"]) for i in find_images(image_url, token, name)][:1]
        refs = refs[:2]
        if len(refs) < 2:
            refs.append(ensure_image(image_url, token, TEMPEST_IMAGE))
        if len(refs) < 2:
            refs.append(ensure_image(image_url, token, TEMPEST_IMAGE_ALT))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log(f"could not find or upload the compute test images ({exc})")
        return "", ""
    log(f"compute images: image_ref {refs[0]}, image_ref_alt {refs[1]}")
    return refs[0], refs[1]


def compute_flavors(url: str, token: str) -> tuple[str, str]:
    """flavor_ref and flavor_ref_alt: 42 and 84 when the cloud has them, else the
    two smallest public flavors (by RAM)."""
    try:
        flavors = api_get(f"{url}/flavors/detail", token)["flavors"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log(f"could not list the flavors ({exc}); using {FLAVORS}")
        return FLAVORS
    ids = {str(f["id"]) for f in flavors}
    if all(f in ids for f in FLAVORS):
        return FLAVORS
    small = [str(f["id"]) for f in sorted(flavors, key=lambda f: (f["ram"], f["vcpus"]))]
    log(f"no flavors {FLAVORS}; using the smallest: {small[:2]}")
    return (small + list(FLAVORS))[0], (small[1:] + list(FLAVORS))[0]


def shared_network(network_url: str | None, token: str, public_network_id: str) -> str:
    """The name of a shared network every test project can boot on, made if
    the cloud has none by that name: one subnet, routed to the external
    network ``public`` (when there is one) so floating IPs can reach it."""
    if not network_url:
        return ""
    try:
        query = urllib.parse.urlencode({"name": TEMPEST_NETWORK, "shared": "true"})
        if not api_get(f"{network_url}/v2.0/networks?{query}", token)["networks"]:
            net = api_send(
                "POST",
                f"{network_url}/v2.0/networks",
                token,
                body={"network": {"name": TEMPEST_NETWORK, "shared": True}},
            )["network"]
            subnet = {
                "network_id": net["id"],
                "name": f"{TEMPEST_NETWORK}-subnet",
                "ip_version": 4,
                "cidr": TEMPEST_NETWORK_CIDR,
            }
            subnet = api_send(
                "POST", f"{network_url}/v2.0/subnets", token, body={"subnet": subnet}
            )["subnet"]
            log(f"made shared network {TEMPEST_NETWORK} ({TEMPEST_NETWORK_CIDR})")
            if public_network_id:
                router = {
                    "name": f"{TEMPEST_NETWORK}-router",
                    "external_gateway_info": {"network_id": public_network_id},
                }
                router = api_send(
                    "POST", f"{network_url}/v2.0/routers", token, body={"router": router}
                )["router"]
                api_send(
                    "PUT",
                    f"{network_url}/v2.0/routers/{router['id']}/add_router_interface",
                    token,
                    body={"subnet_id": subnet["id"]},
                )
                log(f"routed {TEMPEST_NETWORK} to public ({router['name']})")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log(f"could not find or make network {TEMPEST_NETWORK} ({exc}); servers get none")
        return ""
    return TEMPEST_NETWORK


def max_microversion(url: str, token: str) -> str:
    """The newest microversion in the compute version document (GET <v2.1>/)."""
    try:
        version = str(api_get(f"{url}/", token)["version"]["version"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log(f"could not read the compute version document ({exc}); microversion tests skip")
        return "2.1"
    return version or "2.1"


def compute_settings(
    url: str, token: str, image_url: str | None, network_url: str | None, public_network_id: str
) -> dict[str, str]:
    """tempest.conf values read from (and, for images and a shared network,
    made in) the cloud whose compute API is at ``url``."""
    image_ref, image_ref_alt = compute_images(image_url, token)
    flavor_ref, flavor_ref_alt = compute_flavors(url, token)
    version = max_microversion(url, token)
    network = shared_network(network_url, token, public_network_id)
    log(f"compute: microversions up to {version}, flavors {flavor_ref}/{flavor_ref_alt}")
    return {
        "nova": "true",
        "image_ref": image_ref,
        "image_ref_alt": image_ref_alt,
        "flavor_ref": flavor_ref,
        "flavor_ref_alt": flavor_ref_alt,
        "fixed_network_name": network,
        "compute_max_microversion": version,
    }


# What tempest.conf says when the cloud has no compute service.
NO_COMPUTE = {
    "nova": "false",
    "image_ref": "",
    "image_ref_alt": "",
    "flavor_ref": FLAVORS[0],
    "flavor_ref_alt": FLAVORS[1],
    "fixed_network_name": "",
    "compute_max_microversion": "2.1",
}


def cloud_settings(ns: argparse.Namespace) -> dict[str, str]:
    """The tempest.conf values that depend on the cloud: which services its
    catalog lists (image, network, compute), what its network API offers, and
    the images, flavors and network the compute tests boot with."""
    try:
        token, catalog = admin_token(ns)
    except (OSError, ValueError, KeyError) as exc:
        log(f"could not read the catalog ({exc}); all but identity tests will be skipped")
        return {"glance": "false", "neutron": "false", **NO_NETWORK, **NO_COMPUTE}
    types = {str(svc.get("type")) for svc in catalog}
    image_url = public_url(catalog, "image")
    network_url = public_url(catalog, "network")
    compute_url = public_url(catalog, "compute")
    log(
        f"catalog: {', '.join(sorted(types))}; image tests {'on' if image_url else 'skipped'}; "
        f"network tests {'on' if network_url else 'skipped'}; "
        f"compute tests {'on' if compute_url else 'skipped'}"
    )
    network = network_settings(network_url, token) if network_url else NO_NETWORK
    compute = (
        compute_settings(compute_url, token, image_url, network_url, network["public_network_id"])
        if compute_url
        else NO_COMPUTE
    )
    return {
        "glance": "true" if image_url else "false",
        "neutron": "true" if network_url else "false",
        **network,
        **compute,
    }


def write_workspace(d: Path, ns: argparse.Namespace) -> Path:
    """A fresh Tempest workspace in DIR/workspace with our tempest.conf."""
    ws = d / WORKSPACE
    if ws.exists():
        shutil.rmtree(ws)
    (d / "workspace.yaml").unlink(missing_ok=True)
    # --workspace-path keeps Tempest's workspace registry out of ~/.tempest.
    subprocess.run(
        [
            str(venv_bin(d, "tempest")),
            "init",
            "--name",
            "nubo-compat",
            "--workspace-path",
            str(d / "workspace.yaml"),
            str(ws),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (ws / "logs").mkdir(exist_ok=True)
    (ws / "lock").mkdir(exist_ok=True)
    conf = ws / "etc" / "tempest.conf"
    text = TEMPEST_CONF.format(
        workspace=ws,
        auth_url=ns.auth_url,
        admin_user=ns.admin_user,
        admin_password=ns.admin_password,
        admin_project=ns.admin_project,
        admin_domain=ns.admin_domain,
        scheduler_filters=",".join(SCHEDULER_FILTERS),
        **cloud_settings(ns),
    )
    for item in ns.set:
        text = override(text, item)
    conf.write_text(text)
    conf.chmod(0o600)
    return ws


def collect_results(d: Path, ws: Path) -> dict[str, Any]:
    """Read the last stestr run of the workspace as a results dict."""
    last = subprocess.run(
        [str(venv_bin(d, "stestr")), "last", "--subunit"],
        cwd=ws,
        capture_output=True,
        check=False,
    )
    if not last.stdout:
        raise SystemExit(f"no subunit stream from stestr: {last.stderr.decode()[-2000:]}")
    parsed = subprocess.run(
        [str(venv_bin(d, "python")), "-c", PARSE_SUBUNIT],
        input=last.stdout,
        capture_output=True,
        check=True,
    )
    results: dict[str, Any] = json.loads(parsed.stdout)
    return results


def service_of(test_id: str) -> str:
    """tempest.api.identity.admin... -> identity"""
    parts = test_id.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["tempest", "api"] else "other"


def summary(results: dict[str, Any], label: str = "") -> str:
    return (
        f"tempest{' ' if label else ''}{label}: {len(results['passed'])} passed, "
        f"{len(results['failed'])} failed, "
        f"{len(results['skipped'])} skipped"
    )


def only_under(results: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The results of the tests (and classes) whose id starts with prefix."""

    def under(test_id: str) -> bool:
        return test_id == prefix or test_id.startswith(prefix.rstrip(".") + ".")

    return {
        "passed": [t for t in results["passed"] if under(t)],
        "failed": [t for t in results["failed"] if under(t)],
        "skipped": {t: why for t, why in results["skipped"].items() if under(t)},
    }


def summaries(results: dict[str, Any]) -> list[str]:
    """One summary line per service (tempest.api.<service>) in the results."""
    ids = [*results["passed"], *results["failed"], *results["skipped"]]
    services = sorted({service_of(t) for t in ids})
    if services == ["other"] or not services:
        return [summary(results)]
    return [summary(only_under(results, f"tempest.api.{s}"), s) for s in services]


def cmd_run(ns: argparse.Namespace) -> int:
    d = Path(ns.dir).resolve()
    if installed_tempest(d) != TEMPEST_VERSION:
        raise SystemExit(f"tempest {TEMPEST_VERSION} is not set up in {d}; run `setup` first")
    concurrency = max(1, min(ns.concurrency, MAX_CONCURRENCY))
    ws = write_workspace(d, ns)
    cmd = [
        str(venv_bin(d, "tempest")),
        "run",
        "--config-file",
        str(ws / "etc" / "tempest.conf"),
        "--regex",
        ns.regex,
        "--concurrency",
        str(concurrency),
    ]
    log("$ " + " ".join(cmd))
    start = time.monotonic()
    # Tempest exits non-zero when a test fails; the results say which.
    proc = subprocess.run(cmd, cwd=ws, check=False)
    elapsed = time.monotonic() - start
    results = collect_results(d, ws)
    out = Path(ns.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    for line in summaries(results):
        print(line)
    print(f"tempest run took {elapsed:.0f} s (exit {proc.returncode}); results in {out}")
    return 0


def read_pass_list(path: Path) -> list[str]:
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(re.sub(r"\[[^\]]*\]$", "", line))
    return names


def outcome(results: dict[str, Any], test: str) -> str:
    """What happened to a test that did not pass (its class may say)."""
    cls = test.rsplit(".", 1)[0]
    for name in (test, cls):
        if name in results["failed"]:
            return "failed" if name == test else "class failed"
        if name in results["skipped"]:
            why = results["skipped"][name]
            return f"skipped: {why}" if name == test else f"class skipped: {why}"
    return "not run"


def cmd_check(ns: argparse.Namespace) -> int:
    results = json.loads(Path(ns.results).read_text())
    if ns.prefix:
        results = only_under(results, ns.prefix)
        print(summary(results, ns.prefix.rstrip(".").rsplit(".", 1)[-1]))
    else:
        print(summary(results))
    passed = set(results["passed"])
    expected = read_pass_list(Path(ns.pass_list))
    missing = [t for t in expected if t not in passed]
    new = sorted(passed - set(expected))
    if new:
        print(f"{len(new)} passing tests are not in {ns.pass_list} (add them):")
        for t in new:
            print(f"  {t}")
    if missing:
        print(f"{len(missing)} tests in {ns.pass_list} did not pass:")
        for t in missing:
            print(f"  {t} ({outcome(results, t)})")
        return 1
    return 0


# Path segments after which the next segment names one resource, so a
# request log can be folded into route templates.
COLLECTIONS = {
    "access_rules",
    "application_credentials",
    "consumers",
    "credentials",
    "domains",
    "endpoint_groups",
    "endpoints",
    "groups",
    "implies",
    "OS-EC2",
    "policies",
    "projects",
    "regions",
    "roles",
    "services",
    "tags",
    "trusts",
    "users",
    "limits",
    "registered_limits",
    "mappings",
    "identity_providers",
    "service_providers",
    "protocols",
    # image (Glance v2)
    "images",
    "members",
    "tasks",
    "cache",
    "namespaces",
    "objects",
    "properties",
    "resource_types",
    # network (Neutron v2.0)
    "networks",
    "subnets",
    "ports",
    "routers",
    "floatingips",
    "security-groups",
    "security-group-rules",
    "subnetpools",
    "extensions",
    "agents",
    "dhcp-agents",
    "dhcp-networks",
    "l3-agents",
    "l3-routers",
    "metering-labels",
    "metering-label-rules",
    "network-ip-availabilities",
    "quotas",
    # compute (Nova v2.1) and placement
    "servers",
    "flavors",
    "os-keypairs",
    "os-server-groups",
    "os-aggregates",
    "os-hypervisors",
    "os-services",
    "os-quota-sets",
    "os-quota-class-sets",
    "os-simple-tenant-usage",
    "os-instance-actions",
    "os-interface",
    "os-volume_attachments",
    "os-security-groups",
    "os-security-group-rules",
    "os-floating-ips",
    "os-networks",
    "os-tenant-networks",
    "os-extra_specs",
    "os-migrations",
    "migrations",
    "metadata",
    "os-availability-zone",
    "resource_providers",
    "allocations",
}
# "detail" and "statistics": /servers/detail, /os-hypervisors/statistics ...
LITERALS = {"", "config", "inherited_to_projects", "detail", "statistics"}
REQUEST_LINE = re.compile(r"Request \((\w+):(\w+)\): (\d{3}) ([A-Z]+) (\S+)")


def route_template(url: str) -> str:
    """/v3/projects/ab12.../tags/x?name=y -> /v3/projects/{id}/tags/{tag}?name="""
    url = re.sub(r"^[a-z]+://[^/]+", "", url)
    path, _, query = url.partition("?")
    out: list[str] = []
    in_config = 0  # segments seen after a domain's "config"
    for seg in path.split("/"):
        prev = out[-1] if out else ""
        if in_config and seg != "default":
            seg = "{group}" if in_config == 1 else "{option}"
            in_config += 1
        elif seg == "config" and prev in ("{id}", "domains"):
            in_config = 1
        elif prev == "tags":
            seg = "{tag}"
        elif prev in COLLECTIONS and not (seg in LITERALS or seg.startswith("OS-")):
            seg = "{id}"
        out.append(seg)
    template = "/".join(out)
    if query:
        names = sorted({kv.split("=", 1)[0] for kv in query.split("&")})
        template += "?" + "&".join(f"{n}=" for n in names)
    return template


def cmd_requests(ns: argparse.Namespace) -> int:
    """Fold the last run's request log into METHOD route -> statuses."""
    log_file = Path(ns.dir).resolve() / WORKSPACE / "logs" / "tempest.log"
    routes: dict[tuple[str, str], dict[str, Any]] = {}
    for line in log_file.read_text(errors="replace").splitlines():
        m = REQUEST_LINE.search(line)
        if not m:
            continue
        cls, _test, status, method, url = m.groups()
        key = (route_template(url), method)
        entry = routes.setdefault(key, {"statuses": {}, "classes": set()})
        entry["statuses"][status] = entry["statuses"].get(status, 0) + 1
        entry["classes"].add(cls)
    lines = [
        "# HTTP requests Tempest made in its last run (from its tempest.log): method,",
        "# route template, status x count, number of test classes that sent it.",
    ]
    for (route, method), entry in sorted(routes.items()):
        statuses = " ".join(f"{s}x{n}" for s, n in sorted(entry["statuses"].items()))
        lines.append(f"{method:<6} {route:<70} {statuses}  [{len(entry['classes'])} classes]")
    text = "\n".join(lines) + "\n"
    if ns.out:
        Path(ns.out).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("setup", help=f"make DIR/venv with tempest {TEMPEST_VERSION}")
    s.add_argument("--dir", required=True)
    s.set_defaults(func=cmd_setup)

    r = sub.add_parser("run", help="run tempest against a cloud, write results")
    r.add_argument("--dir", required=True)
    r.add_argument(
        "--auth-url", required=True, help="identity v3 URL, e.g. http://127.0.0.1:5000/v3"
    )
    r.add_argument("--admin-user", default="admin")
    r.add_argument("--admin-password", required=True)
    r.add_argument("--admin-project", default="admin")
    r.add_argument("--admin-domain", default="Default")
    r.add_argument("--regex", default="tempest.api.identity|tempest.api.image|tempest.api.network")
    r.add_argument(
        "--concurrency",
        type=int,
        default=MAX_CONCURRENCY,
        help=f"workers, at most {MAX_CONCURRENCY}",
    )
    r.add_argument("--results", required=True, help="JSON file to write")
    r.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.OPTION=VALUE",
        help="override one tempest.conf option (repeatable), for experiments",
    )
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("check", help="fail if a test in the pass list did not pass")
    c.add_argument("--results", required=True)
    c.add_argument("--pass-list", required=True)
    c.add_argument(
        "--prefix",
        help="look only at tests under this id prefix, e.g. tempest.api.image",
    )
    c.set_defaults(func=cmd_check)

    q = sub.add_parser("requests", help="summarize the HTTP requests of the last run")
    q.add_argument("--dir", required=True)
    q.add_argument("--out", help="file to write (default: stdout)")
    q.set_defaults(func=cmd_requests)

    ns = p.parse_args(argv)
    return int(ns.func(ns))


if __name__ == "__main__":
    sys.exit(main())
