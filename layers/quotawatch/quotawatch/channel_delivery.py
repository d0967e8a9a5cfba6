"""Delivery to the channels beside the topic, from the same message items, in stages.

For each message the notify function handles, after the topic: the channels that route it
(core/channels.py `routes`), minus those that already took it (`sent#<channel>` on the
message item), each sent to on its own. A channel that takes it is recorded at once (one
conditional update), so a retry resends only to the channels that have not. A channel
that fails does not hold anything up: its failure is recorded on the item
(`failed#<channel>`), one retry of that channel alone is scheduled for later (a one-time
EventBridge schedule, adapters/retry_schedule.py), and the
other channels and the messages behind it go on. After FAILING_AFTER failures in a row a
channel raises one "QuotaWatch itself: channel X failing" alert, which goes to the topic
and the other channels, and clears once the channel takes a message again.
A message a silence holds goes to no channel, exactly as it goes to no topic.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from quotawatch import selfwatch
from quotawatch.adapters.channels import ChannelFailed
from quotawatch.core.channels import Channel, dedup_key, opens_incident, routes
from quotawatch.core.record import QueuedMessage
from quotawatch.ports import Clock, Store

log = logging.getLogger("quotawatch.channels")

FAILING_AFTER = 3  # failures in a row before "channel X failing"
MAX_ATTEMPTS = 10  # a message's attempts on one channel: about two hours with the delays below
_DELAY_CAP = 900  # the retries' spacing at most: 15 minutes
_RETRY_AFTER_CAP = 3600  # a channel's Retry-After is honoured up to an hour


class ChannelLog(Store, Protocol):
    def channels_done(self, monitor: str, key: str) -> set[str] | None: ...

    def record_channel(self, monitor: str, key: str, channel: str, at: datetime, receipt: str) -> None: ...

    def record_channel_failure(self, monitor: str, key: str, channel: str, at: datetime, error: str) -> None: ...

    def channel_failed(self, channel: str) -> int: ...

    def channel_worked(self, channel: str) -> int: ...

    def incident_open(self, channel: str, key: str) -> bool: ...

    def incident_opened(self, channel: str, key: str, is_open: bool) -> None: ...


class Sender(Protocol):
    def send(self, channel: Channel, queued: QueuedMessage) -> str: ...


class RetryQueue(Protocol):
    def later(self, retry: Retry, delay_seconds: int) -> None:
        """Deliver `retry` to the notify function in `delay_seconds` (adapters/retry_schedule.py)."""
        ...


@dataclass(frozen=True)
class Retry:
    """One channel's next attempt at one message: the notify function's event {"channel_retry": ...}."""

    monitor: str
    key: str
    channel: str
    attempt: int  # the attempt this will be (2, 3, ...)

    def to_event(self) -> str:
        return json.dumps({"channel_retry": self.__dict__}, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Retry:
        data = event["channel_retry"]
        return cls(str(data["monitor"]), str(data["key"]), str(data["channel"]), int(data["attempt"]))


def retry_delay(attempt: int, retry_after: float | None) -> int:
    """Seconds before `attempt` (2, 3, ...): 1, 2, 4, 8 minutes, then every 15; never sooner
    than the channel's Retry-After (up to an hour)."""
    delay: int = min(60 * 2 ** (attempt - 2), _DELAY_CAP)
    if retry_after is not None:
        delay = max(delay, min(math.ceil(retry_after), _RETRY_AFTER_CAP))
    return delay


def deliver_to_channels(
    queued: QueuedMessage,
    channels: Sequence[Channel],
    store: ChannelLog,
    sender: Sender,
    retries: RetryQueue,
    clock: Clock,
    only: str | None = None,
    attempt: int = 1,
) -> dict[str, str]:
    """Send one message to each channel that routes it and has not taken it; what happened,
    by channel ("sent", "failed", "already sent"). Raises only when a failure's retry
    cannot be queued (the caller's own retry then comes back here)."""
    if queued.held_by is not None:
        return {}
    routed = [c for c in channels if (only is None or c.name == only) and routes(c, queued.message, queued.signal)]
    if not routed:
        return {}
    done = store.channels_done(queued.monitor, queued.key)
    if done is None:  # the item is gone: it was delivered long ago
        return {}
    outcome: dict[str, str] = {}
    for channel in routed:
        if channel.name in done:
            outcome[channel.name] = "already sent"
            continue
        outcome[channel.name] = _send_one(queued, channel, store, sender, retries, clock, attempt)
    return outcome


def _send_one(
    queued: QueuedMessage,
    channel: Channel,
    store: ChannelLog,
    sender: Sender,
    retries: RetryQueue,
    clock: Clock,
    attempt: int,
) -> str:
    where = {"monitor": queued.monitor, "key": queued.key, "channel": channel.name, "attempt": attempt}
    incident = dedup_key(queued.monitor, queued.signal) if channel.type == "pagerduty" else None
    opens = opens_incident(queued.message)
    if incident is not None and not opens and not store.incident_open(channel.name, incident):
        # A recovery of what this channel never paged about (a warning, below its severity).
        store.record_channel(queued.monitor, queued.key, channel.name, clock.now(), "no incident open")
        return "nothing to resolve"
    try:
        receipt = sender.send(channel, queued)
    except ChannelFailed as exc:
        error = str(exc)
        store.record_channel_failure(queued.monitor, queued.key, channel.name, clock.now(), error)
        if attempt < MAX_ATTEMPTS:
            delay = retry_delay(attempt + 1, exc.retry_after)
            retries.later(Retry(queued.monitor, queued.key, channel.name, attempt + 1), delay)
            log.warning("channel failed (%s); retrying in %d s", error, delay, extra=where)
        else:
            log.error("channel failed (%s); given up after %d attempts", error, attempt, extra=where)
        failures = store.channel_failed(channel.name)
        if failures >= FAILING_AFTER:
            selfwatch.channel_failing(channel.name, channel.type, error, failures, store, clock)
        return "failed"
    # A crash here, between the channel's acceptance and this record, is the one place a
    # message can go out twice to this channel.
    if incident is not None:  # before the record: a retry after a crash here pages again (PagerDuty dedups)
        store.incident_opened(channel.name, incident, opens)
    store.record_channel(queued.monitor, queued.key, channel.name, clock.now(), receipt)
    log.info("sent to channel (%s)", receipt, extra=where)
    if store.channel_worked(channel.name) >= FAILING_AFTER:
        selfwatch.channel_works(channel.name, store, clock)
    return "sent"
