"""Converra: GET /api/v1/usage with `Authorization: Bearer <key>`.

Each of prompts, optimizations, conversations and tokens is an object `{used, limit}`;
a null limit means unlimited (tokens always, every meter on Enterprise-like plans).
`prompts` counts active prompts (a level, not a monthly count); the others count the
billing period, given as `period.start` / `period.end`. `optimizations.running` is
informational and not a meter. The plan name lives on GET /account, which is not called:
it would be a second request against the rate limit for a label.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from quotawatch.core.snapshot import Condition, Meter, Period, Severity
from quotawatch.providers import parsing as p
from quotawatch.providers.base import ParsedUsage, Provider

# (meter name = the response's object, unit)
_METERS = (
    ("prompts", "prompts"),
    ("optimizations", "optimizations"),
    ("conversations", "conversations"),
    ("tokens", "tokens"),
)


def parse(body: Any, now: datetime | None = None) -> ParsedUsage:
    """The usage answer as meters and a period; `now` is unused (no dates relative to now)."""
    usage = p.require_object(body)
    meters: list[Meter] = []
    for name, unit in _METERS:
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


def read_refusal(status: int, body: Any, now: datetime | None = None) -> ParsedUsage | None:
    """429 LIMIT_EXCEEDED is a reading: a monthly cap is reached, the key still works."""
    error = body.get("error") if isinstance(body, dict) else None
    if status != 429 or not isinstance(error, dict) or error.get("code") != "LIMIT_EXCEEDED":
        return None
    message = error.get("message")
    # Whole: fetching masks the key out of it, then cuts it (a cut-off key would not match).
    text = p.one_line(message) if isinstance(message, str) else ""
    text = text or "a plan limit is reached"
    details = error.get("details")
    reset = None
    if isinstance(details, dict):
        try:
            reset = p.timestamp(details, "resetAt")
        except p.BadResponse:
            reset = None
    if reset is not None:
        text += f" (resets {reset:%Y-%m-%d})"
    return ParsedUsage(meters=(), conditions=(Condition("limit_exceeded", Severity.CRITICAL, f"Converra: {text}"),))


PROVIDER = Provider(
    name="converra",
    display_name="Converra",
    base_url="https://converra.ai/api/v1",
    path="/usage",
    auth_headers=lambda key: {"Authorization": f"Bearer {key}"},
    parse=parse,
    meter_names=tuple(name for name, _unit in _METERS),
    condition_names=("limit_exceeded",),
    read_refusal=read_refusal,
)
