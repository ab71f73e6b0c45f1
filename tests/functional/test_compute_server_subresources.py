"""What hangs off a server (fake compute driver): metadata, tags (2.26+), addresses
(/ips), interfaces (/os-interface: attach by network or port, detach), instance
actions with 2.58 paging, the server password, Nova's error shapes and another
project's server (404)."""

from __future__ import annotations

from typing import Any

from .compute import SERVERS, other_project, server_body, v, wait_for, wait_gone


def fault(response: Any, status: int, key: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()[key]
    assert body["code"] == status
    message: str = body["message"]
    return message


# -- metadata ----------------------------------------------------------------------------


def test_metadata_crud(boot, demo_conn, http) -> None:
    server = boot(metadata={"a": "1"})
    token = demo_conn.auth_token
    url = f"{SERVERS}/{server['id']}/metadata"
    assert http.get(url, token=token).json() == {"metadata": {"a": "1"}}
    r = http.post(url, token=token, json={"metadata": {"b": "2"}})
    assert r.status_code == 200, r.text
    assert r.json() == {"metadata": {"a": "1", "b": "2"}}
    r = http.put(f"{url}/c", token=token, json={"meta": {"c": "3"}})
    assert r.status_code == 200, r.text
    assert r.json() == {"meta": {"c": "3"}}
    assert http.get(f"{url}/c", token=token).json() == {"meta": {"c": "3"}}
    assert http.delete(f"{url}/a", token=token).status_code == 204
    assert "Metadata item was not found" in fault(
        http.get(f"{url}/a", token=token), 404, "itemNotFound"
    )
    assert "not found" in fault(http.delete(f"{url}/a", token=token), 404, "itemNotFound")
    r = http.put(url, token=token, json={"metadata": {"only": "this"}})
    assert r.json() == {"metadata": {"only": "this"}}
    assert server_body(http, token, server["id"])["metadata"] == {"only": "this"}
    # the SDK sees the same
    assert demo_conn.compute.get_server_metadata(server["id"]).metadata == {"only": "this"}


def test_metadata_validation(boot, demo_conn, http) -> None:
    server = boot()
    token = demo_conn.auth_token
    url = f"{SERVERS}/{server['id']}/metadata"
    message = fault(
        http.put(f"{url}/k", token=token, json={"meta": {"other": "v"}}), 400, "badRequest"
    )
    assert message == "Request body and URI mismatch"
    message = fault(
        http.put(f"{url}/k", token=token, json={"meta": {"k": "v", "j": "w"}}), 400, "badRequest"
    )
    assert "too many items" in message
    fault(http.post(url, token=token, json={"metadata": {"k": 1}}), 400, "badRequest")
    fault(http.post(url, token=token, json={"metadata": {"bad/key": "v"}}), 400, "badRequest")
    fault(http.post(url, token=token, json={"metadata": {"k": "v" * 256}}), 400, "badRequest")
    fault(http.post(url, token=token, json={"other": {}}), 400, "badRequest")


def test_metadata_quota(boot, admin_conn, demo_conn, http) -> None:
    server = boot()
    project = demo_conn.current_project_id
    admin_conn.compute.update_quota_set(project, metadata_items=2)
    try:
        url = f"{SERVERS}/{server['id']}/metadata"
        r = http.post(url, token=demo_conn.auth_token, json={"metadata": {"a": "1", "b": "2"}})
        assert r.status_code == 200, r.text
        message = fault(
            http.post(url, token=demo_conn.auth_token, json={"metadata": {"c": "3"}}),
            403,
            "forbidden",
        )
        assert "metadata items" in message
    finally:
        admin_conn.compute.revert_quota_set(project)


def test_metadata_of_a_locked_or_stopped_server(boot, demo_conn, http) -> None:
    server = boot()
    token, sid = demo_conn.auth_token, server["id"]
    url = f"{SERVERS}/{sid}/metadata"
    http.post(f"{SERVERS}/{sid}/action", token=token, json={"lock": None})
    message = fault(
        http.post(url, token=token, json={"metadata": {"a": "1"}}), 409, "conflictingRequest"
    )
    assert message == f"Instance {sid} is locked"
    http.post(f"{SERVERS}/{sid}/action", token=token, json={"unlock": None})
    http.post(f"{SERVERS}/{sid}/action", token=token, json={"os-stop": None})
    wait_for(http, token, sid, "SHUTOFF")
    r = http.post(url, token=token, json={"metadata": {"a": "1"}})
    assert r.status_code == 200, r.text


# -- tags --------------------------------------------------------------------------------


def test_tags(boot, demo_conn, http) -> None:
    server = boot()
    token = demo_conn.auth_token
    url = f"{SERVERS}/{server['id']}/tags"
    new = v("2.26")
    assert http.get(url, token=token, headers=new).json() == {"tags": []}
    r = http.put(url, token=token, headers=new, json={"tags": ["a", "b"]})
    assert r.status_code == 200, r.text
    assert r.json() == {"tags": ["a", "b"]}
    r = http.put(f"{url}/c", token=token, headers=new)
    assert r.status_code == 201, r.text
    assert r.headers["location"].endswith(f"/servers/{server['id']}/tags/c")
    assert http.put(f"{url}/c", token=token, headers=new).status_code == 204
    assert http.get(f"{url}/c", token=token, headers=new).status_code == 204
    assert http.get(f"{url}/zz", token=token, headers=new).status_code == 404
    assert http.delete(f"{url}/a", token=token, headers=new).status_code == 204
    assert http.delete(f"{url}/a", token=token, headers=new).status_code == 404
    assert sorted(http.get(url, token=token, headers=new).json()["tags"]) == ["b", "c"]
    assert server_body(http, token, server["id"])["tags"] == ["b", "c"]
    assert http.delete(url, token=token, headers=new).status_code == 204
    assert http.get(url, token=token, headers=new).json() == {"tags": []}
    # before 2.26 there are no tags
    assert http.get(url, token=token, headers=v("2.25")).status_code == 404


def test_tag_limits_and_validation(boot, demo_conn, http) -> None:
    server = boot()
    token = demo_conn.auth_token
    url = f"{SERVERS}/{server['id']}/tags"
    new = v("2.26")
    r = http.put(url, token=token, headers=new, json={"tags": [f"t{i}" for i in range(51)]})
    fault(r, 400, "badRequest")
    r = http.put(url, token=token, headers=new, json={"tags": [f"t{i}" for i in range(50)]})
    assert r.status_code == 200
    assert "limit 50" in fault(http.put(f"{url}/more", token=token, headers=new), 400, "badRequest")
    fault(http.put(f"{url}/a,b", token=token, headers=new), 400, "badRequest")
    fault(http.put(url, token=token, headers=new, json={"tags": ["x" * 61]}), 400, "badRequest")


# -- addresses and interfaces -------------------------------------------------------------


def test_ips(boot, demo_conn, http) -> None:
    net = demo_conn.network.find_network("private")
    server = boot(networks=[{"uuid": net.id}])
    token = demo_conn.auth_token
    body = http.get(f"{SERVERS}/{server['id']}/ips", token=token).json()
    (entry,) = body["addresses"]["private"]
    assert set(entry) == {"version", "addr"}
    assert entry["addr"] == server["addresses"]["private"][0]["addr"]
    one = http.get(f"{SERVERS}/{server['id']}/ips/private", token=token).json()
    assert one == {"private": body["addresses"]["private"]}
    message = fault(
        http.get(f"{SERVERS}/{server['id']}/ips/elsewhere", token=token), 404, "itemNotFound"
    )
    assert "not a member" in message


def test_attach_and_detach_interfaces(boot, demo_conn, http, unique) -> None:
    net = demo_conn.network.find_network("private")
    server = boot(networks=[{"uuid": net.id}])
    token, sid = demo_conn.auth_token, server["id"]
    url = f"{SERVERS}/{sid}/os-interface"
    (first,) = http.get(url, token=token).json()["interfaceAttachments"]
    assert first["net_id"] == net.id
    assert first["fixed_ips"][0]["ip_address"]
    # a port made on a network
    r = http.post(url, token=token, json={"interfaceAttachment": {"net_id": net.id}})
    assert r.status_code == 200, r.text
    made = r.json()["interfaceAttachment"]
    assert made["net_id"] == net.id
    assert made["port_id"] != first["port_id"]
    wait_for(http, token, sid, "ACTIVE")
    assert len(server_body(http, token, sid)["addresses"]["private"]) == 2
    # a port the user made
    own = demo_conn.network.create_port(network_id=net.id, name=unique("port"))
    try:
        attached = demo_conn.compute.create_server_interface(sid, port_id=own.id)
        assert attached.port_id == own.id
        wait_for(http, token, sid, "ACTIVE")
        ids = {i.port_id for i in demo_conn.compute.server_interfaces(sid)}
        assert ids == {first["port_id"], made["port_id"], own.id}
        shown = http.get(f"{url}/{own.id}", token=token).json()["interfaceAttachment"]
        assert shown["mac_addr"] == own.mac_address
        # in use elsewhere: 409
        r = http.post(url, token=token, json={"interfaceAttachment": {"port_id": own.id}})
        assert r.status_code == 409, r.text
        assert http.delete(f"{url}/{own.id}", token=token).status_code == 202
        wait_for(http, token, sid, "ACTIVE")
        kept = demo_conn.network.get_port(own.id)
        assert kept.device_id == ""
        assert http.delete(f"{url}/{made['port_id']}", token=token).status_code == 202
        wait_for(http, token, sid, "ACTIVE")
        assert demo_conn.network.find_port(made["port_id"]) is None
        remaining = http.get(url, token=token).json()["interfaceAttachments"]
        assert [i["port_id"] for i in remaining] == [first["port_id"]]
        fault(http.get(f"{url}/{own.id}", token=token), 404, "itemNotFound")
        fault(http.delete(f"{url}/{own.id}", token=token), 404, "itemNotFound")
    finally:
        demo_conn.network.delete_port(own.id, ignore_missing=True)


def test_bad_interface_requests(boot, demo_conn, http) -> None:
    net = demo_conn.network.find_network("private")
    server = boot(networks=[{"uuid": net.id}])
    token = demo_conn.auth_token
    url = f"{SERVERS}/{server['id']}/os-interface"
    fault(
        http.post(
            url,
            token=token,
            json={"interfaceAttachment": {"net_id": net.id, "port_id": net.id}},
        ),
        400,
        "badRequest",
    )
    fault(
        http.post(
            url,
            token=token,
            json={"interfaceAttachment": {"fixed_ips": [{"ip_address": "10.0.0.99"}]}},
        ),
        400,
        "badRequest",
    )
    missing = "00000000-0000-0000-0000-000000000000"
    fault(
        http.post(url, token=token, json={"interfaceAttachment": {"net_id": missing}}),
        404,
        "itemNotFound",
    )
    fault(
        http.post(url, token=token, json={"interfaceAttachment": {"port_id": missing}}),
        404,
        "itemNotFound",
    )


# -- instance actions, password ----------------------------------------------------------


def test_instance_actions_paging(boot, demo_conn, http) -> None:
    server = boot()
    token, sid = demo_conn.auth_token, server["id"]
    for body, status in (({"os-stop": None}, "SHUTOFF"), ({"os-start": None}, "ACTIVE")):
        http.post(f"{SERVERS}/{sid}/action", token=token, json=body)
        wait_for(http, token, sid, status)
    url = f"{SERVERS}/{sid}/os-instance-actions"
    every = http.get(url, token=token, headers=v("2.58")).json()["instanceActions"]
    assert [a["action"] for a in every] == ["start", "stop", "create"]
    assert all(a["updated_at"] for a in every)
    page = http.get(url, token=token, headers=v("2.58"), params={"limit": 2}).json()
    assert [a["action"] for a in page["instanceActions"]] == ["start", "stop"]
    assert page["links"][0]["rel"] == "next"
    rest = http.get(
        url,
        token=token,
        headers=v("2.58"),
        params={"limit": 2, "marker": page["instanceActions"][-1]["request_id"]},
    ).json()
    assert [a["action"] for a in rest["instanceActions"]] == ["create"]
    r = http.get(url, token=token, headers=v("2.58"), params={"marker": "req-unknown"})
    fault(r, 400, "badRequest")
    old = http.get(url, token=token).json()["instanceActions"][0]
    assert "updated_at" not in old


def test_deleted_servers_actions_stay_readable(boot, demo_conn, http) -> None:
    sid = boot()["id"]
    demo_conn.compute.delete_server(sid)
    wait_gone(http, demo_conn.auth_token, sid)
    url = f"{SERVERS}/{sid}/os-instance-actions"
    listed = http.get(url, token=demo_conn.auth_token, headers=v("2.21")).json()
    assert [a["action"] for a in listed["instanceActions"]] == ["delete", "create"]
    assert http.get(url, token=demo_conn.auth_token, headers=v("2.20")).status_code == 404


def test_server_password(boot, demo_conn, http) -> None:
    server = boot()
    url = f"{SERVERS}/{server['id']}/os-server-password"
    assert http.get(url, token=demo_conn.auth_token).json() == {"password": ""}
    assert http.delete(url, token=demo_conn.auth_token).status_code == 204


def test_another_projects_server_is_404(boot, admin_conn, http, unique) -> None:
    server = boot()
    other = other_project(admin_conn, unique)
    try:
        token = other.auth_token
        sid = server["id"]
        for method, path, kwargs in (
            ("GET", f"{SERVERS}/{sid}/metadata", {}),
            ("POST", f"{SERVERS}/{sid}/metadata", {"json": {"metadata": {"a": "b"}}}),
            ("GET", f"{SERVERS}/{sid}/tags", {"headers": v("2.26")}),
            ("PUT", f"{SERVERS}/{sid}/tags/x", {"headers": v("2.26")}),
            ("GET", f"{SERVERS}/{sid}/ips", {}),
            ("GET", f"{SERVERS}/{sid}/os-interface", {}),
            ("GET", f"{SERVERS}/{sid}/os-instance-actions", {}),
            ("GET", f"{SERVERS}/{sid}/os-server-password", {}),
        ):
            r = http.request(method, path, token=token, **kwargs)
            assert r.status_code == 404, (method, path, r.text)
            assert r.json()["itemNotFound"]["code"] == 404
    finally:
        other.close()
