"""The web-download import method: fetch image data from an allowed HTTP(S) host.

Off unless the operator lists hosts in ``image.web_download_allowed_hosts``: an
image service that fetches any URL a user names is a server-side request forgery
waiting to happen.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx

from nubo.errors import BadRequest, Forbidden
from nubo.image.store import CHUNK


class WebDownload:
    def __init__(self, allowed_hosts: str) -> None:
        self.hosts = frozenset(h.strip().lower() for h in allowed_hosts.split(",") if h.strip())

    @property
    def enabled(self) -> bool:
        return bool(self.hosts)

    def check(self, uri: str) -> None:
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadRequest(f"URI {uri!r} is not an http or https URL.")
        if parts.hostname.lower() not in self.hosts:
            raise Forbidden(f"The host {parts.hostname} is not allowed for web-download.")

    def fetch(self, uri: str) -> Iterator[bytes]:
        """The body at ``uri``, chunk by chunk; redirects are not followed (they
        could lead off the allowed hosts)."""
        self.check(uri)
        with httpx.stream("GET", uri, follow_redirects=False, timeout=60.0) as response:
            if response.status_code != 200:
                raise BadRequest(f"web-download of {uri} answered {response.status_code}.")
            yield from response.iter_bytes(CHUNK)
