"""The ports: the narrow interfaces the check depends on, kept apart from any adapter.

Adapters (boto3, requests, the system clock) implement them at the edge; the check and the
unit tests' in-memory fakes depend only on these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from quotawatch.core.messages import Message
from quotawatch.core.outbox import MonitorRecord, StoredState
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
    monitors_per_read: int  # how many monitors `load` reads in one call
    monitors_per_write: int  # how many monitors' snapshot and window `put_snapshots` stores in one call

    def claim_run(self, tick: datetime) -> bool: ...

    def put_snapshots(self, snapshots: list[Snapshot], windows: Mapping[str, str]) -> None:
        """Snapshots, and windows as `core.window.encode` wrote them, by monitor."""
        ...

    def load(self, monitors: Iterable[str], history: bool = ...) -> dict[str, MonitorRecord]:
        """Every monitor's states and window, read by key in a few batched calls."""
        ...

    def recent_snapshots(self, monitor: str, limit: int = ...) -> list[Snapshot]: ...

    def write_state(self, monitor: str, stored: StoredState, expected_version: int) -> bool: ...


class Notifier(Protocol):
    def publish(self, message: Message) -> str: ...
