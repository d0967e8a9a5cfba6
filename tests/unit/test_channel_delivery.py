"""Delivery to channels beside the topic, at its edges: a crash between a channel's
acceptance and its record (a duplicate to that channel only), bounded retries, Retry-After
in the delay, the failing-channel alert raised and cleared once each."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from quotawatch.adapters.clock import FixedClock
from quotawatch.core.channels import TOPIC, Channel
from quotawatch.core.messages import Message
from quotawatch.core.record import QueuedMessage
from quotawatch.core.rules import Level
from quotawatch.core.self_messages import SELF_MONITOR
from quotawatch.delivery import FAILING_AFTER, MAX_ATTEMPTS, Pipeline, deliver, retry_delay
from quotawatch.ports import ChannelFailed, Retry
from tests.memory_store import MemoryStore

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
ALERT = Message("[CRITICAL] acme: calls at 97%", "calls at 97%", "sms", "critical", "acme", "cloudlayer", "alert")
SLACK, DISCORD = Channel("team-slack", "slack", "s"), Channel("team-discord", "discord", "d")


class DiesAfterSending(MemoryStore):
    def record_channel(self, monitor: str, key: str, channel: str, at: datetime, receipt: str) -> None:
        raise SystemExit("killed")


class Sender:
    def __init__(self, failing: set[str] | None = None, retry_after: float | None = None) -> None:
        self.sent: list[tuple[str, str]] = []
        self.failing = failing or set()
        self.retry_after = retry_after

    def send(self, channel: Channel, queued: QueuedMessage) -> str:
        if channel.name in self.failing:
            raise ChannelFailed("hooks.example.com answered 500", self.retry_after)
        self.sent.append((channel.name, queued.message.subject))
        return "HTTP 200"


class Later:
    def __init__(self) -> None:
        self.scheduled: list[tuple[Retry, int]] = []

    def later(self, retry: Retry, delay_seconds: int) -> None:
        self.scheduled.append((retry, delay_seconds))


def message(version: int = 1) -> QueuedMessage:
    return QueuedMessage.for_decision("acme", "meter:calls", version, T0, ALERT)


def stored(store: MemoryStore, version: int = 1) -> QueuedMessage:
    store.queue(message(version))
    return message(version)


def deliver_to_channels(
    queued: QueuedMessage,
    channels: list[Channel],
    store: MemoryStore,
    sender: Sender,
    later: Later,
    attempt: int = 1,
) -> dict[str, str]:
    """The pipeline with these channels beside the topic (which always takes it), their outcomes."""
    p = Pipeline(
        store, {"topic": Sender(), "slack": sender, "discord": sender}, later, FixedClock(T0), (TOPIC, *channels)
    )
    retry = Retry(queued.monitor, queued.key, channels[0].name, attempt) if attempt > 1 else None
    outcome = deliver(queued, p, retry=retry)
    outcome.pop("topic", None)
    return outcome


def test_a_crash_between_acceptance_and_record_resends_to_that_channel_only() -> None:
    store, sender, later = DiesAfterSending(), Sender(), Later()
    queued = stored(store)
    store.done[("acme", queued.key)] = {"team-discord": "HTTP 200", "topic": "SNS 1"}  # they had it before
    with pytest.raises(SystemExit):
        deliver_to_channels(queued, [SLACK, DISCORD], store, sender, later)

    healthy = MemoryStore()
    healthy.messages, healthy.done = store.messages, store.done
    deliver_to_channels(queued, [SLACK, DISCORD], healthy, sender, later)

    assert sender.sent == [("team-slack", ALERT.subject)] * 2  # duplicate path 1 of the docs
    assert set(healthy.done[("acme", queued.key)]) == {"team-slack", "team-discord", "topic"}


def test_retries_are_bounded_and_wait_at_least_retry_after() -> None:
    store, later = MemoryStore(), Later()
    sender = Sender(failing={"team-slack"}, retry_after=300)
    queued = stored(store)

    deliver_to_channels(queued, [SLACK], store, sender, later)
    deliver_to_channels(queued, [SLACK], store, sender, later, attempt=MAX_ATTEMPTS)

    assert later.scheduled == [(Retry("acme", queued.key, "team-slack", 2), 300)]  # none after the last
    assert store.channels_done("acme", queued.key) == {"topic", "team-slack"}  # given up
    assert [retry_delay(n, None) for n in range(2, 8)] == [60, 120, 240, 480, 900, 900]
    assert retry_delay(2, 1800.2) == 1801
    assert retry_delay(2, 7200) == 3600  # a Retry-After is honoured up to an hour


def test_the_failing_channel_alert_is_raised_once_and_cleared_once() -> None:
    store, later = MemoryStore(), Later()
    for version in range(1, FAILING_AFTER + 3):
        outcome = deliver_to_channels(
            stored(store, version), [SLACK, DISCORD], store, Sender(failing={"team-slack"}), later
        )
        assert outcome == {"team-slack": "failed", "team-discord": "sent"}
    deliver_to_channels(stored(store, 99), [SLACK], store, Sender(), later)

    said = [q.message.subject for (monitor, _), q in store.messages.items() if monitor == SELF_MONITOR]
    assert said == [
        "[CRITICAL] QuotaWatch itself: channel team-slack failing",
        "[OK] QuotaWatch itself: channel team-slack works again",
    ]
    assert store.state(SELF_MONITOR, "self:channel:team-slack").level is Level.OK


def test_a_held_message_goes_to_no_channel() -> None:
    held = QueuedMessage.for_decision("acme", "meter:calls", 1, T0, ALERT, held_by="s-1")
    sender, store = Sender(), MemoryStore()
    store.queue(held)
    assert deliver_to_channels(held, [SLACK, DISCORD], store, sender, Later()) == {}
    assert sender.sent == []
