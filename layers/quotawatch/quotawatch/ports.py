"""The ports: the narrow interfaces the check depends on, kept apart from any adapter.

Adapters (boto3, requests, the system clock) implement them at the edge; the check and the
unit tests' in-memory fakes depend only on these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from quotawatch.core.alerts import SignalState
from quotawatch.core.messages import Message
from quotawatch.core.record import MonitorRecord, QueuedMessage
from quotawatch.core.silences import Silence
from quotawatch.core.snapshot import Snapshot


class Clock(Protocol):
    def now(self) -> datetime: ...


class KeyStore(Protocol):
    def get(self, field: str) -> str: ...

    def refresh(self, field: str, run: datetime) -> str | None:
        """The key read afresh after the provider rejected the cached one (None: no other)."""
        ...

    def where(self, field: str) -> str:
        """Where a person finds this key, for error messages: never the key itself."""
        ...


class JsonFetcher(Protocol):
    def get_json(self, url: str, headers: dict[str, str]) -> Any: ...


class Store(Protocol):
    """Snapshots, recent readings and alert states: what a check run reads and writes."""

    monitors_per_read: int  # how many monitors `load` reads in one call
    monitors_per_write: int  # how many monitors' snapshot and window `put_snapshots` stores in one call

    def put_snapshots(self, snapshots: list[Snapshot], windows: Mapping[str, bytes]) -> set[str]:
        """Snapshots, and windows as `core.window.encode` wrote them, by monitor; returns the
        monitors whose items could not be stored (the others are)."""
        ...

    def load(self, monitors: Iterable[str], history: bool = ...) -> dict[str, MonitorRecord]:
        """Every monitor's states and window, read by key in a few batched calls."""
        ...

    def recent_snapshots(self, monitor: str, limit: int = ...) -> list[Snapshot]: ...

    def commit(self, monitor: str, state: SignalState, expected_version: int, queued: QueuedMessage | None) -> bool:
        """A signal's new state and its message, together, if the signal is still at
        `expected_version`; False (and nothing written) when another run changed it first."""
        ...

    def queue(self, queued: QueuedMessage) -> bool:
        """A message that changes no state; False when it is already stored."""
        ...


class MessageLog(Protocol):
    """What delivery needs of the store: whether a message went out, and saying that it did."""

    def was_sent(self, monitor: str, key: str) -> bool: ...

    def record_sent(self, monitor: str, key: str, message_id: str, sent_at: datetime) -> None: ...


class MessageRefused(Exception):
    """The channel will never take this message as it is (not a passing failure)."""


class Notifier(Protocol):
    def publish(self, message: Message) -> str:
        """Hand the message to the channel; its id there. Raises MessageRefused when the
        channel will never take it, anything else when it may later."""
        ...


class MessageQueue(Protocol):
    def send(self, bodies: Sequence[str]) -> None:
        """Each body as a message; raises when some could not be sent (the caller's retry sends them again)."""
        ...


class SilenceSource(Protocol):
    def silences(self) -> list[Silence]:
        """Every stored silence, read once a run (core/silences.py says which hold)."""
        ...
