"""Server groups (/compute/v2.1/os-server-groups) through openstacksdk, the ``openstack
server group`` CLI and raw HTTP: bodies at 2.1, 2.13 and 2.64, the policies each
microversion allows and 2.64's rules, validation, listing (all_projects, limit and
offset), isolation between projects, deletion, members added by server create (the
``group`` hint) and the server_groups and server_group_members quotas."""

from __future__ import annotations

from typing import Any

import pytest
from openstack import exceptions as sdk_exc

from .compute import QUOTAS, nova_error, v

GROUPS = "/compute/v2.1/os-server-groups"
SERVERS = "/compute/v2.1/servers"
IMAGES = "/image/v2/images"


def create(http, token, version: str = "2.1", **fields: Any):
    return http.post(GROUPS, json={"server_group": fields}, token=token, headers=v(version))


# -- bodies and policies -------------------------------------------------------------------


def test_bodies_at_each_microversion(http, compute_member):
    token = compute_member["token"]
    old = http.expect(create(http, token, name="old", policies=["affinity"]), 200)
    group = old["server_group"]
    assert set(group) == {"id", "name", "policies", "members", "metadata"}
    assert (group["name"], group["policies"], group["members"], group["metadata"]) == (
        "old", ["affinity"], [], {},
    )  # fmt: skip
    v213 = http.get(f"{GROUPS}/{group['id']}", token=token, headers=v("2.13"))
    shown = http.expect(v213, 200)["server_group"]
    assert shown["project_id"] == compute_member["project_id"]
    assert shown["user_id"] == compute_member["user_id"]
    v264 = http.get(f"{GROUPS}/{group['id']}", token=token, headers=v("2.64"))
    new = http.expect(v264, 200)["server_group"]
    assert set(new) == {"id", "name", "policy", "rules", "members", "project_id", "user_id"}
    assert new["policy"] == "affinity" and new["rules"] == {}

    r = create(http, token, "2.64", name="ruled", policy="anti-affinity",
               rules={"max_server_per_host": "2"})  # fmt: skip
    ruled = http.expect(r, 200)["server_group"]
    assert ruled["rules"] == {"max_server_per_host": 2} and ruled["policy"] == "anti-affinity"
    old_view = http.get(f"{GROUPS}/{ruled['id']}", token=token, headers=v("2.63"))
    assert http.expect(old_view, 200)["server_group"]["policies"] == ["anti-affinity"]


def test_soft_policies_from_2_15(http, compute_member):
    token = compute_member["token"]
    r = create(http, token, "2.14", name="soft", policies=["soft-affinity"])
    nova_error(r, 400, "badRequest", "policies")
    for policy in ("soft-affinity", "soft-anti-affinity"):
        r = create(http, token, "2.15", name="soft", policies=[policy])
        assert http.expect(r, 200)["server_group"]["policies"] == [policy]
        r = create(http, token, "2.64", name="soft", policy=policy)
        assert http.expect(r, 200)["server_group"]["policy"] == policy


@pytest.mark.parametrize(
    ("fields", "version", "needle"),
    [
        ({"policies": ["affinity"]}, "2.1", "name"),
        ({"name": "g"}, "2.1", "policies"),
        ({"name": "", "policies": ["affinity"]}, "2.1", "name"),
        ({"name": " g", "policies": ["affinity"]}, "2.1", "name"),
        ({"name": "x" * 256, "policies": ["affinity"]}, "2.1", "name"),
        ({"name": "g", "policies": []}, "2.1", "policies"),
        ({"name": "g", "policies": ["affinity", "anti-affinity"]}, "2.1", "policies"),
        ({"name": "g", "policies": ["friends"]}, "2.1", "policies"),
        ({"name": "g", "policies": "affinity"}, "2.1", "policies"),
        ({"name": "g", "policies": ["affinity"], "metadata": {}}, "2.1", "metadata"),
        ({"name": "g", "policy": "affinity"}, "2.63", "policy"),
        ({"name": "g", "policies": ["affinity"]}, "2.64", "policies"),
        ({"name": "g"}, "2.64", "policy"),
        ({"name": "g", "policy": "friends"}, "2.64", "policy"),
        (
            {"name": "g", "policy": "affinity", "rules": {"max_server_per_host": 2}},
            "2.64",
            "Only anti-affinity policy supports rules.",
        ),
        (
            {"name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": 0}},
            "2.64",
            "max_server_per_host",
        ),
        (
            {"name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": "x"}},
            "2.64",
            "max_server_per_host",
        ),
        ({"name": "g", "policy": "anti-affinity", "rules": {"spread": 1}}, "2.64", "spread"),
        ({"name": "g", "policy": "anti-affinity", "rules": []}, "2.64", "rules"),
    ],
)
def test_invalid_creates(http, compute_member, fields, version, needle):
    assert needle in nova_error(
        create(http, compute_member["token"], version, **fields), 400, "badRequest"
    )


