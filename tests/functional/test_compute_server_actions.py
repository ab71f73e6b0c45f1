"""Server actions (POST /compute/v2.1/servers/{id}/action) on the fake compute driver,
through openstacksdk, the ``openstack`` CLI and raw HTTP: every transition is watched
through the API until its task ends; Nova's 409 shapes for invalid states and locks,
admin-only actions, images from snapshots and shelving, resize with confirm and
revert, rebuild, security groups, consoles, and another project's server (404)."""

from __future__ import annotations

import time
from typing import Any

from openstack import connection

from .common import eventually
from .compute import SERVERS, act, other_project, server_body, v, wait_for


def expect_conflict(response: Any, text: str) -> None:
    assert response.status_code == 409, response.text
    fault = response.json()["conflictingRequest"]
    assert fault["code"] == 409
    assert text in fault["message"], fault["message"]


def events(http: Any, server_id: str, request_id: str) -> list[str]:
    r = http.get(
        f"{SERVERS}/{server_id}/os-instance-actions/{request_id}",
        headers=v("2.51"),
    )
    assert r.status_code == 200, r.text
    return [e["event"] for e in r.json()["instanceAction"]["events"]]


# -- power -------------------------------------------------------------------------------


def test_stop_start_and_reboot_with_the_cli(boot, demo_conn, http, run_cli) -> None:
    server = boot()
    token = demo_conn.auth_token
    run_cli("server", "stop", server["id"], cloud="nubo-demo")
    stopped = wait_for(http, token, server["id"], "SHUTOFF")
    assert stopped["OS-EXT-STS:vm_state"] == "stopped"
    assert stopped["OS-EXT-STS:power_state"] == 4
    run_cli("server", "start", server["id"], cloud="nubo-demo")
    started = wait_for(http, token, server["id"], "ACTIVE")
    assert started["OS-EXT-STS:power_state"] == 1
    run_cli("server", "reboot", "--hard", "--wait", server["id"], cloud="nubo-demo")
    run_cli("server", "reboot", "--soft", "--wait", server["id"], cloud="nubo-demo")
    wait_for(http, token, server["id"], "ACTIVE")
    listed = http.get(f"{SERVERS}/{server['id']}/os-instance-actions", token=token).json()
    names = [a["action"] for a in listed["instanceActions"]]
    assert names[:4] == ["reboot", "reboot", "start", "stop"]
    stop = next(a for a in listed["instanceActions"] if a["action"] == "stop")
    assert events(http, server["id"], stop["request_id"]) == ["compute_stop_instance"]


def test_pause_unpause_suspend_resume(boot, demo_conn, http) -> None:
    server = boot()
    token, sid = demo_conn.auth_token, server["id"]
    demo_conn.compute.pause_server(sid)
    paused = wait_for(http, token, sid, "PAUSED")
    assert paused["OS-EXT-STS:power_state"] == 3
    demo_conn.compute.unpause_server(sid)
    wait_for(http, token, sid, "ACTIVE")
    demo_conn.compute.suspend_server(sid)
    suspended = wait_for(http, token, sid, "SUSPENDED")
    assert suspended["OS-EXT-STS:power_state"] == 7
    demo_conn.compute.resume_server(sid)
    assert wait_for(http, token, sid, "ACTIVE")["OS-EXT-STS:power_state"] == 1


def test_actions_in_the_wrong_state_are_409(boot, demo_conn, http) -> None:
    server = boot()
    token, sid = demo_conn.auth_token, server["id"]
    expect_conflict(
        act(http, token, sid, {"os-start": None}),
        f"Cannot 'start' instance {sid} while it is in vm_state active",
    )
    expect_conflict(act(http, token, sid, {"unpause": None}), "vm_state active")
    expect_conflict(act(http, token, sid, {"resume": None}), "vm_state active")
    expect_conflict(act(http, token, sid, {"confirmResize": None}), "vm_state active")
    assert act(http, token, sid, {"os-stop": None}).status_code == 202
    # a second stop while the first runs or after it: wrong task or vm state
    second = act(http, token, sid, {"os-stop": None})
    expect_conflict(second, f"Cannot 'stop' instance {sid} while it is in")
    wait_for(http, token, sid, "SHUTOFF")
    expect_conflict(act(http, token, sid, {"pause": None}), "vm_state stopped")
    r = act(http, token, sid, {"reboot": {"type": "SOFT"}})
    expect_conflict(r, "Cannot 'reboot'")
    # a hard reboot starts a stopped server
    assert act(http, token, sid, {"reboot": {"type": "HARD"}}).status_code == 202
    wait_for(http, token, sid, "ACTIVE")


