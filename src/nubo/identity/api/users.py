"""Users, their passwords, groups and group membership."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.errors import BadRequest, NotFound
from nubo.identity import schemas, views
from nubo.identity.api.common import NO_CONTENT, default_domain, identity, listing, one, page, route

# -- users --------------------------------------------------------------------


@route("POST", "/v3/users", policy="identity:create_user", body=schemas.USER_CREATE)
def create_user(req: ApiRequest) -> Reply:
    row = identity(req).users.create(req.json()["user"], default_domain(req))
    return one("user", views.user(req.service_url, row), 201)


@route("GET", "/v3/users", policy="identity:list_users")
def list_users(req: ApiRequest) -> Reply:
    pg = page(req, ("id", "name"), "name")
    return listing(req, "users", identity(req).users.list_users(req.query, pg), views.user, pg)


@route("GET", "/v3/users/{user_id}")
def get_user(req: ApiRequest) -> Reply:
    req.enforce("identity:get_user", {"user": {"id": req.params["user_id"]}})
    svc = identity(req)
    with svc.db.reader() as s:
        row = svc.users.get(s, req.params["user_id"])
    return one("user", views.user(req.service_url, row))


@route("PATCH", "/v3/users/{user_id}", policy="identity:update_user", body=schemas.USER_UPDATE)
def update_user(req: ApiRequest) -> Reply:
    changes = req.json()["user"]
    if "id" in changes and changes["id"] != req.params["user_id"]:
        raise BadRequest("Cannot change the id of a user.")
    row = identity(req).users.update(req.params["user_id"], changes)
    return one("user", views.user(req.service_url, row))


@route("DELETE", "/v3/users/{user_id}", policy="identity:delete_user")
def delete_user(req: ApiRequest) -> Reply:
    identity(req).users.delete(req.params["user_id"])
    return NO_CONTENT


@route("POST", "/v3/users/{user_id}/password", auth=False, body=schemas.PASSWORD_CHANGE)
def change_password(req: ApiRequest) -> Reply:
    """A user changes their own password; the original password is the credential."""
    data = req.json()["user"]
    identity(req).users.change_password(
        req.params["user_id"], data["original_password"], data["password"]
    )
    return NO_CONTENT


@route("GET", "/v3/users/{user_id}/groups", policy="identity:list_groups_for_user")
def list_user_groups(req: ApiRequest) -> Reply:
    pg = page(req, ("id", "name"), "name")
    rows = identity(req).users.list_groups(req.query, pg, user_id=req.params["user_id"])
    return listing(req, "groups", rows, views.group, pg)


# -- groups -------------------------------------------------------------------


@route("POST", "/v3/groups", policy="identity:create_group", body=schemas.GROUP_CREATE)
def create_group(req: ApiRequest) -> Reply:
    row = identity(req).users.create_group(req.json()["group"], default_domain(req))
    return one("group", views.group(req.service_url, row), 201)


@route("GET", "/v3/groups", policy="identity:list_groups")
def list_groups(req: ApiRequest) -> Reply:
    pg = page(req, ("id", "name"), "name")
    return listing(req, "groups", identity(req).users.list_groups(req.query, pg), views.group, pg)


@route("GET", "/v3/groups/{group_id}", policy="identity:get_group")
def get_group(req: ApiRequest) -> Reply:
    svc = identity(req)
    with svc.db.reader() as s:
        row = svc.users.get_group(s, req.params["group_id"])
    return one("group", views.group(req.service_url, row))


@route("PATCH", "/v3/groups/{group_id}", policy="identity:update_group", body=schemas.GROUP_UPDATE)
def update_group(req: ApiRequest) -> Reply:
    changes = req.json()["group"]
    if "id" in changes and changes["id"] != req.params["group_id"]:
        raise BadRequest("Cannot change the id of a group.")
    row = identity(req).users.update_group(req.params["group_id"], changes)
    return one("group", views.group(req.service_url, row))


@route("DELETE", "/v3/groups/{group_id}", policy="identity:delete_group")
def delete_group(req: ApiRequest) -> Reply:
    identity(req).users.delete_group(req.params["group_id"])
    return NO_CONTENT


@route("GET", "/v3/groups/{group_id}/users", policy="identity:list_users_in_group")
def list_group_users(req: ApiRequest) -> Reply:
    pg = page(req, ("id", "name"), "name")
    rows = identity(req).users.list_users(req.query, pg, group_id=req.params["group_id"])
    return listing(req, "users", rows, views.user, pg)


@route("PUT", "/v3/groups/{group_id}/users/{user_id}", policy="identity:add_user_to_group")
def add_member(req: ApiRequest) -> Reply:
    identity(req).users.add_member(req.params["group_id"], req.params["user_id"])
    return NO_CONTENT


@route("GET,HEAD", "/v3/groups/{group_id}/users/{user_id}", policy="identity:check_user_in_group")
def check_member(req: ApiRequest) -> Reply:
    if not identity(req).users.is_member(req.params["group_id"], req.params["user_id"]):
        raise NotFound(f"User {req.params['user_id']} is not in group {req.params['group_id']}.")
    return NO_CONTENT


@route("DELETE", "/v3/groups/{group_id}/users/{user_id}", policy="identity:remove_user_from_group")
def remove_member(req: ApiRequest) -> Reply:
    identity(req).users.remove_member(req.params["group_id"], req.params["user_id"])
    return NO_CONTENT
