"""What a deployment pays a month, from measured figures, with and without free tiers.

Prices: AWS list prices for us-east-1 as we know them on PRICES_DATED (not fetched live;
check https://aws.amazon.com/pricing before relying on them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PRICES_DATED = "2026-11-24"
RUNS_PER_MONTH = 30.44 * 24 * 4  # every 15 minutes
DIGESTS_PER_MONTH = 30.44  # the daily digest (DigestSchedule's default)
LAMBDA_ARM_GB_SECOND = 0.0000133334
LAMBDA_REQUEST = 0.20 / 1_000_000
DYNAMODB_WRITE_UNIT = 0.625 / 1_000_000  # on-demand, per 1 KB written
DYNAMODB_READ_UNIT = 0.125 / 1_000_000  # on-demand, per 4 KB strongly consistent read
DYNAMODB_STORAGE_GB_MONTH = 0.25
DYNAMODB_PITR_GB_MONTH = 0.20
SECRET_MONTH = 0.40
SECRETS_API_CALL = 0.05 / 10_000
SNS_PUBLISH = 0.50 / 1_000_000
SNS_EMAIL = 2.00 / 100_000  # an email notification delivered
SCHEDULER_INVOCATION = 1.00 / 1_000_000
LOGS_INGEST_GB = 0.50
ALARM_MONTH = 0.10  # a standard-resolution alarm on one metric
CUSTOM_METRIC_MONTH = 0.30  # each EMF metric (Lambda's and SQS's own metrics are free)
SQS_REQUEST = 0.40 / 1_000_000  # standard queue, per 64 KB chunk of a request
# An SQS event source mapping long-polls the queue even when it is empty: about 5 pollers,
# each a ReceiveMessage every 20 s (our estimate of Lambda's default; it is billed to you).
SQS_IDLE_POLLS_MONTH = 5 * 3 * 60 * 24 * 30.44
RETENTION_DAYS = 400  # the template's SnapshotRetentionDays default

# The always-free tiers (not the 12-month trials).
FREE_LAMBDA_GB_SECONDS = 400_000
FREE_LAMBDA_REQUESTS = 1_000_000
FREE_DYNAMODB_STORAGE_GB = 25
FREE_SNS_PUBLISHES = 1_000_000
FREE_SNS_EMAILS = 1_000
FREE_SCHEDULER_INVOCATIONS = 14_000_000
FREE_LOGS_GB = 5
FREE_ALARMS = 10
FREE_METRICS = 10
FREE_SQS_REQUESTS = 1_000_000


@dataclass(frozen=True)
class Usage:
    """One deployment's run, as measured, and what the template adds to it."""

    monitors: int
    memory_mb: int
    lambda_seconds: float  # billed duration of all invocations of one run
    invocations: int  # per run: 1, or the dispatcher and its shards
    snapshot_bytes: int
    window_bytes: int
    log_bytes: int  # per run
    secrets_calls: float  # per run (a warm run makes none)
    alarms: int
    metrics: int
    sqs_requests: float = 0.0  # per run, fan-out only (send, receive, delete)
    fan_out: bool = False


@dataclass(frozen=True)
class Digest:
    """The daily digest's invocation, as measured: it reads every monitor's STATE and WINDOW
    and newest snapshot by key, queries a day of each monitor's snapshots for failed checks,
    and stores one message, which the notify function reads, sends and records as sent."""

    monitors: int
    lambda_seconds: float
    message_bytes: int
    log_bytes: int = 0


@dataclass(frozen=True)
class Line:
    name: str
    paid: float  # a month, without any free tier
    free_tier: float  # a month, with the always-free tiers


