"""SNS: one publish per message, a text per protocol, attributes for subscription filters."""

from __future__ import annotations

import json
from typing import Any

from quotawatch.core.messages import Message


class SnsNotifier:
    def __init__(self, client: Any, topic_arn: str) -> None:
        self._client = client
        self.topic_arn = topic_arn

    def publish(self, message: Message) -> str:
        response = self._client.publish(
            TopicArn=self.topic_arn,
            Subject=message.subject,
            MessageStructure="json",
            Message=json.dumps({"default": message.email, "email": message.email, "sms": message.sms}),
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value}
                for name, value in (
                    ("severity", message.severity),
                    ("provider", message.provider),
                    ("monitor", message.monitor),
                    ("kind", message.kind),
                )
            },
        )
        return str(response["MessageId"])
