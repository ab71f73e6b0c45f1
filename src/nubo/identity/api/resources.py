"""Domains, projects and project tags."""

from __future__ import annotations

from typing import Any

from nubo.api.pagination import next_link
from nubo.api.routing import ApiRequest, Reply, collection_links
from nubo.api.validation import parse_bool
from nubo.errors import BadRequest, NotFound
from nubo.identity import schemas, views
from nubo.identity.api.common import NO_CONTENT, default_domain, identity, listing, one, page, route
from nubo.identity.models import Project

# -- domains ------------------------------------------------------------------


def _domain_target(req: ApiRequest, domain_id: str) -> dict[str, Any]:
    return {"domain": {"id": domain_id}}


@route("POST", "/v3/domains", policy="identity:create_domain", body=schemas.DOMAIN_CREATE)
def create_domain(req: ApiRequest) -> Reply:
    data = dict(req.json()["domain"])
    explicit = data.pop("explicit_domain_id", None)
    row = identity(req).resources.create_domain(data, domain_id=explicit)
    return one("domain", views.domain(req.service_url, row, data.get("tags")), 201)


@route("GET", "/v3/domains", policy="identity:list_domains")
def list_domains(req: ApiRequest) -> Reply:
    pg = page(req, ("id", "name"), "name")
    rows = identity(req).resources.list_domains(req.query, pg)
    return listing(req, "domains", rows, views.domain, pg)


@route("GET", "/v3/domains/{domain_id}")
def get_domain(req: ApiRequest) -> Reply:
    req.enforce("identity:get_domain", _domain_target(req, req.params["domain_id"]))
    svc = identity(req)
    with svc.db.reader() as s:
        row = svc.resources.get_domain(s, req.params["domain_id"])
    return one("domain", views.domain(req.service_url, row))


@route(
    "PATCH", "/v3/domains/{domain_id}", policy="identity:update_domain", body=schemas.DOMAIN_UPDATE
)
def update_domain(req: ApiRequest) -> Reply:
    changes = req.json()["domain"]
    if "id" in changes and changes["id"] != req.params["domain_id"]:
        raise BadRequest("Cannot change the id of a domain.")
    row = identity(req).resources.update_domain(req.params["domain_id"], changes)
    return one("domain", views.domain(req.service_url, row))


@route("DELETE", "/v3/domains/{domain_id}", policy="identity:delete_domain")
def delete_domain(req: ApiRequest) -> Reply:
    identity(req).resources.delete_domain(req.params["domain_id"])
    return NO_CONTENT


# -- projects -----------------------------------------------------------------


def _project_view(req: ApiRequest, row: Project) -> dict[str, Any]:
    svc = identity(req)
    with svc.db.reader() as s:
        return views.project(req.service_url, row, svc.resources.tags(s, row.id))


@route("POST", "/v3/projects", policy="identity:create_project", body=schemas.PROJECT_CREATE)
def create_project(req: ApiRequest) -> Reply:
    data = req.json()["project"]
    row = identity(req).resources.create_project(data, default_domain(req))
    return one("project", _project_view(req, row), 201)


def _tag_query(req: ApiRequest) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key in ("tags", "tags-any", "not-tags", "not-tags-any"):
        if key in req.query:
            out[key] = [t for t in req.query[key].split(",") if t]
    return out


@route("GET", "/v3/projects")
def list_projects(req: ApiRequest) -> Reply:
    svc = identity(req)
    query = req.query
    target = {"domain_id": req.query.get("domain_id")}
    if not req.allowed("identity:list_projects", target):
        auth = req.ctx.auth
        # a domain-scoped reader sees its domain's projects, and only those
        wanted = req.query.get("domain_id") or (auth.domain_id if auth else None)
        if auth and auth.domain_id and req.allowed("domain_reader", {"domain_id": wanted}):
            query = {**req.query, "domain_id": auth.domain_id}
        else:
            req.enforce("identity:list_projects", target)
    pg = page(req, ("id", "name"), "name")
    rows = svc.resources.list_projects(query, pg, _tag_query(req))
    with svc.db.reader() as s:
        items = [views.project(req.service_url, r, svc.resources.tags(s, r.id)) for r in rows]
    return Reply(
        200,
        {
            "projects": items,
            "links": collection_links(req, next_link(req.url, req.query_items, pg, items)),
        },
    )


def _flag(req: ApiRequest, name: str) -> bool:
    return name in req.query and parse_bool(req.query[name], name)


