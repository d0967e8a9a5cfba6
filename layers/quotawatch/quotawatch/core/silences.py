"""Silences: "I know, be quiet until Friday". Pure: which silences hold for a monitor and a
signal at a moment, and what a run does about the signals they hold.

A silence names a monitor pattern and a signal pattern (shell-style: `imagerouter:key:*`)
and holds from its start to its end, or, as a maintenance window, during each occurrence
of a weekly (or daily) span in a time zone (`sat 22:00-sun 04:00`, Europe/Berlin), until
its end if it has one. While a silence holds, states still change and every decision is
stored, but its message is stored as held: it is never delivered. When no silence holds
any more and a held signal is still raised, one message says so ("still critical after the
silence that ended at ..."); that release is a state change like any other, so it is
decided once however many runs race on it. A silence never holds "QuotaWatch itself".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from quotawatch.core.alerts import Decision, Notice, SignalState
from quotawatch.core.rules import Level, Signal
from quotawatch.core.self_messages import SELF_MONITOR
from quotawatch.core.snapshot import format_time

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_END = r"(?:(?P<{0}day>[a-z]+)\s+)?(?P<{0}>\d{{1,2}}:\d{{2}})"
_SPAN = re.compile(r"^\s*" + _END.format("start") + r"\s*-\s*" + _END.format("end") + r"\s*$")


class BadSilence(ValueError):
    """A silence that cannot be made as given; the text says what to write instead."""


@dataclass(frozen=True)
class Recurrence:
    """A span that comes back every week (`sat 22:00-sun 04:00`) or every day (`22:00-04:00`),
    in wall-clock time of a zone: across a change of daylight saving time it keeps its wall
    times, so it lasts an hour more or less that night."""

    start_day: int | None  # 0 = Monday; None: every day
    start: time
    end_day: int | None
    end: time
    zone: str

    @classmethod
    def parse(cls, text: str, zone: str) -> Recurrence:
        found = _SPAN.match(text.lower())
        if found is None:
            raise BadSilence(f"--every '{text}': write it as 'sat 22:00-sun 04:00' or, every day, '22:00-04:00'")
        start_day, end_day = found["startday"], found["endday"]
        if (start_day is None) != (end_day is None):
            raise BadSilence(f"--every '{text}': give a day on both sides, or on neither (every day)")
        days = [_day(d, text) for d in (start_day, end_day)]
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # only where a window is: not at a cold start

        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise BadSilence(f"--tz '{zone}': not a time zone (write it like Europe/Berlin or UTC)") from None
        return cls(days[0], _time(found["start"], text), days[1], _time(found["end"], text), zone)

    def text(self) -> str:
        def one(day: int | None, at: time) -> str:
            return (f"{_DAYS[day]} " if day is not None else "") + f"{at:%H:%M}"

        return f"{one(self.start_day, self.start)}-{one(self.end_day, self.end)}"

    def occurrence(self, at: datetime) -> tuple[datetime, datetime] | None:
        """The occurrence (start, end, in UTC) that holds at `at`, if one does."""
        from zoneinfo import ZoneInfo  # only where a window is: not at a check's cold start

        zone = ZoneInfo(self.zone)
        local_day = at.astimezone(zone).date()
        step = 1 if self.start_day is None else 7
        length = (self.end_day - self.start_day) % 7 if self.start_day is not None and self.end_day is not None else 0
        if length == 0 and self.end <= self.start:
            length = step
        # An occurrence that holds at `at` started at most a week (a day) and a day ago.
        for back in range(0, step + 2):
            day = local_day - timedelta(days=back)
            if self.start_day is not None and day.weekday() != self.start_day:
                continue
            start = _moment(day, self.start, zone)
            end = _moment(day + timedelta(days=length), self.end, zone)
            if start <= at < end:
                return start, end
        return None


@dataclass(frozen=True)
class Silence:
    id: str
    monitor: str  # a pattern of monitor ids
    signal: str  # a pattern of signal keys ("*": all), with or without the family: key:* or meter:key:*
    starts_at: datetime
    ends_at: datetime | None  # None: a maintenance window without end
    author: str
    reason: str
    created_at: datetime
    every: Recurrence | None = None
    ended_at: datetime | None = None  # ended early by `quotawatch unmute`

    @property
    def pattern(self) -> str:
        return self.monitor if self.signal == "*" else f"{self.monitor}:{self.signal}"

    @property
    def until(self) -> datetime | None:
        """When it stops holding for good (None: never, until unmuted)."""
        ends = [t for t in (self.ends_at, self.ended_at) if t is not None]
        return min(ends) if ends else None

    def matches(self, monitor: str, signal: str) -> bool:
        if monitor == SELF_MONITOR or not fnmatchcase(monitor, self.monitor):
            return False
        bare = signal.split(":", 1)[1] if ":" in signal else signal
        return fnmatchcase(signal, self.signal) or fnmatchcase(bare, self.signal)

    def holds_until(self, at: datetime) -> datetime | None:
        """The end of the hold at `at` (the silence's end, or the occurrence's), None when it does not hold."""
        until = self.until
        if at < self.starts_at or (until is not None and at >= until):
            return None
        if self.every is None:
            return until
        occurrence = self.every.occurrence(at)
        if occurrence is None:
            return None
        return occurrence[1] if until is None else min(occurrence[1], until)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "monitor": self.monitor,
            "signal": self.signal,
            "starts_at": format_time(self.starts_at),
            "ends_at": format_time(self.ends_at),
            "author": self.author,
            "reason": self.reason,
            "created_at": format_time(self.created_at),
            "ended_at": format_time(self.ended_at),
        }
        if self.every is not None:
            data["every"] = {"span": self.every.text(), "tz": self.every.zone}
        return data


def split_pattern(text: str) -> tuple[str, str]:
    """`MONITOR[:SIGNAL]` into its monitor and signal patterns."""
    monitor, _, signal = text.strip().partition(":")
    if not monitor:
        raise BadSilence(f"'{text}': name a monitor (or a pattern of them, like 'imagerouter*')")
    return monitor, signal or "*"


def holding(silences: Iterable[Silence], monitor: str, signal: str, at: datetime) -> list[Silence]:
    """The silences that hold for this monitor's signal at `at` (never for QuotaWatch itself).

    The one question both a run and the daily digest ask."""
    return [s for s in silences if s.matches(monitor, signal) and s.holds_until(at) is not None]


def in_force(silences: Iterable[Silence], at: datetime) -> list[Silence]:
    """The silences that hold at `at` (for a listing such as the daily digest's), by end."""
    holds = [(until, s.id, s) for s in silences if (until := s.holds_until(at)) is not None]
    return [s for _, _, s in sorted(holds, key=lambda h: (h[0], h[1]))]


@dataclass(frozen=True)
class Hold:
    """One silence's hold on a signal: which silence, until when."""

    silence: str
    until: datetime


def hold_of(silences: Iterable[Silence], monitor: str, signal: str, at: datetime) -> Hold | None:
    """The longest of the holds on this signal at `at`, None when no silence holds it."""
    holds = [(until, s.id) for s in silences if s.matches(monitor, signal) and (until := s.holds_until(at)) is not None]
    if not holds:
        return None
    until, silence = max(holds)
    return Hold(silence, until)


@dataclass(frozen=True)
class Planned:
    """A decision as the silences shape it: its message held (by a silence), or not."""

    decision: Decision
    held_by: str | None = None


def plan(
    decisions: Sequence[Decision],
    signals: Sequence[Signal],
    stored: dict[str, SignalState],
    silences: Sequence[Silence],
    monitor: str,
    now: datetime,
) -> list[Planned]:
    """The decisions of a reading, with what the silences make of them.

    - A decision whose signal is held is stored with the hold in its state, and its message
      is held.
    - A raised signal held by a silence but without a decision gets its state marked held
      (no message), so that its end can be told; a later, longer hold moves the mark.
    - A raised signal marked held that no silence holds any more gets one message, "still
      <level> after the silence that ended at ...", and its mark is cleared (a reminder due
      then is that message; a rise or an easing is told as itself, and clears the mark).
    """
    planned: list[Planned] = []
    decided = {d.state.key for d in decisions}
    for decision in decisions:
        hold = hold_of(silences, monitor, decision.state.key, now)
        if hold is None:
            before = stored.get(decision.state.key)
            if decision.notice is Notice.REMINDER and before is not None and before.held_until is not None:
                # A reminder due as the silence ends is the one "still ..." message.
                decision = replace(decision, notice=Notice.STILL, silence_ended=_ended(silences, before, now))
            planned.append(Planned(decision))
            continue
        state = replace(decision.state, held_by=hold.silence, held_until=hold.until)
        planned.append(Planned(replace(decision, state=state), hold.silence if decision.notice else None))
    raised = {s.key: s for s in signals}
    for key, state in stored.items():
        signal = raised.get(key)
        if key in decided or signal is None or state.level is Level.OK or signal.level is not state.level:
            continue
        hold = hold_of(silences, monitor, key, now)
        if hold is not None:
            if state.held_until is None or state.held_until < hold.until:
                marked = replace(state, version=state.version + 1, held_by=hold.silence, held_until=hold.until)
                planned.append(Planned(Decision(signal, state.level, marked, state.version, None)))
        elif state.held_until is not None:
            ended = _ended(silences, state, now)
            released = replace(state, version=state.version + 1, notified_at=now, held_by=None, held_until=None)
            planned.append(Planned(Decision(signal, state.level, released, state.version, Notice.STILL, ended)))
    return planned


def _ended(silences: Sequence[Silence], state: SignalState, now: datetime) -> datetime:
    """When the hold on a signal ended: the mark's end, or earlier when it was unmuted."""
    until = state.held_until or now
    for silence in silences:
        if silence.id == state.held_by and silence.ended_at is not None:
            until = min(until, silence.ended_at)
    return min(until, now)


def _day(name: str | None, text: str) -> int | None:
    if name is None:
        return None
    for index, day in enumerate(_DAYS):
        if name == day or name == _FULL_DAYS[index]:
            return index
    raise BadSilence(f"--every '{text}': '{name}' is not a day (mon, tue, wed, thu, fri, sat, sun)")


def _time(text: str, whole: str) -> time:
    hours, minutes = (int(p) for p in text.split(":"))
    if hours > 23 or minutes > 59:
        raise BadSilence(f"--every '{whole}': '{text}' is not a time of day")
    return time(hours, minutes)


def _moment(day: date, at: time, zone: ZoneInfo) -> datetime:
    """A wall-clock time of a zone in UTC (a time that daylight saving skips reads with the
    offset before the jump, so 02:30 on that night is 03:30 of the new time)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
