"""Roles, implied roles, grants (incl. OS-INHERIT and system) and role assignments."""

from __future__ import annotations

from typing import Any

from nubo.api.routing import ApiRequest, Reply, collection_links
from nubo.api.validation import parse_bool
from nubo.errors import BadRequest
from nubo.identity import schemas, views
from nubo.identity.api.common import NO_CONTENT, identity, listing, one, page, route
from nubo.identity.assignments import SYSTEM, Grant
from nubo.identity.models import GLOBAL, Group, Project, Role, User

# -- roles --------------------------------------------------------------------


@route("POST", "/v3/roles", policy="identity:create_role", body=schemas.ROLE_CREATE)
def create_role(req: ApiRequest) -> Reply:
    row = identity(req).assignments.create_role(req.json()["role"])
    return one("role", views.role(req.service_url, row), 201)


@route("GET", "/v3/roles", policy="identity:list_roles")
def list_roles(req: ApiRequest) -> Reply:
    pg = page(req, ("id", "name"), "name")
    return listing(
        req, "roles", identity(req).assignments.list_roles(req.query, pg), views.role, pg
    )


@route("GET", "/v3/roles/{role_id}", policy="identity:get_role")
def get_role(req: ApiRequest) -> Reply:
    svc = identity(req)
    with svc.db.reader() as s:
        row = svc.assignments.get_role(s, req.params["role_id"])
    return one("role", views.role(req.service_url, row))


@route("PATCH", "/v3/roles/{role_id}", policy="identity:update_role", body=schemas.ROLE_UPDATE)
def update_role(req: ApiRequest) -> Reply:
    changes = req.json()["role"]
    if "id" in changes and changes["id"] != req.params["role_id"]:
        raise BadRequest("Cannot change the id of a role.")
    row = identity(req).assignments.update_role(req.params["role_id"], changes)
    return one("role", views.role(req.service_url, row))


@route("DELETE", "/v3/roles/{role_id}", policy="identity:delete_role")
def delete_role(req: ApiRequest) -> Reply:
    identity(req).assignments.delete_role(req.params["role_id"])
    return NO_CONTENT


# -- implied roles ------------------------------------------------------------


def _inference(req: ApiRequest, prior: Role, implied: list[Role]) -> dict[str, Any]:
    base = req.service_url
    return {
        "prior_role": views.role_ref(base, prior),
        "implies": [views.role_ref(base, r) for r in implied],
    }


def _one_inference(req: ApiRequest, prior: Role, implied: Role) -> dict[str, Any]:
    base = req.service_url
    return {
        "role_inference": {
            "prior_role": views.role_ref(base, prior),
            "implies": views.role_ref(base, implied),
        },
        "links": {"self": f"{base}/v3/roles/{prior.id}/implies/{implied.id}"},
    }


@route(
    "PUT",
    "/v3/roles/{prior_role_id}/implies/{implied_role_id}",
    policy="identity:create_implied_role",
)
def create_implied(req: ApiRequest) -> Reply:
    prior, implied = identity(req).assignments.create_implied(
        req.params["prior_role_id"], req.params["implied_role_id"]
    )
    return Reply(201, _one_inference(req, prior, implied))


@route(
    "GET", "/v3/roles/{prior_role_id}/implies/{implied_role_id}", policy="identity:get_implied_role"
)
def get_implied(req: ApiRequest) -> Reply:
    prior, implied = identity(req).assignments.get_implied(
        req.params["prior_role_id"], req.params["implied_role_id"]
    )
    return Reply(200, _one_inference(req, prior, implied))


@route(
    "HEAD",
    "/v3/roles/{prior_role_id}/implies/{implied_role_id}",
    policy="identity:check_implied_role",
)
def check_implied(req: ApiRequest) -> Reply:
    identity(req).assignments.get_implied(
        req.params["prior_role_id"], req.params["implied_role_id"]
    )
    return NO_CONTENT


@route(
    "DELETE",
    "/v3/roles/{prior_role_id}/implies/{implied_role_id}",
    policy="identity:delete_implied_role",
)
def delete_implied(req: ApiRequest) -> Reply:
    identity(req).assignments.delete_implied(
        req.params["prior_role_id"], req.params["implied_role_id"]
    )
    return NO_CONTENT


