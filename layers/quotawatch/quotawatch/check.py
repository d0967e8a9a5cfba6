"""One check run: for each monitor, fetch, normalise, store, evaluate, notify on change.

Depends on narrow interfaces, not on boto3 or requests, so it runs the same against AWS,
the embedded AWS of the local platform, or in-memory fakes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from quotawatch.adapters.clock import SystemClock
from quotawatch.config import ConfigProblem, Monitor
from quotawatch.core import window
from quotawatch.core.alerts import decide
from quotawatch.core.messages import render
from quotawatch.core.outbox import MonitorRecord, StoredState
from quotawatch.core.rules import CHECK_KEY, Evaluation, Level, evaluate
from quotawatch.core.snapshot import ErrorKind, Snapshot
from quotawatch.fetching import fetch_snapshot
from quotawatch.ports import Clock, JsonFetcher, KeyStore, Notifier, Store
from quotawatch.providers import get_provider

log = logging.getLogger("quotawatch.check")


@dataclass
class CheckDeps:
    keys: KeyStore
    http: JsonFetcher
    store: Store
    notifier: Notifier
    clock: Clock  # the time a run speaks for: its schedule tick
    # Real time, for leases on undelivered messages: runs race in real time, whatever ticks
    # they speak for (a delayed retry of an old tick can overlap the next tick's run).
    wall: Clock = field(default_factory=SystemClock)


@dataclass
class MonitorOutcome:
    """What happened to one monitor, as the function's result reports it."""

    monitor: str
    provider: str
    status: str  # "ok" | "error" | "skipped" (the tick was already checked)
    error_kind: str | None = None
    message: str | None = None
    levels: dict[str, str] = field(default_factory=dict)
    notified: list[dict[str, str]] = field(default_factory=list)
    snapshot: Snapshot | None = None
    window: str | None = None  # the recent readings with this one (encoded), to store
    duplicate: bool = False  # this tick was already checked by an earlier delivery

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {"monitor": self.monitor, "provider": self.provider, "status": self.status}
        if self.error_kind:
            result["error"] = {"kind": self.error_kind, "message": self.message}
        result["levels"] = self.levels
        result["notified"] = self.notified
        if self.duplicate:
            result["duplicate"] = True
        return result


DEFAULT_CONCURRENCY = 64


