"""Image and member bodies as Glance v2 returns them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from nubo.image.models import Image, ImageMember, ImageTask


def timestamp(when: dt.datetime | None) -> str | None:
    if when is None:
        return None
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def image(row: Image, tags: list[str], store: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = dict(row.properties or {})
    body.update(
        {
            "id": row.id,
            "name": row.name,
            "status": row.status,
            "visibility": row.visibility,
            "protected": bool(row.protected),
            "os_hidden": bool(row.os_hidden),
            "checksum": row.checksum,
            "os_hash_algo": row.os_hash_algo,
            "os_hash_value": row.os_hash_value,
            "owner": row.owner,
            "size": row.size,
            "virtual_size": row.virtual_size,
            "min_ram": row.min_ram,
            "min_disk": row.min_disk,
            "disk_format": row.disk_format,
            "container_format": row.container_format,
            "tags": sorted(tags),
            "created_at": timestamp(row.created_at),
            "updated_at": timestamp(row.updated_at),
            "self": f"/v2/images/{row.id}",
            "file": f"/v2/images/{row.id}/file",
            "schema": "/v2/schemas/image",
        }
    )
    if row.location and store:
        body["stores"] = store
    return body


def member(row: ImageMember) -> dict[str, Any]:
    return {
        "image_id": row.image_id,
        "member_id": row.member_id,
        "status": row.status,
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
        "schema": "/v2/schemas/member",
    }


def task(row: ImageTask) -> dict[str, Any]:
    return {
        "id": row.id,
        "type": row.type,
        "status": row.status,
        "owner": row.owner,
        "input": row.input,
        "result": row.result,
        "message": row.message,
        "image_id": row.image_id,
        "request_id": row.request_id,
        "user_id": row.user_id,
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
        "expires_at": timestamp(row.expires_at),
        "self": f"/v2/tasks/{row.id}",
        "schema": "/v2/schemas/task",
    }
