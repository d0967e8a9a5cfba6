"""NotifyFunction: delivers stored messages, and turns QuotaWatch's own failures into alerts.

Three kinds of event reach it:
- the table's stream, filtered to inserted message items: each message is sent to the
  alert topic and recorded as sent (quotawatch/delivery.py); a message that cannot be sent
  is reported as a batch item failure, so only it and what follows it is retried;
- the check function's on-failure destination: a run that failed after its retry;
- EventBridge's "CloudWatch Alarm State Change" for QuotaWatch's own alarms.
The last two store a "QuotaWatch itself" state change and its message (quotawatch/
selfwatch.py); the stream then brings that message back here for delivery.
After the topic, each message goes to the channels of monitors.yaml that route it
(quotawatch/channel_delivery.py); a channel that fails is retried alone, later: a one-time
EventBridge schedule invokes this function with {"channel_retry": ...} (a fourth kind of event).
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from quotawatch import selfwatch
from quotawatch.adapters.channels import ChannelSender
from quotawatch.adapters.clock import SystemClock
from quotawatch.adapters.notifier import SnsNotifier
from quotawatch.adapters.retry_schedule import ScheduledRetries
from quotawatch.adapters.secrets import SecretsKeyStore
from quotawatch.adapters.store import DynamoStore, UnreadableMessage, queued_from_image
from quotawatch.channel_delivery import Retry, deliver_to_channels
from quotawatch.core.channels import Channel
from quotawatch.core.record import QueuedMessage
from quotawatch.core.snapshot import parse_time
from quotawatch.delivery import deliver, deliver_unreadable

logger = Logger()
# Every message that failed is reported as a batch item failure, even when all did (SNS
# down): Lambda then retries from the first one, rather than bisecting a healthy batch.
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
_clock = SystemClock()
CHANNELS_MAX_AGE = 60.0  # seconds a warm container keeps the channel definitions it read
_channels_read: list[tuple[float, list[Channel]]] = []


@cache
def _store() -> DynamoStore:
    return DynamoStore(
        boto3.client("dynamodb"), os.environ["TABLE_NAME"], int(os.environ.get("SNAPSHOT_RETENTION_DAYS", "400"))
    )


@cache
def _notifier() -> SnsNotifier:
    return SnsNotifier(boto3.client("sns"), os.environ["ALERT_TOPIC_ARN"])


@cache
def _sender() -> ChannelSender:
    return ChannelSender(SecretsKeyStore(boto3.client("secretsmanager"), os.environ["API_KEYS_SECRET_NAME"]))


_function_arn: list[str] = []  # this function's own ARN, from the invocation's context


@cache
def _retries() -> ScheduledRetries:
    return ScheduledRetries(
        boto3.client("scheduler"),
        _function_arn[0],
        os.environ["CHANNEL_RETRY_ROLE_ARN"],
        os.environ.get("CHANNEL_RETRY_DEAD_LETTER_ARN") or None,
        _clock.now,
    )


def _channels() -> list[Channel]:
    """The channel definitions the check function stored from monitors.yaml, read at most
    once a minute per container."""
    if not os.environ.get("CHANNEL_RETRY_ROLE_ARN"):
        return []
    now = time.monotonic()
    if not _channels_read or now - _channels_read[0][0] > CHANNELS_MAX_AGE:
        _channels_read[:] = [(now, _store().channels())]
    return _channels_read[0][1]


def _deliver_record(record: DynamoDBRecord) -> dict[str, str | None]:
    image = record.dynamodb.new_image if record.dynamodb else {}
    try:
        queued = queued_from_image(image)
    except UnreadableMessage as exc:
        # Retrying cannot mend it: say so once instead of blocking the messages behind it.
        logger.error(str(exc))
        return deliver_unreadable(exc, _store(), _notifier(), _clock).to_dict()
    # The channels first, each on its own (a failed one is recorded and retried later, alone);
    # then the topic, which raises when SNS does not take it: the stream then brings the
    # record back, and the channels that took it are not sent it again.
    outcome: dict[str, str] = {}
    trouble: Exception | None = None
    try:
        channels = _channels()
        if channels:
            outcome = deliver_to_channels(queued, channels, _store(), _sender(), _retries(), _clock)
    except Exception as exc:  # the channels' own plumbing (the table, the scheduler): the topic still gets it
        logger.exception("channels not served; the record is retried")
        trouble = exc
    delivered = deliver(queued, _store(), _notifier(), _clock).to_dict()
    delivered.update({f"channel:{name}": what for name, what in outcome.items()})
    if trouble is not None:
        raise trouble
    return delivered


def _channel_retry(event: dict[str, Any]) -> dict[str, Any]:
    """One channel's retry of one message: sent to that channel alone, if it still routes it."""
    retry = Retry.from_event(event)
    image = _store().message_item(retry.monitor, retry.key)
    if image is None:
        return {"status": "gone"}
    queued = queued_from_image(image)
    outcome = deliver_to_channels(
        queued, _channels(), _store(), _sender(), _retries(), _clock, only=retry.channel, attempt=retry.attempt
    )
    return {"status": outcome.get(retry.channel, "not routed"), "channel": retry.channel, "key": retry.key}


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    event = event or {}
    if not _function_arn:
        _function_arn.append(context.invoked_function_arn)
    if _sender.cache_info().currsize:  # a warm container's sender: channels that failed before may work now
        _sender().new_invocation()
    if "Records" in event:
        return dict(process_partial_response(event, _deliver_record, processor, context))
    if "channel_retry" in event:
        return _channel_retry(event)
    if event.get("detail-type") == "CloudWatch Alarm State Change":
        return _self_alert(selfwatch.alarm_changed(_alarm_change(event), _store()))
    if "requestContext" in event and "responsePayload" in event:
        return _self_alert(selfwatch.run_failed(_run_failure(event), _store(), _clock))
    raise ValueError(f"NotifyFunction cannot handle this event (keys: {', '.join(sorted(event)[:10])})")


