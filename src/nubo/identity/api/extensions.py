"""OS-OAUTH1 consumers, domain configuration and OS-EP-FILTER."""

from __future__ import annotations

from collections.abc import Sequence

from nubo.api.routing import ApiRequest, Reply, collection_links
from nubo.identity import schemas, views
from nubo.identity.api.common import NO_CONTENT, identity, listing, one, page, route
from nubo.identity.models import Project

EP_FILTER = "/v3/OS-EP-FILTER"
GROUP = EP_FILTER + "/endpoint_groups/{endpoint_group_id}"


def _projects(req: ApiRequest, rows: Sequence[Project]) -> Reply:
    svc = identity(req)
    with svc.db.reader() as s:
        items = [views.project(req.service_url, p, svc.resources.tags(s, p.id)) for p in rows]
    return Reply(200, {"projects": items, "links": collection_links(req)})


# -- OS-OAUTH1 consumers ------------------------------------------------------------


@route(
    "POST",
    "/v3/OS-OAUTH1/consumers",
    policy="identity:create_consumer",
    body=schemas.CONSUMER_CREATE,
)
def create_consumer(req: ApiRequest) -> Reply:
    row, secret = identity(req).extensions.create_consumer(req.json()["consumer"])
    return one("consumer", views.consumer(req.service_url, row, secret), 201)


@route("GET", "/v3/OS-OAUTH1/consumers", policy="identity:list_consumers")
def list_consumers(req: ApiRequest) -> Reply:
    pg = page(req, ("id",), "id")
    rows = identity(req).extensions.list_consumers(req.query, pg)
    return listing(req, "consumers", rows, views.consumer, pg)


@route("GET", "/v3/OS-OAUTH1/consumers/{consumer_id}", policy="identity:get_consumer")
def get_consumer(req: ApiRequest) -> Reply:
    row = identity(req).extensions.get_consumer(req.params["consumer_id"])
    return one("consumer", views.consumer(req.service_url, row))


@route(
    "PATCH",
    "/v3/OS-OAUTH1/consumers/{consumer_id}",
    policy="identity:update_consumer",
    body=schemas.CONSUMER_UPDATE,
)
def update_consumer(req: ApiRequest) -> Reply:
    row = identity(req).extensions.update_consumer(
        req.params["consumer_id"], req.json()["consumer"]
    )
    return one("consumer", views.consumer(req.service_url, row))


@route("DELETE", "/v3/OS-OAUTH1/consumers/{consumer_id}", policy="identity:delete_consumer")
def delete_consumer(req: ApiRequest) -> Reply:
    identity(req).extensions.delete_consumer(req.params["consumer_id"])
    return NO_CONTENT


# -- domain configuration: defaults ---------------------------------------------------


@route("GET", "/v3/domains/config/default", policy="identity:get_domain_config_default")
def get_default_config(req: ApiRequest) -> Reply:
    return one("config", identity(req).extensions.default_config())


@route("GET", "/v3/domains/config/{group}/default", policy="identity:get_domain_config_default")
def get_default_group_config(req: ApiRequest) -> Reply:
    return one("config", identity(req).extensions.default_config(req.params["group"]))


@route(
    "GET",
    "/v3/domains/config/{group}/{option}/default",
    policy="identity:get_domain_config_default",
)
def get_default_option_config(req: ApiRequest) -> Reply:
    config = identity(req).extensions.default_config(req.params["group"], req.params["option"])
    return one("config", config)


# -- domain configuration: per domain -------------------------------------------------


@route(
    "PUT",
    "/v3/domains/{domain_id}/config",
    policy="identity:create_domain_config",
    body=schemas.DOMAIN_CONFIG,
)
def create_domain_config(req: ApiRequest) -> Reply:
    config, created = identity(req).extensions.create_domain_config(
        req.params["domain_id"], req.json()["config"]
    )
    return one("config", config, 201 if created else 200)


@route("GET", "/v3/domains/{domain_id}/config", policy="identity:get_domain_config")
def get_domain_config(req: ApiRequest) -> Reply:
    return one("config", identity(req).extensions.get_domain_config(req.params["domain_id"]))


