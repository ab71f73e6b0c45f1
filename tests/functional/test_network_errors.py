"""Network API conventions over raw HTTP: Neutron's error body on 400/401/404/405/
409/412, version discovery, extensions, the tags API, and list semantics (fields,
sorting, pagination with links, filters and tag filters) on networks."""

from __future__ import annotations

import random
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

NET = "/network/v2.0"
NETWORKS = f"{NET}/networks"


def neutron_error(r, status: int, kind: str | None = None) -> str:
    """Assert ``r`` is a Neutron error with ``status`` (and type); return its message."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["x-openstack-request-id"].startswith("req-")
    body = r.json()
    assert set(body) == {"NeutronError"}
    error = body["NeutronError"]
    assert set(error) == {"type", "message", "detail"}
    assert "Traceback" not in error["message"]
    if kind is not None:
        assert error["type"] == kind, error
    return str(error["message"])


@pytest.fixture
def network(http, unique):
    made = http.expect(http.post(NETWORKS, json={"network": {"name": unique("err")}}), 201)
    yield made["network"]
    http.delete(f"{NETWORKS}/{made['network']['id']}")


# -- errors ----------------------------------------------------------------------------


def test_unknown_attribute_is_400(http):
    r = http.post(NETWORKS, json={"network": {"name": "x", "bogus": 1}})
    assert neutron_error(r, 400) == "Unrecognized attribute(s) 'bogus'"


def test_bad_value_names_the_attribute(http):
    r = http.post(NETWORKS, json={"network": {"admin_state_up": "maybe"}})
    message = neutron_error(r, 400)
    assert message.startswith("Invalid input for admin_state_up. Reason:")


@pytest.mark.parametrize("body", [b"{", b"[]", b"null", b'"x"', b"{}", b'{"network": 5}'])
def test_malformed_bodies_are_400(http, body):
    r = http.post(NETWORKS, content=body, headers={"Content-Type": "application/json"})
    neutron_error(r, 400)


def test_unknown_network_is_404(http):
    missing = str(uuid.uuid4())
    r = http.get(f"{NETWORKS}/{missing}")
    assert neutron_error(r, 404, "NetworkNotFound") == f"Network {missing} could not be found."


def test_unknown_route_is_404_and_wrong_method_405(http):
    neutron_error(http.get(f"{NET}/no-such-things"), 404)
    neutron_error(http.patch(NETWORKS, json={}), 405)


def test_segment_in_use_is_409(http, unique):
    vni = random.randint(2_000_000, 16_000_000)
    body = {"network": {"name": unique("vni"), "provider:network_type": "vxlan",
                        "provider:segmentation_id": vni}}  # fmt: skip
    first = http.expect(http.post(NETWORKS, json=body), 201)["network"]
    try:
        assert first["provider:segmentation_id"] == vni
        neutron_error(http.post(NETWORKS, json=body), 409, "TunnelIdInUse")
    finally:
        http.delete(f"{NETWORKS}/{first['id']}")


def test_if_match_revision(http, network):
    url = f"{NETWORKS}/{network['id']}"
    revision = network["revision_number"]
    stale = {"If-Match": f"revision_number={revision + 5}"}
    r = http.put(url, json={"network": {"name": "stale"}}, headers=stale)
    message = neutron_error(r, 412, "RevisionNumberConstraintFailed")
    assert str(revision) in message
    assert http.expect(http.get(url), 200)["network"]["name"] == network["name"]
    fresh = {"If-Match": f"revision_number={revision}"}
    updated = http.expect(http.put(url, json={"network": {"name": "fresh"}}, headers=fresh), 200)
    assert updated["network"]["name"] == "fresh"
    assert updated["network"]["revision_number"] > revision
    r = http.delete(url, headers=stale)
    neutron_error(r, 412, "RevisionNumberConstraintFailed")


def test_without_a_token_is_401(http):
    neutron_error(http.get(NETWORKS, token=None), 401)
    neutron_error(http.get(NETWORKS, token="not-a-token"), 401)
    neutron_error(http.post(NETWORKS, token=None, json={"network": {}}), 401)


# -- discovery and extensions --------------------------------------------------------------


@pytest.mark.parametrize("path", ["/network", "/network/"])
def test_version_list(http, cloud, path):
    r = http.get(path, token=None)
    versions = http.expect(r, 200)["versions"]
    assert [v["id"] for v in versions] == ["v2.0"]
    assert versions[0]["status"] == "CURRENT"
    assert versions[0]["links"][0]["href"] == f"{cloud.base_url}/network/v2.0/"


@pytest.mark.parametrize("path", ["/network/v2.0", "/network/v2.0/"])
def test_version_resources(http, cloud, path):
    resources = http.expect(http.get(path, token=None), 200)["resources"]
    by_name = {r["name"]: r for r in resources}
    assert {"network", "subnet", "port"} <= set(by_name)
    assert by_name["rbac_policy"]["collection"] == "rbac-policies"
    assert by_name["network"]["links"][0]["href"] == f"{cloud.base_url}/network/v2.0/networks"


def test_extensions_list_and_show(http):
    extensions = http.expect(http.get(f"{NET}/extensions"), 200)["extensions"]
    aliases = {e["alias"] for e in extensions}
    assert {"quotas", "rbac-policies", "agent", "availability_zone", "quota_details"} <= aliases
    for ext in extensions:
        shown = http.expect(http.get(f"{NET}/extensions/{ext['alias']}"), 200)["extension"]
        assert shown == ext
        assert set(ext) >= {"alias", "name", "description", "updated", "links"}
    message = neutron_error(http.get(f"{NET}/extensions/no-such-alias"), 404)
    assert "no-such-alias" in message
    neutron_error(http.get(f"{NET}/extensions", token=None), 401)


# -- tags -----------------------------------------------------------------------------------


def test_tags_on_a_network(http, network):
    tags_url = f"{NETWORKS}/{network['id']}/tags"
    assert http.expect(http.get(tags_url), 200) == {"tags": []}
    replaced = http.expect(http.put(tags_url, json={"tags": ["b", "a", "c"]}), 200)
    assert sorted(replaced["tags"]) == ["a", "b", "c"]
    assert sorted(http.expect(http.get(tags_url), 200)["tags"]) == ["a", "b", "c"]
    shown = http.expect(http.get(f"{NETWORKS}/{network['id']}"), 200)["network"]
    assert sorted(shown["tags"]) == ["a", "b", "c"]
    assert shown["revision_number"] > network["revision_number"]

    assert http.get(f"{tags_url}/a").status_code == 204
    neutron_error(http.get(f"{tags_url}/nope"), 404, "TagNotFound")
    assert http.put(f"{tags_url}/d").status_code == 201
    assert http.put(f"{tags_url}/d").status_code == 201  # adding twice is harmless
    assert http.delete(f"{tags_url}/a").status_code == 204
    neutron_error(http.delete(f"{tags_url}/a"), 404, "TagNotFound")
    assert sorted(http.expect(http.get(tags_url), 200)["tags"]) == ["b", "c", "d"]

    assert http.delete(tags_url).status_code == 204
    assert http.expect(http.get(tags_url), 200) == {"tags": []}


@pytest.mark.parametrize("body", [{}, {"tags": "a"}, {"tags": [5]}, {"tags": [""]}, [1]])
def test_bad_tag_bodies_are_400(http, network, body):
    neutron_error(http.put(f"{NETWORKS}/{network['id']}/tags", json=body), 400)


def test_tags_of_another_projects_network_are_404(http, network):
    tags_url = f"{NETWORKS}/{network['id']}/tags"
    http.expect(http.put(tags_url, json={"tags": ["secret"]}), 200)
    demo = http.demo_token
    neutron_error(http.get(tags_url, token=demo), 404, "NetworkNotFound")
    neutron_error(http.get(f"{tags_url}/secret", token=demo), 404, "NetworkNotFound")
    neutron_error(http.put(tags_url, token=demo, json={"tags": ["x"]}), 404)
    neutron_error(http.put(f"{tags_url}/x", token=demo), 404)
    neutron_error(http.delete(tags_url, token=demo), 404)
    neutron_error(http.delete(f"{tags_url}/secret", token=demo), 404)
    assert http.expect(http.get(tags_url), 200) == {"tags": ["secret"]}
    neutron_error(http.get(f"{NET}/no-such-things/{network['id']}/tags"), 404)


# -- list semantics -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tagged(http):
    """Five admin networks n0..n4 carrying one tag of their own (to scope lists),
    n0 and n1 also ``red``, n1 and n2 ``blue``; n4 is shared."""
    marker = f"lst-{uuid.uuid4().hex[:8]}"
    colors = [["red"], ["red", "blue"], ["blue"], [], []]
    made = []
    for i, extra in enumerate(colors):
        body = {"network": {"name": f"{marker}-n{i}", "shared": i == 4, "mtu": 1400 - i}}
        net = http.expect(http.post(NETWORKS, json=body), 201)["network"]
        http.expect(http.put(f"{NETWORKS}/{net['id']}/tags", json={"tags": [marker, *extra]}), 200)
        made.append(net)
    yield marker, made
    for net in made:
        http.delete(f"{NETWORKS}/{net['id']}")


def names(body) -> list[str]:
    return [n["name"].rsplit("-", 1)[1] for n in body["networks"]]


def listed(http, query: str, token=None) -> dict:
    kwargs = {} if token is None else {"token": token}
    return http.expect(http.get(f"{NETWORKS}?{query}", **kwargs), 200)


def test_fields(http, tagged):
    marker, made = tagged
    body = listed(http, f"tags={marker}&fields=id&fields=name")
    assert len(body["networks"]) == 5
    assert all(set(n) == {"id", "name"} for n in body["networks"])
    one = http.expect(http.get(f"{NETWORKS}/{made[0]['id']}?fields=mtu&fields=status"), 200)
    assert one == {"network": {"mtu": 1400, "status": "ACTIVE"}}


def test_sorting(http, tagged):
    marker, _ = tagged
    assert names(listed(http, f"tags={marker}&sort_key=name&sort_dir=desc")) == [
        "n4", "n3", "n2", "n1", "n0"]  # fmt: skip
    assert names(listed(http, f"tags={marker}&sort_key=mtu&sort_dir=asc")) == [
        "n4", "n3", "n2", "n1", "n0"]  # fmt: skip
    # two keys: shared first (false < true), then name descending
    two = f"tags={marker}&sort_key=shared&sort_dir=asc&sort_key=name&sort_dir=desc"
    assert names(listed(http, two)) == ["n3", "n2", "n1", "n0", "n4"]
    neutron_error(http.get(f"{NETWORKS}?sort_key=name&sort_dir=sideways"), 400)
    neutron_error(http.get(f"{NETWORKS}?sort_key=no_such_attr"), 400)
    neutron_error(http.get(f"{NETWORKS}?sort_key=name&sort_key=id&sort_dir=asc"), 400)


def _page(http, url: str) -> dict:
    parts = urlsplit(url)
    return http.expect(http.get(f"{parts.path}?{parts.query}"), 200)


def _links(body) -> dict[str, str]:
    return {link["rel"]: link["href"] for link in body.get("networks_links", [])}


def test_pagination_with_links(http, tagged, cloud):
    marker, made = tagged
    first = listed(http, f"tags={marker}&sort_key=name&limit=2")
    assert names(first) == ["n0", "n1"]
    links = _links(first)
    assert set(links) == {"next"}
    assert links["next"].startswith(f"{cloud.base_url}/network/v2.0/networks?")
    query = parse_qs(urlsplit(links["next"]).query)
    assert query["marker"] == [made[1]["id"]] and query["limit"] == ["2"]
    assert query["tags"] == [marker] and query["sort_key"] == ["name"]

    second = _page(http, links["next"])
    assert names(second) == ["n2", "n3"]
    assert set(_links(second)) == {"next", "previous"}
    last = _page(http, _links(second)["next"])
    assert names(last) == ["n4"]
    assert set(_links(last)) == {"previous"}
    # back from the last page
    back = _page(http, _links(last)["previous"])
    assert names(back) == ["n2", "n3"]
    assert set(_links(back)) == {"next", "previous"}
    front = _page(http, _links(back)["previous"])
    assert names(front) == ["n0", "n1"]
    assert set(_links(front)) == {"next"}


def test_page_reverse_without_marker_is_the_end(http, tagged):
    marker, _ = tagged
    body = listed(http, f"tags={marker}&sort_key=name&limit=2&page_reverse=true")
    assert names(body) == ["n3", "n4"]
    assert set(_links(body)) == {"previous"}


def test_limit_zero_and_bad_limits(http, tagged):
    marker, _ = tagged
    assert len(listed(http, f"tags={marker}&limit=0")["networks"]) == 5
    neutron_error(http.get(f"{NETWORKS}?limit=x"), 400)
    neutron_error(http.get(f"{NETWORKS}?limit=-1"), 400)
    neutron_error(http.get(f"{NETWORKS}?limit=1&page_reverse=maybe"), 400)


def test_filters(http, tagged):
    marker, _ = tagged
    either = listed(http, f"tags={marker}&name={marker}-n1&name={marker}-n3&sort_key=name")
    assert names(either) == ["n1", "n3"]
    assert names(listed(http, f"tags={marker}&shared=true")) == ["n4"]
    assert names(listed(http, f"tags={marker}&shared=false&sort_key=name")) == [
        "n0", "n1", "n2", "n3"]  # fmt: skip
    assert names(listed(http, f"tags={marker}&mtu=1398")) == ["n2"]
    assert names(listed(http, f"tags={marker}&name=nope")) == []
    neutron_error(http.get(f"{NETWORKS}?shared=maybe"), 400)


def test_tag_filters(http, tagged):
    marker, _ = tagged
    sort = "&sort_key=name"
    assert names(listed(http, f"tags={marker},red,blue{sort}")) == ["n1"]
    assert names(listed(http, f"tags={marker}&tags=red{sort}")) == ["n0", "n1"]
    assert names(listed(http, f"tags={marker}&tags-any=red,blue{sort}")) == ["n0", "n1", "n2"]
    assert names(listed(http, f"tags={marker}&not-tags=red,blue{sort}")) == [
        "n0", "n2", "n3", "n4"]  # fmt: skip
    assert names(listed(http, f"tags={marker}&not-tags-any=red,blue{sort}")) == ["n3", "n4"]


def test_demo_sees_only_the_shared_one(http, tagged):
    marker, made = tagged
    body = listed(http, f"tags={marker}", token=http.demo_token)
    assert [n["id"] for n in body["networks"]] == [made[4]["id"]]
    assert body["networks"][0]["shared"] is True
    # an empty list still sorts and pages
    empty = listed(http, f"tags={marker}-none&sort_key=mtu&limit=1", token=http.demo_token)
    assert empty == {"networks": []}
