"""Every image route, driven from the route table itself.

* Isolation: the demo user calls every route that names an image with the id of
  the admin project's private image: each answers 404, and the image and its
  data are untouched afterwards.
* Robustness: the admin sends every write route bodies of the wrong shape and
  content type. Nothing may answer with a 500.
"""

from __future__ import annotations

import re

import pytest

from nubo.image.api import build_service

ROUTES = build_service().router.routes
PARAM = re.compile(r"\{(\w+)\}")
IMAGE_ROUTES = [r for r in ROUTES if "{image_id}" in r.path]
WRITES = [r for r in ROUTES if r.method in ("POST", "PUT", "PATCH")]


# well-formed bodies, so that only the image's invisibility can refuse the call
VALID = {
    "/v2/images/{image_id}/import": b'{"method": {"name": "glance-direct"}}',
    "/v2/images/{image_id}/members": b'{"member": "someone"}',
    "/v2/images/{image_id}/members/{member_id}": b'{"status": "accepted"}',
}


def fill(path: str, image_id: str) -> str:
    values = {"image_id": image_id, "member_id": "someone", "tag": "t", "name": "image"}
    return "/image" + PARAM.sub(lambda m: values[m.group(1)], path)


@pytest.fixture(scope="module")
def private_image(http):
    image = http.expect(
        http.post(
            "/image/v2/images",
            json={"name": "admin-private", "visibility": "private", "disk_format": "raw",
                  "container_format": "bare"},
        ),
        201,
    )  # fmt: skip
    url = f"/image/v2/images/{image['id']}/file"
    http.put(url, content=b"secret", headers={"Content-Type": "application/octet-stream"})
    return image


@pytest.mark.parametrize("route", IMAGE_ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_another_projects_private_image_is_invisible(http, private_image, route):
    headers = {"Content-Type": "application/octet-stream"} if route.stream else {}
    if route.method == "PATCH":
        headers = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
    body = b"[]" if route.method == "PATCH" else VALID.get(route.path, b"{}")
    r = http.request(
        route.method,
        fill(route.path, private_image["id"]),
        token=http.demo_token,
        content=body if route.method in ("POST", "PUT", "PATCH") else None,
        headers=headers,
    )
    assert r.status_code == 404, f"{route.method} {route.path}: {r.status_code} {r.text}"
    assert private_image["id"] not in r.text or "No image found" in r.text
    shown = http.expect(http.get(f"/image/v2/images/{private_image['id']}"), 200)
    assert shown["status"] == "active" and shown["name"] == "admin-private"


BAD_BODIES = [b"", b"{", b"[]", b"{}", b'"x"', b"null", b'{"a": [1, {"b": null}]}']


@pytest.mark.parametrize("route", WRITES, ids=lambda r: f"{r.method} {r.path}")
def test_wrongly_shaped_bodies_never_500(http, route):
    image = http.expect(http.post("/image/v2/images", json={"name": "target"}), 201)
    for body in BAD_BODIES:
        for ctype in ("application/json", "application/octet-stream", "text/plain"):
            r = http.request(
                route.method,
                fill(route.path, image["id"]),
                content=body,
                headers={"Content-Type": ctype},
            )
            assert r.status_code < 500, f"{route.method} {route.path} {body!r}: {r.text}"
