"""What a person's look costs: `quotawatch status` over N monitors and `history` of one.

The table is filled as after days of checks (each monitor with its alert state, a full
window and its newest snapshot; one monitor with 30 days of snapshots every 15 minutes and
a few messages), then status and history read it through the real store, timed. DynamoDB's
read units are counted from what each call read, as DynamoDB bills them: eventually
consistent, half a unit per 4 KB, by item for BatchGetItem and by the query's total for
Query. moto reports a flat figure per call, so it is not asked.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from quotawatch_view.history import History

from bench.cost import DYNAMODB_READ_UNIT, PRICES_DATED
from quotawatch.adapters.store import DynamoStore
from quotawatch.config import Monitor
from quotawatch.core import window
from quotawatch.core.alerts import SignalState
from quotawatch.core.messages import Message
from quotawatch.core.record import QueuedMessage
from quotawatch.core.rules import Level
from quotawatch.core.snapshot import Snapshot
from quotawatch.core.status import status_rows

# A query's items come back with its projection only; DynamoDB bills the whole item. What
# the projection leaves out of a snapshot item: pk, sk, ok and expires_at, about this much.
QUERY_ITEM_OVERHEAD = 64
HISTORY_DAYS = 30


@dataclass
class ReadMeter:
    """A DynamoDB client that counts the calls made through it and the read units they cost."""

    client: Any
    item_bytes: Callable[[dict[str, Any]], int]
    calls: Counter[str] = field(default_factory=Counter)
    units: float = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def batch_get_item(self, **request: Any) -> Any:
        response = self.client.batch_get_item(**request)
        self.calls["BatchGetItem"] += 1
        for items in response.get("Responses", {}).values():
            self.units += sum(0.5 * math.ceil(max(self.item_bytes(i), 1) / 4096) for i in items)
        return response

    def query(self, **request: Any) -> Any:
        response = self.client.query(**request)
        self.calls["Query"] += 1
        size = sum(self.item_bytes(i) + QUERY_ITEM_OVERHEAD for i in response.get("Items", []))
        self.units += 0.5 * max(1, math.ceil(size / 4096))
        return response


def fill(
    store: DynamoStore, ids: list[str], full_window: Callable[[str, datetime], list[Snapshot]], newest: datetime
) -> None:
    """Each monitor: a full window, its newest snapshot (as the check writes them) and an alert state."""
    snapshots, windows = [], {}
    for monitor in ids:
        readings = full_window(monitor, newest)
        windows[monitor] = window.encode(readings)
        newest_reading = readings[0]
        units = {"calls": "calls", "failed_jobs": "jobs"}
        meters = tuple(replace(m, unit=units.get(m.name, "bytes")) for m in newest_reading.meters)
        snapshots.append(replace(newest_reading, meters=meters))
    store.put_snapshots(snapshots, windows)
    for monitor in ids:
        store.commit(monitor, SignalState("meter:calls", Level.WARNING, newest, 1, newest), 0, None)


def fill_history(store: DynamoStore, monitor: str, readings: list[Snapshot]) -> None:
    """30 days of one monitor's snapshots, and a message a week."""
    store.put_snapshots(readings, {})
    for i, reading in enumerate(readings[:: 4 * 24 * 7]):
        message = Message("[WARNING] x", "body " * 80, "sms", "warning", monitor, "cloudlayer", "alert")
        store.queue(QueuedMessage.for_decision(monitor, "meter:calls", i + 1, reading.checked_at, message))


@dataclass(frozen=True)
class Read:
    seconds: float
    units: float
    calls: dict[str, int]

    @property
    def dollars(self) -> float:
        return self.units * DYNAMODB_READ_UNIT


def timed(
    client: Any,
    table: str,
    item_bytes: Callable[[dict[str, Any]], int],
    work: Callable[[DynamoStore], object],
    repeat: int = 3,
) -> Read:
    """The median wall time of `work` and the read units and calls of one go."""
    seconds, meter = [], ReadMeter(client, item_bytes)
    for run in range(repeat):
        meter = ReadMeter(client, item_bytes)
        store = DynamoStore(meter, table)
        started = time.perf_counter()
        work(store)
        seconds.append(time.perf_counter() - started)
        del run
    return Read(statistics.median(seconds), meter.units, dict(meter.calls))


def bench_reads(
    client: Any,
    table: str,
    n: int,
    full_window: Callable[[str, datetime], list[Snapshot]],
    item_bytes: Callable[[dict[str, Any]], int],
    newest: datetime,
) -> dict[str, Read]:
    print(f"Reading: `quotawatch status` over N = {n:,} monitors, `quotawatch history` of one ({HISTORY_DAYS} days)")
    ids = [f"look-{i:05d}" for i in range(n)]
    store = DynamoStore(client, table)
    fill(store, ids, full_window, newest)
    every_quarter = [
        replace(reading, checked_at=newest - timedelta(minutes=15 * i))
        for i, reading in enumerate([full_window("look-history", newest)[0]] * (HISTORY_DAYS * 96))
    ]
    fill_history(store, "look-history", every_quarter)
    monitors = [Monitor(id=m, provider="cloudlayer", secret_field=m) for m in ids]
    since = newest - timedelta(days=HISTORY_DAYS)

    def status(reader: DynamoStore) -> object:
        return status_rows(monitors, reader.read_monitors(ids))

    def history(reader: DynamoStore) -> object:
        return History("look-history", since, reader.snapshots_since("look-history", since),
                       reader.messages_since("look-history", since))  # fmt: skip

    figures = {"status": timed(client, table, item_bytes, status), "history": timed(client, table, item_bytes, history)}
    stored = store.read_monitors(ids)
    started = time.perf_counter()
    status_rows(monitors, stored)
    rows_seconds = time.perf_counter() - started
    for name, read in figures.items():
        calls = ", ".join(f"{count} {call}" for call, count in sorted(read.calls.items()))
        print(
            f"  {name:<8} {read.seconds:6.2f} s (median of 3), {read.units:,.1f} read units ({calls}),"
            f" ${read.dollars:.6f} a call at {PRICES_DATED} prices"
        )
    print(
        f"  status: {rows_seconds:.2f} s of it turn what was read into rows (forecasts from each window);"
        " the rest is moto answering the batches"
    )
    print(f"  status reads by key only: no Scan, no Query of snapshots ({n:,} monitors' STATE, WINDOW and newest SNAP)")
    print()
    return figures
