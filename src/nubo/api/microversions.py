"""Microversion negotiation (``OpenStack-API-Version`` and legacy headers)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import total_ordering

from nubo.errors import BadRequest, NotAcceptable

_VERSION = re.compile(r"^(\d+)\.(\d+)$")


@total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> Version:
        m = _VERSION.match(text.strip())
        if not m:
            raise BadRequest(f"Invalid microversion {text!r}: expected MAJOR.MINOR.")
        return cls(int(m.group(1)), int(m.group(2)))

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return (self.major, self.minor) < (other.major, other.minor)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


class VersionNotAcceptable(NotAcceptable):
    """A microversion outside the service's range; the error names the range."""

    def __init__(self, message: str, minimum: Version, maximum: Version) -> None:
        super().__init__(message)
        self.min_version = minimum
        self.max_version = maximum


@dataclass(frozen=True)
class VersionRange:
    """The microversions a service supports."""

    service_type: str
    minimum: Version
    maximum: Version
    legacy_header: str | None = None  # e.g. X-OpenStack-Nova-API-Version

    def negotiate(self, headers: Mapping[str, str]) -> Version:
        """The version asked for (``latest`` allowed), default the minimum; 406 if outside."""
        asked = None
        for value in headers.get("openstack-api-version", "").split(","):
            parts = value.strip().split()
            if len(parts) == 2 and parts[0].lower() == self.service_type:
                asked = parts[1]
        if asked is None and self.legacy_header:
            asked = headers.get(self.legacy_header.lower())
        if asked is None:
            return self.minimum
        if asked.strip().lower() == "latest":
            return self.maximum
        version = Version.parse(asked)
        if not self.minimum <= version <= self.maximum:
            raise VersionNotAcceptable(
                f"Version {version} is not supported by the API. Minimum is {self.minimum} "
                f"and maximum is {self.maximum}.",
                self.minimum,
                self.maximum,
            )
        return version

    def response_headers(self, version: Version) -> dict[str, str]:
        headers = {
            "openstack-api-version": f"{self.service_type} {version}",
            "vary": "OpenStack-API-Version",
        }
        if self.legacy_header:
            headers[self.legacy_header.lower()] = str(version)
        return headers
