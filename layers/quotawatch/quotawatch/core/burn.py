"""Burn rate: a meter consuming many times faster than it usually does at this time of day.

Thresholds and the forecast say when a meter runs out at its usual pace; this says that the
pace itself is wrong (a leaked key, a job in a loop), also on meters without a limit.

Consumption is read from the cumulative use between readings, reset- and top-up-aware as
Prometheus' `increase()` is: `used` falling below half of what it was is a new period that
started again from zero (its new value is what was used since); a smaller fall is a
correction and counts as nothing; a balance that rises was topped up and counts as nothing
spent. Between readings the cumulative use is interpolated, so a gap spreads what was
measured across it and never invents use.

Windows (the issue's "both a long and a short window" adapted to a run every 15 minutes):
- short (default 30 minutes, two runs): raised only when the window burns at `factor`
  times its usual rate and *each half* at least at half the factor times the half's own
  usual rate (so a burn beside a nightly batch still counts), each half measured by
  its own reading: the halves meet at the reading nearest the window's middle, so that a
  run off the schedule (a `check-now`) never spreads one reading's step over both
  (after a failed run no reading splits the window: then the last two
  readings' steps, back to two short windows, must each burn at half the factor against
  their own usual rate; a longer gap waits for the next). A single elevated reading is a
  blip and never alerts, however high (the other half reads usual); a burn
  that fills two readings is caught by the second run that sees it. A plain "1 h window
  at 10x" would see a 10x burn only as 5.5x after two runs, and need four.
- long (default 6 hours): does not gate the warning (that would take hours); a burn that
  has lasted the long window at `factor` makes it critical, as does running out at this
  pace before the period ends (or within a week when there is no period).
- factor (default 5): the replay (bench/burn_replay.py) needs headroom under the 10x it
  must catch: with noise, a 10x burn measures 7x to 13x against a usual rate read from
  noisy days, and a quiet hour's rate is floored (below). A year of 100 synthetic meters
  at factor 5 gives no alert that was not planted.

The usual rate is the median, over the previous `baseline_days` days of the same kind
(weekday or weekend, in UTC), of the rate in the same window shifted by whole days; each
day's is the higher of the window and the window half a short window later, so a nightly
batch that starts a few minutes early is still usual; a window that burns at less than that
holds none of the batch, and its usual is the window's own (a burn ending where the batch
starts is caught by its second run, not held to the batch's rate). A day whose window lies
in a gap of readings over GAP (an outage) is left out, unless every day is: its rate is the
gap's average, with whatever batch the gap holds. It is floored by a tenth of the meter's
mean hourly rate over those days: a quiet hour does not make any small use
an anomaly, while a 10x burn in an hour running at an eighth of the mean is still caught
(a floor at the full median hourly rate would hide every burn in the quiet half of a
day). The mean, not the median, so that a meter idle but for its nightly batch has a floor.
Finally `min_spend` (per hour) is a floor on the excess, so that "3 calls instead of 0.2"
is not a leak. A meter with less than `baseline_days` days of readings says so and never
alerts on burn.

A raised burn clears with the same margin as every signal (`AlertPolicy.hysteresis`, read
as a fraction): it holds while the whole short window burns at `factor * (1 - margin)`,
so a burn that stops clears within two runs, once.
"""

from __future__ import annotations

import math
import operator
import statistics
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import accumulate, pairwise
from typing import cast

from quotawatch.core.level import Level

HOUR = 3_600.0
DAY = 86_400.0
FLOOR_SHARE = 0.1  # of the mean hourly rate: the least a usual rate is taken to be
RESET_BELOW = 0.5  # `used` falling below this share of what it was: a new period
RUN_OUT_SOON = 7 * DAY  # without a period end, running out within this is critical
IDLE_FLOOR_PER_HOUR = {"USD": 1.0}  # min_spend without a limit or balance, by unit
IDLE_FLOOR_DEFAULT = 10.0  # ... for any other unit ("3 calls instead of 0.2")
LIMIT_SHARE_FLOOR = 1e-4  # min_spend with a limit (or balance): what would last 10,000 h
# A day alike whose short window lies in a gap of readings longer than this (an outage)
# says nothing of that half hour: its rate is the gap's average, batch and all.
GAP = 3 * HOUR
_EPSILON = 1e-9  # float noise: a burn of exactly `factor` times the usual is a burn


