"""Keystone v3 extensions: OS-OAUTH1 consumers, domain configuration and
OS-EP-FILTER (endpoint groups, project-endpoint associations)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from nubo.db.engine import normalise_url

EP_FILTER = "OS-EP-FILTER"


def error(response: Any, status: int) -> str:
    """Assert a Keystone-shaped error with ``status``; return its message."""
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == status
    assert body["title"]
    return str(body["message"])


def count_rows(cloud: Any, table: str, column: str, value: str) -> int:
    """Rows of ``table`` whose ``column`` is ``value``, read from the cloud's database."""
    url = cloud.database_url or f"sqlite:///{Path(cloud.data_dir) / 'nubo.db'}"
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            query = text(f"SELECT COUNT(*) FROM {table} WHERE {column} = :v")
            return int(conn.execute(query, {"v": value}).scalar_one())
    finally:
        engine.dispose()


# -- OS-OAUTH1 consumers ----------------------------------------------------------------


def test_consumer_lifecycle_with_the_cli(run_cli, unique):
    description = unique("consumer")
    created = run_cli("consumer", "create", "--description", description)
    assert created["description"] == description
    assert re.fullmatch(r"[0-9a-f]{32}", created["secret"])
    consumer_id = created["id"]

    listed = run_cli("consumer", "list")
    assert {"ID": consumer_id, "Description": description} in listed

    shown = run_cli("consumer", "show", consumer_id)
    assert shown == {"id": consumer_id, "description": description}

    run_cli("consumer", "set", "--description", "changed", consumer_id)
    assert run_cli("consumer", "show", consumer_id)["description"] == "changed"

    run_cli("consumer", "delete", consumer_id)
    with pytest.raises(run_cli.Error):
        run_cli("consumer", "show", consumer_id)
    assert consumer_id not in [c["ID"] for c in run_cli("consumer", "list")]


def test_consumer_secret_is_returned_once_and_cannot_change(http, cloud):
    created = http.create("OS-OAUTH1/consumers", "consumer", {"description": "app"})
    cid = created["id"]
    assert created["links"]["self"] == f"{cloud.auth_url}/OS-OAUTH1/consumers/{cid}"
    assert created["secret"]

    shown = http.expect(http.get(f"OS-OAUTH1/consumers/{cid}"), 200)["consumer"]
    assert "secret" not in shown
    assert shown == {k: v for k, v in created.items() if k != "secret"}
    listed = http.expect(http.get("OS-OAUTH1/consumers"), 200)
    assert "secret" not in next(c for c in listed["consumers"] if c["id"] == cid)
    assert listed["links"]["self"].endswith("/v3/OS-OAUTH1/consumers")

    r = http.patch(f"OS-OAUTH1/consumers/{cid}", json={"consumer": {"secret": "mine"}})
    assert "secret" in error(r, 400)
    r = http.patch(f"OS-OAUTH1/consumers/{cid}", json={"consumer": {"id": "other"}})
    error(r, 400)
    r = http.patch(f"OS-OAUTH1/consumers/{cid}", json={"consumer": {"description": 5}})
    assert "description" in error(r, 400)

    # other attributes are kept, as Keystone does
    updated = http.expect(
        http.patch(
            f"OS-OAUTH1/consumers/{cid}", json={"consumer": {"description": None, "owner": "x"}}
        ),
        200,
    )["consumer"]
    assert updated["description"] is None
    assert updated["owner"] == "x"
    assert "secret" not in updated

    http.expect(http.delete(f"OS-OAUTH1/consumers/{cid}"), 204)
    assert cid in error(http.get(f"OS-OAUTH1/consumers/{cid}"), 404)
    error(http.delete(f"OS-OAUTH1/consumers/{cid}"), 404)


def test_consumer_without_description(http):
    created = http.create("OS-OAUTH1/consumers", "consumer", {})
    assert created["description"] is None
    http.expect(http.delete(f"OS-OAUTH1/consumers/{created['id']}"), 204)


def test_consumers_are_for_admins(http):
    r = http.post("OS-OAUTH1/consumers", token=http.demo_token, json={"consumer": {}})
    error(r, 403)
    error(http.get("OS-OAUTH1/consumers", token=http.demo_token), 403)
    error(http.get("OS-OAUTH1/consumers", token=None), 401)


# -- domain configuration -----------------------------------------------------------------