def _self_alert(queued: QueuedMessage | None) -> dict[str, Any]:
    if queued is None:
        logger.info("QuotaWatch itself: no change to tell")
        return {"status": "unchanged"}
    logger.info("QuotaWatch itself: message queued", extra={"key": queued.key, "subject": queued.message.subject})
    return {"status": "queued", "key": queued.key, "subject": queued.message.subject}


def _run_failure(event: dict[str, Any]) -> selfwatch.RunFailure:
    """From Lambda's on-failure destination record of an asynchronous invocation."""
    context = event.get("requestContext") or {}
    payload = event.get("responsePayload")
    error = payload if isinstance(payload, dict) else {"errorMessage": str(payload)}
    request = event.get("requestPayload")
    tick = request.get("scheduled_time") if isinstance(request, dict) else None
    function = str(context.get("functionArn", "the check function")).split(":function:")[-1].split(":")[0]
    return selfwatch.RunFailure(
        function=function,
        error_type=str(error.get("errorType") or context.get("condition") or "Error"),
        error_message=str(error.get("errorMessage") or context.get("condition") or "no error message"),
        scheduled_time=str(tick) if tick else None,
        attempts=int(context.get("approximateInvokeCount") or 1),
    )


def _alarm_change(event: dict[str, Any]) -> selfwatch.AlarmChange:
    detail = event.get("detail") or {}
    state = detail.get("state") or {}
    configuration = detail.get("configuration") or {}
    return selfwatch.AlarmChange(
        name=str(detail.get("alarmName", "unknown alarm")),
        description=str(configuration.get("description") or ""),
        state=str(state.get("value", "")),
        reason=str(state.get("reason", "")),
        at=_time(state.get("timestamp") or event.get("time")),
    )


def _time(value: Any) -> datetime:
    try:
        return parse_time(str(value)).replace(microsecond=0)
    except ValueError:
        return _clock.now()
