"""Unified limits: registered limits, project limits and the enforcement model, with
openstacksdk, the CLI and raw HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from openstack import exceptions as sdk_exc


def _assert_error(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    error: dict[str, Any] = r.json()["error"]
    assert error["code"] == status
    assert error["title"]
    assert error["message"]
    return error


@pytest.fixture
def service(http, unique) -> dict[str, Any]:
    """A catalog service of its own, so limits of different tests never collide."""
    return http.create("services", "service", {"type": unique("svc"), "name": unique("svcname")})


@pytest.fixture
def region(http, unique) -> dict[str, Any]:
    return http.create("regions", "region", {"id": unique("region")})


def _registered(http, *items: dict[str, Any], token: Any = None) -> Any:
    kwargs = {} if token is None else {"token": token}
    return http.post("registered_limits", json={"registered_limits": list(items)}, **kwargs)


def _limits(http, *items: dict[str, Any], token: Any = None) -> Any:
    kwargs = {} if token is None else {"token": token}
    return http.post("limits", json={"limits": list(items)}, **kwargs)


def _demo_project(http) -> str:
    body = http.expect(http.validate(http.demo_token), 200)["token"]
    return str(body["project"]["id"])


# -- the model ---------------------------------------------------------------------


def test_model_is_flat(http):
    model = http.expect(http.get("limits/model", token=http.demo_token), 200)["model"]
    assert model["name"] == "flat"
    assert model["description"]


# -- registered limits -----------------------------------------------------------------


def test_registered_limits_cli(run_cli, service, region):
    made = run_cli(
        "registered",
        "limit",
        "create",
        "--service",
        service["id"],
        "--default-limit",
        "10",
        "--region",
        region["id"],
        "--description",
        "cores by default",
        "cores",
    )
    rid = made["id"]
    try:
        assert made["default_limit"] == 10
        assert made["service_id"] == service["id"]
        assert made["region_id"] == region["id"]
        assert made["resource_name"] == "cores"
        assert made["description"] == "cores by default"
        listed = run_cli("registered", "limit", "list", "--service", service["id"])
        assert [row["ID"] for row in listed] == [rid]
        assert (
            run_cli(
                "registered", "limit", "list", "--resource-name", "cores", "--region", region["id"]
            )[0]["ID"]
            == rid
        )
        shown = run_cli("registered", "limit", "show", rid)
        assert shown["default_limit"] == 10
        changed = run_cli(
            "registered", "limit", "set", "--default-limit", "20", rid, json_output=True
        )
        assert changed["default_limit"] == 20
    finally:
        run_cli("registered", "limit", "delete", rid)
    assert run_cli("registered", "limit", "list", "--service", service["id"]) == []


def test_registered_limits_sdk(admin_conn, service):
    made = admin_conn.identity.create_registered_limit(
        service_id=service["id"], resource_name="ram_mb", default_limit=2048
    )
    try:
        assert made.default_limit == 2048
        assert made.region_id is None
        assert made.links["self"].endswith(f"/identity/v3/registered_limits/{made.id}")
        found = list(admin_conn.identity.registered_limits(service_id=service["id"]))
        assert [r.id for r in found] == [made.id]
        assert admin_conn.identity.get_registered_limit(made.id).resource_name == "ram_mb"
        updated = admin_conn.identity.update_registered_limit(made.id, description="RAM")
        assert updated.description == "RAM"
    finally:
        admin_conn.identity.delete_registered_limit(made.id)
    with pytest.raises(sdk_exc.NotFoundException):
        admin_conn.identity.get_registered_limit(made.id)


def test_registered_limits_batch_and_errors(http, service, region):
    body = http.expect(
        _registered(
            http,
            {"service_id": service["id"], "resource_name": "a", "default_limit": 1},
            {
                "service_id": service["id"],
                "region_id": region["id"],
                "resource_name": "a",
                "default_limit": 2,
            },
        ),
        201,
    )
    made = body["registered_limits"]
    assert [r["default_limit"] for r in made] == [1, 2]
    by_region = http.get(f"registered_limits?service_id={service['id']}&region_id={region['id']}")
    assert [r["id"] for r in http.expect(by_region, 200)["registered_limits"]] == [made[1]["id"]]

    # the same service, region and resource again: 409, and nothing of the batch is kept
    dup = _registered(
        http,
        {"service_id": service["id"], "resource_name": "b", "default_limit": 1},
        {"service_id": service["id"], "resource_name": "a", "default_limit": 5},
    )
    _assert_error(dup, 409)
    listed = http.expect(http.get(f"registered_limits?service_id={service['id']}"), 200)
    assert sorted(r["resource_name"] for r in listed["registered_limits"]) == ["a", "a"]

    # unknown service or region: 400; bad values: 400
    r = _registered(http, {"service_id": "nope", "resource_name": "c", "default_limit": 1})
    assert "service_id" in _assert_error(r, 400)["message"]
    r = _registered(
        http,
        {
            "service_id": service["id"],
            "region_id": "nope",
            "resource_name": "c",
            "default_limit": 1,
        },
    )
    assert "region_id" in _assert_error(r, 400)["message"]
    r = _registered(http, {"service_id": service["id"], "resource_name": "c", "default_limit": -2})
    _assert_error(r, 400)
    r = _registered(http, {"service_id": service["id"], "resource_name": "c"})
    assert "default_limit" in _assert_error(r, 400)["message"]
    _assert_error(http.post("registered_limits", json={"registered_limits": []}), 400)

    # an update into an existing one is a conflict too
    r = http.patch(
        f"registered_limits/{made[1]['id']}", json={"registered_limit": {"region_id": None}}
    )
    _assert_error(r, 409)
    _assert_error(http.get("registered_limits/nope"), 404)

    # only admins write; everyone reads
    demo = http.demo_token
    r = _registered(
        http, {"service_id": service["id"], "resource_name": "d", "default_limit": 1}, token=demo
    )
    _assert_error(r, 403)
    _assert_error(http.delete(f"registered_limits/{made[0]['id']}", token=demo), 403)
    http.expect(http.get(f"registered_limits/{made[0]['id']}", token=demo), 200)
    for row in made:
        http.expect(http.delete(f"registered_limits/{row['id']}"), 204)


# -- project limits ------------------------------------------------------------------------


def test_limits_cli(run_cli, http, service, unique):
    project = http.make_project(unique("limproj"))
    reg = http.expect(
        _registered(
            http, {"service_id": service["id"], "resource_name": "cores", "default_limit": 10}
        ),
        201,
    )["registered_limits"][0]
    made = run_cli(
        "limit",
        "create",
        "--project",
        project["id"],
        "--service",
        service["id"],
        "--resource-limit",
        "5",
        "--description",
        "small",
        "cores",
    )
    lid = made["id"]
    try:
        assert made["project_id"] == project["id"]
        assert made["resource_limit"] == 5
        assert made["service_id"] == service["id"]
        assert made["description"] == "small"
        listed = run_cli("limit", "list", "--project", project["id"])
        assert [row["ID"] for row in listed] == [lid]
        assert run_cli("limit", "list", "--service", service["id"])[0]["ID"] == lid
        assert run_cli("limit", "show", lid)["resource_limit"] == 5
        changed = run_cli("limit", "set", "--resource-limit", "7", lid, json_output=True)
        assert changed["resource_limit"] == 7
        # a registered limit in use cannot go away
        with pytest.raises(run_cli.Error):
            run_cli("registered", "limit", "delete", reg["id"])
    finally:
        run_cli("limit", "delete", lid)
    http.expect(http.delete(f"registered_limits/{reg['id']}"), 204)


def test_limits_sdk(admin_conn, http, service, unique):
    project = http.make_project(unique("limproj"))
    reg = admin_conn.identity.create_registered_limit(
        service_id=service["id"], resource_name="volumes", default_limit=10
    )
    made = admin_conn.identity.create_limit(
        project_id=project["id"],
        service_id=service["id"],
        resource_name="volumes",
        resource_limit=3,
    )
    try:
        assert made.resource_limit == 3
        assert made.links["self"].endswith(f"/identity/v3/limits/{made.id}")
        found = list(admin_conn.identity.limits(project_id=project["id"]))
        assert [x.id for x in found] == [made.id]
        updated = admin_conn.identity.update_limit(made.id, resource_limit=4)
        assert updated.resource_limit == 4
        assert admin_conn.identity.get_limit(made.id).resource_limit == 4
    finally:
        admin_conn.identity.delete_limit(made.id)
        admin_conn.identity.delete_registered_limit(reg.id)


def test_limit_rules_and_errors(http, service, region, unique):
    project = http.make_project(unique("limproj"))
    domain = http.make_domain(unique("limdom"))
    item = {"service_id": service["id"], "resource_name": "snapshots", "resource_limit": 4}

    # no registered limit for it yet: refused, as Keystone does
    error = _assert_error(_limits(http, {**item, "project_id": project["id"]}), 403)
    assert "registered limit" in error["message"]
    reg = http.expect(
        _registered(
            http, {"service_id": service["id"], "resource_name": "snapshots", "default_limit": 9}
        ),
        201,
    )["registered_limits"][0]

    made = http.expect(
        _limits(http, {**item, "project_id": project["id"]}, {**item, "domain_id": domain["id"]}),
        201,
    )["limits"]
    assert made[0]["project_id"] == project["id"] and made[0]["domain_id"] is None
    assert made[1]["domain_id"] == domain["id"] and made[1]["project_id"] is None

    _assert_error(_limits(http, {**item, "project_id": project["id"]}), 409)
    _assert_error(_limits(http, item), 400)  # neither project nor domain
    both = {**item, "project_id": project["id"], "domain_id": domain["id"]}
    _assert_error(_limits(http, both), 400)
    _assert_error(_limits(http, {**item, "project_id": "no-such-project"}), 400)
    _assert_error(_limits(http, {**item, "domain_id": project["id"]}), 400)  # not a domain
    _assert_error(_limits(http, {**item, "project_id": project["id"], "region_id": "nope"}), 400)
    _assert_error(_limits(http, {**item, "project_id": project["id"], "bogus": 1}), 400)

    # only resource_limit and description can change
    path = f"limits/{made[0]['id']}"
    r = http.patch(path, json={"limit": {"service_id": service["id"]}})
    assert "service_id" in _assert_error(r, 400)["message"]
    r = http.patch(path, json={"limit": {"resource_limit": "many"}})
    _assert_error(r, 400)
    body = http.expect(http.patch(path, json={"limit": {"description": "d"}}), 200)["limit"]
    assert body["description"] == "d" and body["resource_limit"] == 4

    # filters
    listed = http.expect(http.get(f"limits?domain_id={domain['id']}"), 200)["limits"]
    assert [x["id"] for x in listed] == [made[1]["id"]]
    listed = http.expect(http.get(f"limits?service_id={service['id']}"), 200)["limits"]
    assert {x["id"] for x in listed} == {made[0]["id"], made[1]["id"]}
    r = http.get(f"limits?service_id={service['id']}&resource_name=other")
    assert http.expect(r, 200)["limits"] == []

    # the registered limit cannot change its key or go away while limits use it
    r = http.patch(
        f"registered_limits/{reg['id']}", json={"registered_limit": {"region_id": region["id"]}}
    )
    _assert_error(r, 403)
    _assert_error(http.delete(f"registered_limits/{reg['id']}"), 403)
    r = http.patch(
        f"registered_limits/{reg['id']}", json={"registered_limit": {"default_limit": 1}}
    )
    assert http.expect(r, 200)["registered_limit"]["default_limit"] == 1

    for row in made:
        http.expect(http.delete(f"limits/{row['id']}"), 204)
    _assert_error(http.get(f"limits/{made[0]['id']}"), 404)
    http.expect(http.delete(f"registered_limits/{reg['id']}"), 204)


def test_project_users_see_only_their_limits(http, service, unique):
    other = http.make_project(unique("limproj"))
    demo_project = _demo_project(http)
    reg = http.expect(
        _registered(
            http, {"service_id": service["id"], "resource_name": "ports", "default_limit": 50}
        ),
        201,
    )["registered_limits"][0]
    item = {"service_id": service["id"], "resource_name": "ports", "resource_limit": 5}
    made = http.expect(
        _limits(http, {**item, "project_id": demo_project}, {**item, "project_id": other["id"]}),
        201,
    )["limits"]
    demo = http.demo_token
    try:
        listed = http.expect(http.get(f"limits?service_id={service['id']}", token=demo), 200)
        assert [x["id"] for x in listed["limits"]] == [made[0]["id"]]
        # asking for another project's limits finds nothing
        r = http.get(f"limits?project_id={other['id']}", token=demo)
        assert http.expect(r, 200)["limits"] == []
        http.expect(http.get(f"limits/{made[0]['id']}", token=demo), 200)
        _assert_error(http.get(f"limits/{made[1]['id']}", token=demo), 403)
        # and may not write any
        _assert_error(_limits(http, {**item, "project_id": demo_project}, token=demo), 403)
        r = http.patch(
            f"limits/{made[0]['id']}", token=demo, json={"limit": {"resource_limit": 99}}
        )
        _assert_error(r, 403)
        _assert_error(http.delete(f"limits/{made[0]['id']}", token=demo), 403)
    finally:
        for row in made:
            http.expect(http.delete(f"limits/{row['id']}"), 204)
        http.expect(http.delete(f"registered_limits/{reg['id']}"), 204)
