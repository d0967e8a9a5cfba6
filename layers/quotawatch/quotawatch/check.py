"""One check run: for each monitor, fetch, normalise, store, evaluate, and decide what to say.

Depends on the ports (ports.py) only, so it runs the same against AWS, the embedded AWS of
the local platform, or in-memory fakes. Messages are not sent here: each decision is stored
with its message in one transaction, and delivery (quotawatch/delivery, the notify function) sends
what was stored. A check never waits on a channel.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from quotawatch.config import ConfigProblem, Monitor
from quotawatch.core.alerts import decide
from quotawatch.core.messages import render
from quotawatch.core.record import MonitorRecord, QueuedMessage
from quotawatch.core.rules import CHECK_KEY, Evaluation, Level, evaluate
from quotawatch.core.silences import Planned, Silence, plan
from quotawatch.core.snapshot import ErrorKind, Snapshot
from quotawatch.core.window import BadWindow, Window
from quotawatch.fetching import Fetch, fetch_snapshot_async
from quotawatch.ports import Clock, HttpAnswer, HttpRequest, JsonFetcher, KeyStore, LoopFetcher, SilenceSource, Store
from quotawatch.providers import get_provider

if TYPE_CHECKING:
    import asyncio

log = logging.getLogger("quotawatch.check")


@dataclass
class CheckDeps:
    keys: KeyStore
    http: JsonFetcher
    store: Store
    clock: Clock  # the time a run speaks for: its schedule tick
    silences: SilenceSource | None = None  # where the silences are (none: nothing is ever held)


@dataclass
class MonitorOutcome:
    """What happened to one monitor, as the function's result reports it."""

    monitor: str
    provider: str
    status: str  # "ok" | "waiting" (for its key) | "error" | "unreached" (left when the run had to stop)
    error_kind: str | None = None
    message: str | None = None
    levels: dict[str, str] = field(default_factory=dict)
    queued: list[dict[str, str]] = field(default_factory=list)  # messages decided, for delivery
    snapshot: Snapshot | None = None
    window: bytes | None = None  # the recent readings with this one (encoded), to store

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {"monitor": self.monitor, "provider": self.provider, "status": self.status}
        if self.error_kind:
            result["error"] = {"kind": self.error_kind, "message": self.message}
        result["levels"] = self.levels
        result["queued"] = self.queued
        return result

    @property
    def needs_attention(self) -> bool:
        """Failed, not reached, a message decided, or a signal raised."""
        return (
            self.status not in ("ok", "waiting")
            or bool(self.queued)
            or any(level != "ok" for level in self.levels.values())
        )

    def fail(self, kind: ErrorKind, message: str) -> None:
        """A later step failed: the outcome says so, whatever the reading said."""
        self.status, self.error_kind, self.message = "error", kind.value, message


class ReadingsNotStored(Exception):
    """No reading of the run could be stored: the run failed, and Lambda should retry it."""


DEFAULT_CONCURRENCY = 64
# Threads for the store's batched reads and writes and the state changes' transactions,
# beside the loop: they go out while the loop goes on with the other monitors.
STORE_THREADS = 4


def run_check(
    monitors: tuple[Monitor, ...],
    problems: tuple[ConfigProblem, ...],
    deps: CheckDeps,
    concurrency: int = DEFAULT_CONCURRENCY,
    *,
    should_stop: Callable[[], bool] | None = None,
) -> list[MonitorOutcome]:
    """Check all monitors concurrently, at most `concurrency` at once; outcomes in the monitors' order.

    Checks wait on providers' HTTP answers: they wait together on one event loop, the HTTP
    client's (a sync JsonFetcher's fetches go to as many threads instead). Each check has
    its own timeouts and catches its own failures: a slow or broken provider holds one
    check, never the others. What follows a fetch (evaluate, decide) runs on the loop; the
    store's batched reads and writes, and each state change's transaction, go to a few
    threads beside it, so that a run raising many alerts at once still fetches meanwhile. A monitor the
    monitors file could not describe is checked as a failed reading of kind `config`, so it
    raises its own "cannot monitor" signal.
    When `should_stop` says so (the invocation nears its timeout), checks not yet started
    are left: their outcomes say "unreached", with no reading, for the caller to hand on.
    Raises ReadingsNotStored when no reading could be stored at all.
    """
    jobs = [_Job.for_problem(p) for p in problems] + [_Job(m) for m in monitors]
    if not jobs:
        return []
    import asyncio  # on the first run, not at the handler's cold import

    workers = max(1, min(concurrency, len(jobs)))
    run = _Run(jobs, deps, workers, should_stop)
    if isinstance(deps.http, LoopFetcher):
        outcomes = deps.http.run(run.checked(deps.http.fetch_async))
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="fetch") as threads:
            outcomes = asyncio.run(run.checked(_in_threads(deps.http, threads)))
    if run.sink.stored == 0 and run.sink.failed:
        raise ReadingsNotStored(f"none of the {len(run.sink.failed)} readings of this run could be stored")
    return [
        outcome if outcome is not None else MonitorOutcome(job.monitor.id, job.monitor.provider, "unreached")
        for job, outcome in zip(jobs, outcomes, strict=True)
    ]


