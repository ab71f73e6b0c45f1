"""The one error a guest image build raises."""

from __future__ import annotations


class GuestImageError(RuntimeError):
    """A guest image cannot be built or read; the message says why."""
