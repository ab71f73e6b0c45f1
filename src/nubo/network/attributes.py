"""Request bodies the Neutron way: each resource declares its attributes (which are
settable on create and on update, and a converter that validates and normalises the
value). ``parse_body`` applies them, so every resource rejects bad input with the same
messages: 400 naming the attribute and the reason."""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nubo.errors import BadRequest

Converter = Callable[[Any], Any]


@dataclass(frozen=True)
class Attr:
    convert: Converter
    post: bool = True  # may be given on create
    put: bool = True  # may be changed on update
    required: bool = False


class Invalid(ValueError):
    """A converter's complaint; parse_body adds the attribute name."""


def parse_body(
    body: Any, resource: str, attrs: Mapping[str, Attr], *, update: bool = False
) -> dict[str, Any]:
    """Validate ``{resource: {...}}`` and return the converted attributes."""
    if not isinstance(body, dict) or resource not in body:
        raise BadRequest(f"Resource body required: expected '{resource}'.")
    item = body[resource]
    return parse_item(item, resource, attrs, update=update)


def parse_item(
    item: Any, resource: str, attrs: Mapping[str, Attr], *, update: bool = False
) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise BadRequest(f"Invalid input for {resource}: a JSON object is required.")
    unknown = sorted(k for k in item if k not in attrs)
    if unknown:
        raise BadRequest(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    out: dict[str, Any] = {}
    for name, value in item.items():
        attr = attrs[name]
        if update and not attr.put:
            raise BadRequest(f"Cannot update read-only attribute {name}")
        if not update and not attr.post:
            raise BadRequest(f"Attribute '{name}' not allowed in POST")
        try:
            out[name] = attr.convert(value)
        except Invalid as exc:
            raise BadRequest(f"Invalid input for {name}. Reason: {exc}.") from None
    if not update:
        missing = [n for n, a in attrs.items() if a.required and n not in item]
        if missing:
            raise BadRequest(
                f"Failed to parse request. Required attribute '{missing[0]}' not specified"
            )
    return out


# -- converters --------------------------------------------------------------------


def anything(value: Any) -> Any:
    return value


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
        return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise Invalid(f"'{value}' cannot be converted to boolean")


def string(max_len: int = 255) -> Converter:
    def convert(value: Any) -> str:
        if not isinstance(value, str):
            raise Invalid(f"'{value}' is not a valid string")
        if len(value) > max_len:
            raise Invalid(f"'{value}' exceeds maximum length of {max_len}")
        return value

    return convert


def nullable(inner: Converter) -> Converter:
    def convert(value: Any) -> Any:
        return None if value is None else inner(value)

    return convert


def integer(minimum: int | None = None, maximum: int | None = None) -> Converter:
    def convert(value: Any) -> int:
        if isinstance(value, bool):
            raise Invalid(f"'{value}' is not an integer")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise Invalid(f"'{value}' is not an integer") from None
        if isinstance(value, float) and value != number:
            raise Invalid(f"'{value}' is not an integer")
        if minimum is not None and number < minimum:
            raise Invalid(f"'{number}' should be greater than or equal to {minimum}")
        if maximum is not None and number > maximum:
            raise Invalid(f"'{number}' should be less than or equal to {maximum}")
        return number

    return convert


def one_of(*values: Any) -> Converter:
    def convert(value: Any) -> Any:
        if value not in values:
            raise Invalid(f"'{value}' is not in {list(values)}")
        return value

    return convert


def uuid_str(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid(f"'{value}' is not a valid UUID")
    try:
        uuid.UUID(value)
    except ValueError:
        raise Invalid(f"'{value}' is not a valid UUID") from None
    return value


def ip_address(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid(f"'{value}' is not a valid IP address")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise Invalid(f"'{value}' is not a valid IP address") from None


def cidr(value: Any) -> str:
    """A network CIDR; host bits must be zero (Neutron refuses 10.0.0.1/24)."""
    if not isinstance(value, str) or "/" not in value:
        raise Invalid(f"'{value}' is not a valid IP subnet")
    try:
        net = ipaddress.ip_network(value, strict=False)
        given = ipaddress.ip_interface(value)
    except ValueError:
        raise Invalid(f"'{value}' is not a valid IP subnet") from None
    if given.ip != net.network_address:
        raise Invalid(f"'{value}' isn't a recognized IP subnet cidr, '{net}' is recommended")
    return str(net)


_MAC = re.compile(r"^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$")


def mac_address(value: Any) -> str:
    if not isinstance(value, str) or not _MAC.match(value):
        raise Invalid(f"'{value}' is not a valid MAC address")
    mac = value.lower().replace("-", ":")
    first = int(mac[:2], 16)
    if first & 1 or mac == "00:00:00:00:00:00":
        raise Invalid(f"'{value}' is not a valid MAC address")
    return mac


def list_of(inner: Converter, unique: bool = False) -> Converter:
    def convert(value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise Invalid(f"'{value}' is not a list")
        items = [inner(v) for v in value]
        if unique and len({repr(i) for i in items}) != len(items):
            raise Invalid(f"Duplicate items in the list: '{value}'")
        return items

    return convert


def dict_of(fields: Mapping[str, Converter], required: tuple[str, ...] = ()) -> Converter:
    def convert(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise Invalid(f"'{value}' is not a dictionary")
        unknown = sorted(k for k in value if k not in fields)
        if unknown:
            raise Invalid(f"Unrecognized keys {unknown}")
        missing = [k for k in required if k not in value]
        if missing:
            raise Invalid(f"Missing key {missing[0]}")
        return {k: fields[k](v) for k, v in value.items()}

    return convert


NAME = Attr(string(255))
DESCRIPTION = Attr(string(255))
PROJECT = Attr(string(255), put=False)
