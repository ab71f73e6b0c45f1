"""Query-string checks the compute handlers of flavors, keypairs, quotas, limits and
server groups share."""

from __future__ import annotations

from collections.abc import Iterable

from nubo.api.routing import ApiRequest
from nubo.errors import BadRequest


def only_known(req: ApiRequest, known: Iterable[str], since: str = "2.75") -> None:
    """From microversion ``since`` (2.75 for most lists) Nova refuses query parameters
    it does not know; before, it ignores them."""
    if not req.at_least(since):
        return
    allowed = set(known)
    for name, _value in req.query_items:
        if name not in allowed:
            raise BadRequest(
                f"Invalid input for query parameters {name}. Additional properties are not "
                f"allowed ('{name}' was unexpected)"
            )


def non_negative(req: ApiRequest, name: str) -> int | None:
    """A query parameter that must be an integer >= 0 (``limit``, ``offset``)."""
    if name not in req.query:
        return None
    text = req.query[name]
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(
            f"Invalid input for query parameters {name}. Value: {text}. "
            f"'{text}' is not a valid integer."
        ) from None
    if value < 0:
        raise BadRequest(
            f"Invalid input for query parameters {name}. Value: {text}. "
            f"{value} is less than the minimum of 0"
        )
    return value


def first(req: ApiRequest, name: str) -> str | None:
    """The first value of a repeated query parameter (Nova reads the first)."""
    values = req.query_all(name)
    return values[0] if values else None
