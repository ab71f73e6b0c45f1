"""Version discovery: ``GET /placement/``."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.placement.api.common import MAX_VERSION, VERSIONS, router


@router.route("GET", "", auth=False)
def show_versions(req: ApiRequest) -> Reply:
    version = {
        "id": "v1.0",
        "min_version": str(VERSIONS.minimum),
        "max_version": str(MAX_VERSION),
        "status": "CURRENT",
        "links": [{"rel": "self", "href": ""}],
    }
    return Reply(200, {"versions": [version]})
