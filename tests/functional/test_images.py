"""Image records over the Image API v2 with openstacksdk and raw HTTP: create, show,
list (filters, sorting, pagination), JSON-patch updates, tags, protection,
visibility and (de)activation."""

from __future__ import annotations

import uuid

import openstack.exceptions as sdk_exc
import pytest

IMAGES = "/image/v2/images"
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


def make_image(http, token=None, **fields):
    body = {"name": f"img-{uuid.uuid4().hex[:8]}", **fields}
    kwargs = {} if token is None else {"token": token}
    return http.expect(http.post(IMAGES, json=body, **kwargs), 201)


def patch(http, image_id, ops, **kwargs):
    return http.patch(f"{IMAGES}/{image_id}", json=ops, headers=PATCH, **kwargs)


def test_create_shows_every_core_field(http):
    r = http.post(IMAGES, json={"name": "core", "disk_format": "raw", "container_format": "bare"})
    body = http.expect(r, 201)
    assert r.headers["location"].endswith(f"/image/v2/images/{body['id']}")
    assert "glance-direct" in r.headers["openstack-image-import-methods"]
    for key in (
        "checksum",
        "os_hash_algo",
        "os_hash_value",
        "size",
        "virtual_size",
        "owner",
        "created_at",
        "updated_at",
    ):
        assert key in body
    assert body["status"] == "queued"
    admin_project = http.expect(http.get("projects", params={"name": "admin"}), 200)
    assert body["owner"] == admin_project["projects"][0]["id"]
    assert body["visibility"] == "shared"
    assert body["protected"] is False and body["os_hidden"] is False
    assert body["min_ram"] == 0 and body["min_disk"] == 0
    assert body["self"] == f"/v2/images/{body['id']}"
    assert body["file"] == f"/v2/images/{body['id']}/file"
    assert body["schema"] == "/v2/schemas/image"
    assert body["tags"] == []
    assert body["created_at"].endswith("Z")


def test_sdk_create_show_update_delete(admin_conn, unique):
    name = unique("sdk")
    image = admin_conn.image.create_image(
        name=name, disk_format="qcow2", container_format="bare", allow_duplicates=True
    )
    try:
        assert admin_conn.image.get_image(image.id).name == name
        admin_conn.image.update_image(image, min_disk=2, nubo_note="virtio")
        shown = admin_conn.image.get_image(image.id)
        assert shown.min_disk == 2
        assert shown.properties["nubo_note"] == "virtio"
    finally:
        admin_conn.image.delete_image(image)
    with pytest.raises(sdk_exc.NotFoundException):
        admin_conn.image.get_image(image.id)


def test_client_chosen_id_and_duplicate_is_409(http):
    image_id = str(uuid.uuid4())
    assert make_image(http, id=image_id)["id"] == image_id
    r = http.post(IMAGES, json={"id": image_id, "name": "again"})
    assert r.status_code == 409


def test_custom_properties_round_trip_and_must_be_strings(http):
    image = make_image(http, os_distro="debian", architecture="x86_64")
    assert image["os_distro"] == "debian"
    r = http.post(IMAGES, json={"name": "x", "os_distro": 7})
    assert r.status_code == 400
    assert "os_distro" in r.text


@pytest.mark.parametrize("name", ["os_glance_importing", "deleted"])
def test_reserved_property_names_are_refused(http, name):
    r = http.post(IMAGES, json={"name": "x", name: "y"})
    assert r.status_code == 403
    assert "reserved" in r.text


@pytest.mark.parametrize("name", ["status", "checksum", "size", "self", "created_at"])
def test_read_only_fields_cannot_be_set(http, name):
    r = http.post(IMAGES, json={"name": "x", name: "y"})
    assert r.status_code == 403
    assert "read-only" in r.text
    image = make_image(http)
    r = patch(http, image["id"], [{"op": "replace", "path": f"/{name}", "value": "y"}])
    assert r.status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {"disk_format": "floppy"},
        {"container_format": "zip"},
        {"visibility": "everyone"},
        {"min_ram": -1},
        {"min_disk": "big"},
        {"protected": "yes"},
        {"name": "n" * 256},
        {"tags": "not-a-list"},
        {"id": "not-a-uuid"},
        {"hw_x": "v" * 65536},
    ],
)
def test_bad_create_bodies_are_400(http, body):
    assert http.post(IMAGES, json=body).status_code == 400


def test_json_patch_add_replace_remove(http):
    image = make_image(http)
    ops = [
        {"op": "replace", "path": "/name", "value": "renamed"},
        {"op": "add", "path": "/hw_vif_model", "value": "virtio"},
        {"op": "add", "path": "/tags", "value": ["a", "b"]},
        {"op": "replace", "path": "/min_ram", "value": 128},
    ]
    body = http.expect(patch(http, image["id"], ops), 200)
    assert body["name"] == "renamed"
    assert body["hw_vif_model"] == "virtio"
    assert sorted(body["tags"]) == ["a", "b"]
    assert body["min_ram"] == 128
    body = http.expect(patch(http, image["id"], [{"op": "remove", "path": "/hw_vif_model"}]), 200)
    assert "hw_vif_model" not in body


