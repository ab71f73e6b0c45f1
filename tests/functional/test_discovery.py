"""Version discovery, the health check and the metrics endpoint."""

from __future__ import annotations

import re


def test_root_lists_identity_v3(http, cloud):
    r = http.get("/", token=None)
    assert r.status_code == 300
    assert r.headers["x-openstack-request-id"].startswith("req-")
    values = r.json()["versions"]["values"]
    v3 = next(v for v in values if v["id"].startswith("v3"))
    assert v3["status"] == "stable"
    assert {"rel": "self", "href": f"{cloud.base_url}/identity/v3/"} in v3["links"]
    assert v3["media-types"][0]["type"] == "application/vnd.openstack.identity-v3+json"


def test_identity_root_lists_versions(http, cloud):
    r = http.get("/identity", token=None)
    assert r.status_code == 300
    (v3,) = r.json()["versions"]["values"]
    assert v3["links"][0]["href"] == f"{cloud.base_url}/identity/v3/"


def test_identity_v3_document(http, cloud):
    r = http.get("/identity/v3", token=None)
    assert r.status_code == 200
    version = r.json()["version"]
    assert re.fullmatch(r"v3\.\d+", version["id"])
    assert version["status"] == "stable"
    assert version["links"][0]["href"] == f"{cloud.base_url}/identity/v3/"
    # a trailing slash is the same document
    assert http.get("/identity/v3/", token=None).json() == r.json()


def test_links_follow_the_host_the_client_used(http, cloud):
    r = http.get("/identity/v3", token=None, headers={"Host": f"localhost:{cloud.port}"})
    assert r.json()["version"]["links"][0]["href"] == f"http://localhost:{cloud.port}/identity/v3/"


def test_healthcheck(http):
    r = http.get("/healthcheck", token=None)
    assert r.status_code == 200
    assert r.text == "OK"
    assert r.headers["x-openstack-request-id"]


def _counter(text: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith("nubo_api_requests_total{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_count_requests(http):
    before = http.get("/metrics", token=None)
    assert before.status_code == 200
    assert before.headers["content-type"].startswith("text/plain")
    assert re.search(r"^# TYPE nubo_api_requests(_total)? counter$", before.text, re.M)
    assert "nubo_api_request_duration_seconds_bucket" in before.text
    labels = {"service": "identity", "route": "/v3", "method": "GET", "status": "200"}
    count = _counter(before.text, **labels)
    for _ in range(3):
        http.get("/identity/v3", token=None)
    http.get("users", token=None)  # 401, counted under its own status
    after = http.get("/metrics", token=None).text
    assert _counter(after, **labels) == count + 3
    assert _counter(after, service="identity", route="/v3/users", method="GET", status="401") >= 1


def test_unknown_path_is_404_in_keystone_shape(http):
    r = http.get("/no-such-service", token=None)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == 404
    assert r.headers["x-openstack-request-id"]


def test_links_follow_the_host_asked_for_and_ignore_untrusted_forwarding(http):
    r = http.get(
        "/identity/v3",
        token=None,
        headers={
            "Host": "cloud.example:5000",
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "https",
        },
    )
    href = r.json()["version"]["links"][0]["href"]
    assert href == "http://cloud.example:5000/identity/v3/"
