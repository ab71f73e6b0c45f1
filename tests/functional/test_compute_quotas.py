"""Compute quotas (/compute/v2.1/os-quota-sets, /os-quota-class-sets) and limits
(/compute/v2.1/limits) through openstacksdk, the ``openstack quota`` and ``openstack
limits`` CLI and raw HTTP: the resources shown at each microversion, defaults, usage
details, a user's own limits, updates and their validation, resets, who may read and
write what, and the absolute limits a project sees."""

from __future__ import annotations

import pytest

from .compute import QUOTAS, nova_error, v

CLASSES = "/compute/v2.1/os-quota-class-sets"
LIMITS = "/compute/v2.1/limits"
KEYPAIRS = "/compute/v2.1/os-keypairs"
GROUPS = "/compute/v2.1/os-server-groups"

# openstacksdk warns about the personality limits it reads from old microversions
pytestmark = pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedFieldWarning")

CORE = {"instances": 10, "cores": 20, "ram": 51200, "metadata_items": 128, "key_pairs": 100,
        "server_groups": 10, "server_group_members": 10}  # fmt: skip
INJECTED = {"injected_files": 5, "injected_file_content_bytes": 10240,
            "injected_file_path_bytes": 255}  # fmt: skip
NETWORK = {"fixed_ips": -1, "floating_ips": -1, "security_groups": -1,
           "security_group_rules": -1}  # fmt: skip


# -- reading -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("2.1", {**CORE, **INJECTED, **NETWORK}),
        ("2.36", {**CORE, **INJECTED}),
        ("2.57", CORE),
    ],
)
def test_own_quotas_at_each_microversion(http, compute_member, version, expected):
    url = f"{QUOTAS}/{compute_member['project_id']}"
    shown = http.expect(http.get(url, token=compute_member["token"], headers=v(version)), 200)
    assert shown == {"quota_set": {"id": compute_member["project_id"], **expected}}
    defaults = http.get(f"{url}/defaults", token=compute_member["token"], headers=v(version))
    assert http.expect(defaults, 200) == shown


def test_detail_counts_usage(http, compute_member):
    token = compute_member["token"]
    body = {"server_group": {"name": "g", "policies": ["affinity"]}}
    http.expect(http.post(GROUPS, json=body, token=token), 200)
    url = f"{QUOTAS}/{compute_member['project_id']}/detail"
    detail = http.expect(http.get(url, token=token, headers=v("2.57")), 200)["quota_set"]
    assert detail["id"] == compute_member["project_id"]
    assert detail["server_groups"] == {"limit": 10, "in_use": 1, "reserved": 0}
    assert detail["instances"] == {"limit": 10, "in_use": 0, "reserved": 0}
    assert set(detail) == {"id", *CORE}


def test_members_read_only_their_own(http, compute_member):
    token = compute_member["token"]
    admin_project = http.validate(http.admin_token).json()["token"]["project"]["id"]
    for suffix in ("", "/detail"):
        r = http.get(f"{QUOTAS}/{admin_project}{suffix}", token=token)
        nova_error(r, 403, "forbidden", "os_compute_api:os-quota-sets")
    url = f"{QUOTAS}/{compute_member['project_id']}"
    r = http.put(url, json={"quota_set": {"instances": 100}}, token=token)
    nova_error(r, 403, "forbidden", "os-quota-sets:update")
    nova_error(http.delete(url, token=token), 403, "forbidden", "os-quota-sets:delete")
    nova_error(http.get(f"{CLASSES}/default", token=token), 403, "forbidden")
    r = http.put(f"{CLASSES}/default", json={"quota_class_set": {"cores": 1}}, token=token)
    nova_error(r, 403, "forbidden")


def test_unknown_project_is_400(http):
    nova_error(
        http.get(f"{QUOTAS}/no-such-project"),
        400,
        "badRequest",
        "Project ID no-such-project is not a valid project.",
    )


# -- writing -------------------------------------------------------------------------------


def test_admin_sets_and_resets(http, compute_member):
    url = f"{QUOTAS}/{compute_member['project_id']}"
    r = http.put(url, json={"quota_set": {"instances": 3, "cores": "-1"}}, headers=v("2.57"))
    updated = http.expect(r, 200)["quota_set"]
    assert "id" not in updated
    assert updated == {**CORE, "instances": 3, "cores": -1}
    shown = http.expect(http.get(url, token=compute_member["token"]), 200)["quota_set"]
    assert shown["instances"] == 3 and shown["cores"] == -1
    # the defaults stay the defaults
    assert http.expect(http.get(f"{url}/defaults"), 200)["quota_set"]["instances"] == 10
    assert http.delete(url).status_code == 202
    assert http.expect(http.get(url), 200)["quota_set"]["instances"] == 10


