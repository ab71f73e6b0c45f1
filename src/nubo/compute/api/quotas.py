"""Quotas: /os-quota-sets/{project_id} (show, update, delete, /defaults, /detail; a
user's with ``?user_id=``) and /os-quota-class-sets/{class}."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.compute import quotas
from nubo.compute.api.common import caller, compute, router
from nubo.compute.api.params import first, only_known


def _hidden_sets(req: ApiRequest) -> frozenset[str]:
    """2.36 drops the nova-network quotas, 2.57 the injected-file ones."""
    if req.at_least("2.57"):
        return quotas.NETWORK | quotas.INJECTED
    if req.at_least("2.36"):
        return quotas.NETWORK
    return frozenset()


def _hidden_classes(req: ApiRequest) -> frozenset[str]:
    """Quota classes: server groups appear and nova-network quotas go at 2.50,
    injected files at 2.57."""
    if req.at_least("2.57"):
        return quotas.NETWORK | quotas.INJECTED
    if req.at_least("2.50"):
        return quotas.NETWORK
    return quotas.GROUPS


def _settable(hidden: frozenset[str]) -> list[str]:
    return [r for r in quotas.DEFAULTS if r not in hidden]


def _user(req: ApiRequest) -> str | None:
    only_known(req, ("user_id",))
    return first(req, "user_id") or None


@router.route("GET", "/v2.1/os-quota-sets/{project_id}")
def show_quota_set(req: ApiRequest) -> Reply:
    project_id = req.params["project_id"]
    values = quotas.show_quota_set(compute(req), caller(req), project_id, _user(req))
    return Reply(200, {"quota_set": quotas.view(values, _hidden_sets(req), project_id)})


@router.route("PUT", "/v2.1/os-quota-sets/{project_id}")
def update_quota_set(req: ApiRequest) -> Reply:
    hidden = _hidden_sets(req)
    values = quotas.update_quota_set(
        compute(req),
        caller(req),
        req.params["project_id"],
        _user(req),
        req.json(),
        _settable(hidden),
    )
    # Nova's update answer has no id
    return Reply(200, {"quota_set": quotas.view(values, hidden)})


@router.route("DELETE", "/v2.1/os-quota-sets/{project_id}")
def delete_quota_set(req: ApiRequest) -> Reply:
    quotas.delete_quota_set(compute(req), caller(req), req.params["project_id"], _user(req))
    return Reply(202)


@router.route("GET", "/v2.1/os-quota-sets/{project_id}/defaults")
def show_default_quota_set(req: ApiRequest) -> Reply:
    project_id = req.params["project_id"]
    values = quotas.default_quota_set(compute(req), caller(req), project_id)
    return Reply(200, {"quota_set": quotas.view(values, _hidden_sets(req), project_id)})


@router.route("GET", "/v2.1/os-quota-sets/{project_id}/detail")
def show_quota_set_detail(req: ApiRequest) -> Reply:
    project_id = req.params["project_id"]
    values = quotas.quota_set_detail(compute(req), caller(req), project_id, _user(req))
    return Reply(200, {"quota_set": quotas.view(values, _hidden_sets(req), project_id)})


@router.route("GET", "/v2.1/os-quota-class-sets/{class_name}")
def show_quota_class(req: ApiRequest) -> Reply:
    class_name = req.params["class_name"]
    values = quotas.show_quota_class(compute(req), caller(req), class_name)
    return Reply(200, {"quota_class_set": quotas.view(values, _hidden_classes(req), class_name)})


@router.route("PUT", "/v2.1/os-quota-class-sets/{class_name}")
def update_quota_class(req: ApiRequest) -> Reply:
    hidden = _hidden_classes(req)
    # before 2.50 the class body may still set the server group limits
    settable = _settable(hidden - quotas.GROUPS)
    values = quotas.update_quota_class(
        compute(req), caller(req), req.params["class_name"], req.json(), settable
    )
    return Reply(200, {"quota_class_set": quotas.view(values, hidden)})
