"""The alert state machine: what to store and what to tell a person, reading after reading."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quotawatch.core.alerts import Decision, Notice, SignalState, decide
from quotawatch.core.rules import CHECK_KEY, DEFAULT_POLICY, AlertPolicy, Level, Signal
from quotawatch.core.snapshot import Meter

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
SINCE = NOW - timedelta(days=3)
CALLS = "meter:calls"
FORECAST = "forecast:calls"
INACTIVE = "condition:subscription_inactive"
ALL = frozenset({"meter", "forecast", "condition", "check"})
H = timedelta(hours=1)

OK, WARNING, CRITICAL = Level.OK, Level.WARNING, Level.CRITICAL
NEVER = AlertPolicy(remind_every=None)


def meter_signal(level: Level, reset: bool = False, key: str = CALLS) -> Signal:
    meter = Meter(key.split(":", 1)[1], 842, 1000, 158, "calls")
    return Signal(key, level, meter=meter, reset=reset)


def state(level: Level, version: int = 3, notified_ago: timedelta | None = H, key: str = CALLS) -> SignalState:
    return SignalState(key, level, SINCE, version, notified_at=None if notified_ago is None else NOW - notified_ago)


@dataclass(frozen=True)
class Case:
    """One step of the state machine: a stored state (or none) and a new level."""

    stored: SignalState | None
    level: Level
    notice: Notice | None  # None: no decision at all (nothing stored, nothing said)
    reset: bool = False
    policy: AlertPolicy = DEFAULT_POLICY


CASES = {
    # First readings.
    "first-ok": Case(None, OK, None),
    "first-warning": Case(None, WARNING, Notice.RAISED),
    "first-critical": Case(None, CRITICAL, Notice.RAISED),
    "first-ok-after-a-reset": Case(None, OK, None, reset=True),
    # Changes of level.
    "ok-to-warning": Case(state(OK), WARNING, Notice.RAISED),
    "ok-to-critical": Case(state(OK), CRITICAL, Notice.RAISED),
    "warning-to-critical": Case(state(WARNING), CRITICAL, Notice.RAISED),
    "critical-eases-to-warning": Case(state(CRITICAL), WARNING, Notice.EASED),
    "warning-clears": Case(state(WARNING), OK, Notice.CLEARED),
    "critical-clears": Case(state(CRITICAL), OK, Notice.CLEARED),
    "warning-resets": Case(state(WARNING), OK, Notice.RESET, reset=True),
    "critical-resets": Case(state(CRITICAL), OK, Notice.RESET, reset=True),
    "critical-to-warning-in-a-new-period": Case(state(CRITICAL), WARNING, Notice.EASED, reset=True),
    "rise-never-reads-as-a-reset": Case(state(WARNING), CRITICAL, Notice.RAISED, reset=True),
    "a-change-is-said-even-right-after-another": Case(state(WARNING, notified_ago=timedelta(0)), OK, Notice.CLEARED),
    "a-change-is-said-with-reminders-off": Case(state(WARNING), CRITICAL, Notice.RAISED, policy=NEVER),
    # No change: quiet, or a reminder once the interval has passed since the last message.
    "ok-stays-ok": Case(state(OK, notified_ago=timedelta(days=30)), OK, None),
    "warning-stays-1h": Case(state(WARNING), WARNING, None),
    "warning-stays-just-under-24h": Case(state(WARNING, notified_ago=24 * H - timedelta(seconds=1)), WARNING, None),
    "warning-stays-exactly-24h": Case(state(WARNING, notified_ago=24 * H), WARNING, Notice.REMINDER),
    "critical-stays-25h": Case(state(CRITICAL, notified_ago=25 * H), CRITICAL, Notice.REMINDER),
    "never-notified-counts-from-since": Case(state(WARNING, notified_ago=None), WARNING, Notice.REMINDER),
    "reminders-off": Case(state(CRITICAL, notified_ago=timedelta(days=400)), CRITICAL, None, policy=NEVER),
    "hourly-just-under": Case(
        state(WARNING, notified_ago=H - timedelta(seconds=1)), WARNING, None, policy=AlertPolicy(remind_every=H)
    ),
    "hourly-exactly": Case(
        state(WARNING, notified_ago=H), WARNING, Notice.REMINDER, policy=AlertPolicy(remind_every=H)
    ),
    "a-reset-flag-without-a-change-is-quiet": Case(state(WARNING), WARNING, None, reset=True),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_state_machine(case: Case) -> None:
    signal = meter_signal(case.level, case.reset)
    stored = {CALLS: case.stored} if case.stored is not None else {}

    decisions = decide([signal], stored, NOW, case.policy)

    if case.notice is None:
        assert decisions == []
        return
    [decision] = decisions
    previous = case.stored.level if case.stored else OK
    version = case.stored.version if case.stored else 0
    assert decision.notice is case.notice
    assert decision.signal == signal
    assert decision.previous is previous
    assert decision.current is case.level
    assert decision.expected_version == version
    assert decision.state.key == CALLS
    assert decision.state.level is case.level
    assert decision.state.version == version + 1
    assert decision.state.notified_at == NOW  # every decision with a notice is a message sent now
    if case.notice is Notice.REMINDER:
        assert case.stored is not None
        assert decision.state.since == case.stored.since  # still raised since then
    else:
        assert decision.state.since == NOW  # a new level starts now


# --- vanished signals ----------------------------------------------------------------------------


STORED = {
    CALLS: state(WARNING, 4, key=CALLS),
    FORECAST: state(WARNING, 2, key=FORECAST),
    INACTIVE: state(CRITICAL, 6, key=INACTIVE),
    CHECK_KEY: state(WARNING, 8, key=CHECK_KEY),
    "meter:storage": state(OK, 9, key="meter:storage"),
}


@pytest.mark.parametrize(
    ("speaks_for", "cleared"),
    [
        (ALL, [CALLS, FORECAST, INACTIVE, CHECK_KEY]),  # a reading with meters that no longer has them
        (frozenset({"check", "condition"}), [INACTIVE, CHECK_KEY]),  # a reading without meters
        (frozenset({"check"}), [CHECK_KEY]),  # a failed check speaks only for the check
        (frozenset(), []),
    ],
    ids=["all", "no-meters", "failed-check", "nothing"],
)
def test_vanished_raised_signals_clear_only_in_families_the_reading_speaks_for(
    speaks_for: frozenset[str], cleared: list[str]
) -> None:
    decisions = decide([], STORED, NOW, DEFAULT_POLICY, speaks_for)

    assert [d.state.key for d in decisions] == cleared
    for decision in decisions:
        before = STORED[decision.state.key]
        assert decision.notice is Notice.CLEARED
        assert decision.signal == Signal(decision.state.key, OK)
        assert decision.previous is before.level
        assert decision.expected_version == before.version
        assert decision.state == SignalState(decision.state.key, OK, NOW, before.version + 1, notified_at=NOW)


def test_the_default_reading_speaks_for_every_family() -> None:
    assert [d.state.key for d in decide([], STORED, NOW, DEFAULT_POLICY)] == [CALLS, FORECAST, INACTIVE, CHECK_KEY]


def test_a_vanished_signal_already_ok_stays_quiet() -> None:
    assert decide([], {CALLS: state(OK)}, NOW, DEFAULT_POLICY) == []


def test_a_reported_signal_is_judged_once_not_also_as_vanished() -> None:
    [decision] = decide([meter_signal(OK)], {CALLS: state(CRITICAL)}, NOW, DEFAULT_POLICY)
    assert decision.notice is Notice.CLEARED
    assert decision.signal.meter is not None  # the reading's own signal, with its figures


def test_a_vanished_signal_is_not_reminded_outside_speaks_for() -> None:
    """While checks fail, a raised meter is neither cleared nor reminded of."""
    old = {CALLS: state(WARNING, notified_ago=timedelta(days=3))}
    assert decide([], old, NOW, DEFAULT_POLICY, frozenset({"check"})) == []


def test_several_signals_are_judged_independently_in_order() -> None:
    storage = Signal("meter:storage", CRITICAL, meter=Meter("storage", 99, 100, 1, "bytes"))
    stored = {
        CALLS: state(WARNING, notified_ago=25 * H),
        "meter:storage": state(WARNING, key="meter:storage"),
        INACTIVE: state(CRITICAL, key=INACTIVE),
        CHECK_KEY: state(OK, key=CHECK_KEY),
    }
    decisions = decide([Signal(CHECK_KEY, OK), meter_signal(WARNING), storage], stored, NOW, DEFAULT_POLICY)

    assert [(d.state.key, d.previous, d.current, d.notice) for d in decisions] == [
        (CALLS, WARNING, WARNING, Notice.REMINDER),
        ("meter:storage", WARNING, CRITICAL, Notice.RAISED),
        (INACTIVE, CRITICAL, OK, Notice.CLEARED),
    ]


# --- properties over sequences of readings ---------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """What one tick says about the signal: a level, or nothing (absent)."""

    level: Level | None  # None: the signal is not in the reading
    speaks: bool  # whether the reading speaks for the signal's family (absent + speaks = gone)
    reset: bool
    step: timedelta  # time since the previous tick


readings = st.builds(
    Reading,
    level=st.one_of(st.none(), st.sampled_from(list(Level))),
    speaks=st.booleans(),
    reset=st.booleans(),
    # Half-hour steps land exactly on the reminder intervals often, where the boundary matters.
    step=st.integers(min_value=1, max_value=72).map(lambda n: timedelta(minutes=30 * n)),
)
policies = st.sampled_from([DEFAULT_POLICY, NEVER, AlertPolicy(remind_every=H), AlertPolicy(remind_every=6 * H)])


@dataclass(frozen=True)
class Tick:
    at: datetime
    level: Level  # the level in force after this tick
    decision: Decision | None


def replay(sequence: list[Reading], policy: AlertPolicy) -> list[Tick]:
    """Feed the readings through decide(), carrying the stored state forward as the store would."""
    stored: dict[str, SignalState] = {}
    now = NOW
    ticks = []
    for reading in sequence:
        now += reading.step
        signals = [meter_signal(reading.level, reading.reset)] if reading.level is not None else []
        speaks_for = ALL if reading.speaks else frozenset({"check"})
        decisions = decide(signals, stored, now, policy, speaks_for)
        assert len(decisions) <= 1
        decision = decisions[0] if decisions else None
        if decision is not None:
            stored[CALLS] = decision.state
        ticks.append(Tick(now, stored[CALLS].level if CALLS in stored else OK, decision))
    return ticks


CHANGES = {Notice.RAISED, Notice.EASED, Notice.CLEARED, Notice.RESET}


@settings(max_examples=400, deadline=None)
@given(sequence=st.lists(readings, min_size=1, max_size=40), policy=policies)
def test_one_message_per_transition_and_reminders_only_when_due(sequence: list[Reading], policy: AlertPolicy) -> None:
    ticks = replay(sequence, policy)

    level = OK
    last_told: datetime | None = None
    for reading, tick in zip(sequence, ticks, strict=True):
        notice = tick.decision.notice if tick.decision else None
        # What the reading means for the signal: its level, OK when it vanished from a
        # reading that speaks for it, unchanged otherwise.
        if reading.level is not None:
            seen: Level | None = reading.level
        elif reading.speaks:
            seen = OK
        else:
            seen = None
        if seen is not None and seen != level:
            # (a) the start of a run of equal levels: exactly one change notice, of the right kind.
            expected = (
                Notice.RAISED
                if seen > level
                else Notice.EASED
                if seen is not OK
                else Notice.RESET
                if reading.reset and reading.level is not None
                else Notice.CLEARED
            )
            assert notice is expected
            level = seen
            last_told = tick.at
        else:
            # Within a run: nothing, or a reminder while raised and exactly when due.
            due = (
                seen is not None
                and level is not OK
                and policy.remind_every is not None
                and last_told is not None
                and tick.at - last_told >= policy.remind_every
            )
            assert notice is (Notice.REMINDER if due else None)
            if due:
                last_told = tick.at
        assert tick.level is level


@settings(max_examples=300, deadline=None)
@given(sequence=st.lists(readings, min_size=1, max_size=40), policy=policies)
def test_reminders_are_spaced_and_recoveries_follow_a_rise(sequence: list[Reading], policy: AlertPolicy) -> None:
    ticks = replay(sequence, policy)
    told = [(t.at, t.decision.notice) for t in ticks if t.decision is not None and t.decision.notice is not None]

    # No two messages for one transition: consecutive change notices differ in level.
    changes = [t.decision for t in ticks if t.decision is not None and t.decision.notice in CHANGES]
    for before, after in pairwise(changes):
        assert before.current != after.current
        assert after.previous == before.current
    # Reminders are spaced at least remind_every from the message before.
    for (earlier, _), (at, notice) in pairwise(told):
        if notice is Notice.REMINDER:
            assert policy.remind_every is not None
            assert at - earlier >= policy.remind_every
    # (b) every CLEARED or RESET (and EASED, and REMINDER) follows an earlier RAISED.
    raised = False
    for _, notice in told:
        if notice is Notice.RAISED:
            raised = True
        else:
            assert raised, told


@settings(max_examples=300, deadline=None)
@given(sequence=st.lists(readings, min_size=1, max_size=40), policy=policies)
def test_versions_increase_by_one_per_stored_change(sequence: list[Reading], policy: AlertPolicy) -> None:
    ticks = replay(sequence, policy)

    version = 0
    for tick in ticks:
        if tick.decision is None:
            continue
        # (c) each change is conditional on the version it was decided from, and bumps it by one.
        assert tick.decision.expected_version == version
        assert tick.decision.state.version == version + 1
        assert tick.decision.notice is not None  # nothing is stored without something to say
        assert tick.decision.state.notified_at == tick.at
        version += 1


def test_a_silent_fall_is_stored_without_a_message() -> None:
    """A forecast standing down because the usage alert took over: state follows, nobody is told."""
    quiet = Signal(FORECAST, Level.OK, silent=True)
    [decision] = decide([quiet], {FORECAST: state(Level.WARNING, version=4, key=FORECAST)}, NOW, DEFAULT_POLICY)
    assert decision.notice is None
    assert decision.state.level is Level.OK
    assert decision.state.version == 5
    assert decision.state.notified_at == NOW - H  # unchanged: nobody was told now
