"""Placement's error codes (the ``code`` of an error body, microversion 1.23) and the
errors that carry them. The strings are part of the API: clients match on them."""

from __future__ import annotations

from nubo.errors import BadRequest, Conflict

DEFAULT = "placement.undefined_code"
INVENTORY_INUSE = "placement.inventory.inuse"
CONCURRENT_UPDATE = "placement.concurrent_update"
DUPLICATE_NAME = "placement.duplicate_name"
PROVIDER_IN_USE = "placement.resource_provider.inuse"
PROVIDER_CANNOT_DELETE_PARENT = "placement.resource_provider.cannot_delete_parent"
PROVIDER_NOT_FOUND = "placement.resource_provider.not_found"
QUERY_DUPLICATE_KEY = "placement.query.duplicate_key"
QUERY_BAD_VALUE = "placement.query.bad_value"
QUERY_MISSING_VALUE = "placement.query.missing_value"


def concurrent(message: str) -> Conflict:
    """Someone else changed the provider or consumer first: re-read and retry."""
    return Conflict(message, kind=CONCURRENT_UPDATE)


def bad_query(message: str) -> BadRequest:
    return BadRequest(message, kind=QUERY_BAD_VALUE)