@route("GET", "/v3/roles/{prior_role_id}/implies", policy="identity:list_implied_roles")
def list_implied(req: ApiRequest) -> Reply:
    svc = identity(req)
    with svc.db.reader() as s:
        prior = svc.assignments.get_role(s, req.params["prior_role_id"])
        implied = svc.assignments.implied_by(s, prior.id)
    return Reply(
        200, {"role_inference": _inference(req, prior, implied), "links": {"self": req.url}}
    )


@route("GET", "/v3/role_inferences", policy="identity:list_role_inference_rules")
def list_inferences(req: ApiRequest) -> Reply:
    svc = identity(req)
    with svc.db.reader() as s:
        rules = svc.assignments.all_inferences(s)
        items = []
        for prior_id, implied in sorted(rules.items()):
            prior = s.get(Role, prior_id)
            if prior is not None:
                items.append(_inference(req, prior, implied))
    return Reply(200, {"role_inferences": items, "links": {"self": req.url}})


# -- grants -------------------------------------------------------------------


def _register_grants(actor: str, target: str, inherited: bool = False) -> None:
    """PUT/GET/HEAD/DELETE one grant and GET the list, for one actor/target kind:
    /v3/{target}s/{id}/{actor}s/{id}/roles[/{role_id}], the OS-INHERIT variants
    (…/inherited_to_projects) and /v3/system/{actor}s/{id}/roles."""
    actor_param = f"{{{actor}_id}}"
    if target == SYSTEM:
        base = f"/v3/system/{actor}s/{actor_param}/roles"
        rules = (
            "create_system_grant_for_user",
            "check_system_grant_for_user",
            "revoke_system_grant_for_user",
            "list_system_grants_for_user",
        )
    else:
        prefix = "/v3/OS-INHERIT" if inherited else "/v3"
        base = f"{prefix}/{target}s/{{{target}_id}}/{actor}s/{actor_param}/roles"
        rules = ("create_grant", "check_grant", "revoke_grant", "list_grants")
    suffix = "/inherited_to_projects" if inherited else ""

    def where(req: ApiRequest) -> tuple[str, str, str, str]:
        target_id = SYSTEM if target == SYSTEM else req.params[f"{target}_id"]
        return actor, req.params[f"{actor}_id"], target, target_id

    def grant(req: ApiRequest) -> Reply:
        identity(req).assignments.grant(*where(req), req.params["role_id"], inherited)
        return NO_CONTENT

    def check(req: ApiRequest) -> Reply:
        identity(req).assignments.check_grant(*where(req), req.params["role_id"], inherited)
        return NO_CONTENT

    def revoke(req: ApiRequest) -> Reply:
        identity(req).assignments.revoke(*where(req), req.params["role_id"], inherited)
        return NO_CONTENT

    def list_grants(req: ApiRequest) -> Reply:
        rows = identity(req).assignments.list_grants(*where(req), inherited)
        roles = [views.role(req.service_url, r) for r in rows]
        return Reply(200, {"roles": roles, "links": collection_links(req)})

    one_grant = f"{base}/{{role_id}}{suffix}"
    route("PUT", one_grant, policy=f"identity:{rules[0]}")(grant)
    route("GET,HEAD", one_grant, policy=f"identity:{rules[1]}")(check)
    route("DELETE", one_grant, policy=f"identity:{rules[2]}")(revoke)
    route("GET", f"{base}{suffix}", policy=f"identity:{rules[3]}")(list_grants)


for _actor in ("user", "group"):
    _register_grants(_actor, SYSTEM)
    for _target in ("project", "domain"):
        _register_grants(_actor, _target)
        _register_grants(_actor, _target, inherited=True)


# -- role assignments ---------------------------------------------------------


