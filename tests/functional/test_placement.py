"""The Placement API over real HTTP: version discovery and microversions, resource
providers, inventories, aggregates, traits, resource classes, allocations, usages,
allocation candidates and the reshaper; generation conflicts, error bodies and
policy; parallel claims that must never overbook (on SQLite and PostgreSQL); and the
``openstack resource provider ...`` commands of osc-placement."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from nubo.config import Config
from nubo.db.engine import Database
from nubo.errors import Conflict
from nubo.placement.service import PlacementService

PL = "/placement"
LATEST = "1.39"


def new_uuid() -> str:
    return str(uuid.uuid4())


def call(
    http: Any, method: str, path: str, version: str | None = LATEST, **kwargs: Any
) -> httpx.Response:
    headers = dict(kwargs.pop("headers", {}))
    if version is not None:
        headers["OpenStack-API-Version"] = f"placement {version}"
    return http.request(method, PL + path, headers=headers, **kwargs)


def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r.json() if r.content else None


def error(r: httpx.Response, status: int, code: str | None = None) -> str:
    """Assert a placement error body; return its detail."""
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    errors = r.json()["errors"]
    assert len(errors) == 1
    err = errors[0]
    assert err["status"] == status
    assert err["request_id"] == r.headers["x-openstack-request-id"]
    assert err["title"] and err["detail"]
    if code is not None:
        assert err["code"] == code, err
    return str(err["detail"])


class Providers:
    """Creates providers for a test and removes them (and their consumers) after it."""

    def __init__(self, http: Any, unique: Callable[[str], str]) -> None:
        self.http = http
        self.unique = unique
        self.made: list[str] = []
        self.consumers: list[str] = []

    def make(
        self, name: str | None = None, parent: str | None = None, **stock: int | dict[str, Any]
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name or self.unique("rp")}
        if parent:
            body["parent_provider_uuid"] = parent
        rp: dict[str, Any] = ok(call(self.http, "POST", "/resource_providers", json=body))
        self.made.append(rp["uuid"])
        if stock:
            inventories = {
                rc: spec if isinstance(spec, dict) else {"total": spec}
                for rc, spec in stock.items()
            }
            put = {"resource_provider_generation": rp["generation"], "inventories": inventories}
            done = ok(
                call(self.http, "PUT", f"/resource_providers/{rp['uuid']}/inventories", json=put)
            )
            rp["generation"] = done["resource_provider_generation"]
        return rp

    def consumer(self) -> str:
        self.consumers.append(new_uuid())
        return self.consumers[-1]

    def cleanup(self) -> None:
        for consumer in self.consumers:
            call(self.http, "DELETE", f"/allocations/{consumer}")
        for rp in reversed(self.made):
            call(self.http, "DELETE", f"/resource_providers/{rp}")


@pytest.fixture
def rps(http: Any, unique: Callable[[str], str]) -> Iterator[Providers]:
    made = Providers(http, unique)
    yield made
    made.cleanup()


def alloc_body(
    amounts: dict[str, dict[str, int]],
    generation: int | None = None,
    project: str = "proj-a",
    user: str = "user-a",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "allocations": {rp: {"resources": res} for rp, res in amounts.items()},
        "project_id": project,
        "user_id": user,
        "consumer_generation": generation,
        **extra,
    }


# -- discovery and microversions ----------------------------------------------------------


def test_version_document_needs_no_token(http):
    for path in ("", "/"):
        r = call(http, "GET", path, version=None, token=None)
        body = ok(r)
        (version,) = body["versions"]
        assert version["id"] == "v1.0"
        assert (version["min_version"], version["max_version"]) == ("1.0", LATEST)
        assert version["status"] == "CURRENT"
        assert r.headers["openstack-api-version"] == "placement 1.0"
    r = call(http, "GET", "", version="latest", token=None)
    assert r.headers["openstack-api-version"] == f"placement {LATEST}"
    assert "OpenStack-API-Version" in r.headers["vary"]


def test_unsupported_microversion_names_the_range(http):
    r = call(http, "GET", "/resource_providers", version="1.99")
    error(r, 406)
    err = r.json()["errors"][0]
    assert (err["min_version"], err["max_version"]) == ("1.0", LATEST)
    error(call(http, "GET", "/resource_providers", version="one"), 400)


def test_routes_newer_than_the_request_do_not_exist(http):
    error(call(http, "GET", "/traits", version="1.5"), 404)
    error(call(http, "GET", "/resource_classes", version="1.1"), 404)
    error(call(http, "GET", "/usages?project_id=x", version="1.8"), 404)
    error(call(http, "GET", "/allocation_candidates?resources=VCPU:1", version="1.9"), 404)
    error(call(http, "POST", "/allocations", version="1.12", json={}), 404)
    error(call(http, "POST", "/reshaper", version="1.29", json={}), 404)


# -- resource providers -------------------------------------------------------------------


def test_provider_create_show_update_delete(http, rps, unique):
    name = unique("rp")
    r = call(http, "POST", "/resource_providers", json={"name": name})
    rp = ok(r)
    rps.made.append(rp["uuid"])
    assert r.headers["location"].endswith(f"/placement/resource_providers/{rp['uuid']}")
    assert rp["name"] == name and rp["generation"] == 0
    assert rp["parent_provider_uuid"] is None and rp["root_provider_uuid"] == rp["uuid"]
    rels = [link["rel"] for link in rp["links"]]
    assert rels == ["self", "aggregates", "inventories", "usages", "traits", "allocations"]
    assert rp["links"][0]["href"] == f"/placement/resource_providers/{rp['uuid']}"

    shown = call(http, "GET", f"/resource_providers/{rp['uuid']}")
    assert ok(shown) == rp
    assert shown.headers["cache-control"] == "no-cache" and shown.headers["last-modified"]
    old = ok(call(http, "GET", f"/resource_providers/{rp['uuid']}", version="1.0"))
    assert set(old) == {"uuid", "name", "generation", "links"}
    assert [link["rel"] for link in old["links"]] == ["self", "inventories", "usages"]

    renamed = ok(call(http, "PUT", f"/resource_providers/{rp['uuid']}", json={"name": name + "x"}))
    assert renamed["name"] == name + "x"
    listed = ok(call(http, "GET", f"/resource_providers?name={name}x"))["resource_providers"]
    assert [p["uuid"] for p in listed] == [rp["uuid"]]

    ok(call(http, "DELETE", f"/resource_providers/{rp['uuid']}"), 204)
    error(call(http, "GET", f"/resource_providers/{rp['uuid']}"), 404)
    error(call(http, "DELETE", f"/resource_providers/{rp['uuid']}"), 404)


def test_create_before_1_20_answers_201_with_a_location(http, rps, unique):
    wanted = new_uuid()
    r = call(
        http,
        "POST",
        "/resource_providers",
        version="1.0",
        json={"name": unique("rp"), "uuid": wanted},
    )
    assert r.status_code == 201, r.text
    assert r.content == b""
    rps.made.append(wanted)
    assert r.headers["location"].endswith(f"/resource_providers/{wanted}")
    assert ok(http.get(r.headers["location"]))["uuid"] == wanted


def test_duplicate_names_and_uuids_conflict(http, rps):
    rp = rps.make()
    r = call(http, "POST", "/resource_providers", json={"name": rp["name"]})
    assert "already exists" in error(r, 409, "placement.duplicate_name")
    r = call(http, "POST", "/resource_providers", json={"name": "other", "uuid": rp["uuid"]})
    error(r, 409, "placement.duplicate_name")
    other = rps.make()
    r = call(http, "PUT", f"/resource_providers/{other['uuid']}", json={"name": rp["name"]})
    error(r, 409, "placement.duplicate_name")


def test_bad_provider_bodies_are_400(http, rps):
    for bad in (
        {},
        {"name": ""},
        {"name": "x" * 201},
        {"name": "n", "uuid": "not-a-uuid"},
        {"name": "n", "color": "red"},
        {"name": 5},
        [],
    ):
        error(call(http, "POST", "/resource_providers", json=bad), 400)
    error(
        call(
            http,
            "POST",
            "/resource_providers",
            content=b"{nope",
            headers={"content-type": "application/json"},
        ),
        400,
    )
    r = call(
        http, "POST", "/resource_providers", json={"name": "n", "parent_provider_uuid": new_uuid()}
    )
    assert "parent provider" in error(r, 400)
    # a parent only exists from 1.14
    r = call(
        http,
        "POST",
        "/resource_providers",
        version="1.13",
        json={"name": "n", "parent_provider_uuid": None},
    )
    error(r, 400)


def test_unknown_provider_is_404_everywhere(http):
    missing = new_uuid()
    for path in (
        "",
        "/inventories",
        "/inventories/VCPU",
        "/usages",
        "/aggregates",
        "/traits",
        "/allocations",
    ):
        error(call(http, "GET", f"/resource_providers/{missing}{path}"), 404)
    error(call(http, "GET", "/resource_providers/not-a-uuid"), 404)
    body = {"resource_provider_generation": 0, "inventories": {}}
    error(call(http, "PUT", f"/resource_providers/{missing}/inventories", json=body), 404)


def test_provider_trees(http, rps):
    root = rps.make()
    child = rps.make(parent=root["uuid"])
    grandchild = rps.make(parent=child["uuid"])
    assert grandchild["root_provider_uuid"] == root["uuid"]
    tree = ok(call(http, "GET", f"/resource_providers?in_tree={grandchild['uuid']}"))
    assert {p["uuid"] for p in tree["resource_providers"]} == {
        root["uuid"],
        child["uuid"],
        grandchild["uuid"],
    }
    r = call(http, "DELETE", f"/resource_providers/{root['uuid']}")
    error(r, 409, "placement.resource_provider.cannot_delete_parent")
    # moving a provider needs 1.37; a loop is refused
    body = {"name": grandchild["name"], "parent_provider_uuid": root["uuid"]}
    error(
        call(http, "PUT", f"/resource_providers/{grandchild['uuid']}", version="1.36", json=body),
        400,
    )
    moved = ok(call(http, "PUT", f"/resource_providers/{grandchild['uuid']}", json=body))
    assert moved["parent_provider_uuid"] == root["uuid"]
    loop = {"name": root["name"], "parent_provider_uuid": child["uuid"]}
    assert "loop" in error(call(http, "PUT", f"/resource_providers/{root['uuid']}", json=loop), 400)


# -- inventories --------------------------------------------------------------------------


def test_inventories_and_generations(http, rps):
    rp = rps.make()
    path = f"/resource_providers/{rp['uuid']}/inventories"
    body = {
        "resource_provider_generation": 0,
        "inventories": {
            "VCPU": {"total": 8, "allocation_ratio": 4.0, "max_unit": 8},
            "MEMORY_MB": {"total": 4096, "reserved": 512},
        },
    }
    done = ok(call(http, "PUT", path, json=body))
    assert done["resource_provider_generation"] == 1
    assert done["inventories"]["MEMORY_MB"] == {
        "total": 4096,
        "reserved": 512,
        "min_unit": 1,
        "max_unit": 2147483647,
        "step_size": 1,
        "allocation_ratio": 1.0,
    }
    # the generation the client saw is stale now
    r = call(http, "PUT", path, json=body)
    assert "generation" in error(r, 409, "placement.concurrent_update")

    one = ok(call(http, "GET", f"{path}/VCPU"))
    assert one["total"] == 8 and one["resource_provider_generation"] == 1
    update = {"resource_provider_generation": 1, "total": 16, "max_unit": 16}
    assert ok(call(http, "PUT", f"{path}/VCPU", json=update))["total"] == 16
    error(
        call(http, "PUT", f"{path}/DISK_GB", json={**update, "resource_provider_generation": 2}),
        400,
    )

    r = call(http, "POST", path, json={"resource_class": "DISK_GB", "total": 100})
    created = ok(r, 201)
    assert r.headers["location"].endswith(f"{path}/DISK_GB")
    assert created["total"] == 100 and created["resource_provider_generation"] == 3
    error(call(http, "POST", path, json={"resource_class": "DISK_GB", "total": 5}), 409)
    ok(call(http, "DELETE", f"{path}/DISK_GB"), 204)
    error(call(http, "GET", f"{path}/DISK_GB"), 404)
    error(call(http, "DELETE", f"{path}/DISK_GB"), 404)

    listed = ok(call(http, "GET", path))
    assert set(listed["inventories"]) == {"VCPU", "MEMORY_MB"}
    assert listed["resource_provider_generation"] == 4
    error(call(http, "DELETE", path, version="1.4"), 405)
    ok(call(http, "DELETE", path), 204)
    assert ok(call(http, "GET", path))["inventories"] == {}


def test_bad_inventories_are_400(http, rps):
    rp = rps.make()
    path = f"/resource_providers/{rp['uuid']}/inventories"
    for inventory in (
        {"total": 0},
        {"total": 4, "reserved": 5},
        {"total": 4, "reserved": -1},
        {"total": 4, "step_size": 0},
        {"total": 4, "min_unit": 3, "max_unit": 2},
        {"total": "four"},
        {"reserved": 1},
        {"total": 4, "colour": 1},
    ):
        body = {"resource_provider_generation": 0, "inventories": {"VCPU": inventory}}
        error(call(http, "PUT", path, json=body), 400)
    body = {"resource_provider_generation": 0, "inventories": {"CUSTOM_NONE_SUCH": {"total": 1}}}
    assert "CUSTOM_NONE_SUCH" in error(call(http, "PUT", path, json=body), 400)
    error(call(http, "PUT", path, json={"inventories": {}}), 400)
    # reserved may equal total only from 1.26
    full = {"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 4, "reserved": 4}}}
    error(call(http, "PUT", path, version="1.25", json=full), 400)
    ok(call(http, "PUT", path, version="1.26", json=full))


# -- allocations --------------------------------------------------------------------------


def test_allocation_lifecycle(http, rps):
    rp = rps.make(VCPU={"total": 4, "max_unit": 4}, MEMORY_MB=2048)
    consumer = rps.consumer()
    path = f"/allocations/{consumer}"
    ok(
        call(
            http,
            "PUT",
            path,
            json=alloc_body({rp["uuid"]: {"VCPU": 2, "MEMORY_MB": 512}}, consumer_type="INSTANCE"),
        ),
        204,
    )
    held = ok(call(http, "GET", path))
    assert held == {
        "allocations": {
            rp["uuid"]: {
                "generation": rp["generation"] + 1,
                "resources": {"VCPU": 2, "MEMORY_MB": 512},
            }
        },
        "consumer_generation": 1,
        "project_id": "proj-a",
        "user_id": "user-a",
        "consumer_type": "INSTANCE",
    }
    assert set(ok(call(http, "GET", path, version="1.11"))) == {"allocations"}

    usages = ok(call(http, "GET", f"/resource_providers/{rp['uuid']}/usages"))
    assert usages["usages"] == {"VCPU": 2, "MEMORY_MB": 512}
    on_rp = ok(call(http, "GET", f"/resource_providers/{rp['uuid']}/allocations"))
    assert on_rp["allocations"] == {consumer: {"resources": {"VCPU": 2, "MEMORY_MB": 512}}}
    totals = ok(call(http, "GET", "/usages?project_id=proj-a&user_id=user-a", version="1.37"))
    assert totals["usages"]["VCPU"] >= 2
    typed = ok(call(http, "GET", "/usages?project_id=proj-a&consumer_type=INSTANCE"))
    assert typed["usages"]["INSTANCE"]["consumer_count"] >= 1

    # a stale or missing consumer generation is a concurrent update
    stale = alloc_body({rp["uuid"]: {"VCPU": 1}}, 0, consumer_type="INSTANCE")
    error(call(http, "PUT", path, json=stale), 409, "placement.concurrent_update")
    fresh = alloc_body({rp["uuid"]: {"VCPU": 1}}, None, consumer_type="INSTANCE")
    error(call(http, "PUT", path, json=fresh), 409, "placement.concurrent_update")
    # beyond capacity or the unit rules
    big = alloc_body({rp["uuid"]: {"VCPU": 5}}, 1, consumer_type="INSTANCE")
    assert "max_unit" in error(call(http, "PUT", path, json=big), 409)
    other = rps.consumer()
    more = alloc_body({rp["uuid"]: {"MEMORY_MB": 1600}}, None, consumer_type="INSTANCE")
    assert "capacity" in error(call(http, "PUT", f"/allocations/{other}", json=more), 409)
    # inventory that has allocations cannot go
    inv = {
        "resource_provider_generation": rp["generation"] + 1,
        "inventories": {"VCPU": {"total": 4}},
    }
    r = call(http, "PUT", f"/resource_providers/{rp['uuid']}/inventories", json=inv)
    error(r, 409, "placement.inventory.inuse")
    error(
        call(http, "DELETE", f"/resource_providers/{rp['uuid']}"),
        409,
        "placement.resource_provider.inuse",
    )

    ok(
        call(
            http,
            "PUT",
            path,
            json=alloc_body({rp["uuid"]: {"VCPU": 1}}, 1, consumer_type="INSTANCE"),
        ),
        204,
    )
    assert ok(call(http, "GET", path))["consumer_generation"] == 2
    ok(call(http, "DELETE", path), 204)
    assert ok(call(http, "GET", path)) == {"allocations": {}}
    error(call(http, "DELETE", path), 404)


def test_allocation_bodies_follow_the_microversion(http, rps):
    rp = rps.make(VCPU=4)
    consumer = rps.consumer()
    path = f"/allocations/{consumer}"
    listed = {
        "allocations": [{"resource_provider": {"uuid": rp["uuid"]}, "resources": {"VCPU": 1}}]
    }
    ok(call(http, "PUT", path, version="1.0", json=listed), 204)
    shown = ok(call(http, "GET", path, version="1.12"))
    assert shown["project_id"] == "00000000-0000-0000-0000-000000000000"
    # 1.8 requires project and user; 1.12 takes the dict form; 1.38 a consumer type
    error(call(http, "PUT", path, version="1.8", json=listed), 400)
    error(call(http, "PUT", path, version="1.12", json=listed), 400)
    dict_form = alloc_body({rp["uuid"]: {"VCPU": 2}})
    del dict_form["consumer_generation"]
    ok(call(http, "PUT", path, version="1.12", json=dict_form), 204)
    error(call(http, "PUT", path, version="1.28", json=dict_form), 400)
    error(call(http, "PUT", path, json=alloc_body({rp["uuid"]: {"VCPU": 2}}, 2)), 400)
    for bad in (
        alloc_body({rp["uuid"]: {"VCPU": 0}}, 2, consumer_type="X"),
        alloc_body({rp["uuid"]: {"vcpu": 1}}, 2, consumer_type="X"),
        alloc_body({"not-a-uuid": {"VCPU": 1}}, 2, consumer_type="X"),
        alloc_body({rp["uuid"]: {"VCPU": 1}}, 2, consumer_type="lower"),
    ):
        error(call(http, "PUT", path, json=bad), 400)
    error(
        call(http, "PUT", "/allocations/not-a-uuid", json=alloc_body({}, None, consumer_type="X")),
        400,
    )
    r = call(http, "PUT", path, json=alloc_body({new_uuid(): {"VCPU": 1}}, 2, consumer_type="X"))
    assert "does not exist" in error(r, 400)
    # from 1.28 an empty allocations object removes them
    ok(call(http, "PUT", path, json=alloc_body({}, 2, consumer_type="X")), 204)
    assert ok(call(http, "GET", path)) == {"allocations": {}}


def test_post_allocations_writes_several_consumers_at_once(http, rps):
    rp = rps.make(VCPU=4)
    a, b = rps.consumer(), rps.consumer()
    body = {
        a: alloc_body({rp["uuid"]: {"VCPU": 2}}, None, consumer_type="INSTANCE"),
        b: alloc_body({rp["uuid"]: {"VCPU": 2}}, None, consumer_type="MIGRATION"),
    }
    ok(call(http, "POST", "/allocations", json=body), 204)
    # a move: b gives its allocation up and a takes 3; all or nothing
    move = {
        a: alloc_body({rp["uuid"]: {"VCPU": 3}}, 1, consumer_type="INSTANCE"),
        b: alloc_body({}, 1, consumer_type="MIGRATION"),
    }
    ok(call(http, "POST", "/allocations", json=move), 204)
    assert ok(call(http, "GET", f"/allocations/{b}")) == {"allocations": {}}
    too_much = {a: alloc_body({rp["uuid"]: {"VCPU": 5}}, 2, consumer_type="INSTANCE")}
    error(call(http, "POST", "/allocations", json=too_much), 409)
    assert ok(call(http, "GET", f"/allocations/{a}"))["allocations"][rp["uuid"]]["resources"] == {
        "VCPU": 3
    }
    error(call(http, "POST", "/allocations", json={}), 400)


def test_usages_need_a_project(http):
    error(call(http, "GET", "/usages"), 400)
    error(call(http, "GET", "/usages?project_id=p&consumer_type=lower"), 400)
    assert ok(call(http, "GET", f"/usages?project_id={new_uuid()}")) == {"usages": {}}


def test_parallel_allocations_never_overbook(http, rps):
    """Many clients claim one VCPU each at the same moment: exactly the capacity wins,
    the rest get 409 (row locks and generations on PostgreSQL, serialised writes on
    SQLite)."""
    rp = rps.make(VCPU=4)
    consumers = [rps.consumer() for _ in range(10)]
    token = http.admin_token

    def claim(consumer: str) -> int:
        with httpx.Client(base_url=http.cloud.base_url, timeout=60) as client:
            r = client.put(
                f"{PL}/allocations/{consumer}",
                json=alloc_body({rp["uuid"]: {"VCPU": 1}}, None, consumer_type="INSTANCE"),
                headers={"X-Auth-Token": token, "OpenStack-API-Version": f"placement {LATEST}"},
            )
            return r.status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = sorted(pool.map(claim, consumers))
    assert codes == [204] * 4 + [409] * 6
    usages = ok(call(http, "GET", f"/resource_providers/{rp['uuid']}/usages"))
    assert usages["usages"]["VCPU"] == 4


@pytest.fixture(scope="module")
def live(cloud: Any) -> Iterator[PlacementService]:
    """The placement service layer on the running cloud's database."""
    cfg = Config(data_dir=str(cloud.data_dir))
    cfg.database.url = cloud.database_url
    db = Database(cfg.database_url)
    try:
        yield PlacementService(cfg, db)
    finally:
        db.dispose()


