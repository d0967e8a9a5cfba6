"""Alerting through the real functions, stream, topic and table, and its edges: each change is
decided once, its message delivered at least once, and twice only in the one named gap."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from quotawatch_local.aws_counter import AwsCallCounter, Refusal
from quotawatch_local.fakes import Reply, always, sequence
from quotawatch_local.fakes.cloudlayer import LIMIT_PLAN, fake_cloudlayer
from quotawatch_local.inbox import Inbox
from quotawatch_local.invoke import FunctionRuntime, Invocation
from quotawatch_local.lambda_service import Call, LocalLambda
from quotawatch_local.local_stack import LocalStack
from tests.integration.conftest import (
    CLOUDLAYER_KEY,
    REPO,
    Platform,
    cloudlayer_monitor,
    items,
    put_keys,
    queued,
    runtime,
    signal_states,
    tick,
    write_monitors,
)

pytestmark = pytest.mark.integration

WARNING = "[WARNING] cloudlayer-prod: calls at 82% of limit"


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


def messages(stack: LocalStack, monitor: str = "cloudlayer-prod") -> list[dict[str, Any]]:
    return items(stack, monitor, "MSG#")


def _claim_lapses_at(stack: LocalStack) -> float:
    """When the newest in-progress run claim (pk "RUN") lapses, in POSIX seconds."""
    response = stack.aws.client("dynamodb").query(
        TableName=stack.outputs["TableName"],
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "RUN"}},
        ConsistentRead=True,
    )
    claims = [int(i["in_progress_expiration"]["N"]) for i in response["Items"] if "in_progress_expiration" in i]
    assert claims, "the killed attempt left its claim"
    return max(claims) / 1000


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
def test_two_invocations_at_once_decide_one_message(
    stack: LocalStack, inbox: Inbox, tmp_path: Path, same_tick: bool
) -> None:
    put_keys(stack, {"cloudlayer-prod": CLOUDLAYER_KEY})
    # A slow provider keeps both runs in flight together until they race on the state.
    with fake_cloudlayer(CLOUDLAYER_KEY, always(reading(820, delay=0.5))) as fake:
        monitors = write_monitors(tmp_path, [cloudlayer_monitor(fake.base_url)])
        with runtime(stack, monitors) as first, runtime(stack, monitors) as second:
            events = [tick(1), tick(1) if same_tick else tick(2)]
            results = _invoke_together(first, second, events)
        with Platform(stack, monitors) as platform:
            platform.deliver()

    held = [r for r in results if r.error is not None]
    assert all("TickInProgress" in str(r.error) for r in held)  # failed: Lambda retries it later
    assert len(held) <= (1 if same_tick else 0)
    assert sum(len(queued(r)) for r in results if r.error is None) == 1
    assert len(messages(stack)) == 1
    assert [d.subject for d in inbox.take()] == [WARNING]
    assert len(items(stack, "cloudlayer-prod", "SNAP#")) == (1 if same_tick else 2)
    if same_tick:  # the second delivery of a tick does nothing, and says why
        statuses = sorted(r.result["status"] if r.error is None else "held" for r in results)
        assert statuses in (["held", "ok"], ["duplicate", "ok"])  # at once, or just after
        assert len(fake.requests) == 1, "the provider was asked once for the tick"


def test_a_tick_delivered_again_after_it_finished_does_nothing(stack: LocalStack, inbox: Inbox, tmp_path: Path) -> None:
    put_keys(stack, {"cloudlayer-prod": CLOUDLAYER_KEY})
    with fake_cloudlayer(CLOUDLAYER_KEY, sequence(reading(820), reading(990))) as fake:
        monitors = write_monitors(tmp_path, [cloudlayer_monitor(fake.base_url)])
        with Platform(stack, monitors) as platform:
            first = platform.check(tick(1))
            again = platform.check(tick(1))

    assert first.result["status"] == "ok"
    assert again.result == {"status": "duplicate", "checked": 1, "failed": 0, "queued": 1, "monitors": []}
    assert len(fake.requests) == 1  # 99% was never read
    assert [d.subject for d in inbox.take()] == [WARNING]


def test_a_run_killed_after_deciding_has_its_message_delivered_once_and_its_retry_decides_nothing_new(
    stack: LocalStack, inbox: Inbox, tmp_path: Path
) -> None:
    put_keys(stack, {"cloudlayer-prod": CLOUDLAYER_KEY, "slow": CLOUDLAYER_KEY})
    # The function's timeout, as deployed: a killed run's in-progress record lapses with it.
    # Long enough for the early retry's cold start on a loaded machine (8 s was not, at a
    # load of 14 on 2 cores); the wait for the lapse below is idle time, not CPU.
    stack.aws.client("lambda").update_function_configuration(
        FunctionName=stack.function_name("CheckUsageFunction"), Timeout=15
    )
    with (
        fake_cloudlayer(CLOUDLAYER_KEY, always(reading(820))) as fast,
        fake_cloudlayer(CLOUDLAYER_KEY, always(reading(100, delay=3.0))) as slow,
    ):
        monitors = write_monitors(
            tmp_path, [cloudlayer_monitor(fast.base_url), cloudlayer_monitor(slow.base_url, "slow")]
        )
        killed = runtime(stack, monitors).start()
        started = time.monotonic()
        crashed: list[BaseException] = []

        def run() -> None:
            try:
                killed.invoke(tick(1))
            except RuntimeError as exc:  # the container died under it
                crashed.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        while not messages(stack) and time.monotonic() - started < 10:
            time.sleep(0.05)
        killed.kill()  # decided and stored the warning; the slow monitor still in flight
        thread.join(timeout=10)
        assert crashed
        assert items(stack, "slow", "SNAP#") == []  # the run never finished

        with Platform(stack, monitors) as platform:
            early = platform.check(tick(1))  # a retry before the dead attempt's record lapsed
            assert "TickInProgress" in str(early.error), "never a silent success: Lambda retries it later"
            platform.deliver()
            assert [d.subject for d in inbox.take()] == [WARNING]  # delivered, though the run died
            # Lambda retries after the timeout: the dead attempt's claim lapses 15 s after its own
            # start (which a loaded machine may delay well past `started`).
            time.sleep(max(0.0, _claim_lapses_at(stack) + 0.5 - time.time()))
            retry = platform.check(tick(1))

    assert retry.error is None, retry.error
    assert retry.result["status"] == "ok"  # the in-progress record lapsed: it runs again
    assert queued(retry) == []  # the change was decided by the killed run, once
    assert len(messages(stack)) == 1
    assert inbox.take() == []
    assert len(items(stack, "slow", "SNAP#")) == 1


def test_sns_refusing_for_a_while_delays_the_message_and_it_arrives_once(stack: LocalStack, tmp_path: Path) -> None:
    put_keys(stack, {"cloudlayer-prod": CLOUDLAYER_KEY})
    sns = stack.aws.client("sns")
    topic = stack.outputs["AlertTopicArn"]
    with fake_cloudlayer(CLOUDLAYER_KEY, always(reading(820))) as fake:
        monitors = write_monitors(tmp_path, [cloudlayer_monitor(fake.base_url)])
        with Platform(stack, monitors) as platform:
            sns.delete_topic(TopicArn=topic)  # SNS refuses: the topic is gone
            decided = platform.check(at(0))
            assert decided.error is None  # the check never waits on SNS
            assert [q["subject"] for q in queued(decided)] == [WARNING]
            assert platform.deliver() == [], "handled: the stream does not offer it again, a schedule retries it"
            [stored] = messages(stack)
            assert "sent#topic" not in stored
            assert "failed#topic" in stored
            [again] = platform.lambdas.run_schedules()  # a minute later: still refused, nothing given up
            assert again.attempts[-1].result["status"] == "failed"

            assert sns.create_topic(Name=topic.rsplit(":", 1)[1])["TopicArn"] == topic  # SNS is back
            inbox = Inbox(stack.aws, topic, "after-repair")
            [sent] = platform.lambdas.run_schedules()
            assert sent.attempts[-1].result["status"] == "sent"
            platform.check(at(0.25))
            platform.check(at(0.5))
            assert platform.lambdas.run_schedules() == []

    assert [d.subject for d in inbox.take()] == [WARNING]
    [stored] = messages(stack)
    assert stored["sent#topic"]["S"]
    assert int(stored["expires_at"]["N"]) > 0  # a sent message expires
    assert signal_states(stack, "cloudlayer-prod")["meter:calls"]["level"] == "warning"


@contextmanager
def _notify_through_a_proxy(stack: LocalStack) -> Iterator[tuple[LocalLambda, AwsCallCounter]]:
    """The notify function behind the table's stream, its AWS calls through a counting proxy."""
    proxy = AwsCallCounter(stack.aws.endpoint_url).start()
    try:
        with LocalLambda(stack, env_overrides={"NotifyFunction": {"AWS_ENDPOINT_URL": proxy.endpoint_url}}) as lambdas:
            yield lambdas, proxy
    finally:
        proxy.stop()


