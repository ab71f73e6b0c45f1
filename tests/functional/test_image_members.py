"""Sharing images between projects: the members API with raw HTTP and openstacksdk."""

from __future__ import annotations

import uuid

IMAGES = "/image/v2/images"


def shared_image(http, **fields):
    body = {"name": f"shared-{uuid.uuid4().hex[:8]}", **fields}
    return http.expect(http.post(IMAGES, json=body), 201)


def demo_project(http):
    return http.expect(http.get("projects", params={"name": "demo"}), 200)["projects"][0]["id"]


def listed(http, token, **params):
    body = http.expect(http.get(IMAGES, params={"limit": 1000, **params}, token=token), 200)
    return {i["id"] for i in body["images"]}


def test_share_accept_reject_and_remove(http):
    image = shared_image(http)
    demo = demo_project(http)
    token = http.demo_token
    url = f"{IMAGES}/{image['id']}/members"
    member = http.expect(http.post(url, json={"member": demo}), 200)
    assert member["status"] == "pending"
    assert member["member_id"] == demo and member["image_id"] == image["id"]
    assert member["schema"] == "/v2/schemas/member"
    assert http.post(url, json={"member": demo}).status_code == 409
    # pending: visible by id and with member_status, not in the default list
    assert http.get(f"{IMAGES}/{image['id']}", token=token).status_code == 200
    assert image["id"] not in listed(http, token)
    assert image["id"] in listed(http, token, member_status="pending", visibility="shared")
    accepted = http.put(f"{url}/{demo}", json={"status": "accepted"}, token=token)
    assert http.expect(accepted, 200)["status"] == "accepted"
    assert image["id"] in listed(http, token)
    http.expect(http.put(f"{url}/{demo}", json={"status": "rejected"}, token=token), 200)
    assert image["id"] not in listed(http, token)
    assert image["id"] in listed(http, token, member_status="all")
    assert http.delete(f"{url}/{demo}").status_code == 204
    assert http.get(f"{IMAGES}/{image['id']}", token=token).status_code == 404
    assert http.delete(f"{url}/{demo}").status_code == 404


def test_owner_cannot_accept_and_consumer_cannot_share(http):
    owner = http.demo_token
    image = http.expect(http.post(IMAGES, json={"name": "demo-shares"}, token=owner), 201)
    consumer = http.make_project()
    user = http.make_user(project_id=consumer["id"])
    token = http.token(user["name"], user["password"], scope={"project": {"id": consumer["id"]}})
    url = f"{IMAGES}/{image['id']}/members"
    http.expect(http.post(url, json={"member": consumer["id"]}, token=owner), 200)
    member_url = f"{url}/{consumer['id']}"
    assert http.put(member_url, json={"status": "accepted"}, token=owner).status_code == 403
    assert http.post(url, json={"member": uuid.uuid4().hex}, token=token).status_code == 403
    assert http.delete(member_url, token=token).status_code == 403
    assert http.put(member_url, json={"status": "maybe"}, token=token).status_code == 400
    accepted = http.put(member_url, json={"status": "accepted"}, token=token)
    assert http.expect(accepted, 200)["status"] == "accepted"


def test_consumer_sees_only_its_own_membership(http):
    image = shared_image(http)
    demo = demo_project(http)
    url = f"{IMAGES}/{image['id']}/members"
    http.expect(http.post(url, json={"member": demo}), 200)
    http.expect(http.post(url, json={"member": uuid.uuid4().hex}), 200)
    assert len(http.expect(http.get(url), 200)["members"]) == 2
    mine = http.expect(http.get(url, token=http.demo_token), 200)["members"]
    assert [m["member_id"] for m in mine] == [demo]


def test_only_shared_images_have_members(http):
    private = shared_image(http, visibility="private")
    r = http.post(f"{IMAGES}/{private['id']}/members", json={"member": demo_project(http)})
    assert r.status_code == 403
    assert "shared" in r.text


def test_unshared_projects_see_nothing(http):
    image = shared_image(http)
    token = http.demo_token
    assert http.get(f"{IMAGES}/{image['id']}", token=token).status_code == 404
    assert http.get(f"{IMAGES}/{image['id']}/members", token=token).status_code == 404


def test_sdk_member_flow(admin_conn, demo_conn, unique):
    image = admin_conn.image.create_image(name=unique("sdk-share"), allow_duplicates=True)
    demo = demo_conn.current_project_id
    member = admin_conn.image.add_member(image, member_id=demo)
    assert member.status == "pending"
    demo_conn.image.update_member(member, image, status="accepted")
    assert image.id in {i.id for i in demo_conn.image.images()}
    assert [m.member_id for m in admin_conn.image.members(image)] == [demo]
    admin_conn.image.remove_member(member, image)
    assert list(admin_conn.image.members(image)) == []
