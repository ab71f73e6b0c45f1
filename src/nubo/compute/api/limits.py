"""Limits: GET /limits (the project's absolute limits and usage; no rate limits)."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.compute import quotas
from nubo.compute.api.common import caller, compute, router
from nubo.compute.api.params import first, only_known


@router.route("GET", "/v2.1/limits")
def show_limits(req: ApiRequest) -> Reply:
    only_known(req, ("tenant_id",))
    # 2.36 drops the nova-network limits, 2.39 maxImageMeta, 2.57 the personality ones
    hidden: set[str] = set()
    if req.at_least("2.36"):
        hidden |= {"floating_ips", "security_groups", "security_group_rules"}
    if req.at_least("2.57"):
        hidden |= {"injected_files", "injected_file_content_bytes"}
    absolute = quotas.absolute_limits(
        compute(req),
        caller(req),
        first(req, "tenant_id"),
        hidden,
        image_meta=not req.at_least("2.39"),
    )
    return Reply(200, {"limits": {"rate": [], "absolute": absolute}})