@dataclass(frozen=True)
class BurnSettings:
    """A monitor's burn settings (`burn:` in monitors.yaml); windows in seconds."""

    factor: float = 5.0
    short: float = 1_800.0
    long: float = 21_600.0
    min_spend: float | None = None  # per hour, in the meter's unit; None: see default_min_spend
    baseline_days: int = 7
    off: bool = False

    def __post_init__(self) -> None:
        if not self.factor > 1:
            raise ValueError(f"burn factor must be above 1, not {self.factor}")
        if not 0 < self.short < self.long:
            raise ValueError(f"burn windows: short ({self.short} s) must be positive and under long ({self.long} s)")
        if self.baseline_days < 1:
            raise ValueError(f"burn baseline_days must be at least 1, not {self.baseline_days}")
        if self.min_spend is not None and not self.min_spend >= 0:
            raise ValueError(f"burn min_spend must be zero or more, not {self.min_spend}")


DEFAULT_BURN = BurnSettings()


class Consumption:
    """What a meter consumed up to each reading (cumulative, from its first reading)."""

    __slots__ = ("times", "totals")

    def __init__(self, times: list[float], totals: list[float]) -> None:
        self.times = times
        self.totals = totals

    @classmethod
    def of(cls, times: Sequence[float], values: Sequence[float | None], *, balance: bool) -> Consumption:
        """From readings in time order: `used` values, or a balance's `remaining` (`balance`).

        Readings without the value (None, not finite) are gaps; a reading not later than
        the one before it is skipped.
        """
        rising = len(times) == len(values) and all(map(operator.lt, times, times[1:]))
        figures = cast("Sequence[float]", values)  # when None is not in them
        if values and rising and None not in values and all(map(math.isfinite, figures)):
            return cls._of_every(times, figures, balance=balance)
        kept_times: list[float] = []
        totals: list[float] = []
        keep_time, keep_total = kept_times.append, totals.append
        total = 0.0
        last: float | None = None
        last_at = -math.inf
        # Every run reads every meter's whole window: _spent inlined, as it is the loop's cost.
        for at, value in zip(times, values, strict=True):
            if value is None or at <= last_at or not math.isfinite(value):
                continue
            if last is not None:
                if balance:
                    total += last - value if value < last else 0.0  # a top-up is not negative spend
                elif value >= last:
                    total += value - last
                elif value < last * RESET_BELOW:  # a reset restarts from zero; a correction is nothing
                    total += value if value > 0 else 0.0
            keep_time(at)
            keep_total(total)
            last, last_at = value, at
        return cls(kept_times, totals)

    @classmethod
    def _of_every(cls, times: Sequence[float], values: Sequence[float], *, balance: bool) -> Consumption:
        """`of` when every reading has a finite value and times rise (every run's case): the
        same steps added in the same order, in comprehensions rather than one loop."""
        if balance:
            steps = [last - value if value < last else 0.0 for last, value in pairwise(values)]
        else:
            steps = [
                value - last if value >= last else (value if value > 0 else 0.0) if value < last * RESET_BELOW else 0.0
                for last, value in pairwise(values)
            ]
        return cls(list(times), list(accumulate(steps, initial=0.0)))

    def at(self, when: float) -> float | None:
        """Cumulative consumption at `when`, interpolated between readings; None outside them."""
        times = self.times
        if not times or when < times[0] or when > times[-1]:
            return None
        i = bisect_left(times, when)
        if times[i] == when:
            return self.totals[i]
        t0, t1, c0, c1 = times[i - 1], times[i], self.totals[i - 1], self.totals[i]
        return c0 + (c1 - c0) * (when - t0) / (t1 - t0)

    def rate(self, start: float, end: float) -> float | None:
        """Consumption per hour between two times; None when either lies outside the readings."""
        first, last = self.at(start), self.at(end)
        if first is None or last is None:
            return None
        return (last - first) * HOUR / (end - start)


