"""The ``restore`` and ``forceDelete`` server actions (Nova's deferred delete)."""

from __future__ import annotations

from typing import Any

from nubo.api.routing import ApiRequest, Reply
from nubo.compute import deferred_delete
from nubo.compute.api.common import caller, compute
from nubo.compute.api.server_actions_registry import action
from nubo.errors import BadRequest


def _null(name: str, args: Any) -> None:
    if args not in (None, {}):
        raise BadRequest(
            f"Invalid input for field/attribute {name}. Value: {args!r}. "
            f"{args!r} is not of type 'null'"
        )


@action("restore")
def restore(req: ApiRequest, server_id: str, args: Any) -> Reply:
    _null("restore", args)
    deferred_delete.restore(compute(req), caller(req), server_id)
    return Reply(202)


@action("forceDelete")
def force_delete(req: ApiRequest, server_id: str, args: Any) -> Reply:
    _null("forceDelete", args)
    deferred_delete.force_delete(compute(req), caller(req), server_id)
    return Reply(202)
