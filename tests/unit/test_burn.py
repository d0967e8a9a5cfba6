"""Burn rate: realistic series of readings every 15 minutes, judged at NOW."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quotawatch.core.burn import (
    DAY,
    DEFAULT_BURN,
    HOUR,
    Burn,
    BurnSettings,
    Consumption,
    MeterFacts,
    Readings,
    burn,
    default_min_spend,
    usual_floor,
)
from quotawatch.core.burn_messages import burn_line, burn_sms, duration
from quotawatch.core.rules import Level

NOW = datetime(2026, 12, 9, 12, 0, tzinfo=UTC).timestamp()  # a Wednesday, noon
SATURDAY = datetime(2026, 12, 12, 12, 0, tzinfo=UTC).timestamp()
STEP = 900.0
USD = MeterFacts(NOW, unit="USD")
NO_FLOOR = BurnSettings(min_spend=0)

Rate = Callable[[float], float]  # units per hour at a time


def steady(per_hour: float) -> Rate:
    return lambda _at: per_hour


def spiking(base: Rate, since: float, factor: float = 10.0) -> Rate:
    """`base`, times `factor` for the intervals ending after `since`."""
    return lambda at: base(at) * (factor if at > since else 1.0)


def hour_of(at: float) -> float:
    return (at % DAY) / HOUR


def weekend(at: float) -> bool:
    return datetime.fromtimestamp(at, UTC).weekday() >= 5


def used_series(rate: Rate, now: float = NOW, days: float = 8.0) -> tuple[list[float], list[float | None]]:
    """Cumulative use at each reading, every 15 minutes for `days` up to `now`; the rate of an
    interval is the rate at its end."""
    times = [now - i * STEP for i in range(int(days * DAY / STEP), -1, -1)]
    values: list[float | None] = [0.0]
    for before, at in pairwise(times):
        previous = values[-1]
        assert previous is not None
        values.append(previous + rate(at) * (at - before) / HOUR)
    return times, values


@dataclass(frozen=True)
class Case:
    name: str
    rate: Rate
    expected: Level
    facts: MeterFacts = USD
    settings: BurnSettings = DEFAULT_BURN
    days: float = 8.0
    now: float = NOW
    edit: Callable[[list[float], list[float | None]], None] | None = None  # gaps, resets, refills
    balance: bool = False


def _gap(times: list[float], values: list[float | None]) -> None:
    for i in range(len(values) - 13, len(values) - 1):  # three hours without readings before this one
        values[i] = None


def _failed_run(times: list[float], values: list[float | None]) -> None:
    values[-2] = None  # the run between the last two readings failed


def _reset(times: list[float], values: list[float | None]) -> None:
    last = values[-2]
    assert last is not None
    for i in (-2, -1):  # a new period started two readings ago: counts from zero again
        value = values[i]
        assert value is not None
        values[i] = value - last + 10.0


def _refill(times: list[float], values: list[float | None]) -> None:
    values[-2:] = [v + 5_000.0 for v in values[-2:] if v is not None]  # topped up two readings ago


def _as_balance(rate: Rate, edit: Callable[[list[float], list[float | None]], None] | None = None) -> Case:
    return Case("balance", rate, Level.OK, balance=True, edit=edit)


NIGHTLY = 30.0  # a batch at 02:00-03:00 every night, against 1 an hour all day
BATCH_AT_2AM = datetime(2026, 12, 9, 2, 30, tzinfo=UTC).timestamp()


def nightly(at: float) -> float:
    return NIGHTLY if 2 < hour_of(at) <= 3 else 1.0


SATURDAY_NIGHT = datetime(2026, 12, 12, 1, 45, tzinfo=UTC).timestamp()  # before the batch
SUNDAY_OUTAGE = (datetime(2026, 12, 5, 22, tzinfo=UTC).timestamp(), datetime(2026, 12, 6, 5, tzinfo=UTC).timestamp())


def _outage_a_week_ago(times: list[float], values: list[float | None]) -> None:
    """No readings from 22:00 last Saturday to 05:00 on Sunday: of the two weekend days alike,
    Sunday's 01:15 to 01:45 lies in a gap that holds the batch (read across it, 5x the usual)."""
    for i, at in enumerate(times):
        if SUNDAY_OUTAGE[0] < at < SUNDAY_OUTAGE[1]:
            values[i] = None


