"""The burn rule's false-alert budget: a year of synthetic usage for 100 meters, replayed.

Readings every 15 minutes; weekday/weekend cycles, daily seasonality (business hours in a
random time zone, or a nightly batch), slow growth and one step change per meter, monthly
resets, balances topped up, noise (Poisson counts for calls, lognormal for money), failed
runs and outages, and planted 10x burns of 30 minutes to 12 hours, plus planted blips (one
reading at 10x-20x, which must stay quiet). Every run is judged as a check run would judge
it, with the stored level carried from run to run; it prints how many burn alerts were not
planted, how fast planted burns were caught, and the CPU per evaluation. Asserts nothing.

Every planted burn is printed in one of four classes, and only the first is held to "caught
within 2 runs": counted; beside an outage (a gap of 2 to 12 hours from 2 hours before it to
30 minutes after: the rule cannot read it); below min_spend (the excess it realized is under
the floor: quiet by design); seen by one reading only (a 30-minute burn with a failed run in
it: the one reading left looks as a one-quarter blip at twice the height beside a failed run
does, and a single elevated reading never alerts). A burn is counted when none of the other
three fits; they are tried in that order. The realized excess is read at the burn's second
run that reads the meter, the run "within 2 runs" holds to raise it: what the generator added
in the short window that run reads (the true usage, noise and all, not the planted 10x
rate), per hour, less the noise-free usual rate over the same runs. It is below min_spend
when under the floor the rule uses at that run (`min_spend_of`: the defaults'
`default_min_spend`). A planted excess just above the floor can realize one under it: the
rule reads the usage, not what was planted. The output says how many of the burns not
counted were raised on (a raise on a burn under the floor is allowed, and shown). The
30-minute burns stay planted: they fill the short window (30 minutes, two runs), the least
burn the rule promises to catch at its second run; planting only burns of an hour or more
would drop that case. A raise inside any planted burn, counted or not, is not an unplanted
alert.

Each run judges what a check run holds: the readings its stored window keeps (core/window.py:
the newest four, then one an hour back to 8 days, and the shapes of the lopsided hours,
core/hour_shape.py, placed between them), through `burn()` as core/rules.py calls it;
`--no-shapes` without the shapes, as before them. `--every-reading` judges every reading
of the last 8 days instead (the rule's own figures, before the window's tiers): the
meter's consumption up to each run, computed once for the year (`judge`), with a sample
of runs checked against `burn()` on a slice. `--through-rules` runs each run as the check
does instead: the stored window decoded, `evaluate` (core/rules.py: the floors it keeps in
the window, its skips for still meters), the window rolled and encoded, the burn signal's
stored level carried (none until it first speaks); it also says where its raises differ
from the window replay's. About 1 ms a run: use it on a subset (`--quick`).

    python bench/burn_replay.py [--meters 100] [--days 365] [--quick] [--every-reading]
    python bench/burn_replay.py --through-rules --quick   # 20 meters through evaluate
    (bench/run.py runs it too; --quick: 20 meters)
    python bench/burn_replay.py --misses [--tier 1800] [--no-shapes]   # each planted burn missed or
    caught after two runs, run by run (judges only the runs around each: half a minute)
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "layers/quotawatch"), str(REPO)]

from quotawatch.core.burn import (  # noqa: E402
    DAY,
    DEFAULT_BURN,
    FLOOR_SHARE,
    HOUR,
    Burn,
    Consumption,
    MeterFacts,
    Readings,
    _usual_short,
    burn,
    judge,
    min_spend_of,
)
from quotawatch.core.hour_shape import QUARTERS, place, shape_of  # noqa: E402
from quotawatch.core.rules import DEFAULT_POLICY, DEFAULT_THRESHOLDS, Level, burn_signal_key, evaluate  # noqa: E402
from quotawatch.core.snapshot import ErrorKind, Period, Snapshot  # noqa: E402
from quotawatch.core.snapshot import Meter as Reading  # noqa: E402
from quotawatch.core.window import HISTORY_SECONDS, RECENT, WINDOW_SIZE, Window  # noqa: E402

STEP = 900.0  # a run every 15 minutes
START = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
SPIKE = 10.0
SPIKE_LENGTHS = (2, 3, 4, 8, 16, 48)  # runs: 30 minutes to 12 hours
CHECK_EVERY = 997  # runs between checks of judge-on-the-year against burn-on-a-slice
MARGIN = 0.05  # AlertPolicy.hysteresis / 100
SHAPES = True  # the window's hour shapes placed (--no-shapes: the hourly rows alone)
TIER_SECONDS = 3_600  # past WINDOW_SIZE rows the window keeps one an hour; --tier tries another


@dataclass
class Meter:
    kind: str  # "limit", "balance", "spend"
    unit: str
    times: list[float] = field(default_factory=list)
    values: list[float | None] = field(default_factory=list)
    limits: list[float | None] = field(default_factory=list)
    period_ends: list[float | None] = field(default_factory=list)
    spikes: list[tuple[int, int]] = field(default_factory=list)  # every planted burn: (first run that sees it, runs)
    usual: dict[int, float] = field(default_factory=dict)  # a spike's first run: the rate it multiplies
    realized: dict[int, float] = field(default_factory=dict)  # a spike's first run: its realized excess
    blips: list[int] = field(default_factory=list)  # every planted blip
    outaged: set[int] = field(default_factory=set)  # first runs of spikes and blips beside an outage
    shape: str = ""  # "business", "flat" or "batch (at HH:MM UTC, N runs)": for --misses
    hours: list[int] = field(default_factory=list)  # clock hours with a kept shape, in order
    shapes: list[int] = field(default_factory=list)  # ... and their shapes (core/hour_shape.py)


def synthesize(index: int, runs: int) -> Meter:
    rng = random.Random(1000 + index)  # noqa: S311 - reproducible synthetic usage, not secrets
    kind = ("limit", "limit", "balance", "spend")[index % 4]
    money = kind != "limit" and rng.random() < 0.7
    unit = "USD" if money else "calls"
    base = 10 ** rng.uniform(-0.5, 2.3) if money else 10 ** rng.uniform(1.3, 4.3)  # per hour
    shape = rng.choice(("business", "business", "flat", "batch"))
    night, zone = rng.uniform(0.1, 0.35), rng.uniform(0, 24)
    weekend = rng.uniform(0.2, 1.0) if shape == "business" else 1.0
    batch_hour, batch_runs = rng.randrange(24), rng.randint(1, 4)
    growth, step_at, step = rng.uniform(-0.3, 1.0), rng.randrange(runs), rng.uniform(1.5, 2.5)

    def rate(i: int) -> float:
        at = START + i * STEP
        hour = ((at / HOUR) + zone) % 24
        if shape == "business":
            daily = night + (1.6 - night) * (0.5 - 0.5 * math.cos(2 * math.pi * (hour - 4) / 24))
            if datetime.fromtimestamp(at, UTC).weekday() >= 5:
                daily *= weekend
        elif shape == "batch":
            in_batch = (at / STEP - batch_hour * 4) % 96 < batch_runs
            daily = 0.3 + (20.0 if in_batch else 0.0)
        else:
            daily = 1.0
        trend = (1 + growth * i / runs) * (step if i >= step_at else 1.0)
        return base * daily * trend

    spikes, blips = _plant(rng, runs)
    boost = {i: SPIKE for first, length in spikes for i in range(first, first + length)}
    boost.update({b: rng.uniform(10, 20) for b in blips})
    outages = {i for _ in range(2) for start in [rng.randrange(runs)] for i in range(start, start + rng.randint(8, 48))}
    monthly = base * 730 * (1 + max(growth, 0)) * step
    limit = monthly * rng.uniform(1.2, 3.0) if kind == "limit" else None
    full = monthly * 1.5
    batch_at = (batch_hour * 4 * STEP) % DAY
    described = f"batch at {batch_at / HOUR:05.2f} h UTC, {batch_runs} runs" if shape == "batch" else shape
    meter = Meter(kind, unit, spikes=spikes, blips=blips, shape=described)
    used, balance, month = 0.0, full, -1
    usuals: list[float] = []  # each run's noise-free rate without the boost, per hour
    spents: list[float] = []  # what each run added, noise and all (a failed run's too)
    for i in range(runs):
        at = START + i * STEP
        when = datetime.fromtimestamp(at, UTC)
        usuals.append(rate(i))
        expected = usuals[i] * STEP / HOUR * boost.get(i, 1.0)
        spent = _noisy(rng, expected, money)
        spents.append(spent)
        if when.month != month:
            month, used = when.month, 0.0  # a new period: the count starts again
        used += spent
        balance -= spent
        if balance < monthly / 3:
            balance = full  # topped up
        missing = i in outages or rng.random() < 0.005
        meter.times.append(at)
        meter.values.append(None if missing else (balance if kind == "balance" else used))
        meter.limits.append(limit)
        next_month = datetime(when.year + when.month // 12, when.month % 12 + 1, 1, tzinfo=UTC)
        meter.period_ends.append(next_month.timestamp() if kind != "balance" else None)
    meter.hours, meter.shapes = _shapes(meter)
    meter.usual = {s: rate(s) for s, _ in spikes}
    meter.realized = {s: _realized_excess(meter, s, spents, usuals) for s, _ in spikes}
    meter.outaged = {s for s, n in spikes if outages & set(range(s - 8, s + n + 2))}
    meter.outaged |= {b for b in blips if outages & set(range(b - 8, b + 4))}
    return meter


# What a planted burn is, for the count: only COUNTED ones are held to "caught within 2 runs".
# The first of the other three that fits, in this order (CLASSES says it in the output).
COUNTED = "counted"
OUTAGE = "beside an outage"  # a gap of 2 to 12 hours from 2 hours before it to 30 minutes after
UNDER_FLOOR = "below min_spend"  # its realized excess at its second run is under the floor: quiet by design
ONE_READING = "seen by one reading"  # a failed run inside it leaves one reading of it: a blip's look
CLASSES = (
    f"{OUTAGE}: a gap of 2 to 12 hours from 2 hours before it to 30 minutes after; {UNDER_FLOOR}: what the"
    " generator added (noise and all) in the short window the rule reads at the burn's second run that reads"
    " the meter, per hour, less the noise-free usual rate there, is under the min_spend the rule uses at that"
    f" run; {ONE_READING} only: fewer than 2 of its runs read the meter; else {COUNTED}"
)


def burn_class(meter: Meter, first: int, length: int) -> str:
    """Which class a planted burn falls in (see CLASSES)."""
    if first in meter.outaged:
        return OUTAGE
    if meter.realized[first] < _floor_at(meter, _second_run(meter, first)):
        return UNDER_FLOOR
    if sum(v is not None for v in meter.values[first : first + length]) < 2:
        return ONE_READING
    return COUNTED


def _second_run(meter: Meter, first: int) -> int:
    """The burn's second run that reads the meter: the one "within 2 runs" holds to raise it."""
    reads = [i for i in range(first, min(first + 60, len(meter.values))) if meter.values[i] is not None]
    return reads[1] if len(reads) > 1 else first + 1  # _plant leaves 60 runs after each burn