def monthly(u: Usage, runs: float = RUNS_PER_MONTH, digest: Digest | None = None) -> list[Line]:
    gb_s = runs * u.lambda_seconds * u.memory_mb / 1024
    requests = runs * u.invocations
    # DynamoDB bills by item size: a write unit per KB, a read unit per 4 KB. Per run: the
    # tick's idempotency record (put, then updated), a read of QuotaWatch's own state and
    # the query of the silences; per monitor, a snapshot and its window written, its STATE
    # and WINDOW read.
    writes = 2 + u.monitors * (math.ceil(u.snapshot_bytes / 1024) + math.ceil(u.window_bytes / 1024))
    reads = 2 + u.monitors * (1 + math.ceil(u.window_bytes / 4096))
    stored_gb = u.monitors * (96 * RETENTION_DAYS * u.snapshot_bytes + u.window_bytes) / 1024**3
    logs_gb = runs * u.log_bytes / 1024**3
    sqs = runs * u.sqs_requests + (SQS_IDLE_POLLS_MONTH if u.fan_out else 0)
    secrets = SECRET_MONTH + runs * u.secrets_calls * SECRETS_API_CALL
    lines = [
        Line(
            f"Lambda arm64 ({u.memory_mb} MB x {u.lambda_seconds:.2f} s a run)",
            gb_s * LAMBDA_ARM_GB_SECOND + requests * LAMBDA_REQUEST,
            max(0, gb_s - FREE_LAMBDA_GB_SECONDS) * LAMBDA_ARM_GB_SECOND
            + max(0, requests - FREE_LAMBDA_REQUESTS) * LAMBDA_REQUEST,
        ),
        _both(
            f"DynamoDB requests ({writes} write, {reads} read units a run)",
            runs * (writes * DYNAMODB_WRITE_UNIT + reads * DYNAMODB_READ_UNIT),
        ),
        Line(
            f"DynamoDB storage + PITR ({stored_gb:.2f} GB, {RETENTION_DAYS} days)",
            stored_gb * (DYNAMODB_STORAGE_GB_MONTH + DYNAMODB_PITR_GB_MONTH),
            max(0, stored_gb - FREE_DYNAMODB_STORAGE_GB) * DYNAMODB_STORAGE_GB_MONTH
            + stored_gb * DYNAMODB_PITR_GB_MONTH,
        ),
        _both("Secrets Manager (1 secret)", secrets),
        Line("SNS (alerts are rare)", 0.0, 0.0),
        _free("EventBridge Scheduler", runs * SCHEDULER_INVOCATION, runs <= FREE_SCHEDULER_INVOCATIONS),
        Line(
            f"CloudWatch Logs ({u.log_bytes / 1024:.1f} KB a run)",
            logs_gb * LOGS_INGEST_GB,
            max(0, logs_gb - FREE_LOGS_GB) * LOGS_INGEST_GB,
        ),
        Line(
            f"CloudWatch alarms ({u.alarms} x ${ALARM_MONTH:.2f})",
            u.alarms * ALARM_MONTH,
            max(0, u.alarms - FREE_ALARMS) * ALARM_MONTH,
        ),
        Line(
            f"custom metrics ({u.metrics}; service metrics are free)",
            u.metrics * CUSTOM_METRIC_MONTH,
            max(0, u.metrics - FREE_METRICS) * CUSTOM_METRIC_MONTH,
        ),
        Line(
            f"SQS ({sqs / 1e6:.2f} M requests, idle polling included)" if u.fan_out else "SQS (no fan-out)",
            sqs * SQS_REQUEST,
            max(0, sqs - FREE_SQS_REQUESTS) * SQS_REQUEST,
        ),
    ]
    return lines + ([digest_line(u, digest)] if digest else [])


def digest_line(u: Usage, d: Digest, days: float = DIGESTS_PER_MONTH) -> Line:
    """The daily digest a month: its invocation, reads and message, a publish and an email.
    Its eventually consistent reads are counted as strongly consistent ones (an upper bound).
    The free tiers cover its Lambda, scheduler, publish and emails, never DynamoDB."""
    gb_s = days * d.lambda_seconds * u.memory_mb / 1024
    snapshot_units = math.ceil(u.snapshot_bytes / 4096)
    reads = (
        1  # QuotaWatch's own state
        + u.monitors * (1 + math.ceil(u.window_bytes / 4096))  # STATE and WINDOW by key
        + u.monitors * snapshot_units  # the newest snapshot each window names
        + u.monitors * math.ceil(96 * u.snapshot_bytes / 4096)  # a day of snapshots (failed checks)
        + 1  # delivery: was it sent?
    )
    message_units = math.ceil(d.message_bytes / 1024)
    writes = 2 * message_units  # stored, then recorded as sent
    dynamodb = days * (reads * DYNAMODB_READ_UNIT + writes * DYNAMODB_WRITE_UNIT)
    lambda_cost = gb_s * LAMBDA_ARM_GB_SECOND + 2 * days * LAMBDA_REQUEST  # the check and the notify function
    others = days * (SCHEDULER_INVOCATION + SNS_PUBLISH + SNS_EMAIL) + days * d.log_bytes / 1024**3 * LOGS_INGEST_GB
    return Line(
        f"daily digest ({d.lambda_seconds:.2f} s, {reads} read, {writes} write units)",
        lambda_cost + dynamodb + others,
        dynamodb,
    )


def _both(name: str, value: float) -> Line:
    """A charge that no always-free tier covers."""
    return Line(name, value, value)


def _free(name: str, value: float, covered: bool) -> Line:
    return Line(name, value, 0.0 if covered else value)


def print_month(title: str, lines: list[Line], target: str = "") -> None:
    print(title)
    print(f"  {'':<58} {'no free tier':>12} {'free tiers':>11}")
    for line in lines:
        print(f"  {line.name:<58} ${line.paid:>11.3f} ${line.free_tier:>10.3f}")
    paid, free = sum(x.paid for x in lines), sum(x.free_tier for x in lines)
    print(f"  {'total a month' + target:<58} ${paid:>11.2f} ${free:>10.2f}")
    top = max(lines, key=lambda x: x.paid)
    print(f"  dominated by: {top.name.split(' (')[0]} ({top.paid / paid:.0%} of the total without free tiers)")
    print()


def per_run_dollars(seconds: float, memory_mb: int) -> tuple[float, float]:
    """GB-seconds and dollars of one invocation of this length and size."""
    gb_s = seconds * memory_mb / 1024
    return gb_s, gb_s * LAMBDA_ARM_GB_SECOND + LAMBDA_REQUEST