def test_user_quotas(http, compute_member):
    url = f"{QUOTAS}/{compute_member['project_id']}"
    user = {"user_id": compute_member["user_id"]}
    http.expect(http.put(url, json={"quota_set": {"cores": 8}}), 200)
    r = http.put(url, params=user, json={"quota_set": {"cores": 5}})
    assert http.expect(r, 200)["quota_set"]["cores"] == 5
    assert http.expect(http.get(url, params=user), 200)["quota_set"]["cores"] == 5
    assert http.expect(http.get(url), 200)["quota_set"]["cores"] == 8
    r = http.put(url, params=user, json={"quota_set": {"cores": 9}})
    nova_error(r, 400, "badRequest", "Quota limit 9 for cores must be less than or equal to 8.")
    assert http.delete(url, params=user).status_code == 202
    assert http.expect(http.get(url, params=user), 200)["quota_set"]["cores"] == 8


def test_limit_below_usage_needs_force(http, compute_member):
    token = compute_member["token"]
    for name in ("g1", "g2"):
        body = {"server_group": {"name": name, "policies": ["anti-affinity"]}}
        http.expect(http.post(GROUPS, json=body, token=token), 200)
    url = f"{QUOTAS}/{compute_member['project_id']}"
    r = http.put(url, json={"quota_set": {"server_groups": 1}})
    nova_error(
        r,
        400,
        "badRequest",
        "Quota limit 1 for server_groups must be greater than or equal to already used and "
        "reserved 2.",
    )
    r = http.put(url, json={"quota_set": {"server_groups": 1, "force": "True"}})
    assert http.expect(r, 200)["quota_set"]["server_groups"] == 1
    body = {"server_group": {"name": "g3", "policies": ["anti-affinity"]}}
    r = http.post(GROUPS, json=body, token=token)
    nova_error(r, 403, "forbidden", "Quota exceeded, too many server groups.")


@pytest.mark.parametrize(
    ("body", "version", "needle"),
    [
        ({"quota_set": {"instances": -2}}, "2.1", "instances"),
        ({"quota_set": {"instances": "many"}}, "2.1", "instances"),
        ({"quota_set": {"instances": 2**31}}, "2.1", "instances"),
        ({"quota_set": {"instances": None}}, "2.1", "instances"),
        ({"quota_set": {"instances": 1.5}}, "2.1", "instances"),
        ({"quota_set": {"bogus": 1}}, "2.1", "bogus"),
        ({"quota_set": {"floating_ips": 1}}, "2.36", "floating_ips"),
        ({"quota_set": {"injected_files": 1}}, "2.57", "injected_files"),
        ({"quota_set": {"force": "perhaps"}}, "2.1", "force"),
        ({"quota_set": 5}, "2.1", "quota_set"),
        ({}, "2.1", "quota_set"),
        ({"quota_set": {}, "extra": 1}, "2.1", "extra"),
    ],
)
def test_invalid_updates(http, compute_member, body, version, needle):
    r = http.put(f"{QUOTAS}/{compute_member['project_id']}", json=body, headers=v(version))
    assert needle in nova_error(r, 400, "badRequest")


def test_network_quotas_settable_before_2_36(http, compute_member):
    r = http.put(
        f"{QUOTAS}/{compute_member['project_id']}", json={"quota_set": {"floating_ips": 3}}
    )
    assert http.expect(r, 200)["quota_set"]["floating_ips"] == 3


def test_quota_classes(http, unique):
    default = http.expect(http.get(f"{CLASSES}/default"), 200)["quota_class_set"]
    no_groups = {k: v for k, v in CORE.items() if not k.startswith("server_group")}
    assert default == {"id": "default", **no_groups, **INJECTED, **NETWORK}
    v250 = http.expect(http.get(f"{CLASSES}/default", headers=v("2.50")), 200)["quota_class_set"]
    assert v250 == {"id": "default", **CORE, **INJECTED}
    v257 = http.expect(http.get(f"{CLASSES}/default", headers=v("2.57")), 200)["quota_class_set"]
    assert v257 == {"id": "default", **CORE}
    gold = unique("gold")
    r = http.put(f"{CLASSES}/{gold}", json={"quota_class_set": {"cores": 64}}, headers=v("2.57"))
    assert http.expect(r, 200)["quota_class_set"] == {**CORE, "cores": 64}
    assert http.expect(http.get(f"{CLASSES}/{gold}"), 200)["quota_class_set"]["cores"] == 64
    r = http.put(f"{CLASSES}/{gold}", json={"quota_class_set": {"fixed_ips": 1}},
                 headers=v("2.50"))  # fmt: skip
    nova_error(r, 400, "badRequest", "fixed_ips")


# -- limits --------------------------------------------------------------------------------