def office(at: float) -> float:
    """Weekdays 20 an hour, weekends 2."""
    return 2.0 if weekend(at) else 20.0


CASES = [
    Case("steady use", steady(50), Level.OK),
    Case("a 10x spike over two runs", spiking(steady(50), NOW - 2 * STEP), Level.WARNING),
    Case("a 10x spike for 6 hours is critical", spiking(steady(50), NOW - 6 * HOUR), Level.CRITICAL),
    Case("one elevated reading is a blip", spiking(steady(50), NOW - STEP, 20), Level.OK),
    Case("a slow ramp is the forecast's job", lambda at: 10 * (1 + 3 * (at - NOW + 8 * DAY) / (8 * DAY)), Level.OK),
    Case("a reset in the window", steady(50), Level.OK, edit=_reset),
    Case("a gap in readings", steady(50), Level.OK, edit=_gap),
    Case("a burn across a failed run: its second reading raises", spiking(steady(50), NOW - 3 * STEP),
         Level.WARNING, edit=_failed_run),
    Case("one elevated reading after a failed run is a blip", spiking(steady(50), NOW - 2 * STEP),
         Level.OK, edit=_failed_run),
    Case("a spike hidden in a gap waits for a reading", spiking(steady(50), NOW - 3 * HOUR), Level.OK, edit=_gap),
    Case("a meter's first week never alerts", spiking(steady(50), NOW - HOUR), Level.OK, days=6.5),
    Case("the nightly batch after a week of it", nightly, Level.OK, now=BATCH_AT_2AM),
    Case("a burn beside the nightly batch", spiking(nightly, BATCH_AT_2AM - 3 * STEP), Level.CRITICAL,
         now=BATCH_AT_2AM - STEP),
    Case("a burn beside the batch, a baseline day in an outage", spiking(nightly, SATURDAY_NIGHT - 2 * STEP),
         Level.WARNING, now=SATURDAY_NIGHT, edit=_outage_a_week_ago),
    Case("the batch with a baseline day in an outage", nightly, Level.OK, now=SATURDAY_NIGHT + 3 * STEP,
         edit=_outage_a_week_ago),
    Case("the nightly batch a run early", lambda at: NIGHTLY if NOW - 10.5 * HOUR < at <= NOW - 10 * HOUR
         else nightly(at), Level.OK, now=NOW - 10 * HOUR),
    # Not the batch started early: a 10x burn of the half hour before it is held to its own usual.
    Case("a burn ending where the nightly batch starts", lambda at: 10.0 if NOW - 10.5 * HOUR < at <= NOW - 10 * HOUR
         else nightly(at), Level.WARNING, now=NOW - 10 * HOUR),
    # An hour of it at 30x is also 5.8x the usual over the long window: critical.
    Case("the batch at an unusual hour", lambda at: NIGHTLY if at > NOW - HOUR else nightly(at), Level.CRITICAL),
    Case("Saturday after a busy week", office, Level.OK, now=SATURDAY),
    Case("Monday after a quiet weekend", office, Level.OK, now=datetime(2026, 12, 14, 10, tzinfo=UTC).timestamp()),
    Case("a 10x spike on a quiet Saturday", spiking(office, SATURDAY - 2 * STEP), Level.WARNING, now=SATURDAY),
    Case("3 calls instead of 0.2", spiking(steady(0.2), NOW - HOUR, 15), Level.OK, MeterFacts(NOW, unit="calls")),
    Case("min_spend off: 3 calls instead of 0.2 is a burn", spiking(steady(0.2), NOW - HOUR, 15), Level.WARNING,
         MeterFacts(NOW, unit="calls"), NO_FLOOR),
    Case("runs out before the period ends", spiking(steady(50), NOW - 2 * STEP), Level.CRITICAL,
         MeterFacts(NOW, left=2_000, limit=100_000, period_end=NOW + 20 * DAY)),
    Case("a limit that lasts the period", spiking(steady(50), NOW - 2 * STEP), Level.WARNING,
         MeterFacts(NOW, left=900_000, limit=1_000_000, period_end=NOW + 20 * DAY)),
    replace(_as_balance(steady(50), _refill), name="a refill is no spend"),
    replace(_as_balance(spiking(steady(50), NOW - 2 * STEP)), name="a balance burning", expected=Level.WARNING),
]  # fmt: skip