def test_a_claim_waits_for_the_one_before_it(live, rps):
    """Two transactions claim the last VCPU: the second, started while the first holds
    its claim uncommitted, must see it once it may go on and fail, never overbook."""
    rp = rps.make(VCPU=1)
    first, second = rps.consumer(), rps.consumer()
    started = threading.Event()
    outcome: list[str] = []

    def other() -> None:
        started.set()
        try:
            with live.db.session() as s:
                live.claim(s, second, "p", "u", {rp["uuid"]: {"VCPU": 1}})
            outcome.append("claimed")
        except Conflict:
            outcome.append("conflict")

    with live.db.session() as s:
        live.claim(s, first, "p", "u", {rp["uuid"]: {"VCPU": 1}})
        thread = threading.Thread(target=other)
        thread.start()
        started.wait()
        time.sleep(0.5)  # let it reach the provider row while this claim is uncommitted
    thread.join()
    assert outcome == ["conflict"]
    with live.db.reader() as s:
        assert live.allocations_of(s, first) == {rp["uuid"]: {"VCPU": 1}}
        assert live.allocations_of(s, second) == {}


# -- aggregates, traits, resource classes -------------------------------------------------


def test_aggregates_with_generations(http, rps):
    rp = rps.make()
    path = f"/resource_providers/{rp['uuid']}/aggregates"
    agg1, agg2 = new_uuid(), new_uuid()
    assert ok(call(http, "GET", path)) == {"aggregates": [], "resource_provider_generation": 0}
    done = ok(
        call(http, "PUT", path, json={"aggregates": [agg1], "resource_provider_generation": 0})
    )
    assert done == {"aggregates": [agg1], "resource_provider_generation": 1}
    stale = {"aggregates": [agg2], "resource_provider_generation": 0}
    error(call(http, "PUT", path, json=stale), 409, "placement.concurrent_update")
    # before 1.19 the body is a bare list and no generation is shown
    assert ok(call(http, "PUT", path, version="1.1", json=[agg1, agg2])) == {
        "aggregates": sorted([agg1, agg2])
    }
    error(call(http, "PUT", path, version="1.1", json=["nope"]), 400)
    error(call(http, "GET", path, version="1.0"), 404)
    members = ok(call(http, "GET", f"/resource_providers?member_of=in:{agg2},{new_uuid()}"))
    assert [p["uuid"] for p in members["resource_providers"]] == [rp["uuid"]]
    outside = ok(call(http, "GET", f"/resource_providers?member_of=!{agg2}&name={rp['name']}"))
    assert outside["resource_providers"] == []
    error(call(http, "GET", "/resource_providers?member_of=bogus"), 400)