@pytest.mark.parametrize("body", [{}, {"server_group": "g"}, [1], {"group": {}}])
def test_malformed_bodies(http, compute_member, body):
    nova_error(http.post(GROUPS, json=body, token=compute_member["token"]), 400, "badRequest")


# -- listing, isolation, deletion ----------------------------------------------------------


def test_listing_and_pages(http, compute_member, unique):
    token = compute_member["token"]
    made = [
        http.expect(create(http, token, name=f"g{i}", policies=["affinity"]), 200)["server_group"]
        for i in range(3)
    ]
    listed = http.expect(http.get(GROUPS, token=token), 200)["server_groups"]
    assert [g["id"] for g in listed] == [g["id"] for g in made]
    page = http.get(GROUPS, token=token, params={"limit": 1, "offset": 1})
    assert [g["id"] for g in http.expect(page, 200)["server_groups"]] == [made[1]["id"]]
    page = http.get(GROUPS, token=token, params={"offset": 2})
    assert [g["id"] for g in http.expect(page, 200)["server_groups"]] == [made[2]["id"]]
    nova_error(http.get(GROUPS, token=token, params={"limit": -1}), 400, "badRequest", "limit")
    nova_error(http.get(GROUPS, token=token, params={"offset": "x"}), 400, "badRequest", "offset")
    r = http.get(GROUPS, token=token, params={"name": "g0"}, headers=v("2.75"))
    nova_error(r, 400, "badRequest", "name")

    # admins see every project's with all_projects; a member asking gets their own
    admin_own = http.expect(http.get(GROUPS), 200)["server_groups"]
    assert not {g["id"] for g in made} & {g["id"] for g in admin_own}
    everyone = http.expect(http.get(GROUPS, params={"all_projects": "True"}), 200)
    assert {g["id"] for g in made} <= {g["id"] for g in everyone["server_groups"]}
    theirs = http.get(GROUPS, token=token, params={"all_projects": "True"})
    assert [g["id"] for g in http.expect(theirs, 200)["server_groups"]] == [g["id"] for g in made]


def test_other_projects_groups_do_not_exist(http, compute_member):
    group = http.expect(
        create(http, compute_member["token"], name="private", policies=["affinity"]), 200
    )
    group_id = group["server_group"]["id"]
    demo = http.demo_token
    message = f"Instance group {group_id} could not be found."
    nova_error(http.get(f"{GROUPS}/{group_id}", token=demo), 404, "itemNotFound", message)
    nova_error(http.delete(f"{GROUPS}/{group_id}", token=demo), 404, "itemNotFound", message)
    assert group_id not in {
        g["id"] for g in http.expect(http.get(GROUPS, token=demo), 200)["server_groups"]
    }
    # an admin reaches it
    http.expect(http.get(f"{GROUPS}/{group_id}"), 200)


def test_delete(http, compute_member):
    token = compute_member["token"]
    group = http.expect(create(http, token, name="gone", policies=["affinity"]), 200)
    url = f"{GROUPS}/{group['server_group']['id']}"
    assert http.delete(url, token=token).status_code == 204
    nova_error(http.get(url, token=token), 404, "itemNotFound")
    nova_error(http.delete(url, token=token), 404, "itemNotFound")
    nova_error(http.get(f"{GROUPS}/not-a-uuid", token=token), 404, "itemNotFound")


