"""Rules: from a snapshot, its history and the previous levels to a level per signal."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from quotawatch.config import Monitor
from quotawatch.core.alerts import Notice, SignalState, decide
from quotawatch.core.bounds import MAX_METERS, bounded
from quotawatch.core.rules import (
    CHECK_KEY,
    DEFAULT_POLICY,
    DEFAULT_THRESHOLDS,
    AlertPolicy,
    Evaluation,
    Level,
    Signal,
    Thresholds,
    condition_signal_key,
    evaluate,
    forecast_signal_key,
    meter_signal_key,
)
from quotawatch.core.sanity import check_figures
from quotawatch.core.snapshot import Condition, ErrorKind, Meter, Period, Severity, Snapshot

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
NOVEMBER = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
DECEMBER = Period(datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
INACTIVE = Condition("subscription_inactive", Severity.CRITICAL, "the subscription is not active")
CALLS = meter_signal_key("calls")
CREDIT = meter_signal_key("credit")


def calls(used: float, limit: float = 1000) -> Meter:
    return Meter("calls", used, limit, limit - used, "calls")


def credit(remaining: float) -> Meter:
    return Meter("credit", None, None, remaining, "credits")


def snap(
    *meters: Meter,
    at: datetime = NOW,
    period: Period | None = None,
    conditions: tuple[Condition, ...] = (),
) -> Snapshot:
    return Snapshot("cloudlayer-prod", "cloudlayer", at, period=period, meters=meters, conditions=conditions)


def failed(kind: ErrorKind = ErrorKind.UNAVAILABLE, at: datetime = NOW) -> Snapshot:
    return Snapshot.failed("cloudlayer-prod", "cloudlayer", at, kind, f"cloudlayer-prod: {kind.value}")


def default(_meter: str) -> Thresholds:
    return DEFAULT_THRESHOLDS


def with_floor(warning: float | None = 100, critical: float | None = 20) -> Thresholds:
    return Thresholds(floor_warning=warning, floor_critical=critical)


def run(
    snapshot: Snapshot,
    history: Sequence[Snapshot] = (),
    previous: dict[str, Level] | None = None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    policy: AlertPolicy = DEFAULT_POLICY,
) -> Evaluation:
    return evaluate(snapshot, list(history), lambda _name: thresholds, previous, policy)


def levels(evaluation: Evaluation) -> dict[str, Level]:
    return {s.key: s.level for s in evaluation.signals}


def signal(evaluation: Evaluation, key: str) -> Signal:
    [found] = [s for s in evaluation.signals if s.key == key]
    return found


# --- levels and thresholds -------------------------------------------------------------------------


def test_levels_are_ordered_and_named() -> None:
    assert Level.OK < Level.WARNING < Level.CRITICAL
    assert [level.label for level in Level] == ["ok", "warning", "critical"]
    assert Level.parse("warning") is Level.WARNING
    assert Level.parse("CRITICAL") is Level.CRITICAL
    assert Thresholds(80.0, 95.0, None, None) == DEFAULT_THRESHOLDS
    assert AlertPolicy(timedelta(hours=24), 5.0, 3, 7.0) == DEFAULT_POLICY


@pytest.mark.parametrize(
    ("percent", "thresholds", "expected"),
    [
        (0, DEFAULT_THRESHOLDS, Level.OK),
        (79.99, DEFAULT_THRESHOLDS, Level.OK),
        (80, DEFAULT_THRESHOLDS, Level.WARNING),  # exactly at the threshold counts
        (94.99, DEFAULT_THRESHOLDS, Level.WARNING),
        (95, DEFAULT_THRESHOLDS, Level.CRITICAL),
        (250, DEFAULT_THRESHOLDS, Level.CRITICAL),
        (-5, DEFAULT_THRESHOLDS, Level.OK),
        (74, Thresholds(75, 90), Level.OK),
        (75, Thresholds(75, 90), Level.WARNING),
        (90, Thresholds(75, 90), Level.CRITICAL),
        (90, Thresholds(90, 90), Level.CRITICAL),  # warning == critical: straight to critical
        (99.9, Thresholds(80, 100), Level.WARNING),
    ],
)
def test_threshold_table(percent: float, thresholds: Thresholds, expected: Level) -> None:
    assert thresholds.level(percent) is expected
    assert thresholds.percent_level(percent, Level.OK, 5.0) is expected  # from OK, the margin is irrelevant


# (percent, previous level, expected) with the defaults 80/95 and a margin of 5 points.
HYSTERESIS = [
    (81, Level.OK, Level.WARNING),
    (79, Level.WARNING, Level.WARNING),  # hovering under 80 does not clear
    (75.01, Level.WARNING, Level.WARNING),
    (75, Level.WARNING, Level.WARNING),  # falls only *below* 80 - 5
    (74.99, Level.WARNING, Level.OK),
    (74.9, Level.WARNING, Level.OK),
    (10, Level.WARNING, Level.OK),
    (94, Level.CRITICAL, Level.CRITICAL),  # hovering under 95 stays critical
    (90, Level.CRITICAL, Level.CRITICAL),
    (89.99, Level.CRITICAL, Level.WARNING),  # eases to warning below 95 - 5
    (76, Level.CRITICAL, Level.WARNING),  # still above 80 - 5: warning, not ok
    (74, Level.CRITICAL, Level.OK),  # straight to ok from critical
    (96, Level.WARNING, Level.CRITICAL),  # a rise is at the threshold, no margin
    (80, Level.OK, Level.WARNING),
]


@pytest.mark.parametrize(("percent", "previous", "expected"), HYSTERESIS)
def test_percent_hysteresis(percent: float, previous: Level, expected: Level) -> None:
    assert DEFAULT_THRESHOLDS.percent_level(percent, previous, 5.0) is expected


def test_without_a_margin_a_level_falls_at_the_threshold() -> None:
    assert DEFAULT_THRESHOLDS.percent_level(79.99, Level.WARNING, 0.0) is Level.OK
    assert DEFAULT_THRESHOLDS.percent_level(94.99, Level.CRITICAL, 0.0) is Level.WARNING


def test_a_value_hovering_at_80_does_not_flap() -> None:
    """81, 79, 81, 78 stays warning throughout; 74.9 clears it."""
    level = Level.OK
    seen = []
    for percent in (81, 79, 81, 78, 76, 74.9, 79, 80):
        level = levels(run(snap(calls(percent * 10)), previous={CALLS: level}))[CALLS]
        seen.append(level)
    assert seen == [Level.WARNING] * 5 + [Level.OK, Level.OK, Level.WARNING]


def test_the_margin_comes_from_the_policy() -> None:
    wide = AlertPolicy(hysteresis=20)
    assert levels(run(snap(calls(610)), previous={CALLS: Level.WARNING}, policy=wide))[CALLS] is Level.WARNING
    assert levels(run(snap(calls(590)), previous={CALLS: Level.WARNING}, policy=wide))[CALLS] is Level.OK
    none = AlertPolicy(hysteresis=0)
    assert levels(run(snap(calls(799)), previous={CALLS: Level.WARNING}, policy=none))[CALLS] is Level.OK


@settings(max_examples=200, deadline=None)
@given(
    percent=st.floats(min_value=-10, max_value=300, allow_nan=False),
    warning=st.floats(min_value=1, max_value=100),
    extra=st.floats(min_value=0, max_value=100),
    margin=st.floats(min_value=0, max_value=50),
    previous=st.sampled_from(list(Level)),
)
def test_hysteresis_only_ever_holds_a_level_up(
    percent: float, warning: float, extra: float, margin: float, previous: Level
) -> None:
    """With a previous level, the result lies between the plain level and the previous one;
    a rise never waits for a margin, and a value beyond the margin always falls."""
    thresholds = Thresholds(warning, min(warning + extra, 100))
    plain = thresholds.level(percent)
    held = thresholds.percent_level(percent, previous, margin)

    assert held >= plain
    assert held <= max(plain, previous)
    if percent < thresholds.warning - margin:
        assert held is Level.OK
    if percent < thresholds.critical - margin:
        assert held <= Level.WARNING


@given(st.floats(min_value=0, max_value=1000), st.floats(min_value=1, max_value=100), st.floats(0, 100))
def test_level_never_falls_as_usage_rises(percent: float, warning: float, extra: float) -> None:
    thresholds = Thresholds(warning, min(warning + extra, 100))
    assert thresholds.level(percent) <= thresholds.level(percent + 1)


# --- floors (balances) -----------------------------------------------------------------------------


# (remaining, previous, expected) with floors warning 100, critical 20 and a 5% margin.
FLOORS = [
    (500, Level.OK, Level.OK),
    (100.01, Level.OK, Level.OK),
    (100, Level.OK, Level.WARNING),  # at the floor counts
    (50, Level.OK, Level.WARNING),
    (20, Level.OK, Level.CRITICAL),
    (0, Level.OK, Level.CRITICAL),
    (-3, Level.OK, Level.CRITICAL),
    (104, Level.WARNING, Level.WARNING),  # within 5% above the floor: holds
    (105, Level.WARNING, Level.WARNING),
    (105.01, Level.WARNING, Level.OK),  # above floor * 1.05: clears
    (21, Level.CRITICAL, Level.CRITICAL),
    (21.01, Level.CRITICAL, Level.WARNING),
    (104, Level.CRITICAL, Level.WARNING),
    (106, Level.CRITICAL, Level.OK),
    (15, Level.WARNING, Level.CRITICAL),
]


@pytest.mark.parametrize(("remaining", "previous", "expected"), FLOORS)
def test_floor_levels_with_a_margin(remaining: float, previous: Level, expected: Level) -> None:
    assert with_floor().floor_level(remaining, previous, 0.05) is expected


def test_a_critical_floor_alone() -> None:
    only = with_floor(warning=None, critical=20)
    assert only.floor_level(20, Level.OK, 0.05) is Level.CRITICAL
    assert only.floor_level(21, Level.CRITICAL, 0.05) is Level.CRITICAL
    assert only.floor_level(22, Level.CRITICAL, 0.05) is Level.OK
    assert only.floor_level(1000, Level.OK, 0.05) is Level.OK


def test_a_warning_floor_alone() -> None:
    only = with_floor(warning=100, critical=None)
    assert only.floor_level(0, Level.OK, 0.05) is Level.WARNING
    assert only.floor_level(105, Level.WARNING, 0.05) is Level.WARNING
    assert only.floor_level(106, Level.WARNING, 0.05) is Level.OK
    assert not Thresholds().has_floor
    assert only.has_floor


def test_a_balance_with_a_floor_is_a_meter_signal_with_the_policy_margin() -> None:
    evaluation = run(snap(credit(90)), thresholds=with_floor())
    assert levels(evaluation)[CREDIT] is Level.WARNING
    assert signal(evaluation, CREDIT).thresholds == with_floor()

    assert levels(run(snap(credit(104)), previous={CREDIT: Level.WARNING}, thresholds=with_floor()))[CREDIT] is (
        Level.WARNING
    )
    assert levels(run(snap(credit(106)), previous={CREDIT: Level.WARNING}, thresholds=with_floor()))[CREDIT] is (
        Level.OK
    )
    wide = AlertPolicy(hysteresis=50)  # 50% above the floor
    assert levels(run(snap(credit(149)), [], {CREDIT: Level.WARNING}, with_floor(), wide))[CREDIT] is Level.WARNING


def test_a_balance_without_a_floor_has_no_meter_signal() -> None:
    assert CREDIT not in levels(run(snap(credit(1))))


def test_percent_and_floor_together_take_the_higher_level() -> None:
    meter = Meter("credit", 50, 1000, 950, "credits")  # 5% used, but ...
    floor = Thresholds(80, 95, floor_warning=1000, floor_critical=None)  # ... under a floor of 1,000
    assert levels(run(snap(meter), thresholds=floor))[CREDIT] is Level.WARNING
    full = Meter("credit", 990, 1000, 10, "credits")  # 99% used: critical by percent, above no floor
    assert levels(run(snap(full), thresholds=with_floor(warning=5, critical=1)))[CREDIT] is Level.CRITICAL


# --- meter signals ---------------------------------------------------------------------------------


def test_meter_signals_carry_meter_and_thresholds() -> None:
    storage = Meter("storage", 50, 1000, 950, "bytes")
    evaluation = run(snap(calls(842), storage))

    assert signal(evaluation, CALLS) == Signal(CALLS, Level.WARNING, meter=calls(842), thresholds=DEFAULT_THRESHOLDS)
    assert signal(evaluation, "meter:storage").level is Level.OK  # OK signals are reported too (they clear)
    assert signal(evaluation, CALLS).subject == "calls"
    assert signal(evaluation, CALLS).family == "meter"


def test_remaining_without_used_still_gives_a_percent() -> None:
    meter = Meter("credit", None, 100, 3, "credits")
    assert meter.percent_used == pytest.approx(97)
    assert levels(run(snap(meter)))[CREDIT] is Level.CRITICAL


@pytest.mark.parametrize(
    "meter",
    [
        Meter("calls", 15234, None, None, "calls"),  # unlimited
        Meter("credit", None, None, 4500, "credits"),  # a balance without a floor
        Meter("failed_jobs", 42, None, None, "jobs"),  # informational
    ],
)
def test_meters_without_a_percent_or_floor_produce_no_meter_signal(meter: Meter) -> None:
    assert meter.percent_used is None
    evaluation = run(snap(meter))
    assert [s.key for s in evaluation.signals] == [CHECK_KEY]
    assert evaluation.speaks_for == frozenset({"check", "condition", "meter", "forecast", "burn"})


def test_per_meter_thresholds_via_a_monitor() -> None:
    monitor = Monitor(
        id="cloudlayer-prod",
        provider="cloudlayer",
        secret_field="cloudlayer-prod",
        thresholds=Thresholds(70, 90),
        meter_thresholds={"storage": Thresholds(90, 98)},
    )
    evaluation = evaluate(
        snap(calls(72, 100), Meter("storage", 85, 100, 15, "bytes"), Meter("compute_time", 91, 100, 9, "ms")),
        [],
        monitor.thresholds_for,
    )
    assert levels(evaluation)[CALLS] is Level.WARNING  # 72% under the monitor's 70
    assert signal(evaluation, CALLS).thresholds == Thresholds(70, 90)
    assert levels(evaluation)["meter:storage"] is Level.OK  # 85% under storage's own 90
    assert signal(evaluation, "meter:storage").thresholds == Thresholds(90, 98)
    assert levels(evaluation)["meter:compute_time"] is Level.CRITICAL


# --- conditions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "level"),
    [(Severity.INFO, Level.OK), (Severity.WARNING, Level.WARNING), (Severity.CRITICAL, Level.CRITICAL)],
)
def test_condition_severity_maps_to_level(severity: Severity, level: Level) -> None:
    condition = Condition("billing_error", severity, "card declined")
    evaluation = run(snap(calls(10), conditions=(condition,)))

    billing = signal(evaluation, "condition:billing_error")
    assert billing == Signal("condition:billing_error", level, condition=condition)
    assert billing.subject == "billing error"
    assert Level.of_severity(severity) is level


def test_a_reading_without_meters_speaks_for_conditions_and_check_only() -> None:
    """A refusal read as a condition (a quota reached): its missing meters are not news."""
    quota = Condition("storage_quota_reached", Severity.CRITICAL, "Tornado refuses new jobs")
    evaluation = run(snap(conditions=(quota,)), previous={CALLS: Level.WARNING})

    assert levels(evaluation) == {CHECK_KEY: Level.OK, "condition:storage_quota_reached": Level.CRITICAL}
    assert evaluation.speaks_for == frozenset({"check", "condition"})
    assert evaluation.trends == {}


def test_signal_keys_subjects_and_families() -> None:
    assert meter_signal_key("calls") == "meter:calls"
    assert forecast_signal_key("calls") == "forecast:calls"
    assert condition_signal_key("subscription_inactive") == "condition:subscription_inactive"
    assert Signal("condition:key_expiring:Production Key", Level.OK).subject == "key expiring: Production Key"
    assert Signal("condition:subscription_inactive", Level.OK).subject == "subscription inactive"
    assert Signal("meter:calls", Level.OK).subject == "calls"  # a vanished meter still has a name
    assert Signal(CHECK_KEY, Level.OK).subject == "checks"
    assert Signal(CHECK_KEY, Level.OK).family == "check"
    assert Signal("forecast:credit", Level.OK).family == "forecast"
    assert Signal("custom", Level.OK).subject == "custom"


# --- the check signal ------------------------------------------------------------------------------


def test_a_successful_check_reports_the_check_signal_ok() -> None:
    evaluation = run(snap(calls(10)))
    assert evaluation.signals[0] == Signal(CHECK_KEY, Level.OK)


def test_a_rejected_key_is_critical_at_once() -> None:
    evaluation = run(failed(ErrorKind.AUTH))

    [check] = evaluation.signals
    assert check.key == CHECK_KEY
    assert check.level is Level.CRITICAL
    assert check.failures == 1
    assert check.error is not None
    assert check.error.kind is ErrorKind.AUTH
    assert evaluation.speaks_for == frozenset({"check"})
    assert evaluation.trends == {}


@pytest.mark.parametrize(
    "kind", [ErrorKind.UNAVAILABLE, ErrorKind.RATE_LIMITED, ErrorKind.BAD_RESPONSE, ErrorKind.CONFIG]
)
def test_other_failures_warn_only_at_the_third_in_a_row(kind: ErrorKind) -> None:
    history: list[Snapshot] = [snap(calls(10), at=NOW - 4 * HOUR)]
    seen = []
    for i in range(4):
        at = NOW + i * HOUR
        check = run(failed(kind, at), history).signals[0]
        seen.append((check.level, check.failures))
        history.insert(0, failed(kind, at))  # newest first, as the store gives them
    assert seen == [(Level.OK, 1), (Level.OK, 2), (Level.WARNING, 3), (Level.WARNING, 4)]


def test_a_success_in_between_restarts_the_count() -> None:
    history = [
        failed(at=NOW - HOUR),
        snap(calls(10), at=NOW - 2 * HOUR),
        failed(at=NOW - 3 * HOUR),
        failed(at=NOW - 4 * HOUR),
    ]
    check = run(failed(), history).signals[0]
    assert (check.level, check.failures) == (Level.OK, 2)


def test_the_count_ignores_the_order_of_history_and_anything_not_earlier() -> None:
    history = [
        failed(at=NOW - 2 * HOUR),
        failed(at=NOW + HOUR),  # later than the reading: not part of its past
        failed(at=NOW),  # the reading itself, as the store returns it too
        failed(at=NOW - HOUR),
        snap(calls(10), at=NOW - 3 * HOUR),
    ]
    check = run(failed(), history).signals[0]
    assert (check.level, check.failures) == (Level.WARNING, 3)


def test_failures_before_alert_comes_from_the_policy() -> None:
    assert run(failed(), policy=AlertPolicy(failures_before_alert=1)).signals[0].level is Level.WARNING
    history = [failed(at=NOW - i * HOUR) for i in range(1, 5)]
    assert run(failed(), history, policy=AlertPolicy(failures_before_alert=6)).signals[0].level is Level.OK


def test_only_a_working_check_clears_cannot_check() -> None:
    """A rejected key, then a provider that does not answer: it still cannot check, so the
    alert eases to a warning rather than clearing ("checks work again" would be false)."""
    history = [failed(ErrorKind.AUTH, at=NOW - HOUR)]
    check = run(failed(ErrorKind.UNAVAILABLE), history, {CHECK_KEY: Level.CRITICAL}).signals[0]
    assert (check.level, check.failures) == (Level.WARNING, 2)
    assert check.error is not None
    assert check.error.kind is ErrorKind.UNAVAILABLE
    # Without a raised check, the same failure is still below the count.
    assert run(failed(ErrorKind.UNAVAILABLE), history, {}).signals[0].level is Level.OK
    # A check that works clears it.
    assert run(snap(calls(10)), history, {CHECK_KEY: Level.CRITICAL}).signals[0].level is Level.OK


def test_a_failure_never_produces_meter_signals_even_with_raised_meters() -> None:
    """A check error is never a breach: its missing meters are not zero and not over the limit."""
    previous = {CALLS: Level.CRITICAL, forecast_signal_key("calls"): Level.WARNING, "condition:x": Level.WARNING}
    history = [snap(calls(990), at=NOW - HOUR)]
    for kind in set(ErrorKind) - {ErrorKind.NO_KEY}:  # waiting for a key: test below
        evaluation = run(failed(kind), history, previous)
        assert [s.key for s in evaluation.signals] == [CHECK_KEY]
        assert evaluation.speaks_for == frozenset({"check"})


def test_a_snapshot_with_an_error_ignores_meters_it_somehow_carries() -> None:
    odd = Snapshot(
        "m",
        "cloudlayer",
        NOW,
        meters=(calls(999),),
        conditions=(INACTIVE,),
        error=failed().error,
    )
    evaluation = run(odd)
    assert [s.key for s in evaluation.signals] == [CHECK_KEY]


# --- a new billing period ------------------------------------------------------------------------


def test_a_moved_period_start_resets_every_meter_without_hysteresis() -> None:
    history = [snap(calls(990), Meter("storage", 90, 100, 10, "bytes"), at=NOW - HOUR, period=NOVEMBER)]
    current = snap(calls(780), Meter("storage", 5, 100, 95, "bytes"), period=DECEMBER)
    previous = {CALLS: Level.CRITICAL, "meter:storage": Level.WARNING}

    evaluation = run(current, history, previous)

    # 78% would hold a warning by hysteresis; in a new period it starts from ok.
    assert signal(evaluation, CALLS).level is Level.OK
    assert signal(evaluation, CALLS).reset
    assert signal(evaluation, "meter:storage").level is Level.OK
    assert signal(evaluation, "meter:storage").reset


def test_the_same_reading_in_the_same_period_holds_by_hysteresis() -> None:
    history = [snap(calls(820), at=NOW - HOUR, period=NOVEMBER)]
    evaluation = run(snap(calls(780), period=NOVEMBER), history, {CALLS: Level.WARNING})
    assert signal(evaluation, CALLS).level is Level.WARNING
    assert not signal(evaluation, CALLS).reset


def test_a_new_period_still_high_falls_to_its_plain_level_as_a_reset() -> None:
    history = [snap(calls(990), at=NOW - HOUR, period=NOVEMBER)]
    evaluation = run(snap(calls(850), period=DECEMBER), history, {CALLS: Level.CRITICAL})
    assert signal(evaluation, CALLS).level is Level.WARNING
    assert signal(evaluation, CALLS).reset


def test_a_reset_is_marked_only_when_the_level_fell() -> None:
    history = [snap(calls(500), at=NOW - HOUR, period=NOVEMBER)]
    assert not signal(run(snap(calls(40), period=DECEMBER), history, {}), CALLS).reset  # nothing was raised
    high = [snap(calls(990), at=NOW - HOUR, period=NOVEMBER)]
    assert not signal(run(snap(calls(990), period=DECEMBER), high, {CALLS: Level.CRITICAL}), CALLS).reset


@pytest.mark.parametrize(
    ("before", "after", "reset"),
    [
        (990, 120, True),  # below half, and by far more than a tenth of the limit
        (990, 40, True),
        (990, 600, False),  # not below half: usage can dip (refunds), not a new period
        (400, 199, True),
        (400, 200, False),  # exactly half is not below half
        (90, 40, False),  # below half, but by only 5% of the limit: noise
        (150, 40, True),  # by 11%
    ],
)
def test_a_sharp_drop_in_usage_is_a_new_period(before: float, after: float, reset: bool) -> None:
    history = [snap(calls(before), at=NOW - HOUR)]
    previous = {CALLS: Level.WARNING}
    result = signal(run(snap(calls(after)), history, previous), CALLS)
    if reset:
        assert result.level is Level.OK
        assert result.reset
    else:
        assert not result.reset


def test_a_drop_compares_with_the_last_good_reading_with_meters() -> None:
    quota = Condition("storage_quota_reached", Severity.CRITICAL, "refused")
    history = [
        failed(at=NOW - HOUR),  # failures and meterless readings are skipped
        snap(conditions=(quota,), at=NOW - 2 * HOUR),
        snap(calls(990), at=NOW - 3 * HOUR, period=NOVEMBER),
        snap(calls(100), at=NOW - 4 * HOUR, period=None),
    ]
    evaluation = run(snap(calls(790), period=DECEMBER), history, {CALLS: Level.CRITICAL})
    assert signal(evaluation, CALLS).reset
    assert signal(evaluation, CALLS).level is Level.OK


def test_a_drop_of_an_unlimited_meter_with_a_floor_is_a_reset() -> None:
    used_only = Meter("credit", 100, None, 50, "credits")
    history = [snap(Meter("credit", 100, None, 50, "credits"), at=NOW - HOUR)]
    current = snap(Meter("credit", 10, None, 500, "credits"))
    evaluation = run(current, history, {CREDIT: Level.WARNING}, thresholds=with_floor())
    assert used_only.percent_used is None
    assert signal(evaluation, CREDIT).reset
    assert signal(evaluation, CREDIT).level is Level.OK


def test_no_history_is_no_reset() -> None:
    assert not signal(run(snap(calls(10), period=DECEMBER), [], {CALLS: Level.WARNING}), CALLS).reset


def test_a_period_without_a_start_cannot_move() -> None:
    history = [snap(calls(820), at=NOW - HOUR, period=Period(None, NOVEMBER.end))]
    evaluation = run(snap(calls(790), period=DECEMBER), history, {CALLS: Level.WARNING})
    assert signal(evaluation, CALLS).level is Level.WARNING
    assert not signal(evaluation, CALLS).reset


# --- forecasts -------------------------------------------------------------------------------------


def climbing(*used: float, step: timedelta = DAY, period: Period | None = NOVEMBER) -> list[Snapshot]:
    """History newest first, one reading per `step` before NOW."""
    n = len(used)
    return [snap(calls(u), at=NOW - step * (n - i), period=period) for i, u in enumerate(used)][::-1]


def balance(*remaining: float, step: timedelta = DAY) -> list[Snapshot]:
    n = len(remaining)
    return [snap(credit(r), at=NOW - step * (n - i), period=NOVEMBER) for i, r in enumerate(remaining)][::-1]


FORECAST_CALLS = forecast_signal_key("calls")
FORECAST_CREDIT = forecast_signal_key("credit")


def test_a_limit_meter_that_reaches_its_limit_before_the_period_ends_warns() -> None:
    # 50 a day from 500: the limit of 1,000 is reached around Dec 4, after the period ends (Dec 1).
    slow = run(snap(calls(500), period=NOVEMBER), climbing(400, 450))
    assert signal(slow, FORECAST_CALLS).level is Level.OK
    assert slow.trends["calls"].per_day == pytest.approx(50)
    # 100 a day from 500: reached around Nov 29, before the period ends.
    fast = run(snap(calls(500), period=NOVEMBER), climbing(300, 400))
    forecast_signal = signal(fast, FORECAST_CALLS)
    assert forecast_signal.level is Level.WARNING
    assert forecast_signal.forecast is not None
    assert forecast_signal.forecast.runs_out_at == NOW + 5 * DAY
    assert forecast_signal.meter == calls(500)
    assert signal(fast, CALLS).forecast == forecast_signal.forecast  # the usage alert's body shows it too


def test_a_limit_meter_with_no_period_end_looks_forecast_days_ahead() -> None:
    # 50 a day from 500: the limit in 10 days.
    history = climbing(400, 450, period=None)
    assert signal(run(snap(calls(500)), history), FORECAST_CALLS).level is Level.OK
    assert signal(run(snap(calls(500)), history, policy=AlertPolicy(forecast_days=10.5)), FORECAST_CALLS).level is (
        Level.WARNING
    )


def test_a_balance_warns_when_it_runs_out_within_forecast_days_whatever_the_period() -> None:
    # 100 a day from 800: zero in 8 days, though the period ends in 7.
    history = balance(1000, 900)
    assert signal(run(snap(credit(800), period=NOVEMBER), history), FORECAST_CREDIT).level is Level.OK
    # 100 a day from 600: zero in 6 days.
    soon = run(snap(credit(600), period=NOVEMBER), balance(800, 700))
    assert signal(soon, FORECAST_CREDIT).level is Level.WARNING
    assert CREDIT not in levels(soon)  # no floor: the forecast is the balance's only signal
    nine = AlertPolicy(forecast_days=9)
    assert signal(run(snap(credit(800), period=NOVEMBER), history, policy=nine), FORECAST_CREDIT).level is (
        Level.WARNING
    )


def test_a_forecast_is_quiet_while_the_usage_itself_is_raised() -> None:
    history = climbing(650, 750)  # 100 a day, already at 85%
    current = snap(calls(850), period=NOVEMBER)

    fresh = run(current, history)
    assert signal(fresh, CALLS).level is Level.WARNING
    assert FORECAST_CALLS not in levels(fresh)  # nothing stored: nothing to say
    assert fresh.trends["calls"].runs_out_at is not None  # the trend is still there for the message

    stored = run(current, history, {FORECAST_CALLS: Level.WARNING})
    assert signal(stored, FORECAST_CALLS).level is Level.OK


def test_a_forecast_gets_a_day_of_hysteresis() -> None:
    # 100 a day from 300: the limit in 7 days, Dec 1 01:00, an hour after the period ends.
    history = climbing(100, 200)
    current = snap(calls(300), period=NOVEMBER)
    assert signal(run(current, history), FORECAST_CALLS).level is Level.OK
    assert signal(run(current, history, {FORECAST_CALLS: Level.WARNING}), FORECAST_CALLS).level is Level.WARNING
    # Two days late is beyond the day of grace.
    later = climbing(300, 350)  # 50 a day from 400: the limit on Dec 6
    late = run(snap(calls(400), period=NOVEMBER), later, {FORECAST_CALLS: Level.WARNING})
    assert signal(late, FORECAST_CALLS).level is Level.OK


def test_no_trend_means_no_forecast_signal_unless_one_was_stored() -> None:
    history = climbing(400)  # too few readings
    assert FORECAST_CALLS not in levels(run(snap(calls(500), period=NOVEMBER), history))
    stored = run(snap(calls(500), period=NOVEMBER), history, {FORECAST_CALLS: Level.WARNING})
    assert signal(stored, FORECAST_CALLS).level is Level.OK


def test_a_meter_that_cannot_run_out_has_no_forecast() -> None:
    unlimited = Meter("jobs", 100, None, None, "jobs")
    history = [snap(Meter("jobs", 10 * i, None, None, "jobs"), at=NOW - i * DAY) for i in (1, 2)]
    evaluation = run(snap(unlimited), history, {forecast_signal_key("jobs"): Level.WARNING})
    assert forecast_signal_key("jobs") not in levels(evaluation)
    assert "jobs" not in evaluation.trends


def test_a_new_period_clears_a_forecast() -> None:
    history = climbing(300, 400, period=NOVEMBER)
    evaluation = run(snap(calls(20), period=DECEMBER), history, {FORECAST_CALLS: Level.WARNING, CALLS: Level.OK})
    assert signal(evaluation, FORECAST_CALLS).level is Level.OK
    assert "calls" not in evaluation.trends


# --- forecasts stand down quietly; period moves and balances ------------------------------


def _burning(used_now: float) -> tuple[Snapshot, list[Snapshot]]:
    history = [snap(calls(used), at=NOW - HOUR * hours) for used, hours in ((100, 12), (300, 8), (500, 4))]
    return snap(calls(used_now), at=NOW), history


def test_a_forecast_stands_down_silently_when_the_usage_alert_takes_over() -> None:
    current, history = _burning(820)
    evaluation = run(current, history, previous={forecast_signal_key("calls"): Level.WARNING})
    forecast = signal(evaluation, forecast_signal_key("calls"))
    assert forecast.level is Level.OK
    assert forecast.silent
    assert signal(evaluation, CALLS).level is Level.WARNING


def test_a_forecast_that_clears_on_its_own_is_not_silent() -> None:
    current = snap(calls(500), at=NOW)
    flat = [snap(calls(500), at=NOW - HOUR * hours) for hours in (12, 8, 4)]
    forecast = signal(
        run(current, flat, previous={forecast_signal_key("calls"): Level.WARNING}), forecast_signal_key("calls")
    )
    assert forecast.level is Level.OK
    assert not forecast.silent


def test_a_period_move_resets_usage_meters_but_not_balances() -> None:
    before = snap(calls(960), credit(50), at=NOW - HOUR, period=NOVEMBER)
    after = snap(calls(960), credit(50), at=NOW, period=DECEMBER)
    evaluation = run(
        after,
        [before],
        previous={CALLS: Level.CRITICAL, CREDIT: Level.WARNING},
        thresholds=Thresholds(floor_warning=100),
    )
    assert not signal(evaluation, CREDIT).reset
    assert signal(evaluation, CREDIT).level is Level.WARNING


# --- strange figures: a broken answer is a check error; odd real figures never clear by accident --------

IMPOSSIBLE = [
    Meter("calls", -5, 1000, 1005, "calls"),  # negative use: once sent "reset with the new billing period (-0%)"
    Meter("calls", 1e308, 1000, 0, "calls"),  # once a critical alert with a 300-digit percentage
    Meter("calls", math.nan, 1000, None, "calls"),
    Meter("calls", 5, -3, None, "calls"),
    Meter("calls", 2_000_000, 1000, 0, "calls"),  # 2,000 times the limit: a misread unit
    Meter("credit", None, None, math.inf, "credits"),
]


@pytest.mark.parametrize("meter", IMPOSSIBLE)
def test_impossible_figures_are_a_bad_response_never_a_breach_or_a_clear(meter: Meter) -> None:
    previous = {CALLS: Level.WARNING, CREDIT: Level.WARNING, "condition:subscription_inactive": Level.CRITICAL}
    history = [snap(calls(850), at=NOW - HOUR)]
    evaluation = run(snap(meter, conditions=(INACTIVE,)), history, previous, thresholds=with_floor())

    assert [s.key for s in evaluation.signals] == [CHECK_KEY]
    check = evaluation.signals[0]
    assert check.error is not None
    assert check.error.kind is ErrorKind.BAD_RESPONSE
    assert "cannot be true: meter" in check.error.message
    assert evaluation.speaks_for == frozenset({"check"})  # raised meters stay raised, nothing clears
    stored = {key: SignalState(key, level, NOW - DAY, 1) for key, level in previous.items()}
    decisions = decide(evaluation.signals, stored, NOW, DEFAULT_POLICY, evaluation.speaks_for)
    assert [d.signal.key for d in decisions] == []  # one bad answer is not yet "cannot monitor"


def test_negative_use_after_a_high_reading_is_no_reset() -> None:
    evaluation = run(snap(Meter("calls", -5, 1000, 1005, "calls")), [snap(calls(850), at=NOW - HOUR)])
    assert CALLS not in levels(evaluation)


def test_impossible_readings_count_as_failed_checks() -> None:
    history = [snap(IMPOSSIBLE[0], at=NOW - 2 * HOUR), snap(IMPOSSIBLE[1], at=NOW - HOUR)]
    check = run(failed(), history).signals[0]
    assert (check.failures, check.level) == (3, Level.WARNING)
    assert run(snap(IMPOSSIBLE[2]), history).signals[0].failures == 3


def test_an_impossible_reading_is_not_the_last_good_one_for_a_reset() -> None:
    history = [snap(calls(850), at=NOW - 2 * HOUR), snap(Meter("calls", 1e14, 1000, 0, "calls"), at=NOW - HOUR)]
    evaluation = run(snap(calls(860)), history, {CALLS: Level.WARNING})
    assert not signal(evaluation, CALLS).reset
    assert signal(evaluation, CALLS).level is Level.WARNING


def test_use_over_the_limit_and_an_overdrawn_balance_are_real_and_critical() -> None:
    assert levels(run(snap(Meter("calls", 1500, 1000, 0, "calls"))))[CALLS] is Level.CRITICAL
    assert levels(run(snap(credit(-12.5)), thresholds=with_floor()))[CREDIT] is Level.CRITICAL


@pytest.mark.parametrize("remaining", [0, None])
def test_use_against_a_limit_of_zero_is_critical(remaining: float | None) -> None:
    evaluation = run(snap(Meter("calls", 5, 0, remaining, "calls")), previous={CALLS: Level.OK})
    assert levels(evaluation)[CALLS] is Level.CRITICAL


def test_a_limit_of_zero_with_something_left_is_not_over_it() -> None:
    """Credit beyond the deposits (a deposit of 0, a free balance) is not use against nothing."""
    evaluation = run(snap(Meter("credit", 0.1, 0, 0.4, "USD")))
    assert levels(evaluation)[CREDIT] is Level.OK


@pytest.mark.parametrize(
    "meter",
    [
        Meter("calls", 0, 0, 0, "calls"),  # no allowance, unused
        Meter("calls", None, 0, None, "calls"),
        Meter("calls", None, 1000, None, "calls"),  # usage unknown
    ],
)
@pytest.mark.parametrize("before", [Level.OK, Level.WARNING, Level.CRITICAL])
def test_a_limit_without_a_percent_keeps_its_level_and_never_clears(meter: Meter, before: Level) -> None:
    evaluation = run(snap(meter), [snap(calls(850), at=NOW - HOUR)], {CALLS: before})
    assert levels(evaluation)[CALLS] is before
    stored = {CALLS: SignalState(CALLS, before, NOW - HOUR, 1, notified_at=NOW - HOUR)}
    decisions = decide(evaluation.signals, stored, NOW, DEFAULT_POLICY, evaluation.speaks_for)
    assert all(d.notice not in (Notice.CLEARED, Notice.RESET) for d in decisions)


strange = st.none() | st.floats() | st.sampled_from([0, -1, 1e15, 1e308, -1e308, 5e-324, 10**400])


@settings(max_examples=300, deadline=None)
@example(used=0.0, limit=None, remaining=None, before=Level.WARNING, last=1.0)  # a reset, found by this test
@given(used=strange, limit=strange, remaining=strange, before=st.sampled_from(list(Level)), last=strange)
def test_a_meter_clears_only_on_a_true_percent_or_floor(
    used: float | None, limit: float | None, remaining: float | None, before: Level, last: float | None
) -> None:
    """Whatever the figures, a raised meter clears only when a real reading says so."""
    meter = Meter("calls", used, limit, remaining, "calls")
    history = [snap(Meter("calls", last, 1000, None, "calls"), at=NOW - HOUR)]
    thresholds = with_floor()
    evaluation = run(snap(meter), history, {CALLS: before}, thresholds=thresholds)
    stored = {CALLS: SignalState(CALLS, before, NOW - DAY, 1, notified_at=NOW - DAY)}
    for d in decide(evaluation.signals, stored, NOW, DEFAULT_POLICY, evaluation.speaks_for):
        if d.signal.key != CALLS or d.current >= before:
            continue
        assert check_figures([meter]) is None
        if d.notice is Notice.RESET:  # a sharp drop of a real usage figure: a new period
            assert meter.used is not None
            continue
        pct = meter.percent_used
        assert pct is not None or meter.remaining is not None
        assert pct is None or 0 <= pct < DEFAULT_THRESHOLDS.critical


def test_a_reading_cut_to_fit_storage_clears_nothing_it_left_out() -> None:
    keys = tuple(Meter(f"key:k{i}", 1, 100, 99, "USD") for i in range(MAX_METERS + 5))
    cut = bounded(snap(*keys))
    stored = {meter_signal_key("key:k52"): SignalState(meter_signal_key("key:k52"), Level.CRITICAL, NOW - DAY, 1)}
    stored["condition:gone"] = SignalState("condition:gone", Level.WARNING, NOW - DAY, 1)
    evaluation = run(cut)
    assert evaluation.speaks_for == frozenset({"check"})
    assert decide(evaluation.signals, stored, NOW, DEFAULT_POLICY, evaluation.speaks_for) == []
    # The meters it lists are judged as usual.
    assert (
        levels(run(cut, previous={meter_signal_key("key:k0"): Level.WARNING}))[meter_signal_key("key:k0")] is Level.OK
    )


def test_waiting_for_a_key_speaks_for_nothing_and_failures_count_from_its_arrival() -> None:
    waits = [failed(ErrorKind.NO_KEY, at=NOW - n * HOUR) for n in range(1, 6)]
    evaluation = run(failed(ErrorKind.NO_KEY), waits, {CHECK_KEY: Level.OK})
    assert (evaluation.signals, evaluation.speaks_for) == ([], frozenset())  # no "cannot monitor", ever
    # The key arrives and the provider is down: its first failure is not news yet.
    first = run(
        failed(ErrorKind.UNAVAILABLE), waits, {CHECK_KEY: Level.OK}, policy=AlertPolicy(failures_before_alert=2)
    )
    assert signal(first, CHECK_KEY).level is Level.OK
    assert signal(first, CHECK_KEY).failures == 1
