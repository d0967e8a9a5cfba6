"""One delivery pipeline for every channel, the SNS topic (`topic`) included, in stages:
held? already sent to this channel? waiting behind the monitor's earlier message? send;
record at once, or schedule this channel's retry alone. A timeout is "unknown" (maybe
taken): not counted toward "channel failing", resent once at most. docs/channels.md
(Delivery guarantees) states the promise and names each duplicate path with its test.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from quotawatch import selfwatch
from quotawatch.core.channels import TOPIC, Channel, dedup_key, opens_incident, routes
from quotawatch.core.record import QueuedMessage
from quotawatch.delivery.notices import refused_notice
from quotawatch.ports import ChannelFailed, ChannelLog, Clock, MessageRefused, Retry, RetryQueue, Sender

log = logging.getLogger("quotawatch.delivery")

FAILING_AFTER = 3  # messages in a row a channel did not take before "channel X failing"
MAX_ATTEMPTS = 10  # a message's attempts on one channel: about two hours with the delays below
_DELAY_CAP = 900  # the retries' spacing at most: 15 minutes
_RETRY_AFTER_CAP = 3600  # a channel's Retry-After is honoured up to an hour
NOT_TAKEN = ("failed", "unknown", "waiting")  # what leaves a monitor's later messages waiting


@dataclass(frozen=True)
class Pipeline:
    store: ChannelLog
    senders: Mapping[str, Sender]  # by channel type
    retries: RetryQueue
    clock: Clock
    channels: Sequence[Channel] = (TOPIC,)  # the topic, then monitors.yaml's channels


Batch = dict[str, dict[str, str]]  # a stream batch's progress: monitor -> channel -> its last key not taken


def retry_delay(attempt: int, retry_after: float | None) -> int:
    """Seconds before `attempt` (2, 3, ...): 1, 2, 4, 8 minutes, then every 15; never sooner
    than the channel's Retry-After (up to an hour)."""
    delay: int = min(60 * 2 ** (attempt - 2), _DELAY_CAP)
    if retry_after is not None:
        delay = max(delay, min(math.ceil(retry_after), _RETRY_AFTER_CAP))
    return delay


def deliver_in_batch(queued: QueuedMessage, p: Pipeline, batch: Batch) -> dict[str, str]:
    """`deliver` for one record of a stream batch: a channel that did not take a monitor's
    message gets that monitor's later messages of the batch only after it."""
    waiting = batch.setdefault(queued.monitor, {})
    outcome = deliver(queued, p, waiting)
    waiting.update({channel: queued.key for channel, what in outcome.items() if what in NOT_TAKEN})
    return outcome


def deliver(
    queued: QueuedMessage, p: Pipeline, waiting: Mapping[str, str] | None = None, retry: Retry | None = None
) -> dict[str, str]:
    """Send one message to each channel that routes it and has not taken it (only
    `retry.channel` on a retry); what happened, by channel. Raises only when the store or
    the scheduler fails (the stream then brings the record back)."""
    if queued.held_by is not None:
        return {}
    routed = [
        c for c in p.channels if (retry is None or c.name == retry.channel) and routes(c, queued.message, queued.signal)
    ]
    done = p.store.channels_done(queued.monitor, queued.key) if routed else None
    if done is None:  # nothing routes it, or its item is gone: delivered long ago
        return {}
    outcome: dict[str, str] = {}
    for channel in routed:
        first = retry or Retry(queued.monitor, queued.key, channel.name, 1)  # a retry comes with no `waiting`
        if channel.name in done:
            outcome[channel.name] = "already sent"
        elif waiting and channel.name in waiting:
            outcome[channel.name] = _wait_behind(first, waiting[channel.name], p)
        else:
            outcome[channel.name] = _attempt(queued, channel, p, first)
    return outcome


def deliver_retry(queued: QueuedMessage, retry: Retry, p: Pipeline) -> str:
    """One channel's scheduled attempt at one message; still behind an earlier message of
    the monitor that this channel has not taken, it waits again."""
    if retry.after is not None:
        earlier = p.store.channels_done(retry.monitor, retry.after)
        if earlier is not None and retry.channel not in earlier:
            return _wait_behind(replace(retry, waited=retry.waited + 1), retry.after, p)
    return deliver(queued, p, retry=replace(retry, after=None, waited=0)).get(retry.channel, "not routed")


