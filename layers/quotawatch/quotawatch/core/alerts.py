"""The alert state machine: from the signals of a reading and the stored states, what to
store and what to say. Pure and clock-injected: `now` is an argument.

Per (monitor, signal) the state is a level (ok, warning, critical), since when, and when
a person was last told. A person is told once when a signal rises, eases (critical to
warning) or clears; again only after the reminder interval while it stays raised; and
never while nothing changes. Each decision carries the version it was made from, so the
store can refuse it when another run got there first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from quotawatch.core.rules import AlertPolicy, Level, Signal


class Notice(StrEnum):
    RAISED = "raised"  # ok -> warning/critical, warning -> critical
    EASED = "eased"  # critical -> warning: still raised, but the pressure is off
    REMINDER = "reminder"  # still raised after the reminder interval
    CLEARED = "cleared"  # back to ok
    RESET = "reset"  # back to ok because a new billing period began
    STILL = "still"  # still raised when the silence that held its messages ended (core/silences.py)


@dataclass(frozen=True)
class SignalState:
    """The stored level of one (monitor, signal) and the version that guards its updates."""

    key: str
    level: Level
    since: datetime
    version: int
    notified_at: datetime | None = None
    # A silence holds this signal's messages (core/silences.py): which one, and until when.
    held_by: str | None = None
    held_until: datetime | None = None


@dataclass(frozen=True)
class Decision:
    signal: Signal
    previous: Level
    state: SignalState  # to store, conditional on `expected_version`
    expected_version: int  # the version it was decided from; 0 when nothing was stored
    notice: Notice | None  # what to tell a person, if anything
    silence_ended: datetime | None = None  # for Notice.STILL: when the silence ended

    @property
    def current(self) -> Level:
        return self.signal.level


def decide(
    signals: list[Signal],
    stored: dict[str, SignalState],
    now: datetime,
    policy: AlertPolicy,
    speaks_for: frozenset[str] = frozenset({"meter", "forecast", "burn", "condition", "check"}),
) -> list[Decision]:
    """Every state change and every message that this reading calls for.

    A stored raised signal that the reading no longer reports clears, but only in a
    family the reading speaks for: a failed check says nothing about meters.
    """
    decisions: list[Decision] = []
    seen: set[str] = set()
    for signal in signals:
        seen.add(signal.key)
        decision = _decide_one(signal, stored.get(signal.key), now, policy)
        if decision is not None:
            decisions.append(decision)
    for key, state in stored.items():
        if key in seen or state.level is Level.OK or key.split(":", 1)[0] not in speaks_for:
            continue
        decisions.append(_change(Signal(key, Level.OK), state, now))
    return decisions


def _decide_one(signal: Signal, state: SignalState | None, now: datetime, policy: AlertPolicy) -> Decision | None:
    previous = state.level if state else Level.OK
    if signal.level != previous:
        return _change(signal, state, now)
    if state is None or state.level is Level.OK or policy.remind_every is None:
        return None
    last = state.notified_at or state.since
    if now - last < policy.remind_every:
        return None
    reminded = SignalState(state.key, state.level, state.since, state.version + 1, notified_at=now)
    return Decision(signal, previous, reminded, state.version, Notice.REMINDER)


def _change(signal: Signal, state: SignalState | None, now: datetime) -> Decision:
    previous = state.level if state else Level.OK
    version = state.version if state else 0
    if signal.level > previous:
        notice: Notice | None = Notice.RAISED
    elif signal.level is Level.OK:
        notice = None if signal.silent else Notice.RESET if signal.reset else Notice.CLEARED
    else:
        notice = Notice.EASED
    notified_at = now if notice is not None else (state.notified_at if state else None)
    new_state = SignalState(signal.key, signal.level, now, version + 1, notified_at=notified_at)
    return Decision(signal, previous, new_state, version, notice)
