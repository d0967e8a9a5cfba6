"""CheckUsageFunction: check every enabled monitor once, store snapshots, decide alerts.

Thin on purpose: read the environment, wire adapters, call the core, report. The alerts it
decides are stored as message items; the notify function delivers them.

A scheduled tick runs once: Powertools Idempotency keeps an in-progress record for the
tick (expiring with this invocation's timeout) and removes it when the run fails, so a
retry of a failed run runs again, and a second delivery of a finished tick does nothing.
A retry that finds the record in progress fails (TickInProgress) rather than answering
success: a killed attempt's tick is then run by a later retry, or told.
A run that cannot do its work (the monitors file unreadable, no reading storable) raises:
Lambda retries it, then its on-failure destination tells people ("QuotaWatch itself").

The digest schedule sends {"digest": true}: one daily message about every monitor
(quotawatch/digest.py), stored once per day, checking nothing.

Past FANOUT_ABOVE monitors the scheduled run is a dispatcher instead: it sends the monitors
to the shard queue in shards of SHARD_SIZE, and `shard_handler` (CheckShardFunction, the
same code) checks each shard. Each shard is claimed once per tick as the tick is.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

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

from quotawatch import fanout, selfwatch
from quotawatch.adapters.clock import clock_for_event
from quotawatch.adapters.http import HttpClient, HttpPolicy
from quotawatch.adapters.queue import SqsQueue
from quotawatch.adapters.secrets import SecretsKeyStore
from quotawatch.adapters.store import DynamoStore
from quotawatch.check import DEFAULT_CONCURRENCY, CheckDeps, MonitorOutcome, run_check
from quotawatch.config import ConfigError, MonitorsConfig, load_monitors
from quotawatch.core.messages import render_test
from quotawatch.core.record import QueuedMessage
from quotawatch.core.self_messages import SELF_MONITOR

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch import BatchProcessor
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

logger = Logger()


class TickInProgress(RuntimeError):
    """Another attempt (alive or killed) holds this tick's in-progress record."""


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
def _dynamodb() -> Any:
    """One DynamoDB client per container, for the store and the run records. Requests are
    built by DynamoStore and Powertools and checked by DynamoDB itself; botocore's own walk
    over every batch of items before sending was 7% of a large run's CPU."""
    return boto3.client("dynamodb", config=Config(parameter_validation=False))


def _run_records() -> DynamoDBPersistenceLayer:
    """Where the runs' and the shards' claims live (pk "RUN"). A new layer for each use:
    Powertools configures a layer once, for one idempotency config."""
    return DynamoDBPersistenceLayer(
        table_name=_settings().table,
        key_attr="pk",
        sort_key_attr="sk",
        static_pk_value="RUN",
        expiry_attr="expires_at",  # the table's TTL attribute
        boto3_client=_dynamodb(),
    )


@dataclass(frozen=True)
class Settings:
    """The function's environment, read once per container."""

    table: str
    retention_days: int
    secret_name: str
    read_timeout: float  # HTTP_READ_TIMEOUT: for providers that are slow to answer (seconds per attempt)
    concurrency: int
    monitors_file: Path
    fanout_above: int
    shard_size: int
    stop_margin_ms: float

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        path = Path(env.get("MONITORS_FILE", "monitors.yaml"))
        return cls(
            table=env["TABLE_NAME"],
            retention_days=int(env.get("SNAPSHOT_RETENTION_DAYS", "400")),
            secret_name=env["API_KEYS_SECRET_NAME"],
            read_timeout=float(env.get("HTTP_READ_TIMEOUT", HttpPolicy.read_timeout)),
            concurrency=int(env.get("CHECK_CONCURRENCY", DEFAULT_CONCURRENCY)),
            monitors_file=path if path.is_absolute() else Path(__file__).parent / path,
            fanout_above=int(env.get("FANOUT_ABOVE", fanout.DEFAULT_FANOUT_ABOVE)),
            shard_size=int(env.get("SHARD_SIZE", fanout.DEFAULT_SHARD_SIZE)),
            # One check's worst case on the HTTP policy (3 attempts of a 3 s connect and a 10 s
            # read) and its store: a check started later could be killed by the timeout.
            stop_margin_ms=float(env.get("STOP_MARGIN_SECONDS", "45")) * 1000,
        )


@cache
def _settings() -> Settings:
    return Settings.from_env()


@cache
def _adapters() -> CheckDeps:
    """Built once per container: the secret cache and HTTP connections survive warm starts."""
    store = _store()
    return CheckDeps(
        keys=_keys(),
        http=HttpClient(HttpPolicy(read_timeout=_settings().read_timeout), pool_size=_settings().concurrency),
        store=store,
        clock=clock_for_event(None),
        silences=store,  # read once a run (quotawatch/core/silences.py)
    )


@cache
def _keys() -> SecretsKeyStore:
    return SecretsKeyStore(boto3.client("secretsmanager"), _settings().secret_name)


