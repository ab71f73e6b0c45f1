"""Image data: upload, download (with ranges), staging and interoperable import.

Data is streamed chunk by chunk into the store while md5, sha512 and the format
inspector see every byte, so nothing holds a whole image in memory. Status moves
queued -> saving -> active; an upload that fails on the client's side (quota,
disconnect, wrong size) puts the image back to queued, one whose content is bad
(format mismatch, unsafe qcow2) leaves it killed and unusable.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import queue
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from nubo.db.base import utcnow
from nubo.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    NuboError,
    QuotaExceeded,
    RangeNotSatisfiable,
)
from nubo.image import formats
from nubo.image.access import Caller, visible_image
from nubo.image.models import Image, ImageTask
from nubo.image.store import ImageStore

if TYPE_CHECKING:
    from nubo.image.service import ImageService

log = logging.getLogger(__name__)

HASH_ALGO = "sha512"
TASK_LIFETIME = dt.timedelta(hours=48)


class BadContent(BadRequest):
    """The data is not what the image claims to be: the image is killed."""


@dataclass
class Written:
    size: int
    checksum: str
    hash_value: str
    virtual_size: int | None


@dataclass
class Download:
    image: Image
    chunks: Iterator[bytes]
    start: int
    end: int  # inclusive
    total: int
    partial: bool


class Digest:
    """md5 and sha512 of a stream, the sha512 in a second thread: hashlib releases the
    GIL on large buffers, so the two hashes run on two cores and the upload is bound
    by the slower one instead of their sum."""

    def __init__(self) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.sha = hashlib.sha512()
        self.pending: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self.thread = threading.Thread(target=self._hash, name="image-sha512", daemon=True)
        self.thread.start()
        self.done = False

    def _hash(self) -> None:
        while (chunk := self.pending.get()) is not None:
            self.sha.update(chunk)

    def update(self, chunk: bytes) -> None:
        self.pending.put(chunk)
        self.md5.update(chunk)

    def finish(self) -> tuple[str, str]:
        if not self.done:
            self.done = True
            self.pending.put(None)
            self.thread.join()
        return self.md5.hexdigest(), self.sha.hexdigest()


def write_stream(
    store: ImageStore,
    key: str,
    chunks: Iterable[bytes],
    disk_format: str | None,
    limit: int | None,
    quota_name: str,
    expected: int | None = None,
) -> Written:
    """Stream ``chunks`` into ``store`` under ``key``, hashing and inspecting as it
    goes; nothing is left in the store unless everything checked out."""
    digest = Digest()
    inspector = formats.DiskInspector()
    size = 0
    writer = store.writer(key)
    try:
        for chunk in chunks:
            size += len(chunk)
            if limit is not None and size > limit:
                raise QuotaExceeded(
                    f"Quota exceeded for {quota_name}: the image data is larger than the "
                    "space the project has left."
                )
            digest.update(chunk)
            inspector.feed(chunk)
            writer.write(chunk)
        if expected is not None and size != expected:
            raise BadRequest(
                f"The uploaded data is {size} bytes long, but {expected} bytes were announced."
            )
        inspection = inspector.finish()
        virtual_size = inspection.virtual_size
        if disk_format:
            try:
                virtual_size = formats.check(disk_format, inspection)
            except BadRequest as exc:
                raise BadContent(exc.message) from exc
        checksum, hash_value = digest.finish()
        writer.commit()
    except BaseException:
        digest.finish()
        writer.abort()
        raise
    return Written(size, checksum, hash_value, virtual_size)


def parse_range(header: str | None, total: int) -> tuple[int, int] | None:
    """``Range: bytes=a-b`` (one range) as inclusive offsets; None for the whole body."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        raise RangeNotSatisfiable(f"Unsupported range {header!r}: give one bytes=a-b range.")
    first, sep, last = spec.strip().partition("-")
    try:
        if not sep:
            raise ValueError
        if first == "":
            start, end = max(total - int(last), 0), total - 1
        else:
            start = int(first)
            end = min(int(last), total - 1) if last else total - 1
    except ValueError as exc:
        raise RangeNotSatisfiable(f"Invalid range {header!r}.") from exc
    if start < 0 or start > end or start >= total:
        raise RangeNotSatisfiable(f"Range {header!r} is outside the image's {total} bytes.")
    return start, end


