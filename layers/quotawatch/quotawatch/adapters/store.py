"""DynamoDB: snapshots and alert state of each monitor under one partition key.

pk = MON#<monitor>; sk = SNAP#<checked_at> for snapshots, STATE#<signal> for alert state.
Snapshots are written once and never replaced; state changes are conditional on a version,
so two invocations racing on the same transition cannot both claim it. A state item also
carries the messages about it that are not published yet (its outbox): a failed publish
is retried by the next run, and nothing is lost.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from quotawatch.core.alerts import SignalState
from quotawatch.core.messages import Message
from quotawatch.core.outbox import StoredState
from quotawatch.core.rules import Level
from quotawatch.core.snapshot import Snapshot, format_time, parse_time

_BATCH_ATTEMPTS = 5


def _pk(monitor: str) -> str:
    return f"MON#{monitor}"


class DynamoStore:
    def __init__(self, client: Any, table_name: str, retention_days: int = 400) -> None:
        self._client = client
        self.table_name = table_name
        self._retention = timedelta(days=retention_days)

    def _snapshot_item(self, snapshot: Snapshot) -> dict[str, Any]:
        expires = int((snapshot.checked_at + self._retention).timestamp())
        return {
            "pk": {"S": _pk(snapshot.monitor)},
            "sk": {"S": f"SNAP#{format_time(snapshot.checked_at)}"},
            "snapshot": {"S": json.dumps(snapshot.to_dict(), separators=(",", ":"))},
            "ok": {"BOOL": snapshot.ok},
            "expires_at": {"N": str(expires)},
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

    def put_snapshots(self, snapshots: list[Snapshot]) -> None:
        """Store a run's snapshots, 25 to a call (DynamoDB's batch size)."""
        requests = [{"PutRequest": {"Item": self._snapshot_item(s)}} for s in snapshots]
        for start in range(0, len(requests), 25):
            pending: dict[str, Any] = {self.table_name: requests[start : start + 25]}
            for attempt in range(_BATCH_ATTEMPTS):
                unprocessed = self._client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                if not unprocessed:
                    break
                pending = unprocessed  # throttled: retry what was left, with a short backoff
                time.sleep(min(0.05 * 2**attempt, 1.0))
            else:
                raise RuntimeError(f"DynamoDB kept {len(pending[self.table_name])} snapshots unprocessed")

    def load(self, monitor: str, history: int = 96) -> tuple[dict[str, StoredState], list[Snapshot]]:
        """A monitor's alert states and its recent snapshots (newest first) in one query.

        Sort keys descend STATE# > SNAP#, so the states come first, then the history.
        """
        states: dict[str, StoredState] = {}
        snapshots: list[Snapshot] = []
        args: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": _pk(monitor)}},
            "ScanIndexForward": False,
            "ConsistentRead": True,  # a state written by the previous run must be seen
            "Limit": history + 64,  # room for every state item before the snapshots
        }
        while True:
            response = self._client.query(**args)
            for item in response.get("Items", []):
                sk = item["sk"]["S"]
                if sk.startswith("STATE#"):
                    states[sk.removeprefix("STATE#")] = _stored_state(item)
                elif sk.startswith("SNAP#") and len(snapshots) < history:
                    snapshots.append(Snapshot.from_dict(json.loads(item["snapshot"]["S"])))
            last = response.get("LastEvaluatedKey")
            if not last or len(snapshots) >= history:
                return states, snapshots
            args["ExclusiveStartKey"] = last

    def recent_snapshots(self, monitor: str, limit: int = 96) -> list[Snapshot]:
        """Newest first: a day of readings at the default 15 minutes, enough for a burn rate.

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
        item: dict[str, Any] = {
            "pk": {"S": _pk(monitor)},
            "sk": {"S": f"STATE#{state.key}"},
            "level": {"S": state.level.label},
            "since": {"S": format_time(state.since)},
            "version": {"N": str(state.version)},
        }
        if state.notified_at is not None:
            item["notified_at"] = {"S": format_time(state.notified_at)}
        if stored.outbox:
            item["outbox"] = {"S": json.dumps([m.to_dict() for m in stored.outbox], separators=(",", ":"))}
        if stored.lease is not None:
            item["lease"] = {"S": format_time(stored.lease)}
        if expected_version == 0:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(sk)"}
        else:
            condition = {
                "ConditionExpression": "version = :expected",
                "ExpressionAttributeValues": {":expected": {"N": str(expected_version)}},
            }
        try:
            self._client.put_item(TableName=self.table_name, Item=item, **condition)
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True


def _stored_state(item: dict[str, Any]) -> StoredState:
    notified = item.get("notified_at", {}).get("S")
    lease = item.get("lease", {}).get("S")
    return StoredState(
        SignalState(
            key=item["sk"]["S"].removeprefix("STATE#"),
            level=Level.parse(item["level"]["S"]),
            since=parse_time(item["since"]["S"]),
            version=int(item["version"]["N"]),
            notified_at=parse_time(notified) if notified else None,
        ),
        outbox=tuple(Message.from_dict(m) for m in json.loads(item.get("outbox", {}).get("S", "[]"))),
        lease=parse_time(lease) if lease else None,
    )


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
