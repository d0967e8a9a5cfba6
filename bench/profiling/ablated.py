"""The check handler with stages replaced by their results, for `bench/stages.py` (a stand-in).

ABLATE (a comma list, or empty for the real handler) names the stages a warm run skips:
each is replaced by what it returned on the first warm run (WARMUP), or by nothing for a
write, so that the run's CPU with it, less the run's CPU without it, is what the stage
costs in a run as it really runs: its threads, its coroutines and the loop, all in. Every
variant also times the synchronous stages in the threads that run them (`_spent`), and
the cyclic collector. Never in the product.

- http:    the provider's answer, after the fake's 200 ms, without aiohttp (connection,
           TLS, request, response, its JSON)
- reading: the whole reading (the key, the request, the answer, parsing, bounds, masking)
- core:    decode, evaluate, roll, encode, decide (the stored window written back as read)
- load:    the batched read of the monitors' STATE and WINDOW items (the cold run's records)
- write:   the batched write of snapshots and windows (items, JSON, botocore, the call)
- call:    only the write call (the items and the snapshot's JSON still made)
- idem:    the tick's claim (Powertools idempotency: its reads and writes of the record)
- log:     every log record (logging disabled)

Not stages but trials: `nogc` runs warm runs with the cyclic collector off; `gcfreeze`
moves what the cold run left (modules, clients, models) out of the collector's reach;
`store2` gives the store two threads instead of four; `switch` sets the interpreter's
switch interval to 20 ms (from 5 ms); with TREE set, the check layer of that checkout runs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import importlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "functions/check_usage"))
if os.environ.get("TREE"):  # another checkout's check layer, to compare two trees in one bench
    sys.path.insert(0, str(Path(os.environ["TREE"]) / "layers/quotawatch"))
app = importlib.import_module("app")  # the check function's handler module, from its folder

from quotawatch import check  # noqa: E402
from quotawatch.adapters import store as store_module  # noqa: E402
from quotawatch.adapters.http import HttpClient  # noqa: E402

ABLATE = {s for s in os.environ.get("ABLATE", "").split(",") if s}
DELAY = 0.2  # the fake's
# Runs that run whole and keep what the later ones reuse: the cold one stores the states
# of a first run over filled windows, so the records to reuse are the second run's.
WARMUP = 2
_answers: dict[str, Any] = {}
_readings: dict[str, Any] = {}
_records: dict[str, Any] = {}
_levels: dict[str, dict[str, str]] = {}
_calls = 0
_gc = {"cpu": 0.0, "started": 0.0}  # CPU the cyclic collector took in this run
# CPU of a run's synchronous stages, each timed in the thread it runs in (thread_time):
# the client's loop as a whole (fetches, readings, the core, the checks' own work), the
# core on it, the batched reads and writes in the store's threads.
_spent = {"loop_cpu": 0.0, "core_cpu": 0.0, "load_cpu": 0.0, "write_cpu": 0.0}
_flushes = [0]  # times a run decided the monitors ready together (check._Run._decide_ready)
_core_calls: list[tuple[Any, ...]] = []  # with RECORE: each core call's arguments, to run again


def _recore() -> float:
    """The run's core work again, one monitor after the other, on this thread alone."""
    started = time.thread_time()
    for monitor, snapshot, deps, record, silences in _core_calls:
        outcome = check.MonitorOutcome(monitor.id, monitor.provider, "ok")
        _real_core(monitor, snapshot, deps, record, outcome, silences)
    return time.thread_time() - started


def _timed(name: str, work: Any) -> Any:
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return work(*args, **kwargs)
        finally:
            _spent[name] += time.thread_time() - started  # a float add: atomic enough under the GIL

    return timed


def _timed_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _gc["started"] = time.thread_time()
    else:
        _gc["cpu"] += time.thread_time() - _gc["started"]


gc.callbacks.append(_timed_gc)


