"""Version discovery: ``/``, ``/identity`` and ``/identity/v3``."""

from __future__ import annotations

from typing import Any

from nubo.api.routing import ApiRequest, Reply
from nubo.identity.api.common import route

UPDATED = "2020-04-07T00:00:00Z"
VERSION_ID = "v3.14"


def _v3(req: ApiRequest) -> dict[str, Any]:
    return {
        "id": VERSION_ID,
        "status": "stable",
        "updated": UPDATED,
        "links": [{"rel": "self", "href": f"{req.base_url}/identity/v3/"}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
        ],
    }


def versions(req: ApiRequest) -> Reply:
    """The list of identity versions (Keystone answers 300 Multiple Choices)."""
    return Reply(300, {"versions": {"values": [_v3(req)]}})


@route("GET", "", auth=False)
def list_versions(req: ApiRequest) -> Reply:
    return versions(req)


@route("GET", "/v3", auth=False)
def show_v3(req: ApiRequest) -> Reply:
    return Reply(200, {"version": _v3(req)})
