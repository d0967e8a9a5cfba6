"""DynamoDB: snapshots and alert state of each monitor under one partition key.

pk = MON#<monitor>; sk = SNAP#<checked_at> for snapshots, STATE#<signal> for alert state.
Snapshots are written once and never replaced; state changes are conditional on a version,
so two invocations racing on the same transition cannot both claim it.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from quotawatch.core.alerts import SignalState
from quotawatch.core.rules import Level
from quotawatch.core.snapshot import Snapshot, format_time, parse_time


def _pk(monitor: str) -> str:
    return f"MON#{monitor}"


class DynamoStore:
    def __init__(self, client: Any, table_name: str, retention_days: int = 400) -> None:
        self._client = client
        self.table_name = table_name
        self._retention = timedelta(days=retention_days)

    def put_snapshot(self, snapshot: Snapshot) -> bool:
        """Store a snapshot; False when one already exists for that monitor and second."""
        checked_at = format_time(snapshot.checked_at)
        expires = int((snapshot.checked_at + self._retention).timestamp())
        item = {
            "pk": {"S": _pk(snapshot.monitor)},
            "sk": {"S": f"SNAP#{checked_at}"},
            "snapshot": {"S": json.dumps(snapshot.to_dict(), separators=(",", ":"))},
            "ok": {"BOOL": snapshot.ok},
            "expires_at": {"N": str(expires)},
        }
        try:
            self._client.put_item(TableName=self.table_name, Item=item, ConditionExpression="attribute_not_exists(sk)")
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def recent_snapshots(self, monitor: str, limit: int = 50) -> list[Snapshot]:
        """Newest first."""
        response = self._client.query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :snap)",
            ExpressionAttributeValues={":pk": {"S": _pk(monitor)}, ":snap": {"S": "SNAP#"}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [Snapshot.from_dict(json.loads(i["snapshot"]["S"])) for i in response.get("Items", [])]

    def states(self, monitor: str) -> dict[str, SignalState]:
        response = self._client.query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :state)",
            ExpressionAttributeValues={":pk": {"S": _pk(monitor)}, ":state": {"S": "STATE#"}},
            ConsistentRead=True,
        )
        states: dict[str, SignalState] = {}
        for item in response.get("Items", []):
            key = item["sk"]["S"].removeprefix("STATE#")
            states[key] = SignalState(
                key=key,
                level=Level.parse(item["level"]["S"]),
                since=parse_time(item["since"]["S"]),
                version=int(item["version"]["N"]),
            )
        return states

    def claim_transition(self, monitor: str, state: SignalState, expected_version: int) -> bool:
        """Write the new state only if nobody changed it since we read it."""
        if expected_version == 0:
            condition = "attribute_not_exists(sk)"
            values: dict[str, Any] = {}
        else:
            condition = "version = :expected"
            values = {":expected": {"N": str(expected_version)}}
        try:
            self._client.put_item(
                TableName=self.table_name,
                Item={
                    "pk": {"S": _pk(monitor)},
                    "sk": {"S": f"STATE#{state.key}"},
                    "level": {"S": state.level.label},
                    "since": {"S": format_time(state.since)},
                    "version": {"N": str(state.version)},
                },
                ConditionExpression=condition,
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
