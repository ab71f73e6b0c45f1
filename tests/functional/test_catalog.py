"""The service catalog: regions, services, endpoints, and the catalog tokens carry."""

from __future__ import annotations

import pytest


def test_identity_is_in_the_catalog(run_cli, cloud):
    rows = run_cli("catalog", "list")
    identity = next(s for s in rows if s["Type"] == "identity")
    assert identity["Name"] == "keystone"
    urls = {(e["interface"], e["region"], e["url"]) for e in identity["Endpoints"]}
    assert urls == {
        (interface, "RegionOne", f"{cloud.base_url}/identity")
        for interface in ("public", "internal", "admin")
    }
    shown = run_cli("catalog", "show", "identity")
    assert shown["name"] == "keystone"
    assert len(shown["endpoints"]) == 3


def test_demo_user_sees_the_catalog(run_cli):
    rows = run_cli("catalog", "list", cloud="nubo-demo")
    assert "identity" in {s["Type"] for s in rows}


def test_region_crud_with_the_cli(run_cli, http, unique):
    parent = unique("region")
    child = unique("region")
    created = run_cli("region", "create", "--description", "the parent", parent)
    assert created == {"region": parent, "description": "the parent", "parent_region": None}
    run_cli("region", "create", "--parent-region", parent, child)
    run_cli("region", "set", "--description", "changed", child)
    shown = run_cli("region", "show", child)
    assert shown == {"region": child, "description": "changed", "parent_region": parent}
    listed = {r["Region"]: r["Parent Region"] for r in run_cli("region", "list")}
    assert listed[child] == parent and listed["RegionOne"] is None

    # a region with children stays
    assert http.delete(f"regions/{parent}").status_code == 403
    run_cli("region", "delete", child)
    run_cli("region", "delete", parent)
    assert http.get(f"regions/{parent}").status_code == 404


def test_region_rules(http, unique):
    rid = unique("region")
    assert http.put(f"regions/{rid}", json={"region": {}}).status_code == 201
    assert http.post("regions", json={"region": {"id": rid}}).status_code == 409
    child = http.expect(http.post("regions", json={"region": {"parent_region_id": rid}}), 201)[
        "region"
    ]
    assert child["id"] and child["parent_region_id"] == rid
    r = http.patch(f"regions/{rid}", json={"region": {"parent_region_id": child["id"]}})
    assert r.status_code == 400
    assert "cycle" in r.json()["error"]["message"]
    missing = http.post("regions", json={"region": {"parent_region_id": unique("nope")}})
    assert missing.status_code == 404


def test_service_and_endpoint_crud_with_the_cli(run_cli, http, unique):
    name, stype = unique("svc"), unique("type")
    service = run_cli("service", "create", "--name", name, "--description", "a service", stype)
    assert (service["name"], service["type"], service["enabled"]) == (name, stype, True)
    assert service["description"] == "a service"
    assert run_cli("service", "show", name)["id"] == service["id"]

    endpoint = run_cli(
        "endpoint", "create", "--region", "RegionOne", name, "public", "http://svc.example.test/v1"
    )
    assert endpoint["service_id"] == service["id"]
    assert endpoint["interface"] == "public"
    assert endpoint["url"] == "http://svc.example.test/v1"
    assert endpoint["region"] == "RegionOne"

    run_cli("endpoint", "set", "--url", "http://svc.example.test/v2", endpoint["id"])
    shown = run_cli("endpoint", "show", endpoint["id"])
    assert shown["url"] == "http://svc.example.test/v2"
    listed = run_cli("endpoint", "list", "--service", service["id"])
    assert [(e["ID"], e["Interface"], e["URL"]) for e in listed] == [
        (endpoint["id"], "public", "http://svc.example.test/v2")
    ]

    # a new token's catalog carries the service and its endpoint
    rows = run_cli("catalog", "list")
    entry = next(s for s in rows if s["Type"] == stype)
    assert entry["Name"] == name
    assert [e["url"] for e in entry["Endpoints"]] == ["http://svc.example.test/v2"]

    run_cli("service", "set", "--disable", service["id"])
    assert stype not in {s["Type"] for s in run_cli("catalog", "list")}

    run_cli("endpoint", "delete", endpoint["id"])
    assert http.get(f"endpoints/{endpoint['id']}").status_code == 404
    run_cli("service", "delete", service["id"])
    assert http.get(f"services/{service['id']}").status_code == 404


def test_catalog_follows_changes_raw(http, unique):
    stype = unique("type")
    service = http.create("services", "service", {"type": stype, "name": stype})
    endpoints = [
        http.create(
            "endpoints",
            "endpoint",
            {
                "service_id": service["id"],
                "interface": interface,
                "url": f"http://{interface}.example.test",
                "region_id": "RegionOne",
            },
        )
        for interface in ("public", "internal")
    ]

    def catalog_entry():
        r = http.get("auth/catalog")
        return next((s for s in http.expect(r, 200)["catalog"] if s["type"] == stype), None)

    entry = catalog_entry()
    assert entry is not None
    assert {e["interface"] for e in entry["endpoints"]} == {"public", "internal"}

    http.expect(
        http.patch(f"endpoints/{endpoints[1]['id']}", json={"endpoint": {"enabled": False}}), 200
    )
    assert [e["interface"] for e in catalog_entry()["endpoints"]] == ["public"]

    # deleting a service deletes its endpoints
    http.expect(http.delete(f"services/{service['id']}"), 204)
    assert catalog_entry() is None
    assert http.get(f"endpoints/{endpoints[0]['id']}").status_code == 404


def test_endpoint_filters(http, unique):
    service = http.create("services", "service", {"type": unique("type")})
    for interface in ("public", "admin"):
        http.create(
            "endpoints",
            "endpoint",
            {"service_id": service["id"], "interface": interface, "url": "http://x.test"},
        )
    r = http.expect(http.get(f"endpoints?service_id={service['id']}&interface=admin"), 200)
    assert [e["interface"] for e in r["endpoints"]] == ["admin"]
    r = http.expect(http.get(f"services?type={service['type']}"), 200)
    assert [s["id"] for s in r["services"]] == [service["id"]]


@pytest.mark.parametrize(
    ("endpoint", "field"),
    [
        ({"interface": "sideways", "url": "http://x.test"}, "interface"),
        ({"interface": "public", "url": "not a url"}, "url"),
        ({"interface": "public"}, "url"),
        ({"interface": "public", "url": "http://x.test", "region_id": "nowhere"}, "nowhere"),
    ],
)
def test_bad_endpoints_are_refused(http, unique, endpoint, field):
    service = http.create("services", "service", {"type": unique("type")})
    r = http.post("endpoints", json={"endpoint": {"service_id": service["id"], **endpoint}})
    assert r.status_code == 400
    assert field in r.json()["error"]["message"]


def test_endpoint_for_unknown_service_is_404(http):
    body = {"endpoint": {"service_id": "0" * 32, "interface": "public", "url": "http://x.test"}}
    assert http.post("endpoints", json=body).status_code == 404


def test_members_cannot_change_the_catalog(http):
    token = http.demo_token
    assert http.get("regions", token=token).status_code == 200  # regions are public
    assert http.post("regions", token=token, json={"region": {}}).status_code == 403
    assert http.get("services", token=token).status_code == 403
    assert http.post("services", token=token, json={"service": {"type": "x"}}).status_code == 403
    assert http.get("endpoints", token=token).status_code == 403
