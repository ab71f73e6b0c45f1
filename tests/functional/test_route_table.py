"""Every identity route, driven from the route table itself.

* Isolation: the demo user (member of project demo) calls every route with the
  ids of resources owned by the admin or the admin project. No write may
  succeed, and only routes meant for every user may answer a read.
* Robustness: the admin sends every route a body of the wrong shape. Nothing
  may answer with a 500.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest

from nubo.identity.api import build_service

ROUTES = build_service().router.routes
PARAM = re.compile(r"\{(\w+)\}")

# Reads any authenticated user may make on these (they name no tenant's data,
# or only the caller's own): discovery, the caller's own token/catalog/scopes,
# regions and the limit model (Keystone lets every user read both).
PUBLIC_READS = {
    "",
    "/v3",
    "/v3/auth/tokens",
    "/v3/auth/catalog",
    "/v3/auth/projects",
    "/v3/auth/domains",
    "/v3/auth/system",
    "/v3/regions",
    "/v3/regions/{region_id}",
    "/v3/limits/model",
    "/v3/limits",
    "/v3/registered_limits",
    "/v3/registered_limits/{limit_id}",
    "/v3/domains/{domain_id}",  # a member may read its own domain (Default here)
    "/v3/credentials",  # these two list the caller's own only
    "/v3/OS-TRUST/trusts",
}
# Ids of the admin's things that must never show up in what the member reads.
PRIVATE = (
    "user_id",
    "project_id",
    "group_id",
    "credential_id",
    "access",
    "application_credential_id",
    "access_rule_id",
    "policy_id",
    "consumer_id",
    "endpoint_group_id",
    "trust_id",
)
# Writes that authenticate by themselves rather than by token.
SELF_AUTHENTICATING = {("POST", "/v3/auth/tokens"), ("POST", "/v3/users/{user_id}/password")}


@pytest.fixture(scope="module")
def admin_world(http: Any) -> dict[str, str]:
    """One admin-owned resource of every kind a path can name."""
    admin = http.expect(http.validate(http.admin_token), 200)["token"]
    user_id = admin["user"]["id"]
    project_id = admin["project"]["id"]
    role = http.expect(http.get("roles?name=admin"), 200)["roles"][0]
    reader = http.expect(http.get("roles?name=reader"), 200)["roles"][0]
    group = http.make_group()
    http.expect(http.put(f"projects/{project_id}/tags/secret-tag"), 201)
    service = http.expect(http.get("services?type=identity"), 200)["services"][0]
    endpoint = http.expect(http.get(f"endpoints?service_id={service['id']}"), 200)["endpoints"][0]
    blob = json.dumps({"access": uuid.uuid4().hex, "secret": "s"})
    credential = http.create(
        "credentials",
        "credential",
        {"type": "ec2", "blob": blob, "user_id": user_id, "project_id": project_id},
    )
    ec2 = http.expect(
        http.post(f"users/{user_id}/credentials/OS-EC2", json={"tenant_id": project_id}), 201
    )["credential"]
    app_cred = http.expect(
        http.post(
            f"users/{user_id}/application_credentials",
            json={
                "application_credential": {
                    "name": uuid.uuid4().hex,
                    "access_rules": [
                        {"service": "identity", "path": "/v3/projects", "method": "GET"}
                    ],
                }
            },
        ),
        201,
    )["application_credential"]
    access_rule = http.expect(http.get(f"users/{user_id}/access_rules"), 200)["access_rules"][0]
    policy = http.create("policies", "policy", {"type": "application/json", "blob": "{}"})
    consumer = http.expect(http.post("OS-OAUTH1/consumers", json={"consumer": {}}), 201)
    endpoint_group = http.create(
        "OS-EP-FILTER/endpoint_groups",
        "endpoint_group",
        {"name": uuid.uuid4().hex, "filters": {"interface": "public"}},
    )
    trust = http.expect(
        http.post(
            "OS-TRUST/trusts",
            json={
                "trust": {
                    "trustor_user_id": user_id,
                    "trustee_user_id": user_id,
                    "project_id": project_id,
                    "impersonation": False,
                    "roles": [{"name": "admin"}],
                }
            },
        ),
        201,
    )["trust"]
    registered = http.expect(
        http.post(
            "registered_limits",
            json={
                "registered_limits": [
                    {
                        "service_id": service["id"],
                        "resource_name": uuid.uuid4().hex[:12],
                        "default_limit": 5,
                    }
                ]
            },
        ),
        201,
    )["registered_limits"][0]
    config = http.put("domains/default/config", json={"config": {"identity": {"driver": "sql"}}})
    assert config.status_code in (200, 201), config.text
    return {
        "user_id": user_id,
        "project_id": project_id,
        "domain_id": "default",
        "group_id": group["id"],
        "role_id": role["id"],
        "prior_role_id": role["id"],
        "implied_role_id": reader["id"],
        "region_id": "RegionOne",
        "service_id": service["id"],
        "endpoint_id": endpoint["id"],
        "credential_id": credential["id"],
        "access": ec2["access"],
        "application_credential_id": app_cred["id"],
        "access_rule_id": access_rule["id"],
        "policy_id": policy["id"],
        "consumer_id": consumer["consumer"]["id"],
        "endpoint_group_id": endpoint_group["id"],
        "trust_id": trust["id"],
        "limit_id": registered["id"],
        "tag": "secret-tag",
        "group": "identity",
        "option": "driver",
    }


def fill(path: str, values: dict[str, str]) -> str:
    return "/identity" + PARAM.sub(lambda m: values[m.group(1)], path)


def route_id(route: Any) -> str:
    return f"{route.method} {route.path or '/'}"


@pytest.mark.parametrize("route", ROUTES, ids=route_id)
def test_member_cannot_reach_what_is_not_theirs(
    route: Any, http: Any, admin_world: dict[str, str]
) -> None:
    url = fill(route.path, admin_world)
    body = {"garbage": True} if route.method in ("POST", "PUT", "PATCH") else None
    headers = {"X-Subject-Token": http.admin_token} if route.path == "/v3/auth/tokens" else {}
    r = http.request(route.method, url, token=http.demo_token, json=body, headers=headers)
    assert r.status_code < 500, r.text
    if route.method in ("GET", "HEAD"):
        if route.path not in PUBLIC_READS:
            assert r.status_code in (401, 403, 404), f"{route_id(route)} -> {r.status_code}"
        elif route.path == "/v3/auth/tokens":
            # a member may not validate someone else's token
            assert r.status_code in (403, 404), r.text
        leaked = [k for k in PRIVATE if admin_world[k] in r.text]
        assert not leaked, f"{route_id(route)} shows the admin's {leaked}"
    elif (route.method, route.path) not in SELF_AUTHENTICATING:
        assert r.status_code in (400, 401, 403, 404, 405), f"{route_id(route)} -> {r.text}"
    else:
        assert r.status_code in (400, 401), r.text


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if r.method in ("POST", "PUT", "PATCH")], ids=route_id
)
@pytest.mark.parametrize("body", [[], "text", {"x": {"y": [None, 1e308, -1]}}, {"a": None}])
def test_wrong_shapes_are_never_a_500(
    route: Any, body: Any, http: Any, admin_world: dict[str, str]
) -> None:
    r = http.request(route.method, fill(route.path, admin_world), json=body)
    assert r.status_code < 500, f"{route_id(route)} with {body!r}: {r.text}"
