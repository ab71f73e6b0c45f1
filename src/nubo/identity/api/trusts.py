"""OS-TRUST: create, show, list and delete trusts and read their roles."""

from __future__ import annotations

from typing import Any

from nubo.api.routing import ApiRequest, Reply, collection_links
from nubo.errors import Forbidden, NotFound
from nubo.identity import schemas, views
from nubo.identity.api.common import NO_CONTENT, identity, one, route
from nubo.identity.models import Role, Trust


def _view(req: ApiRequest, trust: Trust, roles: list[Role] | None) -> dict[str, Any]:
    out = views.trust(req.service_url, trust)
    if roles is not None:
        out["roles"] = [views.role(req.service_url, r) for r in roles]
        out["roles_links"] = {"self": None, "previous": None, "next": None}
    return out


def _target(trust: Trust) -> dict[str, Any]:
    return {
        "trust": {
            "id": trust.id,
            "trustor_user_id": trust.trustor_user_id,
            "trustee_user_id": trust.trustee_user_id,
        }
    }


@route("POST", "/v3/OS-TRUST/trusts", body=schemas.TRUST_CREATE)
def create_trust(req: ApiRequest) -> Reply:
    auth = req.ctx.auth
    assert auth is not None
    if auth.application_credential_id:
        raise Forbidden("Application credential tokens cannot create trusts.")
    if auth.trust_id:
        raise Forbidden(
            "Trusts cannot be redelegated here: trust-scoped tokens cannot create trusts."
        )
    data = req.json()["trust"]
    req.enforce("identity:create_trust", {"trust": data})
    trust, roles = identity(req).trusts.create(data, auth.user_id)
    return one("trust", _view(req, trust, roles), 201)


@route("GET", "/v3/OS-TRUST/trusts")
def list_trusts(req: ApiRequest) -> Reply:
    auth = req.ctx.auth
    assert auth is not None
    trustor = req.query.get("trustor_user_id")
    trustee = req.query.get("trustee_user_id")
    involving: str | None = None
    if not req.allowed("identity:list_trusts"):
        if (trustor and trustor != auth.user_id) or (trustee and trustee != auth.user_id):
            raise Forbidden("You may only list trusts you are part of.")
        if not trustor and not trustee:
            involving = auth.user_id
    rows = identity(req).trusts.list_trusts(trustor, trustee, involving)
    return Reply(
        200,
        {
            "trusts": [_view(req, t, None) for t in rows],
            "links": collection_links(req),
        },
    )


@route("GET", "/v3/OS-TRUST/trusts/{trust_id}")
def get_trust(req: ApiRequest) -> Reply:
    trust, roles = identity(req).trusts.get(req.params["trust_id"])
    req.enforce("identity:get_trust", _target(trust))
    return one("trust", _view(req, trust, roles))


@route("DELETE", "/v3/OS-TRUST/trusts/{trust_id}")
def delete_trust(req: ApiRequest) -> Reply:
    trust, _ = identity(req).trusts.get(req.params["trust_id"])
    req.enforce("identity:delete_trust", _target(trust))
    identity(req).trusts.delete(trust.id)
    return NO_CONTENT


@route("GET", "/v3/OS-TRUST/trusts/{trust_id}/roles")
def list_trust_roles(req: ApiRequest) -> Reply:
    trust, roles = identity(req).trusts.get(req.params["trust_id"])
    req.enforce("identity:list_roles_for_trust", _target(trust))
    return Reply(
        200,
        {
            "roles": [views.role(req.service_url, r) for r in roles],
            "links": collection_links(req),
        },
    )


@route("GET,HEAD", "/v3/OS-TRUST/trusts/{trust_id}/roles/{role_id}")
def get_trust_role(req: ApiRequest) -> Reply:
    trust, roles = identity(req).trusts.get(req.params["trust_id"])
    req.enforce("identity:get_role_for_trust", _target(trust))
    for role in roles:
        if role.id == req.params["role_id"]:
            return one("role", views.role(req.service_url, role))
    raise NotFound(f"Could not find role: {req.params['role_id']} in trust {trust.id}.")
