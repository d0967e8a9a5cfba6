"""DynamoDB: each monitor's snapshots, alert state and recent readings under one partition key.

pk = MON#<monitor>, and sk is one of:
- SNAP#<checked_at>  a snapshot, written once and never replaced (the history, with a TTL);
- STATE              the alert state of every signal, one attribute `signal#<key>` each;
- WINDOW             the recent readings in compact form (core/window.py), rewritten each run;
- MSG#<time>#v<version>#<signal>  a message to deliver (the table's stream feeds it to the
                     notify function, which records `sent#<channel>` on it per channel that
                     took it, the topic's `sent#topic` first, and lets it expire); a message
                     a silence holds carries `held_by` instead, and is never delivered (the
                     stream's filter leaves it out).
Silences (core/silences.py) are under their own partition, pk = SILENCES, sk = SIL#<id>:
a run reads them all with one query; each expires 30 days after it ends.

A run reads the STATE and WINDOW items of all its monitors by key, 100 to a BatchGetItem,
instead of one query per monitor over its snapshots; so does `quotawatch status` (and then
each monitor's newest snapshot, by the key its window names). `quotawatch history` queries
one monitor's snapshots and messages. Each signal's state changes with an
update conditional on that signal's version, in one transaction with the message item that
says so: two invocations racing on the same transition cannot both make it, and a change is
never stored without its message, nor a message without its change.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from math import isfinite
from typing import TYPE_CHECKING, Any

import msgspec
from botocore.exceptions import BotoCoreError, ClientError

from quotawatch.adapters.stored_silence import read_silence
from quotawatch.adapters.wire import batch_calls_fast
from quotawatch.core import window
from quotawatch.core.alerts import SignalState
from quotawatch.core.channels import Channel
from quotawatch.core.messages import Message
from quotawatch.core.record import MESSAGE_PREFIX, MonitorRecord, QueuedMessage, SentMessage, StoredMonitor
from quotawatch.core.rules import Level
from quotawatch.core.silences import Silence

if TYPE_CHECKING:
    from quotawatch.core.digest import FailedChecks
from quotawatch.core.snapshot import Snapshot, format_time, parse_time

log = logging.getLogger("quotawatch.store")

_BATCH_ATTEMPTS = 5
_ENCODE = msgspec.json.Encoder().encode
_WRITE_BATCH = 25  # DynamoDB's limit for BatchWriteItem
_READ_BATCH = 100  # and for BatchGetItem
_STATE, _WINDOW = "STATE", "WINDOW"
_SIGNAL = "signal#"  # prefix of a signal's attribute in the STATE item
_SILENCES, _SILENCE = "SILENCES", "SIL#"
SILENCE_KEPT = timedelta(days=30)  # how long an ended silence stays listed
_CONFIG, _CHANNELS, _CHANNEL = "CONFIG", "CHANNELS", "CHANNEL#"
_SENT_TO, _FAILED_AT, _GAVE_UP = "sent#", "failed#", "gaveup#"
_SELF = "QuotaWatch"  # core/self_messages.py SELF_MONITOR


def _pk(monitor: str) -> str:
    return f"MON#{monitor}"


class DynamoStore:
    monitors_per_read = _READ_BATCH // 2  # a STATE and a WINDOW key each
    monitors_per_write = _WRITE_BATCH // 2  # a snapshot and a window each

    def __init__(self, client: Any, table_name: str, retention_days: int = 400) -> None:
        self._client = client
        batch_calls_fast(client)  # the batch calls written and read by msgspec (adapters/wire.py)
        self.table_name = table_name
        self._retention = timedelta(days=retention_days)

    def _expires_at(self, checked_at: datetime) -> dict[str, str]:
        return {"N": str(int((checked_at + self._retention).timestamp()))}

    def _snapshot_item(self, snapshot: Snapshot) -> dict[str, Any]:
        return {
            "pk": {"S": _pk(snapshot.monitor)},
            "sk": {"S": f"SNAP#{format_time(snapshot.checked_at)}"},
            "snapshot": {"S": _snapshot_text(snapshot)},
            "ok": {"BOOL": snapshot.ok},
            "expires_at": self._expires_at(snapshot.checked_at),
        }

    def _window_item(self, monitor: str, encoded: bytes) -> dict[str, Any]:
        return {
            "pk": {"S": _pk(monitor)},
            "sk": {"S": _WINDOW},
            "readings": {"B": encoded},  # compressed (core/window.py, format 2)
            # Gone with the snapshots once a monitor is no longer checked.
            "expires_at": self._expires_at(datetime.now(UTC)),
        }

    def put_snapshots(self, snapshots: list[Snapshot], windows: Mapping[str, bytes]) -> set[str]:
        """Store a run's snapshots and each monitor's new window (encoded), 25 items to a call;
        the monitors whose items could not be stored (the others are).

        A snapshot's key is its monitor and time, so writing it again (a retried run) only
        rewrites the same reading. Windows are written unconditionally: should two runs of
        different ticks overlap, the later write wins and the window misses one reading,
        which the snapshots still hold. A call that fails whole (one item DynamoDB refuses
        fails the batch) is written again item by item, so one bad item costs only its monitor.
        """
        items = [(s.monitor, self._snapshot_item(s)) for s in snapshots]
        items += [(monitor, self._window_item(monitor, encoded)) for monitor, encoded in windows.items()]
        failed: set[str] = set()
        for start in range(0, len(items), _WRITE_BATCH):
            chunk = items[start : start + _WRITE_BATCH]
            batch = {self.table_name: [{"PutRequest": {"Item": item}} for _, item in chunk]}
            try:
                for _ in _until_processed(self._client.batch_write_item, batch, "UnprocessedItems"):
                    pass
            except (ClientError, BotoCoreError, UnprocessedLeft) as exc:
                log.warning("a batch of %d items failed (%s); writing them one by one", len(chunk), _reason(exc))
                failed |= self._put_each(chunk)
        return failed

    def _put_each(self, chunk: list[tuple[str, dict[str, Any]]]) -> set[str]:
        failed: set[str] = set()
        for monitor, item in chunk:
            try:
                self._client.put_item(TableName=self.table_name, Item=item)
            except (ClientError, BotoCoreError) as exc:
                log.error("cannot store %s of monitor %s (%s)", item["sk"]["S"], monitor, _reason(exc))
                failed.add(monitor)
        return failed

    def load(self, monitors: Iterable[str], history: bool = True, consistent: bool = True) -> dict[str, MonitorRecord]:
        """The alert states and (with `history`) the stored window of each monitor.

        Strongly consistent for a run: a state written by the previous run must be seen.
        """
        records = {monitor: MonitorRecord() for monitor in monitors}
        sort_keys = (_STATE, _WINDOW) if history else (_STATE,)
        keys = [{"pk": {"S": _pk(m)}, "sk": {"S": sk}} for m in records for sk in sort_keys]
        for item in self._get_items(keys, consistent):
            record = records[item["pk"]["S"].removeprefix("MON#")]
            if item["sk"]["S"] == _STATE:
                record.states = _stored_states(item)
            else:
                stored = item.get("readings", {})  # B since format 2; S was format 1, read once
                record.window = stored.get("B", stored.get("S", ""))
        return records

    def _get_items(self, keys: list[dict[str, Any]], consistent: bool = True) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for start in range(0, len(keys), _READ_BATCH):
            batch = {self.table_name: {"Keys": keys[start : start + _READ_BATCH], "ConsistentRead": consistent}}
            for response in _until_processed(self._client.batch_get_item, batch, "UnprocessedKeys"):
                items += response.get("Responses", {}).get(self.table_name, [])
        return items

    def read_monitors(self, monitors: Iterable[str]) -> dict[str, StoredMonitor]:
        """Each monitor's states, window and newest snapshots, all read by key in batches.

        First the STATE and WINDOW items (50 monitors to a call), then the newest snapshot
        each window names and, where that one failed, the newest that worked (100 to a
        call). Eventually consistent, half the price of the run's reads: a person's look
        may miss a write of the last second. A window that cannot be read costs a query
        of that monitor's snapshots instead.
        """
        ids = list(dict.fromkeys(monitors))
        records = self.load(ids, consistent=False)
        windows: dict[str, list[Snapshot]] = {}
        wanted: dict[str, tuple[str, ...]] = {}
        for monitor, record in records.items():
            readings = self._readings(monitor, record.window)
            windows[monitor] = readings
            good = next((r for r in readings if r.error is None), None)
            wanted[monitor] = tuple(
                dict.fromkeys(format_time(r.checked_at) or "" for r in (readings[:1] + ([good] if good else [])))
            )
        keys = [{"pk": {"S": _pk(m)}, "sk": {"S": f"SNAP#{at}"}} for m, times in wanted.items() for at in times]
        full: dict[tuple[str, str], Snapshot] = {}
        for item in self._get_items(keys, consistent=False):
            snapshot = Snapshot.from_dict(json.loads(item["snapshot"]["S"]))
            full[(snapshot.monitor, format_time(snapshot.checked_at) or "")] = snapshot
        result: dict[str, StoredMonitor] = {}
        for monitor in ids:
            found = [full[(monitor, at)] for at in wanted[monitor] if (monitor, at) in full]
            latest = found[0] if found else None
            last_good = next((s for s in found if s.error is None), None)
            result[monitor] = StoredMonitor(records[monitor].states, windows[monitor], latest, last_good)
        return result

    def _readings(self, monitor: str, encoded: str | bytes | None) -> list[Snapshot]:
        if encoded is None:
            return []  # never checked (or not since its readings expired)
        try:
            return window.decode(encoded, monitor)
        except window.BadWindow as exc:
            log.warning("%s; reading its snapshots instead", exc)
            return self.recent_snapshots(monitor)

    def snapshots_since(self, monitor: str, since: datetime) -> list[Snapshot]:
        """Every snapshot of one monitor from `since` on, oldest first: one query (paged)."""
        items = self._query(monitor, f"SNAP#{format_time(since)}", "SNAP#~", "#snapshot", {"#snapshot": "snapshot"})
        return [Snapshot.from_dict(json.loads(i["snapshot"]["S"])) for i in items]

    def failed_checks_since(self, monitors: Iterable[str], since: datetime) -> dict[str, FailedChecks]:
        """How many checks of each monitor failed from `since` on, and the last one's time
        (the daily digest): one query of its snapshot keys each (16 at once), paged, that
        returns only the failed ones. Monitors without a failure are left out."""
        from quotawatch.core.digest import FailedChecks  # the digest's alone: not at a check's cold start

        ids = list(dict.fromkeys(monitors))
        with ThreadPoolExecutor(max_workers=16) as pool:
            failed = dict(zip(ids, pool.map(lambda monitor: self._failed_keys(monitor, since), ids), strict=True))
        return {
            monitor: FailedChecks(len(keys), parse_time(max(keys).removeprefix("SNAP#")))
            for monitor, keys in failed.items()
            if keys
        }

    def _failed_keys(self, monitor: str, since: datetime) -> list[str]:
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
            "FilterExpression": "#ok = :failed",
            "ExpressionAttributeValues": {
                ":pk": {"S": _pk(monitor)},
                ":low": {"S": f"SNAP#{format_time(since)}"},
                ":high": {"S": "SNAP#~"},
                ":failed": {"BOOL": False},
            },
            "ExpressionAttributeNames": {"#ok": "ok"},
            "ProjectionExpression": "sk",
        }
        keys: list[str] = []
        while True:
            response = self._client.query(**request)
            keys += [item["sk"]["S"] for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                return keys
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def messages_since(self, monitor: str, since: datetime) -> list[SentMessage]:
        """The message items of one monitor decided from `since` on, oldest first. A sent
        message is kept as long as the readings (the store's retention)."""
        items = self._query(
            monitor,
            f"{MESSAGE_PREFIX}{format_time(since)}",
            f"{MESSAGE_PREFIX}~",
            "sk, #signal, #message, sent_at, #topic, held_by",
            {"#signal": "signal", "#message": "message", "#topic": _SENT_TO + "topic"},  # reserved words
        )
        found: list[SentMessage] = []
        for item in items:
            key = item["sk"]["S"]
            try:
                message = Message.from_dict(json.loads(item["message"]["S"]))
                decided_at = parse_time(key.removeprefix(MESSAGE_PREFIX).split("#", 1)[0])
            except (KeyError, TypeError, ValueError):
                log.warning("message %s of monitor %s cannot be read; left out", key, monitor)
                continue
            # The topic's record: "<time> <receipt>" (`sent_at` on items of earlier versions).
            sent = item.get("sent_at", item.get(_SENT_TO + "topic", {})).get("S", "").split(" ", 1)[0]
            signal = item.get("signal", {}).get("S", "")
            held = item.get("held_by", {}).get("S")
            found.append(SentMessage(signal, decided_at, message, parse_time(sent) if sent else None, held))
        return found

    def _query(self, monitor: str, low: str, high: str, projection: str, names: dict[str, str]) -> list[dict[str, Any]]:
        """Items of one monitor with low <= sk <= high, oldest first, every page."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
            "ExpressionAttributeValues": {":pk": {"S": _pk(monitor)}, ":low": {"S": low}, ":high": {"S": high}},
            "ProjectionExpression": projection,
            "ExpressionAttributeNames": names,
        }
        items: list[dict[str, Any]] = []
        while True:
            response = self._client.query(**request)
            items += response.get("Items", [])
            if "LastEvaluatedKey" not in response:
                return items
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

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

    def commit(self, monitor: str, state: SignalState, expected_version: int, queued: QueuedMessage | None) -> bool:
        """Store a signal's new state, and the message about it in the same transaction, only
        if nobody changed the signal since `expected_version` was read. False when another
        run made this change first (nothing is written then)."""
        update = self._state_update(monitor, state, expected_version)
        try:
            if queued is None:
                self._client.update_item(**update)
            else:
                self._client.transact_write_items(
                    TransactItems=[{"Update": update}, {"Put": self._message_put(queued)}]
                )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def queue(self, queued: QueuedMessage) -> bool:
        """Store a message that changes no state (a test alert); False when already stored."""
        try:
            self._client.put_item(**self._message_put(queued))
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def _state_update(self, monitor: str, state: SignalState, expected_version: int) -> dict[str, Any]:
        value: dict[str, Any] = {
            "level": {"S": state.level.label},
            "since": {"S": format_time(state.since)},
            "version": {"N": str(state.version)},
        }
        if state.notified_at is not None:
            value["notified_at"] = {"S": format_time(state.notified_at)}
        if state.held_by is not None and state.held_until is not None:
            value["held_by"] = {"S": state.held_by}
            value["held_until"] = {"S": format_time(state.held_until)}
        values: dict[str, Any] = {":state": {"M": value}}
        if expected_version == 0:
            condition = "attribute_not_exists(#signal)"
        else:
            condition = "#signal.version = :expected"
            values[":expected"] = {"N": str(expected_version)}
        return {
            "TableName": self.table_name,
            "Key": {"pk": {"S": _pk(monitor)}, "sk": {"S": _STATE}},
            "UpdateExpression": "SET #signal = :state",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#signal": _SIGNAL + state.key},
            "ExpressionAttributeValues": values,
        }

    def _message_put(self, queued: QueuedMessage) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": {"S": _pk(queued.monitor)},
            "sk": {"S": queued.key},
            "signal": {"S": queued.signal},
            "message": {"S": json.dumps(queued.message.to_dict(), separators=(",", ":"))},
        }
        if queued.held_by is not None:  # never delivered: it expires like a sent one
            item["held_by"] = {"S": queued.held_by}
            item["expires_at"] = self._expires_at(datetime.now(UTC))
        return {"TableName": self.table_name, "Item": item, "ConditionExpression": "attribute_not_exists(sk)"}

    def silences(self) -> list[Silence]:
        """Every stored silence (those that ended in the last 30 days too): one strongly
        consistent query, once a run. A silence that cannot be read is left out, logged."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": _SILENCES}},
            "ConsistentRead": True,
        }
        found: list[Silence] = []
        while True:
            response = self._client.query(**request)
            for item in response.get("Items", []):
                try:
                    found.append(read_silence(item["silence"]["S"]))
                except (KeyError, TypeError, ValueError) as exc:
                    log.warning("silence %s cannot be read (%s); left out", item.get("sk", {}).get("S"), exc)
            if "LastEvaluatedKey" not in response:
                return found
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def put_silence(self, silence: Silence, replace: bool = False) -> bool:
        """Store a new silence (`replace`: an existing one, changed); False when the id is
        taken (new) or gone (replace)."""
        item: dict[str, Any] = {
            "pk": {"S": _SILENCES},
            "sk": {"S": _SILENCE + silence.id},
            "silence": {"S": json.dumps(silence.to_dict(), separators=(",", ":"))},
        }
        if silence.until is not None:
            item["expires_at"] = {"N": str(int((silence.until + SILENCE_KEPT).timestamp()))}
        try:
            self._client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_exists(sk)" if replace else "attribute_not_exists(sk)",
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    # -- Channels (quotawatch/delivery) ------------------------------------------------------
    # CONFIG / CHANNELS: the channel definitions of monitors.yaml (no secrets), written by the
    # check function when they change, read by the notify function (which has no monitors.yaml).
    # On a message item: `sent#<channel>` once that channel (the topic: `sent#topic`) accepted
    # it, `failed#<channel>` (the last error, masked) while it has not, `gaveup#<channel>`
    # once its attempts ran out. MON#QuotaWatch / CHANNEL#<name>: the channel's failures in a row.

    def put_channels(self, channels: Sequence[Channel]) -> bool:
        """Store the channel definitions unless they are stored already; True when written."""
        encoded = json.dumps([c.to_dict() for c in channels], separators=(",", ":"), sort_keys=True)
        digest = hashlib.blake2b(encoded.encode(), digest_size=12).hexdigest()
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": _CONFIG}, "sk": {"S": _CHANNELS}},
                UpdateExpression="SET channels = :c, digest = :d",
                ConditionExpression="attribute_not_exists(digest) OR digest <> :d",
                ExpressionAttributeValues={":c": {"S": encoded}, ":d": {"S": digest}},
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def channels(self) -> list[Channel]:
        """The stored channel definitions (none before the first check run with the file)."""
        response = self._client.get_item(TableName=self.table_name, Key={"pk": {"S": _CONFIG}, "sk": {"S": _CHANNELS}})
        item = response.get("Item")
        if not item:
            return []
        return [Channel.from_dict(entry) for entry in json.loads(item["channels"]["S"])]

    def message_item(self, monitor: str, key: str) -> dict[str, Any] | None:
        """A message item as the stream's image shows it (plain values), None when it is gone."""
        response = self._client.get_item(
            TableName=self.table_name, Key={"pk": {"S": _pk(monitor)}, "sk": {"S": key}}, ConsistentRead=True
        )
        item = response.get("Item")
        if item is None:
            return None
        return {name: next(iter(value.values())) for name, value in item.items()}

    def channels_done(self, monitor: str, key: str) -> set[str] | None:
        """The channels that took this message or were given up on; None when its item is
        gone (long sent). An item of an earlier version with `sent_at` went to the topic."""
        item = self.message_item(monitor, key)
        if item is None:
            return None
        done = {name.split("#", 1)[1] for name in item if name.startswith((_SENT_TO, _GAVE_UP))}
        return done | {"topic"} if "sent_at" in item else done

    def record_channel(self, monitor: str, key: str, channel: str, at: datetime, receipt: str) -> None:
        """Say `channel` took the message; the item expires with the readings of its time
        (the retention), so history shows every alert beside the readings that raised it."""
        self._update_message(monitor, key, "#sent", channel, f"{format_time(at)} {receipt}", at)

    def give_up_channel(self, monitor: str, key: str, channel: str, at: datetime, reason: str) -> None:
        self._update_message(monitor, key, "#gaveup", channel, f"{format_time(at)} {reason}", at)

    def record_channel_failure(self, monitor: str, key: str, channel: str, at: datetime, error: str) -> None:
        self._update_message(monitor, key, "#failed", channel, f"{format_time(at)} {error}")

    def _update_message(
        self, monitor: str, key: str, attribute: str, channel: str, value: str, expires: datetime | None = None
    ) -> None:
        names = {"#failed": _FAILED_AT + channel, "#sent": _SENT_TO + channel, "#gaveup": _GAVE_UP + channel}
        names = {name: names[name] for name in {"#failed", attribute}}
        values = {":v": {"S": value}}
        expression = f"SET {attribute} = :v"
        if expires is not None:  # done with this channel: the failure goes, the item expires
            expression += ", expires_at = :expires REMOVE #failed"
            values[":expires"] = self._expires_at(expires)
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": _pk(monitor)}, "sk": {"S": key}},
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(pk)",  # never bring back an expired item
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise

    def channel_failed(self, channel: str) -> int:
        """Count one more failure in a row of `channel`; the count now."""
        return self._failures(channel, "ADD failures :n", "1", "UPDATED_NEW")

    def incident_open(self, channel: str, key: str) -> bool:
        """Whether `channel` (PagerDuty) triggered the incident `key` and has not resolved it."""
        response = self._client.get_item(
            TableName=self.table_name,
            Key={"pk": {"S": _pk(_SELF)}, "sk": {"S": _CHANNEL + channel}},
            ConsistentRead=True,
            ProjectionExpression="incidents",
        )
        return key in response.get("Item", {}).get("incidents", {}).get("SS", [])

    def incident_opened(self, channel: str, key: str, is_open: bool) -> None:
        """Note that `channel` triggered (True) or resolved (False) the incident `key`."""
        self._client.update_item(
            TableName=self.table_name,
            Key={"pk": {"S": _pk(_SELF)}, "sk": {"S": _CHANNEL + channel}},
            UpdateExpression=("ADD" if is_open else "DELETE") + " incidents :key",
            ExpressionAttributeValues={":key": {"SS": [key]}},
        )

    def channel_worked(self, channel: str) -> int:
        """Reset `channel`'s failures in a row; how many there were."""
        return self._failures(channel, "SET failures = :n", "0", "UPDATED_OLD")

    def _failures(self, channel: str, expression: str, n: str, returns: str) -> int:
        response = self._client.update_item(
            TableName=self.table_name,
            Key={"pk": {"S": _pk(_SELF)}, "sk": {"S": _CHANNEL + channel}},
            UpdateExpression=expression,
            ExpressionAttributeValues={":n": {"N": n}},
            ReturnValues=returns,
        )
        return int(response.get("Attributes", {}).get("failures", {}).get("N", "0"))