CUSTOM = {
    "identity": {"driver": "ldap"},
    "ldap": {"url": "ldap://ldap.example:389/", "user_tree_dn": "ou=Users,dc=example,dc=org"},
}


def config_path(domain_id: str, *parts: str) -> str:
    return "/".join([f"domains/{domain_id}/config", *parts])


@pytest.fixture
def domain(http):
    """A fresh domain, deleted afterwards."""
    dom = http.make_domain()
    yield dom
    http.patch(f"domains/{dom['id']}", json={"domain": {"enabled": False}})
    http.delete(f"domains/{dom['id']}")


def test_default_config(http):
    config = http.expect(http.get("domains/config/default"), 200)["config"]
    assert config["identity"]["driver"] == "sql"
    assert "list_limit" in config["identity"]
    assert config["ldap"]["url"] == "ldap://localhost"
    assert "password" not in config["ldap"]

    group = http.expect(http.get("domains/config/ldap/default"), 200)["config"]
    assert group == {"ldap": config["ldap"]}
    for option, value in config["ldap"].items():
        one = http.expect(http.get(f"domains/config/ldap/{option}/default"), 200)["config"]
        assert one == {option: value}

    assert "password" in error(http.get("domains/config/ldap/password/default"), 403)
    assert "assignment" in error(http.get("domains/config/assignment/default"), 403)
    assert "bogus" in error(http.get("domains/config/identity/bogus/default"), 403)
    error(http.get("domains/config/default", token=http.demo_token), 403)


def test_domain_config_create_show_replace(http, domain):
    did = domain["id"]
    error(http.get(config_path(did)), 404)

    r = http.put(config_path(did), json={"config": CUSTOM})
    assert http.expect(r, 201) == {"config": CUSTOM}
    assert http.expect(http.get(config_path(did)), 200) == {"config": CUSTOM}
    for group, options in CUSTOM.items():
        shown = http.expect(http.get(config_path(did, group)), 200)["config"]
        assert shown == {group: options}
        for option, value in options.items():
            shown = http.expect(http.get(config_path(did, group, option)), 200)["config"]
            assert shown == {option: value}

    # PUT again replaces the whole configuration: 200, and the old options are gone
    replacement = {"ldap": {"url": "ldap://other/", "page_size": 50}}
    r = http.put(config_path(did), json={"config": replacement})
    assert http.expect(r, 200) == {"config": replacement}
    error(http.get(config_path(did, "identity")), 404)
    error(http.get(config_path(did, "ldap", "user_tree_dn")), 404)


def test_sensitive_options_are_stored_but_never_shown(http, domain):
    did = domain["id"]
    config = {"ldap": {"url": "ldap://x/", "password": "s3cret"}}
    created = http.expect(http.put(config_path(did), json={"config": config}), 201)["config"]
    assert created == {"ldap": {"url": "ldap://x/"}}
    assert "s3cret" not in http.get(config_path(did)).text
    error(http.get(config_path(did, "ldap", "password")), 404)
    # but it exists: it can be updated and deleted
    r = http.patch(config_path(did, "ldap", "password"), json={"config": {"password": "new"}})
    assert http.expect(r, 200)["config"] == {"ldap": {"url": "ldap://x/"}}
    http.expect(http.delete(config_path(did, "ldap", "password")), 204)
    error(http.delete(config_path(did, "ldap", "password")), 404)


def test_domain_config_updates(http, domain):
    did = domain["id"]
    http.expect(http.put(config_path(did), json={"config": CUSTOM}), 201)

    # the whole config: merged, options may be added
    r = http.patch(config_path(did), json={"config": {"identity": {"list_limit": 20}}})
    updated = http.expect(r, 200)["config"]
    assert updated["identity"] == {"driver": "ldap", "list_limit": 20}
    assert updated["ldap"] == CUSTOM["ldap"]

    # a group: only that group, and it must exist; returns the whole config
    r = http.patch(config_path(did, "identity"), json={"config": {"identity": {"driver": "sql"}}})
    updated = http.expect(r, 200)["config"]
    assert updated["identity"] == {"driver": "sql", "list_limit": 20}
    assert "ldap" in updated
    r = http.patch(config_path(did, "identity"), json={"config": {"ldap": {"url": "ldap://y"}}})
    error(r, 403)
    r = http.patch(config_path(did, "identity"), json={"config": CUSTOM})
    error(r, 403)

    # an option: the body is {option: value}
    r = http.patch(config_path(did, "ldap", "url"), json={"config": {"url": "ldap://new/"}})
    assert http.expect(r, 200)["config"]["ldap"]["url"] == "ldap://new/"
    r = http.patch(config_path(did, "ldap", "url"), json={"config": {"user": "cn=x"}})
    error(r, 403)
    r = http.patch(
        config_path(did, "ldap", "url"), json={"config": {"url": "ldap://a", "user": "cn=x"}}
    )
    error(r, 403)
    # options not in the configuration cannot be updated one by one
    r = http.patch(config_path(did, "ldap", "suffix"), json={"config": {"suffix": "dc=x"}})
    assert "suffix" in error(r, 404)


