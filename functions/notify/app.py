"""NotifyFunction: delivers stored messages, and turns QuotaWatch's own failures into alerts.

Three kinds of event reach it:
- the table's stream, filtered to inserted message items: each message is sent to the
  alert topic and recorded as sent (quotawatch/delivery.py); a message that cannot be sent
  is reported as a batch item failure, so only it and what follows it is retried;
- the check function's on-failure destination: a run that failed after its retry;
- EventBridge's "CloudWatch Alarm State Change" for QuotaWatch's own alarms.
The last two store a "QuotaWatch itself" state change and its message (quotawatch/
selfwatch.py); the stream then brings that message back here for delivery.
"""

from __future__ import annotations

import os
from datetime import datetime
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from quotawatch import selfwatch
from quotawatch.adapters.clock import SystemClock
from quotawatch.adapters.notifier import SnsNotifier
from quotawatch.adapters.store import DynamoStore, UnreadableMessage, queued_from_image
from quotawatch.core.record import QueuedMessage
from quotawatch.core.snapshot import parse_time
from quotawatch.delivery import deliver, deliver_unreadable

logger = Logger()
# Every message that failed is reported as a batch item failure, even when all did (SNS
# down): Lambda then retries from the first one, rather than bisecting a healthy batch.
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
_clock = SystemClock()


@cache
def _store() -> DynamoStore:
    return DynamoStore(
        boto3.client("dynamodb"), os.environ["TABLE_NAME"], int(os.environ.get("SNAPSHOT_RETENTION_DAYS", "400"))
    )


@cache
def _notifier() -> SnsNotifier:
    return SnsNotifier(boto3.client("sns"), os.environ["ALERT_TOPIC_ARN"])


def _deliver_record(record: DynamoDBRecord) -> dict[str, str | None]:
    image = record.dynamodb.new_image if record.dynamodb else {}
    try:
        queued = queued_from_image(image)
    except UnreadableMessage as exc:
        # Retrying cannot mend it: say so once instead of blocking the messages behind it.
        logger.error(str(exc))
        return deliver_unreadable(exc, _store(), _notifier(), _clock).to_dict()
    return deliver(queued, _store(), _notifier(), _clock).to_dict()


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    event = event or {}
    if "Records" in event:
        return dict(process_partial_response(event, _deliver_record, processor, context))
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
