"""Version discovery and the extension list."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.errors import NotFound
from nubo.network.api.common import route
from nubo.network.extensions import EXTENSIONS, view

RESOURCES = (
    "networks",
    "subnets",
    "ports",
    "subnetpools",
    "routers",
    "floatingips",
    "security-groups",
    "security-group-rules",
    "rbac-policies",
    "address-scopes",
    "quotas",
    "extensions",
    "agents",
    "availability_zones",
)


def _singular(collection: str) -> str:
    """``rbac-policies`` -> ``rbac_policy``, ``networks`` -> ``network``."""
    name = collection.replace("-", "_")
    return name[:-3] + "y" if name.endswith("ies") else name.removesuffix("s")


def _version(req: ApiRequest) -> dict[str, object]:
    return {
        "id": "v2.0",
        "status": "CURRENT",
        "links": [{"rel": "self", "href": f"{req.service_url}/v2.0/"}],
    }


@route("GET", "", auth=False)
def list_versions(req: ApiRequest) -> Reply:
    return Reply(200, {"versions": [_version(req)]})


@route("GET", "/v2.0", auth=False)
def show_version(req: ApiRequest) -> Reply:
    resources = [
        {
            "name": _singular(name),
            "collection": name,
            "links": [{"rel": "self", "href": f"{req.service_url}/v2.0/{name}"}],
        }
        for name in RESOURCES
    ]
    return Reply(200, {"resources": resources})


@route("GET", "/v2.0/extensions")
def list_extensions(req: ApiRequest) -> Reply:
    return Reply(200, {"extensions": [view(a) for a in sorted(EXTENSIONS)]})


@route("GET", "/v2.0/extensions/{alias}")
def show_extension(req: ApiRequest) -> Reply:
    alias = req.params["alias"]
    if alias not in EXTENSIONS:
        raise NotFound(f"Extension with alias {alias} does not exist", kind="HTTPNotFound")
    return Reply(200, {"extension": view(alias)})
