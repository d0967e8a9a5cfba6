"""OpenRouter: GET /api/v1/key, one API key's credit spend against its own limit.

The endpoint and auth are declared (catalogue/openrouter.yaml); the reading is code,
because a key's limit may reset daily, weekly or monthly (`limit_reset`, at midnight UTC,
a week from Monday) and the period shown must follow it: the declaration language cannot
say "the current UTC week" at the time of the check.

The spend against a limit is `limit - limit_remaining`, never the lifetime `usage`: a
monthly $50 key with $38.25 left has spent $11.75 this month, whatever it spent before.
`limit_remaining` also counts BYOK usage when `include_byok_in_limit` is set. A key without
a limit (`limit: null`) shows its lifetime spend, with nothing counting down.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from quotawatch.core.snapshot import Meter
from quotawatch.providers import parsing as p
from quotawatch.providers.base import ParsedUsage

# The spend of the window `limit_reset` names, for an answer without `limit_remaining`.
_WINDOW_USAGE = {"daily": "usage_daily", "weekly": "usage_weekly", "monthly": "usage_monthly"}


def parse(body: Any, now: datetime) -> ParsedUsage:
    """The key's answer as its credit meter, today's and this month's spend, and the
    limit's reset window as the period."""
    data = p.require_object(p.require_object(body).get("data"), "data")
    key = {f"data.{name}": value for name, value in data.items()}  # so that errors name the path
    limit = p.limit(key, "data.limit")
    reset = key.get("data.limit_reset")
    window = p.utc_window(reset, now) if limit is not None else None
    meters = [_credit(key, limit, reset), *_spend(key)]
    return ParsedUsage(tuple(meters), period=window)


def _credit(key: dict[str, Any], limit: float | None, reset: Any) -> Meter:
    if limit is None:
        return Meter("key_credit", _required(key, "data.usage"), None, None, "USD")
    left = p.number(key, "data.limit_remaining", required=False)
    if left is not None:
        return Meter("key_credit", _usd(max(limit - left, 0.0)), limit, max(left, 0.0), "USD")
    # No remaining figure: the spend of the reset window (BYOK included when the key says so).
    field = _WINDOW_USAGE.get(reset.strip().lower(), "usage") if isinstance(reset, str) else "usage"
    used = _required(key, "data." + field)
    if p.boolean(key, "data.include_byok_in_limit", default=False):
        used += p.number(key, "data.byok_" + field, required=False) or 0.0
    return Meter("key_credit", _usd(used), limit, p.remaining(used, limit), "USD")


def _spend(key: dict[str, Any]) -> list[Meter]:
    """Today's and this month's spend (UTC), when the answer gives them."""
    meters = []
    for name, field in (("spend_today", "usage_daily"), ("spend_this_month", "usage_monthly")):
        used = p.number(key, "data." + field, required=False)
        if used is not None:
            meters.append(Meter(name, used, None, None, "USD"))
    return meters


def _required(key: dict[str, Any], field: str) -> float:
    value = p.number(key, field)
    if value is None:  # never: number() raises for a required field; for the type checker
        raise p.BadResponse(f"field '{field}' is missing", field)
    return value


def _usd(value: float) -> float:
    """Differences of decimal amounts without float noise (11.75, not 11.750000000000002)."""
    return round(value, 9)


METER_NAMES = ("key_credit", "spend_today", "spend_this_month")
