"""QuotaWatch itself: a failed run and its own alarms raise once and clear once."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from quotawatch import selfwatch
from quotawatch.adapters.clock import FixedClock
from quotawatch.core.record import MonitorRecord
from quotawatch.core.self_messages import SELF_MONITOR
from tests.memory_store import MemoryStore

T0 = datetime(2026, 11, 24, 14, 45, tzinfo=UTC)
FAILURE = selfwatch.RunFailure(
    function="quotawatch-CheckUsageFunction-AbC",
    error_type="ConfigError",
    error_message="monitors.yaml: line 3: not valid YAML",
    scheduled_time="2026-11-24T14:45:00Z",
    attempts=2,
)
HEARTBEAT = "quotawatch-HeartbeatAlarm-XyZ"
DESCRIPTION = "No check has run for two schedule intervals. The schedule may be disabled or the function throttled."


def subjects(store: MemoryStore) -> list[str]:
    return [q.message.subject for q in store.messages.values()]


def test_a_failed_run_raises_once_and_a_working_run_clears_it_once() -> None:
    store, clock = MemoryStore(), FixedClock(T0)

    first = selfwatch.run_failed(FAILURE, store, clock)
    clock.set(T0 + timedelta(minutes=15))
    again = selfwatch.run_failed(FAILURE, store, clock)  # the next tick fails the same way
    cleared = selfwatch.run_succeeded(store, clock)
    nothing = selfwatch.run_succeeded(store, clock)

    assert first is not None
    assert again is None
    assert cleared is not None
    assert nothing is None
    assert subjects(store) == [
        "[CRITICAL] QuotaWatch itself: a check run failed after 2 attempts (ConfigError)",
        "[OK] QuotaWatch itself: check runs work again",
    ]
    assert "monitors.yaml: line 3: not valid YAML" in first.message.email
    assert first.message.severity == "critical"  # passes the SMS filter
    assert len(first.message.sms) <= 160
    assert first.monitor == SELF_MONITOR


def test_a_working_run_with_nothing_raised_writes_nothing() -> None:
    store = MemoryStore()
    assert selfwatch.run_succeeded(store, FixedClock(T0)) is None
    assert store.messages == {}
    assert store.items == {}


def test_the_heartbeat_alarm_raises_and_clears_and_insufficient_data_says_nothing() -> None:
    store = MemoryStore()

    def change(state: str, minutes: int) -> object:
        at = T0 + timedelta(minutes=minutes)
        return selfwatch.alarm_changed(
            selfwatch.AlarmChange(HEARTBEAT, DESCRIPTION, state, "Threshold Crossed", at), store
        )

    assert change("ALARM", 0) is not None
    assert change("ALARM", 5) is None
    assert change("INSUFFICIENT_DATA", 10) is None
    assert change("OK", 20) is not None
    assert subjects(store) == [
        "[CRITICAL] QuotaWatch itself: No check has run for two schedule intervals",
        "[OK] QuotaWatch itself: over: no check has run for two schedule intervals",
    ]


def test_two_notifiers_racing_on_one_alarm_change_queue_one_message() -> None:
    store = MemoryStore()
    change = selfwatch.AlarmChange(HEARTBEAT, DESCRIPTION, "ALARM", "Threshold Crossed", T0)
    stale = store.load([SELF_MONITOR], history=False)

    class Stale(MemoryStore):
        def load(self, monitors: Iterable[str], history: bool = True) -> dict[str, MonitorRecord]:
            return stale

    racer = Stale()
    racer.items, racer.messages = store.items, store.messages
    assert selfwatch.alarm_changed(change, store) is not None
    assert selfwatch.alarm_changed(change, racer) is None  # its write is refused: decided once
    assert len(store.messages) == 1
