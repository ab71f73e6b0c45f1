"""``/v3/auth/*``: issue, validate, check and revoke tokens; what a token may reach."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply, collection_links
from nubo.api.validation import parse_bool
from nubo.errors import Forbidden, NotFound, Unauthorized
from nubo.identity import schemas, views
from nubo.identity.api.common import NO_CONTENT, identity, route
from nubo.identity.auth import ValidatedToken


def _nocatalog(req: ApiRequest) -> bool:
    return "nocatalog" in req.query and parse_bool(req.query["nocatalog"], "nocatalog")


@route("POST", "/v3/auth/tokens", auth=False, body=schemas.AUTH)
def issue_token(req: ApiRequest) -> Reply:
    svc = identity(req)
    token, validated = svc.auth.authenticate(req.json())
    body = svc.auth.token_body(validated, catalog=not _nocatalog(req))
    return Reply(201, body, headers={"x-subject-token": token})


def _subject(req: ApiRequest) -> tuple[str, ValidatedToken]:
    subject = req.headers.get("x-subject-token")
    if not subject:
        raise NotFound("Could not find token: (no X-Subject-Token given).")
    allow_expired = "allow_expired" in req.query and parse_bool(
        req.query["allow_expired"], "allow_expired"
    )
    try:
        validated = identity(req).auth.validate_full(subject, allow_expired=allow_expired)
    except Unauthorized as exc:
        raise NotFound(f"Could not find token: {subject[:12]}... ({exc.message})") from exc
    return subject, validated


@route("GET", "/v3/auth/tokens")
def validate_token(req: ApiRequest) -> Reply:
    subject, validated = _subject(req)
    svc = identity(req)
    req.enforce("identity:validate_token", {"token": {"user_id": validated.payload.user_id}})
    body = svc.auth.token_body(validated, catalog=not _nocatalog(req))
    return Reply(200, body, headers={"x-subject-token": subject})


@route("HEAD", "/v3/auth/tokens")
def check_token(req: ApiRequest) -> Reply:
    subject, validated = _subject(req)
    req.enforce("identity:check_token", {"token": {"user_id": validated.payload.user_id}})
    return Reply(200, headers={"x-subject-token": subject})


@route("DELETE", "/v3/auth/tokens")
def revoke_token(req: ApiRequest) -> Reply:
    subject, validated = _subject(req)
    req.enforce("identity:revoke_token", {"token": {"user_id": validated.payload.user_id}})
    identity(req).auth.revoke(subject)
    return NO_CONTENT


@route("GET", "/v3/auth/catalog", policy="identity:get_auth_catalog")
def auth_catalog(req: ApiRequest) -> Reply:
    auth = req.ctx.auth
    if auth is None or auth.scope_type is None:
        raise Forbidden("The service catalog is only available to scoped tokens.")
    return Reply(
        200,
        {
            "catalog": identity(req).catalog.for_token(),
            "links": collection_links(req),
        },
    )


@route("GET", "/v3/auth/projects", policy="identity:get_auth_projects")
def auth_projects(req: ApiRequest) -> Reply:
    svc = identity(req)
    assert req.ctx.auth is not None
    with svc.db.reader() as s:
        rows = [p for p in svc.assignments.projects_for_user(s, req.ctx.auth.user_id) if p.enabled]
        items = [views.project(req.service_url, p, svc.resources.tags(s, p.id)) for p in rows]
    return Reply(200, {"projects": items, "links": collection_links(req)})


@route("GET", "/v3/auth/domains", policy="identity:get_auth_domains")
def auth_domains(req: ApiRequest) -> Reply:
    svc = identity(req)
    assert req.ctx.auth is not None
    with svc.db.reader() as s:
        rows = [d for d in svc.assignments.domains_for_user(s, req.ctx.auth.user_id) if d.enabled]
    return Reply(
        200,
        {
            "domains": [views.domain(req.service_url, d) for d in rows],
            "links": collection_links(req),
        },
    )


@route("GET", "/v3/auth/system", policy="identity:get_auth_system")
def auth_system(req: ApiRequest) -> Reply:
    svc = identity(req)
    assert req.ctx.auth is not None
    with svc.db.reader() as s:
        has = svc.assignments.has_system_roles(s, req.ctx.auth.user_id)
    return Reply(
        200,
        {
            "system": [{"all": True}] if has else [],
            "links": collection_links(req),
        },
    )