@route("GET", "/v3/domains/{domain_id}/config/{group}", policy="identity:get_domain_config")
def get_domain_group_config(req: ApiRequest) -> Reply:
    config = identity(req).extensions.get_domain_config(
        req.params["domain_id"], req.params["group"]
    )
    return one("config", config)


@route(
    "GET", "/v3/domains/{domain_id}/config/{group}/{option}", policy="identity:get_domain_config"
)
def get_domain_option_config(req: ApiRequest) -> Reply:
    config = identity(req).extensions.get_domain_config(
        req.params["domain_id"], req.params["group"], req.params["option"]
    )
    return one("config", config)


def _update_config(req: ApiRequest, group: str | None = None, option: str | None = None) -> Reply:
    config = identity(req).extensions.update_domain_config(
        req.params["domain_id"], req.json()["config"], group, option
    )
    return one("config", config)


@route(
    "PATCH",
    "/v3/domains/{domain_id}/config",
    policy="identity:update_domain_config",
    body=schemas.DOMAIN_CONFIG,
)
def update_domain_config(req: ApiRequest) -> Reply:
    return _update_config(req)


@route(
    "PATCH",
    "/v3/domains/{domain_id}/config/{group}",
    policy="identity:update_domain_config",
    body=schemas.DOMAIN_CONFIG,
)
def update_domain_group_config(req: ApiRequest) -> Reply:
    return _update_config(req, req.params["group"])


@route(
    "PATCH",
    "/v3/domains/{domain_id}/config/{group}/{option}",
    policy="identity:update_domain_config",
    body=schemas.DOMAIN_CONFIG,
)
def update_domain_option_config(req: ApiRequest) -> Reply:
    return _update_config(req, req.params["group"], req.params["option"])


@route("DELETE", "/v3/domains/{domain_id}/config", policy="identity:delete_domain_config")
def delete_domain_config(req: ApiRequest) -> Reply:
    identity(req).extensions.delete_domain_config(req.params["domain_id"])
    return NO_CONTENT


@route("DELETE", "/v3/domains/{domain_id}/config/{group}", policy="identity:delete_domain_config")
def delete_domain_group_config(req: ApiRequest) -> Reply:
    identity(req).extensions.delete_domain_config(req.params["domain_id"], req.params["group"])
    return NO_CONTENT


@route(
    "DELETE",
    "/v3/domains/{domain_id}/config/{group}/{option}",
    policy="identity:delete_domain_config",
)
def delete_domain_option_config(req: ApiRequest) -> Reply:
    identity(req).extensions.delete_domain_config(
        req.params["domain_id"], req.params["group"], req.params["option"]
    )
    return NO_CONTENT


# -- OS-EP-FILTER: endpoint groups ----------------------------------------------------


@route(
    "POST",
    EP_FILTER + "/endpoint_groups",
    policy="identity:create_endpoint_group",
    body=schemas.ENDPOINT_GROUP_CREATE,
)
def create_endpoint_group(req: ApiRequest) -> Reply:
    row = identity(req).extensions.create_endpoint_group(req.json()["endpoint_group"])
    return one("endpoint_group", views.endpoint_group(req.service_url, row), 201)


@route("GET", EP_FILTER + "/endpoint_groups", policy="identity:list_endpoint_groups")
def list_endpoint_groups(req: ApiRequest) -> Reply:
    pg = page(req, ("id", "name"), "id")
    rows = identity(req).extensions.list_endpoint_groups(req.query, pg)
    return listing(req, "endpoint_groups", rows, views.endpoint_group, pg)


@route("GET", GROUP, policy="identity:get_endpoint_group")
def get_endpoint_group(req: ApiRequest) -> Reply:
    row = identity(req).extensions.get_endpoint_group(req.params["endpoint_group_id"])
    return one("endpoint_group", views.endpoint_group(req.service_url, row))


@route(
    "PATCH",
    GROUP,
    policy="identity:update_endpoint_group",
    body=schemas.ENDPOINT_GROUP_UPDATE,
)
def update_endpoint_group(req: ApiRequest) -> Reply:
    row = identity(req).extensions.update_endpoint_group(
        req.params["endpoint_group_id"], req.json()["endpoint_group"]
    )
    return one("endpoint_group", views.endpoint_group(req.service_url, row))


