"""Pure logic of the image service: JSON patch, list queries, Range headers."""

from __future__ import annotations

import pytest

from nubo.errors import BadRequest, Conflict, Forbidden, RangeNotSatisfiable
from nubo.image import listing, patch
from nubo.image.data import parse_range

V21 = patch.MEDIA_TYPES[0]
V20 = patch.MEDIA_TYPES[1]
DOC = {"name": "a", "min_ram": 0, "tags": [], "visibility": "shared", "color": "red"}


def test_patch_both_operation_shapes():
    new = patch.apply(DOC, [{"op": "replace", "path": "/name", "value": "b"}], V21)
    old = patch.apply(DOC, [{"replace": "/name", "value": "b"}], V20)
    assert new["name"] == old["name"] == "b"
    assert DOC["name"] == "a"  # the input is left alone


def test_patch_add_replaces_and_remove_deletes():
    doc = patch.apply(DOC, [{"op": "add", "path": "/color", "value": "blue"}], V21)
    assert doc["color"] == "blue"
    doc = patch.apply(doc, [{"op": "remove", "path": "/color"}], V21)
    assert "color" not in doc


def test_patch_json_pointer_escapes():
    doc = patch.apply(DOC, [{"op": "add", "path": "/a~1b~0c", "value": "x"}], V21)
    assert doc["a/b~c"] == "x"


@pytest.mark.parametrize(
    ("ops", "error"),
    [
        ([{"op": "remove", "path": "/missing"}], Conflict),
        ([{"op": "replace", "path": "/missing", "value": "x"}], Conflict),
        ([{"op": "add", "path": "/status", "value": "active"}], Forbidden),
        ([{"op": "add", "path": "/os_glance_x", "value": "y"}], Forbidden),
        ([{"op": "remove", "path": "/name"}], Forbidden),
        ([{"op": "copy", "path": "/name", "value": "x"}], BadRequest),
        ([{"add": "/x", "remove": "/y"}], BadRequest),
        ([{"op": "add", "path": "/x/y", "value": "z"}], BadRequest),
        ([{"op": "add", "path": "/x"}], BadRequest),
        ([{"op": "add", "path": "/min_ram", "value": -5}], BadRequest),
        ({"op": "add"}, BadRequest),
    ],
)
def test_patch_errors(ops, error):
    with pytest.raises(error):
        patch.apply(DOC, ops, V21)


def test_v20_add_of_an_existing_custom_property_conflicts():
    with pytest.raises(Conflict):
        patch.apply(DOC, [{"add": "/color", "value": "blue"}], V20)


def test_list_query_defaults_and_sorting():
    q = listing.parse([])
    assert q.limit == listing.DEFAULT_LIMIT
    assert q.sort == [("created_at", "desc")]
    assert q.member_status == "accepted"
    assert q.os_hidden is False
    q = listing.parse([("sort", "name:asc,size"), ("limit", "5000")])
    assert q.sort == [("name", "asc"), ("size", "desc")]
    assert q.limit == listing.MAX_LIMIT
    q = listing.parse([("sort_key", "name"), ("sort_key", "id"), ("sort_dir", "asc")])
    assert q.sort == [("name", "asc"), ("id", "asc")]


@pytest.mark.parametrize(
    "items",
    [
        [("sort", "name"), ("sort_key", "id")],
        [("sort_key", "a"), ("sort_key", "b"), ("sort_dir", "asc"), ("sort_dir", "desc"),
         ("sort_dir", "asc")],
        [("name", 'in:"unclosed')],
        [("updated_at", "between:2020-01-01")],
    ],
)  # fmt: skip
def test_bad_list_queries(items):
    with pytest.raises(BadRequest):
        listing.parse(items)


def test_in_lists_keep_quoted_commas():
    assert listing._in_list('a,"b,c",d') == ["a", "b,c", "d"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", (0, 9)),
        ("bytes=90-", (90, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=-500", (0, 99)),
        ("bytes=95-200", (95, 99)),
    ],
)
def test_ranges(header, expected):
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize(
    "header", ["bytes=100-", "bytes=5-1", "bytes=a-b", "items=0-1", "bytes=0-1,3-4", "bytes=5"]
)
def test_unsatisfiable_ranges(header):
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 100)