class ImageData:
    def __init__(self, service: ImageService) -> None:
        self.svc = service
        self.db = service.db

    # -- direct upload ------------------------------------------------------

    def upload(
        self, caller: Caller, image_id: str, chunks: Iterable[bytes], length: int | None
    ) -> None:
        with self.db.session() as s:
            image = visible_image(s, caller, image_id)
            caller.enforce("upload_image", image, "You are not permitted to upload this image.")
            self._ready_for_data(image)
            quotas = self.svc.quotas
            quotas.check(s, image.owner, "image_count_uploading")
            limit = quotas.bytes_left(s, image.owner, "image_size_total")
            if limit is not None and length is not None and length > limit:
                raise QuotaExceeded(
                    "Quota exceeded for image_size_total: the image data is larger than the "
                    "space the project has left."
                )
            image.status = "saving"
            image.updated_at = utcnow()
            disk_format = image.disk_format
            expected = image.size if image.size is not None else length
        store = self.svc.store
        try:
            written = write_stream(
                store, image_id, chunks, disk_format, limit, "image_size_total", expected
            )
        except BadContent:
            self._set_status(image_id, "killed")
            raise
        except BaseException:
            self._set_status(image_id, "queued")
            raise
        self._activate(image_id, written, f"{store.name}:{image_id}")

    def _ready_for_data(self, image: Image) -> None:
        if image.status != "queued":
            raise Conflict(
                f"Image {image.id} is {image.status}: data can only be added to a queued image."
            )
        if not image.disk_format or not image.container_format:
            raise BadRequest(
                "Properties disk_format, container_format must be set prior to saving data."
            )

    def _set_status(self, image_id: str, status: str) -> None:
        with self.db.session() as s:
            image = s.get(Image, image_id)
            if image is not None:
                image.status = status
                image.updated_at = utcnow()

    def _activate(self, image_id: str, written: Written, location: str) -> None:
        with self.db.session() as s:
            image = s.get(Image, image_id)
            if image is None:
                self.svc.drop_data(image_id, location, staged=False)
                raise Gone(f"Image {image_id} was deleted while its data was being written.")
            image.size = written.size
            image.checksum = written.checksum
            image.os_hash_algo = HASH_ALGO
            image.os_hash_value = written.hash_value
            image.virtual_size = written.virtual_size
            image.location = location
            image.status = "active"
            image.updated_at = utcnow()

    # -- download -----------------------------------------------------------

    def download(self, caller: Caller, image_id: str, range_header: str | None) -> Download | None:
        """The data to send, or None when the image has none (a 204)."""
        with self.db.reader() as s:
            image = visible_image(s, caller, image_id)
            caller.enforce("download_image", image, "You are not permitted to download this image.")
            if image.status == "deactivated" and not caller.is_admin:
                raise Forbidden(
                    "The requested image has been deactivated. Image data download is forbidden."
                )
            if image.location is None or image.status not in ("active", "deactivated"):
                return None
        key = image.location.split(":", 1)[1]
        total = image.size if image.size is not None else self.svc.store.size(key)
        span = parse_range(range_header, total) if total else None
        start, end = span if span else (0, total - 1)
        chunks = self.svc.store.read(key, start, end - start + 1)
        return Download(image, chunks, start, end, total, span is not None)

    # -- interoperable import -----------------------------------------------

    def stage(
        self, caller: Caller, image_id: str, chunks: Iterable[bytes], length: int | None
    ) -> None:
        with self.db.session() as s:
            image = visible_image(s, caller, image_id)
            caller.enforce("stage_image", image, "You are not permitted to stage this image.")
            if image.status != "queued":
                raise Conflict(
                    f"Image {image_id} is {image.status}: only a queued image can be staged."
                )
            quotas = self.svc.quotas
            quotas.check(s, image.owner, "image_count_uploading")
            limit = quotas.bytes_left(s, image.owner, "image_stage_total")
            image.status = "uploading"
            image.updated_at = utcnow()
        try:
            # staged data is inspected when it is imported, as its disk_format may still change
            written = write_stream(
                self.svc.staging, image_id, chunks, None, limit, "image_stage_total", length
            )
        except BaseException:
            self._set_status(image_id, "queued")
            raise
        with self.db.session() as s:
            staged = s.get(Image, image_id)
            if staged is None:
                self.svc.staging.delete(image_id)
                raise Gone(f"Image {image_id} was deleted while its data was being staged.")
            staged.staged_size = written.size

    def start_import(self, caller: Caller, image_id: str, body: dict[str, object]) -> None:
        method = body["method"]
        assert isinstance(method, dict)
        name = method["name"]
        with self.db.session() as s:
            image = visible_image(s, caller, image_id)
            caller.enforce("import_image", image, "You are not permitted to import this image.")
            if name not in self.svc.import_methods():
                raise BadRequest(f"Import method {name} is not supported by this cloud.")
            if not image.disk_format or not image.container_format:
                raise Conflict(
                    "Properties disk_format, container_format must be set prior to importing."
                )
            if name == "glance-direct":
                if image.status != "uploading" or image.staged_size is None:
                    raise Conflict(
                        f"Image status '{image.status}' is not valid for glance-direct: "
                        "stage the data first."
                    )
                source: str | None = None
            else:
                if image.status != "queued":
                    raise Conflict(f"Image status '{image.status}' is not valid for {name}.")
                uri = method.get("uri")
                if not isinstance(uri, str):
                    raise BadRequest("web-download needs the 'uri' of the data.")
                self.svc.web.check(uri)
                source = uri
                self.svc.quotas.check(s, image.owner, "image_count_uploading")
            image.status = "importing"
            image.updated_at = utcnow()
            props = dict(image.properties or {})
            props.pop("os_glance_failed_import", None)
            props["os_glance_importing_to_stores"] = self.svc.store.name
            image.properties = props
            s.add(
                ImageTask(
                    id=str(uuid.uuid4()),
                    image_id=image_id,
                    status="processing",
                    owner=image.owner,
                    user_id=caller.user_id,
                    request_id=caller.request_id,
                    input={
                        "image_id": image_id,
                        "import_req": body,
                        "backend": [self.svc.store.name],
                    },
                )
            )
        self.svc.run_import(image_id, source)

    def finish_import(self, image_id: str, uri: str | None) -> None:
        """Move staged (or downloaded) data into the store and activate the image.
        Runs in the background; safe to run again after a restart."""
        with self.db.reader() as s:
            image = s.get(Image, image_id)
            if image is None or image.status != "importing":
                return
            disk_format = image.disk_format
            owner = image.owner
            limit = self.svc.quotas.bytes_left(s, owner, "image_size_total")
        store = self.svc.store
        try:
            chunks = self.svc.web.fetch(uri) if uri else self.svc.staging.read(image_id)
            written = write_stream(store, image_id, chunks, disk_format, limit, "image_size_total")
        except BadContent as exc:
            log.warning("import of image %s refused: %s", image_id, exc.message)
            self._end_import(image_id, "killed", exc.message)
            return
        except NuboError as exc:
            log.warning("import of image %s failed: %s", image_id, exc.message)
            self._end_import(image_id, "queued", exc.message)
            return
        except Exception:
            log.exception("import of image %s failed", image_id)
            self._end_import(image_id, "queued", "The import failed; see the service log.")
            return
        self._activate(image_id, written, f"{store.name}:{image_id}")
        self._end_import(image_id, None)

    def _end_import(self, image_id: str, status: str | None, message: str = "") -> None:
        """Clear the staging area and record the outcome on the image and its task;
        ``status`` None means the import succeeded."""
        self.svc.staging.delete(image_id)
        store = self.svc.store.name
        with self.db.session() as s:
            image = s.get(Image, image_id)
            if image is not None:
                image.staged_size = None
                props = dict(image.properties or {})
                props.pop("os_glance_importing_to_stores", None)
                if status is not None:
                    image.status = status
                    image.updated_at = utcnow()
                    props["os_glance_failed_import"] = store
                image.properties = props
            tasks = s.scalars(
                select(ImageTask).where(
                    ImageTask.image_id == image_id, ImageTask.status == "processing"
                )
            )
            for task in tasks:
                task.status = "failure" if status else "success"
                task.message = message
                task.result = {"image_id": image_id} if status is None else None
                task.updated_at = utcnow()
                task.expires_at = utcnow() + TASK_LIFETIME

    def tasks(self, caller: Caller, image_id: str) -> list[ImageTask]:
        with self.db.reader() as s:
            image = visible_image(s, caller, image_id)
            caller.enforce("get_image", image, "You are not permitted to see this image's tasks.")
            query = select(ImageTask).where(ImageTask.image_id == image_id)
            return list(s.scalars(query.order_by(ImageTask.created_at)))
