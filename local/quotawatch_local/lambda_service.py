"""The local Lambda service: runs the stack's functions the way Lambda would invoke them.

moto keeps the functions, their event-invoke configs, the stream's event source mapping and
the EventBridge rules, but runs none of them (and Docker is not here). This service does,
reading each setting from the embedded AWS as deployed, with one warm FunctionRuntime per
function:

- `invoke(function, event)`: a synchronous invoke (RequestResponse).
- `invoke_async(function, event)`: an asynchronous invoke (Event): retried per the
  function's EventInvokeConfig (MaximumRetryAttempts, 2 by default), then Lambda's
  invocation record goes to the OnFailure (or OnSuccess) destination: a function (invoked
  asynchronously in turn), an SQS queue or an SNS topic; the bare event also goes to the
  function's dead-letter queue if it has one, as Lambda does when both are set.
- `pump()`: one pass of the DynamoDB stream event source mappings: read the stream through
  the dynamodbstreams API, keep the records the mapping's FilterCriteria match, invoke the
  function with batches of BatchSize in Lambda's event shape, honour ReportBatchItemFailures
  (retry from the first failed record; the ones before it are done),
  BisectBatchOnFunctionError, MaximumRetryAttempts and MaximumRecordAgeInSeconds, and send
  Lambda's record of a batch given up on to the mapping's OnFailure destination. Then one
  pass of the SQS event source mappings (sqs_poller.py): batches in Lambda's SQS event shape,
  at most MaximumConcurrency invocations at once, successes deleted, failures left to come
  back after the visibility timeout (`hurry_retries()` brings them back at once), and the
  queue's redrive to its dead-letter queue. `start()` pumps in the background (for
  `quotawatch_local up`).
- `run_schedules()`: EventBridge Scheduler's one-time schedules (`at(...)`) that target a
  function of the stack (a channel's retry, quotawatch/adapters/retry_schedule.py): each
  invoked asynchronously with its Input, due or not (time is not emulated), then deleted
  when its ActionAfterCompletion says DELETE. The stack's recurring schedules are not run.
- `set_alarm_state(alarm, state, reason)`: moto never evaluates alarms; this sets the state
  and delivers the "CloudWatch Alarm State Change" event to the targets of the stack's
  EventBridge rules whose pattern matches it (a function target is invoked asynchronously).

Each execution environment takes one invocation at a time; concurrent invocations of a
function (the SQS mappings') get environments of their own, started when none is idle.
What it does not emulate: time (stream and asynchronous retries happen at once,
MaximumBatchingWindowInSeconds and MaximumEventAgeInSeconds are not waited for),
concurrency of the stream and asynchronous invocations (one at a time), and tumbling
windows. Retries of a bisected half count against MaximumRetryAttempts like any retry of
its records.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from quotawatch_local.event_filter import filter_criteria_patterns, matches, matches_any
from quotawatch_local.invoke import FunctionRuntime, Invocation
from quotawatch_local.local_stack import LocalStack
from quotawatch_local.sqs_poller import QueueMapping, SqsPoller, queue_mapping

DEFAULT_ASYNC_RETRIES = 2  # Lambda's default for asynchronous invocations
_READ_LIMIT = 1000  # records per GetRecords call, DynamoDB Streams' maximum


@dataclass
class Call:
    """One invocation the service made: which function, why, with what, and what came back."""

    function: str  # logical id
    source: str  # "sync", "async", "stream", "destination" or "eventbridge"
    event: dict[str, Any]
    invocation: Invocation

    @property
    def error(self) -> dict[str, Any] | None:
        return self.invocation.error

    @property
    def result(self) -> Any:
        return self.invocation.result


@dataclass
class AsyncOutcome:
    """An asynchronous invocation: every attempt, and where Lambda's record of it went."""

    function: str
    event: dict[str, Any]
    attempts: list[Invocation]
    destination: str | None = None  # the ARN the invocation record went to
    record: dict[str, Any] | None = None  # the invocation record
    dead_letter: str | None = None  # the dead-letter queue or topic the event went to
    downstream: AsyncOutcome | None = None  # when the destination is a function

    @property
    def succeeded(self) -> bool:
        return bool(self.attempts) and self.attempts[-1].error is None