def _put_message(stack: LocalStack, monitor: str, version: int, subject: str, held_by: str | None = None) -> None:
    message = {"subject": subject, "email": subject, "sms": subject, "severity": "warning", "monitor": monitor}
    item = {
        "pk": {"S": f"MON#{monitor}"},
        "sk": {"S": f"MSG#2026-11-24T0{version}:00:00Z#v{version}#meter:calls"},
        "signal": {"S": "meter:calls"},
        "message": {"S": json.dumps({**message, "provider": "cloudlayer", "kind": "alert"})},
    }
    if held_by:
        item["held_by"] = {"S": held_by}
    stack.aws.client("dynamodb").put_item(TableName=stack.outputs["TableName"], Item=item)


def test_a_throttled_publish_keeps_the_order_of_the_monitors_later_message(stack: LocalStack, inbox: Inbox) -> None:
    """The warning's Publish is throttled; the critical of the same monitor, in the same
    batch, is not sent before it; another monitor goes on."""
    with _notify_through_a_proxy(stack) as (lambdas, proxy):
        proxy.refuse(Refusal("Publish", containing="acme+v1", code="Throttling"))
        _put_message(stack, "acme", 1, "[WARNING] acme v1")
        _put_message(stack, "other", 1, "[WARNING] other v1")
        _put_message(stack, "acme", 2, "[CRITICAL] acme v2")
        assert [c.result for c in lambdas.pump()] == [{"batchItemFailures": []}]
        assert [d.subject for d in inbox.take()] == ["[WARNING] other v1"]

        proxy.refuse()  # SNS takes messages again
        while lambdas.run_schedules():  # the retries, in whatever order they fire
            pass

    assert [d.subject for d in inbox.take()] == ["[WARNING] acme v1", "[CRITICAL] acme v2"]


