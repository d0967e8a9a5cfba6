"""Read back what SNS delivered: an SQS queue subscribed to the alert topic."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from quotawatch_local.embedded_aws import ACCOUNT_ID, REGION, EmbeddedAws


@dataclass(frozen=True)
class Delivery:
    subject: str
    body: str
    attributes: dict[str, str]


class Inbox:
    def __init__(self, aws: EmbeddedAws, topic_arn: str, name: str, filter_policy: Any = None) -> None:
        self._sqs = aws.client("sqs")
        self.url = self._sqs.create_queue(QueueName=name)["QueueUrl"]
        attributes = {}
        if filter_policy is not None:
            attributes = {
                "FilterPolicy": filter_policy if isinstance(filter_policy, str) else json.dumps(filter_policy),
                "FilterPolicyScope": "MessageAttributes",
            }
        aws.client("sns").subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}",
            Attributes=attributes,
        )

    def take(self) -> list[Delivery]:
        """Everything delivered since the last call, oldest first."""
        deliveries: list[Delivery] = []
        while True:
            response = self._sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = response.get("Messages", [])
            if not messages:
                return deliveries
            for message in messages:
                envelope = json.loads(message["Body"])
                deliveries.append(
                    Delivery(
                        subject=envelope.get("Subject", ""),
                        body=envelope.get("Message", ""),
                        attributes={k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()},
                    )
                )
                self._sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