@dataclass
class AlarmDelivery:
    rule: str
    target: str  # the target's ARN
    event: dict[str, Any]
    outcome: AsyncOutcome | None  # for a function target


@dataclass
class StreamMapping:
    """A DynamoDB stream event source mapping as deployed, and how far the poller got."""

    uuid: str
    function: str  # logical id
    stream_arn: str
    batch_size: int
    filters: list[str]
    bisect: bool
    max_retries: int  # -1: until the record expires
    max_record_age: int  # seconds; -1: until the record expires
    report_item_failures: bool
    on_failure: str | None
    starting_position: str
    enabled: bool
    checkpoints: dict[str, str] = field(default_factory=dict)  # shard -> last sequence number done


class _Blocked(Exception):
    """A batch keeps failing and the mapping retries forever: resume there on the next pump."""

    def __init__(self, first_failed: str) -> None:
        super().__init__(first_failed)
        self.first_failed = first_failed


class LocalLambda:
    """Lambda for the functions of one local stack.

    `env_overrides` and `code` are per function logical id: extra environment variables, and
    a stand-in (code folder, handler) for the function's code (see FunctionRuntime).
    """

    def __init__(
        self,
        stack: LocalStack,
        *,
        env_overrides: Mapping[str, dict[str, str]] | None = None,
        code: Mapping[str, tuple[Path, str]] | None = None,
    ) -> None:
        self.stack = stack
        self.calls: list[Call] = []
        self._env = dict(env_overrides or {})
        self._code = dict(code or {})
        self._idle: dict[str, list[FunctionRuntime]] = {}  # warm environments not invoked now
        self._busy: list[FunctionRuntime] = []
        self._lock = threading.RLock()  # one pump at a time
        self._state = threading.Lock()  # the environments and the calls, across invoking threads
        self._functions = self._function_names()
        self.mappings = self._stream_mappings()
        self.queue_mappings = self._queue_mappings()
        self._sqs_poller = SqsPoller(stack.aws.client("sqs"), self._region, self._invoke_from_queue)
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    # --- functions ------------------------------------------------------------------------

    def function_id(self, function: str) -> str:
        """The logical id of a function named by logical id, name or ARN (with or without qualifier)."""
        if function in self._functions:
            return function
        name = function
        if function.startswith("arn:"):
            name = function.split(":")[6]
        for logical_id, physical in self._functions.items():
            if physical == name:
                return logical_id
        raise KeyError(f"no function {function!r} in stack {self.stack.name}")

    def function_arn(self, function: str) -> str:
        name = self._functions[self.function_id(function)]
        return f"arn:aws:lambda:{self._region}:{self._account}:function:{name}"

    def _take_runtime(self, logical_id: str) -> FunctionRuntime:
        """An idle warm execution environment of the function, or a new one (a cold start)."""
        with self._state:
            idle = self._idle.setdefault(logical_id, [])
            runtime = idle.pop() if idle else None
        if runtime is None:
            code_dir, handler = self._code.get(logical_id, (None, None))
            runtime = FunctionRuntime(
                self.stack, logical_id, self._env.get(logical_id), code_dir=code_dir, handler=handler
            ).start()
        with self._state:
            self._busy.append(runtime)
        return runtime

    def invoke(self, function: str, event: dict[str, Any], *, source: str = "sync") -> Invocation:
        """A synchronous invoke. A process that dies is reported as Lambda reports it, and replaced."""
        logical_id = self.function_id(function)
        runtime = self._take_runtime(logical_id)
        alive = True
        try:
            invocation = runtime.invoke(event)
        except RuntimeError as exc:
            runtime.stop()
            alive = False
            invocation = Invocation(None, {"errorType": "Runtime.ExitError", "errorMessage": str(exc)})
        with self._state:
            self._busy.remove(runtime)
            if alive:
                self._idle.setdefault(logical_id, []).append(runtime)
            self.calls.append(Call(logical_id, source, event, invocation))
        return invocation

    def serve_invokes(self) -> LocalLambda:
        """Lambda's Invoke API of the embedded AWS (in this process) runs this stack's
        functions here: `aws lambda invoke`, `quotawatch test-alert` and `check-now` then
        reach them as they would in AWS. Synchronous (RequestResponse) invokes return the
        function's result, with X-Amz-Function-Error on an error; an Event invoke runs
        asynchronously (retries, destinations) in the background."""
        _serve_invokes()
        for name in self._functions.values():
            _ROUTES[name] = self
        return self

    def _invoked(self, function: str, body: Any, headers: Any, response_headers: dict[str, str]) -> bytes:
        event = json.loads(body) if body else {}
        if headers.get("X-Amz-Invocation-Type") == "Event":
            threading.Thread(target=self.invoke_async, args=(function, event), daemon=True).start()
            return b""
        invocation = self.invoke(function, event)
        if invocation.error is not None:
            response_headers["x-amz-function-error"] = "Unhandled"
        payload = json.dumps(_jsonable(invocation.error or invocation.result)).encode()
        response_headers["Content-Length"] = str(len(payload))
        return payload

    def _invoke_from_queue(self, function: str, event: dict[str, Any]) -> Invocation:
        return self.invoke(function, event, source="sqs")

    def invoke_async(self, function: str, event: dict[str, Any], *, source: str = "async") -> AsyncOutcome:
        """An asynchronous invoke: retries, then the destinations of the function's EventInvokeConfig."""
        logical_id = self.function_id(function)
        config = self._event_invoke_config(logical_id)
        retries = int(config.get("MaximumRetryAttempts", DEFAULT_ASYNC_RETRIES))
        outcome = AsyncOutcome(logical_id, event, [])
        for _ in range(retries + 1):
            invocation = self.invoke(logical_id, event, source=source)
            outcome.attempts.append(invocation)
            if invocation.error is None:
                break
        last = outcome.attempts[-1]
        if last.error is not None:
            dead_letter = self._dead_letter_target(logical_id)
            if dead_letter:
                self._send(dead_letter, event)
                outcome.dead_letter = dead_letter
        which = "OnSuccess" if last.error is None else "OnFailure"
        destination = config.get("DestinationConfig", {}).get(which, {}).get("Destination")
        if destination:
            outcome.destination = destination
            outcome.record = self._invocation_record(logical_id, event, outcome.attempts)
            outcome.downstream = self._send(destination, outcome.record)
        return outcome

    # --- DynamoDB streams -------------------------------------------------------------------

    def pump(self) -> list[Call]:
        """One pass over every enabled stream and queue mapping: deliver all records waiting,
        and the messages those invocations send to a queue. The calls made."""
        with self._lock:
            first = len(self.calls)
            for mapping in self.mappings:
                if mapping.enabled:
                    self._pump_mapping(mapping)
            for queue in self.queue_mappings:
                if queue.enabled:
                    self._sqs_poller.pump(queue)
            return self.calls[first:]

    def hurry_retries(self) -> None:
        """Queue messages that failed come back now, not after their visibility timeout."""
        with self._lock:
            for queue in self.queue_mappings:
                self._sqs_poller.hurry(queue)

    def start(self, interval: float = 1.0, on_calls: Callable[[list[Call]], None] | None = None) -> LocalLambda:
        """Pump in the background every `interval` seconds, as Lambda's pollers do."""

        def poll() -> None:
            while not self._stop.wait(interval):
                try:
                    calls = self.pump()
                except Exception as exc:  # keep polling: report and go on, as a poller would
                    print(f"stream poller: {exc!r}")
                    continue
                if calls and on_calls:
                    on_calls(calls)

        self._stop.clear()
        self._poller = threading.Thread(target=poll, name="stream-poller", daemon=True)
        self._poller.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=30)
            self._poller = None

    def close(self) -> None:
        self.stop()
        for name in self._functions.values():
            if _ROUTES.get(name) is self:
                del _ROUTES[name]
        with self._state:
            runtimes = [r for idle in self._idle.values() for r in idle] + self._busy
            self._idle.clear()
            self._busy.clear()
        for runtime in runtimes:
            runtime.stop()

    def __enter__(self) -> LocalLambda:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- one-time schedules ---------------------------------------------------------------------

    def run_schedules(self) -> list[AsyncOutcome]:
        """Fire every one-time schedule that targets a function of the stack, oldest first."""
        scheduler = self.stack.aws.client("scheduler")
        fired: list[AsyncOutcome] = []
        found = [
            scheduler.get_schedule(Name=entry["Name"], GroupName=entry.get("GroupName", "default"))
            for entry in scheduler.list_schedules().get("Schedules", [])
        ]
        for schedule in sorted(found, key=lambda s: str(s.get("ScheduleExpression", ""))):
            if not str(schedule.get("ScheduleExpression", "")).startswith("at("):
                continue
            target = schedule["Target"]
            try:
                function = self.function_id(target["Arn"])
            except KeyError:
                continue
            if schedule.get("ActionAfterCompletion") == "DELETE":
                scheduler.delete_schedule(Name=schedule["Name"], GroupName=schedule.get("GroupName", "default"))
            fired.append(self.invoke_async(function, json.loads(target.get("Input") or "{}"), source="scheduler"))
        return fired

    # --- alarms ---------------------------------------------------------------------------------

    def set_alarm_state(
        self, alarm: str, state: str, reason: str, reason_data: dict[str, Any] | None = None
    ) -> list[AlarmDelivery]:
        """Set an alarm's state (logical id or name) and deliver the state change event to the
        targets of the stack's EventBridge rules that match it."""
        name = self.stack.resources.get(alarm, alarm)
        cloudwatch = self.stack.aws.client("cloudwatch")
        (before,) = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        cloudwatch.set_alarm_state(
            AlarmName=name, StateValue=state, StateReason=reason, StateReasonData=json.dumps(reason_data or {})
        )
        (after,) = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        event = alarm_state_change_event(before, after, self._account, self._region)
        return self.put_event(event)

    def put_event(self, event: dict[str, Any]) -> list[AlarmDelivery]:
        """Deliver an event on the default bus to the targets of the stack's matching rules."""
        events = self.stack.aws.client("events")
        deliveries: list[AlarmDelivery] = []
        for logical_id, resource in self.stack.transformed.get("Resources", {}).items():
            if resource["Type"] != "AWS::Events::Rule" or logical_id not in self.stack.resources:
                continue
            rule = events.describe_rule(Name=self.stack.resources[logical_id])
            if rule.get("State") != "ENABLED" or not rule.get("EventPattern"):
                continue
            if not matches(rule["EventPattern"], event):
                continue
            for target in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]:
                payload = json.loads(target["Input"]) if target.get("Input") else event
                outcome = self._send(target["Arn"], payload, source="eventbridge")
                deliveries.append(AlarmDelivery(rule["Name"], target["Arn"], payload, outcome))
        return deliveries

    # --- internals --------------------------------------------------------------------------------

    @property
    def _region(self) -> str:
        from quotawatch_local.embedded_aws import REGION

        return REGION

    @property
    def _account(self) -> str:
        from quotawatch_local.embedded_aws import ACCOUNT_ID

        return ACCOUNT_ID

    def _function_names(self) -> dict[str, str]:
        return {
            logical_id: self.stack.resources[logical_id]
            for logical_id, resource in self.stack.transformed.get("Resources", {}).items()
            if resource["Type"] == "AWS::Lambda::Function" and logical_id in self.stack.resources
        }

    def _stream_mappings(self) -> list[StreamMapping]:
        client = self.stack.aws.client("lambda")
        mappings = []
        for logical_id, name in self._functions.items():
            for item in client.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]:
                uid = item["UUID"]
                config = client.get_event_source_mapping(UUID=uid)
                if ":dynamodb:" not in config["EventSourceArn"]:
                    continue
                mapping = StreamMapping(
                    uuid=uid,
                    function=logical_id,
                    stream_arn=config["EventSourceArn"],
                    batch_size=int(config.get("BatchSize", 100)),
                    filters=filter_criteria_patterns(config.get("FilterCriteria")),
                    bisect=bool(config.get("BisectBatchOnFunctionError", False)),
                    max_retries=int(config.get("MaximumRetryAttempts", -1)),
                    max_record_age=int(config.get("MaximumRecordAgeInSeconds", -1)),
                    report_item_failures="ReportBatchItemFailures" in config.get("FunctionResponseTypes", []),
                    on_failure=config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination"),
                    starting_position=config.get("StartingPosition", "TRIM_HORIZON"),
                    enabled=config.get("State", "Enabled") == "Enabled",
                )
                if mapping.starting_position == "LATEST":
                    self._skip_to_latest(mapping)
                mappings.append(mapping)
        return mappings

    def _queue_mappings(self) -> list[QueueMapping]:
        client = self.stack.aws.client("lambda")
        sqs = self.stack.aws.client("sqs")
        mappings = []
        for logical_id, name in self._functions.items():
            for item in client.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]:
                config = client.get_event_source_mapping(UUID=item["UUID"])
                if ":sqs:" not in config["EventSourceArn"]:
                    continue
                queue_url = sqs.get_queue_url(QueueName=config["EventSourceArn"].rsplit(":", 1)[-1])["QueueUrl"]
                mappings.append(queue_mapping(item["UUID"], logical_id, config, queue_url))
        return mappings

    def _skip_to_latest(self, mapping: StreamMapping) -> None:
        for shard_id in self._shards(mapping):
            records = self._read(mapping, shard_id)
            while records:
                mapping.checkpoints[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
                records = self._read(mapping, shard_id)

    def _shards(self, mapping: StreamMapping) -> list[str]:
        streams = self.stack.aws.client("dynamodbstreams")
        description = streams.describe_stream(StreamArn=mapping.stream_arn)["StreamDescription"]
        return [shard["ShardId"] for shard in description.get("Shards", [])]

    def _read(self, mapping: StreamMapping, shard_id: str) -> list[dict[str, Any]]:
        streams = self.stack.aws.client("dynamodbstreams")
        position: dict[str, str] = {"ShardIteratorType": "TRIM_HORIZON"}
        if shard_id in mapping.checkpoints:
            position = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": mapping.checkpoints[shard_id]}
        iterator = streams.get_shard_iterator(StreamArn=mapping.stream_arn, ShardId=shard_id, **position)
        response = streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=_READ_LIMIT)
        return list(response.get("Records", []))

    def _pump_mapping(self, mapping: StreamMapping) -> None:
        for shard_id in self._shards(mapping):
            while True:
                records = self._read(mapping, shard_id)
                if not records:
                    break
                try:
                    self._process(mapping, shard_id, records)
                except _Blocked as blocked:
                    self._checkpoint_before(mapping, shard_id, records, blocked.first_failed)
                    break
                mapping.checkpoints[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]

    def _process(self, mapping: StreamMapping, shard_id: str, records: list[dict[str, Any]]) -> None:
        """Filter, then batch what is left in order (filtered-out records are simply done)."""
        batch: list[dict[str, Any]] = []
        now = datetime.now(UTC).timestamp()
        for raw in records:
            record = lambda_stream_record(raw, mapping.stream_arn, self._region)
            if not matches_any(mapping.filters, record):
                continue
            age = now - float(record["dynamodb"].get("ApproximateCreationDateTime", now))
            if mapping.max_record_age >= 0 and age > mapping.max_record_age:
                self._flush(mapping, shard_id, batch)
                batch = []
                self._give_up(mapping, shard_id, [record], 0, "RecordAgeExceeded", function_error=False)
                continue
            batch.append(record)
            if len(batch) == mapping.batch_size:
                self._flush(mapping, shard_id, batch)
                batch = []
        self._flush(mapping, shard_id, batch)

    def _flush(self, mapping: StreamMapping, shard_id: str, batch: list[dict[str, Any]]) -> None:
        """Deliver one batch: retry what failed, bisect on a function error, give up after the retries."""
        work: list[tuple[list[dict[str, Any]], int]] = [(batch, 0)] if batch else []
        while work:
            records, retries = work.pop(0)
            invocation = self.invoke(mapping.function, {"Records": records}, source="stream")
            function_error = invocation.error is not None
            failed_from = 0 if function_error else self._first_failed(mapping, records, invocation.result)
            if failed_from is None:
                continue
            rest = records[failed_from:]
            if mapping.max_retries < 0 and retries >= 1:
                raise _Blocked(rest[0]["dynamodb"]["SequenceNumber"])
            if 0 <= mapping.max_retries <= retries:
                self._give_up(mapping, shard_id, rest, retries + 1, "RetryAttemptsExhausted", function_error)
                continue
            if function_error and mapping.bisect and len(rest) > 1:
                half = len(rest) // 2
                work[0:0] = [(rest[:half], retries + 1), (rest[half:], retries + 1)]
            else:
                work.insert(0, (rest, retries + 1))

    @staticmethod
    def _first_failed(mapping: StreamMapping, records: list[dict[str, Any]], result: Any) -> int | None:
        """Index of the first record to retry per the batchItemFailures reply, or None: all done.

        As Lambda: an itemIdentifier that is missing, empty or not in the batch fails the
        whole batch; a reply without batchItemFailures (or an empty list) is a success.
        """
        if not mapping.report_item_failures or not isinstance(result, dict):
            return None
        failures = result.get("batchItemFailures")
        if not failures:
            return None
        sequence_numbers = [r["dynamodb"]["SequenceNumber"] for r in records]
        indexes = []
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if identifier not in sequence_numbers:
                return 0
            indexes.append(sequence_numbers.index(identifier))
        return min(indexes)

    def _give_up(
        self,
        mapping: StreamMapping,
        shard_id: str,
        records: list[dict[str, Any]],
        invoke_count: int,
        condition: str,
        function_error: bool,
    ) -> None:
        if not mapping.on_failure:
            return
        arrivals = [_iso(float(r["dynamodb"]["ApproximateCreationDateTime"]), millis=False) for r in records]
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if function_error:
            response["functionError"] = "Unhandled"
        record = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.function_arn(mapping.function),
                "condition": condition,
                "approximateInvokeCount": invoke_count,
            },
            "responseContext": response,
            "version": "1.0",
            "timestamp": _iso(datetime.now(UTC).timestamp()),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": arrivals[0],
                "approximateArrivalOfLastRecord": arrivals[-1],
                "batchSize": len(records),
                "streamArn": mapping.stream_arn,
            },
        }
        self._send(mapping.on_failure, record)

    def _checkpoint_before(
        self, mapping: StreamMapping, shard_id: str, records: list[dict[str, Any]], first_failed: str
    ) -> None:
        sequence_numbers = [r["dynamodb"]["SequenceNumber"] for r in records]
        index = sequence_numbers.index(first_failed)
        if index > 0:
            mapping.checkpoints[shard_id] = sequence_numbers[index - 1]

    def _event_invoke_config(self, logical_id: str) -> dict[str, Any]:
        client = self.stack.aws.client("lambda")
        try:
            config: dict[str, Any] = client.get_function_event_invoke_config(FunctionName=self._functions[logical_id])
        except client.exceptions.ResourceNotFoundException:
            return {}
        return config

    def _dead_letter_target(self, logical_id: str) -> str | None:
        config = self.stack.aws.client("lambda").get_function_configuration(FunctionName=self._functions[logical_id])
        target = config.get("DeadLetterConfig", {}).get("TargetArn")
        return str(target) if target else None

    def _invocation_record(self, logical_id: str, event: dict[str, Any], attempts: list[Invocation]) -> dict[str, Any]:
        last = attempts[-1]
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if last.error is not None:
            response["functionError"] = "Unhandled"
            payload: Any = {
                "errorMessage": last.error.get("errorMessage", ""),
                "errorType": last.error.get("errorType", ""),
                "stackTrace": last.error.get("stackTrace", []),
            }
        else:
            payload = last.result
        return {
            "version": "1.0",
            "timestamp": _iso(datetime.now(UTC).timestamp()),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"{self.function_arn(logical_id)}:$LATEST",
                "condition": "Success" if last.error is None else "RetriesExhausted",
                "approximateInvokeCount": len(attempts),
            },
            "requestPayload": event,
            "responseContext": response,
            "responsePayload": payload,
        }

    def _send(self, arn: str, payload: dict[str, Any], *, source: str = "destination") -> AsyncOutcome | None:
        """Hand a record or an event to a destination or target, by the kind of its ARN."""
        service = arn.split(":")[2]
        body = json.dumps(payload, default=str)
        if service == "lambda":
            return self.invoke_async(arn, payload, source=source)
        if service == "sqs":
            sqs = self.stack.aws.client("sqs")
            queue_url = sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"]
            sqs.send_message(QueueUrl=queue_url, MessageBody=body)
            return None
        if service == "sns":
            self.stack.aws.client("sns").publish(TopicArn=arn, Message=body)
            return None
        raise NotImplementedError(f"the local Lambda service cannot deliver to {arn}")


