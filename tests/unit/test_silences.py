"""Silences (quotawatch/core/silences.py): which hold when, and what a run does with them:
held messages, marks, and the one "still <level>" message when a silence ends; through
run_check with the fake provider and the in-memory store, and the mute command's input."""

from __future__ import annotations

import argparse
import json
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from quotawatch_view.silencing import duration, new_silence

from quotawatch.adapters.http import HttpClient, HttpPolicy
from quotawatch.adapters.stored_silence import read_silence
from quotawatch.check import run_check
from quotawatch.core.alerts import Notice, SignalState, decide
from quotawatch.core.rules import AlertPolicy, Level, Signal
from quotawatch.core.self_messages import SELF_MONITOR
from quotawatch.core.silences import BadSilence, Recurrence, Silence, holding, in_force, plan, split_pattern
from quotawatch_local.fakes import Reply
from tests.memory_store import MemoryStore
from tests.unit.support import StartFake
from tests.unit.test_check_service import Harness, Switch, monitor
from tests.unit.test_check_service import plan as reply_plan

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
CALLS = "meter:calls"


def silence(pattern: str = "cloudlayer-prod", **fields: Any) -> Silence:
    monitor_pattern, signal = split_pattern(pattern)
    values: dict[str, Any] = {
        "id": "s-1",
        "monitor": monitor_pattern,
        "signal": signal,
        "starts_at": T0,
        "ends_at": T0 + timedelta(days=3),
        "author": "arn:aws:iam::123456789012:user/alice",
        "reason": "migrating",
        "created_at": T0,
    }
    return Silence(**{**values, **fields})


# --- which signals a pattern names ----------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "monitor_id", "signal", "held"),
    [
        ("imagerouter", "imagerouter", "meter:key:ci", True),
        ("imagerouter", "imagerouter-eu", "meter:key:ci", False),
        ("imagerouter*", "imagerouter-eu", "check", True),
        ("imagerouter:key:*", "imagerouter", "meter:key:ci", True),  # the family may be left out
        ("imagerouter:key:*", "imagerouter", "forecast:key:ci", True),
        ("imagerouter:key:*", "imagerouter", "meter:balance", False),
        ("imagerouter:key:*", "imagerouter", "condition:key_expiring:ci", False),
        ("imagerouter:meter:key:*", "imagerouter", "forecast:key:ci", False),  # or given
        ("*:check", "tornado-downloads", "check", True),
        ("*:check", "tornado-downloads", "meter:calls", False),
        ("*", SELF_MONITOR, "alarm:errors", False),  # QuotaWatch itself, never
        ("Cloudlayer-prod", "cloudlayer-prod", "meter:calls", False),  # ids are case-sensitive
    ],
)
def test_a_pattern_names_monitors_and_signals(pattern: str, monitor_id: str, signal: str, held: bool) -> None:
    assert bool(holding([silence(pattern)], monitor_id, signal, T0)) is held


# --- when a silence holds -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "fields", "held"),
    [
        (T0 - timedelta(seconds=1), {}, False),  # not yet
        (T0, {}, True),  # from its start on
        (T0 + timedelta(days=3) - timedelta(seconds=1), {}, True),
        (T0 + timedelta(days=3), {}, False),  # its end is not in it
        (T0 + timedelta(hours=1), {"ended_at": T0 + timedelta(hours=1)}, False),  # unmuted
        (T0 + timedelta(minutes=59), {"ended_at": T0 + timedelta(hours=1)}, True),
        (T0 + timedelta(days=400), {"ends_at": None, "every": Recurrence.parse("00:00-23:59", "UTC")}, True),
    ],
)
def test_a_silence_holds_from_its_start_until_before_its_end(at: datetime, fields: dict[str, Any], held: bool) -> None:
    assert bool(holding([silence(**fields)], "cloudlayer-prod", CALLS, at)) is held


BERLIN_WEEKEND = Recurrence.parse("sat 22:00-sun 04:00", "Europe/Berlin")