def _wait_behind(retry: Retry, earlier: str, p: Pipeline) -> str:
    p.retries.later(replace(retry, after=earlier), retry_delay(2 + min(retry.waited, 4), None))
    log.info("waiting behind %s", earlier, extra={"monitor": retry.monitor, "key": retry.key, "channel": retry.channel})
    return "waiting"


def _attempt(queued: QueuedMessage, channel: Channel, p: Pipeline, retry: Retry) -> str:
    incident = dedup_key(queued.monitor, queued.signal) if channel.type == "pagerduty" else None
    opens = opens_incident(queued.message)
    if incident is not None and not opens and not p.store.incident_open(channel.name, incident):
        # A recovery of what this channel never paged about (a warning, below its severity).
        p.store.record_channel(queued.monitor, queued.key, channel.name, p.clock.now(), "no incident open")
        return "nothing to resolve"
    try:
        receipt = _send(queued, channel, p.senders[channel.type])
    except ChannelFailed as exc:
        return _failed(queued, channel, p, retry, exc)
    # A crash here, between the channel's acceptance and this record, sends the message
    # to this channel again on the stream's retry (duplicate path 1 of the docs).
    if incident is not None:  # before the record: a retry after a crash here pages again (PagerDuty dedups)
        p.store.incident_opened(channel.name, incident, opens)
    p.store.record_channel(queued.monitor, queued.key, channel.name, p.clock.now(), receipt)
    log.info("sent (%s)", receipt, extra=_where(retry))
    if _tracks_failures(p) and p.store.channel_worked(channel.name) >= FAILING_AFTER:
        selfwatch.channel_works(channel.name, p.store, p.clock)
    return "sent"


def _send(queued: QueuedMessage, channel: Channel, sender: Sender) -> str:
    try:
        return sender.send(channel, queued)
    except MessageRefused as exc:
        # Retrying would block every message behind it for nothing: say so in its place.
        log.error("%s; sending a notice instead", exc, extra={"monitor": queued.monitor, "key": queued.key})
        notice = replace(queued, message=refused_notice(queued, str(exc)))
        return f"refused ({exc}); a notice instead: {sender.send(channel, notice)}"


def _failed(queued: QueuedMessage, channel: Channel, p: Pipeline, retry: Retry, exc: ChannelFailed) -> str:
    error = str(exc)
    now = p.clock.now()
    p.store.record_channel_failure(queued.monitor, queued.key, channel.name, now, error)
    if exc.unknown and retry.unknown:  # resent once already after no answer: not a third copy
        p.store.give_up_channel(queued.monitor, queued.key, channel.name, now, f"no answer twice ({error})")
        log.error("no answer again (%s); not sent again", error, extra=_where(retry))
    elif retry.attempt >= MAX_ATTEMPTS:
        p.store.give_up_channel(queued.monitor, queued.key, channel.name, now, f"{retry.attempt} attempts ({error})")
        log.error("failed (%s); given up after %d attempts", error, retry.attempt, extra=_where(retry))
    else:
        following = Retry(queued.monitor, queued.key, channel.name, retry.attempt + 1, retry.unknown + exc.unknown)
        delay = retry_delay(following.attempt, exc.retry_after)
        p.retries.later(following, delay)
        log.warning("failed (%s); retrying in %d s", error, delay, extra=_where(retry))
    # An unknown outcome may have been a success, and a message not tried (the channel
    # failed moments ago) says nothing new: neither counts toward "failing".
    if not exc.unknown and not exc.again and _tracks_failures(p):
        failures = p.store.channel_failed(channel.name)
        if failures >= FAILING_AFTER:
            selfwatch.channel_failing(channel.name, channel.type, error, failures, p.store, p.clock)
    return "unknown" if exc.unknown else "failed"


def _tracks_failures(p: Pipeline) -> bool:
    """A failing channel is told to the others: with the topic alone, nobody to tell (and
    no write per message to keep its streak)."""
    return len(p.channels) > 1


def _where(retry: Retry) -> dict[str, str | int]:
    return {"monitor": retry.monitor, "key": retry.key, "channel": retry.channel, "attempt": retry.attempt}