def test_domain_config_deletes(http, domain):
    did = domain["id"]
    http.expect(http.put(config_path(did), json={"config": CUSTOM}), 201)
    http.expect(http.delete(config_path(did, "ldap", "url")), 204)
    error(http.get(config_path(did, "ldap", "url")), 404)
    assert http.expect(http.get(config_path(did, "ldap")), 200)["config"] == {
        "ldap": {"user_tree_dn": CUSTOM["ldap"]["user_tree_dn"]}
    }
    http.expect(http.delete(config_path(did, "ldap")), 204)
    error(http.get(config_path(did, "ldap")), 404)
    error(http.delete(config_path(did, "ldap")), 404)
    http.expect(http.delete(config_path(did)), 204)
    error(http.get(config_path(did)), 404)


@pytest.mark.parametrize(
    ("config", "status", "words"),
    [
        ({}, 403, "No options"),
        ({"assignment": {"driver": "sql"}}, 403, "assignment"),
        ({"identity": {"bogus": 1}}, 403, "bogus"),
        ({"identity": "ldap"}, 403, "dictionary"),
        ({"identity": {}}, 403, "dictionary"),
    ],
)
def test_invalid_domain_config(http, domain, config, status, words):
    r = http.put(config_path(domain["id"]), json={"config": config})
    assert words in error(r, status)


def test_domain_config_request_errors(http, domain):
    did = domain["id"]
    assert "config" in error(http.put(config_path(did), json={"conf": CUSTOM}), 400)
    assert "config" in error(http.put(config_path(did), json={"config": "x"}), 400)
    error(http.put(config_path("no-such-domain"), json={"config": CUSTOM}), 404)
    error(http.get(config_path("no-such-domain")), 404)
    # a project is not a domain
    project = http.make_project()
    try:
        error(http.put(config_path(project["id"]), json={"config": CUSTOM}), 404)
    finally:
        http.delete(f"projects/{project['id']}")
    error(http.post(config_path(did), json={"config": CUSTOM}), 405)
    error(http.put(config_path(did), token=http.demo_token, json={"config": CUSTOM}), 403)
    error(http.get(config_path(did), token=http.demo_token), 403)


def test_deleting_a_domain_deletes_its_config(http, cloud):
    dom = http.make_domain()
    http.expect(http.put(config_path(dom["id"]), json={"config": CUSTOM}), 201)
    assert count_rows(cloud, "identity_domain_config", "domain_id", dom["id"]) == 3
    http.expect(http.patch(f"domains/{dom['id']}", json={"domain": {"enabled": False}}), 200)
    http.expect(http.delete(f"domains/{dom['id']}"), 204)
    assert count_rows(cloud, "identity_domain_config", "domain_id", dom["id"]) == 0


# -- OS-EP-FILTER ---------------------------------------------------------------------------


@pytest.fixture
def catalog(http, unique):
    """A service with a public and an internal endpoint, and a project."""
    svc = http.create("services", "service", {"type": unique("type"), "name": unique("svc")})
    public = http.create(
        "endpoints",
        "endpoint",
        {"service_id": svc["id"], "interface": "public", "url": "http://public.example/"},
    )
    internal = http.create(
        "endpoints",
        "endpoint",
        {"service_id": svc["id"], "interface": "internal", "url": "http://internal.example/"},
    )
    project = http.make_project()
    yield {"service": svc, "public": public, "internal": internal, "project": project}
    http.delete(f"projects/{project['id']}")
    http.delete(f"services/{svc['id']}")


