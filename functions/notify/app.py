"""NotifyFunction: delivers stored messages, and turns QuotaWatch's own failures into alerts.

A dispatch of four kinds of event, each to one small function:
- the table's stream, filtered to inserted message items a silence does not hold: each
  goes through the delivery pipeline (quotawatch/delivery) to the topic and the channels;
- a channel's retry, {"channel_retry": ...}, from a one-time EventBridge schedule;
- the check function's on-failure destination: a run that failed after its retry;
- EventBridge's "CloudWatch Alarm State Change" for QuotaWatch's own alarms.
The last two store a "QuotaWatch itself" state change and its message (quotawatch/
selfwatch.py); the stream then brings that message back here for delivery.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from quotawatch import selfwatch
from quotawatch.adapters.clock import SystemClock
from quotawatch.adapters.retry_schedule import ScheduledRetries
from quotawatch.adapters.secrets import SecretsKeyStore
from quotawatch.adapters.store import DynamoStore, UnreadableMessage, queued_from_image
from quotawatch.core.channels import TOPIC, Channel
from quotawatch.core.record import QueuedMessage
from quotawatch.core.snapshot import parse_time
from quotawatch.delivery import Batch, Pipeline, deliver_in_batch, deliver_retry
from quotawatch.delivery.notices import unreadable_notice
from quotawatch.delivery.senders import senders
from quotawatch.delivery.senders.http import HttpSender
from quotawatch.delivery.senders.topic import TopicSender, publish_client
from quotawatch.ports import Retry

logger = Logger()
_clock = SystemClock()
CHANNELS_MAX_AGE = 60.0  # seconds a warm container keeps the channel definitions it read
_channels_read: list[tuple[float, list[Channel]]] = []


@dataclass(frozen=True)
class Settings:
    """The function's environment, read once per container."""

    table: str
    retention_days: int
    topic_arn: str
    secret_name: str
    retry_role_arn: str
    retry_dead_letter_arn: str | None

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            table=env["TABLE_NAME"],
            retention_days=int(env.get("SNAPSHOT_RETENTION_DAYS", "400")),
            topic_arn=env["ALERT_TOPIC_ARN"],
            secret_name=env["API_KEYS_SECRET_NAME"],
            retry_role_arn=env["CHANNEL_RETRY_ROLE_ARN"],
            retry_dead_letter_arn=env.get("CHANNEL_RETRY_DEAD_LETTER_ARN") or None,
        )


@cache
def _settings() -> Settings:
    return Settings.from_env()


@cache
def _store() -> DynamoStore:
    return DynamoStore(boto3.client("dynamodb"), _settings().table, _settings().retention_days)


@cache
def _senders() -> dict[str, Any]:
    keys = SecretsKeyStore(boto3.client("secretsmanager"), _settings().secret_name)
    return senders(keys, TopicSender(publish_client(boto3), _settings().topic_arn))


@cache
def _retries(function_arn: str) -> ScheduledRetries:
    s = _settings()
    return ScheduledRetries(
        boto3.client("scheduler"), function_arn, s.retry_role_arn, s.retry_dead_letter_arn, _clock.now
    )


def _channels() -> list[Channel]:
    """The topic, then the channel definitions the check function stored from monitors.yaml,
    read at most once a minute per container."""
    now = time.monotonic()
    if not _channels_read or now - _channels_read[0][0] > CHANNELS_MAX_AGE:
        _channels_read[:] = [(now, [TOPIC, *_store().channels()])]
    return _channels_read[0][1]


def _pipeline(context: LambdaContext) -> Pipeline:
    return Pipeline(_store(), _senders(), _retries(context.invoked_function_arn), _clock, _channels())


def _stream(event: dict[str, Any], p: Pipeline) -> dict[str, Any]:
    """Each record through the pipeline, in order. A record that cannot be handled (the
    table or the scheduler failing) is a batch item failure, and so is every later record
    of its monitor, not attempted: the stream brings them back after it, in order."""
    batch, failed, broken = Batch(), list[str | None](), set[str]()
    for record in DynamoDBStreamEvent(event).records:
        stream = record.dynamodb
        image, sequence = (stream.new_image, stream.sequence_number) if stream else ({}, None)
        queued = _queued(image)
        if queued.monitor in broken:
            failed.append(sequence)
            continue
        try:
            outcome = deliver_in_batch(queued, p, batch)
        except Exception:
            logger.exception("message not handled; the stream brings it back", extra={"key": queued.key})
            failed.append(sequence)
            broken.add(queued.monitor)
            continue
        logger.info("delivered", extra={"monitor": queued.monitor, "key": queued.key, "channels": outcome})
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}


def _channel_retry(event: dict[str, Any], p: Pipeline) -> dict[str, Any]:
    """One channel's retry of one message: sent to that channel alone, if it still routes it."""
    retry = Retry.from_event(event)
    image = p.store.message_item(retry.monitor, retry.key)
    if image is None:
        return {"status": "gone"}
    return {"status": deliver_retry(_queued(image), retry, p), "channel": retry.channel, "key": retry.key}


def _queued(image: dict[str, Any]) -> QueuedMessage:
    try:
        return queued_from_image(image)
    except UnreadableMessage as exc:  # retrying cannot mend it: say so once instead
        logger.error(str(exc))
        return unreadable_notice(exc.monitor, exc.key)


def _alarm(event: dict[str, Any], p: Pipeline) -> dict[str, Any]:
    return _self_alert(selfwatch.alarm_changed(_alarm_change(event), p.store))


def _run_failed(event: dict[str, Any], p: Pipeline) -> dict[str, Any]:
    return _self_alert(selfwatch.run_failed(_run_failure(event), p.store, p.clock))


_KINDS: list[tuple[Callable[[dict[str, Any]], bool], Callable[[dict[str, Any], Pipeline], dict[str, Any]]]] = [
    (lambda e: "Records" in e, _stream),
    (lambda e: "channel_retry" in e, _channel_retry),
    (lambda e: e.get("detail-type") == "CloudWatch Alarm State Change", _alarm),
    (lambda e: "requestContext" in e and "responsePayload" in e, _run_failed),
]


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    event = event or {}
    for is_kind, handle in _KINDS:
        if is_kind(event):
            p = _pipeline(context)
            for sender in {s for s in p.senders.values() if isinstance(s, HttpSender)}:
                sender.new_invocation()  # channels that failed before may work now
            return handle(event, p)
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
