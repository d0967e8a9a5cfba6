"""One contract, two stores: the in-memory store of the unit tests and DynamoStore on the
embedded AWS (the real template's table) must agree, so the fake cannot drift."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Protocol

import pytest

from quotawatch.adapters.store import DynamoStore
from quotawatch.core import window
from quotawatch.core.alerts import SignalState
from quotawatch.core.messages import render_test
from quotawatch.core.record import QueuedMessage
from quotawatch.core.rules import Level
from quotawatch.core.snapshot import Meter, Period, Snapshot
from quotawatch.ports import ChannelLog
from quotawatch_local.local_stack import LocalStack
from tests.memory_store import MemoryStore

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 24, tzinfo=UTC)


class Both(ChannelLog, Protocol):  # what each store under contract is
    pass


@pytest.fixture(params=["memory", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Iterator[Both]:
    if request.param == "memory":
        yield MemoryStore()
        return
    stack: LocalStack = request.getfixturevalue("stack")
    yield DynamoStore(stack.aws.client("dynamodb"), stack.outputs["TableName"])


def reading(monitor: str, minutes: int, used: float, name: str = "calls") -> Snapshot:
    period = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    meters = (Meter(name, used, 1000, 1000 - used, "calls"),)
    return Snapshot(monitor, "cloudlayer", T0 + timedelta(minutes=minutes), period, meters)


def message(signal: str, version: int) -> QueuedMessage:
    return QueuedMessage.for_decision("acme", signal, version, T0, render_test(T0, version))


def test_each_signal_changes_only_from_the_version_it_was_read_at(store: Both) -> None:
    calls = SignalState("meter:calls", Level.WARNING, T0, 1, notified_at=T0)
    check = SignalState("check", Level.CRITICAL, T0, 1, notified_at=T0)

    assert store.commit("acme", calls, 0, None)
    assert not store.commit("acme", calls, 0, None), "a second change from nothing stored"
    assert store.commit("acme", check, 0, None), "another signal of the same monitor is independent"
    raised = SignalState("meter:calls", Level.CRITICAL, T0 + timedelta(hours=1), 2, notified_at=T0)
    assert not store.commit("acme", raised, 2, None), "from a version never stored"
    assert store.commit("acme", raised, 1, None)

    assert store.load(["acme"], history=False)["acme"].states == {"meter:calls": raised, "check": check}


def test_a_change_and_its_message_are_stored_together_or_not_at_all(store: Both) -> None:
    calls = SignalState("meter:calls", Level.WARNING, T0, 1, notified_at=T0)
    first = message("meter:calls", 1)

    assert store.commit("acme", calls, 0, first)
    assert store.channels_done("acme", first.key) == set()  # stored, waiting for delivery

    racing = message("meter:calls", 1)  # another run's identical decision
    assert not store.commit("acme", calls, 0, racing)
    stale = SignalState("meter:calls", Level.CRITICAL, T0, 1, notified_at=T0)
    other = QueuedMessage.for_decision("acme", "meter:calls", 1, T0 + timedelta(minutes=1), render_test(T0, 9))
    assert not store.commit("acme", stale, 0, other), "refused state: its message is not stored either"
    assert store.channels_done("acme", other.key) is None, "never stored (reads as nothing to send)"
    assert store.load(["acme"], history=False)["acme"].states == {"meter:calls": calls}


def test_a_message_is_recorded_per_channel_once_stored(store: Both) -> None:
    queued = message("test", 0)
    assert store.queue(queued)
    assert not store.queue(queued), "the same message twice"
    assert store.channels_done("acme", queued.key) == set()

    store.record_channel("acme", queued.key, "topic", T0, "SNS sns-1")
    store.record_channel_failure("acme", queued.key, "team", T0, "500")
    store.give_up_channel("acme", queued.key, "pager", T0, "10 attempts")

    assert store.channels_done("acme", queued.key) == {"topic", "pager"}
    store.record_channel("acme", "MSG#never-stored", "topic", T0, "SNS sns-2")  # an expired item is not brought back
    assert store.channels_done("acme", "MSG#never-stored") is None


def test_readings_and_windows_read_back(store: Both) -> None:
    snapshots = [reading("acme", 0, 100), reading("other", 0, 200)]
    windows = {s.monitor: window.encode(window.roll(s, [])) for s in snapshots}

    assert store.put_snapshots(snapshots, windows) == set()
    store.put_snapshots([reading("acme", 15, 150)], {})

    records = store.load(["acme", "other", "never"])
    assert records["acme"].window == windows["acme"]
    assert records["never"].window is None
    assert records["never"].states == {}
    assert [s.meters[0].used for s in store.recent_snapshots("acme")] == [150, 100]  # newest first


def test_an_item_too_large_to_store_costs_only_its_monitor(store: Both) -> None:
    huge = reading("huge", 0, 1, name="x" * 410_000)  # over DynamoDB's 400 KB item limit
    fine = [reading(f"fine-{n}", 0, 100) for n in range(3)]

    failed = store.put_snapshots([fine[0], huge, *fine[1:]], {})

    assert failed == {"huge"}
    assert store.recent_snapshots("huge") == []
    for snapshot in fine:
        assert store.recent_snapshots(snapshot.monitor) == [snapshot]


def test_a_hold_on_a_signal_is_stored_with_its_state_and_cleared_by_the_next(store: Both) -> None:
    held = SignalState("meter:calls", Level.CRITICAL, T0, 1, T0, held_by="s-1", held_until=T0 + timedelta(days=3))
    assert store.commit(
        "acme", held, 0, QueuedMessage.for_decision("acme", "meter:calls", 1, T0, render_test(T0, 1), "s-1")
    )
    assert store.load(["acme"], history=False)["acme"].states == {"meter:calls": held}
    released = SignalState("meter:calls", Level.CRITICAL, T0, 2, notified_at=T0 + timedelta(days=3))
    assert store.commit("acme", released, 1, None)
    assert store.load(["acme"], history=False)["acme"].states == {"meter:calls": released}