def run_check(
    monitors: tuple[Monitor, ...],
    problems: tuple[ConfigProblem, ...],
    deps: CheckDeps,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> list[MonitorOutcome]:
    """Check all monitors concurrently on a bounded pool; outcomes in the monitors' order.

    Checks wait on providers' HTTP answers, so threads overlap them well. Each check has
    its own timeouts and catches its own failures: a slow or broken provider holds one
    worker, never the others.
    """
    outcomes = [MonitorOutcome(p.monitor, "?", "error", ErrorKind.CONFIG.value, p.message) for p in problems]
    for problem in problems:
        log.error(problem.message, extra={"monitor": problem.monitor, "error_kind": "config"})
    if not monitors:
        return outcomes
    tick = deps.clock.now()
    if not deps.store.claim_run(tick):
        # The scheduler delivered this tick twice, or retried it: the first run speaks for it.
        log.warning("tick %s was already checked; nothing more to do", tick)
        return outcomes + [
            MonitorOutcome(m.id, m.provider, "skipped", message="tick already checked", duplicate=True)
            for m in monitors
        ]
    workers = max(1, min(concurrency, len(monitors)))
    ids = [m.id for m in monitors]
    per_read = deps.store.monitors_per_read
    sink = _SnapshotSink(deps.store)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="check") as pool:
        # The reads go first on the pool, one batched call for each slice of monitors, and
        # overlap with the providers' answers: a check waits only for its own slice.
        reads = [pool.submit(deps.store.load, ids[i : i + per_read]) for i in range(0, len(ids), per_read)]

        def check(index: int, monitor: Monitor) -> MonitorOutcome:
            outcome = _contained_check(monitor, deps, lambda: reads[index // per_read].result()[monitor.id])
            sink.add(outcome)
            return outcome

        checked = list(pool.map(check, range(len(monitors)), monitors))
    sink.flush()
    return outcomes + checked


class _SnapshotSink:
    """Stores snapshots and windows while the other checks still wait on their providers, a
    full write call at a time. The tick is this run's, so no snapshot can be overwritten."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._pending: list[MonitorOutcome] = []

    def add(self, outcome: MonitorOutcome) -> None:
        if outcome.snapshot is None:
            return
        with self._lock:
            self._pending.append(outcome)
            if len(self._pending) < self._store.monitors_per_write:
                return
            batch, self._pending = self._pending, []
        self._write(batch)

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            self._write(batch)

    def _write(self, batch: list[MonitorOutcome]) -> None:
        snapshots = [o.snapshot for o in batch if o.snapshot is not None]
        self._store.put_snapshots(snapshots, {o.monitor: o.window for o in batch if o.window is not None})


def _contained_check(monitor: Monitor, deps: CheckDeps, read: Callable[[], MonitorRecord]) -> MonitorOutcome:
    try:
        return check_monitor(monitor, deps, read)
    except Exception as exc:  # one monitor's bug never stops the others
        log.exception("check of monitor %s failed unexpectedly", monitor.id)
        return MonitorOutcome(
            monitor.id,
            monitor.provider,
            "error",
            "internal",
            f"{monitor.id}: unexpected {type(exc).__name__}; see the function log",
        )


def check_monitor(monitor: Monitor, deps: CheckDeps, read: Callable[[], MonitorRecord] | None = None) -> MonitorOutcome:
    """Fetch, evaluate and alert for one monitor. `read` gives what is stored about it (by
    default a read of its own); the caller stores the snapshot and `outcome.window`."""
    provider = get_provider(monitor.provider)
    checked_at = deps.clock.now()
    if provider is None:
        snapshot = Snapshot.failed(
            monitor.id,
            monitor.provider,
            checked_at,
            ErrorKind.CONFIG,
            f"{monitor.id}: unknown provider '{monitor.provider}'",
        )
    else:
        snapshot = fetch_snapshot(monitor, provider, deps.keys, deps.http, checked_at)

    if snapshot.error is None:
        outcome = MonitorOutcome(monitor.id, monitor.provider, "ok", snapshot=snapshot)
    else:
        log.error(snapshot.error.message, extra={"monitor": monitor.id, "error_kind": snapshot.error.kind.value})
        outcome = MonitorOutcome(
            monitor.id, monitor.provider, "error", snapshot.error.kind.value, snapshot.error.message, snapshot=snapshot
        )

    record = read() if read is not None else deps.store.load([monitor.id])[monitor.id]
    states = record.states
    history, trimmed = _history(monitor.id, record, deps.store)
    outcome.window = window.encode(window.roll(snapshot, history, trimmed=trimmed))
    # Messages an earlier run could not publish go out first, in order.
    pending = [stored for stored in states.values() if stored.awaits_delivery(deps.wall.now())]
    for stored in pending:
        _take_over_and_deliver(monitor.id, stored, deps, deps.wall.now(), outcome)
    if pending:
        # Delivering moved those states on (version, outbox): decide from what is stored now.
        states = deps.store.load([monitor.id], history=False)[monitor.id].states

    previous = {key: stored.state.level for key, stored in states.items()}
    evaluation = evaluate(snapshot, history, monitor.thresholds_for, previous, monitor.policy)
    # Every signal's level; the check signal only when it is raised, as it is news then.
    outcome.levels = {s.key: s.level.label for s in evaluation.signals if s.key != CHECK_KEY or s.level is not Level.OK}
    display = provider.display_name if provider else monitor.provider
    _act_on(monitor, snapshot, evaluation, states, display, deps, outcome)
    return outcome


def _history(monitor_id: str, record: MonitorRecord, store: Store) -> tuple[list[Snapshot], bool]:
    """The recent readings from the stored window, else (none yet, or damaged) from the
    snapshots; and whether they are already in window form."""
    if record.window is not None:
        try:
            return window.decode(record.window, monitor_id), True
        except window.BadWindow as exc:  # the snapshots it summarises are intact
            log.warning("%s; reading its snapshots instead", exc, extra={"monitor": monitor_id})
    return store.recent_snapshots(monitor_id), False


def _act_on(
    monitor: Monitor,
    snapshot: Snapshot,
    evaluation: Evaluation,
    states: dict[str, StoredState],
    display: str,
    deps: CheckDeps,
    outcome: MonitorOutcome,
) -> None:
    """Claim each state change the evaluation calls for, then publish what it says."""
    current = {key: stored.state for key, stored in states.items()}
    checked_at = snapshot.checked_at
    for decision in decide(evaluation.signals, current, checked_at, monitor.policy, evaluation.speaks_for):
        before = states.get(decision.state.key)
        if before is not None and before.outbox and not before.awaits_delivery(deps.wall.now()):
            # Another run is publishing this signal's queue right now: changing the state
            # would publish its messages twice. The next run decides this change.
            log.info("%s %s is being delivered by another run; deciding next run", monitor.id, decision.state.key)
            continue
        outbox = before.outbox if before else ()
        message = render(decision, snapshot, display, evaluation.trends) if decision.notice else None
        if message is not None:
            outbox = (*outbox, message)
        claim = StoredState(decision.state, outbox, lease=deps.wall.now() if outbox else None)
        if not deps.store.write_state(monitor.id, claim, decision.expected_version):
            log.info("change of %s %s already made by another run", monitor.id, decision.state.key)
            continue
        if outbox:
            _deliver(monitor.id, claim, deps, outcome)


def _take_over_and_deliver(
    monitor_id: str, stored: StoredState, deps: CheckDeps, now: datetime, outcome: MonitorOutcome
) -> None:
    state = stored.state
    claim = StoredState(replace(state, version=state.version + 1), stored.outbox, lease=now)
    if deps.store.write_state(monitor_id, claim, state.version):
        _deliver(monitor_id, claim, deps, outcome)


def _deliver(monitor_id: str, claim: StoredState, deps: CheckDeps, outcome: MonitorOutcome) -> None:
    """Publish the outbox in order; keep what failed for the next run, and release the lease."""
    sent = 0
    for message in claim.outbox:
        try:
            message_id = deps.notifier.publish(message)
        except Exception as exc:  # kept in the outbox: the next run publishes it
            log.error(
                "publishing %r failed (%s); it stays queued for the next run",
                message.subject,
                type(exc).__name__,
                extra={"monitor": monitor_id},
            )
            break
        sent += 1
        outcome.notified.append(
            {
                "signal": claim.state.key,
                "kind": message.kind,
                "severity": message.severity,
                "subject": message.subject,
                "sms": message.sms,
                "message_id": message_id,
            }
        )
    state = claim.state
    settled = StoredState(replace(state, version=state.version + 1), claim.outbox[sent:], lease=None)
    if not deps.store.write_state(monitor_id, settled, state.version):
        log.warning("state of %s %s changed while publishing", monitor_id, state.key)