@pytest.mark.parametrize(
    ("utc", "held", "ends"),
    [
        # Winter (CET, UTC+1): Saturday 21:00 UTC to Sunday 03:00 UTC.
        ("2026-11-28T20:59:59", False, None),
        ("2026-11-28T21:00:00", True, "2026-11-29T03:00:00"),
        ("2026-11-29T02:59:59", True, "2026-11-29T03:00:00"),
        ("2026-11-29T03:00:00", False, None),
        # Summer (CEST, UTC+2): Saturday 20:00 UTC to Sunday 02:00 UTC.
        ("2026-07-04T20:00:00", True, "2026-07-05T02:00:00"),
        ("2026-07-05T02:00:00", False, None),
        # Clocks go forward in the window (Mar 29, 02:00 -> 03:00): 5 hours, to 02:00 UTC.
        ("2026-03-28T21:00:00", True, "2026-03-29T02:00:00"),
        ("2026-03-29T01:59:59", True, "2026-03-29T02:00:00"),
        ("2026-03-29T02:00:00", False, None),
        # Clocks go back in the window (Oct 25, 03:00 -> 02:00): 7 hours, to 03:00 UTC.
        ("2026-10-24T20:00:00", True, "2026-10-25T03:00:00"),
        ("2026-10-25T02:59:59", True, "2026-10-25T03:00:00"),
        ("2026-10-25T03:00:00", False, None),
        ("2026-10-28T22:00:00", False, None),  # a Wednesday
    ],
)
def test_a_weekly_window_keeps_its_wall_times_across_daylight_saving(utc: str, held: bool, ends: str | None) -> None:
    at = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    weekly = silence(starts_at=T0 - timedelta(days=365), ends_at=None, every=BERLIN_WEEKEND)
    assert weekly.holds_until(at) == (datetime.fromisoformat(ends).replace(tzinfo=UTC) if ends else None)
    assert bool(holding([weekly], "cloudlayer-prod", CALLS, at)) is held


def test_in_force_lists_what_holds_now_soonest_end_first() -> None:
    weekly = silence(id="s-w", ends_at=None, every=BERLIN_WEEKEND)
    short, later = silence(id="s-b", ends_at=T0 + timedelta(hours=1)), silence(id="s-a")
    assert in_force([later, weekly, short], T0) == [short, later]  # T0 is a Tuesday: not the weekend
    assert in_force([later, weekly, short], T0 + timedelta(hours=1)) == [later]


def test_a_daily_window_may_cross_midnight_and_a_window_with_an_end_stops_there() -> None:
    nightly = silence(starts_at=T0 - timedelta(days=1), ends_at=T0 + timedelta(days=1, hours=2))
    nightly = Silence(**{**nightly.__dict__, "every": Recurrence.parse("22:00-04:00", "UTC")})
    assert nightly.holds_until(datetime(2026, 11, 24, 3, 0, tzinfo=UTC)) == datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
    assert nightly.holds_until(datetime(2026, 11, 24, 12, 0, tzinfo=UTC)) is None
    # The next night's occurrence is cut short by the silence's own end.
    assert nightly.holds_until(datetime(2026, 11, 24, 23, 0, tzinfo=UTC)) == T0 + timedelta(days=1, hours=2)


@pytest.mark.parametrize(
    ("every", "zone", "problem"),
    [
        ("sat 22:00", "UTC", "write it as"),
        ("sat 22:00-04:00", "UTC", "on both sides"),
        ("sam 22:00-sun 04:00", "UTC", "not a day"),
        ("sat 25:00-sun 04:00", "UTC", "not a time of day"),
        ("sat 22:00-sun 04:00", "Mars/Olympus", "not a time zone"),
    ],
)
def test_a_window_that_cannot_be_read_says_what_to_write(every: str, zone: str, problem: str) -> None:
    with pytest.raises(BadSilence, match=problem):
        Recurrence.parse(every, zone)


def test_a_silence_reads_back_as_stored() -> None:
    weekly = silence("imagerouter:key:*", ends_at=None, every=BERLIN_WEEKEND, ended_at=T0 + timedelta(hours=2))
    assert read_silence(json.dumps(weekly.to_dict())) == weekly
    assert weekly.pattern == "imagerouter:key:*"


# --- the mute command's input ---------------------------------------------------------------


def _mute_args(pattern: str, **given: Any) -> argparse.Namespace:
    return argparse.Namespace(
        pattern=pattern, duration=given.get("duration"), every=given.get("every"), tz="UTC", reason="migrating"
    )


