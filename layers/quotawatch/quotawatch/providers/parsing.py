"""Liberal readers for provider JSON: real APIs drift from their docs.

Each reader names the field it failed on, so a bad answer becomes a `bad_response`
check error a person can act on, never a crash and never a false alert.
"""

from __future__ import annotations

import calendar
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from quotawatch.core.errors import CheckFailed
from quotawatch.core.sanity import PLAUSIBLE_MAX, check_figures
from quotawatch.core.snapshot import ErrorKind, Meter, Period

# A limit at or above this is a provider's way of saying "unlimited".
UNLIMITED_AT = PLAUSIBLE_MAX  # the same bound as core/sanity.py: no account counts this high


class BadResponse(CheckFailed):
    """The provider answered, but not with what a meter needs."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(ErrorKind.BAD_RESPONSE, message)
        self.field = field


def require_object(body: Any, where: str = "response") -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadResponse(f"{where} is not a JSON object (got {_kind(body)})", where)
    return body


def number(obj: dict[str, Any], field: str, *, required: bool = True) -> float | None:
    """A JSON number or a decimal string ("25.5000"); None when absent and optional."""
    if field not in obj or obj[field] is None:
        if required:
            raise BadResponse(f"field '{field}' is missing", field)
        return None
    return to_number(obj[field], field)


def to_number(value: Any, field: str) -> float:
    """A value that is there (not null) as a finite number, or BadResponse naming `field`."""
    kind = type(value)
    if kind is int or kind is float:  # the common case first: a JSON number
        try:
            result = float(value)
        except OverflowError:  # JSON integers are unbounded; past float range is not a usable figure
            raise BadResponse(f"field '{field}' is not a finite number", field) from None
    elif isinstance(value, bool):
        raise BadResponse(f"field '{field}' is not a number (got a boolean)", field)
    elif isinstance(value, (int, float)):
        try:
            result = float(value)
        except OverflowError:
            raise BadResponse(f"field '{field}' is not a finite number", field) from None
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            raise BadResponse(f"field '{field}' is not a number (got text)", field) from None
    else:
        raise BadResponse(f"field '{field}' is not a number (got {_kind(value)})", field)
    if not math.isfinite(result):
        raise BadResponse(f"field '{field}' is not a finite number", field)
    return result


def limit(obj: dict[str, Any], field: str) -> float | None:
    """A limit; None means unlimited: -1 (any negative), null, missing or absurdly large."""
    value = number(obj, field, required=False)
    if value is None or value < 0 or value >= UNLIMITED_AT:
        return None
    return value


def boolean(obj: dict[str, Any], field: str, *, default: bool | None = None) -> bool:
    value = obj.get(field)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if value is None and default is not None:
        return default
    raise BadResponse(f"field '{field}' is not true or false", field)


def timestamp(obj: dict[str, Any], field: str) -> datetime | None:
    """ISO 8601 text or Unix epoch seconds (or milliseconds); None when absent."""
    value = obj.get(field)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadResponse(f"field '{field}' is not a date", field)
    if isinstance(value, (int, float)):
        try:
            seconds = value / 1000 if value > 1e11 else value
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise BadResponse(f"field '{field}' is not a date", field) from None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            if _EPOCH.fullmatch(value.strip()):  # epoch seconds as text: a header's reset time
                return timestamp({field: float(value)}, field)
            raise BadResponse(f"field '{field}' is not a date", field) from None
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        try:
            parsed.astimezone(UTC)  # 9999-12-31T23:00:00-05:00 is past the last UTC date
        except OverflowError:
            raise BadResponse(f"field '{field}' is not a date", field) from None
        return parsed
    raise BadResponse(f"field '{field}' is not a date", field)


_EPOCH = re.compile(r"\d{9,13}(\.\d+)?")
# A duration as rate-limit headers write it: Go's "6m0s", "1h2m3.5s", "20ms", or plain seconds.
_DURATION = re.compile(r"(?:\d{1,12}(?:\.\d{1,9})?(?:ms|h|m|s))+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
MAX_DURATION = timedelta(days=3660)


def duration(value: Any, field: str) -> timedelta | None:
    """A time until something (a reset) in seconds or as "6m0s"; None when absent."""
    if value is None or value == "":
        return None
    text = value.strip() if isinstance(value, str) else None
    if text is not None and _DURATION.fullmatch(text):
        seconds = sum(float(n) * _SECONDS[unit] for n, unit in _DURATION_PART.findall(text))
    else:
        seconds = to_number(value, field)
    if not 0 <= seconds <= MAX_DURATION.total_seconds():
        raise BadResponse(f"field '{field}' is not a duration of 0 to 10 years", field)
    return timedelta(seconds=seconds)


# The names providers give their spend windows, all in UTC (a week starts on Monday).
_WINDOWS = {"day": "day", "daily": "day", "week": "week", "weekly": "week", "month": "month", "monthly": "month"}


def utc_window(name: Any, now: datetime) -> Period | None:
    """The day, week or month named `name` that contains `now` (UTC); None for no window
    (a lifetime limit) or one of another name."""
    kind = _WINDOWS.get(name.strip().lower()) if isinstance(name, str) else None
    if kind is None:
        return None
    now = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if kind == "day":
        return Period(today, today + timedelta(days=1))
    if kind == "week":
        monday = today - timedelta(days=today.weekday())
        return Period(monday, monday + timedelta(days=7))
    first = today.replace(day=1)
    return Period(first, (first + timedelta(days=32)).replace(day=1))


def one_line(text: str) -> str:
    """A provider's text on one line: unprintable characters and runs of whitespace made
    single spaces. Never cut: texts are masked with the key, then cut, in fetching."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def remaining(used: float | None, limit_value: float | None) -> float | None:
    if used is None or limit_value is None:
        return None
    return max(limit_value - used, 0.0)


