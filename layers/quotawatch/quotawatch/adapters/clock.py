"""The clock, injected so that rules and tests control time."""

from __future__ import annotations

from datetime import UTC, datetime

from quotawatch.core.snapshot import parse_time
from quotawatch.ports import Clock


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC).replace(microsecond=0)


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, value: datetime) -> None:
        self._now = value


def clock_for_event(event: dict[str, object] | None) -> Clock:
    """The time a run speaks for: the schedule's tick when the scheduler sent one.

    EventBridge Scheduler passes `<aws.scheduler.scheduled-time>`; using it makes a
    duplicate delivery of the same tick claim the same tick (and do nothing), and lets a
    replayed event speak for its own time. A manual invoke without it uses the real time.
    """
    value = (event or {}).get("scheduled_time")
    if isinstance(value, str) and value:
        try:
            return FixedClock(parse_time(value).replace(microsecond=0))
        except ValueError:
            return SystemClock()
    return SystemClock()