def test_traits(http, rps, unique):
    name = "CUSTOM_" + unique("t").upper().replace("-", "_")
    ok(call(http, "PUT", f"/traits/{name}"), 201)
    ok(call(http, "PUT", f"/traits/{name}"), 204)
    ok(call(http, "GET", f"/traits/{name}"), 204)
    error(call(http, "GET", "/traits/CUSTOM_NOT_THERE"), 404)
    error(call(http, "PUT", "/traits/lower_case"), 400)
    assert ok(call(http, "GET", f"/traits?name=startswith:{name}"))["traits"] == [name]
    assert "HW_CPU_X86_AVX2" in ok(call(http, "GET", "/traits"))["traits"]
    error(call(http, "GET", "/traits?name=HW"), 400)

    rp = rps.make()
    path = f"/resource_providers/{rp['uuid']}/traits"
    body = {"traits": [name, "HW_CPU_X86_AVX2"], "resource_provider_generation": 0}
    done = ok(call(http, "PUT", path, json=body))
    assert done == {"traits": sorted([name, "HW_CPU_X86_AVX2"]), "resource_provider_generation": 1}
    error(call(http, "PUT", path, json=body), 409, "placement.concurrent_update")
    unknown = {"traits": ["CUSTOM_NOT_THERE"], "resource_provider_generation": 1}
    assert "CUSTOM_NOT_THERE" in error(call(http, "PUT", path, json=unknown), 400)
    assert name in ok(call(http, "GET", "/traits?associated=true"))["traits"]
    found = ok(call(http, "GET", f"/resource_providers?required={name},!COMPUTE_NODE"))
    assert [p["uuid"] for p in found["resource_providers"]] == [rp["uuid"]]
    any_of = ok(call(http, "GET", f"/resource_providers?required=in:HW_CPU_X86_SSE,{name}"))
    assert [p["uuid"] for p in any_of["resource_providers"]] == [rp["uuid"]]
    error(call(http, "GET", f"/resource_providers?required=in:{name}", version="1.38"), 400)
    error(call(http, "GET", "/resource_providers?required=CUSTOM_NOPE_NOPE"), 400)
    error(call(http, "GET", f"/resource_providers?required=!{name}", version="1.21"), 400)
    error(call(http, "DELETE", f"/traits/{name}"), 409)
    error(call(http, "DELETE", "/traits/HW_CPU_X86_AVX2"), 400)
    ok(call(http, "DELETE", path), 204)
    assert ok(call(http, "GET", path))["traits"] == []
    ok(call(http, "DELETE", f"/traits/{name}"), 204)


