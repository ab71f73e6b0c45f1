"""Checks Nova applies to request values beyond JSON types: names of printable
characters, integers given as numbers or digit strings, OpenStack booleans."""

from __future__ import annotations

import unicodedata
from typing import Any

from nubo.errors import BadRequest

# Nova's database integers are 32-bit signed
MAX_INT = 0x7FFFFFFF

_TRUE = frozenset({"true", "1", "on", "yes", "t", "y"})
_FALSE = frozenset({"false", "0", "off", "no", "f", "n"})


def _printable(char: str) -> bool:
    """Letters, marks, numbers, punctuation, symbols and plain spaces; no control or
    format characters, no line or paragraph separators."""
    category = unicodedata.category(char)
    return not category.startswith("C") and (not category.startswith("Z") or category == "Zs")


def check_name(value: Any, field: str, max_length: int = 255) -> str:
    """Nova's ``name``: 1-255 printable characters, not starting or ending with
    whitespace."""
    if not isinstance(value, str):
        raise BadRequest(
            f"Invalid input for field/attribute {field}. Value: {value}. "
            f"{value!r} is not of type 'string'"
        )
    if not 1 <= len(value) <= max_length:
        raise BadRequest(
            f"Invalid input for field/attribute {field}. Value: {value}. "
            f"The length must be between 1 and {max_length} characters."
        )
    if (
        not all(_printable(c) for c in value)
        or unicodedata.category(value[0]) == "Zs"
        or unicodedata.category(value[-1]) == "Zs"
    ):
        raise BadRequest(
            f"Invalid input for field/attribute {field}. Value: {value}. "
            f"An invalid '{field}' value is provided. The name must be: "
            "printable characters. Can not start or end with whitespace."
        )
    return value


def check_description(value: Any, field: str, max_length: int) -> str | None:
    """A description: null or up to ``max_length`` printable characters (spaces allowed
    anywhere, no control characters)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(
            f"Invalid input for field/attribute {field}. Value: {value}. "
            f"{value!r} is not of type 'string', 'null'"
        )
    if len(value) > max_length:
        raise BadRequest(
            f"Invalid input for field/attribute {field}. Value: {value}. "
            f"The length must be at most {max_length} characters."
        )
    if not all(_printable(c) for c in value):
        raise BadRequest(
            f"Invalid input for field/attribute {field}. Value: {value}. "
            "Only printable characters are allowed."
        )
    return value


def to_int(value: Any, field: str, minimum: int | None = None, maximum: int = MAX_INT) -> int:
    """An integer given as a JSON number or a string of digits (Nova accepts both);
    floats and booleans are refused."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadRequest(
            f"Invalid input for field/attribute {field}. Value: {value}. "
            f"{value!r} is not of type 'integer', 'string'"
        )
    try:
        number = int(value.strip() if isinstance(value, str) else value)
    except ValueError:
        raise BadRequest(f"Invalid input received: {field} must be an integer.") from None
    if minimum is not None and number < minimum:
        raise BadRequest(f"Invalid input received: {field} must be >= {minimum}.")
    if number > maximum:
        raise BadRequest(f"Invalid input received: {field} must be <= {maximum}.")
    return number


def to_bool(value: Any, field: str) -> bool:
    """OpenStack's strict boolean: true/false, or one of the usual strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise BadRequest(
        f"Invalid input for field/attribute {field}. Value: {value}. "
        f"{value!r} is not a valid boolean."
    )
