"""Instance usage audit logs (``/os-instance_usage_audit_log``, admin).

Nova's compute hosts run a periodic task that records, per host and audit period
(a month by default), how many instances it audited. nubo runs no such task, so
every compute host is reported as not having run for the period: the log is empty
and the totals are zero, in Nova's shape.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from nubo.compute import hosts
from nubo.compute.access import Caller
from nubo.compute.service import ComputeService
from nubo.db.base import utcnow
from nubo.errors import BadRequest


def parse_before(value: str) -> dt.datetime:
    """Nova's ``before`` timestamp: ``%Y-%m-%d %H:%M:%S`` with optional fractions."""
    fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in value else "%Y-%m-%d %H:%M:%S"
    try:
        return dt.datetime.strptime(value, fmt)
    except ValueError:
        raise BadRequest(f"Invalid timestamp for date {value}") from None


def audit_period(before: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """The last completed monthly audit period before ``before`` (now by default):
    from the first of a month to the first of the next."""
    now = before or utcnow().replace(tzinfo=None)
    end = dt.datetime(now.year, now.month, 1)
    if end >= now:
        end = _previous_month(end)
    return _previous_month(end), end


def _previous_month(when: dt.datetime) -> dt.datetime:
    if when.month == 1:
        return dt.datetime(when.year - 1, 12, 1)
    return dt.datetime(when.year, when.month - 1, 1)


def audit_log(
    svc: ComputeService, caller: Caller, before: dt.datetime | None, rule: str
) -> dict[str, Any]:
    caller.check(rule)
    begin, end = audit_period(before)
    with svc.db.reader() as s:
        names = sorted({row.host for row in hosts.compute_services(s)})
    return {
        "period_beginning": str(begin),
        "period_ending": str(end),
        "num_hosts": len(names),
        "num_hosts_done": 0,
        "num_hosts_running": 0,
        "num_hosts_not_run": len(names),
        "hosts_not_run": names,
        "total_instances": 0,
        "total_errors": 0,
        "overall_status": f"{'ALL' if not names else f'0 of {len(names)}'} hosts done. 0 errors.",
        "log": {},
    }
