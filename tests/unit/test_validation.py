"""Schemas and request parsing give 400s that name the field."""

from __future__ import annotations

import pytest

from nubo.api.validation import parse_bool, parse_json, validate
from nubo.errors import BadRequest
from nubo.identity import schemas


def test_malformed_json_names_the_problem() -> None:
    with pytest.raises(BadRequest, match="Malformed JSON"):
        parse_json(b'{"user": ')
    with pytest.raises(BadRequest, match="empty"):
        parse_json(b"  ")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user": {}}, "user/name"),
        ({"user": {"name": 5}}, "user/name"),
        ({"user": {"name": "x", "enabled": "yes"}}, "user/enabled"),
        ({}, "user"),
        ({"project": {"name": "p", "tags": ["a,b"]}}, None),
    ],
)
def test_schema_errors_name_the_field(body: dict[str, object], field: str | None) -> None:
    schema = schemas.PROJECT_CREATE if "project" in body else schemas.USER_CREATE
    with pytest.raises(BadRequest) as err:
        validate(body, schema)
    if field:
        assert f"'{field}'" in err.value.message


def test_valid_bodies_pass() -> None:
    validate({"user": {"name": "alice", "password": "pw", "email": "a@b"}}, schemas.USER_CREATE)
    validate(
        {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {"name": "a", "domain": {"id": "default"}, "password": "x"}
                    },
                }
            }
        },
        schemas.AUTH,
    )


def test_query_booleans() -> None:
    assert parse_bool("true", "x") and parse_bool("", "x")
    assert not parse_bool("False", "x")
    with pytest.raises(BadRequest, match="'x'"):
        parse_bool("maybe", "x")