def test_json_patch_errors(http):
    image = make_image(http)
    i = image["id"]
    assert patch(http, i, [{"op": "remove", "path": "/nothing"}]).status_code == 409
    assert patch(http, i, [{"op": "replace", "path": "/nothing", "value": "x"}]).status_code == 409
    assert patch(http, i, [{"op": "move", "path": "/name", "value": "x"}]).status_code == 400
    assert patch(http, i, [{"op": "add", "path": "/a/b", "value": "x"}]).status_code == 400
    assert patch(http, i, [{"op": "add", "path": "name", "value": "x"}]).status_code == 400
    assert patch(http, i, {"op": "add"}).status_code == 400
    assert patch(http, i, [{"op": "add", "path": "/min_ram", "value": "x"}]).status_code == 400
    assert patch(http, i, [{"op": "remove", "path": "/name"}]).status_code == 403
    r = http.patch(f"{IMAGES}/{i}", json=[], headers={"Content-Type": "application/json"})
    assert r.status_code == 415
    # nothing was changed by the failed patches
    assert http.expect(http.get(f"{IMAGES}/{i}"), 200)["name"] == image["name"]


def test_tags_put_and_delete(http):
    image = make_image(http)
    assert http.put(f"{IMAGES}/{image['id']}/tags/blue").status_code == 204
    assert http.put(f"{IMAGES}/{image['id']}/tags/blue").status_code == 204
    assert http.expect(http.get(f"{IMAGES}/{image['id']}"), 200)["tags"] == ["blue"]
    assert http.delete(f"{IMAGES}/{image['id']}/tags/blue").status_code == 204
    assert http.delete(f"{IMAGES}/{image['id']}/tags/blue").status_code == 404


def test_protected_image_cannot_be_deleted(http):
    image = make_image(http, protected=True)
    assert http.delete(f"{IMAGES}/{image['id']}").status_code == 403
    patch(http, image["id"], [{"op": "replace", "path": "/protected", "value": False}])
    assert http.delete(f"{IMAGES}/{image['id']}").status_code == 204


def test_only_admins_make_images_public(http):
    r = http.post(IMAGES, json={"name": "pub", "visibility": "public"}, token=http.demo_token)
    assert r.status_code == 403
    mine = make_image(http, token=http.demo_token)
    r = patch(
        http,
        mine["id"],
        [{"op": "replace", "path": "/visibility", "value": "public"}],
        token=http.demo_token,
    )
    assert r.status_code == 403
    assert make_image(http, visibility="public")["visibility"] == "public"


def test_other_projects_private_image_is_404(http):
    private = make_image(http, visibility="private")
    i = private["id"]
    demo = http.demo_token
    assert http.get(f"{IMAGES}/{i}", token=demo).status_code == 404
    assert patch(http, i, [], token=demo).status_code == 404
    assert http.delete(f"{IMAGES}/{i}", token=demo).status_code == 404
    assert http.put(f"{IMAGES}/{i}/tags/x", token=demo).status_code == 404
    assert http.get(f"{IMAGES}/{i}/file", token=demo).status_code == 404
    listed = http.expect(http.get(IMAGES, params={"limit": 1000}, token=demo), 200)
    assert i not in {img["id"] for img in listed["images"]}


def test_public_image_is_visible_but_not_writable_by_others(http):
    public = make_image(http, visibility="public")
    demo = http.demo_token
    assert http.get(f"{IMAGES}/{public['id']}", token=demo).status_code == 200
    r = patch(http, public["id"], [{"op": "replace", "path": "/name", "value": "x"}], token=demo)
    assert r.status_code == 403
    assert http.delete(f"{IMAGES}/{public['id']}", token=demo).status_code == 403


def test_community_images_listed_only_when_asked(http):
    community = make_image(http, visibility="community")
    demo = http.demo_token
    default = http.expect(http.get(IMAGES, params={"limit": 1000}, token=demo), 200)
    assert community["id"] not in {i["id"] for i in default["images"]}
    asked = http.expect(
        http.get(IMAGES, params={"visibility": "community", "limit": 1000}, token=demo), 200
    )
    assert community["id"] in {i["id"] for i in asked["images"]}
    assert http.get(f"{IMAGES}/{community['id']}", token=demo).status_code == 200


def test_deactivate_and_reactivate_need_an_active_image(http):
    queued = make_image(http)
    r = http.post(f"{IMAGES}/{queued['id']}/actions/deactivate")
    assert r.status_code == 403


