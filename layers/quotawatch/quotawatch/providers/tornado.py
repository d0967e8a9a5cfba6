"""Tornado API (video and podcast download): GET /usage with x-api-key.

Which fields the answer has depends on the key: trial (limited) keys carry a storage quota
(`storage_limit_gb`, `storage_remaining_gb`), Stripe-billed keys a billing period and the
storage used in it, and keys with no limit neither. The quota is enforced on the effective
storage (used plus reserved by jobs in progress), so that is the figure the meter uses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from quotawatch.core.snapshot import Condition, Meter, Period, Severity
from quotawatch.providers import parsing as p
from quotawatch.providers.base import ParsedUsage, Provider


def parse(body: Any, now: datetime | None = None) -> ParsedUsage:
    """The usage answer as meters; `now` is unused (Tornado reports no expiry dates)."""
    usage = p.require_object(body)

    used = p.number(usage, "storage_effective_usage_gb")
    cap = p.limit(usage, "storage_limit_gb")
    left: float | None = None
    if cap is not None:  # a remaining figure only means something against a quota
        reported = p.number(usage, "storage_remaining_gb", required=False)
        left = p.remaining(used, cap) if reported is None else max(reported, 0.0)
    meters = [
        Meter("storage", used, cap, left, "GB"),
        Meter("jobs", p.number(usage, "usage_count"), None, None, "jobs"),
    ]
    period_storage = p.number(usage, "current_period_usage_gb", required=False)
    if period_storage is not None:
        meters.append(Meter("period_storage", period_storage, None, None, "GB"))

    start = p.timestamp(usage, "billing_period_start")
    end = p.timestamp(usage, "billing_period_end")
    period = Period(start, end) if start is not None or end is not None else None

    conditions: list[Condition] = []
    billing_error = usage.get("billing_error")
    if billing_error not in (None, False, ""):
        detail = _detail(billing_error)
        conditions.append(
            Condition(
                "billing_error",
                Severity.WARNING,
                "Tornado could not read billing information" + (f": {detail}" if detail else ""),
            )
        )
    return ParsedUsage(tuple(meters), tuple(conditions), period)


def read_refusal(status: int, body: Any, now: datetime | None = None) -> ParsedUsage | None:
    """A 403 about the storage quota is a reading: the quota is full, the key still works."""
    detail = _detail(body.get("error") or body.get("message")) if isinstance(body, dict) else ""
    if status != 403 or "quota" not in detail.lower():
        return None
    return ParsedUsage(
        meters=(),
        conditions=(Condition("storage_quota_reached", Severity.CRITICAL, f"Tornado refuses new jobs: {detail}"),),
    )


def _detail(value: Any) -> str:
    """The provider's error text on one line; nothing when it gave no text.

    Whole: it may hold the key, and it is masked (then cut) with the snapshot's other texts
    in fetching. Cutting it here first would leave a cut-off key that no longer matches.
    """
    if isinstance(value, dict):
        value = value.get("message") or value.get("error") or value.get("code")
    if not isinstance(value, str):
        return ""
    return p.one_line(value)


PROVIDER = Provider(
    name="tornado",
    display_name="Tornado API",
    base_url="https://api.tornadoapi.io",
    path="/usage",
    auth_headers=lambda key: {"x-api-key": key},
    parse=parse,
    meter_names=("storage", "jobs", "period_storage"),
    condition_names=("billing_error", "storage_quota_reached"),
    read_refusal=read_refusal,
)
