"""cloudlayer.io: GET /v2/account with X-API-Key.

Limit plans cap calls, output bytes, compute time and storage per billing period;
usage plans report -1 for those limits and carry a `credit` balance instead.
The account endpoint gives no billing period dates.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from quotawatch.core.snapshot import Condition, Meter, Severity
from quotawatch.providers import parsing as p
from quotawatch.providers.base import ParsedUsage, Provider

# (meter name, used field, limit field, unit)
_LIMITED_METERS = (
    ("calls", "calls", "callsLimit", "calls"),
    ("output_bytes", "bytesTotal", "bytesLimit", "bytes"),
    ("compute_time", "computeTimeTotal", "computeTimeLimit", "ms"),
    ("storage", "storageUsed", "storageLimit", "bytes"),
)


def parse(body: Any, now: datetime | None = None) -> ParsedUsage:
    """The account answer as meters; `now` is unused (cloudlayer reports no dates)."""
    account = p.require_object(body)
    meters: list[Meter] = []
    for name, used_field, limit_field, unit in _LIMITED_METERS:
        used = p.number(account, used_field)
        cap = p.limit(account, limit_field)
        meters.append(Meter(name, used, cap, p.remaining(used, cap), unit))

    credit = p.number(account, "credit", required=account.get("subType") == "usage")
    if credit is not None:
        meters.append(Meter("credit", None, None, credit, "credits"))

    failed = p.number(account, "errorJobs", required=False)
    if failed is not None:
        meters.append(Meter("failed_jobs", failed, None, None, "jobs"))

    conditions: list[Condition] = []
    if not p.boolean(account, "subActive", default=True):
        plan = account.get("subscription")
        plan = p.one_line(plan) if isinstance(plan, str) else ""  # whole: fetching masks, then cuts
        conditions.append(
            Condition(
                "subscription_inactive",
                Severity.CRITICAL,
                "the cloudlayer.io subscription is not active" + (f" (plan {plan})" if plan else ""),
            )
        )
    return ParsedUsage(tuple(meters), tuple(conditions))


PROVIDER = Provider(
    name="cloudlayer",
    display_name="cloudlayer.io",
    base_url="https://api.cloudlayer.io",
    path="/v2/account",
    auth_headers=lambda key: {"X-API-Key": key},
    parse=parse,
    meter_names=("calls", "output_bytes", "compute_time", "storage", "credit", "failed_jobs"),
    condition_names=("subscription_inactive",),
)