def test_list_filters(http):
    tag = uuid.uuid4().hex[:8]
    a = make_image(http, disk_format="raw", container_format="bare", tags=[tag, "x"], os_distro=tag)
    b = make_image(http, disk_format="qcow2", container_format="bare", tags=[tag])
    hidden = make_image(http, tags=[tag], os_hidden=True)

    def ids(**params):
        body = http.expect(http.get(IMAGES, params={"limit": 1000, **params}), 200)
        return {i["id"] for i in body["images"]}

    assert ids(tag=tag) == {a["id"], b["id"]}
    assert ids(tag=tag, os_hidden="true") == {hidden["id"]}
    assert ids(tag=tag, disk_format="qcow2") == {b["id"]}
    assert ids(os_distro=tag) == {a["id"]}
    assert ids(name=f"in:{a['name']},{b['name']}") == {a["id"], b["id"]}
    assert ids(tag=tag, status="queued") == {a["id"], b["id"]}
    assert ids(tag=tag, created_at="gte:2000-01-01T00:00:00Z") == {a["id"], b["id"]}
    assert ids(tag=tag, created_at="lt:2000-01-01T00:00:00Z") == set()
    params = {"tag": [tag, "x"], "limit": 1000}
    both = http.expect(http.get(IMAGES, params=params), 200)
    assert {i["id"] for i in both["images"]} == {a["id"]}


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "x"},
        {"limit": "-1"},
        {"sort_key": "nope"},
        {"sort_dir": "up"},
        {"size_min": "big"},
        {"created_at": "2020-01-01"},
        {"created_at": "gt:yesterday"},
        {"visibility": "everyone"},
        {"member_status": "maybe"},
        {"marker": str(uuid.uuid4())},
        {"protected": "perhaps"},
    ],
)
def test_bad_list_queries_are_400(http, params):
    assert http.get(IMAGES, params=params).status_code == 400


def test_pagination_and_sorting(http):
    tag = uuid.uuid4().hex[:8]
    made = [make_image(http, tags=[tag], name=f"p-{n}") for n in range(5)]
    seen = []
    params = {"tag": tag, "limit": 2, "sort_key": "name", "sort_dir": "asc"}
    body = http.expect(http.get(IMAGES, params=params), 200)
    while True:
        seen += [i["name"] for i in body["images"]]
        if "next" not in body:
            break
        body = http.expect(http.get("/image" + body["next"]), 200)
    assert seen == [m["name"] for m in made]
    desc = http.expect(http.get(IMAGES, params={"tag": tag, "sort": "name:desc"}), 200)
    assert [i["name"] for i in desc["images"]] == list(reversed(seen))


def test_sdk_lists_every_page(admin_conn, http):
    tag = uuid.uuid4().hex[:8]
    made = {make_image(http, tags=[tag])["id"] for _ in range(3)}
    listed = {i.id for i in admin_conn.image.images(tag=tag, limit=1)}
    assert listed == made


def test_schemas_are_served(http):
    for name in ("image", "images", "member", "members"):
        body = http.expect(http.get(f"/image/v2/schemas/{name}"), 200)
        assert body["name"] == name
    image = http.expect(http.get("/image/v2/schemas/image"), 200)
    assert "disk_format" in image["properties"]
    assert http.get("/image/v2/schemas/nothing").status_code == 404
    namespace = http.expect(http.get("/image/v2/schemas/metadefs/namespace"), 200)
    assert namespace["name"] == "namespace"
    assert http.get("/image/v2/schemas/metadefs/nothing").status_code == 404


def test_version_discovery(http):
    r = http.get("/image", token=None)
    assert r.status_code == 300
    versions = r.json()["versions"]
    assert versions[0]["status"] == "CURRENT"
    assert versions[0]["links"][0]["href"].endswith("/image/v2/")


def test_info_documents(http):
    info = http.expect(http.get("/image/v2/info/import"), 200)
    assert info["import-methods"]["value"] == ["glance-direct"]
    stores = http.expect(http.get("/image/v2/info/stores"), 200)
    assert stores["stores"][0]["default"] is True
    detail = http.expect(http.get("/image/v2/info/stores/detail"), 200)
    assert {store["id"] for store in detail["stores"]} == {"file", "os_glance_staging_store"}
    assert http.get("/image/v2/info/stores/detail", token=http.demo_token).status_code == 403
    usage = http.expect(http.get("/image/v2/info/usage"), 200)["usage"]
    assert set(usage) >= {"image_count_total", "image_size_total"}
    assert usage["image_count_total"]["usage"] >= 0


def test_image_count_quota_is_413(cloud_factory, http_for):
    other = cloud_factory()
    h = http_for(other)
    h.set_project_limit("image", "demo", "image_count_total", 1)
    make_image(h, token=h.demo_token)
    r = h.post(IMAGES, json={"name": "second"}, token=h.demo_token)
    assert r.status_code == 413
    assert "image_count_total" in r.text
    usage = h.expect(h.get("/image/v2/info/usage", token=h.demo_token), 200)["usage"]
    assert usage["image_count_total"] == {"limit": 1, "usage": 1}