@dataclass(frozen=True)
class MeterFacts:
    """What the verdict needs besides the consumption: now, and what is left (POSIX seconds)."""

    now: float
    left: float | None = None  # limit - used, or the balance; None: nothing to run out of
    limit: float | None = None
    period_end: float | None = None
    unit: str = ""


@dataclass(frozen=True)
class Burn:
    """The burn verdict of one meter at one run; rates are per hour."""

    level: Level
    enough_history: bool
    settings: BurnSettings
    short_rate: float | None = None
    long_rate: float | None = None
    usual: float | None = None  # the usual rate for the short window at this time of day
    hours_left: float | None = None  # at the short window's pace; None: nothing to run out of
    spare: float | None = None  # seconds from running out to the period's end (positive: before it)
    unit: str = ""
    limited: bool = False  # what runs out is a limit (else a balance)
    period_end: float | None = None  # when `spare` is to the period's end; None: to RUN_OUT_SOON

    @property
    def ratio(self) -> float | None:
        """How many times the usual rate the short window burns; inf when the usual is nothing."""
        if self.short_rate is None or self.usual is None:
            return None
        return self.short_rate / self.usual if self.usual > 0 else math.inf


@dataclass(frozen=True)
class Readings:
    """One meter's readings in time order: POSIX seconds, and `used` (or a balance's `remaining`)."""

    times: Sequence[float]
    values: Sequence[float | None]  # None: the reading lacked it
    balance: bool = False  # values are what remains, not what was used


def burn(
    readings: Readings,
    facts: MeterFacts,
    settings: BurnSettings = DEFAULT_BURN,
    previous: Level = Level.OK,
    margin: float = 0.05,
) -> Burn | None:
    """The burn verdict of a meter from its readings; None when burn is off for it.

    `previous` is the level stored for the signal, `margin` the clearing margin as a
    fraction (`AlertPolicy.hysteresis / 100`).
    """
    if settings.off:
        return None
    if not readings.times or readings.times[0] > facts.now - settings.baseline_days * DAY:
        return Burn(Level.OK, False, settings, unit=facts.unit)  # a young meter: nothing to build
    consumption = Consumption.of(readings.times, readings.values, balance=readings.balance)
    return judge(consumption, facts, settings, previous, margin)


def could_burn(readings: Readings, facts: MeterFacts, settings: BurnSettings, usual_floor: float = 0.0) -> bool:
    """Whether the meter could be burning when its level is OK: False when the short
    window's whole spend is below `min_spend` (the excess over a usual rate, never negative,
    cannot reach it), or below `factor` times `usual_floor`, the least the usual rate can be
    (`usual_floor`). Reads the readings of the short window only, so that a quiet meter
    needs no baseline; True whenever that is not plain (it then takes the full verdict).
    """
    times, values, now = readings.times, readings.values, facts.now
    start = bisect_left(times, now - settings.short) - 1
    while start >= 0 and (values[start] is None or not math.isfinite(values[start] or 0.0)):
        start -= 1  # from the last reading with a figure at or before the window's start
    if start < 0 or any(a >= b for a, b in pairwise(times[start:])):
        return True
    tail = Consumption.of(times[start:], values[start:], balance=readings.balance)
    rate = tail.rate(now - settings.short, now)
    if rate is None:
        return True
    floor = min_spend_of(settings, facts)
    # A margin for the float sums: the full verdict adds the same steps from further back.
    return rate > 0 and rate >= max(floor, settings.factor * usual_floor) * (1 - 1e-6)


