"""The channels' HTTP policy against the fake receivers over real HTTPS on loopback: a short
Retry-After is waited for, a long one handed to the retry path, a 5xx tried once more, a
slow receiver cut off by the timeout; what a receiver says is masked with the URL and key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from quotawatch.core.channels import Channel
from quotawatch.core.messages import Message
from quotawatch.core.record import QueuedMessage
from quotawatch.delivery.senders import FORMATS
from quotawatch.delivery.senders.http import ChannelPolicy, HttpSender
from quotawatch.ports import ChannelFailed
from quotawatch_local.fakes import Reply
from quotawatch_local.fakes.channels import ROUTING_KEY, FakeReceivers
from tests.unit.support import KeysOf

MESSAGE = Message("[WARNING] acme: calls at 82%", "calls at 82%", "sms", "warning", "acme", "cloudlayer", "alert")
QUEUED = QueuedMessage("acme", "meter:calls", "MSG#1", MESSAGE)
SLACK = Channel("team", "slack", "slack-url")


@pytest.fixture
def receivers() -> Iterator[FakeReceivers]:
    with FakeReceivers() as fake:
        yield fake


def sender(receivers: FakeReceivers, slept: list[float]) -> HttpSender:
    keys = KeysOf({"slack-url": receivers.url_for("slack"), "pd": ROUTING_KEY})
    return HttpSender(keys, FORMATS, ChannelPolicy(read_timeout=0.5), sleep=slept.append)


def test_a_short_retry_after_is_waited_for_and_a_5xx_tried_once_more(receivers: FakeReceivers) -> None:
    slept: list[float] = []
    receivers.fail_next("slack", Reply(429, b"rate_limited", {"Retry-After": "1"}))
    assert sender(receivers, slept).send(SLACK, QUEUED) == "HTTP 200"
    receivers.fail_next("slack", Reply(502, b"bad gateway"))
    assert sender(receivers, slept).send(SLACK, QUEUED) == "HTTP 200"
    assert slept == [1.0, 0.5]
    assert [r.status for r in receivers.received] == [429, 200, 502, 200]


def test_a_long_retry_after_goes_to_the_retry_path_with_it(receivers: FakeReceivers) -> None:
    slept: list[float] = []
    receivers.fail_next("slack", Reply(429, b"rate_limited", {"Retry-After": "120"}))
    with pytest.raises(ChannelFailed) as failed:
        sender(receivers, slept).send(SLACK, QUEUED)
    assert failed.value.retry_after == 120.0
    assert slept == []
    assert str(failed.value) == "127.0.0.1 answered 429: rate_limited"


def test_a_slow_receiver_is_cut_off(receivers: FakeReceivers) -> None:
    receivers.fail_next("slack", Reply(200, b"ok", delay=2.0), Reply(200, b"ok", delay=2.0))
    with pytest.raises(ChannelFailed, match="did not answer in time"):
        sender(receivers, []).send(SLACK, QUEUED)


def test_what_a_receiver_echoes_is_masked(receivers: FakeReceivers) -> None:
    url = receivers.url_for("slack")
    receivers.fail_next("slack", Reply(400, f"invalid_token for {url}".encode()))
    with pytest.raises(ChannelFailed) as failed:
        sender(receivers, []).send(SLACK, QUEUED)
    assert "XXXXXXXX" not in str(failed.value)
    assert "services" not in str(failed.value)
    pagerduty = Channel("pager", "pagerduty", "pd", url=receivers.url_for("pagerduty"))
    receivers.fail_next("pagerduty", Reply(400, {"message": f"bad routing key {ROUTING_KEY}"}))
    with pytest.raises(ChannelFailed) as refused:
        sender(receivers, []).send(pagerduty, QUEUED)
    assert ROUTING_KEY[:12] not in str(refused.value)
    assert [r.status for r in receivers.received] == [400, 400]  # another 4xx: not tried again at once
