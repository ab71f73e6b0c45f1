"""Image records: create, show, list, JSON-patch update, delete, tags,
deactivate and reactivate. The bytes are in ``data.py``."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from nubo.api.validation import validate
from nubo.db.base import utcnow
from nubo.errors import BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge
from nubo.image import listing, patch
from nubo.image.access import Caller, visible_image
from nubo.image.models import Image, ImageMember, ImageTag
from nubo.image.schemas import IMAGE_WRITE, WRITABLE

if TYPE_CHECKING:
    from nubo.image.service import ImageService

_CORE_COLUMNS = (
    "name",
    "visibility",
    "protected",
    "os_hidden",
    "disk_format",
    "container_format",
    "min_ram",
    "min_disk",
    "owner",
)
# while data exists these describe it and may no longer change
_DATA_FORMATS = ("disk_format", "container_format")


class Images:
    def __init__(self, service: ImageService) -> None:
        self.svc = service
        self.db = service.db

    # -- reading ------------------------------------------------------------

    def get(self, caller: Caller, image_id: str) -> tuple[Image, list[str]]:
        with self.db.reader() as s:
            image = visible_image(s, caller, image_id)
            return image, self.tags(s, image.id)

    def list_images(
        self, caller: Caller, query: Sequence[tuple[str, str]]
    ) -> tuple[list[Image], dict[str, list[str]], listing.Query]:
        q = listing.parse(query)
        with self.db.reader() as s:
            rows, tags = listing.select_page(s, caller, q)
            return rows, tags, q

    @staticmethod
    def tags(s: Session, image_id: str) -> list[str]:
        return list(s.scalars(select(ImageTag.value).where(ImageTag.image_id == image_id)))

    # -- writing ------------------------------------------------------------

    def create(self, caller: Caller, body: Any) -> tuple[Image, list[str]]:
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object describing the image.")
        for key in body:
            if key != "id":
                patch.check_name(key)
        validate(body, IMAGE_WRITE)
        owner = body.get("owner", caller.project_id) if caller.is_admin else caller.project_id
        if "owner" in body and not caller.is_admin and body["owner"] != caller.project_id:
            raise Forbidden("You are not permitted to create images owned by another project.")
        image = Image(
            id=body.get("id") or str(uuid.uuid4()),
            owner=owner,
            status="queued",
            visibility=body.get("visibility", "shared"),
            properties={},
        )
        caller.enforce("add_image", image, "You are not permitted to create images.")
        self._check_visibility(caller, image, image.visibility)
        tags = _unique(body.get("tags", []))
        self._set_fields(image, body)
        self._check_counts(tags, image.properties)
        with self.db.session() as s:
            if s.get(Image, image.id) is not None:
                raise Conflict(f"Image with identifier {image.id} already exists!")
            self.svc.quotas.check(s, owner, "image_count_total")
            s.add(image)
            s.flush()
            for tag in tags:
                s.add(ImageTag(image_id=image.id, value=tag))
        return image, tags

    def update(
        self, caller: Caller, image_id: str, ops: Any, media_type: str
    ) -> tuple[Image, list[str]]:
        with self.db.session() as s:
            image = visible_image(s, caller, image_id)
            caller.enforce("modify_image", image, "You are not permitted to modify this image.")
            tags = self.tags(s, image.id)
            before = self._document(image, tags)
            after = patch.apply(before, ops, media_type)
            changed = {k: v for k, v in after.items() if before.get(k) != v}
            removed = [k for k in before if k not in after]
            if "owner" in changed and not caller.is_admin:
                raise Forbidden("Attribute 'owner' is read-only.")
            if "visibility" in changed:
                self._check_visibility(caller, image, changed["visibility"])
            if any(k in changed for k in _DATA_FORMATS) and image.status != "queued":
                raise Forbidden(
                    "disk_format and container_format may be changed only while the "
                    "image is queued."
                )
            new_tags = _unique(after.get("tags", []))
            custom = {k: v for k, v in after.items() if k not in WRITABLE}
            self._check_counts(new_tags, custom)
            self._set_fields(image, {k: v for k, v in after.items() if k in _CORE_COLUMNS})
            image.properties = custom
            if changed or removed:
                image.updated_at = utcnow()
            if set(new_tags) != set(tags):
                s.execute(delete(ImageTag).where(ImageTag.image_id == image.id))
                s.flush()
                for tag in new_tags:
                    s.add(ImageTag(image_id=image.id, value=tag))
            s.flush()
            return image, new_tags

    def delete(self, caller: Caller, image_id: str) -> None:
        with self.db.session() as s:
            image = visible_image(s, caller, image_id)
            caller.enforce("delete_image", image, "You are not permitted to delete this image.")
            if image.protected:
                raise Forbidden(f"Image {image_id} is protected and cannot be deleted.")
            location = image.location
            staged = image.staged_size is not None
            s.execute(delete(ImageTag).where(ImageTag.image_id == image.id))
            s.execute(delete(ImageMember).where(ImageMember.image_id == image.id))
            s.delete(image)
        # the row is gone first: a crash now leaves an orphan file, never a broken image
        self.svc.drop_data(image_id, location, staged)

    def add_tag(self, caller: Caller, image_id: str, tag: str) -> None:
        if len(tag) > 255:
            raise BadRequest("Tag is longer than 255 characters.")
        with self.db.session() as s:
            image = visible_image(s, caller, image_id)
            caller.enforce("modify_image", image, "You are not permitted to modify this image.")
            tags = self.tags(s, image.id)
            if tag in tags:
                return
            self._check_counts([*tags, tag], {})
            s.add(ImageTag(image_id=image.id, value=tag))
            image.updated_at = utcnow()

    def delete_tag(self, caller: Caller, image_id: str, tag: str) -> None:
        with self.db.session() as s:
            image = visible_image(s, caller, image_id)
            caller.enforce("modify_image", image, "You are not permitted to modify this image.")
            row = s.get(ImageTag, (image.id, tag))
            if row is None:
                raise NotFound(f"Tag {tag} not found on image {image_id}.")
            s.delete(row)
            image.updated_at = utcnow()

    def deactivate(self, caller: Caller, image_id: str) -> None:
        self._set_active(caller, image_id, "deactivate", "active", "deactivated")

    def reactivate(self, caller: Caller, image_id: str) -> None:
        self._set_active(caller, image_id, "reactivate", "deactivated", "active")

    def _set_active(self, caller: Caller, image_id: str, rule: str, src: str, dst: str) -> None:
        with self.db.session() as s:
            image = visible_image(s, caller, image_id)
            caller.enforce(rule, image, f"You are not permitted to {rule} this image.")
            if image.status == dst:
                return
            if image.status != src:
                raise Forbidden(f"Not allowed to {rule} an image in status '{image.status}'.")
            image.status = dst
            image.updated_at = utcnow()

    # -- helpers ------------------------------------------------------------

    @staticmethod
    def _document(image: Image, tags: list[str]) -> dict[str, Any]:
        """The flat view a JSON patch works on."""
        doc: dict[str, Any] = dict(image.properties or {})
        for column in _CORE_COLUMNS:
            doc[column] = getattr(image, column)
        doc["protected"] = bool(image.protected)
        doc["os_hidden"] = bool(image.os_hidden)
        doc["tags"] = sorted(tags)
        return doc

    @staticmethod
    def _set_fields(image: Image, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            if key in _CORE_COLUMNS:
                if key in ("min_ram", "min_disk"):
                    value = value or 0
                setattr(image, key, value)
            elif key not in ("id", "tags"):
                image.properties = {**(image.properties or {}), key: value}

    @staticmethod
    def _check_visibility(caller: Caller, image: Image, visibility: str) -> None:
        if visibility == "public":
            caller.enforce("publicize_image", image, "You are not permitted to publicize images.")
        elif visibility == "community":
            caller.enforce(
                "communitize_image", image, "You are not permitted to make images community."
            )

    def _check_counts(self, tags: list[str], properties: Mapping[str, Any]) -> None:
        cfg = self.svc.config.image
        if len(tags) > cfg.tag_quota:
            raise PayloadTooLarge(f"Maximum number of tags exceeded: {cfg.tag_quota}.")
        if len(properties) > cfg.property_quota:
            raise PayloadTooLarge(
                f"Maximum number of custom properties exceeded: {cfg.property_quota}."
            )


def _unique(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))