def usual_floor(readings: Readings, hour: int, settings: BurnSettings) -> float | None:
    """The least usual rate (`judge`'s, for the short window) of any run in this clock hour
    (POSIX seconds // 3600); None when the readings do not reach back far enough to say.

    Each day alike's rate over any half hour between the same hour's start less a short
    window and its end is at least the least slope between the readings that span it, and
    the usual rate is at least the median of those days' rates: a run whose short window
    burns at under `factor` times this cannot raise. It changes only when an hourly row
    moves in, so the window keeps it (`Window.floors`) and most runs build no baseline.
    Only the readings around each day's span are read (`floor_spans`): a slope is the step
    between two readings, as `Consumption` takes it, so the days before need no sum.
    """
    times, values, balance = readings.times, readings.values, readings.balance
    if len(times) != len(values) or not all(map(operator.lt, times, times[1:])):
        # Readings out of order (never in a window): Consumption skips the late ones, and
        # its totals are a meter that only rises, read with the same steps.
        consumption = Consumption.of(times, values, balance=balance)
        times, values, balance = consumption.times, consumption.totals, False
    least: list[float] = []
    gapped = False
    first_read = next((k for k, value in enumerate(values) if _read(value)), None)
    if first_read is None:
        return None
    last_read = next(k for k in range(len(values) - 1, -1, -1) if _read(values[k]))
    for lo, hi in floor_spans(hour, settings):
        if lo < times[first_read] or hi > times[last_read]:
            return None
        first, last = bisect_right(times, lo) - 1, bisect_left(times, hi)
        while not _read(values[first]):  # the last reading with a figure at or before lo
            first -= 1
        while not _read(values[last]):  # the first at or after hi
            last += 1
        least.append(_least_slope(times, values, first, last, balance))
        gapped = gapped or times[last] - times[first] > GAP
    # A run may leave out a day in a gap (_usual_short): then the least of the days bounds
    # the median of any of them, where the median of all need not.
    return _down_to_3_digits(min(least) if gapped else statistics.median(least))


@lru_cache(maxsize=16)  # every meter of a monitor asks for the same hour, mostly with the same settings
def floor_spans(hour: int, settings: BurnSettings) -> tuple[tuple[float, float], ...]:
    """What `usual_floor` of this clock hour reads: on each day alike, from a short window
    before the hour's start to its end (POSIX seconds)."""
    return tuple((day - settings.short, day + HOUR) for day in _alike(hour * HOUR, settings))


def _read(value: float | None) -> bool:
    """Whether a reading has a figure (`Consumption.of` skips the others)."""
    return value is not None and math.isfinite(value)


def _least_slope(times: Sequence[float], values: Sequence[float | None], first: int, last: int, balance: bool) -> float:
    """The least consumption per hour between two successive readings with a figure, from
    `first` to `last` (both with one), each step as `Consumption.of` adds it."""
    least = math.inf
    at, value = times[first], values[first] or 0.0  # has a figure: `or` only says so to mypy
    isfinite = math.isfinite
    for k in range(first + 1, last + 1):
        new = values[k]
        if new is None or not isfinite(new):
            continue
        if balance:
            step = value - new if new < value else 0.0  # a top-up is not negative spend
        elif new >= value:
            step = new - value
        else:  # a reset restarts from zero; a correction is nothing
            step = (new if new > 0 else 0.0) if new < value * RESET_BELOW else 0.0
        slope = step * HOUR / (times[k] - at)
        if slope < least:
            least = slope
        at, value = times[k], new
    return least


def _down_to_3_digits(value: float) -> float:
    """Three significant digits, rounded down (still a floor): fewer bytes to store."""
    if not value > 0 or not math.isfinite(value):
        return 0.0
    scale = 10.0 ** (math.floor(math.log10(value)) - 2)
    floored = math.floor(value / scale) * scale
    tidy = float(f"{floored:.3g}")  # without the product's float noise
    return tidy if tidy <= value else floored


