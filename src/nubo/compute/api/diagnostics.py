"""Server diagnostics (admin): ``GET /servers/{id}/diagnostics``; Nova's standard body
from 2.48, a flat legacy dict before."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.compute import diagnostics
from nubo.compute.api.common import caller, compute, router


@router.route("GET", "/v2.1/servers/{server_id}/diagnostics")
def show_diagnostics(req: ApiRequest) -> Reply:
    body = diagnostics.diagnostics(
        compute(req), caller(req), req.params["server_id"], standard=req.at_least("2.48")
    )
    return Reply(200, body)
