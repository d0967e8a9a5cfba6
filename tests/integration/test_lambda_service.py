"""The local Lambda service invokes the stack's functions as Lambda would: the stream mapping
(filter, batches, partial failures, bisect, retries, on-failure record), asynchronous invokes
(retries, destinations) and alarm state changes through the EventBridge rule."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from quotawatch_local.inbox import Inbox
from quotawatch_local.lambda_service import Call, LocalLambda
from quotawatch_local.local_stack import LocalStack
from tests.integration.conftest import REPO, probed, put_message, queue_bodies

pytestmark = pytest.mark.integration


@pytest.fixture
def probe(stack: LocalStack) -> Iterator[LocalLambda]:
    """NotifyFunction and CheckUsageFunction run the probe handler."""
    with probed(stack, "NotifyFunction", "CheckUsageFunction") as service:
        yield service


def _subjects(call: Call) -> list[str]:
    return [json.loads(r["dynamodb"]["NewImage"]["message"]["S"])["subject"] for r in call.event["Records"]]


def _put_other_items(stack: LocalStack) -> None:
    """What else the check writes: a snapshot, a window, a state, and the update that marks a message sent."""
    ddb = stack.aws.client("dynamodb")
    table = stack.outputs["TableName"]
    for sk in ("SNAP#2026-11-24T01:00:00Z", "WINDOW", "STATE"):
        ddb.put_item(TableName=table, Item={"pk": {"S": "MON#cloudlayer-prod"}, "sk": {"S": sk}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "RUN"}, "sk": {"S": "2026-11-24T01:00:00Z"}})


# --- the stream ---------------------------------------------------------------------------


def test_the_stream_delivers_only_new_message_items_in_lambdas_event_shape(
    stack: LocalStack, probe: LocalLambda
) -> None:
    _put_other_items(stack)
    sk = put_message(stack, "cloudlayer-prod", "[CRITICAL] cloudlayer-prod: calls at 96% of limit")
    ddb = stack.aws.client("dynamodb")
    key = {"pk": {"S": "MON#cloudlayer-prod"}, "sk": {"S": sk}}
    # marking it sent is a MODIFY, and its TTL deletion a REMOVE: neither is delivered
    ddb.update_item(
        TableName=stack.outputs["TableName"],
        Key=key,
        UpdateExpression="SET sent_at = :t",
        ExpressionAttributeValues={":t": {"N": "1"}},
    )
    ddb.delete_item(TableName=stack.outputs["TableName"], Key=key)

    calls = probe.pump()

    assert [c.source for c in calls] == ["stream"]
    (call,) = calls
    assert call.function == "NotifyFunction"
    assert call.result == {"batchItemFailures": []}
    records = call.event["Records"]
    assert [r["dynamodb"]["Keys"]["sk"]["S"] for r in records] == [sk]
    record = records[0]
    mapping = probe.mappings[0]
    assert set(record) == {
        "eventID",
        "eventName",
        "eventVersion",
        "eventSource",
        "awsRegion",
        "dynamodb",
        "eventSourceARN",
    }
    assert record["eventName"] == "INSERT"
    assert record["eventSource"] == "aws:dynamodb"
    assert record["awsRegion"] == "us-east-1"
    assert record["eventSourceARN"] == mapping.stream_arn
    assert re.fullmatch(r"arn:aws:dynamodb:us-east-1:\d{12}:table/.+/stream/.+", mapping.stream_arn)
    dynamodb = record["dynamodb"]
    assert set(dynamodb) == {
        "ApproximateCreationDateTime",
        "Keys",
        "NewImage",
        "SequenceNumber",
        "SizeBytes",
        "StreamViewType",
    }
    assert isinstance(dynamodb["ApproximateCreationDateTime"], float)
    assert dynamodb["StreamViewType"] == "NEW_IMAGE"
    assert dynamodb["Keys"] == key
    assert json.loads(dynamodb["NewImage"]["message"]["S"])["severity"] == "critical"
    assert isinstance(dynamodb["SizeBytes"], int)
    json.dumps(call.event)  # what Lambda sends is JSON

    assert probe.pump() == []  # done records are not sent again
    put_message(stack, "cloudlayer-prod", "second", version=2)
    assert [_subjects(c) for c in probe.pump()] == [["second"]]


def test_records_are_batched_by_the_mappings_batch_size(stack: LocalStack, probe: LocalLambda) -> None:
    assert probe.mappings[0].batch_size == 10  # from the deployed mapping
    for n in range(23):
        put_message(stack, "cloudlayer-prod", f"m{n}", version=n)
    calls = probe.pump()
    assert [len(c.event["Records"]) for c in calls] == [10, 10, 3]
    assert [s for c in calls for s in _subjects(c)] == [f"m{n}" for n in range(23)]


def test_a_partial_batch_failure_retries_from_the_first_failed_record(stack: LocalStack, probe: LocalLambda) -> None:
    for n, behaviour in enumerate(["ok", "ok", "fail", "ok"]):
        put_message(stack, "cloudlayer-prod", f"m{n}-{behaviour}", version=n, probe=behaviour)
    probe.mappings[0].max_retries = 2
    calls = probe.pump()
    # the records before the failed one are done; it and those after it are retried
    assert [_subjects(c) for c in calls] == [
        ["m0-ok", "m1-ok", "m2-fail", "m3-ok"],
        ["m2-fail", "m3-ok"],
        ["m2-fail", "m3-ok"],
    ]
    (record,) = queue_bodies(stack, "NotifyFailureQueueUrl")
    info = record["DDBStreamBatchInfo"]
    sequence = calls[-1].event["Records"]
    assert info["startSequenceNumber"] == sequence[0]["dynamodb"]["SequenceNumber"]
    assert info["endSequenceNumber"] == sequence[-1]["dynamodb"]["SequenceNumber"]
    assert info["batchSize"] == 2
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert "functionError" not in record["responseContext"]  # the function answered; it did not crash


def test_a_function_error_bisects_the_batch_until_the_bad_record_is_alone(
    stack: LocalStack, probe: LocalLambda
) -> None:
    for n, behaviour in enumerate(["ok", "ok", "crash", "ok"]):
        put_message(stack, "cloudlayer-prod", f"m{n}-{behaviour}", version=n, probe=behaviour)
    probe.mappings[0].max_retries = 3
    calls = probe.pump()
    batches = [_subjects(c) for c in calls]
    assert batches == [
        ["m0-ok", "m1-ok", "m2-crash", "m3-ok"],  # error: split in two
        ["m0-ok", "m1-ok"],  # fine
        ["m2-crash", "m3-ok"],  # error: split again
        ["m2-crash"],  # error, alone: retried as it is
        ["m2-crash"],
        ["m3-ok"],  # delivered after the bad record is given up on
    ]
    assert [c.error is not None for c in calls] == [True, False, True, True, True, False]
    (record,) = queue_bodies(stack, "NotifyFailureQueueUrl")
    assert record["DDBStreamBatchInfo"]["batchSize"] == 1
    assert (
        record["DDBStreamBatchInfo"]["startSequenceNumber"]
        == calls[3].event["Records"][0]["dynamodb"]["SequenceNumber"]
    )


def test_retries_exhausted_sends_lambdas_record_of_the_batch_to_the_failure_queue(
    stack: LocalStack, probe: LocalLambda
) -> None:
    # The template retries until the record expires (-1); a bounded mapping gives up sooner.
    (mapping,) = probe.mappings
    mapping.max_retries = 5
    put_message(stack, "cloudlayer-prod", "always crashes", probe="crash")
    calls = probe.pump()
    assert len(calls) == 1 + 5  # the first attempt and MaximumRetryAttempts (5) retries
    (record,) = queue_bodies(stack, "NotifyFailureQueueUrl")
    function_arn = probe.function_arn("NotifyFunction")
    assert record["version"] == "1.0"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["timestamp"])
    context = record["requestContext"]
    assert context["functionArn"] == function_arn
    assert context["condition"] == "RetryAttemptsExhausted"
    assert context["approximateInvokeCount"] == 6
    assert re.fullmatch(r"[0-9a-f-]{36}", context["requestId"])
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    info = record["DDBStreamBatchInfo"]
    assert set(info) == {
        "shardId",
        "startSequenceNumber",
        "endSequenceNumber",
        "approximateArrivalOfFirstRecord",
        "approximateArrivalOfLastRecord",
        "batchSize",
        "streamArn",
    }
    assert info["streamArn"] == probe.mappings[0].stream_arn
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", info["approximateArrivalOfFirstRecord"])
    assert probe.pump() == []  # given up on: not sent again


def test_the_background_poller_delivers_without_a_pump(stack: LocalStack, probe: LocalLambda) -> None:
    seen: list[Call] = []
    probe.start(interval=0.1, on_calls=seen.extend)
    put_message(stack, "cloudlayer-prod", "in the background")
    deadline = time.monotonic() + 30
    while not seen and time.monotonic() < deadline:
        time.sleep(0.1)
    probe.stop()
    assert [_subjects(c) for c in seen] == [["in the background"]]


def test_the_notify_function_publishes_what_the_stream_brings(
    stack: LocalStack, local_lambda: LocalLambda, inbox: Inbox
) -> None:
    """With the function's own handler: each message reaches the topic once."""
    put_message(stack, "cloudlayer-prod", "[CRITICAL] cloudlayer-prod: calls at 96% of limit")
    (call,) = local_lambda.pump()
    assert call.error is None, call.invocation.logs
    assert call.result == {"batchItemFailures": []}
    (delivery,) = inbox.take()
    assert delivery.subject == "[CRITICAL] cloudlayer-prod: calls at 96% of limit"
    assert delivery.attributes["severity"] == "critical"
    assert local_lambda.pump() == []  # the update marking it sent is not delivered again
    assert inbox.take() == []