def run(case: Case, previous: Level = Level.OK) -> Burn | None:
    times, used = used_series(case.rate, case.now, case.days)
    values: list[float | None] = [None if v is None else 1e6 - v for v in used] if case.balance else used
    if case.edit is not None:
        case.edit(times, values)
    facts = replace(case.facts, now=case.now)
    if case.balance:
        last = values[-1]
        facts = replace(facts, left=last)
    return burn(Readings(times, values, case.balance), facts, case.settings, previous)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_realistic_series(case: Case) -> None:
    verdict = run(case)
    assert verdict is not None
    assert verdict.level is case.expected
    assert verdict.enough_history is (case.days >= 7)


def test_burn_off_says_nothing() -> None:
    assert run(replace(CASES[1], settings=BurnSettings(off=True))) is None


@pytest.mark.parametrize(
    ("since", "previous", "expected"),
    [
        (NOW - 2 * STEP, Level.OK, Level.WARNING),  # raised by the second run
        (NOW - 4 * STEP, Level.WARNING, Level.WARNING),  # still burning
        # stopped one run ago: half the window burns (5.5x), within the margin: held
        (NOW - 5 * STEP, Level.WARNING, Level.WARNING),
        (NOW - 6 * STEP, Level.WARNING, Level.OK),  # stopped two runs ago: cleared
    ],
)
def test_clears_once_with_the_margin(since: float, previous: Level, expected: Level) -> None:
    def stopped(at: float) -> float:
        return 500.0 if since < at <= since + 4 * STEP else 50.0

    verdict = run(Case("", stopped, expected), previous)
    assert verdict is not None
    assert verdict.level is expected


def test_the_verdict_figures() -> None:
    verdict = run(CASES[1])
    assert verdict is not None
    assert verdict.short_rate == pytest.approx(500)
    assert verdict.usual == pytest.approx(50)
    assert verdict.ratio == pytest.approx(10)
    assert verdict.long_rate == pytest.approx(50 + 450 * 2 / 24)


@pytest.mark.parametrize(
    ("values", "balance", "totals"),
    [
        ([100, 150, 20, 40], False, [0, 50, 70, 90]),  # a reset: the 20 after it was used since
        ([100, 150, 140, 160], False, [0, 50, 50, 70]),  # a correction: nothing used, none given back
        ([100, 80, 500, 490], True, [0, 20, 20, 30]),  # a top-up: nothing spent
        ([100, None, 80, math.nan, 70], True, [0, 20, 30]),  # gaps
    ],
)
def test_consumption_is_reset_aware(values: list[float | None], balance: bool, totals: list[float]) -> None:
    consumption = Consumption.of([float(i) for i in range(len(values))], values, balance=balance)
    assert consumption.totals == totals


