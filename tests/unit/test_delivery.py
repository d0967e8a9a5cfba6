"""The delivery pipeline: a sent message is not sent again, a refused one is retried later
alone, a monitor's messages reach each channel in order, an unanswered send is resent at
most once, and each duplicate path is where the docs say (docs: delivery guarantees)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from quotawatch.adapters.clock import FixedClock
from quotawatch.adapters.store import UnreadableMessage, queued_from_image
from quotawatch.core.channels import TOPIC, Channel
from quotawatch.core.messages import Message, render_test
from quotawatch.core.record import QueuedMessage
from quotawatch.delivery import FAILING_AFTER, Batch, Pipeline, deliver, deliver_in_batch, deliver_retry
from quotawatch.delivery.notices import unreadable_notice
from quotawatch.ports import ChannelFailed, MessageRefused, Retry
from tests.memory_store import MemoryStore

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
SLACK = Channel("team-slack", "slack", "s")


class Receivers:
    """Every channel type's sender at once: what each channel took, in order."""

    def __init__(self) -> None:
        self.took: list[tuple[str, str]] = []  # (channel, subject)
        self.refusing: dict[str, int] = {}  # channel -> refusals left
        self.silent: dict[str, int] = {}  # channel -> answers lost left (taken, no answer)

    def send(self, channel: Channel, queued: QueuedMessage) -> str:
        if self.refusing.get(channel.name):
            self.refusing[channel.name] -= 1
            raise ChannelFailed("throttled (Throttling)")
        self.took.append((channel.name, queued.message.subject))
        if self.silent.get(channel.name):
            self.silent[channel.name] -= 1
            raise ChannelFailed("did not answer in time", unknown=True)
        return f"receipt-{len(self.took)}"

    def subjects(self, channel: str = "topic") -> list[str]:
        return [subject for name, subject in self.took if name == channel]


class Later:
    def __init__(self) -> None:
        self.scheduled: list[tuple[Retry, int]] = []

    def later(self, retry: Retry, delay_seconds: int) -> None:
        self.scheduled.append((retry, delay_seconds))

    def fire(self, store: MemoryStore, p: Pipeline) -> list[str]:
        """Every retry scheduled so far, in the order they are due (as the scheduler would)."""
        due, self.scheduled = sorted(self.scheduled, key=lambda s: s[1]), []
        return [deliver_retry(queued_of(store, r), r, p) for r, _ in due]


def queued_of(store: MemoryStore, retry: Retry) -> QueuedMessage:
    item = store.message_item(retry.monitor, retry.key)
    assert item is not None
    return queued_from_image(item)


def pipeline(store: MemoryStore, receivers: Receivers, later: Later, *channels: Channel) -> Pipeline:
    senders = {"topic": receivers, "slack": receivers}
    return Pipeline(store, senders, later, FixedClock(T0), (TOPIC, *channels))


def stored(store: MemoryStore, version: int = 1, monitor: str = "acme", severity: str = "warning") -> QueuedMessage:
    message = Message(f"[{severity.upper()}] {monitor} v{version}", "text", "sms", severity, monitor, "p", "alert")
    queued = QueuedMessage.for_decision(monitor, "meter:calls", version, T0, message)
    assert store.queue(queued)
    return queued


def test_a_message_is_sent_once_and_recorded() -> None:
    store, receivers, later = MemoryStore(), Receivers(), Later()
    queued = stored(store)
    p = pipeline(store, receivers, later)
    assert deliver(queued, p) == {"topic": "sent"}
    assert deliver(queued, p) == {"topic": "already sent"}  # the stream redelivers the record
    assert receivers.subjects() == [queued.message.subject]
    assert store.sent == {("acme", queued.key): "receipt-1"}


def test_a_refused_message_is_retried_later_alone_and_goes_out() -> None:
    store, receivers, later = MemoryStore(), Receivers(), Later()
    receivers.refusing["topic"] = 2
    queued = stored(store)
    p = pipeline(store, receivers, later, SLACK)
    assert deliver(queued, p) == {"topic": "failed", "team-slack": "sent"}
    assert later.fire(store, p) == ["failed"]
    assert store.unsent() == [queued]
    assert later.fire(store, p) == ["sent"]
    assert receivers.took == [("team-slack", queued.message.subject), ("topic", queued.message.subject)]


def test_a_message_item_that_expired_counts_as_sent() -> None:
    store, receivers, later = MemoryStore(), Receivers(), Later()
    queued = QueuedMessage.for_decision("acme", "check", 1, T0, render_test(T0, 1))  # never stored, or expired
    assert deliver(queued, pipeline(store, receivers, later)) == {}
    assert receivers.took == []


def test_a_held_message_goes_to_no_channel() -> None:
    """The stream's filter drops it (tests/template, tests/integration); the pipeline too."""
    store, receivers, later = MemoryStore(), Receivers(), Later()
    held = QueuedMessage.for_decision("acme", "meter:calls", 1, T0, render_test(T0, 1), held_by="s-1")
    store.queue(held)
    assert deliver(held, pipeline(store, receivers, later, SLACK)) == {}
    assert receivers.took == []