def test_resource_classes(http, rps, unique):
    name = "CUSTOM_" + unique("rc").upper().replace("-", "_")
    r = call(http, "POST", "/resource_classes", json={"name": name})
    ok(r, 201)
    assert r.headers["location"].endswith(f"/resource_classes/{name}")
    error(
        call(http, "POST", "/resource_classes", json={"name": name}),
        409,
        "placement.duplicate_name",
    )
    error(call(http, "POST", "/resource_classes", json={"name": "GPU"}), 400)
    shown = ok(call(http, "GET", f"/resource_classes/{name}"))
    assert shown == {
        "name": name,
        "links": [{"rel": "self", "href": f"/placement/resource_classes/{name}"}],
    }
    listed = [c["name"] for c in ok(call(http, "GET", "/resource_classes"))["resource_classes"]]
    assert listed[:3] == ["VCPU", "MEMORY_MB", "DISK_GB"] and name in listed
    # rename before 1.7; from 1.7 PUT creates
    ok(call(http, "PUT", f"/resource_classes/{name}", version="1.6", json={"name": name + "_B"}))
    error(call(http, "GET", f"/resource_classes/{name}"), 404)
    ok(call(http, "PUT", f"/resource_classes/{name}"), 201)
    ok(call(http, "PUT", f"/resource_classes/{name}"), 204)
    rp = rps.make(**{name: 3})
    error(call(http, "DELETE", f"/resource_classes/{name}"), 409)
    error(call(http, "DELETE", "/resource_classes/VCPU"), 400)
    ok(call(http, "DELETE", f"/resource_providers/{rp['uuid']}/inventories"), 204)
    ok(call(http, "DELETE", f"/resource_classes/{name}"), 204)
    ok(call(http, "DELETE", f"/resource_classes/{name}_B"), 204)