def test_a_gap_is_interpolated_not_invented() -> None:
    consumption = Consumption.of([0.0, 3 * HOUR], [0.0, 30.0], balance=False)
    assert consumption.rate(HOUR, 2 * HOUR) == pytest.approx(10)
    assert consumption.rate(-HOUR, HOUR) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"factor": 1}, "factor must be above 1"),
        ({"short": 7200, "long": 3600}, "short"),
        ({"baseline_days": 0}, "baseline_days"),
        ({"min_spend": -1}, "min_spend"),
    ],
)
def test_bad_settings_are_named(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BurnSettings(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("facts", "floor"),
    [
        (MeterFacts(NOW, left=100, limit=10_000), 1.0),
        (MeterFacts(NOW, left=500), 0.05),
        (MeterFacts(NOW, unit="USD"), 1.0),
        (MeterFacts(NOW, unit="calls"), 10.0),
    ],
)
def test_default_min_spend(facts: MeterFacts, floor: float) -> None:
    assert default_min_spend(facts) == pytest.approx(floor)


@settings(max_examples=40, deadline=None)
@given(
    per_hour=st.floats(1e-3, 1e9),
    offset=st.floats(0, 7 * DAY),
    with_limit=st.booleans(),
)
def test_no_alert_on_a_constant_rate(per_hour: float, offset: float, with_limit: bool) -> None:
    facts = MeterFacts(NOW, left=per_hour, limit=per_hour * 10, period_end=NOW + DAY) if with_limit else MeterFacts(NOW)
    verdict = run(Case("", steady(per_hour), Level.OK, facts, NO_FLOOR, now=NOW + offset))
    assert verdict is not None
    assert verdict.enough_history
    assert verdict.level is Level.OK


@settings(max_examples=40, deadline=None)
@given(
    per_hour=st.floats(1e-2, 1e8),
    factor=st.floats(5, 1000),
    offset=st.floats(0, 7 * DAY),
)
def test_a_burn_over_both_windows_always_alerts(per_hour: float, factor: float, offset: float) -> None:
    now = NOW + offset
    case = Case("", spiking(steady(per_hour), now - DEFAULT_BURN.long, factor), Level.CRITICAL, settings=NO_FLOOR)
    verdict = run(replace(case, now=now))
    assert verdict is not None
    assert verdict.level is Level.CRITICAL  # both windows at the factor


@given(
    values=st.lists(st.one_of(st.none(), st.floats(-1e12, 1e12, allow_nan=False)), max_size=40),
    balance=st.booleans(),
)
def test_resets_and_top_ups_never_consume_negatively(values: list[float | None], balance: bool) -> None:
    totals = Consumption.of([float(i) for i in range(len(values))], values, balance=balance).totals
    assert all(b >= a for a, b in pairwise(totals))


def _verdict(**figures: float | None) -> Burn:
    return Burn(Level.CRITICAL, True, DEFAULT_BURN, **figures)  # type: ignore[arg-type]


SPEND = replace(_verdict(short_rate=41, long_rate=20, usual=1.78), unit="USD", level=Level.WARNING)
CREDIT = replace(_verdict(short_rate=41, long_rate=41, usual=1.8, hours_left=9.1, spare=6 * DAY), unit="USD")
LIMITED = replace(CREDIT, unit="calls", limited=True, period_end=NOW + 7 * DAY, short_rate=4100, usual=180)


@pytest.mark.parametrize(
    ("verdict", "line", "sms"),
    [
        (
            SPEND,
            "openrouter spend: $41.00/h (last 30 min), 23x the usual $1.78/h",
            "QuotaWatch WARNING acme openrouter spend burn: $41.00/h, 23x usual $1.78/h",
        ),
        (
            CREDIT,
            "openrouter spend: $41.00/h (last 30 min), 23x the usual $1.80/h; at this pace the credit is gone in 9 h",
            "QuotaWatch CRITICAL acme openrouter spend burn: $41.00/h, 23x usual $1.80/h; gone in 9 h",
        ),
        (
            LIMITED,
            "openrouter spend: 4,100 calls/h (last 30 min), 23x the usual 180 calls/h;"
            " at this pace the limit is reached in 9 h, 6 days before the period ends",
            "QuotaWatch CRITICAL acme openrouter spend burn: 4,100 calls/h, 23x usual 180 calls/h;"
            " gone in 9 h, 6 days early",
        ),
        (
            Burn(Level.OK, False, DEFAULT_BURN),
            "openrouter spend: fewer than 7 days of readings, burn not judged yet",
            "QuotaWatch OK acme openrouter spend burn: not judged yet",
        ),
    ],
)
def test_messages(verdict: Burn, line: str, sms: str) -> None:
    assert burn_line("openrouter spend", verdict) == line
    assert burn_sms("acme", "openrouter spend", verdict) == sms


@given(
    rate=st.floats(0, 1e30),
    usual=st.floats(0, 1e30),
    hours=st.one_of(st.none(), st.floats(0, 1e9)),
    name=st.text(max_size=200),
)
def test_the_sms_fits(rate: float, usual: float, hours: float | None, name: str) -> None:
    verdict = replace(_verdict(short_rate=rate, usual=usual, hours_left=hours, spare=DAY), period_end=NOW)
    assert len(burn_sms(name, name, verdict)) <= 160


@pytest.mark.parametrize(
    ("seconds", "text"), [(20, "1 min"), (1200, "20 min"), (9 * HOUR, "9 h"), (47 * HOUR, "47 h"), (6 * DAY, "6 days")]
)
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text


@given(
    st.lists(st.integers(0, 10**4) | st.floats(-10, 10**6, allow_nan=False), max_size=30),
    st.booleans(),
)
def test_consumption_of_every_reading_adds_the_same_steps_as_the_loop(values: list[float], balance: bool) -> None:
    """The path for readings that all have a figure gives the totals the general one gives."""
    times = [float(t) for t in range(len(values))]
    every = Consumption.of(times, values, balance=balance)
    with_a_gap = Consumption.of([*times, 99.0], [*values, None], balance=balance)  # takes the loop

    assert (every.times, every.totals) == (with_a_gap.times, with_a_gap.totals)
    assert [type(t) for t in every.totals] == [type(t) for t in with_a_gap.totals]


@pytest.mark.parametrize("minute", [0, 5, 15, 30, 44, 59])
@pytest.mark.parametrize(
    ("rate", "hour_at"),
    [
        (steady(50), NOW),
        (nightly, BATCH_AT_2AM),  # the batch's hour
        (nightly, BATCH_AT_2AM - HOUR),  # the hour before it
        (nightly, BATCH_AT_2AM + HOUR),  # and after it
        (office, SATURDAY),
        (spiking(steady(50), NOW - 2 * STEP), NOW),
    ],
)
def test_the_usual_floor_is_never_above_the_usual_rate_of_any_run_of_its_hour(
    rate: Rate, hour_at: float, minute: int
) -> None:
    """So a run that skips the baseline because its short window burns under `factor`
    times the floor would not have raised (core/rules.py keeps the floor per hour)."""
    hour = int(hour_at // HOUR)
    now = hour * HOUR + minute * 60
    times, values = used_series(rate, now, 8.5)
    floor = usual_floor(Readings(times[:-1], values[:-1]), hour, NO_FLOOR)  # kept by an earlier run
    verdict = burn(Readings(times, values), MeterFacts(now, unit="USD"), NO_FLOOR)
    assert floor is not None
    assert verdict is not None
    assert verdict.usual is not None
    assert floor <= verdict.usual * (1 + 1e-9)
    assert floor > 0  # and it says something: every hour here has use


@pytest.mark.parametrize("minute", [0, 15, 30, 45, 59])
@pytest.mark.parametrize("hour_at", [SATURDAY_NIGHT - HOUR, SATURDAY_NIGHT, SATURDAY_NIGHT + HOUR])
def test_the_usual_floor_bounds_the_usual_rate_when_a_day_alike_is_left_out(hour_at: float, minute: int) -> None:
    """A run leaves out a day alike in an outage; the floor, the median of every day's least
    slope, could then be above the median of the others: it is the least of them instead."""
    hour = int(hour_at // HOUR)
    now = hour * HOUR + minute * 60
    times, values = used_series(spiking(nightly, SATURDAY_NIGHT - 2 * STEP), now, 8.5)
    _outage_a_week_ago(times, values)
    floor = usual_floor(Readings(times[:-1], values[:-1]), hour, NO_FLOOR)
    verdict = burn(Readings(times, values), MeterFacts(now, unit="USD"), NO_FLOOR)
    assert floor is not None
    assert verdict is not None
    assert verdict.usual is not None
    assert floor <= verdict.usual * (1 + 1e-9)


def test_no_usual_floor_before_the_baseline_days() -> None:
    times, values = used_series(steady(50), NOW, 6.5)
    assert usual_floor(Readings(times, values), int(NOW // HOUR), DEFAULT_BURN) is None


def _with_extra_run(bursts: int, factor: float = 20.0) -> Burn | None:
    """Readings every 15 minutes at $6 an hour, the last `bursts` intervals at `factor` times
    that, then one more reading 5 minutes after the last (a `check-now` between runs) at the
    usual pace again."""
    since = NOW - bursts * STEP
    times, values = used_series(spiking(steady(6.0), since, factor))
    last = values[-1]
    assert last is not None
    times.append(NOW + 300.0)
    values.append(last + 6.0 * 300.0 / HOUR)
    return burn(Readings(times, values), replace(USD, now=NOW + 300.0), NO_FLOOR)


def test_one_elevated_reading_stays_a_blip_when_a_run_comes_between_the_schedule() -> None:
    """The short window's halves are split at a reading: interpolated at their middle, the
    one elevated reading 5 minutes before would be spread over both halves and raise."""
    verdict = _with_extra_run(bursts=1)
    assert verdict is not None
    assert verdict.level is Level.OK


def test_two_elevated_readings_still_burn_when_a_run_comes_between_the_schedule() -> None:
    verdict = _with_extra_run(bursts=2)
    assert verdict is not None
    assert verdict.level is Level.WARNING
