"""Instance usage audit logs (admin): ``/os-instance_usage_audit_log`` and
``/os-instance_usage_audit_log/{before}`` (``%Y-%m-%d %H:%M:%S``, URL-quoted)."""

from __future__ import annotations

from urllib.parse import unquote

from nubo.api.routing import ApiRequest, Reply
from nubo.compute import audit_log
from nubo.compute.api.common import caller, compute, router

BASE = "/v2.1/os-instance_usage_audit_log"


@router.route("GET", BASE)
def list_audit_logs(req: ApiRequest) -> Reply:
    log = audit_log.audit_log(compute(req), caller(req), None, "os-instance-usage-audit-log:list")
    return Reply(200, {"instance_usage_audit_logs": log})


@router.route("GET", BASE + "/{before}")
def show_audit_log(req: ApiRequest) -> Reply:
    who = caller(req)
    who.check("os-instance-usage-audit-log:show")
    before = audit_log.parse_before(unquote(req.params["before"]))
    log = audit_log.audit_log(compute(req), who, before, "os-instance-usage-audit-log:show")
    return Reply(200, {"instance_usage_audit_log": log})