# --- asynchronous invokes -------------------------------------------------------------------


def test_a_failed_check_is_retried_once_then_reaches_the_notify_function(stack: LocalStack, probe: LocalLambda) -> None:
    event = {"source": "schedule", "scheduled_time": "2026-11-24T01:00:00Z", "crash": True}
    outcome = probe.invoke_async("CheckUsageFunction", event)
    assert not outcome.succeeded
    assert len(outcome.attempts) == 2  # the first attempt and MaximumRetryAttempts (1)
    assert outcome.dead_letter is None  # the template gives the check no dead-letter queue
    assert outcome.destination == probe.function_arn("NotifyFunction")
    record = outcome.record
    assert record is not None
    assert set(record) == {
        "version",
        "timestamp",
        "requestContext",
        "requestPayload",
        "responseContext",
        "responsePayload",
    }
    assert record["version"] == "1.0"
    assert record["requestContext"]["functionArn"] == probe.function_arn("CheckUsageFunction") + ":$LATEST"
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["requestPayload"] == event
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    payload = record["responsePayload"]
    assert payload["errorType"] == "RuntimeError"
    assert payload["errorMessage"] == "the probe was told to crash"
    assert payload["stackTrace"]
    assert all(isinstance(line, str) for line in payload["stackTrace"])
    # the destination is invoked asynchronously with the record
    downstream = outcome.downstream
    assert downstream is not None
    assert downstream.function == "NotifyFunction"
    assert downstream.succeeded
    assert downstream.attempts[0].result == {"received": record}
    assert [c.source for c in probe.calls] == ["async", "async", "destination"]