def make_group(http, filters: dict[str, str], name: str = "eg", **fields: Any) -> dict[str, Any]:
    return http.create(
        f"{EP_FILTER}/endpoint_groups",
        "endpoint_group",
        {"name": name, "filters": filters, **fields},
    )


def test_endpoint_groups_with_the_cli(run_cli, catalog, unique, tmp_path):
    svc, project = catalog["service"], catalog["project"]
    filters = tmp_path / "filters.json"
    filters.write_text(json.dumps({"service_id": svc["id"]}))
    name = unique("eg")
    created = run_cli("endpoint", "group", "create", "--description", "first", name, str(filters))
    assert created["name"] == name
    assert created["description"] == "first"
    assert created["filters"] == {"service_id": svc["id"]}
    gid = created["id"]
    try:
        assert run_cli("endpoint", "group", "show", gid) == created
        assert {"ID": gid, "Name": name, "Description": "first"} in run_cli(
            "endpoint", "group", "list"
        )

        run_cli("endpoint", "group", "add", "project", gid, project["id"])
        assert [
            g["ID"] for g in run_cli("endpoint", "group", "list", "--project", project["id"])
        ] == [gid]
        assert [p["ID"] for p in run_cli("endpoint", "group", "list", "--endpointgroup", gid)] == [
            project["id"]
        ]
        endpoints = run_cli("endpoint", "list", "--project", project["id"])
        assert sorted(e["ID"] for e in endpoints) == sorted(
            [catalog["public"]["id"], catalog["internal"]["id"]]
        )

        filters.write_text(json.dumps({"interface": "internal", "service_id": svc["id"]}))
        run_cli(
            "endpoint", "group", "set", "--name", name + "-2", "--description", "second",
            "--filters", str(filters), gid,
        )  # fmt: skip
        shown = run_cli("endpoint", "group", "show", gid)
        assert shown["name"] == name + "-2"
        assert shown["description"] == "second"
        assert shown["filters"] == {"interface": "internal", "service_id": svc["id"]}
        endpoints = run_cli("endpoint", "list", "--project", project["id"])
        assert [e["ID"] for e in endpoints] == [catalog["internal"]["id"]]

        run_cli("endpoint", "group", "remove", "project", gid, project["id"])
        assert run_cli("endpoint", "group", "list", "--project", project["id"]) == []
    finally:
        run_cli("endpoint", "group", "delete", gid)
    assert gid not in [g["ID"] for g in run_cli("endpoint", "group", "list")]
    with pytest.raises(run_cli.Error):
        run_cli("endpoint", "group", "show", gid)


def test_project_endpoints_with_the_cli(run_cli, catalog):
    project, public = catalog["project"], catalog["public"]
    run_cli("endpoint", "add", "project", public["id"], project["id"])
    assert [e["ID"] for e in run_cli("endpoint", "list", "--project", project["id"])] == [
        public["id"]
    ]
    assert [p["ID"] for p in run_cli("endpoint", "list", "--endpoint", public["id"])] == [
        project["id"]
    ]
    run_cli("endpoint", "remove", "project", public["id"], project["id"])
    assert run_cli("endpoint", "list", "--project", project["id"]) == []


def test_endpoint_group_crud(http, cloud, catalog, unique):
    sid = catalog["service"]["id"]
    name = unique("eg")
    group = make_group(http, {"service_id": sid}, name=name, description="d")
    gid = group["id"]
    url = f"{EP_FILTER}/endpoint_groups/{gid}"
    assert group == {
        "id": gid,
        "name": name,
        "description": "d",
        "filters": {"service_id": sid},
        "links": {"self": f"{cloud.auth_url}/{url}"},
    }
    assert http.expect(http.get(url), 200) == {"endpoint_group": group}
    r = http.head(url)
    assert r.status_code == 200
    assert r.content == b""

    listed = http.expect(http.get(f"{EP_FILTER}/endpoint_groups"), 200)
    assert group in listed["endpoint_groups"]
    named = http.expect(http.get(f"{EP_FILTER}/endpoint_groups?name={name}"), 200)
    assert named["endpoint_groups"] == [group]

    r = http.patch(url, json={"endpoint_group": {"filters": {"interface": "public"}}})
    updated = http.expect(r, 200)["endpoint_group"]
    assert updated["filters"] == {"interface": "public"}
    assert updated["name"] == name

    http.expect(http.delete(url), 204)
    error(http.get(url), 404)
    assert http.head(url).status_code == 404
    error(http.delete(url), 404)
    error(http.patch(url, json={"endpoint_group": {"name": "x"}}), 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "eg"}, "filters"),
        ({"filters": {"interface": "public"}}, "name"),
        ({"name": "eg", "filters": {}}, "filters"),
        ({"name": "eg", "filters": {"url": "http://x"}}, "url"),
        ({"name": "eg", "filters": {"interface": "sideways"}}, "interface"),
        ({"name": "eg", "filters": "interface=public"}, "filters"),
    ],
)
def test_endpoint_group_validation(http, body, field):
    r = http.post(f"{EP_FILTER}/endpoint_groups", json={"endpoint_group": body})
    assert field in error(r, 400)