# -- searching ----------------------------------------------------------------------------


@pytest.fixture
def custom_class(http: Any) -> None:
    """Custom classes only these tests use, so searches find only their providers."""
    for name in ("CUSTOM_PLACEMENT_FT_A", "CUSTOM_PLACEMENT_FT_B"):
        assert call(http, "PUT", f"/resource_classes/{name}").status_code in (201, 204)


def test_provider_filter_by_resources(http, rps, custom_class):
    small = rps.make(VCPU=1, CUSTOM_PLACEMENT_FT_A={"total": 1})
    big = rps.make(VCPU=64, CUSTOM_PLACEMENT_FT_A={"total": 8})
    found = ok(call(http, "GET", "/resource_providers?resources=CUSTOM_PLACEMENT_FT_A:2,VCPU:2"))
    assert [p["uuid"] for p in found["resource_providers"]] == [big["uuid"]]
    assert small["uuid"] not in {p["uuid"] for p in found["resource_providers"]}
    error(call(http, "GET", "/resource_providers?resources=VCPU"), 400)
    error(call(http, "GET", "/resource_providers?resources=CUSTOM_NO_SUCH_RC:1"), 400)
    error(call(http, "GET", "/resource_providers?resources=VCPU:1", version="1.3"), 400)
    error(call(http, "GET", "/resource_providers?colour=red"), 400)