def test_mute_makes_a_silence_from_now_for_the_time_given() -> None:
    made = new_silence(_mute_args("imagerouter:key:*", duration="3d"), "arn:aws:sts::1:assumed-role/ops/bob", T0)
    assert (made.monitor, made.signal) == ("imagerouter", "key:*")
    assert (made.starts_at, made.ends_at) == (T0, T0 + duration("3d"))
    assert made.author == "arn:aws:sts::1:assumed-role/ops/bob"
    assert made.id.startswith("s-")


@pytest.mark.parametrize(
    ("pattern", "given", "problem"),
    [
        (SELF_MONITOR, {"duration": "1d"}, "never silenced"),
        ("imagerouter", {}, "say how long"),
        ("imagerouter", {"duration": "soon"}, "not a duration"),
        (":key:*", {"duration": "1d"}, "name a monitor"),
    ],
)
def test_mute_refuses_what_it_cannot_do(pattern: str, given: dict[str, Any], problem: str) -> None:
    with pytest.raises(BadSilence, match=problem):
        new_silence(_mute_args(pattern, **given), "arn", T0)


# --- what a run does with them (pure) -----------------------------------------------------------


def _state(level: Level, version: int = 1, **fields: Any) -> SignalState:
    return SignalState(CALLS, level, T0 - timedelta(days=1), version, notified_at=T0 - timedelta(days=1), **fields)


def test_a_raised_signal_without_a_decision_is_marked_once_and_moved_by_a_longer_silence() -> None:
    stored = {CALLS: _state(Level.CRITICAL)}
    signals = [Signal(CALLS, Level.CRITICAL)]
    [mark] = plan([], signals, stored, [silence()], "cloudlayer-prod", T0)
    assert (mark.held_by, mark.decision.notice) == (None, None)
    assert (mark.decision.state.held_by, mark.decision.state.held_until) == ("s-1", T0 + timedelta(days=3))
    assert mark.decision.expected_version == 1
    marked = {CALLS: mark.decision.state}
    assert plan([], signals, marked, [silence()], "cloudlayer-prod", T0 + timedelta(hours=1)) == []
    longer = silence(id="s-2", ends_at=T0 + timedelta(days=5))
    [moved] = plan([], signals, marked, [silence(), longer], "cloudlayer-prod", T0 + timedelta(hours=1))
    assert moved.decision.state.held_by == "s-2"


def test_a_held_signal_that_cleared_during_the_silence_is_not_told_again() -> None:
    cleared = {CALLS: _state(Level.OK, held_by="s-1", held_until=T0 + timedelta(days=3))}
    assert plan([], [Signal(CALLS, Level.OK)], cleared, [], "cloudlayer-prod", T0 + timedelta(days=4)) == []


def test_an_unmuted_silence_ends_when_it_was_unmuted() -> None:
    stored = {CALLS: _state(Level.WARNING, held_by="s-1", held_until=T0 + timedelta(days=3))}
    unmuted = silence(ended_at=T0 + timedelta(hours=5))
    [release] = plan([], [Signal(CALLS, Level.WARNING)], stored, [unmuted], "cloudlayer-prod", T0 + timedelta(hours=6))
    assert release.decision.notice is Notice.STILL
    assert release.decision.silence_ended == T0 + timedelta(hours=5)
    assert (release.decision.state.held_by, release.held_by) == (None, None)


def test_a_reminder_due_as_the_silence_ends_is_the_one_still_message() -> None:
    marked = _state(Level.CRITICAL, held_by="s-1", held_until=T0 + timedelta(days=3))
    signals = [Signal(CALLS, Level.CRITICAL)]
    now = T0 + timedelta(days=3, hours=1)
    [reminder] = decide(signals, {CALLS: marked}, now, AlertPolicy())
    [still] = plan([reminder], signals, {CALLS: marked}, [silence()], "cloudlayer-prod", now)
    assert (still.decision.notice, still.decision.silence_ended) == (Notice.STILL, T0 + timedelta(days=3))
    assert still.decision.state.held_until is None


def test_a_decision_under_a_silence_is_stored_with_its_message_held() -> None:
    signals = [Signal(CALLS, Level.CRITICAL)]
    decisions = decide(signals, {}, T0, AlertPolicy())
    [held] = plan(decisions, signals, {}, [silence()], "cloudlayer-prod", T0)
    assert (held.held_by, held.decision.notice) == ("s-1", Notice.RAISED)
    assert held.decision.state.held_until == T0 + timedelta(days=3)


