"""The table of ``POST /servers/{id}/action`` handlers, filled by the action modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nubo.api.routing import ApiRequest, Reply

ActionHandler = Callable[[ApiRequest, str, Any], Reply]
ACTIONS: dict[str, ActionHandler] = {}


def action(name: str) -> Callable[[ActionHandler], ActionHandler]:
    """Register the handler of action ``name`` (e.g. ``os-stop``)."""

    def add(handler: ActionHandler) -> ActionHandler:
        ACTIONS[name] = handler
        return handler

    return add