def test_allocation_candidates(http, rps, custom_class):
    root = rps.make(VCPU=8, MEMORY_MB=4096)
    child = rps.make(parent=root["uuid"], CUSTOM_PLACEMENT_FT_B=4)
    # the custom class makes these candidates independent of other tests' providers
    query = "/allocation_candidates?resources=VCPU:1,CUSTOM_PLACEMENT_FT_B:2"
    body = ok(call(http, "GET", query))
    assert body["allocation_requests"] == [
        {
            "allocations": {
                root["uuid"]: {"resources": {"VCPU": 1}},
                child["uuid"]: {"resources": {"CUSTOM_PLACEMENT_FT_B": 2}},
            },
            "mappings": {"": sorted([root["uuid"], child["uuid"]])},
        }
    ]
    summary = body["provider_summaries"][child["uuid"]]
    assert summary["resources"] == {"CUSTOM_PLACEMENT_FT_B": {"capacity": 4, "used": 0}}
    assert summary["parent_provider_uuid"] == root["uuid"]
    assert body["provider_summaries"][root["uuid"]]["resources"]["MEMORY_MB"]["capacity"] == 4096
    # before 1.29 a tree is not searched: no single provider has both
    assert ok(call(http, "GET", query, version="1.28"))["allocation_requests"] == []
    single = "/allocation_candidates?resources=CUSTOM_PLACEMENT_FT_B:1"
    old = ok(call(http, "GET", single, version="1.10"))
    assert old["allocation_requests"] == [
        {
            "allocations": [
                {
                    "resource_provider": {"uuid": child["uuid"]},
                    "resources": {"CUSTOM_PLACEMENT_FT_B": 1},
                }
            ]
        }
    ]
    assert old["provider_summaries"] == {
        child["uuid"]: {"resources": {"CUSTOM_PLACEMENT_FT_B": {"capacity": 4, "used": 0}}}
    }
    grouped = ok(
        call(
            http,
            "GET",
            "/allocation_candidates?resources_CPU=VCPU:1&resources_NET=CUSTOM_PLACEMENT_FT_B:1"
            "&group_policy=isolate",
        )
    )
    assert [r["mappings"] for r in grouped["allocation_requests"]] == [
        {"_CPU": [root["uuid"]], "_NET": [child["uuid"]]}
    ]
    error(call(http, "GET", "/allocation_candidates?resources1=VCPU:1&resources2=VCPU:1"), 400)
    error(call(http, "GET", "/allocation_candidates"), 400)
    error(call(http, "GET", "/allocation_candidates?resources=CUSTOM_NO_SUCH_RC:1"), 400)
    error(call(http, "GET", "/allocation_candidates?resources=VCPU:1&limit=0"), 400)
    error(
        call(http, "GET", "/allocation_candidates?resources=VCPU:1&required=CUSTOM_NOPE_NOPE"), 400
    )
    error(call(http, "GET", "/allocation_candidates?resources=VCPU:1&group_policy=maybe"), 400)
    limited = ok(call(http, "GET", "/allocation_candidates?resources=VCPU:1&limit=1"))
    assert len(limited["allocation_requests"]) == 1