def test_bad_action_bodies_are_400(boot, demo_conn, http) -> None:
    server = boot()
    token, sid = demo_conn.auth_token, server["id"]
    for body, text in (
        ({"reboot": {"type": "gentle"}}, "type"),
        ({"reboot": {}}, "type"),
        ({"resize": {}}, "flavorRef"),
        ({"resize": {"flavorRef": "no-such-flavor"}}, "Flavor"),
        ({"resize": {"flavorRef": "42"}}, "must change flavor"),
        ({"os-resetState": {"state": "active"}}, None),
        ({"nonsense": None}, "no such action"),
        ({"os-stop": None, "os-start": None}, "exactly one"),
        ({"createImage": {}}, "name"),
        ({"os-getConsoleOutput": {"length": -5}}, "length"),
    ):
        r = act(http, token, sid, body)
        if text is None:  # admin only
            assert r.status_code == 403, r.text
            continue
        assert r.status_code == 400, (body, r.text)
        assert text.lower() in r.json()["badRequest"]["message"].lower(), r.text


# -- lock --------------------------------------------------------------------------------


def test_locked_server_refuses_changes_except_from_admin(boot, demo_conn, http) -> None:
    server = boot()
    token, sid = demo_conn.auth_token, server["id"]
    assert act(http, token, sid, {"lock": {"locked_reason": "maintenance"}}).status_code == 202
    body = server_body(http, token, sid)
    assert body["locked"] is True
    assert body["locked_reason"] == "maintenance"
    assert "locked_reason" not in server_body(http, token, sid, "2.72")
    expect_conflict(act(http, token, sid, {"os-stop": None}), f"Instance {sid} is locked")
    r = http.delete(f"{SERVERS}/{sid}", token=token)
    expect_conflict(r, "is locked")
    # an admin may act on a locked server
    assert act(http, http.admin_token, sid, {"os-stop": None}).status_code == 202
    wait_for(http, token, sid, "SHUTOFF")
    assert act(http, token, sid, {"unlock": None}).status_code == 202
    assert server_body(http, token, sid)["locked"] is False
    assert act(http, token, sid, {"os-start": None}).status_code == 202
    wait_for(http, token, sid, "ACTIVE")
    # locked_reason needs 2.73
    r = act(http, token, sid, {"lock": {"locked_reason": "x"}}, version="2.72")
    assert r.status_code == 400


def test_admin_lock_needs_an_admin_to_unlock(boot, demo_conn, http, run_cli) -> None:
    server = boot()
    token, sid = demo_conn.auth_token, server["id"]
    run_cli("server", "lock", sid, cloud="nubo")
    r = act(http, token, sid, {"unlock": None})
    assert r.status_code == 403, r.text
    run_cli("server", "unlock", sid, cloud="nubo")
    assert server_body(http, token, sid)["locked"] is False


# -- rescue ------------------------------------------------------------------------------


def test_rescue_and_unrescue(boot, demo_conn, http, run_cli) -> None:
    server = boot()
    token, sid = demo_conn.auth_token, server["id"]
    r = act(http, token, sid, {"rescue": {"adminPass": "rescue-pass"}})
    assert r.status_code == 200, r.text
    assert r.json() == {"adminPass": "rescue-pass"}
    rescued = wait_for(http, token, sid, "RESCUE")
    assert rescued["OS-EXT-STS:vm_state"] == "rescued"
    expect_conflict(act(http, token, sid, {"rescue": None}), "vm_state rescued")
    run_cli("server", "unrescue", sid, cloud="nubo-demo")
    wait_for(http, token, sid, "ACTIVE")
    log = run_cli("console", "log", "show", sid, cloud="nubo-demo", json_output=False)
    assert "rescue image" in log


# -- admin actions -----------------------------------------------------------------------


def test_reset_state_is_for_admins(boot, demo_conn, http) -> None:
    server = boot()
    token, sid = demo_conn.auth_token, server["id"]
    assert act(http, token, sid, {"os-resetState": {"state": "error"}}).status_code == 403
    r = act(http, http.admin_token, sid, {"os-resetState": {"state": "error"}})
    assert r.status_code == 202, r.text
    assert server_body(http, token, sid)["status"] == "ERROR"
    r = act(http, http.admin_token, sid, {"os-resetState": {"state": "active"}})
    assert r.status_code == 202
    assert server_body(http, token, sid)["status"] == "ACTIVE"


