"""SQS event source mappings, run the way Lambda's SQS poller runs them.

For each mapping as deployed (its BatchSize, FunctionResponseTypes and ScalingConfig's
MaximumConcurrency): receive batches, invoke the function with Lambda's SQS event shape, at
most MaximumConcurrency invocations at once, each in its own execution environment; delete
what succeeded; leave what failed (the whole batch on a function error, or the records a
ReportBatchItemFailures reply names) to come back after the queue's visibility timeout.

The redrive to a dead-letter queue is not done here: moto's ReceiveMessage implements the
queue's RedrivePolicy (a message received maxReceiveCount times moves to the dead-letter
queue on the next receive), as SQS does.

Unlike Lambda, the poller does not wait for a failed message's visibility timeout when told
to hurry (`hurry`): tests use it to see retries at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from quotawatch_local.invoke import Invocation

Invoke = Callable[[str, dict[str, Any]], Invocation]
DEFAULT_MAXIMUM_CONCURRENCY = 1000  # Lambda's upper bound when a mapping sets none


@dataclass
class QueueMapping:
    """An SQS event source mapping as deployed."""

    uuid: str
    function: str  # logical id
    queue_arn: str
    queue_url: str
    batch_size: int
    report_item_failures: bool
    maximum_concurrency: int
    enabled: bool
    failed: list[str] = field(default_factory=list)  # receipt handles left to come back


def queue_mapping(uuid: str, function: str, config: dict[str, Any], queue_url: str) -> QueueMapping:
    scaling = config.get("ScalingConfig") or {}
    return QueueMapping(
        uuid=uuid,
        function=function,
        queue_arn=config["EventSourceArn"],
        queue_url=queue_url,
        batch_size=int(config.get("BatchSize") or 10),
        report_item_failures="ReportBatchItemFailures" in (config.get("FunctionResponseTypes") or []),
        maximum_concurrency=int(scaling.get("MaximumConcurrency") or DEFAULT_MAXIMUM_CONCURRENCY),
        enabled=config.get("State", "Enabled") == "Enabled",
    )


class SqsPoller:
    def __init__(self, sqs: Any, region: str, invoke: Invoke) -> None:
        self._sqs = sqs
        self._region = region
        self._invoke = invoke

    def pump(self, mapping: QueueMapping) -> None:
        """Deliver every message visible now, and what those invocations send to the queue."""
        with ThreadPoolExecutor(max_workers=mapping.maximum_concurrency, thread_name_prefix="sqs-poller") as pool:
            while True:
                # As Lambda scales out: one batch for each invocation it may run at once.
                batches = []
                for _ in range(mapping.maximum_concurrency):
                    messages = self._receive(mapping)
                    if not messages:
                        break
                    batches.append(messages)
                if not batches:
                    return
                for batch, invocation in zip(batches, pool.map(self._deliver(mapping), batches), strict=True):
                    self._settle(mapping, batch, invocation)

    def hurry(self, mapping: QueueMapping) -> None:
        """Make the failed messages visible again now rather than after the visibility timeout."""
        handles, mapping.failed = mapping.failed, []
        for handle in handles:
            self._sqs.change_message_visibility(QueueUrl=mapping.queue_url, ReceiptHandle=handle, VisibilityTimeout=0)

    def _receive(self, mapping: QueueMapping) -> list[dict[str, Any]]:
        response = self._sqs.receive_message(
            QueueUrl=mapping.queue_url,
            MaxNumberOfMessages=min(mapping.batch_size, 10),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    def _deliver(self, mapping: QueueMapping) -> Callable[[list[dict[str, Any]]], Invocation]:
        def deliver(messages: list[dict[str, Any]]) -> Invocation:
            records = [lambda_sqs_record(m, mapping.queue_arn, self._region) for m in messages]
            return self._invoke(mapping.function, {"Records": records})

        return deliver

    def _settle(self, mapping: QueueMapping, messages: list[dict[str, Any]], invocation: Invocation) -> None:
        failed = _failed_ids(mapping, messages, invocation)
        for message in messages:
            if message["MessageId"] in failed:
                mapping.failed.append(message["ReceiptHandle"])
            else:
                self._sqs.delete_message(QueueUrl=mapping.queue_url, ReceiptHandle=message["ReceiptHandle"])


def _failed_ids(mapping: QueueMapping, messages: list[dict[str, Any]], invocation: Invocation) -> set[str]:
    """The messages to leave in the queue. As Lambda: a function error fails the whole batch,
    and so does a batchItemFailures entry that names no message of the batch."""
    ids = {m["MessageId"] for m in messages}
    if invocation.error is not None:
        return ids
    result = invocation.result
    if not mapping.report_item_failures or not isinstance(result, dict):
        return set()
    failures = result.get("batchItemFailures") or []
    named = {f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures}
    return ids if not named <= ids else {str(i) for i in named}


def lambda_sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """An SQS message (as ReceiveMessage returns it) in the shape Lambda sends it to a function."""
    body = message["Body"]
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": body,
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": value.get("StringListValues", []),
                "binaryListValues": value.get("BinaryListValues", []),
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