# Function name -> the service that runs it; moto's LambdaBackend.invoke is patched once.
_ROUTES: dict[str, LocalLambda] = {}


def _serve_invokes() -> None:
    from moto.awslambda.models import LambdaBackend

    if getattr(LambdaBackend, "_quotawatch_routed", False):
        return
    original = LambdaBackend.invoke

    def invoke(
        backend: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
    ) -> Any:
        name = function_name.split(":")[6] if function_name.startswith("arn:") else function_name
        service = _ROUTES.get(name)
        if service is None:
            return original(backend, function_name, qualifier, body, headers, response_headers)
        return service._invoked(name, body, headers, response_headers)

    LambdaBackend.invoke = invoke  # type: ignore[method-assign,assignment]
    LambdaBackend._quotawatch_routed = True  # type: ignore[attr-defined]


def lambda_stream_record(raw: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A DynamoDB Streams record (as boto3 returns it) in the shape Lambda sends it to a function."""
    dynamodb = _jsonable(dict(raw["dynamodb"]))
    created = raw["dynamodb"].get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = float(int(created.timestamp()))
    return {
        "eventID": raw["eventID"],
        "eventName": raw["eventName"],
        "eventVersion": raw.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": raw.get("awsRegion", region),
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }


def alarm_state_change_event(
    before: dict[str, Any], after: dict[str, Any], account: str, region: str
) -> dict[str, Any]:
    """CloudWatch's "CloudWatch Alarm State Change" event for a metric alarm (describe_alarms items)."""

    def state(alarm: dict[str, Any]) -> dict[str, Any]:
        return {
            "value": alarm["StateValue"],
            "reason": alarm.get("StateReason", ""),
            "reasonData": alarm.get("StateReasonData", "{}"),
            "timestamp": _alarm_time(alarm.get("StateUpdatedTimestamp")),
        }

    metric: dict[str, Any] = {
        "metric": {
            "namespace": after.get("Namespace"),
            "name": after.get("MetricName"),
            "dimensions": {d["Name"]: d["Value"] for d in after.get("Dimensions", [])},
        },
        "period": after.get("Period"),
        "stat": after.get("Statistic"),
    }
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [after["AlarmArn"]],
        "detail": {
            "alarmName": after["AlarmName"],
            "state": state(after),
            "previousState": state(before),
            "configuration": {
                "description": after.get("AlarmDescription", ""),
                "metrics": [{"id": str(uuid.uuid4()), "metricStat": metric, "returnData": True}],
            },
        },
    }


def _alarm_time(value: Any) -> str:
    moment = value if isinstance(value, datetime) else datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _iso(epoch: float, *, millis: bool = True) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    if not millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _jsonable(value: Any) -> Any:
    """Attribute values as Lambda's JSON has them: binary as base64 text, numbers as text."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, datetime):
        return float(int(value.timestamp()))
    return value
