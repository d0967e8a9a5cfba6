"""An in-memory store with DynamoStore's semantics, for unit tests.

tests/integration/test_store_contract.py runs one suite against this and against
DynamoStore on the embedded AWS, so the two cannot drift apart.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime

from quotawatch.core import window
from quotawatch.core.alerts import SignalState
from quotawatch.core.messages import Message
from quotawatch.core.record import MonitorRecord, QueuedMessage
from quotawatch.core.rules import Level
from quotawatch.core.silences import Silence
from quotawatch.core.snapshot import Snapshot, format_time, parse_time


def _to_the_second(value: datetime | None) -> datetime | None:
    text = format_time(value)
    return None if text is None else parse_time(text)


def _as_stored(state: SignalState) -> SignalState:
    """What a state reads back as from DynamoDB: times to the second."""
    since = _to_the_second(state.since)
    assert since is not None
    return replace(
        state, since=since, notified_at=_to_the_second(state.notified_at), held_until=_to_the_second(state.held_until)
    )


class MemoryStore:
    """Snapshots written per (monitor, second); windows kept as their stored text; a signal's
    state written only if absent (expected version 0) or still at the expected version, in
    one step with its message; a message stored once per key."""

    def __init__(self, monitors_per_read: int = 50, monitors_per_write: int = 12) -> None:
        self.monitors_per_read = monitors_per_read
        self.monitors_per_write = monitors_per_write
        self.snapshots: dict[tuple[str, str], Snapshot] = {}
        self.windows: dict[str, str | bytes] = {}
        self.writes: list[list[str]] = []  # the monitors of each put_snapshots, in order
        self.items: dict[str, dict[str, SignalState]] = {}
        self.messages: dict[tuple[str, str], QueuedMessage] = {}  # in the order stored
        self.sent: dict[tuple[str, str], str] = {}  # (monitor, key) -> the channel's message id
        self.lock = threading.Lock()  # DynamoDB's conditional writes are atomic
        self.refused: list[tuple[str, int]] = []  # (signal, expected version) of refused changes
        self.loads: list[list[str]] = []  # the monitors of each load, in order
        self.failing_writes: set[str] = set()  # monitors whose snapshots the store refuses
        self.stored_silences: list[Silence] = []  # what `silences` returns (a run reads them once)
        self.silence_reads = 0

    def silences(self) -> list[Silence]:
        self.silence_reads += 1
        return list(self.stored_silences)

    def put_snapshots(self, snapshots: list[Snapshot], windows: Mapping[str, bytes]) -> set[str]:
        assert len(snapshots) <= self.monitors_per_write
        failed = {s.monitor for s in snapshots if s.monitor in self.failing_writes or _too_large(s)}
        with self.lock:
            self.writes.append([s.monitor for s in snapshots])
            for snapshot in snapshots:
                if snapshot.monitor not in failed:
                    self.snapshots[(snapshot.monitor, str(format_time(snapshot.checked_at)))] = snapshot
            self.windows.update({m: w for m, w in windows.items() if m not in failed})
        return failed

    def load(self, monitors: Iterable[str], history: bool = True) -> dict[str, MonitorRecord]:
        monitors = list(monitors)
        assert len(monitors) <= self.monitors_per_read
        with self.lock:
            self.loads.append(monitors)
        return {m: MonitorRecord(self.states(m), self.windows.get(m) if history else None) for m in monitors}

    def recent_snapshots(self, monitor: str, limit: int = window.WINDOW_SIZE) -> list[Snapshot]:
        return self.history(monitor)[::-1][:limit]

    def commit(self, monitor: str, state: SignalState, expected_version: int, queued: QueuedMessage | None) -> bool:
        with self.lock:
            current = self.items.get(monitor, {}).get(state.key)
            allowed = (
                current is None
                if expected_version == 0
                else current is not None and current.version == expected_version
            )
            if queued is not None and (queued.monitor, queued.key) in self.messages:
                allowed = False
            if not allowed:
                self.refused.append((state.key, expected_version))
                return False
            self.items.setdefault(monitor, {})[state.key] = _as_stored(state)
            if queued is not None:
                self.messages[(queued.monitor, queued.key)] = _round_trip(queued)
            return True

    def queue(self, queued: QueuedMessage) -> bool:
        with self.lock:
            if (queued.monitor, queued.key) in self.messages:
                return False
            self.messages[(queued.monitor, queued.key)] = _round_trip(queued)
            return True

    def was_sent(self, monitor: str, key: str) -> bool:
        with self.lock:
            return (monitor, key) in self.sent or (monitor, key) not in self.messages

    def record_sent(self, monitor: str, key: str, message_id: str, sent_at: datetime) -> None:
        with self.lock:
            if (monitor, key) in self.messages:
                self.sent[(monitor, key)] = message_id

    # For assertions.

    def unsent(self) -> list[QueuedMessage]:
        with self.lock:
            return [q for k, q in self.messages.items() if k not in self.sent]

    def states(self, monitor: str) -> dict[str, SignalState]:
        with self.lock:
            return dict(self.items.get(monitor, {}))

    def history(self, monitor: str) -> list[Snapshot]:
        """Oldest first."""
        return [s for (m, _), s in sorted(self.snapshots.items()) if m == monitor]

    def state(self, monitor: str, key: str) -> SignalState:
        return self.items[monitor][key]

    def levels(self, monitor: str) -> dict[str, Level]:
        return {key: state.level for key, state in self.items.get(monitor, {}).items()}


def _round_trip(queued: QueuedMessage) -> QueuedMessage:
    """As a message item reads back: its message through JSON."""
    return replace(queued, message=Message.from_dict(json.loads(json.dumps(queued.message.to_dict()))))


def _too_large(snapshot: Snapshot) -> bool:
    """DynamoDB refuses an item over 400 KB."""
    return len(json.dumps(snapshot.to_dict())) > 400_000
