"""Image data over real HTTP: streamed upload and download with hashes, ranges,
status transitions, format safety, staging with glance-direct import, and the
size quota."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
import uuid

import pytest

IMAGES = "/image/v2/images"
OCTET = {"Content-Type": "application/octet-stream"}


def new_image(http, token=None, **fields):
    body = {"name": f"data-{uuid.uuid4().hex[:8]}", "disk_format": "raw"}
    body.update({"container_format": "bare", **fields})
    kwargs = {} if token is None else {"token": token}
    return http.expect(http.post(IMAGES, json=body, **kwargs), 201)


def upload(http, image_id, data, **kwargs):
    return http.put(f"{IMAGES}/{image_id}/file", content=data, headers=OCTET, **kwargs)


def show(http, image_id, **kwargs):
    return http.expect(http.get(f"{IMAGES}/{image_id}", **kwargs), 200)


def chunked(data, size=65536):
    for i in range(0, len(data), size):
        yield data[i : i + size]


def test_upload_download_round_trip_with_hashes(http):
    data = os.urandom(3 * 1024 * 1024 + 17)
    image = new_image(http)
    assert http.get(f"{IMAGES}/{image['id']}/file").status_code == 204
    assert upload(http, image["id"], data).status_code == 204
    shown = show(http, image["id"])
    assert shown["status"] == "active"
    assert shown["size"] == len(data)
    assert shown["virtual_size"] == len(data)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["os_hash_algo"] == "sha512"
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert shown["stores"] == "file"
    r = http.get(f"{IMAGES}/{image['id']}/file")
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["content-md5"] == shown["checksum"]
    assert r.headers["content-type"] == "application/octet-stream"


def test_chunked_upload_without_length(http):
    data = os.urandom(300_000)
    image = new_image(http)
    assert upload(http, image["id"], chunked(data)).status_code == 204
    assert show(http, image["id"])["size"] == len(data)


def test_upload_to_an_active_image_is_409(http):
    image = new_image(http)
    upload(http, image["id"], b"first")
    assert upload(http, image["id"], b"second").status_code == 409
    assert http.get(f"{IMAGES}/{image['id']}/file").content == b"first"


def test_upload_needs_formats_and_octet_stream(http):
    bare = http.expect(http.post(IMAGES, json={"name": "no-formats"}), 201)
    assert upload(http, bare["id"], b"x").status_code == 400
    image = new_image(http)
    r = http.put(
        f"{IMAGES}/{image['id']}/file", content=b"x", headers={"Content-Type": "text/plain"}
    )
    assert r.status_code == 415
    assert show(http, image["id"])["status"] == "queued"


def test_range_downloads(http):
    data = bytes(range(256)) * 64
    image = new_image(http)
    upload(http, image["id"], data)
    url = f"{IMAGES}/{image['id']}/file"
    r = http.get(url, headers={"Range": "bytes=10-19"})
    assert r.status_code == 206
    assert r.content == data[10:20]
    assert r.headers["content-range"] == f"bytes 10-19/{len(data)}"
    r = http.get(url, headers={"Range": "bytes=-5"})
    assert r.content == data[-5:]
    r = http.get(url, headers={"Range": f"bytes={len(data) - 3}-"})
    assert r.content == data[-3:]
    assert http.get(url, headers={"Range": f"bytes={len(data)}-"}).status_code == 416
    assert http.get(url, headers={"Range": "pages=1-2"}).status_code == 416


def test_deactivated_image_data_is_forbidden_to_others(http):
    image = new_image(http, visibility="public")
    upload(http, image["id"], b"payload")
    assert http.post(f"{IMAGES}/{image['id']}/actions/deactivate").status_code == 204
    assert show(http, image["id"])["status"] == "deactivated"
    demo = http.demo_token
    assert http.get(f"{IMAGES}/{image['id']}/file", token=demo).status_code == 403
    assert http.post(f"{IMAGES}/{image['id']}/actions/reactivate").status_code == 204
    assert http.get(f"{IMAGES}/{image['id']}/file", token=demo).content == b"payload"


def test_other_projects_cannot_upload(http):
    image = new_image(http, visibility="public")
    assert upload(http, image["id"], b"x", token=http.demo_token).status_code == 403
    private = new_image(http, visibility="private")
    assert upload(http, private["id"], b"x", token=http.demo_token).status_code == 404


def qemu_img(tmp_path, *args):
    subprocess.run(["qemu-img", *args], cwd=tmp_path, check=True, capture_output=True)


@pytest.fixture
def qcow2_files(tmp_path):
    qemu_img(tmp_path, "create", "-f", "raw", "base.raw", "1M")
    qemu_img(tmp_path, "create", "-f", "qcow2", "plain.qcow2", "16M")
    qemu_img(tmp_path, "create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", "backed.qcow2")
    return tmp_path


def test_a_real_qcow2_is_accepted_with_its_virtual_size(http, qcow2_files):
    image = new_image(http, disk_format="qcow2")
    assert upload(http, image["id"], (qcow2_files / "plain.qcow2").read_bytes()).status_code == 204
    shown = show(http, image["id"])
    assert shown["status"] == "active"
    assert shown["virtual_size"] == 16 * 1024 * 1024


def test_qcow2_with_a_backing_file_is_refused_and_killed(http, qcow2_files):
    image = new_image(http, disk_format="qcow2")
    r = upload(http, image["id"], (qcow2_files / "backed.qcow2").read_bytes())
    assert r.status_code == 400
    assert "backing" in r.text
    assert show(http, image["id"])["status"] == "killed"
    assert http.get(f"{IMAGES}/{image['id']}/file").status_code == 204


def test_qcow2_disguised_as_raw_is_refused(http, qcow2_files):
    image = new_image(http, disk_format="raw")
    r = upload(http, image["id"], (qcow2_files / "backed.qcow2").read_bytes())
    assert r.status_code == 400
    assert show(http, image["id"])["status"] == "killed"


def test_random_bytes_declared_qcow2_are_refused(http):
    image = new_image(http, disk_format="qcow2")
    assert upload(http, image["id"], os.urandom(4096)).status_code == 400
    assert show(http, image["id"])["status"] == "killed"


def wait_status(http, image_id, wanted, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = show(http, image_id)["status"]
        if status == wanted:
            return
        time.sleep(0.1)
    raise AssertionError(f"image {image_id} stayed {status}, wanted {wanted}")


def test_stage_and_glance_direct_import(http):
    data = os.urandom(200_000)
    image = new_image(http)
    r = http.put(f"{IMAGES}/{image['id']}/stage", content=chunked(data), headers=OCTET)
    assert r.status_code == 204
    assert show(http, image["id"])["status"] == "uploading"
    r = http.post(f"{IMAGES}/{image['id']}/import", json={"method": {"name": "glance-direct"}})
    assert r.status_code == 202
    request_id = r.headers["x-openstack-request-id"]
    wait_status(http, image["id"], "active")
    shown = show(http, image["id"])
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert "os_glance_importing_to_stores" not in shown
    assert http.get(f"{IMAGES}/{image['id']}/file").content == data
    tasks = http.expect(http.get(f"{IMAGES}/{image['id']}/tasks"), 200)["tasks"]
    assert [t["status"] for t in tasks] == ["success"]
    assert tasks[0]["request_id"] == request_id


def test_import_without_staged_data_is_409(http):
    image = new_image(http)
    r = http.post(f"{IMAGES}/{image['id']}/import", json={"method": {"name": "glance-direct"}})
    assert r.status_code == 409


def test_web_download_is_off_unless_configured(http):
    image = new_image(http)
    body = {"method": {"name": "web-download", "uri": "http://127.0.0.1:1/x.img"}}
    r = http.post(f"{IMAGES}/{image['id']}/import", json=body)
    assert r.status_code == 400
    assert "not supported" in r.text
    assert show(http, image["id"])["status"] == "queued"


def test_bad_staged_content_kills_the_import(http, qcow2_files):
    image = new_image(http, disk_format="qcow2")
    data = (qcow2_files / "backed.qcow2").read_bytes()
    http.put(f"{IMAGES}/{image['id']}/stage", content=data, headers=OCTET)
    http.post(f"{IMAGES}/{image['id']}/import", json={"method": {"name": "glance-direct"}})
    wait_status(http, image["id"], "killed")
    shown = show(http, image["id"])
    assert shown["os_glance_failed_import"] == "file"
    tasks = http.expect(http.get(f"{IMAGES}/{image['id']}/tasks"), 200)["tasks"]
    assert tasks[0]["status"] == "failure"
    assert "backing" in tasks[0]["message"]


def test_delete_removes_the_data(http, cloud):
    image = new_image(http)
    upload(http, image["id"], b"to be removed")
    stored = cloud.data_dir / "images" / image["id"]
    assert stored.exists()
    assert http.delete(f"{IMAGES}/{image['id']}").status_code == 204
    assert not stored.exists()


def test_size_quota_refuses_and_keeps_the_image_queued(cloud_factory, http_for):
    other = cloud_factory()
    h = http_for(other)
    h.set_project_limit("image", "demo", "image_size_total", 1)
    token = h.demo_token
    image = new_image(h, token=token)
    r = upload(h, image["id"], chunked(os.urandom(2 * 1024 * 1024)), token=token)
    assert r.status_code == 413
    assert "image_size_total" in r.text
    assert show(h, image["id"], token=token)["status"] == "queued"
    small = os.urandom(1000)
    assert upload(h, image["id"], small, token=token).status_code == 204
    assert show(h, image["id"], token=token)["size"] == 1000
