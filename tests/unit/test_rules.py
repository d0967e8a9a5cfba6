"""Rules: from a snapshot and thresholds to a level per signal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quotawatch.config import Monitor
from quotawatch.core.rules import (
    DEFAULT_THRESHOLDS,
    Level,
    Signal,
    Thresholds,
    condition_signal_key,
    evaluate,
    meter_signal_key,
)
from quotawatch.core.snapshot import Condition, ErrorKind, Meter, Severity, Snapshot

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def snapshot(*meters: Meter, conditions: tuple[Condition, ...] = ()) -> Snapshot:
    return Snapshot("cloudlayer-prod", "cloudlayer", NOW, meters=meters, conditions=conditions)


def default(_meter: str) -> Thresholds:
    return DEFAULT_THRESHOLDS


def by_key(signals: list[Signal]) -> dict[str, Signal]:
    return {s.key: s for s in signals}


def test_default_thresholds_are_80_and_95() -> None:
    assert Thresholds(80.0, 95.0) == DEFAULT_THRESHOLDS


@pytest.mark.parametrize(
    ("percent", "thresholds", "expected"),
    [
        (0, DEFAULT_THRESHOLDS, Level.OK),
        (50, DEFAULT_THRESHOLDS, Level.OK),
        (79.99, DEFAULT_THRESHOLDS, Level.OK),
        (80, DEFAULT_THRESHOLDS, Level.WARNING),  # exactly at the threshold counts
        (82, DEFAULT_THRESHOLDS, Level.WARNING),
        (94.99, DEFAULT_THRESHOLDS, Level.WARNING),
        (95, DEFAULT_THRESHOLDS, Level.CRITICAL),
        (100, DEFAULT_THRESHOLDS, Level.CRITICAL),
        (250, DEFAULT_THRESHOLDS, Level.CRITICAL),
        (-5, DEFAULT_THRESHOLDS, Level.OK),
        (74, Thresholds(75, 90), Level.OK),
        (75, Thresholds(75, 90), Level.WARNING),
        (90, Thresholds(75, 90), Level.CRITICAL),
        (89, Thresholds(90, 90), Level.OK),
        (90, Thresholds(90, 90), Level.CRITICAL),  # warning == critical: straight to critical
        (99.9, Thresholds(80, 100), Level.WARNING),
        (100, Thresholds(80, 100), Level.CRITICAL),
    ],
)
def test_threshold_table(percent: float, thresholds: Thresholds, expected: Level) -> None:
    assert thresholds.level(percent) is expected


@given(st.floats(min_value=0, max_value=1000), st.floats(min_value=1, max_value=100), st.floats(0, 100))
def test_level_never_falls_as_usage_rises(percent: float, warning: float, extra: float) -> None:
    thresholds = Thresholds(warning, min(warning + extra, 100))
    assert thresholds.level(percent) <= thresholds.level(percent + 1)


def test_levels_are_ordered_and_named() -> None:
    assert Level.OK < Level.WARNING < Level.CRITICAL
    assert [level.label for level in Level] == ["ok", "warning", "critical"]
    assert Level.parse("warning") is Level.WARNING
    assert Level.parse("CRITICAL") is Level.CRITICAL


@pytest.mark.parametrize(
    ("severity", "level"),
    [(Severity.INFO, Level.OK), (Severity.WARNING, Level.WARNING), (Severity.CRITICAL, Level.CRITICAL)],
)
def test_condition_severity_maps_to_level(severity: Severity, level: Level) -> None:
    condition = Condition("billing_error", severity, "card declined")
    signals = evaluate(snapshot(conditions=(condition,)), default)

    assert signals == [Signal("condition:billing_error", level, condition=condition)]
    assert signals[0].subject == "billing error"


def test_meter_signals_carry_meter_and_thresholds() -> None:
    calls = Meter("calls", 842, 1000, 158, "calls")
    storage = Meter("storage", 50, 1000, 950, "bytes")
    signals = by_key(evaluate(snapshot(calls, storage), default))

    assert set(signals) == {"meter:calls", "meter:storage"}
    assert signals["meter:calls"] == Signal("meter:calls", Level.WARNING, meter=calls, thresholds=DEFAULT_THRESHOLDS)
    assert signals["meter:storage"].level is Level.OK  # OK signals are reported too (they clear alerts)
    assert signals["meter:calls"].subject == "calls"


def test_remaining_without_used_still_gives_a_percent() -> None:
    meter = Meter("credit", None, 100, 3, "credits")
    assert meter.percent_used == pytest.approx(97)
    assert evaluate(snapshot(meter), default)[0].level is Level.CRITICAL


@pytest.mark.parametrize(
    "meter",
    [
        Meter("calls", 15234, None, None, "calls"),  # unlimited
        Meter("credit", None, None, 4500, "credits"),  # a balance, no limit
        Meter("failed_jobs", 42, None, None, "jobs"),  # informational
        Meter("calls", None, 1000, None, "calls"),  # usage unknown
        Meter("calls", 5, 0, None, "calls"),  # a zero limit is no limit to measure against
    ],
)
def test_meters_without_a_percent_produce_no_signal(meter: Meter) -> None:
    assert meter.percent_used is None
    assert evaluate(snapshot(meter), default) == []


def test_per_meter_thresholds_via_a_monitor() -> None:
    monitor = Monitor(
        id="cloudlayer-prod",
        provider="cloudlayer",
        secret_field="cloudlayer-prod",
        thresholds=Thresholds(70, 90),
        meter_thresholds={"storage": Thresholds(90, 98)},
    )
    calls = Meter("calls", 72, 100, 28, "calls")  # 72%: warning under the monitor's 70
    storage = Meter("storage", 85, 100, 15, "bytes")  # 85%: fine under storage's own 90
    compute = Meter("compute_time", 91, 100, 9, "ms")  # 91%: critical under the monitor's 90
    signals = by_key(evaluate(snapshot(calls, storage, compute), monitor.thresholds_for))

    assert signals["meter:calls"].level is Level.WARNING
    assert signals["meter:calls"].thresholds == Thresholds(70, 90)
    assert signals["meter:storage"].level is Level.OK
    assert signals["meter:storage"].thresholds == Thresholds(90, 98)
    assert signals["meter:compute_time"].level is Level.CRITICAL


def test_a_failed_snapshot_produces_no_signals() -> None:
    """A check error is never a breach: its missing meters are not zero and not over the limit."""
    failed = Snapshot.failed("cloudlayer-prod", "cloudlayer", NOW, ErrorKind.AUTH, "key rejected")
    assert not failed.ok
    assert evaluate(failed, default) == []


def test_a_snapshot_with_an_error_speaks_for_nothing_even_with_meters() -> None:
    failed = Snapshot.failed("m", "cloudlayer", NOW, ErrorKind.UNAVAILABLE, "down")
    odd = Snapshot(
        failed.monitor,
        failed.provider,
        NOW,
        meters=(Meter("calls", 999, 1000, 1, "calls"),),
        conditions=(Condition("subscription_inactive", Severity.CRITICAL, "inactive"),),
        error=failed.error,
    )
    assert evaluate(odd, default) == []


def test_signal_keys() -> None:
    assert meter_signal_key("calls") == "meter:calls"
    assert condition_signal_key("subscription_inactive") == "condition:subscription_inactive"
    assert Signal("custom", Level.OK).subject == "custom"
