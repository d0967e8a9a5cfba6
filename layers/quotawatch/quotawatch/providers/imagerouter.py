"""ImageRouter: GET /v1/credits?by_api_key=true with a normal API key as a Bearer token.

The endpoint and auth are declared (catalogue/imagerouter.yaml); the reading is code,
because the declaration language cannot say two things it needs: whether a key's spend
window has reset since its last spend, and how far a key's expiry is from the check.

The account's credit is one meter. Each API key may carry its own USD spend cap over a
window ("day" from 00:00 UTC, "week" from Monday 00:00 UTC, "month" from the 1st, or null
for a lifetime cap); every capped key is a `key:<name>` meter. Keys that expire soon, or
have expired, are `key_expiring:<name>` conditions, so that two keys never share an alert.

A key's `period_start` says which window its `period_spend` belongs to. When that window
has already ended at the time of the check (the key has not spent since the reset), the
spend in the current window is zero, not the old figure: a cap that was nearly reached
yesterday must not keep a daily-capped key critical all of today.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from quotawatch.core.snapshot import Condition, Meter, Severity
from quotawatch.providers import parsing as p
from quotawatch.providers.base import ParsedUsage

KEYS_FIELD = "usage_by_api_key"
# The browser session token of imagerouter.io: not a key the user manages or caps.
WEB_SESSION_ID = "temp_jwt"
EXPIRY_WARNING = timedelta(days=14)
EXPIRY_CRITICAL = timedelta(days=3)


def parse(body: Any, now: datetime) -> ParsedUsage:
    """The credits answer as meters and conditions; `now` judges windows and key expiry."""
    account = p.require_object(body)
    now = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    meters = [_credit(account)]
    conditions: list[Condition] = []

    keys = account.get(KEYS_FIELD)
    if keys is None:  # asked without by_api_key=true: the account figures only
        return ParsedUsage(tuple(meters))
    if not isinstance(keys, list):
        raise p.BadResponse(f"field '{KEYS_FIELD}' is not a list of keys", KEYS_FIELD)

    # The user's keys (not the web session token), each with its position in the list.
    listed = [(index, p.require_object(entry, _where(index))) for index, entry in enumerate(keys)]
    listed = [(index, key) for index, key in listed if key.get("api_key_id") != WEB_SESSION_ID]
    for (index, key), label in zip(listed, _labels(listed), strict=True):
        where = _where(index)
        cap = p.limit(*_field(key, where, "spend_limit"))  # -1 or an absurd figure: no cap after all
        expiry = _expiry(key, where)
        if expiry is not None and expiry - now > EXPIRY_WARNING:
            expiry = None  # nothing to say yet
        if (cap is not None or expiry is not None) and not label:
            path = f"{where}.api_key_name"
            raise p.BadResponse(f"field '{path}' is missing (and there is no api_key_id)", path)
        if cap is not None:
            used = _spend(key, where, now)
            meters.append(Meter(f"key:{label}", used, cap, _usd(p.remaining(used, cap)), "USD"))
        if expiry is not None:
            conditions.append(_expiry_condition(label, expiry, now))
    return ParsedUsage(tuple(meters), tuple(conditions))


def _credit(account: dict[str, Any]) -> Meter:
    """used = credit_usage, limit = total_deposits, remaining = remaining_credits (USD).

    The documentation states credit_usage = total_deposits - remaining_credits, so either
    of the first two may be derived when the other is missing; the balance is required.
    """
    balance = _amount(account, "remaining_credits")
    used = p.number(account, "credit_usage", required=False)
    deposits = p.number(account, "total_deposits", required=False)
    if used is None and deposits is not None:
        used = _usd(max(deposits - balance, 0.0))
    elif deposits is None and used is not None:
        deposits = _usd(used + balance)
    return Meter("credit", used, deposits, balance, "USD")


def _spend(key: dict[str, Any], where: str, now: datetime) -> float:
    """What a capped key has spent in its current window (or in its life, for a lifetime cap)."""
    period = key.get("spend_limit_period")
    window = p.utc_window(period, now)
    if window is not None and window.start is not None:
        started = _date(key, where, "period_start")
        if started is not None and started < window.start:
            return 0.0  # nothing spent since the window reset; the reported spend is the last window's
        return _amount(*_field(key, where, "period_spend"))
    if period is None:  # a lifetime cap: period_spend equals the key's credit_usage
        for name in ("period_spend", "credit_usage"):
            used = p.number(*_field(key, where, name), required=False)
            if used is not None:
                return used
    # No spend figure at all, or a window this module does not know: the figure as reported.
    return _amount(*_field(key, where, "period_spend"))


def _expiry(key: dict[str, Any], where: str) -> datetime | None:
    """When an active key expires; None for keys that never expire or are not active."""
    if key.get("expires_at") in (None, ""):
        return None
    if not p.boolean(*_field(key, where, "is_active"), default=True):
        return None
    return _date(key, where, "expires_at")


def _date(key: dict[str, Any], where: str, name: str) -> datetime | None:
    """A key's date in UTC; one that has no UTC equivalent (year 1 at +05:00) is no date."""
    value = p.timestamp(*_field(key, where, name))
    try:
        return None if value is None else value.astimezone(UTC)
    except OverflowError:
        path = f"{where}.{name}"
        raise p.BadResponse(f"field '{path}' is not a date", path) from None