class UnreadableMessage(ValueError):
    """A message item the stream brought cannot be read (damaged, or from another version)."""

    def __init__(self, monitor: str, key: str, reason: str) -> None:
        super().__init__(f"message {key} of monitor {monitor} cannot be read: {reason}")
        self.monitor, self.key = monitor, key


def queued_from_image(image: Mapping[str, Any]) -> QueuedMessage:
    """The message of a stream record's new image (attribute values already plain)."""
    monitor = str(image.get("pk", "")).removeprefix("MON#")
    key = str(image.get("sk", ""))
    try:
        message = Message.from_dict(json.loads(str(image["message"])))
    except (KeyError, TypeError, ValueError) as exc:
        raise UnreadableMessage(monitor, key, type(exc).__name__) from None
    held = image.get("held_by")
    return QueuedMessage(monitor, str(image.get("signal", "")), key, message, str(held) if held else None)


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
    raise UnprocessedLeft(f"DynamoDB still left part of a batch unprocessed after {_BATCH_ATTEMPTS} attempts")


class UnprocessedLeft(RuntimeError):
    """A batch call still left items unprocessed after every attempt (throttled)."""


def _snapshot_text(snapshot: Snapshot) -> str:
    """The snapshot's JSON, as json.dumps writes it: by msgspec, twice as fast for one item a
    monitor a run, unless a figure is not a finite int or float (msgspec writes null for
    NaN, json NaN) or the text is not ASCII (json escapes it). A float past 1e16 or under 1e-4 is written 1e16
    where json writes 1e+16: the same number to any reader."""
    data = snapshot.to_dict()
    plain = all(
        value is None or value.__class__ is int or (value.__class__ is float and isfinite(value))
        for meter in snapshot.meters
        for value in (meter.used, meter.limit, meter.remaining)
    )
    if plain:
        text = _ENCODE(data).decode()
        if text.isascii():
            return text
    return json.dumps(data, separators=(",", ":"))