def judge(consumption: Consumption, facts: MeterFacts, settings: BurnSettings, previous: Level, margin: float) -> Burn:
    """The verdict from cumulative consumption; reads only the last `baseline_days` days and a window."""
    now, short = facts.now, settings.short
    times = consumption.times
    if not times or times[0] > now - settings.baseline_days * DAY:
        return Burn(Level.OK, False, settings, unit=facts.unit)
    short_rate = consumption.rate(now - short, now)
    long_rate = consumption.rate(now - settings.long, now)
    seasonal = _usual_short(consumption, now, settings)
    mean = consumption.rate(now - settings.baseline_days * DAY, now - short)
    if short_rate is None or long_rate is None or seasonal is None or mean is None:
        return Burn(Level.OK, False, settings, unit=facts.unit)
    floor_rate = FLOOR_SHARE * mean
    early, plain, *usual_halves = (max(rate, floor_rate) for rate in seasonal)
    split = _split(consumption, now, short)
    if split is not None and split != now - short / 2:  # a run off the schedule: halves as read
        usual_halves = [
            max(_usual_between(consumption, start - now, stop - now, now, settings) or 0.0, floor_rate)
            for start, stop in ((now - short, split), (split, now))
        ]
    middle = now - short / 2 if split is None else split
    halves = (consumption.rate(now - short, middle), consumption.rate(middle, now))
    # A batch that started early burns in today's window at least as in the window a
    # quarter later on the days alike: a window burning at less holds none of it.
    usual = early if short_rate >= early else plain
    # Each half against its own usual: a burn beside a nightly batch is still a burn.
    sustained = all(h is not None and h >= u * settings.factor / 2 for h, u in zip(halves, usual_halves, strict=True))
    hours_left, spare = _run_out(facts, short_rate)
    verdict = Burn(Level.OK, True, settings, short_rate, long_rate, usual, hours_left, spare, *_context(facts))
    threshold = settings.factor * usual * (1 - _EPSILON)
    floor = min_spend_of(settings, facts)
    excess = short_rate - usual
    if previous is Level.OK:
        if split is None:
            sustained = _last_two_burn(consumption, now, settings, floor_rate)
        burning = sustained and short_rate >= threshold and excess >= floor and excess > 0
    else:  # hysteresis: the whole window, with the clearing margin
        burning = short_rate >= threshold * (1 - margin) and excess >= floor * (1 - margin) and excess > 0
    if not burning:
        return verdict
    held = 1 - margin if previous is Level.CRITICAL else 1.0
    long_usual = _usual_between(consumption, -settings.long, 0.0, now, settings)  # the long window, days alike
    long_threshold = settings.factor * max(long_usual or 0.0, FLOOR_SHARE * mean) * held * (1 - _EPSILON)
    lasting = long_usual is not None and long_rate >= long_threshold
    soon = spare is not None and spare > 0
    level = Level.CRITICAL if lasting or soon else Level.WARNING
    return replace(verdict, level=level)


def _split(consumption: Consumption, now: float, short: float) -> float | None:
    """The reading that splits the short window into its halves: the one nearest its middle,
    within its middle half; None when none does. At a reading, an elevated reading's step
    lies in one half whatever the schedule; at the middle between readings it would be
    spread over both, and one reading off the schedule (a `check-now`) made a blip a burn."""
    middle = now - short / 2
    times = consumption.times
    i = bisect_left(times, middle)
    near = [times[j] for j in (i - 1, i) if 0 <= j < len(times) and abs(times[j] - middle) <= short / 4]
    return min(near, key=lambda t: abs(t - middle)) if near else None


def _last_two_burn(consumption: Consumption, now: float, settings: BurnSettings, floor: float) -> bool:
    """After a failed run no reading splits the short window: whether the last two readings'
    steps (back to two short windows) each burn at half the factor against their own usual
    rate. Two elevated readings are a burn, one is still a blip; a gap longer than that waits."""
    times = consumption.times
    end = bisect_left(times, now)
    if end >= len(times) or times[end] != now or end < 2 or times[end - 2] < now - 2 * settings.short:
        return False
    for start, stop in ((times[end - 2], times[end - 1]), (times[end - 1], now)):
        rate = consumption.rate(start, stop)
        usual = _usual_between(consumption, start - now, stop - now, now, settings)
        if rate is None or usual is None or rate < max(usual, floor) * settings.factor / 2:
            return False
    return True


