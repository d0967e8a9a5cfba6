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

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from quotawatch.core.snapshot import Condition, Meter, Period, Severity
from quotawatch.providers import parsing as p
from quotawatch.providers.base import ParsedUsage
from quotawatch.providers.expressions import Expression, Template
from quotawatch.providers.parsing import monthly_period

FIGURES = ("used", "limit", "remaining")

# Units a meter may have: what messages know how to show. Currencies by ISO code; a count
# is a plain lower-case noun ("calls", "characters").
CURRENCIES = frozenset(
    [
        "USD",
        "EUR",
        "GBP",
        "JPY",
        "CAD",
        "AUD",
        "CHF",
        "CNY",
        "INR",
        "BRL",
        "SEK",
        "NOK",
        "DKK",
        "PLN",
        "SGD",
        "HKD",
        "NZD",
        "MXN",
        "ZAR",
    ]
)
SIZE_UNITS = frozenset({"bytes", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB"})
TIME_UNITS = frozenset({"ms", "s", "seconds", "minutes", "hours"})
_COUNT_UNIT = re.compile(r"[a-z][a-z_]{0,29}")


def is_unit(text: str) -> bool:
    return text in CURRENCIES or text in SIZE_UNITS or text in TIME_UNITS or bool(_COUNT_UNIT.fullmatch(text))


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
    # The unit as the answer gives it (an account's currency), when it is one; else `unit`.
    unit_from: Expression | None = None


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
    resets_in: Expression | None = None  # the end as a time from now ("6m0s", seconds)


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
                try:
                    condition = _condition(refusal.condition, body if isinstance(body, dict) else {})
                except p.BadResponse:  # an error body of another shape: not this refusal
                    continue
                if condition is not None:
                    return ParsedUsage(meters=(), conditions=(condition,))
        return None


def _meter(spec: MeterSpec, name: str, item: Any, answer: dict[str, Any]) -> Meter | None:
    # Written for speed (every monitor, every run): each figure read once, no intermediates.
    used_at, limit_at, remaining_at = spec.used, spec.limit, spec.remaining
    raw_used = None if used_at is None else used_at.value(item)
    raw_remaining = None if remaining_at is None else remaining_at.value(item)
    optional = spec.optional
    whole_optional = optional if optional.__class__ is bool else optional.holds(answer)  # type: ignore[union-attr]
    if whole_optional and raw_used is None and raw_remaining is None:
        return None
    used = _figure(spec, used_at, raw_used, item, whole_optional or "used" in spec.optional_figures)
    remaining = _figure(spec, remaining_at, raw_remaining, item, whole_optional or "remaining" in spec.optional_figures)
    limit, unlimited = _limit(spec, item, whole_optional or "limit" in spec.optional_figures)
    if limit_at is None and used is not None and remaining is not None:
        limit = used + remaining  # no limit declared: what was spent and what is left
    elif used_at is None and limit is not None and remaining is not None:
        used = max(limit - remaining, 0.0)
    if unlimited:
        remaining = None  # nothing counts down against an unlimited meter
    elif limit is not None:
        if remaining is None:
            remaining = None if used is None else max(limit - used, 0.0)
        elif remaining < 0.0:
            remaining = 0.0
    return Meter(name, used, limit, remaining, spec.unit if spec.unit_from is None else _unit(spec, item))


def _unit(spec: MeterSpec, item: Any) -> str:
    given = spec.unit_from.value(item) if spec.unit_from is not None else None
    if isinstance(given, str):
        given = given.strip()
        if given.upper() in CURRENCIES:  # "eur" is a currency, not a noun
            return given.upper()
        if is_unit(given):
            return given
    return spec.unit  # none given, or not a unit messages can show


def _figure(spec: MeterSpec, at: Expression | None, raw: Any, item: Any, optional: bool) -> float | None:
    if at is None:
        return None
    if raw is None:
        if optional:
            return None
        name = at.missing_field(item)
        raise p.BadResponse(f"field '{name}' is missing", name)
    value = p.to_number(raw, at.source)
    return value if spec.scale == 1.0 else value * spec.scale


def _limit(spec: MeterSpec, item: Any, may_be_absent: bool) -> tuple[float | None, bool]:
    """The limit (scaled) and whether it reads as unlimited."""
    at = spec.limit
    if at is None:
        return None, False
    raw = at.value(item)
    if raw is None:
        # null means no limit where the declaration says so; a path that names no field is a
        # mistake (a typo in the declaration, or an answer that changed), never "unlimited".
        if (spec.unlimited is None or None in spec.unlimited) and (may_be_absent or not at.absent(item)):
            return None, True
        name = at.missing_field(item)
        raise p.BadResponse(f"field '{name}' is missing", name)
    value = p.to_number(raw, at.source)
    if value >= p.UNLIMITED_AT or (value < 0 if spec.unlimited is None else value in spec.unlimited):
        return None, True
    return (value if spec.scale == 1.0 else value * spec.scale), False


def _family(spec: MeterSpec, answer: dict[str, Any]) -> list[Meter]:
    if spec.each is None or spec.key is None:
        return []
    items = spec.each.value(answer)
    if items is None:
        return []
    if not isinstance(items, list):
        raise p.BadResponse(f"field '{spec.each.source}' is not a list", spec.each.source)
    prefix = spec.name[:-1]
    meters: list[Meter] = []
    seen: dict[str, int] = {}  # name -> index in meters
    # Only a count can be added up: a key repeated in a list of daily buckets (a model's
    # tokens each day) is that key's sum; figures against a limit cannot be.
    sums = spec.limit is None and spec.remaining is None
    for index, item in enumerate(items):
        where = f"{spec.each.source}[{index}]"
        key = spec.key.value(item) if isinstance(item, dict) else None
        if isinstance(key, bool) or not isinstance(key, (str, int, float)) or str(key).strip() == "":
            raise p.BadResponse(f"field '{where}.{spec.key.source}' is missing or not a name", where)
        try:
            meter = _meter(spec, prefix + p.one_line(str(key)), item, answer)
        except p.BadResponse as exc:
            raise p.BadResponse(f"{where}: {exc.message}", f"{where}.{exc.field}") from None
        if meter is None:
            continue
        if sums and meter.name in seen:
            first = meters[seen[meter.name]]
            both = None if first.used is None or meter.used is None else first.used + meter.used
            meters[seen[meter.name]] = replace(first, used=both)
        else:  # a repeated name with a limit is kept twice, as before (core/bounds.py names it)
            seen.setdefault(meter.name, len(meters))
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
    if spec.resets_in is not None:
        wait = p.duration(spec.resets_in.value(answer), spec.resets_in.source)
        end = None if wait is None else (now or datetime.now(UTC)) + wait
    return None if start is None and end is None else Period(start, end)


def _time(expression: Expression | None, answer: dict[str, Any]) -> datetime | None:
    if expression is None:
        return None
    return p.timestamp({expression.source: expression.value(answer)}, expression.source)