def _realized_excess(meter: Meter, first: int, spents: list[float], usuals: list[float]) -> float:
    """Per hour, the excess the burn realized in the short window the rule reads at its second
    run: what the generator added in it (noise and all, the true usage, not the planted
    rate), less the noise-free usual rate over the same runs."""
    last = _second_run(meter, first)
    window = range(last - round(DEFAULT_BURN.short / STEP) + 1, last + 1)
    return sum(spents[k] for k in window) * HOUR / DEFAULT_BURN.short - statistics.fmean(usuals[k] for k in window)


def _floor_at(meter: Meter, run: int) -> float:
    """The min_spend the rule uses at this run (from the last reading with a value at or before it)."""
    i = run
    while meter.values[i] is None:
        i -= 1
    value = meter.values[i]
    assert value is not None  # noqa: S101 - the loop stops at one
    return min_spend_of(DEFAULT_BURN, _facts(meter, i, value))


def _shapes(meter: Meter) -> tuple[list[int], list[int]]:
    """The shape each clock hour gets in the window (Window.rolled keeps it when the readings
    from the hour's start to the next hour's second are all there)."""
    hours: list[int] = []
    shapes: list[int] = []
    values, sign = meter.values, -1.0 if meter.kind == "balance" else 1.0
    for i in range(QUARTERS, len(values) - QUARTERS - 1):
        if int(meter.times[i]) % 3600:
            continue
        six = values[i : i + QUARTERS + 2]
        if None in six:
            continue
        steps = [sign * (b - a) for a, b in pairwise(six)]  # type: ignore[operator]
        hour_before = values[i - QUARTERS]
        before = None if hour_before is None else sign * (six[0] - hour_before)  # type: ignore[operator]
        code = shape_of(steps[:QUARTERS], before, steps[QUARTERS])
        if code is not None:
            hours.append(int(meter.times[i]) // 3600)
            shapes.append(code)
    return hours, shapes


def _plant(rng: random.Random, runs: int) -> tuple[list[tuple[int, int]], list[int]]:
    """Burns and blips at least 8 days apart (leaks are rare), none in the first 8 days."""
    spikes: list[tuple[int, int]] = []
    blips: list[int] = []
    at = int(8 * DAY / STEP)
    while True:
        at += rng.randint(int(8 * DAY / STEP), int(40 * DAY / STEP))
        if at + 60 >= runs:
            return spikes, blips
        if rng.random() < 0.7:
            spikes.append((at, rng.choice(SPIKE_LENGTHS)))
        else:
            blips.append(at)


def _noisy(rng: random.Random, expected: float, money: bool) -> float:
    if money:
        return expected * rng.lognormvariate(-0.03, 0.25)
    if expected > 50:
        return max(round(rng.gauss(expected, math.sqrt(expected))), 0)
    limit, k, p = math.exp(-expected), 0, rng.random()  # Knuth's Poisson for small counts
    while p > limit:
        k += 1
        p *= rng.random()
    return float(k)


@dataclass
class Outcome:
    raised_at: list[int] = field(default_factory=list)
    evaluations: int = 0
    cpu: float = 0.0
    checks: int = 0
    mismatches: int = 0
    rows: int = 0  # readings judged, summed over the runs (window mode)
    slice_cpu: list[float] = field(default_factory=list)


def replay_window(meter: Meter, tier_seconds: int = TIER_SECONDS) -> Outcome:
    """Every run judged on the rows its window keeps, as the check does (`burn()` per run)."""
    rows_of = _window_rows(meter, tier_seconds)
    outcome = Outcome()
    level = Level.OK
    start = time.process_time()
    for i, value in enumerate(meter.values):
        if value is None:
            continue  # a failed run judges nothing
        rows = rows_of(i)
        verdict = _judged_at(meter, i, rows, level)
        if verdict.level is not Level.OK and level is Level.OK:
            outcome.raised_at.append(i)
        level = verdict.level
        outcome.evaluations += 1
        outcome.rows += len(rows)
    outcome.cpu = time.process_time() - start
    return outcome


def replay_rules(meter: Meter) -> Outcome:
    """Every run as a check run makes it: the stored window decoded, `evaluate` (core/rules.py,
    with its floors kept in the window and its skips for still meters), the window rolled
    and encoded; the burn signal's stored level carried from run to run, None until the
    signal first speaks, as the check stores it."""
    outcome = Outcome()
    stored = Window.of([]).encode()
    key = burn_signal_key(_NAME)
    previous: dict[str, Level] = {}
    cpu = 0.0
    for i, value in enumerate(meter.values):
        snapshot = _snapshot(meter, i)
        start = time.process_time()
        past = Window.decode(stored, "replay")
        evaluation = evaluate(snapshot, past, lambda _: DEFAULT_THRESHOLDS, previous, DEFAULT_POLICY)
        stored = past.rolled(snapshot).encode()
        cpu += time.process_time() - start
        if value is None:
            continue  # a failed run judges nothing
        outcome.evaluations += 1
        level = next((s.level for s in evaluation.signals if s.key == key), None)
        if level is None:
            continue  # not raised and nothing stored: the rule said nothing
        if level is not Level.OK and previous.get(key, Level.OK) is Level.OK:
            outcome.raised_at.append(i)
        previous[key] = level
    outcome.cpu = cpu
    return outcome


_NAME = "m"


def _snapshot(meter: Meter, i: int) -> Snapshot:
    """The reading of run `i` as a check run stores it (a failed run: an `unavailable` error)."""
    at = datetime.fromtimestamp(meter.times[i], UTC)
    value = meter.values[i]
    if value is None:
        return Snapshot.failed("replay", "replay", at, ErrorKind.UNAVAILABLE, "")
    end = meter.period_ends[i]
    month = datetime(at.year, at.month, 1, tzinfo=UTC)
    period = None if end is None else Period(month, datetime.fromtimestamp(end, UTC))
    if meter.kind == "balance":
        reading = Reading(_NAME, None, None, value, meter.unit)
    else:
        reading = Reading(_NAME, value, meter.limits[i], None, meter.unit)
    return Snapshot("replay", "replay", at, period, (reading,))


def _window_rows(meter: Meter, tier_seconds: int) -> Callable[[int], list[int]]:
    """The rows (indices into the meter's readings, oldest first) a run's window holds."""
    times = meter.times
    hour_firsts = [i for i, t in enumerate(times) if i == 0 or int(t) // 3600 != int(times[i - 1]) // 3600]
    block_firsts = [
        i for i, t in enumerate(times) if i == 0 or int(t) // tier_seconds != int(times[i - 1]) // tier_seconds
    ]

    def rows(i: int) -> list[int]:
        newest = max(i - RECENT + 1, 0)
        while newest > 0 and meter.values[newest] is None:
            newest -= 1  # as Window.rolled: failures since the last good reading, and that reading
        recent = bisect_left(hour_firsts, newest)
        older = hour_firsts[max(0, recent - (WINDOW_SIZE - (i + 1 - newest))) : recent]
        oldest = older[0] if older else newest
        lo = bisect_left(times, times[i] - HISTORY_SECONDS)
        tier = block_firsts[bisect_left(block_firsts, lo) : bisect_left(block_firsts, oldest)]
        return [*tier, *older, *range(newest, i + 1)]

    return rows


def _readings(meter: Meter, rows: list[int]) -> Readings:
    """What a run reads of these rows: with the hours' shapes placed, as core/rules.py does."""
    balance = meter.kind == "balance"
    times, values = [meter.times[r] for r in rows], [meter.values[r] for r in rows]
    if SHAPES:
        lo, hi = bisect_left(meter.hours, int(times[0]) // 3600), bisect_left(meter.hours, int(times[-1]) // 3600)
        shapes = dict(zip(meter.hours[lo:hi], meter.shapes[lo:hi], strict=True))
        times, values = place(times, values, shapes, balance=balance)
    return Readings(times, values, balance)


def _judged_at(meter: Meter, i: int, rows: list[int], level: Level) -> Burn:
    readings = _readings(meter, rows)
    value = meter.values[i]
    assert value is not None  # noqa: S101 - only runs that read the meter are judged
    verdict = burn(readings, _facts(meter, i, value), DEFAULT_BURN, level, MARGIN)
    assert verdict is not None  # noqa: S101 - burn is on
    return verdict


def print_misses(index: int, meter: Meter, tier_seconds: int = TIER_SECONDS) -> tuple[int, int]:
    """Each planted burn missed or caught after 2 runs: where it lands, and every run's verdict.

    Judges only the runs around each counted burn (from 8 runs before it, at OK): (late, missed)."""
    rows_of = _window_rows(meter, tier_seconds)
    late = missed = 0
    for first, length in meter.spikes:
        if burn_class(meter, first, length) != COUNTED:
            continue
        floor = _floor_at(meter, _second_run(meter, first))
        level, runs, seen = Level.OK, None, 0
        for i in range(first - 8, first + length + 2):
            if meter.values[i] is None:
                continue
            seen += i >= first
            verdict = _judged_at(meter, i, rows_of(i), level)
            if verdict.level is not Level.OK and level is Level.OK and i >= first:
                runs = seen
                break
            level = verdict.level
        if runs is not None and runs <= 2:
            continue
        late += runs is not None
        missed += runs is None
        when = datetime.fromtimestamp(meter.times[first], UTC)
        print(
            f"  meter {index} ({meter.kind}, {meter.unit}, {meter.shape}): burn of {length} runs from"
            f" {when:%a %Y-%m-%d %H:%M} UTC, usual {meter.usual[first]:.3g}/h, realized excess at run 2"
            f" {meter.realized[first]:.3g}/h, min_spend {floor:.3g}/h;"
            f" {'missed' if runs is None else f'caught at run {runs}'}"
        )
        level = Level.OK
        for i in range(first - 2, min(first + max(length, 4) + 2, len(meter.values))):
            reading = meter.values[i]
            if reading is None:
                print(f"    run {i - first:+d}: no reading")
                continue
            verdict = _judged_at(meter, i, rows_of(i), level)
            halves = _halves(meter, i, rows_of(i))
            print(
                f"    run {i - first:+d} {datetime.fromtimestamp(meter.times[i], UTC):%H:%M}: {verdict.level.value}"
                f" short {verdict.short_rate or 0:.3g} usual {verdict.usual or 0:.3g}"
                f" (x{verdict.ratio or 0:.1f}) halves {halves} long {verdict.long_rate or 0:.3g}; value {reading:.6g}"
            )
            level = verdict.level
    return late, missed


def _halves(meter: Meter, i: int, rows: list[int]) -> str:
    """The short window's halves and their usual rates, as `judge` reads them."""
    readings = _readings(meter, rows)
    consumption = Consumption.of(readings.times, readings.values, balance=readings.balance)
    now, half = meter.times[i], DEFAULT_BURN.short / 2
    seasonal = _usual_short(consumption, now, DEFAULT_BURN)
    mean = consumption.rate(now - DEFAULT_BURN.baseline_days * DAY, now - DEFAULT_BURN.short) or 0.0
    rates = (consumption.rate(now - 2 * half, now - half), consumption.rate(now - half, now))
    usual = seasonal[2:] if seasonal else (0.0, 0.0)
    return (
        ", ".join(f"{r or 0:.3g}/{max(u, FLOOR_SHARE * mean):.3g}" for r, u in zip(rates, usual, strict=True))
        + f" (floor {FLOOR_SHARE * mean:.3g})"
    )


def replay(meter: Meter) -> Outcome:
    consumption = Consumption.of(meter.times, meter.values, balance=meter.kind == "balance")
    outcome = Outcome()
    level = Level.OK
    start = time.process_time()
    for i, value in enumerate(meter.values):
        if value is None:
            continue  # a failed run judges nothing
        facts = _facts(meter, i, value)
        verdict = judge(consumption, facts, DEFAULT_BURN, level, MARGIN)
        if i % CHECK_EVERY == 0:
            _check(meter, i, facts, level, verdict.level, outcome)
        if verdict.level is not Level.OK and level is Level.OK:
            outcome.raised_at.append(i)
        level = verdict.level
        outcome.evaluations += 1
    outcome.cpu = time.process_time() - start - sum(outcome.slice_cpu)
    return outcome


def _facts(meter: Meter, i: int, value: float) -> MeterFacts:
    limit = meter.limits[i]
    left = value if meter.kind == "balance" else (limit - value if limit is not None else None)
    return MeterFacts(meter.times[i], left, limit, meter.period_ends[i], meter.unit)


def _check(meter: Meter, i: int, facts: MeterFacts, previous: Level, level: Level, outcome: Outcome) -> None:
    """The verdict on the year's consumption equals burn() on the slice a run holds (8 days)."""
    first = max(0, i - int(8 * DAY / STEP))
    readings = Readings(meter.times[first : i + 1], meter.values[first : i + 1], meter.kind == "balance")
    start = time.process_time()
    verdict = burn(readings, facts, DEFAULT_BURN, previous, MARGIN)
    outcome.slice_cpu.append(time.process_time() - start)
    outcome.checks += 1
    if verdict is None or verdict.level is not level:
        outcome.mismatches += 1


def bench_burn(
    meters: int = 100,
    days: int = 365,
    every_reading: bool = False,
    tier: int = TIER_SECONDS,
    misses: bool = False,
    through_rules: bool = False,
) -> None:
    runs = int(days * DAY / STEP)
    print(f"Burn replay: {meters} meters, {days} days of readings every 15 minutes, defaults {_defaults()}")
    kept = f"the rows the window keeps (its coarse tier one every {tier / HOUR:g} h)"
    rules = "each run as the check makes it: the stored window decoded, evaluate (floors, skips), rolled, encoded"
    print("  judged on " + ("every reading of the last 8 days" if every_reading else rules if through_rules else kept))
    print(f"  planted burns by class, the first that fits: {CLASSES}")
    wall = time.perf_counter()
    unplanted = blip_alerts = caught = missed = 0
    raised_on: Counter[str] = Counter()  # planted burns not counted, by class: those raised on
    where: list[str] = []  # the unplanted alerts
    tally: Counter[str] = Counter()  # what was planted, by class
    to_catch: list[int] = []
    outcomes: list[Outcome] = []
    planted = 0
    if misses:
        late = missed = 0
        for index in range(meters):
            meter = synthesize(index, runs)
            _tally(meter, tally)
            one_late, one_missed = print_misses(index, meter, tier)
            late, missed = late + one_late, missed + one_missed
        print(f"  late {late}, missed {missed} (of the counted burns)")
        print(f"  {_planted(tally)}\n")
        return
    differ: list[str] = []  # --through-rules: raises where the window replay's differ
    for index in range(meters):
        meter = synthesize(index, runs)
        _tally(meter, tally)
        if every_reading:
            outcome = replay(meter)
        else:
            outcome = replay_rules(meter) if through_rules else replay_window(meter, tier)
        outcomes.append(outcome)
        if through_rules:
            ours, theirs = set(outcome.raised_at), set(replay_window(meter, tier).raised_at)
            differ += [
                f"meter {index} run {r}: {'rules' if r in ours else 'window'} only" for r in sorted(ours ^ theirs)
            ]
        spans = [(s, s + n + 2) for s, n in meter.spikes]  # every planted burn, counted or not
        for first, length in meter.spikes:
            hits = [r for r in outcome.raised_at if first <= r < first + length + 2]
            kind = burn_class(meter, first, length)
            if kind != COUNTED:
                raised_on[kind] += bool(hits)
                continue
            planted += 1
            if hits:
                caught += 1  # runs that read the meter: a failed check judges nothing
                to_catch.append(sum(1 for v in meter.values[first : hits[0] + 1] if v is not None))
            else:
                missed += 1
        for raised in outcome.raised_at:
            if any(lo <= raised < hi for lo, hi in spans):
                continue
            if any(b <= raised < b + 3 for b in meter.blips):
                blip_alerts += 1
            unplanted += 1
            when = datetime.fromtimestamp(meter.times[raised], UTC)
            where.append(f"meter {index} ({meter.kind}, {meter.unit}, {meter.shape}) at {when:%a %Y-%m-%d %H:%M} UTC")
    quarters = days / (365 / 4)
    evaluations = sum(o.evaluations for o in outcomes)
    print(
        f"  unplanted burn alerts: {unplanted} ({unplanted / meters / quarters:.3f} per meter per quarter;"
        f" {blip_alerts} of them on planted blips)"
    )
    for line in where[:10]:
        print(f"    {line}")
    print(f"  {_planted(tally)}")
    within = sum(1 for r in to_catch if r <= 2)
    if to_catch:
        print(
            f"  counted 10x burns: {planted}; caught {caught}, missed {missed}; within 2 runs {within};"
            f" runs to catch median {statistics.median(to_catch):g}, max {max(to_catch)}"
        )
    kinds = (OUTAGE, UNDER_FLOOR, ONE_READING)
    print("  raised on those not counted: " + ", ".join(f"{raised_on[k]} of {tally[k]} {k}" for k in kinds))
    cpu_us = sum(o.cpu for o in outcomes) / evaluations * 1e6
    if through_rules:
        print(f"  against the window replay (burn() on the rows it models): {len(differ)} raises differ")
        for line in differ[:20]:
            print(f"    {line}")
        print(
            f"  CPU per run that read the meter: {cpu_us:.0f} µs (decode, evaluate, roll, encode; a failed run's"
            f" too); {evaluations:,} evaluations; wall {time.perf_counter() - wall:.0f} s\n"
        )
        return
    if not every_reading:
        rows = sum(o.rows for o in outcomes) / evaluations
        print(
            f"  CPU per evaluation: {cpu_us:.0f} µs (burn() on {rows:.0f} rows on average); {evaluations:,} evaluations"
        )
        print(f"  wall {time.perf_counter() - wall:.0f} s\n")
        return
    slice_us = statistics.median([c for o in outcomes for c in o.slice_cpu]) * 1e6
    checks, mismatches = sum(o.checks for o in outcomes), sum(o.mismatches for o in outcomes)
    print(
        f"  CPU per evaluation: {cpu_us:.0f} µs on the year's consumption; {slice_us:.0f} µs as a run does it"
        f" (burn() on 8 days of readings); {evaluations:,} evaluations"
    )
    print(
        f"  judge on the year against burn on a slice: {checks} checks, {mismatches} different levels;"
        f" wall {time.perf_counter() - wall:.0f} s"
    )
    print()


def _tally(meter: Meter, tally: Counter[str]) -> None:
    """Adds a meter's planted burns, by class, and its blips to the tally."""
    tally.update(burn_class(meter, first, length) for first, length in meter.spikes)
    tally["blips"] += len(meter.blips)
    tally["blips " + OUTAGE] += sum(b in meter.outaged for b in meter.blips)


def _planted(tally: Counter[str]) -> str:
    """Every planted burn and blip, by class: none is left out of the figures unsaid."""
    burns = sum(tally[kind] for kind in (COUNTED, OUTAGE, UNDER_FLOOR, ONE_READING))
    return (
        f"planted: {burns} 10x burns of 2 to 48 runs ({tally[COUNTED]} counted, {tally[OUTAGE]} {OUTAGE},"
        f" {tally[UNDER_FLOOR]} {UNDER_FLOOR}, {tally[ONE_READING]} {ONE_READING} only);"
        f" {tally['blips']} blips ({tally['blips ' + OUTAGE]} {OUTAGE})"
    )


def _defaults() -> str:
    s = DEFAULT_BURN
    return f"factor {s.factor:g}, short {s.short / 60:g} min, long {s.long / HOUR:g} h, baseline {s.baseline_days} days"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meters", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--quick", action="store_true", help="20 meters")
    parser.add_argument("--every-reading", action="store_true", help="judge every reading, not the window's rows")
    parser.add_argument("--tier", type=int, default=TIER_SECONDS, help="seconds between rows of the coarse tier")
    parser.add_argument("--misses", action="store_true", help="print each planted burn missed or caught late")
    parser.add_argument("--no-shapes", action="store_true", help="without the hours' shapes (as before them)")
    parser.add_argument(
        "--through-rules", action="store_true", help="each run through evaluate (core/rules.py) and the stored window"
    )
    args = parser.parse_args()
    SHAPES = not args.no_shapes
    meters = 20 if args.quick else args.meters
    bench_burn(meters, args.days, args.every_reading, args.tier, args.misses, through_rules=args.through_rules)