def test_migrations_need_another_host(boot, demo_conn, http) -> None:
    server = boot()
    sid = server["id"]
    assert act(http, demo_conn.auth_token, sid, {"migrate": None}).status_code == 403
    r = act(http, http.admin_token, sid, {"migrate": None})
    assert r.status_code == 400, r.text
    assert r.json()["badRequest"]["message"] == "No valid host found for cold migrate"
    r = act(
        http,
        http.admin_token,
        sid,
        {"os-migrateLive": {"host": None, "block_migration": "auto"}},
    )
    assert r.status_code == 400, r.text
    assert "No valid host" in r.json()["badRequest"]["message"]


def test_unsupported_actions_say_so(boot, demo_conn, http) -> None:
    server = boot()
    token, sid = demo_conn.auth_token, server["id"]
    r = act(http, token, sid, {"changePassword": {"adminPass": "new-pass"}})
    assert r.status_code == 501, r.text
    assert "not supported" in r.json()["notImplemented"]["message"]
    r = act(http, token, sid, {"trigger_crash_dump": None})
    assert r.status_code == 400
    assert "crash dump" in r.json()["badRequest"]["message"]


def test_another_projects_server_is_404_for_actions(boot, admin_conn, http, unique) -> None:
    server = boot()
    other = other_project(admin_conn, unique)
    try:
        for body in ({"os-stop": None}, {"lock": None}, {"createImage": {"name": "x"}}):
            r = act(http, other.auth_token, server["id"], body)
            assert r.status_code == 404, r.text
            assert r.json()["itemNotFound"]["code"] == 404
    finally:
        other.close()


# -- resize ------------------------------------------------------------------------------


def _allocations(http: Any, consumer: str) -> dict[str, Any]:
    r = http.get(
        f"/placement/allocations/{consumer}",
        headers={"OpenStack-API-Version": "placement 1.28"},
    )
    assert r.status_code == 200, r.text
    allocations: dict[str, Any] = r.json()["allocations"]
    return allocations


def test_resize_confirm_with_the_cli(boot, demo_conn, http, run_cli) -> None:
    server = boot()
    token, sid = demo_conn.auth_token, server["id"]
    run_cli("server", "resize", "--flavor", "m1.micro", "--wait", sid, cloud="nubo-demo")
    body = wait_for(http, token, sid, "VERIFY_RESIZE")
    assert body["flavor"]["original_name"] == "m1.micro"
    assert body["flavor"]["ram"] == 192
    (held,) = _allocations(http, sid).values()
    assert held["resources"]["MEMORY_MB"] == 192
    migrations = http.get(
        "/compute/v2.1/os-migrations", params={"instance_uuid": sid}, headers=v("2.80")
    ).json()["migrations"]
    assert migrations and migrations[0]["status"] == "finished"
    run_cli("server", "resize", "confirm", sid, cloud="nubo-demo")
    confirmed = wait_for(http, token, sid, "ACTIVE")
    assert confirmed["flavor"]["original_name"] == "m1.micro"
    assert _allocations(http, migrations[0]["uuid"]) == {}


def test_resize_revert(boot, demo_conn, http) -> None:
    server = boot()
    token, sid = demo_conn.auth_token, server["id"]
    assert act(http, token, sid, {"resize": {"flavorRef": "84"}}).status_code == 202
    wait_for(http, token, sid, "VERIFY_RESIZE")
    assert act(http, token, sid, {"revertResize": None}).status_code == 202
    reverted = wait_for(http, token, sid, "ACTIVE")
    assert reverted["flavor"]["original_name"] == "m1.nano"
    (held,) = _allocations(http, sid).values()
    assert held["resources"]["MEMORY_MB"] == 128
    expect_conflict(act(http, token, sid, {"revertResize": None}), "vm_state active")


def test_resize_of_a_stopped_server_stays_stopped(boot, demo_conn, http) -> None:
    server = boot()
    token, sid = demo_conn.auth_token, server["id"]
    act(http, token, sid, {"os-stop": None})
    wait_for(http, token, sid, "SHUTOFF")
    assert act(http, token, sid, {"resize": {"flavorRef": "84"}}).status_code == 202
    resized = wait_for(http, token, sid, "VERIFY_RESIZE")
    assert resized["OS-EXT-STS:power_state"] == 4
    r = act(http, token, sid, {"confirmResize": None})
    assert r.status_code == 204, r.text
    assert wait_for(http, token, sid, "SHUTOFF")["flavor"]["original_name"] == "m1.micro"


# -- rebuild -----------------------------------------------------------------------------