def test_reshaper(http, rps, custom_class):
    root = rps.make(VCPU=4, CUSTOM_PLACEMENT_FT_A=2)
    child = rps.make(parent=root["uuid"])
    consumer = rps.consumer()
    ok(
        call(
            http,
            "PUT",
            f"/allocations/{consumer}",
            json=alloc_body(
                {root["uuid"]: {"VCPU": 1, "CUSTOM_PLACEMENT_FT_A": 1}},
                None,
                consumer_type="INSTANCE",
            ),
        ),
        204,
    )
    gen = ok(call(http, "GET", f"/resource_providers/{root['uuid']}"))["generation"]
    body = {
        "inventories": {
            root["uuid"]: {
                "resource_provider_generation": gen,
                "inventories": {"VCPU": {"total": 4}},
            },
            child["uuid"]: {
                "resource_provider_generation": 0,
                "inventories": {"CUSTOM_PLACEMENT_FT_A": {"total": 2}},
            },
        },
        "allocations": {
            consumer: alloc_body(
                {root["uuid"]: {"VCPU": 1}, child["uuid"]: {"CUSTOM_PLACEMENT_FT_A": 1}},
                1,
                consumer_type="INSTANCE",
            )
        },
    }
    ok(call(http, "POST", "/reshaper", json=body), 204)
    held = ok(call(http, "GET", f"/allocations/{consumer}"))["allocations"]
    assert held[child["uuid"]]["resources"] == {"CUSTOM_PLACEMENT_FT_A": 1}
    error(call(http, "POST", "/reshaper", json=body), 409, "placement.concurrent_update")
    error(call(http, "POST", "/reshaper", json={"inventories": {}}), 400)


# -- policy and robustness ----------------------------------------------------------------


def test_placement_is_for_admins(http):
    r = call(http, "GET", "/resource_providers", token=http.demo_token)
    assert "placement:resource_providers:list" in error(r, 403)
    error(call(http, "GET", "/resource_providers", token=None), 401)
    error(call(http, "GET", "/nowhere"), 404)
    error(call(http, "PATCH", "/resource_providers"), 405)