def require_plausible(meters: tuple[Meter, ...]) -> tuple[Meter, ...]:
    """The meters as they are, or BadResponse naming a figure that cannot be true (core/sanity.py)."""
    problem = check_figures(meters)
    if problem is not None:
        raise BadResponse(f"figures that cannot be true: {problem}")
    return meters


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", type(None): "null"}.get(type(value), type(value).__name__)


TIME_FORMS = ("unix", "rfc3339", "date")
TIME_PLACEHOLDERS = frozenset(f"{at}:{form}" for at in ("now", "period.start", "period.end") for form in TIME_FORMS)


def time_values(monthly_on: int | None, now: datetime) -> dict[str, str]:
    """Each time placeholder's text at `now`: now, and the monthly period's start and end."""
    now = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    moments = {"now": now}
    if monthly_on is not None:
        try:
            period = monthly_period(monthly_on, now)
        except (OverflowError, ValueError):  # a month past year 9999
            raise CheckFailed(ErrorKind.CONFIG, f"no monthly period after {now:%Y-%m}") from None
        moments["period.start"], moments["period.end"] = period.start, period.end  # type: ignore[assignment]
    return {f"{at}:{form}": _time_text(moment, form) for at, moment in moments.items() for form in TIME_FORMS}


def _time_text(moment: datetime, form: str) -> str:
    if form == "unix":
        return str(int(moment.timestamp()))
    if form == "date":
        return moment.date().isoformat()
    return moment.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def monthly_period(day: int, now: datetime) -> Period:
    """The month-long period containing `now` that starts on `day` (the month's last day
    when it is shorter), at 00:00 UTC."""
    now = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)

    def start_in(year: int, month: int) -> datetime:
        last = calendar.monthrange(year, month)[1]
        return datetime(year, month, min(day, last), tzinfo=UTC)

    start = start_in(now.year, now.month)
    if start > now:
        previous = now.replace(day=1) - timedelta(days=1)
        start = start_in(previous.year, previous.month)
    following = (start.replace(day=1) + timedelta(days=32)).replace(day=1)
    return Period(start, start_in(following.year, following.month))