def _patch() -> None:
    real_fetch = HttpClient.fetch_async
    real_reading = check._reading
    real_load = check._SliceRead._load

    async def fetch_async(self: HttpClient, request: Any) -> Any:
        if _calls > WARMUP and request.url in _answers:
            await asyncio.sleep(DELAY)
            return _answers[request.url]
        answer = await real_fetch(self, request)
        _answers[request.url] = answer
        return answer

    async def reading(job: Any, deps: Any, fetch: Any) -> Any:
        monitor = job.monitor.id
        if _calls > WARMUP and monitor in _readings:
            await asyncio.sleep(DELAY)
            return dataclasses.replace(_readings[monitor], checked_at=deps.clock.now())
        snapshot = await real_reading(job, deps, fetch)
        _readings[monitor] = snapshot
        return snapshot

    def core(monitor: Any, snapshot: Any, deps: Any, record: Any, outcome: Any, silences: Any = None) -> Any:
        if _calls > WARMUP and monitor.id in _levels:
            outcome.window, outcome.levels = record.window, dict(_levels[monitor.id])
            return None
        changes = _real_core(monitor, snapshot, deps, record, outcome, silences)
        _levels[monitor.id] = dict(outcome.levels)
        return changes

    def load(self: Any) -> None:
        if _calls > WARMUP and all(i in _records for i in self._ids):
            self._records = {i: dataclasses.replace(_records[i]) for i in self._ids}
            return
        real_load(self)
        _records.update(self._records)

    real_put = store_module.DynamoStore.put_snapshots

    def put(self: Any, snapshots: list[Any], windows: Any) -> set[str]:
        if _calls <= WARMUP:
            return real_put(self, snapshots, windows)
        if "call" in ABLATE:  # the items made, not sent
            [self._snapshot_item(s) for s in snapshots] + [self._window_item(m, e) for m, e in windows.items()]
        return set()

    HttpClient.run = _timed("loop_cpu", HttpClient.run)  # type: ignore[method-assign]

    def kept(monitor: Any, snapshot: Any, deps: Any, record: Any, outcome: Any, silences: Any = None) -> Any:
        if os.environ.get("RECORE"):
            _core_calls.append((monitor, snapshot, deps, record, silences))
        return _real_core(monitor, snapshot, deps, record, outcome, silences)

    check._evaluate_and_decide = _timed("core_cpu", kept)
    real_decide_ready = getattr(check._Run, "_decide_ready", None)
    if real_decide_ready is not None:

        def decide_ready(*args: Any) -> None:
            _flushes[0] += 1
            real_decide_ready(*args)

        check._Run._decide_ready = decide_ready  # type: ignore[method-assign,assignment]
    check._SliceRead._load = _timed("load_cpu", check._SliceRead._load)  # type: ignore[method-assign]
    store_module.DynamoStore.put_snapshots = _timed("write_cpu", store_module.DynamoStore.put_snapshots)  # type: ignore[method-assign]
    if "http" in ABLATE:
        HttpClient.fetch_async = fetch_async  # type: ignore[method-assign]
    if "reading" in ABLATE:
        check._reading = reading
    if "core" in ABLATE:
        check._evaluate_and_decide = core
    if "load" in ABLATE:
        check._SliceRead._load = load  # type: ignore[method-assign]
    if "write" in ABLATE or "call" in ABLATE:
        store_module.DynamoStore.put_snapshots = _timed("write_cpu", put)  # type: ignore[method-assign]
    if "store2" in ABLATE:
        check.STORE_THREADS = 2
    if "switch" in ABLATE:
        sys.setswitchinterval(0.02)
    if "idem" in ABLATE:
        app._once_per_tick = lambda: app._run  # type: ignore[attr-defined]  # the run without its claim


_real_core = check._evaluate_and_decide
_patch()


def handler(event: dict[str, Any], context: object) -> Any:
    global _calls
    _calls += 1
    if "log" in ABLATE and _calls > WARMUP:
        logging.disable(logging.CRITICAL)
    if "nogc" in ABLATE and _calls > WARMUP:
        gc.disable()
    _gc["cpu"] = 0.0
    _spent.update(dict.fromkeys(_spent, 0.0))
    _core_calls.clear()
    _flushes[0] = 0
    result = app.lambda_handler(event, context)
    if isinstance(result, dict):
        result.update(_spent, gc_cpu=_gc["cpu"], flushes=_flushes[0])
        if _core_calls:
            result["recore_cpu"] = _recore()
    if "gcfreeze" in ABLATE and _calls == 1:
        gc.collect()
        gc.freeze()
    return result
