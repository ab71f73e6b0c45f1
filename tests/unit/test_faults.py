"""Each API family's error body."""

from __future__ import annotations

import json

from nubo.api.faults import Family, render
from nubo.errors import Conflict, NotFound


def test_keystone_shape() -> None:
    body, ctype = render(Family.KEYSTONE, NotFound("Could not find user: x."), "req-1")
    assert ctype == "application/json"
    assert json.loads(body) == {
        "error": {"code": 404, "title": "Not Found", "message": "Could not find user: x."}
    }


def test_nova_shape() -> None:
    body, _ = render(Family.NOVA, Conflict("busy"), "req-1")
    assert json.loads(body) == {"conflictingRequest": {"code": 409, "message": "busy"}}


def test_neutron_shape_uses_kind() -> None:
    body, _ = render(Family.NEUTRON, NotFound("no net", kind="NetworkNotFound"), "req-1")
    assert json.loads(body) == {
        "NeutronError": {"type": "NetworkNotFound", "message": "no net", "detail": ""}
    }


def test_s3_shape_is_xml_with_request_id() -> None:
    body, ctype = render(Family.S3, NotFound("<nope>"), "req-9")
    assert ctype == "application/xml"
    text = body.decode()
    assert "<Code>NoSuchKey</Code>" in text and "&lt;nope&gt;" in text
    assert "<RequestId>req-9</RequestId>" in text