def test_garbage_never_makes_a_500(http, rps):
    rp = rps.make(VCPU=2)
    u = rp["uuid"]
    attempts = [
        ("PUT", f"/resource_providers/{u}/inventories", {"inventories": []}),
        (
            "PUT",
            f"/resource_providers/{u}/inventories",
            {"resource_provider_generation": "x", "inventories": {}},
        ),
        (
            "PUT",
            f"/resource_providers/{u}/inventories/VCPU",
            {"total": 10**30, "resource_provider_generation": 1},
        ),
        ("POST", f"/resource_providers/{u}/inventories", {"resource_class": "vcpu", "total": 1}),
        ("PUT", f"/resource_providers/{u}/traits", {"traits": "HW"}),
        ("PUT", f"/resource_providers/{u}/aggregates", {"aggregates": [1]}),
        (
            "PUT",
            f"/allocations/{new_uuid()}",
            {"allocations": {u: {"resources": {"VCPU": 10**30}}}},
        ),
        ("POST", "/allocations", {"x": {}}),
        ("POST", "/resource_classes", {"name": "CUSTOM_" + "X" * 300}),
        ("PUT", f"/resource_providers/{u}", {"name": "\u0000"}),
    ]
    for method, path, body in attempts:
        r = call(http, method, path, json=body)
        assert 400 <= r.status_code < 500, f"{method} {path}: {r.status_code} {r.text}"
        assert r.json()["errors"][0]["status"] == r.status_code
    for query in (
        "resources=VCPU:-1",
        "required=!",
        "member_of=in:",
        "in_tree=x",
        "uuid=x",
        "name=",
    ):
        r = call(http, "GET", f"/resource_providers?{query}")
        assert r.status_code in (200, 400), f"{query}: {r.status_code} {r.text}"
    for query in (
        "resources=VCPU:1&same_subtree=_X",
        "resources_A=VCPU:1&required_A=in:",
        "resources=:1",
    ):
        r = call(http, "GET", f"/allocation_candidates?{query}")
        assert r.status_code == 400, f"{query}: {r.status_code} {r.text}"


# -- the openstack CLI (osc-placement) ----------------------------------------------------


def test_openstack_resource_provider_commands(run_cli, unique, http):
    name = unique("cli-rp")
    rp = run_cli("resource", "provider", "create", name)
    try:
        assert rp["name"] == name and rp["generation"] == 0
        listed = run_cli("resource", "provider", "list", "--name", name)
        assert [p["uuid"] for p in listed] == [rp["uuid"]]
        run_cli("resource", "provider", "set", "--name", name + "-b", rp["uuid"])
        assert run_cli("resource", "provider", "show", rp["uuid"])["name"] == name + "-b"
        run_cli(
            "resource", "provider", "inventory", "set", rp["uuid"],
            "--resource", "VCPU=8", "--resource", "VCPU:allocation_ratio=2.0",
            "--resource", "MEMORY_MB=4096",
        )  # fmt: skip
        inventory = {
            i["resource_class"]: i
            for i in run_cli(
                "resource", "provider", "inventory", "list", rp["uuid"], json_output=True
            )
        }
        assert inventory["VCPU"]["total"] == 8 and inventory["VCPU"]["allocation_ratio"] == 2.0
        run_cli("trait", "create", "CUSTOM_CLI_TRAIT", json_output=False)
        run_cli("resource", "provider", "trait", "set", "--trait", "CUSTOM_CLI_TRAIT", rp["uuid"])
        traits = run_cli("resource", "provider", "trait", "list", rp["uuid"], json_output=True)
        assert [t["name"] for t in traits] == ["CUSTOM_CLI_TRAIT"]
        consumer = new_uuid()
        run_cli(
            "resource", "provider", "allocation", "set", consumer,
            "--allocation", f"rp={rp['uuid']},VCPU=2,MEMORY_MB=512",
            "--project-id", "cli-proj", "--user-id", "cli-user",
        )  # fmt: skip
        (shown,) = run_cli("resource", "provider", "allocation", "show", consumer, json_output=True)
        assert shown["resource_provider"] == rp["uuid"]
        assert shown["resources"] == {"VCPU": 2, "MEMORY_MB": 512}
        assert (shown["project_id"], shown["user_id"]) == ("cli-proj", "cli-user")
        usage = {
            u["resource_class"]: u["usage"]
            for u in run_cli("resource", "provider", "usage", "show", rp["uuid"], json_output=True)
        }
        assert usage == {"VCPU": 2, "MEMORY_MB": 512}
        with pytest.raises(run_cli.Error) as err:
            run_cli("resource", "provider", "delete", rp["uuid"])
        assert "allocations" in err.value.stderr
        run_cli("resource", "provider", "allocation", "delete", consumer)
        run_cli("resource", "provider", "trait", "delete", rp["uuid"])
        run_cli("trait", "delete", "CUSTOM_CLI_TRAIT")
        classes = [c["name"] for c in run_cli("resource", "class", "list")]
        assert "VCPU" in classes
    finally:
        call(http, "DELETE", f"/resource_providers/{rp['uuid']}")
    with pytest.raises(run_cli.Error) as err:
        run_cli("resource", "provider", "show", rp["uuid"])
    assert "No resource provider" in err.value.stderr
