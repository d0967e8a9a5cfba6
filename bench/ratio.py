"""QuotaWatch against a plain script doing only the unavoidable work (bench/peer/peer.py).

Both run as the same kind of local Lambda container (same worker, environment, fake over
https and embedded DynamoDB), each in its own cgroup with the CPU quota of the template's
MemorySize, or of 256 MB. After a cold run each, they take turns for `rounds` warm runs
(the order alternating each round), so that whatever else the machine does weighs on both
alike; each round gives QuotaWatch's CPU and wall over the peer's, and the table shows the
median of those ratios with their range. A ratio, unlike a figure in ms, does not move
with the machine's load.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.cpuquota import CgroupRoot, CpuQuota, cpu_share
from quotawatch_local.invoke import FunctionRuntime, Invocation
from quotawatch_local.local_stack import LocalStack

PEER_DIR = Path(__file__).resolve().parent / "peer"
SHARES_MB = (1024, 256)  # the template's MemorySize (0.579 vCPU) and the smallest we consider (0.145)


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float


@dataclass(frozen=True)
class Pair:
    """One setting: QuotaWatch's and the peer's cold run, and their warm runs round by round."""

    memory_mb: int
    n: int
    cold: tuple[Timing, Timing]
    rounds: list[tuple[Timing, Timing]]

    def ratios(self, what: str) -> list[float]:
        return [getattr(qw, what) / max(getattr(peer, what), 1e-3) for qw, peer in self.rounds]

    def median(self, side: int, what: str) -> float:
        return float(statistics.median(getattr(r[side], what) for r in self.rounds))


def bench_ratio(
    stack: LocalStack,
    monitors_file: Path,
    n: int,
    tick: Callable[[], dict[str, Any]],
    cgroup: CgroupRoot | None,
    rounds: int = 5,
    shares_mb: tuple[int, ...] = SHARES_MB,
    pool: int | None = None,
) -> list[Pair]:
    """`pool`: QuotaWatch's CHECK_CONCURRENCY for this comparison (the peer keeps the template's)."""
    _prime(stack, monitors_file, tick)
    pairs = [_pair(stack, monitors_file, n, tick, cgroup, memory, rounds, pool) for memory in shares_mb]
    _print(pairs, cgroup, pool)
    return pairs


def _prime(stack: LocalStack, monitors_file: Path, tick: Callable[[], dict[str, Any]]) -> None:
    """One unmeasured run, unlimited: the first run over freshly filled windows does one-time
    work (it stores the monitors' states and messages), which no later cold start repeats."""
    with FunctionRuntime(stack, "CheckUsageFunction", {"MONITORS_FILE": str(monitors_file)}) as runtime:
        started = time.perf_counter()
        invocation = runtime.invoke(tick())
        wall = time.perf_counter() - started
    _check(invocation)
    result = invocation.result or {}
    print(f"  (first run over the filled windows, not in the ratios: {result.get('checked')} checked,", end=" ")
    print(f"{result.get('queued')} messages queued, {wall:.2f} s wall cold and unlimited)")


def _pair(
    stack: LocalStack,
    monitors_file: Path,
    n: int,
    tick: Callable[[], dict[str, Any]],
    cgroup: CgroupRoot | None,
    memory_mb: int,
    rounds: int,
    pool: int | None,
) -> Pair:
    env = {"MONITORS_FILE": str(monitors_file), "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb)}
    qw_env = {**env, "CHECK_CONCURRENCY": str(pool)} if pool else env
    with ExitStack() as stack_of:
        qw = FunctionRuntime(stack, "CheckUsageFunction", qw_env)
        peer = FunctionRuntime(stack, "CheckUsageFunction", env, code_dir=PEER_DIR, handler="peer.handler")
        if cgroup is not None:
            for name, runtime in (("qw", qw), ("peer", peer)):
                quota = stack_of.enter_context(CpuQuota(cgroup, cpu_share(memory_mb), f"ratio-{name}-{memory_mb}"))
                runtime.launcher = quota.launcher()
        cold = (_cold(stack_of, qw, tick()), _cold(stack_of, peer, {}))
        warm: list[tuple[Timing, Timing]] = []
        for i in range(rounds):
            if i % 2 == 0:
                a = _timed(qw, tick())
                b = _timed(peer, {})
            else:
                b = _timed(peer, {})
                a = _timed(qw, tick())
            warm.append((a, b))
    return Pair(memory_mb, n, cold, warm)


def _cold(stack_of: ExitStack, runtime: FunctionRuntime, event: dict[str, Any]) -> Timing:
    started = time.perf_counter()
    stack_of.enter_context(runtime)
    invocation = runtime.invoke(event)
    timing = Timing(time.perf_counter() - started, runtime.cpu_seconds() or 0.0)
    _check(invocation)
    return timing


def _timed(runtime: FunctionRuntime, event: dict[str, Any]) -> Timing:
    cpu = runtime.cpu_seconds() or 0.0
    started = time.perf_counter()
    invocation = runtime.invoke(event)
    timing = Timing(time.perf_counter() - started, (runtime.cpu_seconds() or 0.0) - cpu)
    _check(invocation)
    return timing


def _check(invocation: Invocation) -> None:
    result = invocation.result or {}
    if invocation.error or result.get("failed") or result.get("batchItemFailures"):
        raise RuntimeError(invocation.error or result)


def _print(pairs: list[Pair], cgroup: CgroupRoot | None, pool: int | None) -> None:
    rounds = len(pairs[0].rounds) if pairs else 0
    how = "each in its own cgroup at the share" if cgroup else "NO quota (no writable cgroup): unlimited"
    if pool:
        how += f"; QuotaWatch on {pool} threads, the peer on the template's pool"
    print(
        f"QuotaWatch against the thread-pool peer (bench/peer/peer.py), warm, {rounds} interleaved rounds,"
        f" {how}; ratio = QuotaWatch / peer, median [range]"
    )
    print(
        f"  {'CPU share':<20} {'N':>6} {'CPU ratio':>20} {'wall ratio':>20}"
        f" {'QW CPU/mon':>11} {'peer CPU/mon':>12} {'QW wall':>8} {'peer wall':>9} {'QW cold/warm':>12}"
    )
    for p in pairs:
        cpu, wall = p.ratios("cpu"), p.ratios("wall")
        qw_wall = p.median(0, "wall")
        print(
            f"  {p.memory_mb:>5} MB ({cpu_share(p.memory_mb):.3f} vCPU) {p.n:>6}"
            f" {statistics.median(cpu):>6.2f}x [{min(cpu):.2f}-{max(cpu):.2f}]"
            f" {statistics.median(wall):>7.2f}x [{min(wall):.2f}-{max(wall):.2f}]"
            f" {p.median(0, 'cpu') / p.n * 1000:>8.2f} ms {p.median(1, 'cpu') / p.n * 1000:>9.2f} ms"
            f" {qw_wall:>7.2f}s {p.median(1, 'wall'):>8.2f}s {p.cold[0].wall / qw_wall:>11.2f}x"
        )
    print("  targets (issue 22): CPU and wall ratio at most 1.0x under both shares; QuotaWatch cold at most 1.5x warm")
    print()
