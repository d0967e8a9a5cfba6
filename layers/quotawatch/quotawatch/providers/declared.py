"""A provider declared as data: meters, period, conditions and refusals read by expressions.

`declaration.py` reads and checks a declaration; this module is what it becomes, the
`parse` and `read_refusal` of an ordinary `Provider`. The rules are those the coded
providers follow (providers/parsing.py): numbers may be text, "unlimited" may be a
sentinel, a figure that is there but wrong is a bad answer naming it, and a figure that
is absent is absent.

A meter's figures: any two of used, limit and remaining give the third. A limit that
reads as unlimited leaves no remaining figure (nothing counts down). A reported remaining
is never below zero against a limit; without a limit it is a balance, as reported.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from quotawatch.core.snapshot import Condition, Meter, Period, Severity
from quotawatch.providers import parsing as p
from quotawatch.providers.base import ParsedUsage
from quotawatch.providers.expressions import Expression, Template

FIGURES = ("used", "limit", "remaining")


@dataclass(frozen=True)
class MeterSpec:
    name: str  # for a family, the prefix and '*': "balance:*"
    unit: str
    used: Expression | None = None
    limit: Expression | None = None
    remaining: Expression | None = None
    scale: float = 1.0
    # Limit values that mean unlimited; None: the usual ones (negative, null, absurdly large).
    unlimited: tuple[float | None, ...] | None = None
    # Which figures may be absent: all of them (the meter is left out when they are) when
    # `optional` is True or its expression holds; else those named.
    optional: bool | Expression = False
    optional_figures: frozenset[str] = frozenset()
    # A family: one meter per item of this list, named prefix + the item's `key`.
    each: Expression | None = None
    key: Expression | None = None


@dataclass(frozen=True)
class ConditionSpec:
    name: str
    severity: Severity
    message: Template
    when: Expression | None = None
    # A true/false field (or "true"/"false") that raises the condition when it is
    # `flag_raises`; absent raises nothing; any other value is a bad answer naming it.
    flag: Expression | None = None
    flag_raises: bool = False


@dataclass(frozen=True)
class RefusalSpec:
    status: int
    condition: ConditionSpec


@dataclass(frozen=True)
class PeriodSpec:
    start: Expression | None = None
    end: Expression | None = None
    monthly_on: int | None = None  # a calendar rule: resets on this day of each month (UTC)


@dataclass(frozen=True)
class Reading:
    """How a declared provider reads its answers."""

    meters: tuple[MeterSpec, ...]
    conditions: tuple[ConditionSpec, ...] = ()
    period: PeriodSpec | None = None
    refusals: tuple[RefusalSpec, ...] = ()

    def parse(self, body: Any, now: datetime | None = None) -> ParsedUsage:
        answer = p.require_object(body)
        meters: list[Meter] = []
        for spec in self.meters:
            if spec.each is None:
                meter = _meter(spec, spec.name, answer, answer)
                if meter is not None:
                    meters.append(meter)
            else:
                meters.extend(_family(spec, answer))
        conditions = [c for c in (_condition(spec, answer) for spec in self.conditions) if c is not None]
        return ParsedUsage(tuple(meters), tuple(conditions), _period(self.period, answer, now))

    def read_refusal(self, status: int, body: Any, now: datetime | None = None) -> ParsedUsage | None:
        for refusal in self.refusals:
            if refusal.status == status:
                condition = _condition(refusal.condition, body if isinstance(body, dict) else {})
                if condition is not None:
                    return ParsedUsage(meters=(), conditions=(condition,))
        return None


def _meter(spec: MeterSpec, name: str, item: Any, answer: dict[str, Any]) -> Meter | None:
    whole_optional = spec.optional if isinstance(spec.optional, bool) else spec.optional.holds(answer)
    raw = {figure: _raw(getattr(spec, figure), item) for figure in FIGURES}
    if whole_optional and all(raw[f] is None for f in ("used", "remaining") if getattr(spec, f) is not None):
        return None
    used = _number(spec, "used", raw, item, whole_optional)
    remaining = _number(spec, "remaining", raw, item, whole_optional)
    limit, unlimited = _limit(spec, raw, item)
    if spec.limit is None and used is not None and remaining is not None:
        limit = used + remaining  # no limit declared: what was spent and what is left
    elif spec.used is None and limit is not None and remaining is not None:
        used = max(limit - remaining, 0.0)
    if unlimited:
        remaining = None  # nothing counts down against an unlimited meter
    elif limit is not None:
        remaining = p.remaining(used, limit) if remaining is None else max(remaining, 0.0)
    return Meter(name, used, limit, remaining, spec.unit)


def _raw(expression: Expression | None, item: Any) -> tuple[Any, Expression] | None:
    if expression is None:
        return None
    value = expression.value(item)
    return None if value is None else (value, expression)


def _number(spec: MeterSpec, figure: str, raw: dict[str, Any], item: Any, optional: bool) -> float | None:
    expression: Expression | None = getattr(spec, figure)
    if expression is None:
        return None
    found = raw[figure]
    if found is None:
        if optional or figure in spec.optional_figures:
            return None
        name = expression.missing_field(item)
        raise p.BadResponse(f"field '{name}' is missing", name)
    return _present_number(expression.source, found[0]) * spec.scale


def _limit(spec: MeterSpec, raw: dict[str, Any], item: Any) -> tuple[float | None, bool]:
    """The limit (scaled) and whether it reads as unlimited."""
    if spec.limit is None:
        return None, False
    found = raw["limit"]
    if spec.unlimited is None:
        if found is None:
            return None, True
        value = p.limit({spec.limit.source: found[0]}, spec.limit.source)
        return (None, True) if value is None else (value * spec.scale, False)
    if found is None:
        if None in spec.unlimited:
            return None, True
        name = spec.limit.missing_field(item)
        raise p.BadResponse(f"field '{name}' is missing", name)
    value = _present_number(spec.limit.source, found[0])
    if value in spec.unlimited or value >= p.UNLIMITED_AT:
        return None, True
    return value * spec.scale, False


def _present_number(source: str, value: Any) -> float:
    """A figure that is there (not null): a number, or BadResponse naming it."""
    number = p.number({source: value}, source)
    return 0.0 if number is None else number  # never None: the value is not null


def _family(spec: MeterSpec, answer: dict[str, Any]) -> list[Meter]:
    if spec.each is None or spec.key is None:
        return []
    items = spec.each.value(answer)
    if items is None:
        return []
    if not isinstance(items, list):
        raise p.BadResponse(f"field '{spec.each.source}' is not a list", spec.each.source)
    prefix = spec.name[:-1]
    meters = []
    for index, item in enumerate(items):
        where = f"{spec.each.source}[{index}]"
        key = spec.key.value(item) if isinstance(item, dict) else None
        if isinstance(key, bool) or not isinstance(key, (str, int, float)) or str(key).strip() == "":
            raise p.BadResponse(f"field '{where}.{spec.key.source}' is missing or not a name", where)
        try:
            meter = _meter(spec, prefix + p.one_line(str(key)), item, answer)
        except p.BadResponse as exc:
            raise p.BadResponse(f"{where}: {exc.message}", f"{where}.{exc.field}") from None
        if meter is not None:
            meters.append(meter)
    return meters


def _condition(spec: ConditionSpec, data: dict[str, Any]) -> Condition | None:
    if spec.flag is not None:
        value = spec.flag.value(data)
        if value is None:
            raised = False
        else:
            raised = p.boolean({spec.flag.source: value}, spec.flag.source) == spec.flag_raises
    else:
        raised = spec.when is None or spec.when.holds(data)
    if not raised:
        return None
    return Condition(spec.name, spec.severity, spec.message.render(data))


def _period(spec: PeriodSpec | None, answer: dict[str, Any], now: datetime | None) -> Period | None:
    if spec is None:
        return None
    if spec.monthly_on is not None:
        return monthly_period(spec.monthly_on, now or datetime.now(UTC))
    start = _time(spec.start, answer)
    end = _time(spec.end, answer)
    return None if start is None and end is None else Period(start, end)


def _time(expression: Expression | None, answer: dict[str, Any]) -> datetime | None:
    if expression is None:
        return None
    return p.timestamp({expression.source: expression.value(answer)}, expression.source)


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
