"""What is stored about a monitor between runs, and the message items delivery works from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from quotawatch.core.alerts import SignalState
from quotawatch.core.messages import Message
from quotawatch.core.snapshot import format_time

MESSAGE_PREFIX = "MSG#"


@dataclass
class MonitorRecord:
    """What a run reads about one monitor before it decides anything."""

    states: dict[str, SignalState] = field(default_factory=dict)
    # The stored window of recent readings (core/window.py), decoded by the check that needs
    # it so that a run never holds every monitor's readings at once. None when there is none
    # (a monitor's first run): then the history comes from the snapshots.
    window: str | None = None


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

    @classmethod
    def for_decision(cls, monitor: str, signal: str, version: int, at: datetime, message: Message) -> QueuedMessage:
        # The signal goes last: a meter's name may hold any character, "#" included.
        return cls(monitor, signal, f"{MESSAGE_PREFIX}{format_time(at)}#v{version}#{signal}", message)