def test_an_answer_lost_after_sns_took_the_message_makes_two_copies_at_most(stack: LocalStack, inbox: Inbox) -> None:
    """Duplicate path 2 of the docs: SNS took the Publish and its answer was lost. The SDK
    does not publish again blindly; the pipeline resends once, later, and no more."""
    with _notify_through_a_proxy(stack) as (lambdas, proxy):
        proxy.refuse(Refusal("Publish", lose_answer=True))  # every answer lost, the resend's too
        _put_message(stack, "acme", 1, "[WARNING] acme v1")
        assert [c.result for c in lambdas.pump()] == [{"batchItemFailures": []}]
        assert proxy.take()[("sns", "Publish")] == 1  # no retry by the SDK
        [resent] = lambdas.run_schedules()
        assert resent.attempts[-1].result["status"] == "unknown"
        assert lambdas.run_schedules() == []  # given up after the second lost answer

    assert [d.subject for d in inbox.take()] == ["[WARNING] acme v1"] * 2


def test_a_held_message_never_invokes_the_notify_function(stack: LocalStack, inbox: Inbox) -> None:
    with LocalLambda(stack) as lambdas:
        _put_message(stack, "acme", 1, "[WARNING] acme v1", held_by="sil-1")
        assert lambdas.pump() == []  # the stream's filter drops it
    assert inbox.take() == []