@route("GET", "/v3/projects/{project_id}")
def get_project(req: ApiRequest) -> Reply:
    svc = identity(req)
    with svc.db.reader() as s:
        row = svc.resources.get_project(s, req.params["project_id"])
        req.enforce("identity:get_project", {"project": {"id": row.id, "domain_id": row.domain_id}})
        body = views.project(req.service_url, row, svc.resources.tags(s, row.id))
        wants = {
            f: _flag(req, f)
            for f in ("parents_as_list", "subtree_as_list", "parents_as_ids", "subtree_as_ids")
        }
        if not any(wants.values()):
            return one("project", body)
        # the hierarchy shows only projects the caller could list, as in Keystone
        visible: set[str] | None = None
        if not req.allowed("identity:list_projects", {"domain_id": row.domain_id}):
            assert req.ctx.auth is not None
            mine = svc.assignments.projects_for_user(s, req.ctx.auth.user_id)
            visible = {p.id for p in mine}
        parents = [p for p in svc.resources.parents(s, row) if visible is None or p.id in visible]
        subtree = [p for p in svc.resources.subtree(s, row) if visible is None or p.id in visible]
        if wants["parents_as_list"]:
            body["parents"] = [{"project": views.project(req.service_url, p)} for p in parents]
        if wants["subtree_as_list"]:
            body["subtree"] = [{"project": views.project(req.service_url, p)} for p in subtree]
        if wants["parents_as_ids"]:
            nested: dict[str, Any] | None = None
            for p in reversed(parents):
                nested = {p.id: nested}
            body["parents"] = nested
        if wants["subtree_as_ids"]:
            body["subtree"] = _subtree_ids(subtree, row.id)
    return one("project", body)


def _subtree_ids(rows: list[Project], root: str) -> dict[str, Any] | None:
    children: dict[str, list[str]] = {}
    for r in rows:
        children.setdefault(r.parent_id or "", []).append(r.id)

    def build(node: str) -> dict[str, Any] | None:
        kids = children.get(node)
        return {k: build(k) for k in kids} if kids else None

    return build(root)


@route(
    "PATCH",
    "/v3/projects/{project_id}",
    policy="identity:update_project",
    body=schemas.PROJECT_UPDATE,
)
def update_project(req: ApiRequest) -> Reply:
    changes = req.json()["project"]
    if "id" in changes and changes["id"] != req.params["project_id"]:
        raise BadRequest("Cannot change the id of a project.")
    row = identity(req).resources.update_project(req.params["project_id"], changes)
    return one("project", _project_view(req, row))


@route("DELETE", "/v3/projects/{project_id}", policy="identity:delete_project")
def delete_project(req: ApiRequest) -> Reply:
    identity(req).resources.delete_project(req.params["project_id"])
    return NO_CONTENT


@route("GET", "/v3/users/{user_id}/projects", policy="identity:list_user_projects")
def list_user_projects(req: ApiRequest) -> Reply:
    svc = identity(req)
    with svc.db.reader() as s:
        svc.users.get(s, req.params["user_id"])
        rows = svc.assignments.projects_for_user(s, req.params["user_id"])
        if "enabled" in req.query:
            wanted = parse_bool(req.query["enabled"], "enabled")
            rows = [r for r in rows if r.enabled == wanted]
        if "name" in req.query:
            rows = [r for r in rows if r.name == req.query["name"]]
        if "domain_id" in req.query:
            rows = [r for r in rows if r.domain_id == req.query["domain_id"]]
        items = [views.project(req.service_url, r, svc.resources.tags(s, r.id)) for r in rows]
    return Reply(200, {"projects": items, "links": collection_links(req)})


# -- tags ---------------------------------------------------------------------


def _project_target(req: ApiRequest) -> dict[str, Any]:
    """The project of the path, as policy rules on project reads expect it."""
    svc = identity(req)
    with svc.db.reader() as s:
        row = svc.resources.get_project(s, req.params["project_id"])
        return {"project": {"id": row.id, "domain_id": row.domain_id}}


@route("GET", "/v3/projects/{project_id}/tags")
def list_tags(req: ApiRequest) -> Reply:
    req.enforce("identity:list_project_tags", _project_target(req))
    svc = identity(req)
    with svc.db.reader() as s:
        return Reply(200, {"tags": svc.resources.tags(s, req.params["project_id"])})


@route(
    "PUT",
    "/v3/projects/{project_id}/tags",
    policy="identity:update_project_tags",
    body=schemas.PROJECT_TAGS,
)
def replace_tags(req: ApiRequest) -> Reply:
    tags = identity(req).resources.replace_tags(req.params["project_id"], req.json()["tags"])
    return Reply(200, {"tags": tags})


@route("DELETE", "/v3/projects/{project_id}/tags", policy="identity:delete_project_tags")
def clear_tags(req: ApiRequest) -> Reply:
    identity(req).resources.replace_tags(req.params["project_id"], [])
    return NO_CONTENT


@route("GET", "/v3/projects/{project_id}/tags/{tag}")
def check_tag(req: ApiRequest) -> Reply:
    req.enforce("identity:get_project_tag", _project_target(req))
    if not identity(req).resources.has_tag(req.params["project_id"], req.params["tag"]):
        raise NotFound(f"Could not find tag: {req.params['tag']}.")
    return NO_CONTENT


@route("PUT", "/v3/projects/{project_id}/tags/{tag}", policy="identity:create_project_tag")
def add_tag(req: ApiRequest) -> Reply:
    tag = req.params["tag"]
    if "," in tag or "/" in tag or len(tag) > 255:
        raise BadRequest("A tag may not contain ',' or '/' and is at most 255 characters.")
    identity(req).resources.add_tag(req.params["project_id"], tag)
    return Reply(201, headers={"location": req.url})


@route("DELETE", "/v3/projects/{project_id}/tags/{tag}", policy="identity:delete_project_tag")
def remove_tag(req: ApiRequest) -> Reply:
    identity(req).resources.remove_tag(req.params["project_id"], req.params["tag"])
    return NO_CONTENT
