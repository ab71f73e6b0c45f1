"""Application credentials, access rules, credentials, EC2 credentials and limits."""

from __future__ import annotations