def test_endpoints_in_an_endpoint_group(http, catalog):
    sid = catalog["service"]["id"]
    group = make_group(http, {"service_id": sid, "interface": "public"})
    url = f"{EP_FILTER}/endpoint_groups/{group['id']}/endpoints"
    try:
        endpoints = http.expect(http.get(url), 200)["endpoints"]
        assert [e["id"] for e in endpoints] == [catalog["public"]["id"]]
        assert endpoints[0]["url"] == "http://public.example/"
        # filters are evaluated when asked: a new matching endpoint shows up
        extra = http.create(
            "endpoints",
            "endpoint",
            {"service_id": sid, "interface": "public", "url": "http://other.example/"},
        )
        ids = {e["id"] for e in http.expect(http.get(url), 200)["endpoints"]}
        assert ids == {catalog["public"]["id"], extra["id"]}
    finally:
        http.delete(f"{EP_FILTER}/endpoint_groups/{group['id']}")


def test_endpoint_group_project_associations(http, catalog):
    project = catalog["project"]
    pid = project["id"]
    group = make_group(http, {"service_id": catalog["service"]["id"]})
    gid = group["id"]
    assoc = f"{EP_FILTER}/endpoint_groups/{gid}/projects/{pid}"
    try:
        error(http.get(assoc), 404)
        assert http.head(assoc).status_code == 404
        http.expect(http.put(assoc), 204)
        http.expect(http.put(assoc), 204)  # idempotent
        body = http.expect(http.get(assoc), 200)["project_endpoint_group"]
        assert body["endpoint_group_id"] == gid
        assert body["project_id"] == pid
        assert body["links"]["self"].endswith(f"/v3/{assoc}")
        assert http.head(assoc).status_code == 200

        projects = http.expect(http.get(f"{EP_FILTER}/endpoint_groups/{gid}/projects"), 200)
        assert [p["id"] for p in projects["projects"]] == [pid]
        assert projects["projects"][0]["name"] == project["name"]
        groups = http.expect(http.get(f"{EP_FILTER}/projects/{pid}/endpoint_groups"), 200)
        assert groups["endpoint_groups"] == [group]

        error(http.put(f"{EP_FILTER}/endpoint_groups/{gid}/projects/nope"), 404)
        error(http.put(f"{EP_FILTER}/endpoint_groups/nope/projects/{pid}"), 404)
        error(http.put(assoc, token=http.demo_token), 403)

        http.expect(http.delete(assoc), 204)
        error(http.delete(assoc), 404)
        assert http.head(assoc).status_code == 404
        groups = http.expect(http.get(f"{EP_FILTER}/projects/{pid}/endpoint_groups"), 200)
        assert groups["endpoint_groups"] == []
    finally:
        http.delete(f"{EP_FILTER}/endpoint_groups/{gid}")