def test_limits_at_each_microversion(http, compute_member):
    token = compute_member["token"]
    body = {"keypair": {"name": "k", "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFI94"
                        "nu4knryMTeb7dUsDX2HJO/xAgbWf/vm/qCGCb/m k"}}  # fmt: skip
    http.expect(http.post(KEYPAIRS, json=body, token=token), 200)
    http.expect(http.post(GROUPS, json={"server_group": {"name": "g", "policies": ["affinity"]}},
                          token=token), 200)  # fmt: skip
    old = http.expect(http.get(LIMITS, token=token), 200)["limits"]
    assert old["rate"] == []
    absolute = old["absolute"]
    assert absolute == {
        "maxTotalInstances": 10, "maxTotalCores": 20, "maxTotalRAMSize": 51200,
        "maxTotalKeypairs": 100, "maxServerMeta": 128, "maxImageMeta": 128,
        "maxPersonality": 5, "maxPersonalitySize": 10240, "maxTotalFloatingIps": -1,
        "maxSecurityGroups": -1, "maxSecurityGroupRules": -1, "maxServerGroups": 10,
        "maxServerGroupMembers": 10, "totalInstancesUsed": 0, "totalCoresUsed": 0,
        "totalRAMUsed": 0, "totalFloatingIpsUsed": 0, "totalSecurityGroupsUsed": 0,
        "totalServerGroupsUsed": 1,
    }  # fmt: skip
    v236 = http.expect(http.get(LIMITS, token=token, headers=v("2.36")), 200)
    assert "maxTotalFloatingIps" not in v236["limits"]["absolute"]
    assert "maxImageMeta" in v236["limits"]["absolute"]
    v239 = http.expect(http.get(LIMITS, token=token, headers=v("2.39")), 200)
    assert "maxImageMeta" not in v239["limits"]["absolute"]
    v257 = http.expect(http.get(LIMITS, token=token, headers=v("2.57")), 200)
    assert set(v257["limits"]["absolute"]) == {
        "maxTotalInstances", "maxTotalCores", "maxTotalRAMSize", "maxTotalKeypairs",
        "maxServerMeta", "maxServerGroups", "maxServerGroupMembers", "totalInstancesUsed",
        "totalCoresUsed", "totalRAMUsed", "totalServerGroupsUsed",
    }  # fmt: skip
    # the project's own limits show
    http.expect(http.put(f"{QUOTAS}/{compute_member['project_id']}",
                         json={"quota_set": {"instances": 4}}), 200)  # fmt: skip
    mine = http.expect(http.get(LIMITS, token=token), 200)["limits"]["absolute"]
    assert mine["maxTotalInstances"] == 4


def test_other_projects_limits_are_for_admins(http, compute_member):
    token = compute_member["token"]
    admin_project = http.validate(http.admin_token).json()["token"]["project"]["id"]
    r = http.get(LIMITS, token=token, params={"tenant_id": admin_project})
    nova_error(r, 403, "forbidden")
    # naming one's own project is fine
    http.expect(
        http.get(LIMITS, token=token, params={"tenant_id": compute_member["project_id"]}), 200
    )
    http.expect(http.put(f"{QUOTAS}/{compute_member['project_id']}",
                         json={"quota_set": {"cores": 3}}), 200)  # fmt: skip
    theirs = http.get(LIMITS, params={"tenant_id": compute_member["project_id"]})
    assert http.expect(theirs, 200)["limits"]["absolute"]["maxTotalCores"] == 3
    r = http.get(LIMITS, params={"bogus": 1}, headers=v("2.75"))
    nova_error(r, 400, "badRequest", "bogus")


# -- the clients ---------------------------------------------------------------------------


def test_quotas_with_openstacksdk(admin_conn, compute_member):
    project = compute_member["project_id"]
    quota = admin_conn.compute.get_quota_set(project)
    assert quota.instances == 10 and quota.key_pairs == 100
    admin_conn.compute.update_quota_set(project, instances=6, ram=2048)
    quota = admin_conn.compute.get_quota_set(project)
    assert quota.instances == 6 and quota.ram == 2048
    defaults = admin_conn.compute.get_quota_set_defaults(project)
    assert defaults.instances == 10
    admin_conn.compute.revert_quota_set(project)
    assert admin_conn.compute.get_quota_set(project).instances == 10


def test_limits_with_openstacksdk(demo_conn):
    limits = demo_conn.compute.get_limits()
    assert limits.absolute.instances >= 0
    assert limits.absolute.total_cores_used >= 0
    assert limits.rate == []


def test_quota_and_limits_commands_of_the_cli(run_cli, compute_member):
    project = compute_member["project_id"]
    run_cli("quota", "set", "--instances", "7", "--cores", "9", "--key-pairs", "5", project)
    shown = run_cli("quota", "show", "--compute", project)
    values = {row["Resource"]: row["Limit"] for row in shown} if isinstance(shown, list) else shown
    assert values["instances"] == 7 and values["cores"] == 9 and values["key-pairs"] == 5
    limits = run_cli("limits", "show", "--absolute", "--project", project)
    by_name = {row["Name"]: row["Value"] for row in limits}
    assert by_name["max_total_instances"] == 7 and by_name["max_total_cores"] == 9
