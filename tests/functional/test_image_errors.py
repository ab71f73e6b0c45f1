"""Image API errors over raw HTTP: Glance's error body, a request id on every
failure, no 500 on hostile input, and routes that are not there."""

from __future__ import annotations

import uuid

import pytest

IMAGES = "/image/v2/images"


def glance_error(r, status):
    """Assert ``r`` is an image-service error with ``status``; return its message."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["x-openstack-request-id"].startswith("req-")
    body = r.json()
    assert set(body) == {"code", "title", "message"}
    assert body["code"].startswith(str(status))
    assert "Traceback" not in body["message"]
    return body["message"]


def test_unknown_image_is_404_with_glance_body(http):
    image_id = str(uuid.uuid4())
    assert image_id in glance_error(http.get(f"{IMAGES}/{image_id}"), 404)


def test_no_token_is_401(http):
    glance_error(http.get(IMAGES, token=None), 401)


def test_trailing_slash_is_not_the_collection(http):
    glance_error(http.get(f"{IMAGES}/"), 404)
    glance_error(http.delete(f"{IMAGES}/"), 404)


@pytest.mark.parametrize(
    "body",
    [b"{", b"[1,2]", b"null", b'"name"', b'{"name": "\xff"}', b"1e999999"],
)
def test_hostile_create_bodies_are_400(http, body):
    r = http.post(IMAGES, content=body, headers={"Content-Type": "application/json"})
    glance_error(r, 400)


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "add", "path": "/", "value": "x"}],
        [{"op": "add", "path": "/a~2b", "value": "x"}],
        [{"op": "add", "value": "x"}],
        [{"add": "/x", "replace": "/y", "value": "z"}],
        [None],
        [{"op": "add", "path": "/tags", "value": [1]}],
        [{"op": "add", "path": "/x", "value": {"nested": True}}],
    ],
)
def test_bad_patches_are_400(http, ops):
    image = http.expect(http.post(IMAGES, json={"name": "p"}), 201)
    r = http.patch(
        f"{IMAGES}/{image['id']}",
        json=ops,
        headers={"Content-Type": "application/openstack-images-v2.1-json-patch"},
    )
    glance_error(r, 400)


def test_member_bodies_are_validated(http):
    image = http.expect(http.post(IMAGES, json={"name": "m"}), 201)
    url = f"{IMAGES}/{image['id']}/members"
    glance_error(http.post(url, json={}), 400)
    glance_error(http.post(url, json={"member": 7}), 400)
    glance_error(http.put(f"{url}/x", json={"status": "maybe"}), 400)


def test_import_bodies_are_validated(http):
    image = http.expect(http.post(IMAGES, json={"name": "i"}), 201)
    url = f"{IMAGES}/{image['id']}/import"
    glance_error(http.post(url, json={}), 400)
    glance_error(http.post(url, json={"method": "glance-direct"}), 400)
    glance_error(http.post(url, json={"method": {"name": "copy-image"}}), 400)


def test_wrong_method_is_405(http):
    glance_error(http.post(f"{IMAGES}/{uuid.uuid4()}"), 405)


def test_reader_cannot_write(http):
    project = http.make_project()
    user = http.make_user(project_id=project["id"], role="reader")
    token = http.token(user["name"], user["password"], scope={"project": {"id": project["id"]}})
    assert http.get(IMAGES, token=token).status_code == 200
    glance_error(http.post(IMAGES, json={"name": "r"}, token=token), 403)
