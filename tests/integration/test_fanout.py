"""Fan-out end to end: the scheduled run past FANOUT_ABOVE sends shards to the shard queue,
and CheckShardFunction checks them through the queue's event source mapping, run by the
local Lambda service as Lambda runs it (batches, partial failures, MaximumConcurrency,
the redrive to the dead-letter queue)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from quotawatch_local.fakes import FakeProvider, Reply, always
from quotawatch_local.fakes.cloudlayer import LIMIT_PLAN, fake_cloudlayer
from quotawatch_local.inbox import Inbox
from quotawatch_local.invoke import Invocation
from quotawatch_local.lambda_service import Call, LocalLambda
from quotawatch_local.local_stack import LocalStack
from tests.integration.conftest import CLOUDLAYER_KEY, cloudlayer_monitor, items, put_keys, tick, write_monitors

pytestmark = pytest.mark.integration

AT_82_PERCENT = Reply(200, {**LIMIT_PLAN, "calls": 820})
IDS = [f"mon-{n:02d}" for n in range(12)]


@pytest.fixture
def stack(fanout_stack: LocalStack) -> LocalStack:
    """Every test here runs on the stack deployed with fan-out on."""
    return fanout_stack


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with fake_cloudlayer(CLOUDLAYER_KEY, always(AT_82_PERCENT)) as server:
        yield server


@pytest.fixture
def quiet() -> Iterator[FakeProvider]:
    """No alert, so no message for the notify function: the tests that need none run faster."""
    with fake_cloudlayer(CLOUDLAYER_KEY, always(Reply(200, {**LIMIT_PLAN, "calls": 100}))) as server:
        yield server


def _platform(
    stack: LocalStack, tmp_path: Path, fake: FakeProvider, ids: list[str], check: dict[str, str], shard: dict[str, str]
) -> LocalLambda:
    put_keys(stack, dict.fromkeys(ids, CLOUDLAYER_KEY))
    monitors = write_monitors(tmp_path, [cloudlayer_monitor(fake.base_url, i) for i in ids])
    return LocalLambda(
        stack,
        env_overrides={
            "CheckUsageFunction": {"MONITORS_FILE": str(monitors), **check},
            "CheckShardFunction": {"MONITORS_FILE": str(monitors), **shard},
        },
    )


def _settle(service: LocalLambda, passes: int = 3) -> list[Call]:
    """Pump until the queue and the stream are quiet: shards write messages the stream brings."""
    calls: list[Call] = []
    for _ in range(passes):
        calls += service.pump()
    return calls


def _shard_calls(calls: list[Call]) -> list[Call]:
    return [c for c in calls if c.function == "CheckShardFunction"]


def _snapshot_counts(stack: LocalStack, ids: list[str]) -> dict[str, int]:
    return {i: len(items(stack, i, "SNAP#")) for i in ids}


def _waiting(stack: LocalStack, output: str) -> list[dict[str, Any]]:
    sqs = stack.aws.client("sqs")
    response = sqs.receive_message(QueueUrl=stack.outputs[output], MaxNumberOfMessages=10, VisibilityTimeout=0)
    return list(response.get("Messages", []))


def _logged(invocation: Invocation, message: str) -> list[dict[str, Any]]:
    return [r for r in invocation.log_records() if r.get("message") == message]


def test_a_large_run_is_checked_through_shards_once_each(
    stack: LocalStack, inbox: Inbox, tmp_path: Path, fake: FakeProvider
) -> None:
    with _platform(stack, tmp_path, fake, IDS, {"FANOUT_ABOVE": "5", "SHARD_SIZE": "4"}, {}) as service:
        dispatched = service.invoke("CheckUsageFunction", tick(1))
        calls = _settle(service)
        again = service.invoke("CheckUsageFunction", tick(1))  # the scheduler delivers the tick twice
        later = _settle(service)

    assert dispatched.error is None
    assert dispatched.result["status"] == "dispatched"
    assert (dispatched.result["shards"], dispatched.result["dispatched"]) == (3, 12)
    shards = _shard_calls(calls)
    bodies = [json.loads(c.event["Records"][0]["body"]) for c in shards]
    assert sorted(b["shard"] for b in bodies) == ["0", "1", "2"]
    assert {b["scheduled_time"] for b in bodies} == {tick(1)["scheduled_time"]}
    assert {b["shards"] for b in bodies} == {3}
    assert sorted(m for b in bodies for m in b["monitors"]) == IDS
    assert [c.source for c in shards] == ["sqs"] * 3
    assert all(c.error is None and c.result == {"batchItemFailures": []} for c in shards)
    record = shards[0].event["Records"][0]
    assert record["eventSource"] == "aws:sqs"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"messageId", "receiptHandle", "body", "md5OfBody", "eventSourceARN", "awsRegion"} <= set(record)
    summaries = [r for c in shards for r in _logged(c.invocation, "shard finished")]
    assert sorted((r["checked"], r["unreached"], r["queued"]) for r in summaries) == [(4, 0, 4)] * 3

    assert _snapshot_counts(stack, IDS) == dict.fromkeys(IDS, 1)
    assert len(fake.requests) == 12
    subjects = sorted(d.subject for d in inbox.take())
    assert subjects == sorted(f"[WARNING] {i}: calls at 82% of limit" for i in IDS)
    assert again.result["status"] == "duplicate"
    assert _shard_calls(later) == []
    assert _waiting(stack, "CheckShardQueueUrl") == []


def test_a_shard_delivered_twice_is_checked_once(stack: LocalStack, tmp_path: Path, quiet: FakeProvider) -> None:
    fake = quiet
    with _platform(stack, tmp_path, fake, IDS[:8], {"FANOUT_ABOVE": "5", "SHARD_SIZE": "4"}, {}) as service:
        service.invoke("CheckUsageFunction", tick(1))
        # SQS delivers at least once; a dispatcher retried after a crash mid-send sends again.
        body = _waiting(stack, "CheckShardQueueUrl")[0]["Body"]
        stack.aws.client("sqs").send_message(QueueUrl=stack.outputs["CheckShardQueueUrl"], MessageBody=body)
        calls = _shard_calls(_settle(service))
        # and once more, after the shard was finished
        stack.aws.client("sqs").send_message(QueueUrl=stack.outputs["CheckShardQueueUrl"], MessageBody=body)
        late = _shard_calls(_settle(service))

    assert len(calls) == 3
    # A copy that found the shard in progress fails, so that SQS brings it back: never a
    # silent success (its holder may have been killed).
    held = [c for c in calls if c.result != {"batchItemFailures": []}]
    assert len(held) <= 1
    assert all(_logged(c.invocation, "another worker holds this shard; it comes back later") for c in held)
    assert late
    assert all(c.result == {"batchItemFailures": []} for c in late)
    assert _snapshot_counts(stack, IDS[:8]) == dict.fromkeys(IDS[:8], 1)
    assert len(fake.requests) == 8
    assert all(_logged(c.invocation, "shard already checked; nothing to do") for c in late)
    assert _waiting(stack, "CheckShardQueueUrl") == []


def test_a_worker_near_its_timeout_hands_on_what_it_did_not_reach(stack: LocalStack, tmp_path: Path) -> None:
    ids = IDS[:6]
    # Each check takes 0.5 s, one at a time, and a worker may start checks for 2.5 s only
    # (its timeout is 120 s): no invocation reaches all six; each hands on the rest.
    worker = {"CHECK_CONCURRENCY": "1", "STOP_MARGIN_SECONDS": "117.5"}
    slow = Reply(200, {**LIMIT_PLAN, "calls": 100}, delay=0.5)
    with (
        fake_cloudlayer(CLOUDLAYER_KEY, always(slow)) as fake,
        _platform(stack, tmp_path, fake, ids, {"FANOUT_ABOVE": "1", "SHARD_SIZE": "6"}, worker) as service,
    ):
        service.invoke("CheckUsageFunction", tick(1))
        calls = _shard_calls(_settle(service))

    assert len(calls) >= 2
    assert all(c.result == {"batchItemFailures": []} for c in calls)
    summaries = [r for c in calls for r in _logged(c.invocation, "shard finished")]
    names = [json.loads(c.event["Records"][0]["body"])["shard"] for c in calls]
    assert names == ["0", *(f"0.r{n}" for n in range(1, len(calls)))]
    assert [s.get("continued_as") for s in summaries] == [*names[1:], None]  # None is not logged
    assert sum(s["checked"] for s in summaries) == 6
    assert all(s["checked"] >= 1 for s in summaries)
    assert _snapshot_counts(stack, ids) == dict.fromkeys(ids, 1)
    assert len(fake.requests) == 6


def test_a_shard_that_keeps_failing_lands_in_the_dead_letter_queue_and_people_are_told(
    stack: LocalStack, inbox: Inbox, tmp_path: Path, fake: FakeProvider
) -> None:
    # The worker cannot reach its table: every attempt at the shard fails.
    broken = {"TABLE_NAME": "no-such-table"}
    with _platform(stack, tmp_path, fake, IDS[:3], {"FANOUT_ABOVE": "2", "SHARD_SIZE": "10"}, broken) as service:
        service.invoke("CheckUsageFunction", tick(1))
        calls: list[Call] = []
        for _ in range(4):  # maxReceiveCount is 3: the fourth receive moves it to the dead-letter queue
            calls += _shard_calls(service.pump())
            service.hurry_retries()
        dead = _waiting(stack, "CheckShardDeadLetterQueueUrl")
        service.set_alarm_state("CheckShardDeadLetterAlarm", "ALARM", "Threshold Crossed: 1 datapoint")
        service.pump()
        told = inbox.take()

    assert len(calls) == 3
    assert [c.event["Records"][0]["attributes"]["ApproximateReceiveCount"] for c in calls] == ["1", "2", "3"]
    assert all(len(c.result["batchItemFailures"]) == 1 for c in calls)
    (message,) = dead
    assert json.loads(message["Body"])["monitors"] == IDS[:3]
    assert _waiting(stack, "CheckShardQueueUrl") == []
    [alert] = told
    assert alert.subject.startswith("[CRITICAL] QuotaWatch itself: ")
    assert "shard dead-letter queue" in alert.body


def test_below_the_size_one_invocation_checks_everything_without_the_queue(
    stack: LocalStack, tmp_path: Path, quiet: FakeProvider
) -> None:
    with _platform(stack, tmp_path, quiet, IDS[:5], {"FANOUT_ABOVE": "5", "SHARD_SIZE": "2"}, {}) as service:
        result = service.invoke("CheckUsageFunction", tick(1))
        calls = _settle(service)

    assert result.result["status"] == "ok"
    assert result.result["checked"] == 5
    assert _shard_calls(calls) == []
    attributes = stack.aws.client("sqs").get_queue_attributes(
        QueueUrl=stack.outputs["CheckShardQueueUrl"], AttributeNames=["All"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
    assert _snapshot_counts(stack, IDS[:5]) == dict.fromkeys(IDS[:5], 1)