def _usual_between(
    consumption: Consumption, start: float, stop: float, now: float, settings: BurnSettings
) -> float | None:
    """Median rate between these offsets from `now` (negative, or 0: now) on the days alike."""
    rates = [consumption.rate(day + start, day + stop) for day in _alike(now, settings)]
    known = [r for r in rates if r is not None]
    return statistics.median(known) if known else None


def _context(facts: MeterFacts) -> tuple[str, bool, float | None]:
    limited = facts.limit is not None
    return facts.unit, limited, facts.period_end if limited else None


def _alike(now: float, settings: BurnSettings) -> list[float]:
    """The same time on the previous days of the same kind (weekday or weekend, in UTC)."""
    weekend = _weekend(now)
    days = [now - d * DAY for d in range(1, settings.baseline_days + 1)]
    return [day for day in days if _weekend(day) == weekend] or days


def _usual_short(
    consumption: Consumption, now: float, settings: BurnSettings
) -> tuple[float, float, float, float] | None:
    """Usual rates of the short window (early and plain) and of its two halves: medians over
    the days alike.

    The early one is each day's higher of the window and the window half its length later:
    a batch that starts early today is still usual (`judge` takes the plain one when
    today's window burns at less than the early one: it holds none of the batch). One that
    starts late needs no shift: today's window holds it, as every earlier day's did.
    """
    half = settings.short / 2
    per_hour = HOUR / half
    wholes: list[float] = []
    plains: list[float] = []
    firsts: list[float] = []
    seconds: list[float] = []
    days = _alike(now, settings)
    read = [day for day in days if not _in_gap(consumption.times, day - settings.short, day)]
    for day in read or days:
        p0, p1, p2, p3 = (consumption.at(day + k * half) for k in (-2, -1, 0, 1))
        if p0 is None or p1 is None or p2 is None:
            continue
        firsts.append((p1 - p0) * per_hour)
        seconds.append((p2 - p1) * per_hour)
        plains.append((p2 - p0) * per_hour / 2)
        wholes.append(max(p2 - p0, p3 - p1 if p3 is not None else 0.0) * per_hour / 2)
    if not wholes:
        return None
    median = statistics.median
    return median(wholes), median(plains), median(firsts), median(seconds)


def _in_gap(times: list[float], start: float, end: float) -> bool:
    """Whether the readings around this window are more than GAP apart (it lies in an outage)."""
    before, after = bisect_right(times, start) - 1, bisect_left(times, end)
    return before >= 0 and after < len(times) and times[after] - times[before] > GAP


def _weekend(at: float) -> bool:
    return (int(at // DAY) + 3) % 7 >= 5  # 1970-01-01 was a Thursday (weekday 3)


def _run_out(facts: MeterFacts, rate: float) -> tuple[float | None, float | None]:
    """Hours until nothing is left at `rate`, and how long before the period's end (or RUN_OUT_SOON) that is."""
    if facts.left is None or rate <= 0:
        return None, None
    hours = max(facts.left, 0.0) / rate
    end = facts.period_end if facts.limit is not None and facts.period_end is not None else facts.now + RUN_OUT_SOON
    return hours, end - (facts.now + hours * HOUR)


def min_spend_of(settings: BurnSettings, facts: MeterFacts) -> float:
    """The excess per hour below which no burn alerts: the monitor's `min_spend`, else the default."""
    return settings.min_spend if settings.min_spend is not None else default_min_spend(facts)


def default_min_spend(facts: MeterFacts) -> float:
    """The excess per hour below which no burn alerts, when the monitor sets none.

    With a limit or a balance: a ten-thousandth of it (a pace that would last over a year
    threatens nothing); otherwise $1 an hour for money, 10 units an hour for anything else.
    """
    if facts.limit is not None and facts.limit > 0:
        return facts.limit * LIMIT_SHARE_FLOOR
    if facts.left is not None and facts.left > 0:
        return facts.left * LIMIT_SHARE_FLOOR
    return IDLE_FLOOR_PER_HOUR.get(facts.unit, IDLE_FLOOR_DEFAULT)
