"""Forecasts: when a meter will reach its limit, or a balance zero, at the current burn rate.

The rate is a least-squares line through the readings of the current period, so a single
noisy reading does not swing it. Too few readings, or too short a span, give no forecast
rather than a guess.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from operator import ge, lt, mul
from typing import Any

from quotawatch.core.sanity import PLAUSIBLE_MAX
from quotawatch.core.snapshot import Meter, Snapshot
from quotawatch.core.window import ABSENT, Window

if sys.version_info >= (3, 12):
    from math import sumprod
else:  # the CLI's oldest Python: the same sums, in Python

    def sumprod(p: list[float], q: list[float]) -> float:
        total: float = sum(map(mul, p, q))
        return total


MIN_READINGS = 3
MIN_SPAN = timedelta(hours=1)
MIN_SPAN_SECONDS = MIN_SPAN.total_seconds()


@dataclass(frozen=True)
class Forecast:
    meter: str
    per_day: float  # units consumed per day (positive: burning)
    runs_out_at: datetime | None  # when the limit is reached / the balance is zero; None: not burning
    unit: str

    def runs_out_before(self, horizon: datetime) -> bool:
        return self.runs_out_at is not None and self.runs_out_at <= horizon


def forecast(meter: Meter, readings: list[tuple[datetime, Meter]], now: datetime) -> Forecast | None:
    """Burn rate and run-out time of `meter` from earlier readings of it (any order).

    Meters with a limit are projected by `used` to the limit; balances (no limit) by
    `remaining` to zero. The current reading counts as one of the readings.
    """
    by_limit = _by_limit(meter)
    if by_limit is None:
        return None
    times: list[float] = []
    values: list[float] = []
    for at, reading in reversed(readings):  # newest first, as a window's rows; of one time the last wins
        value = reading.used if by_limit else reading.remaining
        if value is not None and -PLAUSIBLE_MAX <= value <= PLAUSIBLE_MAX:  # plausible(), inline: per point
            times.append(at.timestamp())
            values.append(value)
    return _fit(meter, by_limit, times, values, now)


def period_forecast(meter: Meter, snapshot: Snapshot, history: list[Snapshot]) -> Forecast | None:
    """`window_forecast` over earlier snapshots: for status and the report, which hold
    snapshots, not the stored window."""
    window = Window.of(history)
    at = snapshot.checked_at.timestamp()
    return window_forecast(meter, snapshot, window, [row for row, t in enumerate(window.times) if t < at])


def window_forecast(meter: Meter, snapshot: Snapshot, window: Window, rows: list[int]) -> Forecast | None:
    """The forecast of `meter` in `snapshot` over the window's earlier `rows` (newest first),
    as the rules ask it for every meter of every reading."""
    by_limit = _by_limit(meter)
    column = window.meters.get(meter.name)
    if by_limit is None or column is None:
        return None  # no earlier reading of it: fewer than MIN_READINGS points
    if not by_limit and meter.remaining is None and column.remaining.count(None) == len(column.remaining):
        return None  # a count without a limit or balance: no figure to project, now or before
    times, values = period_points(meter.name, snapshot, window, rows, by_limit)
    return _fit(meter, by_limit, times, values, snapshot.checked_at)


def period_points(
    name: str, snapshot: Snapshot, window: Window, rows: list[int], by_limit: bool
) -> tuple[list[float], list[float]]:
    """The times and figures (used, or the balance) of meter `name` in the window's earlier
    `rows` (newest first) that read it in the snapshot's billing period: the provider's when
    it gives one, otherwise since its usage last fell or its balance rose (a reset or a top-up
    it did not date). Failed checks and readings without the meter are passed over."""
    times: list[float] = []
    values: list[float] = []
    column = window.meters.get(name)
    if column is None:
        return times, values
    start = _epoch(snapshot.period.start) if snapshot.period else None
    if by_limit and (every := _every_row(name, snapshot, window, rows, start)) is not None:
        return every
    used, remaining, kinds, periods, window_times = (
        column.used,
        column.remaining,
        window.kinds,
        window.periods,
        window.times,
    )
    newer = snapshot.meter(name)
    newer_used, newer_remaining = (newer.used, newer.remaining) if newer else (None, None)
    for row in rows:
        u = used[row]
        if u is ABSENT or kinds[row] is not None:
            continue
        if start is not None and ((period := periods[row]) is None or period[0] != start):
            break
        r = remaining[row]
        if u is not None and newer_used is not None:
            if newer_used < u:
                break
        elif r is not None and newer_remaining is not None and newer_remaining > r:
            break
        newer_used, newer_remaining = u, r
        value = u if by_limit else r
        if value is not None and -PLAUSIBLE_MAX <= value <= PLAUSIBLE_MAX:  # plausible(), inline: per point
            times.append(window_times[row])
            values.append(value)
    return times, values


def _every_row(
    name: str, snapshot: Snapshot, window: Window, rows: list[int], start: int | None
) -> tuple[list[float], list[float]] | None:
    """`period_points` of a meter's `used` when every row counts, as on most runs (no failure,
    one period, usage only rising, every figure a plausible number): the columns' slices, in
    C-level passes instead of a Python step per row; None when any row might not count."""
    count = len(rows)
    newer = snapshot.meter(name)
    figure = None if newer is None else newer.used
    if not count or not isinstance(figure, int | float) or rows != list(range(count)):
        return None
    used: list[Any] = window.meters[name].used[:count]
    if not isinstance(used[0], int | float) or figure < used[0]:
        return None  # usage fell since (a reset): row by row
    if not _NUMBERS.issuperset(map(type, used)) or window.kinds[:count].count(None) != count:
        return None
    if start is not None:
        period = window.periods[0]
        if period is None or period[0] != start or window.periods[:count].count(period) != count:
            return None
    if not all(map(ge, used, islice(used, 1, None))):
        return None  # usage fell somewhere (a reset) or a figure is NaN: row by row
    if not (min(used) >= -PLAUSIBLE_MAX and max(used) <= PLAUSIBLE_MAX):
        return None
    return window.times[:count], used


_NUMBERS = frozenset((int, float))


def _by_limit(meter: Meter) -> bool | None:
    """Whether `meter` is projected by its use to a limit (else by its balance to zero); None:
    not at all (a zero limit is a plan without this feature, not one about to run out; figures
    that cannot be true, core/sanity.py, project nothing)."""
    limit, used = meter.limit, meter.used
    if limit is not None and limit <= 0:
        return None
    for value in (limit, used, meter.remaining):
        if value is not None and not -PLAUSIBLE_MAX <= value <= PLAUSIBLE_MAX:  # plausible(), inline
            return None
    return limit is not None and used is not None


def _fit(meter: Meter, by_limit: bool, times: list[float], values: list[float], now: datetime) -> Forecast | None:
    """The line through the earlier points (newest first; the lists are taken over) and the
    current reading."""
    xs, ys = times, values
    xs.reverse()  # oldest first, the current reading last
    ys.reverse()
    current = meter.used if by_limit else meter.remaining
    if current is not None:
        xs.append(now.timestamp())
        ys.append(current)
    if not all(map(lt, xs, islice(xs, 1, None))):  # not a window's order (a list, an edited item)
        by_time = dict(zip(xs, ys, strict=True))  # of one time the last wins
        xs = sorted(by_time)
        ys = [by_time[x] for x in xs]
    if len(xs) < MIN_READINGS or xs[-1] - xs[0] < MIN_SPAN_SECONDS:
        return None
    first = xs[0]
    return _projected(meter, [x - first for x in xs], ys if by_limit else [-y for y in ys], now)


def _projected(meter: Meter, xs: list[float], ys: list[float], now: datetime) -> Forecast:
    """The forecast of the line through these points (seconds since the first, oldest first)."""
    limit, used = meter.limit, meter.used
    slope_per_second = _slope(xs, ys)
    per_day = slope_per_second * 86_400
    if slope_per_second <= 0:
        return Forecast(meter.name, per_day, None, meter.unit)
    left = limit - used if limit is not None and used is not None else meter.remaining or 0.0
    seconds = max(left, 0.0) / slope_per_second
    if seconds > 3650 * 86_400:  # beyond ten years: not burning in any sense that matters
        return Forecast(meter.name, per_day, None, meter.unit)
    return Forecast(meter.name, per_day, now + timedelta(seconds=seconds), meter.unit)


def _slope(xs: list[float], ys: list[float]) -> float:
    """The least-squares slope, its sums of products in C (`sumprod`, in extended precision:
    a rate may differ from plain sums in its last bits, which nothing shown reads)."""
    n = len(xs)
    mean_x = sum(xs) / n
    mean_y = sum(ys) / n
    dx = [x - mean_x for x in xs]
    variance = sumprod(dx, dx)
    if variance == 0:
        return 0.0
    covariance: float = sumprod(dx, [y - mean_y for y in ys])
    return covariance / variance


def _epoch(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())
