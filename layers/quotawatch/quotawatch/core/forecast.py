"""Forecasts: when a meter will reach its limit, or a balance zero, at the current burn rate.

The rate is a least-squares line through the readings of the current period, so a single
noisy reading does not swing it. Too few readings, or too short a span, give no forecast
rather than a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from operator import attrgetter

from quotawatch.core.sanity import PLAUSIBLE_MAX, plausible
from quotawatch.core.snapshot import Meter, Snapshot
from quotawatch.core.window import ABSENT, Window

MIN_READINGS = 3
_checked_at = attrgetter("checked_at")
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
    newest_first = readings[::-1]  # as a window's rows are; the last of a time still wins
    series = Series(
        [at.timestamp() for at, _ in newest_first],
        [r.used for _, r in newest_first],
        [r.remaining for _, r in newest_first],
    )
    return forecast_series(meter, series, now)


@dataclass(frozen=True)
class Series:
    """Earlier readings of one meter as columns, newest first: POSIX times, used and remaining."""

    times: list[float]
    used: list[float | None]
    remaining: list[float | None]


def forecast_series(meter: Meter, series: Series, now: datetime) -> Forecast | None:
    """`forecast` over the columns of a window (core/window.py), as the rules read it."""
    limit, used = meter.limit, meter.used
    if limit is not None and limit <= 0:
        return None  # a zero limit is a plan without this feature, not one about to run out
    if not all(plausible(v) for v in (limit, used, meter.remaining) if v is not None):
        return None  # figures that cannot be true (core/sanity.py) project nothing
    by_limit = limit is not None and used is not None
    values = series.used if by_limit else series.remaining
    points: dict[float, float] = {}  # by POSIX time: cheaper than datetimes, as exact to the second
    # Oldest first, the current reading last (it wins a tie of times).
    for at, value in zip(
        [*reversed(series.times), now.timestamp()],
        [*reversed(values), used if by_limit else meter.remaining],
        strict=True,
    ):
        if value is not None and -PLAUSIBLE_MAX <= value <= PLAUSIBLE_MAX:  # plausible(), inline: per point
            points[at] = value if by_limit else -value  # a balance burns as its negative rises
    if len(points) < MIN_READINGS:
        return None
    times = list(points)
    if any(a >= b for a, b in pairwise(times)):  # a window's rows are in order; a list may not be
        times.sort()
    if times[-1] - times[0] < MIN_SPAN_SECONDS:
        return None
    first = times[0]
    return _projected(meter, [t - first for t in times], [points[t] for t in times], now)


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


def window_forecast(meter: Meter, snapshot: Snapshot, window: Window, rows: list[int]) -> Forecast | None:
    """`forecast_series(meter, period_series(...), now)` in one walk of the window's columns,
    as the rules ask it for every meter of every reading: the same points, the same sums."""
    limit, used, remaining = meter.limit, meter.used, meter.remaining
    if limit is not None and limit <= 0:
        return None
    if not all(plausible(v) for v in (limit, used, remaining) if v is not None):
        return None
    column = window.meters.get(meter.name)
    if column is None:
        return None  # the reading alone: fewer than MIN_READINGS points
    by_limit = limit is not None and used is not None
    used_column, remaining_column = column.used, column.remaining
    if not by_limit and remaining is None and remaining_column.count(None) == len(remaining_column):
        return None  # a count without a limit or balance: no figure to project, now or before
    start = _epoch(snapshot.period.start) if snapshot.period else None
    kinds, periods, window_times = window.kinds, window.periods, window.times
    newer = snapshot.meter(meter.name) or meter
    newer_used, newer_remaining = newer.used, newer.remaining
    older_than = snapshot.checked_at.timestamp()
    times: list[float] = []  # newest first, as the rows
    values: list[float] = []
    for row in rows:
        u = used_column[row]
        if u is ABSENT or kinds[row] is not None:
            continue
        if start is not None and ((period := periods[row]) is None or period[0] != start):
            break
        r = remaining_column[row]
        # Usage fell, or a balance rose: a reset or a top-up, after which the old rate is void.
        if u is not None and newer_used is not None:
            if newer_used < u:
                break
        elif r is not None and newer_remaining is not None and newer_remaining > r:
            break
        newer_used, newer_remaining = u, r
        value = u if by_limit else r
        if value is not None and -PLAUSIBLE_MAX <= value <= PLAUSIBLE_MAX:
            at = window_times[row]
            if not at < older_than:  # rows not strictly newest first: the general way
                return forecast_series(meter, period_series(meter, snapshot, window, rows), snapshot.checked_at)
            times.append(at)
            values.append(value)
            older_than = at
    times.reverse()  # oldest first, the reading last
    values.reverse()
    current = used if by_limit else remaining
    if current is not None:
        times.append(snapshot.checked_at.timestamp())
        values.append(current)
    if len(times) < MIN_READINGS:
        return None
    first = times[0]
    if times[-1] - first < MIN_SPAN_SECONDS:
        return None
    ys = values if by_limit else [-v for v in values]  # a balance burns as its negative rises
    return _projected(meter, [t - first for t in times], ys, snapshot.checked_at)


def period_series(meter: Meter, snapshot: Snapshot, window: Window, rows: list[int]) -> Series:
    """`period_readings` over a window's columns: the rows are the earlier readings, newest first."""
    series = Series([], [], [])
    column = window.meters.get(meter.name)
    if column is None:
        return series
    start = _epoch(snapshot.period.start) if snapshot.period else None
    used, remaining, kinds, periods, times = column.used, column.remaining, window.kinds, window.periods, window.times
    newer = snapshot.meter(meter.name) or meter
    newer_used, newer_remaining = newer.used, newer.remaining
    for row in rows:
        u = used[row]
        if u is ABSENT or kinds[row] is not None:
            continue
        if start is not None and ((period := periods[row]) is None or period[0] != start):
            break
        r = remaining[row]
        # Usage fell, or a balance rose: a reset or a top-up, after which the old rate is void.
        if u is not None and newer_used is not None:
            if newer_used < u:
                break
        elif r is not None and newer_remaining is not None and newer_remaining > r:
            break
        series.times.append(times[row])
        series.used.append(u)
        series.remaining.append(r)
        newer_used, newer_remaining = u, r
    return series


