"""CheckUsageFunction: check every enabled monitor once, store snapshots, decide alerts.

Thin on purpose: read the environment, wire adapters, call the core, report. The alerts it
decides are stored as message items; the notify function delivers them.

A scheduled tick runs once: Powertools Idempotency keeps an in-progress record for the
tick (expiring with this invocation's timeout) and removes it when the run fails, so a
retry of a failed run runs again, and a second delivery of a finished tick does nothing.
A run that cannot do its work (the monitors file unreadable, no reading storable) raises:
Lambda retries it, then its on-failure destination tells people ("QuotaWatch itself").
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from quotawatch import selfwatch
from quotawatch.adapters.clock import clock_for_event
from quotawatch.adapters.http import HttpClient, HttpPolicy
from quotawatch.adapters.secrets import SecretsKeyStore
from quotawatch.adapters.store import DynamoStore
from quotawatch.check import DEFAULT_CONCURRENCY, CheckDeps, MonitorOutcome, run_check
from quotawatch.config import ConfigError, MonitorsConfig, load_monitors
from quotawatch.core.messages import render_test
from quotawatch.core.record import QueuedMessage
from quotawatch.core.self_messages import SELF_MONITOR

logger = Logger()


def _already_done(response: Any, idempotent_data: DataRecord) -> Any:
    """Called only when the tick's stored result is returned instead of running again."""
    return {**response, "status": "duplicate", "monitors": []}


# A finished tick is remembered for two days: past any retry or late duplicate delivery.
_RUN_RECORD_SECONDS = 2 * 24 * 3600
_idempotency = IdempotencyConfig(
    event_key_jmespath="scheduled_time",
    raise_on_no_idempotency_key=False,  # a manual invoke without a tick runs every time
    expires_after_seconds=_RUN_RECORD_SECONDS,
    response_hook=_already_done,
)


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
            # Requests are built by DynamoStore and checked by DynamoDB itself; botocore's own
            # walk over every batch of items before sending was 7% of a large run's CPU.
            boto3.client("dynamodb", config=Config(parameter_validation=False)),
            os.environ["TABLE_NAME"],
            int(os.environ.get("SNAPSHOT_RETENTION_DAYS", "400")),
        ),
        clock=clock_for_event(None),
    )


def _concurrency() -> int:
    return int(os.environ.get("CHECK_CONCURRENCY", DEFAULT_CONCURRENCY))


def _monitors_path() -> Path:
    path = Path(os.environ.get("MONITORS_FILE", "monitors.yaml"))
    return path if path.is_absolute() else Path(__file__).parent / path


@cache
def _once_per_tick() -> Callable[..., dict[str, Any]]:
    """`_run` made idempotent on the tick, with its record in the table (pk "RUN")."""
    persistence = DynamoDBPersistenceLayer(
        table_name=os.environ["TABLE_NAME"],
        key_attr="pk",
        sort_key_attr="sk",
        static_pk_value="RUN",
        expiry_attr="expires_at",  # the table's TTL attribute
        boto3_client=boto3.client("dynamodb"),
    )
    once: Callable[..., dict[str, Any]] = idempotent_function(
        data_keyword_argument="tick", persistence_store=persistence, config=_idempotency
    )(_run)
    return once


# The outcomes of the run in progress, for the result: the stored record keeps the summary only.
_outcomes: list[MonitorOutcome] = []


def _run(tick: dict[str, Any], config: MonitorsConfig, deps: CheckDeps) -> dict[str, Any]:
    _outcomes[:] = run_check(config.enabled, config.problems, deps, concurrency=_concurrency())
    try:
        selfwatch.run_succeeded(deps.store, deps.clock)
    except Exception:  # the run's own work is done; the next run clears it
        logger.exception("could not clear the failed-run alert of QuotaWatch itself")
    failed = sum(1 for o in _outcomes if o.status == "error")
    queued = sum(len(o.queued) for o in _outcomes)
    return {"status": "ok" if failed == 0 else "partial", "checked": len(_outcomes), "failed": failed, "queued": queued}


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    event = event or {}
    logger.append_keys(scheduled_time=event.get("scheduled_time"))
    try:
        config = load_monitors(_monitors_path())
    except ConfigError as exc:
        # Fails the run on purpose: Lambda retries it, then its on-failure destination
        # tells people that QuotaWatch itself cannot check anything.
        logger.error(str(exc), extra={"error_kind": "config"})
        raise

    deps = dataclasses.replace(_adapters(), clock=clock_for_event(event))
    if event.get("test_alert"):
        # events/test-alert.json: one clearly marked message, to try the subscriptions.
        now = deps.clock.now()
        message = render_test(now, len(config.enabled))
        queued = QueuedMessage.for_decision(SELF_MONITOR, "test", 0, now, message)
        deps.store.queue(queued)
        logger.info("test alert queued", extra={"key": queued.key})
        return {"status": "test_queued", "subject": message.subject, "key": queued.key}

    _idempotency.register_lambda_context(context)
    try:
        summary = _once_per_tick()(tick={"scheduled_time": event.get("scheduled_time")}, config=config, deps=deps)
    except IdempotencyAlreadyInProgressError:
        logger.warning("another invocation is checking this tick; nothing to do")
        return {"status": "in_progress", "checked": 0, "failed": 0, "queued": 0, "monitors": []}
    if summary["status"] == "duplicate":
        logger.warning("tick already checked; nothing to do")
        return summary
    # Failures are logged where they happen and every snapshot is stored, so each reading
    # is logged only at DEBUG (POWERTOOLS_LOG_LEVEL): a line per monitor per run is most of
    # the CPU and the log bill of a large run.
    if logger.log_level <= logging.DEBUG:
        for outcome in _outcomes:
            if outcome.snapshot is not None and outcome.snapshot.ok:
                logger.debug("checked", extra={"monitor": outcome.monitor, "snapshot": outcome.snapshot.to_dict()})
    logger.info("run finished", extra={k: summary[k] for k in ("checked", "failed", "queued")})
    return {**summary, **_listed(_outcomes)}


# A result lists every monitor up to this many; past it, only those that need attention
# (at N = 10,000 the full list alone passed 3 MB, and no one reads it there).
RESULT_LISTS_ALL_UP_TO = 100


def _listed(outcomes: list[MonitorOutcome]) -> dict[str, Any]:
    if len(outcomes) <= RESULT_LISTS_ALL_UP_TO:
        return {"monitors": [o.to_dict() for o in outcomes]}
    attention = [o for o in outcomes if o.needs_attention]
    listed: dict[str, Any] = {"attention": [o.to_dict() for o in attention[:RESULT_LISTS_ALL_UP_TO]]}
    if len(attention) > RESULT_LISTS_ALL_UP_TO:
        listed["attention_not_listed"] = len(attention) - RESULT_LISTS_ALL_UP_TO
    return listed