def _sequence(call: Any) -> str:
    return str(call.event["Records"][0]["dynamodb"]["SequenceNumber"])


@contextmanager
def _a_warning_delivered(stack: LocalStack, tmp_path: Path) -> Iterator[tuple[Platform, Call]]:
    """A run that decided a warning, and the stream batch that delivered it."""
    put_keys(stack, {"cloudlayer-prod": CLOUDLAYER_KEY})
    with fake_cloudlayer(CLOUDLAYER_KEY, always(reading(820))) as fake:
        monitors = write_monitors(tmp_path, [cloudlayer_monitor(fake.base_url)])
        with Platform(stack, monitors) as platform:
            platform.check(at(0))
            [delivery] = [c for c in platform.lambdas.calls if c.source == "stream"]
            yield platform, delivery


def test_a_redelivered_stream_batch_sends_nothing_twice(stack: LocalStack, inbox: Inbox, tmp_path: Path) -> None:
    with _a_warning_delivered(stack, tmp_path) as (platform, delivery):
        again = platform.lambdas.invoke("NotifyFunction", delivery.event, source="stream")

    assert again.result == {"batchItemFailures": []}
    assert [d.subject for d in inbox.take()] == [WARNING]
    assert any("already sent" in line for line in again.logs)


def test_a_notifier_killed_after_sns_accepted_before_recording_sends_it_twice_the_named_gap(
    stack: LocalStack, inbox: Inbox, tmp_path: Path
) -> None:
    """Duplicate path 1 of the docs. Dying between the two steps is played by undoing the
    record the pipeline wrote after SNS accepted the message."""
    with _a_warning_delivered(stack, tmp_path) as (platform, delivery):
        [stored] = messages(stack)
        stack.aws.client("dynamodb").update_item(
            TableName=stack.outputs["TableName"],
            Key={"pk": stored["pk"], "sk": stored["sk"]},
            UpdateExpression="REMOVE #topic, expires_at",
            ExpressionAttributeNames={"#topic": "sent#topic"},
        )
        platform.lambdas.invoke("NotifyFunction", delivery.event, source="stream")  # Lambda's retry

    assert [d.subject for d in inbox.take()] == [WARNING, WARNING]


def test_a_storage_error_on_one_snapshot_batch_costs_only_those_monitors(stack: LocalStack, tmp_path: Path) -> None:
    ids = [f"acme-{n:02}" for n in range(14)]  # two write batches of up to 12 monitors
    put_keys(stack, dict.fromkeys(ids, CLOUDLAYER_KEY))
    proxy = AwsCallCounter(stack.aws.endpoint_url).start()
    try:
        # DynamoDB refuses every write holding acme-03's items: its batch, then each item.
        proxy.refuse(Refusal("BatchWriteItem", "MON#acme-03"), Refusal("PutItem", "MON#acme-03"))
        with fake_cloudlayer(CLOUDLAYER_KEY, always(reading(100))) as fake:
            monitors = write_monitors(tmp_path, [cloudlayer_monitor(fake.base_url, m) for m in ids])
            with Platform(stack, monitors, AWS_ENDPOINT_URL=proxy.endpoint_url) as platform:
                result = platform.check(tick(1)).result
    finally:
        proxy.stop()

    outcome = {m["monitor"]: m for m in result["monitors"]}
    assert result["status"] == "partial"
    assert outcome["acme-03"]["error"]["kind"] == "internal"
    assert "could not be stored" in outcome["acme-03"]["error"]["message"]
    assert items(stack, "acme-03", "SNAP#") == []
    for monitor in ids:
        if monitor != "acme-03":
            assert outcome[monitor]["status"] == "ok", monitor
            assert len(items(stack, monitor, "SNAP#")) == 1, monitor