def test_server_groups_quota(http, compute_member):
    url = f"{QUOTAS}/{compute_member['project_id']}"
    http.expect(http.put(url, json={"quota_set": {"server_groups": 1}}), 200)
    token = compute_member["token"]
    http.expect(create(http, token, name="one", policies=["affinity"]), 200)
    r = create(http, token, name="two", policies=["affinity"])
    nova_error(r, 403, "forbidden", "Quota exceeded, too many server groups.")


# -- members -------------------------------------------------------------------------------


def _image(http, token) -> str:
    body = {"name": "tiny", "disk_format": "raw", "container_format": "bare"}
    image = http.expect(http.post(IMAGES, json=body, token=token), 201)
    headers = {"Content-Type": "application/octet-stream"}
    r = http.put(f"{IMAGES}/{image['id']}/file", content=b"\0" * 4096, token=token,
                 headers=headers)  # fmt: skip
    assert r.status_code == 204, r.text
    return str(image["id"])


def _boot(http, token, image_id: str, group_id: str, name: str):
    body = {
        "server": {"name": name, "imageRef": image_id, "flavorRef": "42", "networks": "none"},
        "os:scheduler_hints": {"group": group_id},
    }
    return http.post(SERVERS, json=body, token=token, headers=v("2.37"))


def test_servers_join_their_group_up_to_the_quota(http, compute_member):
    token = compute_member["token"]
    url = f"{QUOTAS}/{compute_member['project_id']}"
    http.expect(http.put(url, json={"quota_set": {"server_group_members": 2}}), 200)
    group = http.expect(create(http, token, name="members", policies=["anti-affinity"]), 200)
    group_id = group["server_group"]["id"]
    image_id = _image(http, token)
    servers = [http.expect(_boot(http, token, image_id, group_id, f"s{i}"), 202)["server"]["id"]
               for i in range(2)]  # fmt: skip
    try:
        shown = http.expect(http.get(f"{GROUPS}/{group_id}", token=token), 200)["server_group"]
        assert sorted(shown["members"]) == sorted(servers)
        listed = http.expect(http.get(GROUPS, token=token), 200)["server_groups"]
        assert sorted(next(g for g in listed if g["id"] == group_id)["members"]) == sorted(servers)
        r = _boot(http, token, image_id, group_id, "s3")
        nova_error(r, 403, "forbidden", "Quota exceeded, too many servers in group")
        shown = http.expect(http.get(f"{GROUPS}/{group_id}", token=token), 200)["server_group"]
        assert len(shown["members"]) == 2
    finally:
        for server_id in servers:
            http.delete(f"{SERVERS}/{server_id}", token=token)


# -- the clients ---------------------------------------------------------------------------


def test_server_groups_with_openstacksdk(demo_conn, unique):
    name = unique("sdk")
    group = demo_conn.compute.create_server_group(name=name, policy="soft-anti-affinity")
    try:
        assert group.policy == "soft-anti-affinity" and group.member_ids == []
        assert demo_conn.compute.get_server_group(group.id).name == name
        assert group.id in {g.id for g in demo_conn.compute.server_groups()}
    finally:
        demo_conn.compute.delete_server_group(group, ignore_missing=True)
    with pytest.raises(sdk_exc.NotFoundException):
        demo_conn.compute.get_server_group(group.id)


def test_server_group_commands_of_the_cli(run_cli, unique):
    name = unique("cli")
    created = run_cli("server", "group", "create", "--policy", "anti-affinity", name,
                      cloud="nubo-demo")  # fmt: skip
    try:
        assert created["name"] == name and created["policy"] == "anti-affinity"
        assert created["members"] == []
        listed = run_cli("server", "group", "list", cloud="nubo-demo")
        assert name in {g["Name"] for g in listed}
        shown = run_cli("server", "group", "show", name, cloud="nubo-demo")
        assert shown["id"] == created["id"]
        everyone = run_cli("server", "group", "list", "--all-projects")
        assert name in {g["Name"] for g in everyone}
    finally:
        run_cli("server", "group", "delete", name, cloud="nubo-demo")
    with pytest.raises(run_cli.Error):
        run_cli("server", "group", "show", name, cloud="nubo-demo")
