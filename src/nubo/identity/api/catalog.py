"""Regions, services, endpoints and policy blobs."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.db.helpers import get_or_404
from nubo.errors import BadRequest
from nubo.identity import schemas, views
from nubo.identity.api.common import NO_CONTENT, identity, listing, one, page, route
from nubo.identity.models import CatalogService, Endpoint, Region

# -- regions ------------------------------------------------------------------


@route("POST", "/v3/regions", policy="identity:create_region", body=schemas.REGION_CREATE)
def create_region(req: ApiRequest) -> Reply:
    row = identity(req).catalog.create_region(req.json()["region"])
    return one("region", views.region(req.service_url, row), 201)


@route(
    "PUT", "/v3/regions/{region_id}", policy="identity:create_region", body=schemas.REGION_CREATE
)
def create_region_with_id(req: ApiRequest) -> Reply:
    data = req.json()["region"]
    if "id" in data and data["id"] != req.params["region_id"]:
        raise BadRequest("The region id in the body does not match the URL.")
    row = identity(req).catalog.create_region(data, region_id=req.params["region_id"])
    return one("region", views.region(req.service_url, row), 201)


@route("GET", "/v3/regions", policy="identity:list_regions")
def list_regions(req: ApiRequest) -> Reply:
    pg = page(req, ("id",), "id")
    return listing(
        req, "regions", identity(req).catalog.list_regions(req.query, pg), views.region, pg
    )


@route("GET", "/v3/regions/{region_id}", policy="identity:get_region")
def get_region(req: ApiRequest) -> Reply:
    svc = identity(req)
    with svc.db.reader() as s:
        row = get_or_404(s, Region, req.params["region_id"], "region")
    return one("region", views.region(req.service_url, row))


@route(
    "PATCH", "/v3/regions/{region_id}", policy="identity:update_region", body=schemas.REGION_UPDATE
)
def update_region(req: ApiRequest) -> Reply:
    changes = req.json()["region"]
    if "id" in changes and changes["id"] != req.params["region_id"]:
        raise BadRequest("Cannot change the id of a region.")
    row = identity(req).catalog.update_region(req.params["region_id"], changes)
    return one("region", views.region(req.service_url, row))


@route("DELETE", "/v3/regions/{region_id}", policy="identity:delete_region")
def delete_region(req: ApiRequest) -> Reply:
    identity(req).catalog.delete_region(req.params["region_id"])
    return NO_CONTENT


# -- services -----------------------------------------------------------------


@route("POST", "/v3/services", policy="identity:create_service", body=schemas.SERVICE_CREATE)
def create_service(req: ApiRequest) -> Reply:
    row = identity(req).catalog.create_service(req.json()["service"])
    return one("service", views.service(req.service_url, row), 201)


@route("GET", "/v3/services", policy="identity:list_services")
def list_services(req: ApiRequest) -> Reply:
    pg = page(req, ("id", "type"), "id")
    return listing(
        req, "services", identity(req).catalog.list_services(req.query, pg), views.service, pg
    )


@route("GET", "/v3/services/{service_id}", policy="identity:get_service")
def get_service(req: ApiRequest) -> Reply:
    svc = identity(req)
    with svc.db.reader() as s:
        row = get_or_404(s, CatalogService, req.params["service_id"], "service")
    return one("service", views.service(req.service_url, row))


@route(
    "PATCH",
    "/v3/services/{service_id}",
    policy="identity:update_service",
    body=schemas.SERVICE_UPDATE,
)
def update_service(req: ApiRequest) -> Reply:
    row = identity(req).catalog.update_service(req.params["service_id"], req.json()["service"])
    return one("service", views.service(req.service_url, row))


@route("DELETE", "/v3/services/{service_id}", policy="identity:delete_service")
def delete_service(req: ApiRequest) -> Reply:
    identity(req).catalog.delete_service(req.params["service_id"])
    return NO_CONTENT


# -- endpoints ----------------------------------------------------------------


@route("POST", "/v3/endpoints", policy="identity:create_endpoint", body=schemas.ENDPOINT_CREATE)
def create_endpoint(req: ApiRequest) -> Reply:
    row = identity(req).catalog.create_endpoint(req.json()["endpoint"])
    return one("endpoint", views.endpoint(req.service_url, row), 201)


@route("GET", "/v3/endpoints", policy="identity:list_endpoints")
def list_endpoints(req: ApiRequest) -> Reply:
    pg = page(req, ("id", "interface"), "id")
    return listing(
        req, "endpoints", identity(req).catalog.list_endpoints(req.query, pg), views.endpoint, pg
    )


@route("GET", "/v3/endpoints/{endpoint_id}", policy="identity:get_endpoint")
def get_endpoint(req: ApiRequest) -> Reply:
    svc = identity(req)
    with svc.db.reader() as s:
        row = get_or_404(s, Endpoint, req.params["endpoint_id"], "endpoint")
    return one("endpoint", views.endpoint(req.service_url, row))


@route(
    "PATCH",
    "/v3/endpoints/{endpoint_id}",
    policy="identity:update_endpoint",
    body=schemas.ENDPOINT_UPDATE,
)
def update_endpoint(req: ApiRequest) -> Reply:
    row = identity(req).catalog.update_endpoint(req.params["endpoint_id"], req.json()["endpoint"])
    return one("endpoint", views.endpoint(req.service_url, row))


@route("DELETE", "/v3/endpoints/{endpoint_id}", policy="identity:delete_endpoint")
def delete_endpoint(req: ApiRequest) -> Reply:
    identity(req).catalog.delete_endpoint(req.params["endpoint_id"])
    return NO_CONTENT


# -- policies -----------------------------------------------------------------


@route("POST", "/v3/policies", policy="identity:create_policy", body=schemas.POLICY_CREATE)
def create_policy(req: ApiRequest) -> Reply:
    row = identity(req).catalog.create_policy(req.json()["policy"])
    return one("policy", views.policy(req.service_url, row), 201)


@route("GET", "/v3/policies", policy="identity:list_policies")
def list_policies(req: ApiRequest) -> Reply:
    pg = page(req, ("id", "type"), "id")
    return listing(
        req, "policies", identity(req).catalog.list_policies(req.query, pg), views.policy, pg
    )


@route("GET", "/v3/policies/{policy_id}", policy="identity:get_policy")
def get_policy(req: ApiRequest) -> Reply:
    row = identity(req).catalog.get_policy(req.params["policy_id"])
    return one("policy", views.policy(req.service_url, row))


@route(
    "PATCH", "/v3/policies/{policy_id}", policy="identity:update_policy", body=schemas.POLICY_UPDATE
)
def update_policy(req: ApiRequest) -> Reply:
    row = identity(req).catalog.update_policy(req.params["policy_id"], req.json()["policy"])
    return one("policy", views.policy(req.service_url, row))


@route("DELETE", "/v3/policies/{policy_id}", policy="identity:delete_policy")
def delete_policy(req: ApiRequest) -> Reply:
    identity(req).catalog.delete_policy(req.params["policy_id"])
    return NO_CONTENT