def test_the_check_failed_event_file_is_what_lambda_sends(stack: LocalStack, probe: LocalLambda) -> None:
    outcome = probe.invoke_async("CheckUsageFunction", {"crash": True})
    assert outcome.record is not None
    sample = json.loads((REPO / "events/check-failed.json").read_text())
    # the payload is the event the check was given: a schedule's in the sample, the probe's here
    assert {**_shape(sample), "requestPayload": {}} == {**_shape(outcome.record), "requestPayload": {}}


def test_a_notify_function_that_keeps_failing_leaves_the_record_in_its_failure_queue(
    stack: LocalStack, probe: LocalLambda
) -> None:
    event = {"crash": True, "detail-type": "CloudWatch Alarm State Change"}
    outcome = probe.invoke_async("NotifyFunction", event)
    assert len(outcome.attempts) == 3  # the first attempt and MaximumRetryAttempts (2)
    (record,) = queue_bodies(stack, "NotifyFailureQueueUrl")
    assert record == outcome.record
    assert record["requestPayload"] == event
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3


def test_an_async_invoke_that_succeeds_is_not_retried(stack: LocalStack, probe: LocalLambda) -> None:
    outcome = probe.invoke_async("NotifyFunction", {"hello": 1})
    assert outcome.succeeded
    assert len(outcome.attempts) == 1
    assert outcome.destination is None  # no OnSuccess destination in the template
    assert queue_bodies(stack, "NotifyFailureQueueUrl") == []


