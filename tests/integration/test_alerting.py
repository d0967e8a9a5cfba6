"""Alerting through the real function, topic and table: nothing lost, nothing doubled."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from quotawatch_local.fakes import Reply, always, sequence
from quotawatch_local.fakes.cloudlayer import LIMIT_PLAN, fake_cloudlayer
from quotawatch_local.inbox import Inbox
from quotawatch_local.invoke import FunctionRuntime, Invocation
from quotawatch_local.local_stack import LocalStack
from tests.integration.conftest import (
    CLOUDLAYER_KEY,
    REPO,
    cloudlayer_monitor,
    items,
    put_keys,
    runtime,
    signal_states,
    tick,
    write_monitors,
)

pytestmark = pytest.mark.integration


def reading(calls: int, delay: float = 0.0) -> Reply:
    return Reply(200, {**LIMIT_PLAN, "calls": calls}, delay=delay)


def at(hours: float) -> dict[str, str]:
    """A schedule tick `hours` after 2026-11-24 00:00 UTC."""
    minutes = int(hours * 60)
    day, minute_of_day = divmod(minutes, 24 * 60)
    return {
        "source": "schedule",
        "scheduled_time": f"2026-11-{24 + day:02d}T{minute_of_day // 60:02d}:{minute_of_day % 60:02d}:00Z",
    }


def _invoke_together(first: FunctionRuntime, second: FunctionRuntime, events: list[dict[str, str]]) -> list[Invocation]:
    results: list[Invocation | None] = [None, None]

    def run(index: int, function: FunctionRuntime) -> None:
        results[index] = function.invoke(events[index])

    threads = [threading.Thread(target=run, args=(i, f)) for i, f in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


@pytest.mark.parametrize("same_tick", [True, False], ids=["duplicate-delivery", "two-ticks-racing"])
def test_two_invocations_at_once_send_one_message(
    stack: LocalStack, inbox: Inbox, tmp_path: Path, same_tick: bool
) -> None:
    put_keys(stack, {"cloudlayer-prod": CLOUDLAYER_KEY})
    # A slow provider keeps both runs in flight together until they race on the state.
    with fake_cloudlayer(CLOUDLAYER_KEY, always(reading(820, delay=0.5))) as fake:
        monitors = write_monitors(tmp_path, [cloudlayer_monitor(fake.base_url)])
        with runtime(stack, monitors) as first, runtime(stack, monitors) as second:
            events = [tick(1), tick(1) if same_tick else tick(2)]
            results = _invoke_together(first, second, events)
    assert all(r.error is None for r in results)
    assert sum(r.result["notified"] for r in results) == 1
    assert [d.subject for d in inbox.take()] == ["[WARNING] cloudlayer-prod: calls at 82% of limit"]
    assert len(items(stack, "cloudlayer-prod", "SNAP#")) == (1 if same_tick else 2)
    if same_tick:  # the second delivery of a tick stays quiet, and says why
        assert any("was already checked" in line for r in results for line in r.logs)
    # (Which run wins a race between two ticks depends on timing; the unit tests force the
    # lost conditional write itself.)


def test_a_failed_publish_is_delivered_on_the_next_run(stack: LocalStack, tmp_path: Path) -> None:
    put_keys(stack, {"cloudlayer-prod": CLOUDLAYER_KEY})
    sns = stack.aws.client("sns")
    topic = stack.outputs["AlertTopicArn"]
    with fake_cloudlayer(CLOUDLAYER_KEY, always(reading(820))) as fake:
        monitors = write_monitors(tmp_path, [cloudlayer_monitor(fake.base_url)])
        with runtime(stack, monitors) as function:
            sns.delete_topic(TopicArn=topic)  # the topic is gone: publishing fails
            failed = function.invoke(at(0))
            assert failed.error is None
            assert failed.result["notified"] == 0
            assert any("stays queued for the next run" in line for line in failed.logs)
            state = signal_states(stack, "cloudlayer-prod")["meter:calls"]
            assert state["level"] == "warning"
            assert "[WARNING] cloudlayer-prod: calls at 82% of limit" in state["outbox"]

            recreated = sns.create_topic(Name=topic.rsplit(":", 1)[1])["TopicArn"]
            assert recreated == topic
            inbox = Inbox(stack.aws, topic, "after-repair")
            delivered = function.invoke(at(0.25))
            again = function.invoke(at(0.5))

    assert [d.subject for d in inbox.take()] == ["[WARNING] cloudlayer-prod: calls at 82% of limit"]
    assert delivered.result["notified"] == 1
    assert again.result["notified"] == 0
    state = signal_states(stack, "cloudlayer-prod")["meter:calls"]
    assert "outbox" not in state


def test_a_reminder_after_a_day_and_a_period_reset_each_send_one_message(
    stack: LocalStack, inbox: Inbox, tmp_path: Path
) -> None:
    put_keys(stack, {"cloudlayer-prod": CLOUDLAYER_KEY})
    replies = sequence(*(reading(calls) for calls in (960, 965, 970, 975, 30, 35)))
    with fake_cloudlayer(CLOUDLAYER_KEY, replies) as fake:
        monitors = write_monitors(tmp_path, [cloudlayer_monitor(fake.base_url)])
        with runtime(stack, monitors) as function:
            for hours in (0, 12, 23.75, 24, 24.25, 24.5):
                function.invoke(at(hours))
    assert [(d.subject, d.attributes["kind"]) for d in inbox.take()] == [
        ("[CRITICAL] cloudlayer-prod: calls at 96% of limit", "alert"),
        ("[CRITICAL] Reminder: cloudlayer-prod: calls at 98% of limit", "reminder"),
        ("[OK] cloudlayer-prod: calls reset with the new billing period (3%)", "recovery"),
    ]


def test_a_revoked_key_alerts_at_once_and_its_return_once(stack: LocalStack, inbox: Inbox, tmp_path: Path) -> None:
    put_keys(stack, {"cloudlayer-prod": CLOUDLAYER_KEY})
    unauthorized = Reply(401, {"error": "Unauthorized", "message": "Invalid API key"})
    replies = sequence(reading(500), unauthorized, unauthorized, reading(510))
    with fake_cloudlayer(CLOUDLAYER_KEY, replies) as fake:
        monitors = write_monitors(tmp_path, [cloudlayer_monitor(fake.base_url)])
        with runtime(stack, monitors) as function:
            results = [function.invoke(at(hours)).result for hours in (0, 0.25, 0.5, 0.75)]
    subjects = [(d.subject, d.attributes["severity"]) for d in inbox.take()]
    assert subjects == [
        ("[CRITICAL] Cannot monitor cloudlayer-prod: the key was rejected", "critical"),
        ("[OK] cloudlayer-prod: checks work again", "info"),
    ]
    assert results[1]["monitors"][0]["levels"] == {"check": "critical"}
    # A failed check never touches the meters' state.
    assert list(signal_states(stack, "cloudlayer-prod")) == ["check"]


def test_the_test_alert_goes_through_the_real_topic_to_email_and_sms(
    stack: LocalStack, inbox: Inbox, tmp_path: Path
) -> None:
    sms_filter = {"severity": ["critical"]}
    phone = Inbox(stack.aws, stack.outputs["AlertTopicArn"], "phone", sms_filter)
    monitors = write_monitors(tmp_path, [cloudlayer_monitor("https://api.cloudlayer.io")])
    event = json.loads((REPO / "events/test-alert.json").read_text())
    with runtime(stack, monitors) as function:
        result = function.invoke(event).result
    assert result["status"] == "test_sent"
    [email] = inbox.take()
    assert email.subject == "[TEST] QuotaWatch test alert: your subscriptions work"
    assert email.attributes["kind"] == "test"
    assert "Nothing is wrong; no action is needed." in email.body
    assert [d.subject for d in phone.take()] == [email.subject]
    assert items(stack, "test", "") == []  # nothing stored: not a reading


def test_sms_texts_stay_within_160_characters(stack: LocalStack, tmp_path: Path) -> None:
    long_id = "a-monitor-with-a-very-long-name-for-its-account-" + "x" * 14
    put_keys(stack, {long_id: CLOUDLAYER_KEY})
    replies = sequence(reading(960), Reply(401, {"error": "Unauthorized"}))
    with fake_cloudlayer(CLOUDLAYER_KEY, replies) as fake:
        monitors = write_monitors(tmp_path, [cloudlayer_monitor(fake.base_url, long_id)])
        with runtime(stack, monitors) as function:
            texts = [
                n["sms"] for hours in (0, 0.25) for n in function.invoke(at(hours)).result["monitors"][0]["notified"]
            ]
    assert len(texts) == 2
    assert all(len(text) <= 160 for text in texts), texts
