"""Request validation: JSON bodies and query strings against schemas.

Bad input becomes a 400 whose message names the field, never a 500.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError

from nubo.errors import BadRequest, ValidationError

Schema = dict[str, Any]

_validators: dict[int, Draft202012Validator] = {}


def _validator(schema: Schema) -> Draft202012Validator:
    key = id(schema)
    validator = _validators.get(key)
    if validator is None:
        Draft202012Validator.check_schema(schema)
        validator = Draft202012Validator(schema)
        _validators[key] = validator
    return validator


def _field_name(err: SchemaError) -> str:
    path = [str(p) for p in err.absolute_path]
    if err.validator == "required" and isinstance(err.instance, dict):
        required: Any = err.validator_value
        missing = [r for r in required if r not in err.instance]
        if missing:
            path.append(missing[0])
    elif err.validator == "additionalProperties" and isinstance(err.instance, dict):
        schema = err.schema if isinstance(err.schema, dict) else {}
        allowed = set(schema.get("properties", {}))
        extra = sorted(k for k in err.instance if k not in allowed)
        if extra:
            path.append(extra[0])
    return "/".join(path) or "body"


def _describe(err: SchemaError) -> str:
    if err.validator == "required":
        return f"'{_field_name(err).rsplit('/', 1)[-1]}' is a required property"
    if err.validator == "additionalProperties":
        return f"'{_field_name(err).rsplit('/', 1)[-1]}' is not an allowed property"
    if err.validator in ("oneOf", "anyOf") and err.context:
        best = min(err.context, key=lambda e: len(list(e.absolute_path)))
        return _describe(best)
    return err.message


def validate(instance: Any, schema: Schema) -> None:
    """Raise ValidationError naming the first bad field."""
    errors = sorted(_validator(schema).iter_errors(instance), key=lambda e: list(e.path))
    if errors:
        err = errors[0]
        raise ValidationError(f"Invalid input for field '{_field_name(err)}': {_describe(err)}")


def parse_json(raw: bytes) -> Any:
    """Decode a JSON request body; malformed input is a 400 saying why."""
    if not raw.strip():
        raise BadRequest("The request body is empty: a JSON object is expected.")
    try:
        body = json.loads(raw)
        # lone surrogates ("\ud800") decode but can be neither stored nor hashed
        json.dumps(body, ensure_ascii=False).encode()
        return body
    except (UnicodeDecodeError, UnicodeEncodeError) as exc:
        raise BadRequest("The request body is not UTF-8 encoded JSON.") from exc
    except json.JSONDecodeError as exc:
        raise BadRequest(
            f"Malformed JSON in request body: {exc.msg} at line {exc.lineno} column {exc.colno}."
        ) from exc
    except (RecursionError, ValueError) as exc:  # absurd nesting, huge integer literals
        raise BadRequest(
            "Malformed JSON in request body: too deeply nested or a number too large."
        ) from exc


def parse_bool(value: str, name: str) -> bool:
    """Query booleans as OpenStack clients send them."""
    lowered = value.strip().lower()
    if lowered in ("", "1", "true", "yes", "on", "t", "y"):
        return True
    if lowered in ("0", "false", "no", "off", "f", "n"):
        return False
    raise ValidationError(f"Invalid value for query parameter '{name}': {value!r} is not a boolean")


def parse_int(value: str, name: str, minimum: int | None = None) -> int:
    try:
        number = int(value)
    except ValueError as exc:
        raise ValidationError(
            f"Invalid value for query parameter '{name}': {value!r} is not an integer"
        ) from exc
    if minimum is not None and number < minimum:
        raise ValidationError(
            f"Invalid value for query parameter '{name}': must be at least {minimum}"
        )
    return number


def parse_timestamp(value: str, field: str) -> dt.datetime:
    """ISO 8601 (``2015-02-17T17:34:01Z``; fractions and offsets allowed; no zone means
    UTC) as an aware UTC datetime; anything else is a 400 naming the field."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        when = dt.datetime.fromisoformat(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        when = when.astimezone(dt.UTC)
        when.timestamp()  # years near 1 or 9999 may not convert
    except (ValueError, OverflowError) as exc:
        raise ValidationError(
            f"Invalid input for field '{field}': {value!r} is not an ISO 8601 timestamp."
        ) from exc
    return when


def check_header(headers: Mapping[str, str], name: str, max_len: int = 8192) -> str | None:
    """Return a header's value, refusing absurd sizes or control characters."""
    value = headers.get(name)
    if value is None:
        return None
    if len(value) > max_len or any(ord(ch) < 32 and ch != "\t" for ch in value):
        raise BadRequest(f"Invalid value in header {name}.")
    return value
