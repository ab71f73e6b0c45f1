"""Network quotas: /v2.0/quotas (with the quota_details extension)."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.errors import BadRequest
from nubo.network import quotas
from nubo.network.api.common import caller, list_of, route, service


def _project_key(req: ApiRequest, key: str) -> Reply:
    project = caller(req).project_id
    if not project:
        raise BadRequest("Tenant-id was missing from quota request.", kind="QuotaMissingTenant")
    return Reply(200, {key: {f"{key}_id": project}})


@route("GET", "/v2.0/quotas")
def list_quotas(req: ApiRequest) -> Reply:
    return list_of(req, "quotas", quotas.list_quotas(service(req), caller(req)))


# before /v2.0/quotas/{project_id}: these names are not project ids
@route("GET", "/v2.0/quotas/tenant")
def show_quota_tenant(req: ApiRequest) -> Reply:
    return _project_key(req, "tenant")


@route("GET", "/v2.0/quotas/project")
def show_quota_project(req: ApiRequest) -> Reply:
    return _project_key(req, "project")


@route("GET", "/v2.0/quotas/{project_id}")
def show_quota(req: ApiRequest) -> Reply:
    limits = quotas.show_quota(service(req), caller(req), req.params["project_id"])
    return Reply(200, {"quota": limits})


@route("PUT", "/v2.0/quotas/{project_id}")
def update_quota(req: ApiRequest) -> Reply:
    limits = quotas.update_quota(service(req), caller(req), req.params["project_id"], req.json())
    return Reply(200, {"quota": limits})


@route("DELETE", "/v2.0/quotas/{project_id}")
def delete_quota(req: ApiRequest) -> Reply:
    quotas.reset_quota(service(req), caller(req), req.params["project_id"])
    return Reply(204)


@route("GET", "/v2.0/quotas/{project_id}/default")
def show_default_quota(req: ApiRequest) -> Reply:
    return Reply(200, {"quota": quotas.default_quota(caller(req), req.params["project_id"])})


@route("GET", "/v2.0/quotas/{project_id}/details")
def show_quota_details(req: ApiRequest) -> Reply:
    details = quotas.quota_details(service(req), caller(req), req.params["project_id"])
    return Reply(200, {"quota": details})