def period_readings(meter_name: str, snapshot: Snapshot, history: list[Snapshot]) -> list[tuple[datetime, Meter]]:
    """Earlier successful readings of one meter in the snapshot's billing period.

    The period is the provider's when it gives one; otherwise the readings since the
    meter's usage last dropped (a reset the provider did not date).
    """
    readings: list[tuple[datetime, Meter]] = []
    start = snapshot.period.start if snapshot.period else None
    newer = snapshot.meter(meter_name)
    for earlier in sorted(history, key=_checked_at, reverse=True):
        if earlier.error is not None or earlier.checked_at >= snapshot.checked_at:
            continue
        reading = earlier.meter(meter_name)
        if reading is None:
            continue
        if start is not None and (earlier.period is None or earlier.period.start != start):
            break
        if newer is not None and _dropped(reading, newer):
            break
        readings.append((earlier.checked_at, reading))
        newer = reading
    return readings


def _dropped(before: Meter, after: Meter) -> bool:
    """Usage fell, or a balance rose: a reset or a top-up, after which the old rate is void."""
    if before.used is not None and after.used is not None:
        return after.used < before.used
    if before.remaining is not None and after.remaining is not None:
        return after.remaining > before.remaining
    return False


def _slope(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    mean_x = sum(xs) / n
    mean_y = sum(ys) / n
    variance = sum((x - mean_x) ** 2 for x in xs)
    if variance == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / variance


def _epoch(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())