def _assignment(req: ApiRequest, g: Grant, names: dict[str, Any] | None) -> dict[str, Any]:
    base = req.service_url
    out: dict[str, Any] = {"role": {"id": g.role_id}}
    if g.user_id:
        out["user"] = {"id": g.user_id}
    if g.group_id:
        out["group"] = {"id": g.group_id}
    if g.system:
        out["scope"] = {"system": {"all": True}}
    elif g.project_id:
        out["scope"] = {"project": {"id": g.project_id}}
    else:
        out["scope"] = {"domain": {"id": g.domain_id}}
    if g.inherited:
        out["scope"]["OS-INHERIT:inherited_to"] = "projects"
    target = (
        "system"
        if g.system
        else f"{'projects' if g.project_id else 'domains'}/{g.project_id or g.domain_id}"
    )
    actor = (
        f"users/{g.user_id}"
        if g.user_id and not g.via_group_id
        else f"groups/{g.via_group_id or g.group_id}"
    )
    assignment = f"{base}/v3/{target}/{actor}/roles/{g.prior_role_id or g.role_id}"
    if g.inherited_from:
        kind, origin = g.inherited_from
        assignment = (
            f"{base}/v3/OS-INHERIT/{kind}s/{origin}/{actor}/roles/"
            f"{g.prior_role_id or g.role_id}/inherited_to_projects"
        )
    elif g.inherited:
        assignment = (
            f"{base}/v3/OS-INHERIT/{target}/{actor}/roles/{g.role_id}/inherited_to_projects"
        )
    links: dict[str, str] = {"assignment": assignment}
    if g.via_group_id:
        links["membership"] = f"{base}/v3/groups/{g.via_group_id}/users/{g.user_id}"
    if g.prior_role_id:
        links["prior_role"] = f"{base}/v3/roles/{g.prior_role_id}"
    out["links"] = links
    if names is not None:
        _add_names(out, names)
    return out


def _add_names(out: dict[str, Any], names: dict[str, Any]) -> None:
    for key in ("role", "user", "group"):
        if key in out:
            info = names.get(out[key]["id"])
            if info:
                out[key].update(info)
    scope = out["scope"]
    for key in ("project", "domain"):
        if key in scope:
            info = names.get(scope[key]["id"])
            if info:
                scope[key].update(info)


def _names(req: ApiRequest, grants: list[Grant]) -> dict[str, Any]:
    svc = identity(req)
    out: dict[str, Any] = {}
    with svc.db.reader() as s:

        def domain_ref(domain_id: str) -> dict[str, str]:
            d = s.get(Project, domain_id)
            return {"id": domain_id, "name": d.name if d else ""}

        for g in grants:
            role = s.get(Role, g.role_id)
            if role is not None:
                info: dict[str, Any] = {"name": role.name}
                if role.domain_id != GLOBAL:
                    info["domain"] = domain_ref(role.domain_id)
                out[role.id] = info
            for actor_id, model in ((g.user_id, User), (g.group_id, Group)):
                if actor_id and actor_id not in out:
                    row = s.get(model, actor_id)
                    if row is not None:
                        out[actor_id] = {"name": row.name, "domain": domain_ref(row.domain_id)}
            for target_id in (g.project_id, g.domain_id):
                if target_id and target_id not in out:
                    p = s.get(Project, target_id)
                    if p is not None:
                        out[target_id] = (
                            {"name": p.name}
                            if p.is_domain
                            else {"name": p.name, "domain": domain_ref(p.domain_id)}
                        )
    return out


@route("GET", "/v3/role_assignments", policy="identity:list_role_assignments")
def list_role_assignments(req: ApiRequest) -> Reply:
    q = req.query
    if "scope.project.id" in q and "scope.domain.id" in q:
        raise BadRequest("Specify at most one of scope.project.id and scope.domain.id.")
    if "user.id" in q and "group.id" in q:
        raise BadRequest("Specify at most one of user.id and group.id.")
    if "include_subtree" in q and "scope.project.id" not in q:
        raise BadRequest("include_subtree requires scope.project.id.")
    grants = identity(req).assignments.list_assignments(q)
    names = (
        _names(req, grants)
        if "include_names" in q and parse_bool(q["include_names"], "include_names")
        else None
    )
    items = [_assignment(req, g, names) for g in grants]
    return Reply(200, {"role_assignments": items, "links": collection_links(req)})
