"""The daily digest, end to end: read how every monitor stands, render it, queue it once.

The digest schedule invokes the check function with {"digest": true}. It reads what a run
reads, by key in batches (the STATE and WINDOW items, then the newest snapshots), counts
each monitor's failed checks of the last day (one query each), and stores one message item
of "QuotaWatch itself" keyed by the day (core/digest.py): a duplicate event, a retry or a
second invoke on the same day stores nothing, so nothing is sent twice. The notify function
delivers it like any message (at least once).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from quotawatch.config import Monitor, MonitorsConfig
from quotawatch.core.digest import FAILURES_OVER, DigestInput, FailedChecks, queued_digest, silence_lines
from quotawatch.core.record import MonitorRecord, QueuedMessage, StoredMonitor
from quotawatch.core.rules import Level
from quotawatch.core.self_messages import SELF_MONITOR
from quotawatch.core.silences import Silence, in_force
from quotawatch.core.status import status_rows, with_silences


class DigestStore(Protocol):
    def read_monitors(self, monitors: Iterable[str]) -> dict[str, StoredMonitor]: ...

    def load(self, monitors: Iterable[str], history: bool = ...) -> dict[str, MonitorRecord]: ...

    def failed_checks_since(self, monitors: Iterable[str], since: datetime) -> dict[str, FailedChecks]: ...

    def queue(self, queued: QueuedMessage) -> bool: ...

    def silences(self) -> list[Silence]: ...


@dataclass(frozen=True)
class DigestOutcome:
    queued: QueuedMessage
    stored: bool  # False: this day's digest was stored before (nothing new to send)


def watched(config: MonitorsConfig) -> list[Monitor]:
    """The monitors a run checks: the enabled ones, and those the file could not describe
    (they are checked as failed readings, so the digest lists them too)."""
    return [*config.enabled, *(Monitor(id=p.monitor, provider="unknown", secret_field="") for p in config.problems)]


def queue_digest(
    config: MonitorsConfig,
    store: DigestStore,
    at: datetime,
    zone: ZoneInfo,
    schedule: str = "",
) -> DigestOutcome:
    monitors = watched(config)
    ids = [m.id for m in monitors]
    silences = in_force(store.silences(), at)
    rows = with_silences(status_rows(monitors, store.read_monitors(ids)), silences, at)
    failures: Mapping[str, FailedChecks] = store.failed_checks_since(ids, at - FAILURES_OVER)
    itself = {
        signal: state
        for signal, state in store.load([SELF_MONITOR], history=False)[SELF_MONITOR].states.items()
        if state.level is not Level.OK
    }
    lines = silence_lines(silences, at, zone)
    budgets = {(m.id, meter): limit for m in config.enabled for meter, limit in m.meter_limits.items()}
    queued = queued_digest(DigestInput(at, zone, rows, failures, itself, lines, schedule, budgets))
    return DigestOutcome(queued, store.queue(queued))