def test_rebuild_changes_name_and_metadata(boot, demo_conn, http, server_image) -> None:
    server = boot(metadata={"old": "1"})
    token, sid = demo_conn.auth_token, server["id"]
    r = act(
        http,
        token,
        sid,
        {"rebuild": {"imageRef": server_image, "name": "rebuilt", "metadata": {"new": "2"}}},
    )
    assert r.status_code == 202, r.text
    body = r.json()["server"]
    assert body["name"] == "rebuilt"
    assert body["metadata"] == {"new": "2"}
    assert body["adminPass"]
    assert "OS-EXT-STS:vm_state" in body  # 2.75: the whole server
    done = wait_for(http, token, sid, "ACTIVE")
    assert done["name"] == "rebuilt"
    old = act(http, token, sid, {"rebuild": {"imageRef": server_image}}, version="2.1")
    assert old.status_code == 202, old.text
    assert "OS-EXT-STS:vm_state" not in old.json()["server"]
    wait_for(http, token, sid, "ACTIVE")
    r = act(http, token, sid, {"rebuild": {"imageRef": "no-such-image"}})
    assert r.status_code == 400


# -- images ------------------------------------------------------------------------------


def _wait_image(conn: connection.Connection, image_id: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    image = None
    while time.monotonic() < deadline:
        image = conn.image.get_image(image_id)
        if image.status == "active":
            return image
        time.sleep(0.2)
    raise AssertionError(f"image {image_id} is {image.status if image else None}")


def test_create_image_of_a_server(boot, demo_conn, http, run_cli, unique) -> None:
    server = boot()
    token, sid = demo_conn.auth_token, server["id"]
    name = unique("snap")
    r = act(http, token, sid, {"createImage": {"name": name, "metadata": {"purpose": "test"}}})
    assert r.status_code == 202, r.text
    image_id = r.json()["image_id"]
    image = _wait_image(demo_conn, image_id)
    try:
        assert image.name == name
        assert image.properties["image_type"] == "snapshot"
        assert image.instance_uuid == sid
        assert image.properties["purpose"] == "test"
        assert image.size == 65536
        assert image.owner == demo_conn.current_project_id
        wait_for(http, token, sid, "ACTIVE")
        old = act(http, token, sid, {"createImage": {"name": name + "-2"}}, version="2.44")
        assert old.status_code == 202
        assert not old.content
        location = old.headers["location"]
        assert "/compute/v2.1/images/" in location
        second = location.rsplit("/", 1)[-1]
        _wait_image(demo_conn, second)
        wait_for(http, token, sid, "ACTIVE")  # the image is active before the task ends
        demo_conn.image.delete_image(second)
        created = run_cli(
            "server", "image", "create", "--name", name + "-3", "--wait", sid, cloud="nubo-demo"
        )
        assert created["status"] == "active"
        demo_conn.image.delete_image(created["id"])
    finally:
        demo_conn.image.delete_image(image_id, ignore_missing=True)


def test_create_backup_keeps_the_rotation(boot, demo_conn, http, unique) -> None:
    server = boot()
    token, sid = demo_conn.auth_token, server["id"]
    made = []
    try:
        for index in range(3):
            r = act(
                http,
                token,
                sid,
                {
                    "createBackup": {
                        "name": unique(f"bk{index}"),
                        "backup_type": "daily",
                        "rotation": 2,
                    }
                },
            )
            assert r.status_code == 202, r.text
            made.append(r.json()["image_id"])
            wait_for(http, token, sid, "ACTIVE")
        left = [i.id for i in demo_conn.image.images() if i.id in made]
        assert sorted(left) == sorted(made[1:])
    finally:
        for image_id in made:
            demo_conn.image.delete_image(image_id, ignore_missing=True)


def test_shelve_offloads_and_unshelve_boots_again(boot, demo_conn, http, run_cli) -> None:
    server = boot()
    token, sid = demo_conn.auth_token, server["id"]
    run_cli("server", "shelve", sid, cloud="nubo-demo")
    shelved = wait_for(http, token, sid, "SHELVED_OFFLOADED")
    assert shelved["OS-EXT-STS:vm_state"] == "shelved_offloaded"
    admin_view = server_body(http, http.admin_token, sid)
    assert admin_view["OS-EXT-SRV-ATTR:host"] is None
    assert _allocations(http, sid) == {}
    shelved_images = [i for i in demo_conn.image.images() if i.instance_uuid == sid]
    assert [i.name for i in shelved_images] == [f"{server['name']}-shelved"]
    expect_conflict(act(http, token, sid, {"pause": None}), "vm_state shelved_offloaded")
    expect_conflict(act(http, token, sid, {"os-start": None}), f"Instance {sid} is not ready")
    run_cli("server", "unshelve", sid, cloud="nubo-demo")
    active = wait_for(http, token, sid, "ACTIVE")
    assert active["OS-EXT-STS:power_state"] == 1
    assert server_body(http, http.admin_token, sid)["OS-EXT-SRV-ATTR:host"]
    assert _allocations(http, sid)
    # the shelved snapshot goes once the server runs again
    left = eventually(
        lambda: [i.id for i in demo_conn.image.images() if i.instance_uuid == sid],
        lambda ids: not ids,
    )
    assert left == []


# -- security groups ---------------------------------------------------------------------


def test_add_and_remove_security_group(boot, demo_conn, http, run_cli, unique) -> None:
    net = demo_conn.network.find_network("private")
    server = boot(networks=[{"uuid": net.id}])
    token, sid = demo_conn.auth_token, server["id"]
    group = demo_conn.network.create_security_group(name=unique("sg"))
    try:
        run_cli("server", "add", "security", "group", sid, group.name, cloud="nubo-demo")
        (port,) = demo_conn.network.ports(device_id=sid)
        assert group.id in port.security_group_ids
        names = {g["name"] for g in server_body(http, token, sid)["security_groups"]}
        assert names == {"default", group.name}
        run_cli("server", "remove", "security", "group", sid, group.name, cloud="nubo-demo")
        (port,) = demo_conn.network.ports(device_id=sid)
        assert group.id not in port.security_group_ids
        r = act(http, token, sid, {"removeSecurityGroup": {"name": group.name}})
        assert r.status_code == 404
        assert "not associated" in r.json()["itemNotFound"]["message"]
        r = act(http, token, sid, {"addSecurityGroup": {"name": "no-such-group"}})
        assert r.status_code == 404
    finally:
        demo_conn.network.delete_security_group(group.id, ignore_missing=True)


# -- consoles ----------------------------------------------------------------------------


def test_console_log(boot, demo_conn, http, run_cli) -> None:
    server = boot()
    token, sid = demo_conn.auth_token, server["id"]
    log = run_cli("console", "log", "show", sid, cloud="nubo-demo", json_output=False)
    assert "login:" in log
    # Nova's tail: the last pieces of the log split at newlines (the last one is empty)
    r = act(http, token, sid, {"os-getConsoleOutput": {"length": 2}})
    assert r.status_code == 200, r.text
    assert r.json()["output"].count("\n") == 1
    r = act(http, token, sid, {"os-getConsoleOutput": {"length": 0}})
    assert r.json()["output"] == ""


def test_remote_console_is_refused_without_a_console(boot, demo_conn, http) -> None:
    server = boot()
    token, sid = demo_conn.auth_token, server["id"]
    r = http.post(
        f"{SERVERS}/{sid}/remote-consoles",
        token=token,
        headers=v("2.6"),
        json={"remote_console": {"protocol": "vnc", "type": "novnc"}},
    )
    assert r.status_code == 400, r.text
    assert "Unavailable console type novnc" in r.json()["badRequest"]["message"]
    r = http.post(
        f"{SERVERS}/{sid}/remote-consoles",
        token=token,
        headers=v("2.6"),
        json={"remote_console": {"protocol": "vnc", "type": "serial"}},
    )
    assert r.status_code == 400
    r = act(http, token, sid, {"os-getVNCConsole": {"type": "novnc"}}, version="2.5")
    assert r.status_code == 400
    r = act(http, token, sid, {"os-getVNCConsole": {"type": "novnc"}}, version="2.6")
    assert r.status_code == 404


# -- instance actions ----------------------------------------------------------------------


def test_instance_action_events_per_microversion_and_role(boot, demo_conn, http) -> None:
    server = boot()
    token, sid = demo_conn.auth_token, server["id"]
    act(http, token, sid, {"pause": None})
    wait_for(http, token, sid, "PAUSED")
    actions = http.get(f"{SERVERS}/{sid}/os-instance-actions", token=token).json()
    pause = actions["instanceActions"][0]
    assert pause["action"] == "pause"
    assert pause["user_id"] == demo_conn.current_user_id
    url = f"{SERVERS}/{sid}/os-instance-actions/{pause['request_id']}"
    assert "events" not in http.get(url, token=token).json()["instanceAction"]
    member = http.get(url, token=token, headers=v("2.51")).json()["instanceAction"]
    (event,) = member["events"]
    assert event["event"] == "compute_pause_instance"
    assert event["result"] == "Success"
    assert "traceback" not in event
    admin = http.get(url, headers=v("2.62")).json()["instanceAction"]
    assert admin["events"][0]["host"]
    assert "traceback" in admin["events"][0]
    r = http.get(f"{SERVERS}/{sid}/os-instance-actions/req-nope", token=token)
    assert r.status_code == 404