def test_a_throttled_publish_keeps_the_order_of_the_monitors_later_messages() -> None:
    """The warning's Publish is throttled; the critical of the same monitor in the same batch
    waits behind it; another monitor goes on."""
    store, receivers, later = MemoryStore(), Receivers(), Later()
    receivers.refusing["topic"] = 1
    warning, other, critical = stored(store, 1), stored(store, 1, "other"), stored(store, 2, severity="critical")
    p, batch = pipeline(store, receivers, later), Batch()

    outcomes = [deliver_in_batch(q, p, batch)["topic"] for q in (warning, other, critical)]

    assert outcomes == ["failed", "sent", "waiting"]
    assert receivers.subjects() == [other.message.subject]
    later.scheduled.reverse()  # whichever retry fires first, the critical does not overtake
    for _ in range(3):
        later.fire(store, p)
    assert receivers.subjects() == [other.message.subject, warning.message.subject, critical.message.subject]
    assert store.unsent() == []


def test_an_answer_lost_after_acceptance_is_resent_once_and_no_more() -> None:
    """Duplicate path 2: the channel took it, its answer was lost; one resend (2 copies),
    and a second lost answer is not resent (never 3)."""
    store, receivers, later = MemoryStore(), Receivers(), Later()
    receivers.silent["topic"] = 2
    queued = stored(store)
    p = pipeline(store, receivers, later)
    assert deliver(queued, p) == {"topic": "unknown"}
    assert later.fire(store, p) == ["unknown"]
    assert later.fire(store, p) == []  # given up: nothing scheduled
    assert receivers.subjects() == [queued.message.subject] * 2
    assert store.channels_done("acme", queued.key) == {"topic"}


def test_one_timeout_is_not_failing_and_is_resent_once() -> None:
    store, receivers, later = MemoryStore(), Receivers(), Later()
    receivers.silent["team-slack"] = 1
    queued = stored(store)
    p = pipeline(store, receivers, later, SLACK)
    assert deliver(queued, p) == {"topic": "sent", "team-slack": "unknown"}
    assert store.failures.get("team-slack", 0) == 0
    assert later.fire(store, p) == ["sent"]
    assert receivers.subjects("team-slack") == [queued.message.subject] * 2  # at most the documented two copies


def test_a_channel_failing_three_messages_in_a_row_is_told_once_to_the_others() -> None:
    store, receivers, later = MemoryStore(), Receivers(), Later()
    receivers.refusing["team-slack"] = 99
    p = pipeline(store, receivers, later, SLACK)
    for version in range(1, FAILING_AFTER + 2):
        deliver(stored(store, version, monitor=f"m{version}"), p)
    told = [q.message.subject for q in store.messages.values() if "itself" in q.message.subject]
    assert told == ["[CRITICAL] QuotaWatch itself: channel team-slack failing"]


def test_the_topic_alone_keeps_no_failure_streak() -> None:
    """With nobody else to tell, no write per message to count the topic's failures."""
    store, receivers, later = MemoryStore(), Receivers(), Later()
    receivers.refusing["topic"] = 9
    p = pipeline(store, receivers, later)
    for version in range(1, 5):
        deliver(stored(store, version), p)
    assert store.failures == {}


def test_a_sender_killed_between_sending_and_recording_sends_it_again_the_named_gap() -> None:
    """Duplicate path 1: the channel took it, the function died before the record."""

    class DiesAfterSending(MemoryStore):
        def record_channel(self, monitor: str, key: str, channel: str, at: datetime, receipt: str) -> None:
            raise SystemExit("killed")

    store, receivers, later = DiesAfterSending(), Receivers(), Later()
    queued = stored(store)
    with pytest.raises(SystemExit):
        deliver(queued, pipeline(store, receivers, later))
    recovered = MemoryStore()
    recovered.messages = store.messages  # the same table, read by the retried batch
    deliver(queued, pipeline(recovered, receivers, later))
    assert receivers.subjects() == [queued.message.subject] * 2


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
    store, receivers, later = MemoryStore(), Receivers(), Later()
    with pytest.raises(UnreadableMessage) as caught:
        queued_from_image(image)
    store.queue(QueuedMessage(caught.value.monitor, "", caught.value.key, render_test(T0, 1)))  # the damaged item
    notice = unreadable_notice(caught.value.monitor, caught.value.key)
    deliver(notice, pipeline(store, receivers, later))
    deliver(notice, pipeline(store, receivers, later))
    assert receivers.subjects() == ["[WARNING] QuotaWatch itself: an alert could not be read and was not sent"]
    assert len(notice.message.sms) <= 160


def test_a_message_the_channel_never_takes_is_replaced_by_a_notice_not_retried_forever() -> None:
    class RefusesForGood(Receivers):
        def send(self, channel: Channel, queued: QueuedMessage) -> str:
            if "QuotaWatch itself" not in queued.message.subject:
                raise MessageRefused("SNS refused the message for good (InvalidParameter)")
            return super().send(channel, queued)

    store, receivers, later = MemoryStore(), RefusesForGood(), Later()
    queued = stored(store, severity="critical")
    assert deliver(queued, pipeline(store, receivers, later)) == {"topic": "sent"}
    [(_, subject)] = receivers.took
    assert subject == "[CRITICAL] QuotaWatch itself: an alert about acme was refused"
    assert later.scheduled == []
    assert store.channels_done("acme", queued.key) == {"topic"}  # handled: nothing waits behind it
