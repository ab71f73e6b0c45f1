"""Version discovery: ``GET /compute/`` and ``GET /compute/v2.1``."""

from __future__ import annotations

from typing import Any

from nubo.api.routing import ApiRequest, Reply
from nubo.compute.api.common import MAX_VERSION, VERSIONS, router


def _version(req: ApiRequest) -> dict[str, Any]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": str(MAX_VERSION),
        "min_version": str(VERSIONS.minimum),
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": f"{req.service_url}/v2.1/"}],
    }


def _legacy(req: ApiRequest) -> dict[str, Any]:
    """v2.0 as Nova still lists it: the v2.1 API without microversions."""
    return {
        "id": "v2.0",
        "status": "SUPPORTED",
        "version": "",
        "min_version": "",
        "updated": "2011-01-21T11:33:21Z",
        "links": [{"rel": "self", "href": f"{req.service_url}/v2/"}],
    }


@router.route("GET", "", auth=False)
def list_versions(req: ApiRequest) -> Reply:
    return Reply(200, {"versions": [_legacy(req), _version(req)]})


@router.route("GET", "/v2", auth=False)
def show_legacy_version(req: ApiRequest) -> Reply:
    return Reply(200, {"version": _legacy(req)})


@router.route("GET", "/v2.1", auth=False)
def show_version(req: ApiRequest) -> Reply:
    body = _version(req)
    body["links"].append(
        {
            "rel": "describedby",
            "type": "text/html",
            "href": "https://docs.openstack.org/",
        }
    )
    body["media-types"] = [
        {"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}
    ]
    return Reply(200, {"version": body})
