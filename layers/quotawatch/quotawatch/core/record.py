"""What is stored about a monitor between runs, and the message items delivery works from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from quotawatch.core.alerts import SignalState
from quotawatch.core.messages import Message
from quotawatch.core.snapshot import Snapshot, format_time

MESSAGE_PREFIX = "MSG#"


@dataclass
class MonitorRecord:
    """What a run reads about one monitor before it decides anything."""

    states: dict[str, SignalState] = field(default_factory=dict)
    # The stored window of recent readings (core/window.py), decoded by the check that needs
    # it so that a run never holds every monitor's readings at once. None when there is none
    # (a monitor's first run): then the history comes from the snapshots.
    window: str | bytes | None = None  # bytes since format 2; a str is format 1


@dataclass(frozen=True)
class QueuedMessage:
    """A message decided by a run and stored for delivery, under its own key.

    The key is unique per decision (the signal's new version is in it), so storing the same
    decision twice is refused, and delivery can record "sent" against it.
    """

    monitor: str
    signal: str
    key: str
    message: Message
    held_by: str | None = None  # the silence that holds it: stored, never delivered (core/silences.py)

    @classmethod
    def for_decision(
        cls, monitor: str, signal: str, version: int, at: datetime, message: Message, held_by: str | None = None
    ) -> QueuedMessage:
        # The signal goes last: a meter's name may hold any character, "#" included.
        return cls(monitor, signal, f"{MESSAGE_PREFIX}{format_time(at)}#v{version}#{signal}", message, held_by)


@dataclass(frozen=True)
class StoredMonitor:
    """What a person's look at one monitor reads (`quotawatch status`): its alert states, its
    recent readings (window form), and in full its newest snapshot and, when that one
    failed, the newest that worked (units, conditions and error messages are only there)."""

    states: dict[str, SignalState]
    window: list[Snapshot]  # newest first, trimmed as core/window.py keeps them
    latest: Snapshot | None = None
    last_good: Snapshot | None = None


@dataclass(frozen=True)
class SentMessage:
    """A message item as the history shows it: what was decided when, and when it went out."""

    signal: str
    decided_at: datetime
    message: Message
    sent_at: datetime | None  # None: not delivered (yet)
    held_by: str | None = None  # a silence held it: never delivered
