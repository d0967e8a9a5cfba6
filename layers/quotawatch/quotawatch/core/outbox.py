"""What is stored about a monitor between runs: each signal's state with the messages about
it not published yet, and its recent readings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from quotawatch.core.alerts import SignalState
from quotawatch.core.messages import Message

# How long a run may hold undelivered messages before another run takes them over. Far
# longer than a publish takes, shorter than the schedule's interval.
LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class StoredState:
    """`outbox` holds messages whose publish has not succeeded yet; `lease` is when a run
    took them on, so that a concurrent run leaves them alone until the lease runs out."""

    state: SignalState
    outbox: tuple[Message, ...] = ()
    lease: datetime | None = None

    def awaits_delivery(self, now: datetime) -> bool:
        return bool(self.outbox) and (self.lease is None or now - self.lease >= LEASE)


@dataclass
class MonitorRecord:
    """What a run reads about one monitor before it decides anything."""

    states: dict[str, StoredState] = field(default_factory=dict)
    # The stored window of recent readings (core/window.py), decoded by the check that needs
    # it so that a run never holds every monitor's readings at once. None when there is none
    # (a monitor's first run): then the history comes from the snapshots.
    window: str | None = None
