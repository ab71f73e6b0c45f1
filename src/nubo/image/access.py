"""Who may see and touch an image: the caller, visibility and membership.

Tenant isolation lives here, not only in list filters: an image a caller cannot
see is a 404 whatever it asks, and one it can see but not change is a 403.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nubo.errors import Forbidden, NotFound
from nubo.image.models import Image, ImageMember


@dataclass(frozen=True)
class Caller:
    """The project asking, whether it administers every image, and its policy check."""

    project_id: str | None
    is_admin: bool
    allowed: Callable[[str, Mapping[str, Any]], bool]
    user_id: str | None = None
    request_id: str | None = None

    def enforce(self, rule: str, image: Image, message: str, **extra: Any) -> None:
        if not self.allowed(rule, {"owner": image.owner, "image_id": image.id, **extra}):
            raise Forbidden(message)

    def owns(self, image: Image) -> bool:
        return self.is_admin or (self.project_id is not None and image.owner == self.project_id)


def membership(s: Session, image_id: str, project_id: str | None) -> ImageMember | None:
    if project_id is None:
        return None
    return s.get(ImageMember, (image_id, project_id))


def can_see(s: Session, caller: Caller, image: Image) -> bool:
    if caller.owns(image) or image.visibility in ("public", "community"):
        return True
    if image.visibility == "shared":
        return membership(s, image.id, caller.project_id) is not None
    return False


def visible_image(s: Session, caller: Caller, image_id: str) -> Image:
    """The image, or 404 when it does not exist or the caller cannot see it."""
    image = s.get(Image, image_id)
    if image is None or not can_see(s, caller, image):
        raise NotFound(f"No image found with ID {image_id}")
    return image


def shared_with(caller: Caller, member_status: str) -> Any:
    """Ids of the shared images the caller is a member of (with that member status)."""
    query = select(ImageMember.image_id).where(ImageMember.member_id == caller.project_id)
    if member_status != "all":
        query = query.where(ImageMember.status == member_status)
    return query