def _in_threads(http: JsonFetcher, threads: ThreadPoolExecutor) -> Fetch:
    import asyncio

    async def fetch(request: HttpRequest) -> HttpAnswer:
        return await asyncio.get_running_loop().run_in_executor(threads, http.fetch, request)

    return fetch


class _Run:
    """One run's monitors, checked by `workers` coroutines that each take the next monitor."""

    def __init__(self, jobs: list[_Job], deps: CheckDeps, workers: int, should_stop: Callable[[], bool] | None) -> None:
        self.jobs, self.deps, self.workers, self.should_stop = jobs, deps, workers, should_stop
        self.per_read = deps.store.monitors_per_read
        ids = [job.monitor.id for job in jobs]
        self.reads = [_SliceRead(deps.store, ids[i : i + self.per_read]) for i in range(0, len(ids), self.per_read)]
        self.sink = _SnapshotSink(deps.store)
        self.outcomes: list[MonitorOutcome | None] = [None] * len(jobs)
        # Checks whose readings are in, to decide together (`_decide_ready`).
        self.ready: list[
            tuple[_Job, Snapshot, Callable[[], MonitorRecord], asyncio.Future[tuple[MonitorOutcome, _Changes | None]]]
        ] = []

    async def checked(self, fetch: Fetch) -> list[MonitorOutcome | None]:
        import asyncio

        silences = read_silences(self.deps)
        taken = iter(range(len(self.jobs)))
        writes: list[asyncio.Future[None]] = []
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="store") as store:

            async def work() -> None:
                for index in taken:  # one loop: taking the next monitor needs no lock
                    if self.should_stop is not None and self.should_stop():
                        return
                    job, read = self.jobs[index], self.reads[index // self.per_read]
                    loaded = read.start(store)  # the slice's batched read goes out before this check's fetch
                    snapshot = await _contained_reading(job, self.deps, fetch)
                    await loaded
                    if not self.ready:  # one call decides all that are in by the loop's next iteration
                        loop.call_soon(self._decide_ready, silences)
                    record = partial(read.record, job.monitor.id)
                    self.ready.append((job, snapshot, record, decided := loop.create_future()))
                    outcome, changes = await decided
                    if changes is not None:  # a state change (rare): its transaction waits in a store thread
                        await loop.run_in_executor(store, _stored, changes, self.deps.store, outcome)
                    self.outcomes[index] = outcome
                    batch = self.sink.add(outcome)
                    if batch:
                        writes.append(loop.run_in_executor(store, self.sink.write, batch))

            await asyncio.gather(*(work() for _ in range(self.workers)))
            await asyncio.gather(*writes)
            last = self.sink.take()
            if last:
                await loop.run_in_executor(store, self.sink.write, last)
        return self.outcomes

    def _decide_ready(self, silences: list[Silence] | None) -> None:
        """Decide the checks whose readings are in, back to back on the loop, then wake them.
        In a row, not each between the HTTP client's callbacks, a warm run of 1,000 costs
        about 0.13 ms a monitor less (0.08 to 0.18; 3 to 5 checks a call), most of it on the
        loop around the core rather than in it (bench/stages.py, docs/benchmarks.md)."""
        batch, self.ready = self.ready, []
        for job, snapshot, record, decided in batch:
            if decided.cancelled():  # its check was cancelled: nothing waits for it
                continue
            try:
                decided.set_result(_decided(job, self.deps, snapshot, record, silences))
            except Exception as exc:  # the worker raises it, as it did deciding itself
                decided.set_exception(exc)


class _SliceRead:
    """One batched read of a slice of monitors, made once by whichever check needs it first."""

    def __init__(self, store: Store, ids: list[str]) -> None:
        self._store, self._ids = store, ids
        self._records: dict[str, MonitorRecord] = {}
        self._error: Exception | None = None
        self._loaded: asyncio.Future[None] | None = None

    def start(self, threads: ThreadPoolExecutor) -> asyncio.Future[None]:
        import asyncio

        if self._loaded is None:  # the others of the slice wait for the one read
            self._loaded = asyncio.get_running_loop().run_in_executor(threads, self._load)
        return self._loaded

    def _load(self) -> None:
        try:
            self._records = self._store.load(self._ids)
        except Exception as exc:  # each check of the slice reports it as its own failure
            self._error = exc

    def record(self, monitor_id: str) -> MonitorRecord:
        if self._error is not None:
            raise self._error
        return self._records[monitor_id]


@dataclass(frozen=True)
class _Job:
    monitor: Monitor
    problem: ConfigProblem | None = None

    @classmethod
    def for_problem(cls, problem: ConfigProblem) -> _Job:
        return cls(Monitor(id=problem.monitor, provider="unknown", secret_field=""), problem)


class _SnapshotSink:
    """Stores snapshots and windows while the other checks still wait on their providers, a
    full write call at a time. A monitor whose items could not be stored is told so in its
    outcome; the others are unaffected."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._pending: list[MonitorOutcome] = []
        self.stored = 0
        self.failed: list[str] = []

    def add(self, outcome: MonitorOutcome) -> list[MonitorOutcome] | None:
        """A full write call's outcomes, for `write`, once there are enough."""
        if outcome.snapshot is None:
            return None
        with self._lock:
            self._pending.append(outcome)
            if len(self._pending) < self._store.monitors_per_write:
                return None
            batch, self._pending = self._pending, []
        return batch

    def take(self) -> list[MonitorOutcome]:
        """What is left to write at the end of the run."""
        with self._lock:
            batch, self._pending = self._pending, []
        return batch

    def write(self, batch: list[MonitorOutcome]) -> None:
        snapshots = [o.snapshot for o in batch if o.snapshot is not None]
        windows = {o.monitor: o.window for o in batch if o.window is not None}
        try:
            failed = self._store.put_snapshots(snapshots, windows)
        except Exception as exc:  # the store's own retries are spent: this batch is lost
            log.exception("storing %d readings failed", len(batch))
            failed = {o.monitor for o in batch}
            reason = type(exc).__name__
        else:
            reason = "see the function log"
        with self._lock:
            self.stored += len(batch) - len(failed)
            self.failed += sorted(failed)
        for outcome in batch:
            if outcome.monitor in failed:
                outcome.fail(ErrorKind.INTERNAL, f"{outcome.monitor}: this reading could not be stored ({reason})")


def read_silences(deps: CheckDeps) -> list[Silence] | None:
    """The silences, read once a run; None when they cannot be read: then the run holds
    nothing and releases nothing (an alert too many rather than one lost)."""
    if deps.silences is None:
        return None
    try:
        return deps.silences.silences()
    except Exception:
        log.exception("the silences cannot be read; this run holds no message")
        return None


async def _contained_reading(job: _Job, deps: CheckDeps, fetch: Fetch) -> Snapshot:
    """One monitor's reading, whatever goes wrong in it: a failure of ours is a reading of
    kind `internal`."""
    monitor = job.monitor
    try:
        return await _reading(job, deps, fetch)
    except Exception as exc:  # one monitor's bug never stops the others
        log.exception("check of monitor %s failed unexpectedly", monitor.id)
        return Snapshot.failed(
            monitor.id,
            monitor.provider,
            deps.clock.now(),
            ErrorKind.INTERNAL,
            f"{monitor.id}: unexpected {type(exc).__name__}; see the function log",
        )


def _decided(
    job: _Job,
    deps: CheckDeps,
    snapshot: Snapshot,
    read: Callable[[], MonitorRecord],
    silences: list[Silence] | None,
) -> tuple[MonitorOutcome, _Changes | None]:
    """The rest of one monitor's check but storing its changes (None: there are none),
    whatever goes wrong in it: the reading is kept and stored even when a later step
    fails, and a failure of ours is reported as `internal`."""
    monitor = job.monitor
    outcome = MonitorOutcome(monitor.id, monitor.provider, "error")
    outcome.snapshot = snapshot
    if snapshot.error is None:
        outcome.status = "ok"
    elif snapshot.waiting:  # day one, before the keys go in: not a failure, not logged as one
        outcome.status, outcome.error_kind, outcome.message = (
            "waiting",
            snapshot.error.kind.value,
            snapshot.error.message,
        )
        log.info(snapshot.error.message, extra={"monitor": monitor.id})
    else:
        outcome.fail(snapshot.error.kind, snapshot.error.message)
        log.error(snapshot.error.message, extra={"monitor": monitor.id, "error_kind": snapshot.error.kind.value})
    try:
        return outcome, _evaluate_and_decide(monitor, snapshot, deps, read(), outcome, silences)
    except Exception as exc:
        _alerting_failed(monitor.id, outcome, exc)
        return outcome, None


def _alerting_failed(monitor_id: str, outcome: MonitorOutcome, exc: Exception) -> None:
    log.exception("alerting for monitor %s failed; its reading is still stored", monitor_id)
    outcome.fail(ErrorKind.INTERNAL, f"{monitor_id}: alerting failed ({type(exc).__name__}); see the function log")


def _stored(changes: _Changes, store: Store, outcome: MonitorOutcome) -> None:
    """Store one monitor's changes (`_commit_changes`), a failure of ours reported as `internal`."""
    try:
        _commit_changes(changes, store, outcome)
    except Exception as exc:
        _alerting_failed(changes.change.monitor.id, outcome, exc)


async def _reading(job: _Job, deps: CheckDeps, fetch: Fetch) -> Snapshot:
    monitor, checked_at = job.monitor, deps.clock.now()
    if job.problem is not None:
        return Snapshot.failed(monitor.id, monitor.provider, checked_at, ErrorKind.CONFIG, job.problem.message)
    provider = monitor.spec or get_provider(monitor.provider)
    if provider is None:
        message = f"{monitor.id}: unknown provider '{monitor.provider}'"
        return Snapshot.failed(monitor.id, monitor.provider, checked_at, ErrorKind.CONFIG, message)
    return await fetch_snapshot_async(monitor, provider, deps.keys, fetch, checked_at)


def _evaluate_and_decide(
    monitor: Monitor,
    snapshot: Snapshot,
    deps: CheckDeps,
    record: MonitorRecord,
    outcome: MonitorOutcome,
    silences: list[Silence] | None = None,
) -> _Changes | None:
    """Evaluate the reading and decide what changes (the window to store goes in `outcome`);
    the changes to store, None when nothing changes (most checks)."""
    history = _history(monitor.id, record, deps.store)
    previous = {key: state.level for key, state in record.states.items()}
    try:
        evaluation = evaluate(snapshot, history, monitor.thresholds_for, previous, monitor.policy)
    finally:  # after evaluating, to keep the burn rule's floors; and stored even if that failed
        outcome.window = history.rolled(snapshot).encode()
    # Every signal's level; the check signal only when it is raised, as it is news then.
    outcome.levels = {s.key: s.level.label for s in evaluation.signals if s.key != CHECK_KEY or s.level is not Level.OK}
    provider = monitor.spec or get_provider(monitor.provider)
    change = _Change(monitor, snapshot, evaluation, provider.display_name if provider else monitor.provider)
    planned = _planned(change, record, silences)
    return _Changes(change, planned) if planned else None


def _history(monitor_id: str, record: MonitorRecord, store: Store) -> Window:
    """The recent readings from the stored window, else (none yet, or damaged) from the
    snapshots, as columns (core/window.py)."""
    if record.window is not None:
        try:
            return Window.decode(record.window, monitor_id)
        except BadWindow as exc:  # the snapshots it summarises are intact
            log.warning("%s; reading its snapshots instead", exc, extra={"monitor": monitor_id})
    return Window.of(store.recent_snapshots(monitor_id))


@dataclass(frozen=True)
class _Change:
    """What one reading of one monitor says, for deciding and rendering its messages."""

    monitor: Monitor
    snapshot: Snapshot
    evaluation: Evaluation
    display: str


@dataclass(frozen=True)
class _Changes:
    """One monitor's state changes, decided, to render and store in order."""

    change: _Change
    planned: list[Planned]


def _planned(change: _Change, record: MonitorRecord, silences: list[Silence] | None) -> list[Planned]:
    """Each state change the evaluation calls for. A message a silence holds is stored as
    held (never delivered); a silence that ended on a raised signal is one more change,
    with its "still ..." message (core/silences.py)."""
    monitor, snapshot = change.monitor, change.snapshot
    decisions = decide(
        change.evaluation.signals,
        record.states,
        snapshot.checked_at,
        monitor.policy,
        change.evaluation.speaks_for,
    )
    if silences is None:
        return [Planned(d) for d in decisions]
    return plan(decisions, change.evaluation.signals, record.states, silences, monitor.id, snapshot.checked_at)


def _commit_changes(changes: _Changes, store: Store, outcome: MonitorOutcome) -> None:
    """Store each change with its message, in one conditional transaction: decided exactly
    once, however many runs race on it. A blocking call: a run makes it in a store thread."""
    change = changes.change
    monitor, snapshot = change.monitor, change.snapshot
    for step in changes.planned:
        decision = step.decision
        message = render(decision, snapshot, change.display, change.evaluation.trends) if decision.notice else None
        state = decision.state
        queued = (
            QueuedMessage.for_decision(monitor.id, state.key, state.version, snapshot.checked_at, message, step.held_by)
            if message is not None
            else None
        )
        if not store.commit(monitor.id, state, decision.expected_version, queued):
            log.info("change of %s %s already made by another run", monitor.id, state.key)
            continue
        if queued is not None:
            outcome.queued.append(
                {
                    "signal": state.key,
                    "kind": queued.message.kind,
                    "severity": queued.message.severity,
                    "subject": queued.message.subject,
                    "sms": queued.message.sms,
                    "key": queued.key,
                    **({"held_by": queued.held_by} if queued.held_by else {}),
                }
            )
