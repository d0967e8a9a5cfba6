"""A channel's retry, later: an EventBridge Scheduler one-time schedule that invokes the
notify function with the retry, and deletes itself once it ran.

Why not a queue: an SQS event source is polled all the time, and an idle queue's polling
alone costs about $0.26 a month, a quarter of QuotaWatch's budget; a one-time schedule
costs nothing until it fires (Scheduler's free tier is 14 million invocations a month).
The schedule's name is a digest of the retry (message, channel, attempt): scheduling the
same retry twice (a stream record handled again) finds it there and adds nothing.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from quotawatch.ports import Retry

NAME_PREFIX = "quotawatch-retry-"  # the notify function may create only schedules named so


class ScheduledRetries:
    def __init__(self, client: Any, target_arn: str, role_arn: str, dead_letter_arn: str | None, now: Any) -> None:
        self._client = client
        self._target_arn = target_arn
        self._role_arn = role_arn
        self._dead_letter_arn = dead_letter_arn
        self._now = now  # () -> datetime (UTC)

    def later(self, retry: Retry, delay_seconds: int) -> None:
        at: datetime = self._now() + timedelta(seconds=delay_seconds)
        target: dict[str, Any] = {
            "Arn": self._target_arn,
            "RoleArn": self._role_arn,
            "Input": retry.to_event(),
            "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600},
        }
        if self._dead_letter_arn:
            target["DeadLetterConfig"] = {"Arn": self._dead_letter_arn}
        try:
            self._client.create_schedule(
                Name=schedule_name(retry, self._target_arn),
                ScheduleExpression=f"at({at:%Y-%m-%dT%H:%M:%S})",
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                Target=target,
                ActionAfterCompletion="DELETE",
                Description=f"QuotaWatch: retry channel {retry.channel[:40]} (attempt {retry.attempt})",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConflictException":  # scheduled already
                raise


def schedule_name(retry: Retry, target_arn: str) -> str:
    digest = hashlib.blake2b(f"{target_arn}\0{retry.to_event()}".encode(), digest_size=20).hexdigest()
    return f"{NAME_PREFIX}{digest}"  # 57 characters, within Scheduler's 64