# --- through a run: held, then released once ----------------------------------------------------


def test_held_then_released_once_even_when_a_tick_runs_twice(start_fake: StartFake) -> None:
    replies = Switch(reply_plan(500))
    fake = start_fake(replies)
    store = MemoryStore()
    store.stored_silences = [silence(ends_at=T0 + timedelta(hours=3))]
    h = Harness({"cloudlayer-prod": fake.valid_key}, store)
    h.deps.silences = store
    watched = monitor(fake)

    h.run(watched)  # ok
    replies.reply = reply_plan(820)
    h.tick()
    [warning] = h.run(watched)[0].queued  # decided, stored, held
    replies.reply = reply_plan(970)
    h.tick()
    [critical] = h.run(watched)[0].queued
    assert (warning["held_by"], critical["held_by"]) == ("s-1", "s-1")
    assert h.notifier.messages == []  # nothing sent while it holds
    assert store.state("cloudlayer-prod", CALLS).level is Level.CRITICAL  # states still change
    assert all(m.held_by == "s-1" for m in store.messages.values())

    h.tick()  # T0 + 3h: the silence has ended
    first = run_check((watched,), (), h.deps)
    again = run_check((watched,), (), h.deps)  # the same tick, delivered twice
    h.deliver()
    assert [len(o.queued) for o in (*first, *again)] == [1, 0]
    [still] = h.notifier.messages
    assert still.subject == "[CRITICAL] cloudlayer-prod: calls at 97% of limit (still, silence ended Nov 24 04:00 UTC)"
    assert still.sms.startswith(
        "QuotaWatch CRITICAL: cloudlayer-prod still critical after the silence that ended at 2026-11-24 04:00 UTC"
    )
    assert "A silence held its alerts; it ended at 2026-11-24 04:00 UTC." in still.email
    assert (still.severity, still.kind) == ("critical", "reminder")
    assert len(still.sms) <= 160
    assert store.state("cloudlayer-prod", CALLS).held_by is None
    h.tick()
    h.run(watched)
    assert len(h.notifier.messages) == 1  # said once
    assert store.silence_reads == 6  # once a run


def test_a_run_that_cannot_read_the_silences_holds_nothing(start_fake: StartFake) -> None:
    fake = start_fake(Switch(Reply(200, {**reply_plan(970).body})))

    class Broken:
        def silences(self) -> list[Silence]:
            raise ConnectionError("DynamoDB unreachable")

    h = Harness({"cloudlayer-prod": fake.valid_key})
    h.deps.silences = Broken()
    h.run(monitor(fake))
    assert [m.severity for m in h.notifier.messages] == ["critical"]


def test_two_runs_at_once_as_a_silence_ends_tell_it_once(start_fake: StartFake) -> None:
    replies = Switch(reply_plan(970))
    fake = start_fake(replies)
    store = MemoryStore()
    store.stored_silences = [silence(ends_at=T0 + timedelta(hours=1))]
    h = Harness({"cloudlayer-prod": fake.valid_key}, store)
    h.deps.silences = store
    watched = monitor(fake)
    h.run(watched)  # critical, held
    h.tick()
    # Both runs read the held state before either decides: the provider answers slowly.
    replies.reply = Reply(200, reply_plan(975).body, delay=0.3)
    results: list[int] = []

    def one_run() -> None:
        # Each run with its own client, as two function containers would have: one client's
        # loop takes one run at a time, and the runs would no longer overlap.
        deps = replace(h.deps, http=HttpClient(HttpPolicy(connect_timeout=0.5, read_timeout=0.5)))
        results.append(sum(len(o.queued) for o in run_check((watched,), (), deps)))

    runs = [threading.Thread(target=one_run) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(timeout=30)
    h.deliver()
    assert sorted(results) == [0, 1]
    assert [m.subject.split(" (still")[0] for m in h.notifier.messages] == [
        "[CRITICAL] cloudlayer-prod: calls at 98% of limit"
    ]
    assert [r for _, r in store.refused] == [1]  # the loser's release, refused at the version it read