def _stored_states(item: dict[str, Any]) -> dict[str, SignalState]:
    return {
        name.removeprefix(_SIGNAL): _stored_state(name.removeprefix(_SIGNAL), value["M"])
        for name, value in item.items()
        if name.startswith(_SIGNAL)
    }


def _stored_state(key: str, value: dict[str, Any]) -> SignalState:
    notified = value.get("notified_at", {}).get("S")
    held_until = value.get("held_until", {}).get("S")
    return SignalState(
        key=key,
        level=Level.parse(value["level"]["S"]),
        since=parse_time(value["since"]["S"]),
        version=int(value["version"]["N"]),
        notified_at=parse_time(notified) if notified else None,
        held_by=value.get("held_by", {}).get("S"),
        held_until=parse_time(held_until) if held_until else None,
    )


def _reason(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "ClientError")
    return type(exc).__name__


def _conditional_failed(exc: ClientError) -> bool:
    """A condition refused the write: on its own, or as the reason a transaction was cancelled."""
    error = exc.response.get("Error", {}).get("Code")
    if error == "ConditionalCheckFailedException":
        return True
    if error != "TransactionCanceledException":
        return False
    reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
    if not reasons:  # some clients put the reasons only in the message
        return "ConditionalCheckFailed" in str(exc.response.get("Error", {}).get("Message", ""))
    return "ConditionalCheckFailed" in reasons and all(r in ("ConditionalCheckFailed", "None", None) for r in reasons)
