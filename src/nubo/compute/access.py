"""Who is asking a compute call: the caller every service function takes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nubo.errors import Forbidden

Allowed = Callable[[str, Mapping[str, Any]], bool]


@dataclass(frozen=True)
class Caller:
    project_id: str
    user_id: str
    is_admin: bool
    allowed: Allowed
    request_id: str = ""

    def owns(self, project_id: str | None) -> bool:
        return self.is_admin or project_id == self.project_id

    def check(self, rule: str, target: Mapping[str, Any] | None = None) -> None:
        """Raise Forbidden unless policy allows ``rule`` (``os_compute_api:`` added)."""
        name = rule if rule.startswith("os_compute_api:") else "os_compute_api:" + rule
        full = {"project_id": self.project_id, "user_id": self.user_id, **(target or {})}
        if not self.allowed(name, full):
            raise Forbidden(f"Policy doesn't allow {name} to be performed.")

    def can(self, rule: str, target: Mapping[str, Any] | None = None) -> bool:
        name = rule if rule.startswith("os_compute_api:") else "os_compute_api:" + rule
        full = {"project_id": self.project_id, "user_id": self.user_id, **(target or {})}
        return self.allowed(name, full)