def test_a_run_that_could_store_nothing_fails_and_its_retry_runs_again_with_one_message_per_change(
    stack: LocalStack, inbox: Inbox, tmp_path: Path
) -> None:
    put_keys(stack, {"cloudlayer-prod": CLOUDLAYER_KEY})
    proxy = AwsCallCounter(stack.aws.endpoint_url).start()
    try:
        with fake_cloudlayer(CLOUDLAYER_KEY, always(reading(820))) as fake:
            monitors = write_monitors(tmp_path, [cloudlayer_monitor(fake.base_url)])
            with Platform(stack, monitors, AWS_ENDPOINT_URL=proxy.endpoint_url) as platform:
                proxy.refuse(Refusal("BatchWriteItem", "SNAP#"), Refusal("PutItem", '"SNAP#'))
                failed = platform.check(tick(1))
                proxy.refuse()  # DynamoDB takes writes again: Lambda's retry of the same event
                retried = platform.check(tick(1))
                again = platform.check(tick(1))  # and a late duplicate of the finished tick
    finally:
        proxy.stop()

    assert failed.error is not None
    assert failed.error["errorType"] == "ReadingsNotStored"
    assert retried.result["status"] == "ok"  # the failed run's record was removed: it ran again
    assert again.result["status"] == "duplicate"
    assert len(fake.requests) == 2
    assert len(items(stack, "cloudlayer-prod", "SNAP#")) == 1
    assert [d.subject for d in inbox.take()] == [WARNING]  # decided by the failed run, once


def test_a_reminder_after_a_day_and_a_period_reset_each_send_one_message(
    stack: LocalStack, inbox: Inbox, tmp_path: Path
) -> None:
    put_keys(stack, {"cloudlayer-prod": CLOUDLAYER_KEY})
    replies = sequence(*(reading(calls) for calls in (960, 965, 970, 975, 30, 35)))
    with fake_cloudlayer(CLOUDLAYER_KEY, replies) as fake:
        monitors = write_monitors(tmp_path, [cloudlayer_monitor(fake.base_url)])
        with Platform(stack, monitors) as platform:
            for hours in (0, 12, 23.75, 24, 24.25, 24.5):
                platform.check(at(hours))
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
        with Platform(stack, monitors) as platform:
            results = [platform.check(at(hours)).result for hours in (0, 0.25, 0.5, 0.75)]
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
    with Platform(stack, monitors) as platform:
        result = platform.check(event).result
    assert result["status"] == "test_queued"
    [email] = inbox.take()
    assert email.subject == "[TEST] QuotaWatch test alert: your subscriptions work"
    assert email.attributes["kind"] == "test"
    assert "Nothing is wrong; no action is needed." in email.body
    assert [d.subject for d in phone.take()] == [email.subject]
    assert items(stack, "cloudlayer-prod", "") == []  # nothing stored about the monitors


def test_sms_texts_stay_within_160_characters(stack: LocalStack, tmp_path: Path) -> None:
    long_id = "a-monitor-with-a-very-long-name-for-its-account-" + "x" * 14
    put_keys(stack, {long_id: CLOUDLAYER_KEY})
    replies = sequence(reading(960), Reply(401, {"error": "Unauthorized"}))
    with fake_cloudlayer(CLOUDLAYER_KEY, replies) as fake:
        monitors = write_monitors(tmp_path, [cloudlayer_monitor(fake.base_url, long_id)])
        with Platform(stack, monitors) as platform:
            texts = [q["sms"] for hours in (0, 0.25) for q in queued(platform.check(at(hours)))]
    assert len(texts) == 2
    assert all(len(text) <= 160 for text in texts), texts


def test_the_happy_path_costs_one_read_one_publish_and_one_write_per_message(stack: LocalStack, inbox: Inbox) -> None:
    """The AWS calls the notify function makes for messages the topic takes at once (the
    channel definitions are read once a minute per container): no more than before the
    topic became a channel of the pipeline."""
    with _notify_through_a_proxy(stack) as (lambdas, proxy):
        for n in range(3):
            _put_message(stack, f"m{n}", 1, f"[WARNING] m{n} v1")
        lambdas.pump()
        calls = proxy.take()

    assert calls == {
        ("dynamodb", "GetItem"): 1 + 3,  # the channel definitions, then each message item
        ("sns", "Publish"): 3,
        ("dynamodb", "UpdateItem"): 3,  # sent#topic
    }
    assert len(inbox.take()) == 3