def _expiry_condition(label: str, expires: datetime, now: datetime) -> Condition:
    left = expires - now
    severity = Severity.CRITICAL if left <= EXPIRY_CRITICAL else Severity.WARNING
    date = f"{expires:%Y-%m-%d}" + ("" if expires.time() == datetime.min.time() else f" {expires:%H:%M} UTC")
    days = (expires.date() - now.date()).days
    if left <= timedelta(0):
        ago = "today" if days == 0 else "yesterday" if days == -1 else f"{-days} days ago"
        message = f"API key '{label}' expired on {date} ({ago}); requests with it are rejected"
    else:
        soon = "today" if days == 0 else "tomorrow" if days == 1 else f"in {days} days"
        message = f"API key '{label}' expires on {date} ({soon})"
    return Condition(f"key_expiring:{label}", severity, message)


def _labels(keys: list[tuple[int, dict[str, Any]]]) -> list[str]:
    """How each key is named in meters and conditions: its name, else its id ('' if neither).

    Keys sharing a name add their id; keys sharing both add their position in the list.
    All keys count, so a key's name does not change when another key starts to expire.
    """
    names = [_text(key.get("api_key_name")) or _text(key.get("api_key_id")) for _, key in keys]
    key_ids = [_text(key.get("api_key_id")) for _, key in keys]
    labels = [
        f"{name} ({key_id})" if name and names.count(name) > 1 and key_id and key_id != name else name
        for name, key_id in zip(names, key_ids, strict=True)
    ]
    return [
        f"{label} #{index + 1}" if label and labels.count(label) > 1 else label
        for (index, _), label in zip(keys, labels, strict=True)
    ]


def _where(index: int) -> str:
    return f"{KEYS_FIELD}[{index}]"


def _text(value: Any) -> str:
    """A name or id as one line of text; '' when there is none."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return ""
    try:
        return p.one_line(str(value))
    except ValueError:  # an integer too long to print
        return ""


def _field(key: dict[str, Any], where: str, name: str) -> tuple[dict[str, Any], str]:
    """A key's field for the shared readers, under its full path so that errors name it."""
    path = f"{where}.{name}"
    return {path: key.get(name)}, path


def _amount(obj: dict[str, Any], field: str) -> float:
    """A required number (the reader raises, naming the field, when it is missing)."""
    value = p.number(obj, field)
    if value is None:
        raise p.BadResponse(f"field '{field}' is missing", field)
    return value


def _usd(value: float | None) -> float | None:
    """Differences of decimal amounts without float noise (0.9, not 0.9000000000000004)."""
    return None if value is None else round(value, 9)


# The names snapshots use; the endpoint and auth are declared in catalogue/imagerouter.yaml.
METER_NAMES = ("credit", "key:*")
CONDITION_NAMES = ("key_expiring:*",)
read_refusal = None  # ImageRouter refuses nothing that is a reading


def __getattr__(name: str) -> Any:
    if name == "PROVIDER":  # the declared provider, with this module's parser
        from quotawatch.providers import get_provider

        return get_provider("imagerouter")
    raise AttributeError(name)
