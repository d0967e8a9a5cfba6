"""DynamoDB: each monitor's snapshots, alert state and recent readings under one partition key.

pk = MON#<monitor>, and sk is one of:
- SNAP#<checked_at>  a snapshot, written once and never replaced (the history, with a TTL);
- STATE              the alert state of every signal, one attribute `signal#<key>` each;
- WINDOW             the recent readings in compact form (core/window.py), rewritten each run.

A run reads the STATE and WINDOW items of all its monitors by key, 100 to a BatchGetItem,
instead of one query per monitor over its snapshots. Each signal's state changes with an
update conditional on that signal's version, so two invocations racing on the same
transition cannot both claim it. A signal's state also carries the messages about it that
are not published yet (its outbox): a failed publish is retried by the next run, and
nothing is lost.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from quotawatch.core import window
from quotawatch.core.alerts import SignalState
from quotawatch.core.messages import Message
from quotawatch.core.outbox import MonitorRecord, StoredState
from quotawatch.core.rules import Level
from quotawatch.core.snapshot import Snapshot, format_time, parse_time

_BATCH_ATTEMPTS = 5
_WRITE_BATCH = 25  # DynamoDB's limit for BatchWriteItem
_READ_BATCH = 100  # and for BatchGetItem
_STATE, _WINDOW = "STATE", "WINDOW"
_SIGNAL = "signal#"  # prefix of a signal's attribute in the STATE item


def _pk(monitor: str) -> str:
    return f"MON#{monitor}"


class DynamoStore:
    monitors_per_read = _READ_BATCH // 2  # a STATE and a WINDOW key each
    monitors_per_write = _WRITE_BATCH // 2  # a snapshot and a window each

    def __init__(self, client: Any, table_name: str, retention_days: int = 400) -> None:
        self._client = client
        self.table_name = table_name
        self._retention = timedelta(days=retention_days)

    def _expires_at(self, checked_at: datetime) -> dict[str, str]:
        return {"N": str(int((checked_at + self._retention).timestamp()))}

    def _snapshot_item(self, snapshot: Snapshot) -> dict[str, Any]:
        return {
            "pk": {"S": _pk(snapshot.monitor)},
            "sk": {"S": f"SNAP#{format_time(snapshot.checked_at)}"},
            "snapshot": {"S": json.dumps(snapshot.to_dict(), separators=(",", ":"))},
            "ok": {"BOOL": snapshot.ok},
            "expires_at": self._expires_at(snapshot.checked_at),
        }

    def _window_item(self, monitor: str, encoded: str) -> dict[str, Any]:
        return {
            "pk": {"S": _pk(monitor)},
            "sk": {"S": _WINDOW},
            "readings": {"S": encoded},
            # Gone with the snapshots once a monitor is no longer checked.
            "expires_at": self._expires_at(datetime.now(UTC)),
        }

    def claim_run(self, tick: datetime) -> bool:
        """Claim a schedule tick for this run; False when another run already has it.

        One conditional write per run is what makes a duplicate delivery of a tick (or a
        retry of it) harmless, and what lets the snapshots go out in unconditional batches.
        """
        try:
            self._client.put_item(
                TableName=self.table_name,
                Item={
                    "pk": {"S": "RUN"},
                    "sk": {"S": format_time(tick)},
                    "expires_at": {"N": str(int((tick + timedelta(days=2)).timestamp()))},
                },
                ConditionExpression="attribute_not_exists(sk)",
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def put_snapshots(self, snapshots: list[Snapshot], windows: Mapping[str, str]) -> None:
        """Store a run's snapshots and each monitor's new window (encoded), 25 items to a call.

        The run has claimed its tick, so no other run writes these snapshots. Windows are
        written unconditionally: should two runs of different ticks overlap, the later
        write wins and the window misses one reading, which the snapshots still hold.
        """
        items = [self._snapshot_item(s) for s in snapshots]
        items += [self._window_item(monitor, encoded) for monitor, encoded in windows.items()]
        requests = [{"PutRequest": {"Item": item}} for item in items]
        for start in range(0, len(requests), _WRITE_BATCH):
            batch = {self.table_name: requests[start : start + _WRITE_BATCH]}
            for _ in _until_processed(self._client.batch_write_item, batch, "UnprocessedItems"):
                pass

    def load(self, monitors: Iterable[str], history: bool = True) -> dict[str, MonitorRecord]:
        """The alert states and (with `history`) the stored window of each monitor.

        Strongly consistent: a state written by the previous run must be seen.
        """
        records = {monitor: MonitorRecord() for monitor in monitors}
        sort_keys = (_STATE, _WINDOW) if history else (_STATE,)
        keys = [{"pk": {"S": _pk(m)}, "sk": {"S": sk}} for m in records for sk in sort_keys]
        for item in self._get_items(keys):
            record = records[item["pk"]["S"].removeprefix("MON#")]
            if item["sk"]["S"] == _STATE:
                record.states = _stored_states(item)
            else:
                record.window = item.get("readings", {}).get("S", "")
        return records

    def _get_items(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for start in range(0, len(keys), _READ_BATCH):
            batch = {self.table_name: {"Keys": keys[start : start + _READ_BATCH], "ConsistentRead": True}}
            for response in _until_processed(self._client.batch_get_item, batch, "UnprocessedKeys"):
                items += response.get("Responses", {}).get(self.table_name, [])
        return items

    def recent_snapshots(self, monitor: str, limit: int = window.WINDOW_SIZE) -> list[Snapshot]:
        """The newest snapshots, newest first: the history of a monitor without a window.

        Eventually consistent (half the price): the newest snapshot, which this run wrote,
        is the one the caller already holds.
        """
        response = self._client.query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :snap)",
            ExpressionAttributeValues={":pk": {"S": _pk(monitor)}, ":snap": {"S": "SNAP#"}},
            ProjectionExpression="#snapshot",
            ExpressionAttributeNames={"#snapshot": "snapshot"},  # a reserved word in DynamoDB
            ScanIndexForward=False,
            Limit=limit,
        )
        return [Snapshot.from_dict(json.loads(i["snapshot"]["S"])) for i in response.get("Items", [])]

    def write_state(self, monitor: str, stored: StoredState, expected_version: int) -> bool:
        """Write a signal's state only if nobody changed it since `expected_version` was read."""
        state = stored.state
        value: dict[str, Any] = {
            "level": {"S": state.level.label},
            "since": {"S": format_time(state.since)},
            "version": {"N": str(state.version)},
        }
        if state.notified_at is not None:
            value["notified_at"] = {"S": format_time(state.notified_at)}
        if stored.outbox:
            value["outbox"] = {"S": json.dumps([m.to_dict() for m in stored.outbox], separators=(",", ":"))}
        if stored.lease is not None:
            value["lease"] = {"S": format_time(stored.lease)}
        values: dict[str, Any] = {":state": {"M": value}}
        if expected_version == 0:
            condition = "attribute_not_exists(#signal)"
        else:
            condition = "#signal.version = :expected"
            values[":expected"] = {"N": str(expected_version)}
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": _pk(monitor)}, "sk": {"S": _STATE}},
                UpdateExpression="SET #signal = :state",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#signal": _SIGNAL + state.key},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True


