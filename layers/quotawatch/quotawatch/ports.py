"""The ports: the narrow interfaces the check depends on, kept apart from any adapter.

Adapters (boto3, requests, the system clock) implement them at the edge; the check and the
unit tests' in-memory fakes depend only on these.
"""

from __future__ import annotations

import json
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol, TypeVar, runtime_checkable

from quotawatch.core.alerts import SignalState
from quotawatch.core.channels import Channel
from quotawatch.core.record import MonitorRecord, QueuedMessage
from quotawatch.core.silences import Silence
from quotawatch.core.snapshot import Snapshot

T = TypeVar("T")


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


class HttpRequest(NamedTuple):  # a tuple: built for every monitor of every run
    """One request to a provider: GET, or POST with a body (a declaration's `body:`)."""

    url: str
    headers: dict[str, str]
    method: str = "GET"  # GET or POST
    body: bytes | None = None
    content_type: str | None = None


class HttpAnswer(NamedTuple):
    """A provider's answer: its parsed JSON, its headers and its status.

    The headers are read by name in any case (urllib3's own mapping, as received: lower-casing
    every name of every answer would cost a third of a declared parse, for the few
    declarations that read headers; fetching lower-cases them for those)."""

    body: Any
    headers: Mapping[str, str] = {}  # never mutated
    status: int = 200


class JsonFetcher(Protocol):
    def fetch(self, request: HttpRequest) -> HttpAnswer: ...


@runtime_checkable
class LoopFetcher(JsonFetcher, Protocol):
    """A JsonFetcher whose requests wait on its own event loop (adapters/http.py): a check
    run awaits all its monitors' fetches there."""

    async def fetch_async(self, request: HttpRequest) -> HttpAnswer: ...

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """`work` run to its end on the loop the fetches wait on."""
        ...


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


class ChannelFailed(Exception):
    """A channel did not take a message (or may not have); the text is safe to log and store."""

    def __init__(
        self, message: str, retry_after: float | None = None, passing: bool = True, unknown: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.passing = passing  # False: a 4xx; not tried again at once (later, it may be fixed)
        self.unknown = unknown  # no answer in time: the channel may have taken it
        self.again = False  # True: it failed moments ago in this invocation and was not tried now


class MessageRefused(ChannelFailed):
    """The channel will never take this message as it is (SNS: an invalid parameter)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, passing=False)


class Sender(Protocol):
    def send(self, channel: Channel, queued: QueuedMessage) -> str:
        """Hand the message to the channel; its receipt. Raises ChannelFailed when it did not
        (or may not have) take it."""
        ...


@dataclass(frozen=True)
class Retry:
    """One channel's next attempt at one message: the notify function's event {"channel_retry": ...}."""

    monitor: str
    key: str
    channel: str
    attempt: int  # the attempt this will be (2, 3, ...)
    unknown: int = 0  # attempts so far whose outcome was unknown (no answer in time)
    after: str | None = None  # the key of the monitor's earlier message this one waits behind
    waited: int = 0  # times it found that one still waiting

    def to_event(self) -> str:  # zero fields left out: a retry names its schedule as before
        fields = {k: v for k, v in asdict(self).items() if v or k == "attempt"}
        return json.dumps({"channel_retry": fields}, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> Retry:
        return cls(**{k: v for k, v in event["channel_retry"].items() if k in cls.__dataclass_fields__})


class RetryQueue(Protocol):
    def later(self, retry: Retry, delay_seconds: int) -> None:
        """Deliver `retry` to the notify function in `delay_seconds` (adapters/retry_schedule.py)."""
        ...


class ChannelLog(Store, Protocol):
    """What delivery needs of the store: which channels took a message, saying one did (or
    was given up on), and each channel's failures in a row."""

    def message_item(self, monitor: str, key: str) -> dict[str, Any] | None: ...

    def channels_done(self, monitor: str, key: str) -> set[str] | None:
        """The channels that took this message or were given up on; None when its item is gone."""
        ...

    def record_channel(self, monitor: str, key: str, channel: str, at: datetime, receipt: str) -> None: ...

    def record_channel_failure(self, monitor: str, key: str, channel: str, at: datetime, error: str) -> None: ...

    def give_up_channel(self, monitor: str, key: str, channel: str, at: datetime, reason: str) -> None: ...

    def channel_failed(self, channel: str) -> int: ...

    def channel_worked(self, channel: str) -> int: ...

    def incident_open(self, channel: str, key: str) -> bool: ...

    def incident_opened(self, channel: str, key: str, is_open: bool) -> None: ...


class MessageQueue(Protocol):
    def send(self, bodies: Sequence[str]) -> None:
        """Each body as a message; raises when some could not be sent (the caller's retry sends them again)."""
        ...


class SilenceSource(Protocol):
    def silences(self) -> list[Silence]:
        """Every stored silence, read once a run (core/silences.py says which hold)."""
        ...
