"""SNS: one publish per message, a text per protocol (chat: a custom notification),
attributes for subscription filters."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from quotawatch.core.channels import q_notification
from quotawatch.core.messages import Message
from quotawatch.ports import MessageRefused

# SNS's answers that sending the same message again can never change. Anything else (the
# topic gone, access denied, throttling, an outage) may heal, and is retried.
_PERMANENT = {"InvalidParameter", "InvalidParameterValue", "ParameterValueTooLong"}


class SnsNotifier:
    def __init__(self, client: Any, topic_arn: str) -> None:
        self._client = client
        self.topic_arn = topic_arn

    def publish(self, message: Message) -> str:
        try:
            return self._publish(message)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _PERMANENT:
                raise MessageRefused(f"SNS refused the message for good ({code})") from None
            raise

    def _publish(self, message: Message) -> str:
        response = self._client.publish(
            TopicArn=self.topic_arn,
            Subject=message.subject,
            MessageStructure="json",
            # `https`: what the topic's HTTPS subscribers receive, among them Amazon Q
            # Developer in chat applications (Slack, Teams), which renders its custom
            # notification; email and SMS keep their own text, `default` every other protocol.
            Message=json.dumps(
                {
                    "default": message.email,
                    "email": message.email,
                    "sms": message.sms,
                    "https": json.dumps(q_notification(message), separators=(",", ":")),
                }
            ),
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
