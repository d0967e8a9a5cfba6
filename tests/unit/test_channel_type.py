"""Adding a channel type is one file and one line: the pipeline, its record and its retries
serve it as they serve the others."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from quotawatch.adapters.clock import FixedClock
from quotawatch.core.channels import Channel
from quotawatch.core.messages import Message
from quotawatch.core.record import QueuedMessage
from quotawatch.delivery import Pipeline, deliver
from quotawatch.delivery.senders import FORMATS, senders
from quotawatch.ports import Retry
from quotawatch_local.fakes.channels import FakeReceivers
from tests.memory_store import MemoryStore
from tests.unit.added_channel import plain_chat
from tests.unit.support import KeysOf

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
ALERT = Message("[WARNING] acme: calls at 82%", "calls at 82%", "sms text", "warning", "acme", "cloudlayer", "alert")


class Topic:
    def send(self, channel: Channel, queued: QueuedMessage) -> str:
        return "SNS 1"


class Later:
    def later(self, retry: Retry, delay_seconds: int) -> None:
        raise AssertionError("nothing to retry")


@pytest.fixture
def receivers() -> Iterator[FakeReceivers]:
    with FakeReceivers() as fake:
        yield fake


def test_a_channel_type_added_with_one_file_and_one_line(receivers: FakeReceivers) -> None:
    formats = {**FORMATS, "plain": plain_chat.PlainChat()}  # the one line
    keys = KeysOf({"chat-url": receivers.url_for("discord")})  # Discord takes `content` alone
    store = MemoryStore()
    queued = QueuedMessage.for_decision("acme", "meter:calls", 1, T0, ALERT)
    store.queue(queued)
    phone = Channel("phone", "plain", "chat-url")
    p = Pipeline(store, senders(keys, Topic(), formats), Later(), FixedClock(T0), (phone,))

    assert deliver(queued, p) == {"phone": "sent"}
    assert receivers.accepted("discord") == [{"content": "sms text"}]
    assert store.done[("acme", queued.key)] == {"phone": "HTTP 204"}
