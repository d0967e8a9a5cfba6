"""Delivery to channels, in stages, at its edges: a crash between a channel's acceptance and
its record (the one duplicate, to that channel only), bounded retries, Retry-After in the
delay, the failing-channel alert raised and cleared once each."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from quotawatch.adapters.channels import ChannelFailed
from quotawatch.adapters.clock import FixedClock
from quotawatch.channel_delivery import FAILING_AFTER, MAX_ATTEMPTS, Retry, deliver_to_channels, retry_delay
from quotawatch.core.channels import Channel
from quotawatch.core.messages import Message
from quotawatch.core.record import QueuedMessage
from quotawatch.core.rules import Level
from quotawatch.core.self_messages import SELF_MONITOR
from tests.memory_store import MemoryStore

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
ALERT = Message("[CRITICAL] acme: calls at 97%", "calls at 97%", "sms", "critical", "acme", "cloudlayer", "alert")
SLACK, DISCORD = Channel("team-slack", "slack", "s"), Channel("team-discord", "discord", "d")


class ChannelStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.done: dict[tuple[str, str], set[str]] = {}
        self.failures: dict[str, int] = {}
        self.incidents: set[tuple[str, str]] = set()

    def channels_done(self, monitor: str, key: str) -> set[str] | None:
        return set(self.done.get((monitor, key), set()))

    def record_channel(self, monitor: str, key: str, channel: str, at: datetime, receipt: str) -> None:
        self.done.setdefault((monitor, key), set()).add(channel)

    def record_channel_failure(self, monitor: str, key: str, channel: str, at: datetime, error: str) -> None:
        pass

    def channel_failed(self, channel: str) -> int:
        self.failures[channel] = self.failures.get(channel, 0) + 1
        return self.failures[channel]

    def channel_worked(self, channel: str) -> int:
        before, self.failures[channel] = self.failures.get(channel, 0), 0
        return before

    def incident_open(self, channel: str, key: str) -> bool:
        return (channel, key) in self.incidents

    def incident_opened(self, channel: str, key: str, is_open: bool) -> None:
        (self.incidents.add if is_open else self.incidents.discard)((channel, key))


class DiesAfterSending(ChannelStore):
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


def test_a_crash_between_acceptance_and_record_resends_to_that_channel_only() -> None:
    store, sender, later = DiesAfterSending(), Sender(), Later()
    store.done[("acme", message().key)] = {"team-discord"}  # Discord had it before
    with pytest.raises(SystemExit):
        deliver_to_channels(message(), [SLACK, DISCORD], store, sender, later, FixedClock(T0))

    healthy = ChannelStore()
    healthy.done = store.done
    deliver_to_channels(message(), [SLACK, DISCORD], healthy, sender, later, FixedClock(T0))

    assert sender.sent == [("team-slack", ALERT.subject)] * 2  # the one duplicate the README names
    assert healthy.done[("acme", message().key)] == {"team-slack", "team-discord"}


def test_retries_are_bounded_and_wait_at_least_retry_after() -> None:
    store, later = ChannelStore(), Later()
    sender = Sender(failing={"team-slack"}, retry_after=300)

    deliver_to_channels(message(), [SLACK], store, sender, later, FixedClock(T0))
    deliver_to_channels(message(), [SLACK], store, sender, later, FixedClock(T0), attempt=MAX_ATTEMPTS)

    assert later.scheduled == [(Retry("acme", message().key, "team-slack", 2), 300)]  # none after the last
    assert [retry_delay(n, None) for n in range(2, 8)] == [60, 120, 240, 480, 900, 900]
    assert retry_delay(2, 1800.2) == 1801
    assert retry_delay(2, 7200) == 3600  # a Retry-After is honoured up to an hour


def test_the_failing_channel_alert_is_raised_once_and_cleared_once() -> None:
    store, later = ChannelStore(), Later()
    for version in range(1, FAILING_AFTER + 3):
        outcome = deliver_to_channels(
            message(version), [SLACK, DISCORD], store, Sender(failing={"team-slack"}), later, FixedClock(T0)
        )
        assert outcome == {"team-slack": "failed", "team-discord": "sent"}
    deliver_to_channels(message(99), [SLACK], store, Sender(), later, FixedClock(T0))

    said = [q.message.subject for (monitor, _), q in store.messages.items() if monitor == SELF_MONITOR]
    assert said == [
        "[CRITICAL] QuotaWatch itself: channel team-slack failing",
        "[OK] QuotaWatch itself: channel team-slack works again",
    ]
    assert store.state(SELF_MONITOR, "self:channel:team-slack").level is Level.OK


def test_a_held_message_goes_to_no_channel() -> None:
    held = QueuedMessage.for_decision("acme", "meter:calls", 1, T0, ALERT, held_by="s-1")
    sender = Sender()
    assert deliver_to_channels(held, [SLACK, DISCORD], ChannelStore(), sender, Later(), FixedClock(T0)) == {}
    assert sender.sent == []