@route("DELETE", GROUP, policy="identity:delete_endpoint_group")
def delete_endpoint_group(req: ApiRequest) -> Reply:
    identity(req).extensions.delete_endpoint_group(req.params["endpoint_group_id"])
    return NO_CONTENT


@route(
    "GET",
    GROUP + "/endpoints",
    policy="identity:list_endpoints_associated_with_endpoint_group",
)
def list_endpoints_in_group(req: ApiRequest) -> Reply:
    rows = identity(req).extensions.endpoints_in_group(req.params["endpoint_group_id"])
    return listing(req, "endpoints", rows, views.endpoint)


@route(
    "GET",
    GROUP + "/projects",
    policy="identity:list_projects_associated_with_endpoint_group",
)
def list_projects_for_group(req: ApiRequest) -> Reply:
    rows = identity(req).extensions.projects_for_group(req.params["endpoint_group_id"])
    return _projects(req, rows)


@route("PUT", GROUP + "/projects/{project_id}", policy="identity:add_endpoint_group_to_project")
def add_group_to_project(req: ApiRequest) -> Reply:
    identity(req).extensions.add_group_to_project(
        req.params["endpoint_group_id"], req.params["project_id"]
    )
    return NO_CONTENT


@route("GET", GROUP + "/projects/{project_id}", policy="identity:get_endpoint_group_in_project")
def get_group_in_project(req: ApiRequest) -> Reply:
    group_id, project_id = req.params["endpoint_group_id"], req.params["project_id"]
    identity(req).extensions.check_group_in_project(group_id, project_id)
    body = views.project_endpoint_group(req.service_url, group_id, project_id)
    return one("project_endpoint_group", body)


@route(
    "DELETE",
    GROUP + "/projects/{project_id}",
    policy="identity:remove_endpoint_group_from_project",
)
def remove_group_from_project(req: ApiRequest) -> Reply:
    identity(req).extensions.remove_group_from_project(
        req.params["endpoint_group_id"], req.params["project_id"]
    )
    return NO_CONTENT


@route(
    "GET",
    EP_FILTER + "/projects/{project_id}/endpoint_groups",
    policy="identity:list_endpoint_groups_for_project",
)
def list_groups_for_project(req: ApiRequest) -> Reply:
    rows = identity(req).extensions.groups_for_project(req.params["project_id"])
    return listing(req, "endpoint_groups", rows, views.endpoint_group)


# -- OS-EP-FILTER: project-endpoint associations ---------------------------------------

PROJECT_ENDPOINT = EP_FILTER + "/projects/{project_id}/endpoints/{endpoint_id}"


@route("PUT", PROJECT_ENDPOINT, policy="identity:add_endpoint_to_project")
def add_endpoint_to_project(req: ApiRequest) -> Reply:
    identity(req).extensions.add_endpoint_to_project(
        req.params["project_id"], req.params["endpoint_id"]
    )
    return NO_CONTENT


@route("GET", PROJECT_ENDPOINT, policy="identity:check_endpoint_in_project")
def check_endpoint_in_project(req: ApiRequest) -> Reply:
    identity(req).extensions.check_endpoint_in_project(
        req.params["project_id"], req.params["endpoint_id"]
    )
    return NO_CONTENT


@route("DELETE", PROJECT_ENDPOINT, policy="identity:remove_endpoint_from_project")
def remove_endpoint_from_project(req: ApiRequest) -> Reply:
    identity(req).extensions.remove_endpoint_from_project(
        req.params["project_id"], req.params["endpoint_id"]
    )
    return NO_CONTENT


@route(
    "GET",
    EP_FILTER + "/projects/{project_id}/endpoints",
    policy="identity:list_endpoints_for_project",
)
def list_endpoints_for_project(req: ApiRequest) -> Reply:
    rows = identity(req).extensions.endpoints_for_project(req.params["project_id"])
    return listing(req, "endpoints", rows, views.endpoint)


@route(
    "GET",
    EP_FILTER + "/endpoints/{endpoint_id}/projects",
    policy="identity:list_projects_for_endpoint",
)
def list_projects_for_endpoint(req: ApiRequest) -> Reply:
    rows = identity(req).extensions.projects_for_endpoint(req.params["endpoint_id"])
    return _projects(req, rows)
