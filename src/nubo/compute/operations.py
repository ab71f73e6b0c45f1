"""The table of what the compute agent does for each task state a server action sets
(``powering-off`` -> stop the instance, ...). Action modules register their step with
``@operation(task_state)``; the agent calls it in a worker thread with the server's
row (detached) and finishes nothing itself: the step writes its own outcome."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nubo.compute import models as m
    from nubo.compute.agent import ComputeAgent

Operation = Callable[["ComputeAgent", "m.Server"], None]
OPERATIONS: dict[str, Operation] = {}


def operation(*task_states: str) -> Callable[[Operation], Operation]:
    def add(step: Operation) -> Operation:
        for task_state in task_states:
            OPERATIONS[task_state] = step
        return step

    return add
