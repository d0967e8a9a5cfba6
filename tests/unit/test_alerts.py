"""Alert transitions: a signal is worth a message only when its level changed."""

from __future__ import annotations

from datetime import UTC, datetime

from quotawatch.core.alerts import SignalState, Transition, transitions
from quotawatch.core.rules import Level, Signal
from quotawatch.core.snapshot import Condition, Meter, Severity

SINCE = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
CALLS = "meter:calls"
INACTIVE = "condition:subscription_inactive"


def meter_signal(level: Level, used: float = 842) -> Signal:
    return Signal(CALLS, level, meter=Meter("calls", used, 1000, 1000 - used, "calls"))


def state(key: str, level: Level, version: int = 1) -> SignalState:
    return SignalState(key, level, SINCE, version)


def test_first_reading_at_ok_produces_nothing() -> None:
    assert transitions([meter_signal(Level.OK, 100)], {}) == []


def test_first_reading_above_ok_is_a_rise_from_ok_with_no_stored_version() -> None:
    signal = meter_signal(Level.WARNING)
    [transition] = transitions([signal], {})

    assert transition == Transition(signal, Level.OK, 0)
    assert transition.current is Level.WARNING
    assert transition.is_rise
    assert not transition.is_clear


def test_rise_from_warning_to_critical() -> None:
    signal = meter_signal(Level.CRITICAL, 960)
    [transition] = transitions([signal], {CALLS: state(CALLS, Level.WARNING, version=3)})

    assert transition.previous is Level.WARNING
    assert transition.current is Level.CRITICAL
    assert transition.previous_version == 3
    assert transition.is_rise


def test_no_change_produces_nothing() -> None:
    assert transitions([meter_signal(Level.WARNING, 850)], {CALLS: state(CALLS, Level.WARNING)}) == []
    assert transitions([meter_signal(Level.OK, 10)], {CALLS: state(CALLS, Level.OK)}) == []


def test_fall_from_critical_to_warning_is_neither_rise_nor_clear() -> None:
    [transition] = transitions([meter_signal(Level.WARNING)], {CALLS: state(CALLS, Level.CRITICAL, 2)})

    assert (transition.previous, transition.current) == (Level.CRITICAL, Level.WARNING)
    assert not transition.is_rise
    assert not transition.is_clear


def test_fall_to_ok_is_a_clear() -> None:
    [transition] = transitions([meter_signal(Level.OK, 120)], {CALLS: state(CALLS, Level.WARNING, 2)})

    assert transition.is_clear
    assert not transition.is_rise
    assert transition.previous_version == 2


def test_a_vanished_condition_clears() -> None:
    [transition] = transitions([], {INACTIVE: state(INACTIVE, Level.CRITICAL, version=4)})

    assert transition.signal == Signal(INACTIVE, Level.OK)
    assert transition.previous is Level.CRITICAL
    assert transition.previous_version == 4
    assert transition.is_clear


def test_a_vanished_condition_already_ok_stays_quiet() -> None:
    assert transitions([], {INACTIVE: state(INACTIVE, Level.OK)}) == []


def test_a_reported_condition_is_not_cleared() -> None:
    condition = Condition("subscription_inactive", Severity.CRITICAL, "not active")
    signal = Signal(INACTIVE, Level.CRITICAL, condition=condition)
    assert transitions([signal], {INACTIVE: state(INACTIVE, Level.CRITICAL)}) == []


def test_a_meter_gone_from_a_reading_with_meters_clears() -> None:
    """A deleted key or a removed cap: the raised meter must not stay raised forever."""
    [cleared] = transitions([], {CALLS: state(CALLS, Level.WARNING, version=3)})
    assert (cleared.signal.key, cleared.previous, cleared.current) == (CALLS, Level.WARNING, Level.OK)
    assert cleared.previous_version == 3


def test_a_reading_without_meters_keeps_meter_states() -> None:
    """A refusal read as a condition (quota reached) says nothing about meters."""
    assert transitions([], {CALLS: state(CALLS, Level.WARNING)}, reports_meters=False) == []


def test_several_signals_are_judged_independently() -> None:
    storage = Signal("meter:storage", Level.CRITICAL, meter=Meter("storage", 99, 100, 1, "bytes"))
    stored = {
        CALLS: state(CALLS, Level.WARNING),
        "meter:storage": state("meter:storage", Level.WARNING),
        INACTIVE: state(INACTIVE, Level.CRITICAL),
    }
    result = transitions([meter_signal(Level.WARNING), storage], stored)

    assert [(t.signal.key, t.previous, t.current) for t in result] == [
        ("meter:storage", Level.WARNING, Level.CRITICAL),
        (INACTIVE, Level.CRITICAL, Level.OK),
    ]
