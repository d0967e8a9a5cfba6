"""Delivery in stages: a sent message is not sent again, a refused one stays unsent, and
the one gap where a duplicate can happen is where the README says."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from quotawatch.adapters.clock import FixedClock
from quotawatch.adapters.store import UnreadableMessage, queued_from_image
from quotawatch.core.messages import Message, render_test
from quotawatch.core.record import QueuedMessage
from quotawatch.delivery import deliver, deliver_unreadable
from quotawatch.ports import MessageRefused
from tests.memory_store import MemoryStore

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


class Channel:
    def __init__(self, refusals: int = 0) -> None:
        self.accepted: list[Message] = []
        self.refusals = refusals

    def publish(self, message: Message) -> str:
        if self.refusals:
            self.refusals -= 1
            raise ConnectionError("SNS unreachable")
        self.accepted.append(message)
        return f"sns-{len(self.accepted)}"


class DiesAfterSending(MemoryStore):
    """The sender dies after the channel accepted the message, before recording it."""

    def record_sent(self, monitor: str, key: str, message_id: str, sent_at: datetime) -> None:
        raise SystemExit("killed")


def stored_message(store: MemoryStore) -> QueuedMessage:
    queued = QueuedMessage.for_decision("acme", "check", 1, T0, render_test(T0, 1))
    assert store.queue(queued)
    return queued


def test_a_message_is_sent_once_and_recorded() -> None:
    store, channel = MemoryStore(), Channel()
    queued = stored_message(store)

    first = deliver(queued, store, channel, FixedClock(T0))
    again = deliver(queued, store, channel, FixedClock(T0))  # the stream redelivers the record

    assert first.message_id == "sns-1"
    assert again.message_id is None
    assert channel.accepted == [queued.message]
    assert store.sent == {("acme", queued.key): "sns-1"}


def test_a_refused_message_stays_unsent_and_goes_out_on_the_retry() -> None:
    store, channel = MemoryStore(), Channel(refusals=2)
    queued = stored_message(store)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            deliver(queued, store, channel, FixedClock(T0))
        assert store.unsent() == [queued]
    assert deliver(queued, store, channel, FixedClock(T0)).message_id == "sns-1"
    assert channel.accepted == [queued.message]


def test_a_sender_killed_between_sending_and_recording_sends_it_again_the_named_gap() -> None:
    store, channel = DiesAfterSending(), Channel()
    queued = stored_message(store)
    with pytest.raises(SystemExit):
        deliver(queued, store, channel, FixedClock(T0))
    recovered = MemoryStore()
    recovered.messages = store.messages  # the same table, read by the retried batch
    deliver(queued, recovered, channel, FixedClock(T0))
    assert channel.accepted == [queued.message, queued.message]


def test_a_message_item_that_expired_counts_as_sent() -> None:
    store, channel = MemoryStore(), Channel()
    queued = QueuedMessage.for_decision("acme", "check", 1, T0, render_test(T0, 1))  # never stored, or expired
    assert deliver(queued, store, channel, FixedClock(T0)).message_id is None
    assert channel.accepted == []


def test_an_item_from_the_stream_reads_back_as_its_message() -> None:
    message = render_test(T0, 2)
    image = {
        "pk": "MON#acme",
        "sk": "MSG#2026-11-24T01:00:00Z#v3#meter:calls#odd",
        "signal": "meter:calls#odd",
        "message": json.dumps(message.to_dict()),
    }
    queued = queued_from_image(image)
    assert queued == QueuedMessage("acme", "meter:calls#odd", image["sk"], message)


@pytest.mark.parametrize(
    "image",
    [{}, {"pk": "MON#acme", "sk": "MSG#x"}, {"pk": "MON#acme", "sk": "MSG#x", "message": "{"}],
    ids=["empty", "no-message", "broken-json"],
)
def test_an_unreadable_item_is_said_once_and_not_retried(image: dict[str, str]) -> None:
    store, channel = MemoryStore(), Channel()
    with pytest.raises(UnreadableMessage) as caught:
        queued_from_image(image)
    damaged = QueuedMessage(caught.value.monitor, "", caught.value.key, render_test(T0, 1))
    store.queue(damaged)  # the damaged item is in the table
    deliver_unreadable(caught.value, store, channel, FixedClock(T0))
    deliver_unreadable(caught.value, store, channel, FixedClock(T0))
    [notice] = channel.accepted
    assert notice.subject == "[WARNING] QuotaWatch itself: an alert could not be read and was not sent"
    assert len(notice.sms) <= 160


class RefusesForGood(Channel):
    def publish(self, message: Message) -> str:
        if "QuotaWatch itself" not in message.subject:
            raise MessageRefused("SNS refused the message for good (InvalidParameter)")
        return super().publish(message)


def test_a_message_the_channel_never_takes_is_replaced_by_a_notice_not_retried_forever() -> None:
    store, channel = MemoryStore(), RefusesForGood()
    queued = stored_message(store)

    delivered = deliver(queued, store, channel, FixedClock(T0))

    [notice] = channel.accepted
    assert notice.subject == "[CRITICAL] QuotaWatch itself: an alert about test was refused"
    assert "InvalidParameter" in notice.email
    assert notice.severity == "critical"  # as the alert it stands for: it reaches the same people
    assert len(notice.sms) <= 160
    assert delivered.message_id == "sns-1"
    assert store.was_sent("acme", queued.key)  # handled: the stream moves on
