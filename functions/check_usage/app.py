"""CheckUsageFunction: check every enabled monitor once, store snapshots, alert on change.

Thin on purpose: read the environment, wire adapters, call the core, report.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from functools import cache
from pathlib import Path
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from quotawatch.adapters.clock import clock_for_event
from quotawatch.adapters.http import HttpClient, HttpPolicy
from quotawatch.adapters.notifier import SnsNotifier
from quotawatch.adapters.secrets import SecretsKeyStore
from quotawatch.adapters.store import DynamoStore
from quotawatch.check import DEFAULT_CONCURRENCY, CheckDeps, run_check
from quotawatch.config import ConfigError, load_monitors
from quotawatch.core.messages import render_test

logger = Logger()
metrics = Metrics()


@cache
def _adapters() -> CheckDeps:
    """Built once per container: the secret cache and HTTP connections survive warm starts."""
    return CheckDeps(
        keys=SecretsKeyStore(boto3.client("secretsmanager"), os.environ["API_KEYS_SECRET_NAME"]),
        # HTTP_READ_TIMEOUT: for providers that are slow to answer (seconds per attempt).
        http=HttpClient(
            HttpPolicy(read_timeout=float(os.environ.get("HTTP_READ_TIMEOUT", HttpPolicy.read_timeout))),
            pool_size=_concurrency(),
        ),
        store=DynamoStore(
            boto3.client("dynamodb"),
            os.environ["TABLE_NAME"],
            int(os.environ.get("SNAPSHOT_RETENTION_DAYS", "400")),
        ),
        notifier=SnsNotifier(boto3.client("sns"), os.environ["ALERT_TOPIC_ARN"]),
        clock=clock_for_event(None),
    )


def _concurrency() -> int:
    return int(os.environ.get("CHECK_CONCURRENCY", DEFAULT_CONCURRENCY))


def _monitors_path() -> Path:
    path = Path(os.environ.get("MONITORS_FILE", "monitors.yaml"))
    return path if path.is_absolute() else Path(__file__).parent / path


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(scheduled_time=(event or {}).get("scheduled_time"))
    try:
        config = load_monitors(_monitors_path())
    except ConfigError as exc:
        logger.error(str(exc), extra={"error_kind": "config"})
        metrics.add_metric(name="ConfigErrors", unit=MetricUnit.Count, value=1)
        return {"status": "config_error", "error": {"kind": "config", "message": str(exc)}, "monitors": []}

    deps = dataclasses.replace(_adapters(), clock=clock_for_event(event))
    if (event or {}).get("test_alert"):
        # events/test-alert.json: one clearly marked message, to try the subscriptions.
        message = render_test(deps.clock.now(), len(config.enabled))
        message_id = deps.notifier.publish(message)
        logger.info("test alert published", extra={"message_id": message_id})
        return {"status": "test_sent", "subject": message.subject, "message_id": message_id}
    outcomes = run_check(config.enabled, config.problems, deps, concurrency=_concurrency())
    # Failures are logged where they happen and every snapshot is stored, so each reading
    # is logged only at DEBUG (POWERTOOLS_LOG_LEVEL): a line per monitor per run is most of
    # the CPU and the log bill of a large run.
    if logger.log_level <= logging.DEBUG:
        for outcome in outcomes:
            if outcome.snapshot is not None and outcome.snapshot.ok:
                logger.debug("checked", extra={"monitor": outcome.monitor, "snapshot": outcome.snapshot.to_dict()})

    failed = sum(1 for o in outcomes if o.status == "error")
    notified = sum(len(o.notified) for o in outcomes)
    duplicate = bool(outcomes) and all(o.duplicate for o in outcomes)
    logger.info("run finished", extra={"checked": len(outcomes), "failed": failed, "notified": notified})
    metrics.add_metric(name="MonitorsChecked", unit=MetricUnit.Count, value=0 if duplicate else len(outcomes))
    metrics.add_metric(name="CheckErrors", unit=MetricUnit.Count, value=failed)
    metrics.add_metric(name="AlertsPublished", unit=MetricUnit.Count, value=notified)
    return {
        "status": "duplicate" if duplicate else "ok" if failed == 0 else "partial",
        "checked": len(outcomes),
        "failed": failed,
        "notified": notified,
        "monitors": [o.to_dict() for o in outcomes],
    }
