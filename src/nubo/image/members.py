"""Image members: the owner shares a ``shared`` image with projects; each consumer
accepts, rejects or leaves it pending."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select

from nubo.db.base import utcnow
from nubo.errors import Conflict, Forbidden, NotFound, PayloadTooLarge
from nubo.image.access import Caller, visible_image
from nubo.image.models import ImageMember

if TYPE_CHECKING:
    from nubo.image.service import ImageService


class Members:
    def __init__(self, service: ImageService) -> None:
        self.svc = service
        self.db = service.db

    def add(self, caller: Caller, image_id: str, member_id: str) -> ImageMember:
        with self.db.session() as s:
            image = visible_image(s, caller, image_id)
            caller.enforce("add_member", image, "You are not permitted to share this image.")
            if image.visibility != "shared":
                raise Forbidden(
                    f"Only shared images have members; image {image_id} is {image.visibility}."
                )
            if s.get(ImageMember, (image_id, member_id)) is not None:
                raise Conflict(f"Member {member_id} already exists for image {image_id}.")
            count = s.scalar(select(func.count()).where(ImageMember.image_id == image_id))
            quota = self.svc.config.image.member_quota
            if (count or 0) >= quota:
                raise PayloadTooLarge(f"Maximum number of image members exceeded: {quota}.")
            row = ImageMember(image_id=image_id, member_id=member_id, status="pending")
            s.add(row)
            s.flush()
            return row

    def list_members(self, caller: Caller, image_id: str) -> list[ImageMember]:
        with self.db.reader() as s:
            image = visible_image(s, caller, image_id)
            caller.enforce("get_members", image, "You are not permitted to list members.")
            if image.visibility != "shared":
                raise Forbidden(
                    f"Only shared images have members; image {image_id} is {image.visibility}."
                )
            query = select(ImageMember).where(ImageMember.image_id == image_id)
            if not caller.owns(image):
                query = query.where(ImageMember.member_id == caller.project_id)
            return list(s.scalars(query.order_by(ImageMember.created_at)))

    def get(self, caller: Caller, image_id: str, member_id: str) -> ImageMember:
        with self.db.reader() as s:
            image = visible_image(s, caller, image_id)
            caller.enforce("get_member", image, "You are not permitted to see this member.")
            row: ImageMember | None = s.get(ImageMember, (image_id, member_id))
            if row is None or not (caller.owns(image) or member_id == caller.project_id):
                raise NotFound(f"Member {member_id} not found for image {image_id}.")
            return row

    def update(self, caller: Caller, image_id: str, member_id: str, status: str) -> ImageMember:
        with self.db.session() as s:
            image = visible_image(s, caller, image_id)
            row = s.get(ImageMember, (image_id, member_id))
            if row is None or not (caller.owns(image) or member_id == caller.project_id):
                raise NotFound(f"Member {member_id} not found for image {image_id}.")
            caller.enforce(
                "modify_member",
                image,
                "Only the consumer project may accept or reject a shared image.",
                member_id=member_id,
            )
            row.status = status
            row.updated_at = utcnow()
            s.flush()
            return row

    def delete(self, caller: Caller, image_id: str, member_id: str) -> None:
        with self.db.session() as s:
            image = visible_image(s, caller, image_id)
            row = s.get(ImageMember, (image_id, member_id))
            caller.enforce("delete_member", image, "You are not permitted to remove members.")
            if row is None:
                raise NotFound(f"Member {member_id} not found for image {image_id}.")
            s.delete(row)