def _until_processed(
    call: Callable[..., dict[str, Any]], pending: dict[str, Any], leftover: str
) -> Iterator[dict[str, Any]]:
    """Each response of a batch call, asking again (with a short backoff) for what DynamoDB
    left unprocessed under `leftover`: throttled, or past a size limit."""
    for attempt in range(_BATCH_ATTEMPTS):
        if attempt:
            time.sleep(min(0.05 * 2 ** (attempt - 1), 1.0))
        response = call(RequestItems=pending)
        yield response
        pending = response.get(leftover) or {}
        if not pending:
            return
    raise RuntimeError(f"DynamoDB still left part of a batch unprocessed after {_BATCH_ATTEMPTS} attempts")


def _stored_states(item: dict[str, Any]) -> dict[str, StoredState]:
    return {
        name.removeprefix(_SIGNAL): _stored_state(name.removeprefix(_SIGNAL), value["M"])
        for name, value in item.items()
        if name.startswith(_SIGNAL)
    }


def _stored_state(key: str, value: dict[str, Any]) -> StoredState:
    notified = value.get("notified_at", {}).get("S")
    lease = value.get("lease", {}).get("S")
    return StoredState(
        SignalState(
            key=key,
            level=Level.parse(value["level"]["S"]),
            since=parse_time(value["since"]["S"]),
            version=int(value["version"]["N"]),
            notified_at=parse_time(notified) if notified else None,
        ),
        outbox=tuple(Message.from_dict(m) for m in json.loads(value.get("outbox", {}).get("S", "[]"))),
        lease=parse_time(lease) if lease else None,
    )


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