@cache
def _store() -> DynamoStore:
    return DynamoStore(_dynamodb(), _settings().table, _settings().retention_days)


@cache
def _once_per_tick() -> Callable[..., dict[str, Any]]:
    """`_run` made idempotent on the tick, with its record in the table (pk "RUN")."""
    once: Callable[..., dict[str, Any]] = idempotent_function(
        data_keyword_argument="tick", persistence_store=_run_records(), config=_idempotency
    )(_run)
    return once


def _run(
    tick: dict[str, Any], config: MonitorsConfig, deps: CheckDeps, outcomes: list[MonitorOutcome]
) -> dict[str, Any]:
    """One tick's run; `outcomes` receives each monitor's, for the result (the stored
    record keeps the summary only)."""
    if fanout.needs_fanout(config, _settings().fanout_above):
        scheduled = tick.get("scheduled_time")
        summary = fanout.dispatch(scheduled or None, config, deps, _shard_queue(), _settings().shard_size)
        _clear_failed_run_alert(deps)
        return summary
    outcomes[:] = run_check(config.enabled, config.problems, deps, concurrency=_settings().concurrency)
    _clear_failed_run_alert(deps)
    failed = sum(1 for o in outcomes if o.status == "error")
    queued = sum(len(o.queued) for o in outcomes)
    return {"status": "ok" if failed == 0 else "partial", "checked": len(outcomes), "failed": failed, "queued": queued}


def _clear_failed_run_alert(deps: CheckDeps) -> None:
    try:
        selfwatch.run_succeeded(deps.store, deps.clock)
    except Exception:  # the run's own work is done; the next run clears it
        logger.exception("could not clear the failed-run alert of QuotaWatch itself")


def _log_readings(outcomes: list[MonitorOutcome]) -> None:
    """Each reading at DEBUG only (POWERTOOLS_LOG_LEVEL): failures are logged where they
    happen and every snapshot is stored, and a line per monitor per run is most of the CPU
    and the log bill of a large run."""
    if logger.log_level <= logging.DEBUG:
        for outcome in outcomes:
            if outcome.snapshot is not None and outcome.snapshot.ok:
                logger.debug("checked", extra={"monitor": outcome.monitor, "snapshot": outcome.snapshot.to_dict()})


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    event = event or {}
    logger.append_keys(scheduled_time=event.get("scheduled_time"))
    try:
        config = load_monitors(_settings().monitors_file)
    except ConfigError as exc:
        # Fails the run on purpose: Lambda retries it, then its on-failure destination
        # tells people that QuotaWatch itself cannot check anything.
        logger.error(str(exc), extra={"error_kind": "config"})
        raise
    for problem in config.declaration_problems:  # its monitors report it too, each as its own failure
        logger.error(problem, extra={"error_kind": "config"})
    _publish_channels(config)

    deps = dataclasses.replace(_adapters(), clock=clock_for_event(event))
    _keys().new_run()
    if event.get("test_alert"):
        # events/test-alert.json: one clearly marked message, to try the subscriptions.
        now = deps.clock.now()
        message = render_test(now, len(config.enabled))
        queued = QueuedMessage.for_decision(SELF_MONITOR, "test", 0, now, message)
        deps.store.queue(queued)
        logger.info("test alert queued", extra={"key": queued.key})
        return {"status": "test_queued", "subject": message.subject, "key": queued.key}

    if event.get("digest"):
        return _digest(config, deps.clock.now())

    _idempotency.register_lambda_context(context)
    try:
        outcomes: list[MonitorOutcome] = []
        tick = {"scheduled_time": event.get("scheduled_time")}
        summary = _once_per_tick()(tick=tick, config=config, deps=deps, outcomes=outcomes)
    except IdempotencyAlreadyInProgressError:
        # Never a silent success: the holder may be an attempt that died (its record lapses
        # only with the timeout). Failing lets Lambda retry after it lapsed (the tick then
        # runs, or reads as done), and after the last retry its on-failure destination says so.
        raise TickInProgress(f"tick {event.get('scheduled_time')} is held by another attempt; retried later") from None
    if summary["status"] == "duplicate":
        logger.warning("tick already checked; nothing to do")
        return summary
    if summary["status"] == "dispatched":
        logger.info("run dispatched", extra={k: summary[k] for k in ("shards", "dispatched")})
        return {**summary, "monitors": []}
    _log_readings(outcomes)
    logger.info("run finished", extra={k: summary[k] for k in ("checked", "failed", "queued")})
    return {**summary, **_listed(outcomes)}


# The channel definitions this container stored last: they are written again only when
# monitors.yaml changed them (a new deployment), not once a run.
_channels_published: list[tuple[Any, ...]] = []


