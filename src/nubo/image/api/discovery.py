"""Version discovery, schemas and the ``/v2/info`` documents."""

from __future__ import annotations

from typing import Any

from nubo.api.routing import ApiRequest, Reply
from nubo.errors import Forbidden, NotFound
from nubo.image import schemas
from nubo.image.api.common import caller, images, route
from nubo.image.service import STAGING_STORE

# Glance's v2 minor versions; nubo serves what v2.16 defines
CURRENT = "2.16"
SUPPORTED = [
    "2.15",
    "2.14",
    "2.13",
    "2.12",
    "2.11",
    "2.10",
    "2.9",
    "2.8",
    "2.7",
    "2.6",
    "2.5",
    "2.4",
    "2.3",
    "2.2",
    "2.1",
    "2.0",
]


def _versions(req: ApiRequest) -> list[dict[str, Any]]:
    href = f"{req.base_url}/image/v2/"
    return [
        {"id": f"v{v}", "status": status, "links": [{"rel": "self", "href": href}]}
        for v, status in [(CURRENT, "CURRENT")] + [(v, "SUPPORTED") for v in SUPPORTED]
    ]


@route("GET", "", auth=False)
def list_versions(req: ApiRequest) -> Reply:
    return Reply(300, {"versions": _versions(req)})


@route("GET", "/versions", auth=False)
def show_versions(req: ApiRequest) -> Reply:
    return Reply(200, {"versions": _versions(req)})


@route("GET", "/v2/schemas/{name}", policy="get_images")
@route("GET", "/v2/schemas/metadefs/{metadef}", policy="get_images")
def show_schema(req: ApiRequest) -> Reply:
    p = req.params
    name = f"metadefs/{p['metadef']}" if "metadef" in p else p["name"]
    schema = schemas.served(name)
    if schema is None:
        raise NotFound(f"No schema named {name}.")
    return Reply(200, schema)


@route("GET", "/v2/info/import", policy="get_images")
def show_import_info(req: ApiRequest) -> Reply:
    return Reply(
        200,
        {
            "import-methods": {
                "description": "Import methods available.",
                "type": "array",
                "value": images(req).import_methods(),
            }
        },
    )


@route("GET", "/v2/info/stores", policy="get_images")
def list_stores(req: ApiRequest) -> Reply:
    svc = images(req)
    return Reply(
        200,
        {
            "stores": [
                {
                    "id": svc.store.name,
                    "description": "Files in the nubo data directory",
                    "default": True,
                }
            ]
        },
    )


@route("GET", "/v2/info/stores/detail", policy="stores_info_detail")
def list_stores_detail(req: ApiRequest) -> Reply:
    svc = images(req)
    return Reply(
        200,
        {
            "stores": [
                {
                    "id": svc.store.name,
                    "description": "Files in the nubo data directory",
                    "default": True,
                    "type": "file",
                    "properties": {"datadir": str(svc.store.root)},
                },
                {
                    "id": STAGING_STORE,
                    "description": "Staged data of interoperable imports",
                    "type": "file",
                    "properties": {"datadir": str(svc.staging.root)},
                },
            ]
        },
    )


@route("GET", "/v2/info/usage", policy="get_images")
def show_usage(req: ApiRequest) -> Reply:
    svc = images(req)
    project_id = caller(req).project_id
    if project_id is None:
        raise Forbidden("Usage is reported for a project-scoped token.")
    with svc.db.reader() as s:
        report = svc.quotas.report(s, project_id)
    return Reply(
        200,
        {
            "usage": {
                name: {"limit": u.limit if u.limit is not None else -1, "usage": u.usage}
                for name, u in report.items()
            }
        },
    )
