"""The SNS topic, the built-in channel `topic`: one Publish per message, a text per
protocol (chat: Amazon Q's custom notification), attributes for subscription filters. The
client never retries a Publish (a lost answer would mean a second copy): no answer is
"unknown", resent once, later (docs/channels.md, Delivery guarantees).
"""

from __future__ import annotations

import json
from typing import Any

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
)

from quotawatch.core.channels import Channel, q_notification
from quotawatch.core.record import QueuedMessage
from quotawatch.ports import ChannelFailed, MessageRefused

# SNS's answers that sending the same message again can never change. Anything else (the
# topic gone, access denied, throttling, an outage) may heal, and is retried later.
_PERMANENT = {"InvalidParameter", "InvalidParameterValue", "ParameterValueTooLong"}
NO_SDK_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=10, connect_timeout=3)


def publish_client(session: Any) -> Any:
    """An SNS client (boto3 or a Session) that tries each Publish once."""
    return session.client("sns", config=NO_SDK_RETRY)


class TopicSender:
    def __init__(self, client: Any, topic_arn: str) -> None:
        self._client = client
        self.topic_arn = topic_arn

    def send(self, channel: Channel, queued: QueuedMessage) -> str:
        try:
            return self._publish(queued)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _PERMANENT:
                raise MessageRefused(f"SNS refused the message for good ({code})") from None
            raise ChannelFailed(f"SNS did not take the message ({code or 'error'})") from None
        except (EndpointConnectionError, ConnectTimeoutError) as exc:  # nothing reached SNS
            raise ChannelFailed(f"cannot reach SNS ({type(exc).__name__})") from None
        except BotoCoreError as exc:  # sent, and no answer: SNS may have taken it
            raise ChannelFailed(f"SNS did not answer ({type(exc).__name__})", unknown=True) from None

    def _publish(self, queued: QueuedMessage) -> str:
        message = queued.message
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
        return f"SNS {response['MessageId']}"