def _publish_channels(config: MonitorsConfig) -> None:
    """The channels of monitors.yaml, for the notify function (which has no monitors.yaml):
    stored in the table when they changed (quotawatch/delivery). A broken channel
    is logged and left out, like a broken monitor."""
    for problem in config.channel_problems:
        logger.error(problem, extra={"error_kind": "config"})
    if _channels_published and _channels_published[0] == config.channels:
        return
    try:
        _store().put_channels(config.channels)
    except Exception:  # the run's checks go on; the next run stores them
        logger.exception("could not store the channel definitions")
        return
    _channels_published[:] = [config.channels]


def _digest(config: MonitorsConfig, at: datetime) -> dict[str, Any]:
    """The daily digest (its own schedule, {"digest": true}): one message a day, keyed by
    the day, so a duplicate or retried event stores nothing new. Not a tick: it checks
    nothing, and does not go through the tick's claim (a check tick may share its time)."""
    from zoneinfo import ZoneInfo  # once a day: a check run's cold start imports neither

    from quotawatch import digest

    zone = ZoneInfo(os.environ.get("DIGEST_TIMEZONE") or "UTC")  # read once a day
    outcome = digest.queue_digest(config, _store(), at, zone, os.environ.get("DIGEST_SCHEDULE", ""))
    status = "digest_queued" if outcome.stored else "digest_duplicate"
    logger.info("daily digest", extra={"status": status, "key": outcome.queued.key})
    return {"status": status, "subject": outcome.queued.message.subject, "key": outcome.queued.key}


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


# --- fan-out: the dispatcher (a tick past FANOUT_ABOVE) and the worker (CheckShardFunction) ---


@cache
def _shard_queue() -> SqsQueue:
    return SqsQueue(boto3.client("sqs"), os.environ["SHARD_QUEUE_URL"])


def _shard_already_done(response: Any, idempotent_data: DataRecord) -> Any:
    return {**response, "duplicate": True}


# Each shard of a tick is claimed once, as the tick is: keyed on the run and the shard's name.
_shard_idempotency = IdempotencyConfig(
    event_key_jmespath="[run, shard]",
    expires_after_seconds=_RUN_RECORD_SECONDS,
    response_hook=_shard_already_done,
)


@cache
def _once_per_shard() -> Callable[..., dict[str, Any]]:
    """`_check_shard` made idempotent on (run, shard), its record in the same table (pk "RUN")."""
    once: Callable[..., dict[str, Any]] = idempotent_function(
        data_keyword_argument="claim", persistence_store=_run_records(), config=_shard_idempotency
    )(_check_shard)
    return once


def _check_shard(
    claim: dict[str, str], shard: fanout.Shard, config: MonitorsConfig, worker: fanout.Worker
) -> dict[str, Any]:
    summary, outcomes = fanout.check_shard(shard, config, worker)
    if summary["missing"]:
        logger.warning("not in the monitors file any more", extra={"shard": shard.index, "missing": summary["missing"]})
    _log_readings(outcomes)
    return summary


@cache
def _shard_processor() -> BatchProcessor:
    """Powertools' batch utilities serve the worker alone: imported on its first shard, not
    at every check's cold start (about a tenth of the handler's import; docs/benchmarks.md)."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

    return BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@logger.inject_lambda_context(log_event=False)
def shard_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """CheckShardFunction: each SQS record is one shard. A shard that fails is reported in
    batchItemFailures and comes back after the queue's visibility timeout; a crash of the
    whole invocation returns them all (SQS delivers at least once)."""
    config = load_monitors(_settings().monitors_file)  # ConfigError fails the batch: SQS delivers it again
    _shard_idempotency.register_lambda_context(context)

    def should_stop() -> bool:
        return context.get_remaining_time_in_millis() < _settings().stop_margin_ms

    def check(record: SQSRecord) -> dict[str, Any]:
        try:
            shard = fanout.Shard.from_body(record.body)
            logger.append_keys(scheduled_time=shard.scheduled_time, shard=shard.index)
            deps = dataclasses.replace(_adapters(), clock=clock_for_event({"scheduled_time": shard.scheduled_time}))
            worker = fanout.Worker(deps, _shard_queue(), _settings().concurrency, should_stop)
            summary = _once_per_shard()(claim=shard.key(), shard=shard, config=config, worker=worker)
        except IdempotencyAlreadyInProgressError:
            # Another worker holds this shard, or held it and was killed (its record lapses
            # only with the timeout): failing brings this message back after the visibility
            # timeout, to run it or find it done; never a silent success.
            logger.warning("another worker holds this shard; it comes back later")
            raise
        except Exception:
            logger.exception("shard failed; SQS delivers it again", extra={"message_id": record.message_id})
            raise
        if summary.get("duplicate"):
            logger.warning("shard already checked; nothing to do")
        else:
            logger.info("shard finished", extra={k: v for k, v in summary.items() if k != "shard"})
        return summary

    from aws_lambda_powertools.utilities.batch import process_partial_response

    processor = _shard_processor()
    response = process_partial_response(event=event, record_handler=check, processor=processor, context=context)
    return dict(response)
