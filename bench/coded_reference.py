"""The cloudlayer.io and Converra parsers as they were written in Python, before both became
declarations (catalogue/cloudlayer.yaml, catalogue/converra.yaml): kept only as the
yardstick of bench/declared.py, which checks both read the same answer to the same meters
and compares their CPU. Not used by QuotaWatch.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from quotawatch.core.snapshot import Condition, Meter, Period, Severity
from quotawatch.providers import parsing as p
from quotawatch.providers.base import ParsedUsage

# (meter name, used field, limit field, unit)
_LIMITED_METERS = (
    ("calls", "calls", "callsLimit", "calls"),
    ("output_bytes", "bytesTotal", "bytesLimit", "bytes"),
    ("compute_time", "computeTimeTotal", "computeTimeLimit", "ms"),
    ("storage", "storageUsed", "storageLimit", "bytes"),
)


def cloudlayer_parse(body: Any, now: datetime | None = None) -> ParsedUsage:
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


# (meter name = the response's object, unit)
_CONVERRA_METERS = (
    ("prompts", "prompts"),
    ("optimizations", "optimizations"),
    ("conversations", "conversations"),
    ("tokens", "tokens"),
)


def converra_parse(body: Any, now: datetime | None = None) -> ParsedUsage:
    """The usage answer as meters and a period; `now` is unused (no dates relative to now)."""
    usage = p.require_object(body)
    meters: list[Meter] = []
    for name, unit in _CONVERRA_METERS:
        meter = _nested(usage, name)
        if meter is None:
            raise p.BadResponse(f"field '{name}' is missing", name)
        used = p.number(_at(meter, "used", name), f"{name}.used")
        cap = p.limit(_at(meter, "limit", name), f"{name}.limit")
        meters.append(Meter(name, used, cap, p.remaining(used, cap), unit))
    return ParsedUsage(tuple(meters), period=_period(usage))


def _period(usage: dict[str, Any]) -> Period | None:
    period = _nested(usage, "period")
    if period is None:
        return None
    start = p.timestamp(_at(period, "start", "period"), "period.start")
    end = p.timestamp(_at(period, "end", "period"), "period.end")
    if start is None and end is None:
        return None
    return Period(start, end)


def _nested(obj: dict[str, Any], field: str) -> dict[str, Any] | None:
    """A nested object, None when missing or null; anything else is a BadResponse naming it."""
    value = obj.get(field)
    return None if value is None else p.require_object(value, field)


def _at(obj: dict[str, Any], field: str, parent: str) -> dict[str, Any]:
    """`obj[field]` under its dotted path, so the readers' errors name e.g. 'prompts.used'."""
    return {f"{parent}.{field}": obj[field]} if field in obj else {}
