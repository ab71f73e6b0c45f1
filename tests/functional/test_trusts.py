"""OS-TRUST: a trustor delegates roles on a project to a trustee, who then gets tokens."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def parties(http: Any, run_cli: Any, unique: Any) -> dict[str, Any]:
    """A trustor holding member and reader on a project, a trustee with no role there."""
    project = http.make_project()
    trustor = http.make_user(project_id=project["id"])
    http.grant("reader", user=trustor["id"], project=project["id"])
    trustee = http.make_user()
    cloud = run_cli.add_cloud(
        unique("trustor"),
        username=trustor["name"],
        password=trustor["password"],
        project=project["name"],
    )
    return {"project": project, "trustor": trustor, "trustee": trustee, "cloud": cloud}


def create_trust(http: Any, p: dict[str, Any], **fields: Any) -> dict[str, Any]:
    token = http.token(
        None,
        p["trustor"]["password"],
        user_id=p["trustor"]["id"],
        scope={"project": {"id": p["project"]["id"]}},
    )
    body = {
        "trustor_user_id": p["trustor"]["id"],
        "trustee_user_id": p["trustee"]["id"],
        "project_id": p["project"]["id"],
        "impersonation": False,
        "roles": [{"name": "reader"}],
        **fields,
    }
    r = http.post("OS-TRUST/trusts", token=token, json={"trust": body})
    return http.expect(r, 201)["trust"]


def trust_token(http: Any, p: dict[str, Any], trust_id: str) -> Any:
    return http.password_auth(
        None,
        p["trustee"]["password"],
        user_id=p["trustee"]["id"],
        scope={"OS-TRUST:trust": {"id": trust_id}},
    )


def test_cli_create_show_list_delete(http: Any, run_cli: Any, parties: dict[str, Any]) -> None:
    p = parties
    made = run_cli(
        "trust",
        "create",
        "--project",
        p["project"]["id"],
        "--role",
        http.role_id("reader"),  # a member may not list roles: the client needs the id
        p["trustor"]["id"],
        p["trustee"]["id"],
        cloud=p["cloud"],
    )
    shown = run_cli("trust", "show", made["id"], cloud=p["cloud"])
    assert shown["trustee_user_id"] == p["trustee"]["id"]
    assert "reader" in str(shown["roles"])
    assert made["id"] in {t["ID"] for t in run_cli("trust", "list")}
    run_cli("trust", "delete", made["id"], cloud=p["cloud"])
    with pytest.raises(run_cli.Error):
        run_cli("trust", "show", made["id"], cloud=p["cloud"])


def test_only_the_trustor_creates_and_only_delegable_roles(
    http: Any, parties: dict[str, Any]
) -> None:
    p = parties
    body = {
        "trustor_user_id": p["trustor"]["id"],
        "trustee_user_id": p["trustee"]["id"],
        "project_id": p["project"]["id"],
        "impersonation": False,
        "roles": [{"name": "reader"}],
    }
    # the admin may not create a trust in someone else's name
    http.expect(http.post("OS-TRUST/trusts", json={"trust": body}), 403)
    # the trustor cannot delegate a role it does not hold
    token = http.token(
        None,
        p["trustor"]["password"],
        user_id=p["trustor"]["id"],
        scope={"project": {"id": p["project"]["id"]}},
    )
    body["roles"] = [{"name": "admin"}]
    http.expect(http.post("OS-TRUST/trusts", token=token, json={"trust": body}), 403)
    body["roles"], body["expires_at"] = [{"name": "reader"}], "yesterday"
    http.expect(http.post("OS-TRUST/trusts", token=token, json={"trust": body}), 400)


def test_trustee_gets_a_token_with_only_the_delegated_roles(
    http: Any, parties: dict[str, Any]
) -> None:
    p = parties
    trust = create_trust(http, p)
    token = http.expect(trust_token(http, p, trust["id"]), 201)["token"]
    assert token["user"]["id"] == p["trustee"]["id"]  # no impersonation
    assert token["project"]["id"] == p["project"]["id"]
    assert [r["name"] for r in token["roles"]] == ["reader"]
    assert token["OS-TRUST:trust"] == {
        "id": trust["id"],
        "impersonation": False,
        "trustor_user": {"id": p["trustor"]["id"]},
        "trustee_user": {"id": p["trustee"]["id"]},
    }


def test_impersonation_speaks_for_the_trustor(http: Any, parties: dict[str, Any]) -> None:
    p = parties
    trust = create_trust(http, p, impersonation=True)
    r = trust_token(http, p, trust["id"])
    assert http.expect(r, 201)["token"]["user"]["id"] == p["trustor"]["id"]
    assert http.is_valid(r.headers["x-subject-token"])


def test_only_the_trustee_may_use_a_trust(http: Any, parties: dict[str, Any]) -> None:
    p = parties
    trust = create_trust(http, p)
    r = http.password_auth(
        None,
        p["trustor"]["password"],
        user_id=p["trustor"]["id"],
        scope={"OS-TRUST:trust": {"id": trust["id"]}},
    )
    http.expect(r, 403)
    http.expect(
        http.password_auth(
            None,
            p["trustee"]["password"],
            user_id=p["trustee"]["id"],
            scope={"OS-TRUST:trust": {"id": "no-such-trust"}},
        ),
        404,
    )


def test_remaining_uses_run_out(http: Any, parties: dict[str, Any]) -> None:
    p = parties
    trust = create_trust(http, p, remaining_uses=2)
    for _ in range(2):
        http.expect(trust_token(http, p, trust["id"]), 201)
    http.expect(trust_token(http, p, trust["id"]), 403)


def test_trust_tokens_die_with_the_trust_or_the_trustors_role(
    http: Any, parties: dict[str, Any]
) -> None:
    p = parties
    trust = create_trust(http, p)
    first = trust_token(http, p, trust["id"]).headers["x-subject-token"]
    assert http.is_valid(first)
    # member implies reader: the trustor loses the delegated role only without both
    for role in ("member", "reader"):
        http.revoke(role, user=p["trustor"]["id"], project=p["project"]["id"])
    assert not http.is_valid(first)
    http.grant("reader", user=p["trustor"]["id"], project=p["project"]["id"])
    second = trust_token(http, p, trust["id"]).headers["x-subject-token"]
    assert http.is_valid(second)
    http.expect(http.delete(f"OS-TRUST/trusts/{trust['id']}"), 204)
    assert not http.is_valid(second)


def test_trust_tokens_cannot_be_rescoped_or_delegate_further(
    http: Any, parties: dict[str, Any]
) -> None:
    p = parties
    trust = create_trust(http, p)
    token = trust_token(http, p, trust["id"]).headers["x-subject-token"]
    http.expect(http.rescope(token, {"project": {"id": p["project"]["id"]}}), 403)
    body = {
        "trustor_user_id": p["trustee"]["id"],
        "trustee_user_id": p["trustor"]["id"],
        "project_id": p["project"]["id"],
        "impersonation": False,
    }
    http.expect(http.post("OS-TRUST/trusts", token=token, json={"trust": body}), 403)
    app_cred = {"application_credential": {"name": "from-a-trust"}}
    r = http.post(f"users/{p['trustee']['id']}/application_credentials", token=token, json=app_cred)
    http.expect(r, 403)