# --- alarms -----------------------------------------------------------------------------------


def test_an_alarm_state_change_reaches_the_notify_function_through_the_rule(
    stack: LocalStack, probe: LocalLambda
) -> None:
    (delivery,) = probe.set_alarm_state("HeartbeatAlarm", "ALARM", "no check for 30 minutes")
    assert delivery.rule == stack.resources["NotifyFunctionAlarmStateChange"]
    assert delivery.target == probe.function_arn("NotifyFunction")
    assert delivery.outcome is not None
    assert delivery.outcome.succeeded
    event = delivery.outcome.attempts[0].result["received"]
    alarm_name = stack.resources["HeartbeatAlarm"]
    assert event["detail-type"] == "CloudWatch Alarm State Change"
    assert event["source"] == "aws.cloudwatch"
    assert event["version"] == "0"
    assert event["account"] == "123456789012"
    assert event["region"] == "us-east-1"
    assert event["resources"] == [f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{alarm_name}"]
    detail = event["detail"]
    assert detail["alarmName"] == alarm_name
    assert detail["state"]["value"] == "ALARM"
    assert detail["state"]["reason"] == "no check for 30 minutes"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", detail["state"]["timestamp"])
    assert detail["previousState"]["value"] in ("OK", "INSUFFICIENT_DATA")
    assert detail["configuration"]["description"].startswith("No check has run for 1800 seconds")
    (metric,) = detail["configuration"]["metrics"]
    assert metric["metricStat"]["metric"] == {
        "namespace": "AWS/Lambda",
        "name": "Invocations",
        "dimensions": {"FunctionName": stack.outputs["CheckUsageFunctionName"]},
    }
    assert _shape(json.loads((REPO / "events/alarm-state-change.json").read_text())) == _shape(event)

    # and back to OK: the recovery is delivered too, with the alarm as its previous state
    (back,) = probe.set_alarm_state("HeartbeatAlarm", "OK", "checks run again")
    assert back.event["detail"]["previousState"]["value"] == "ALARM"
    assert back.event["detail"]["state"]["value"] == "OK"


def test_every_alarm_of_the_stack_reaches_the_rule_and_no_other_alarm_does(
    stack: LocalStack, probe: LocalLambda
) -> None:
    for alarm in ("HeartbeatAlarm", "ScheduleDeadLetterAlarm", "NotifyFailureAlarm"):
        assert len(probe.set_alarm_state(alarm, "ALARM", "test")) == 1, alarm
    cloudwatch = stack.aws.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName="someone-elses-alarm",
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    assert probe.set_alarm_state("someone-elses-alarm", "ALARM", "test") == []


def test_the_notify_stream_event_file_is_what_the_poller_sends(stack: LocalStack, probe: LocalLambda) -> None:
    put_message(stack, "cloudlayer-prod", "[CRITICAL] cloudlayer-prod: calls at 96% of limit")
    (call,) = probe.pump()
    sample = json.loads((REPO / "events/notify-stream.json").read_text())
    assert _shape(sample) == _shape(call.event)
    assert set(json.loads(sample["Records"][0]["dynamodb"]["NewImage"]["message"]["S"])) == {
        "subject",
        "email",
        "sms",
        "severity",
        "monitor",
        "provider",
        "kind",
    }


def _shape(value: Any) -> Any:
    """The keys and value types of a JSON document, recursively (lists by their first item)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def test_records_older_than_the_maximum_age_go_to_the_failure_queue_unsent(
    stack: LocalStack, probe: LocalLambda
) -> None:
    put_message(stack, "cloudlayer-prod", "too old")
    time.sleep(1.1)  # creation times have whole seconds
    probe.mappings[0].max_record_age = 0
    assert probe.pump() == []
    (record,) = queue_bodies(stack, "NotifyFailureQueueUrl")
    assert record["requestContext"]["condition"] == "RecordAgeExceeded"
    assert record["DDBStreamBatchInfo"]["batchSize"] == 1


def test_with_unbounded_retries_a_failing_batch_holds_its_shard_until_it_succeeds(
    stack: LocalStack, probe: LocalLambda
) -> None:
    probe.mappings[0].max_retries = -1
    put_message(stack, "cloudlayer-prod", "before", version=1)
    put_message(stack, "cloudlayer-prod", "stuck", version=2, probe="crash")
    probe.mappings[0].bisect = False
    first = probe.pump()
    assert [_subjects(c) for c in first] == [["before", "stuck"], ["before", "stuck"]]
    again = probe.pump()  # resumes at the failed batch, not after it
    assert [_subjects(c) for c in again] == [["before", "stuck"], ["before", "stuck"]]
    assert queue_bodies(stack, "NotifyFailureQueueUrl") == []


def test_a_stack_loaded_from_ups_state_file_has_the_same_lambda_service(stack: LocalStack, tmp_path: Path) -> None:
    state = tmp_path / "stack.json"
    stack.save(state)
    with probed(LocalStack.load(state), "NotifyFunction") as service:
        assert [m.function for m in service.mappings] == ["NotifyFunction"]
        (delivery,) = service.set_alarm_state("NotifyFailureAlarm", "ALARM", "a record waits")
        assert delivery.outcome is not None
        assert delivery.outcome.succeeded


# --- the SQS poller -----------------------------------------------------------------------


def test_the_sqs_poller_leaves_what_failed_as_lambda_does() -> None:
    from quotawatch_local.invoke import Invocation
    from quotawatch_local.sqs_poller import QueueMapping, _failed_ids, lambda_sqs_record

    mapping = QueueMapping("u", "F", "arn:aws:sqs:us-east-1:123456789012:q", "url", 10, True, 2, True)
    messages = [{"MessageId": i, "ReceiptHandle": f"h{i}", "Body": "{}"} for i in ("a", "b", "c")]
    assert _failed_ids(mapping, messages, Invocation({"batchItemFailures": []}, None)) == set()
    assert _failed_ids(mapping, messages, Invocation({"batchItemFailures": [{"itemIdentifier": "b"}]}, None)) == {"b"}
    # a function error, or a reply naming no message of the batch, fails the whole batch
    assert _failed_ids(mapping, messages, Invocation(None, {"errorType": "E"})) == {"a", "b", "c"}
    assert _failed_ids(mapping, messages, Invocation({"batchItemFailures": [{"itemIdentifier": "x"}]}, None)) == {
        "a",
        "b",
        "c",
    }
    mapping.report_item_failures = False  # without ReportBatchItemFailures the reply is not read
    assert _failed_ids(mapping, messages, Invocation({"batchItemFailures": [{"itemIdentifier": "b"}]}, None)) == set()
    record = lambda_sqs_record({**messages[0], "Attributes": {"ApproximateReceiveCount": "1"}}, mapping.queue_arn, "r")
    assert record["eventSource"] == "aws:sqs"
    assert record["md5OfBody"] == "99914b932bd37a50b983c5e7c90ae93b"  # md5 of "{}"
    assert record["attributes"] == {"ApproximateReceiveCount": "1"}
