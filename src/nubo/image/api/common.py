"""What every image handler shares: the router, the service object and the caller."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Router
from nubo.image.access import Caller
from nubo.image.service import ImageService

router = Router()
route = router.route


def images(req: ApiRequest) -> ImageService:
    svc: ImageService = req.app.state["image"]
    return svc


def caller(req: ApiRequest) -> Caller:
    ctx = req.ctx
    return Caller(
        ctx.project_id, req.allowed("context_is_admin"), req.allowed, ctx.user_id, ctx.request_id
    )


def content_length(req: ApiRequest) -> int | None:
    value = req.headers.get("content-length")
    return int(value) if value and value.isdigit() else None