def test_project_endpoint_associations(http, catalog):
    pid, public, internal = catalog["project"]["id"], catalog["public"], catalog["internal"]
    assoc = f"{EP_FILTER}/projects/{pid}/endpoints/{public['id']}"
    assert http.head(assoc).status_code == 404
    error(http.get(assoc), 404)
    http.expect(http.put(assoc), 204)
    assert http.head(assoc).status_code == 204
    assert http.get(assoc).status_code == 204

    listed = http.expect(http.get(f"{EP_FILTER}/projects/{pid}/endpoints"), 200)
    assert listed["endpoints"] == [
        http.expect(http.get(f"endpoints/{public['id']}"), 200)["endpoint"]
    ]
    projects = http.expect(http.get(f"{EP_FILTER}/endpoints/{public['id']}/projects"), 200)
    assert [p["id"] for p in projects["projects"]] == [pid]

    # endpoints reached through an endpoint group are listed too, once each
    group = make_group(http, {"service_id": catalog["service"]["id"]})
    try:
        http.expect(http.put(f"{EP_FILTER}/endpoint_groups/{group['id']}/projects/{pid}"), 204)
        listed = http.expect(http.get(f"{EP_FILTER}/projects/{pid}/endpoints"), 200)
        assert sorted(e["id"] for e in listed["endpoints"]) == sorted(
            [public["id"], internal["id"]]
        )
        # ... but the endpoint's projects are its direct associations only
        projects = http.expect(http.get(f"{EP_FILTER}/endpoints/{internal['id']}/projects"), 200)
        assert projects["projects"] == []
    finally:
        http.delete(f"{EP_FILTER}/endpoint_groups/{group['id']}")

    error(http.put(f"{EP_FILTER}/projects/{pid}/endpoints/nope"), 404)
    error(http.put(f"{EP_FILTER}/projects/nope/endpoints/{public['id']}"), 404)
    error(http.get(f"{EP_FILTER}/projects/nope/endpoints"), 404)
    error(http.get(f"{EP_FILTER}/endpoints/nope/projects"), 404)
    error(http.put(assoc, token=http.demo_token), 403)
    error(http.get(f"{EP_FILTER}/projects/{pid}/endpoints", token=http.demo_token), 403)

    http.expect(http.delete(assoc), 204)
    error(http.delete(assoc), 404)
    assert http.expect(http.get(f"{EP_FILTER}/projects/{pid}/endpoints"), 200)["endpoints"] == []


def test_deleting_endpoints_projects_and_services_removes_associations(http, cloud, unique):
    svc = http.create("services", "service", {"type": unique("type")})
    first, second = (
        http.create(
            "endpoints",
            "endpoint",
            {"service_id": svc["id"], "interface": "public", "url": f"http://{n}.example/"},
        )
        for n in ("first", "second")
    )
    keep, gone = http.make_project(), http.make_project()
    group = make_group(http, {"service_id": svc["id"]})
    gid = group["id"]
    for project in (keep, gone):
        for ep in (first, second):
            http.expect(http.put(f"{EP_FILTER}/projects/{project['id']}/endpoints/{ep['id']}"), 204)
        http.expect(http.put(f"{EP_FILTER}/endpoint_groups/{gid}/projects/{project['id']}"), 204)

    # an endpoint
    http.expect(http.delete(f"endpoints/{first['id']}"), 204)
    assert count_rows(cloud, "identity_project_endpoints", "endpoint_id", first["id"]) == 0
    listed = http.expect(http.get(f"{EP_FILTER}/projects/{keep['id']}/endpoints"), 200)
    assert [e["id"] for e in listed["endpoints"]] == [second["id"]]

    # a project
    http.expect(http.delete(f"projects/{gone['id']}"), 204)
    assert count_rows(cloud, "identity_project_endpoints", "project_id", gone["id"]) == 0
    assert count_rows(cloud, "identity_project_endpoint_groups", "project_id", gone["id"]) == 0
    projects = http.expect(http.get(f"{EP_FILTER}/endpoint_groups/{gid}/projects"), 200)
    assert [p["id"] for p in projects["projects"]] == [keep["id"]]

    # a service takes its endpoints and their associations with it
    http.expect(http.delete(f"services/{svc['id']}"), 204)
    assert count_rows(cloud, "identity_project_endpoints", "endpoint_id", second["id"]) == 0
    listed = http.expect(http.get(f"{EP_FILTER}/projects/{keep['id']}/endpoints"), 200)
    assert listed["endpoints"] == []

    # an endpoint group
    http.expect(http.delete(f"{EP_FILTER}/endpoint_groups/{gid}"), 204)
    assert count_rows(cloud, "identity_project_endpoint_groups", "endpoint_group_id", gid) == 0
    http.delete(f"projects/{keep['id']}")


def test_endpoint_groups_are_for_admins(http, catalog):
    body = {"endpoint_group": {"name": "eg", "filters": {"interface": "public"}}}
    error(http.post(f"{EP_FILTER}/endpoint_groups", token=http.demo_token, json=body), 403)
    error(http.get(f"{EP_FILTER}/endpoint_groups", token=http.demo_token), 403)
