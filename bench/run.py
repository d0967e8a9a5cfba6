"""QuotaWatch benchmarks: what a check costs as the number of monitors grows.

Runs the real check function (local invoke, its own process) against the embedded AWS and
a fake provider that answers over https after 200 ms, and prints figures; it asserts
nothing. The function's process runs unlimited and under a CPU quota equal to Lambda's
share for its MemorySize (bench/cpuquota.py). Usage:

    make bench                    # everything, about 12 minutes
    python bench/run.py --quick   # N = 10 and 100 only, no sam build
    python bench/run.py --reads   # only what `quotawatch status` and `history` read (N = 1,000)
    python bench/run.py --ratio   # only QuotaWatch against the thread-pool peer (--ratio-n, --rounds)
    python bench/run.py --fetch   # only the fetch stage: thread pool against asyncio (aiohttp)
    python bench/run.py --profile out.pstats --ratio-n 1000   # a warm run under cProfile
    python bench/run.py --burn    # only the burn rule's replay of a year of 100 meters
    python bench/run.py --imports # only the handler's import against boto3's (--quick: 7 processes)
    python bench/run.py --shard   # only one fan-out shard through the worker, and N = 10,000 from it

Scripts of their own: `python bench/stages.py` (where a warm run's CPU goes, stage by stage,
by ablation), `python bench/core_cost.py` (the core's work a monitor, trees compared).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "layers/quotawatch"), str(REPO / "local"), str(REPO)]

from bench.burn_replay import bench_burn  # noqa: E402
from bench.config_load import bench_config_load  # noqa: E402
from bench.cost import (  # noqa: E402
    PRICES_DATED,
    RUNS_PER_MONTH,
    Digest,
    Usage,
    monthly,
    per_run_dollars,
    print_month,
)
from bench.cpuquota import CgroupRoot, CpuQuota, cpu_share, find_cgroup_root, handler_import_env  # noqa: E402
from bench.declared import bench_catalogue_load, bench_declared  # noqa: E402
from bench.fetch import bench_fetch  # noqa: E402
from bench.ratio import SHARES_MB, bench_ratio  # noqa: E402
from bench.reads import bench_reads  # noqa: E402
from quotawatch.adapters.store import DynamoStore  # noqa: E402
from quotawatch.core import window  # noqa: E402
from quotawatch.core.digest import LISTED_UP_TO  # noqa: E402
from quotawatch.core.snapshot import Snapshot, format_time  # noqa: E402
from quotawatch.fanout import Shard as FanOutShard  # noqa: E402
from quotawatch.providers import get_provider  # noqa: E402
from quotawatch_local import cfn_yaml  # noqa: E402
from quotawatch_local.aws_counter import AwsCallCounter  # noqa: E402
from quotawatch_local.embedded_aws import embedded_aws, scrub_real_aws_environment  # noqa: E402
from quotawatch_local.fakes import FakeProvider, Reply, always  # noqa: E402
from quotawatch_local.fakes.cloudlayer import API, LIMIT_PLAN  # noqa: E402
from quotawatch_local.invoke import FunctionRuntime, Invocation  # noqa: E402
from quotawatch_local.local_stack import LocalStack, deploy  # noqa: E402

PROVIDER_DELAY = 0.2
FIRST_TICK = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
MEMORY_SIZES = (256, 512, 1024, 1769)
SHARD_SIZE = 250  # monitors per fan-out shard (the fan-out helper's SQS message)
FANOUT_CONCURRENCY = (2, 10)
# The README turns fan-out on past this many monitors; the cost past it is a fanned-out run's.
RECOMMENDED_FANOUT_ABOVE = 2000
# Deployed with fan-out on, so that the worker exists for the shard figures; at the
# parameter's largest value no measured run is split, so each N is measured whole.
FANOUT_ON = {"FanOutAbove": "20000"}


@dataclass(frozen=True)
class Template:
    memory_mb: int
    timeout_s: int
    pool: int
    alarms: int  # deployed by default
    fan_out_alarms: int  # deployed only with fan-out on (FanOutAbove > 0)
    metrics: int

    @staticmethod
    def read() -> Template:
        template = cfn_yaml.load_template(REPO / "template.yaml")
        props = template["Resources"]["CheckUsageFunction"]["Properties"]
        kinds = [(r.get("Type"), r.get("Condition")) for r in template["Resources"].values()]
        alarms = kinds.count(("AWS::CloudWatch::Alarm", None))
        fan_out_alarms = kinds.count(("AWS::CloudWatch::Alarm", "FanOutEnabled"))
        metrics = sum(app.read_text().count("add_metric(") for app in (REPO / "functions").glob("*/app.py"))
        return Template(
            int(props["MemorySize"]),
            int(props["Timeout"]),
            int(props["Environment"]["Variables"]["CHECK_CONCURRENCY"]),
            alarms,
            fan_out_alarms,
            metrics,
        )


@dataclass(frozen=True)
class ShardTarget:
    """What one fan-out shard runs: the worker function (CheckShardFunction, deployed with
    fan-out on) and an SQS event of one shard, as the queue's mapping delivers it."""

    logical_id: str = "CheckShardFunction"
    handler: str | None = None

    def event(self, bench: Bench, ids: list[str]) -> dict[str, Any]:
        tick = bench.next_tick()["scheduled_time"]
        shard = FanOutShard(run=tick, scheduled_time=tick, index="0", count=1, monitors=tuple(ids))
        return {
            "Records": [
                {
                    "messageId": f"bench-{tick}",
                    "receiptHandle": "bench",
                    "body": shard.to_body(),
                    "attributes": {"ApproximateReceiveCount": "1"},
                    "messageAttributes": {},
                    "md5OfBody": "",
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench",
                    "awsRegion": "us-east-1",
                }
            ]
        }


@dataclass
class Bench:
    """What every measurement shares: the stack, the fake, the cgroup root, the ticks."""

    stack: LocalStack
    fake: FakeProvider
    folder: Path
    cgroup: CgroupRoot | None
    template: Template
    ticks: int = 0
    digest_days: int = 0
    monitors_files: dict[int, Path] = field(default_factory=dict)

    def next_tick(self) -> dict[str, str]:
        """A new schedule tick each run: a tick already done would be a duplicate."""
        self.ticks += 1
        at = FIRST_TICK + timedelta(minutes=15 * self.ticks)
        return {"source": "schedule", "scheduled_time": str(format_time(at))}

    def next_digest(self) -> dict[str, Any]:
        """The digest's event on a new day each time: a day's digest is sent once."""
        self.digest_days += 1
        at = (FIRST_TICK + timedelta(days=self.digest_days)).replace(hour=8)
        return {"source": "digest", "digest": True, "scheduled_time": str(format_time(at))}

    def monitors(self, n: int) -> Path:
        """N monitors with full windows, as after two days of checks (made once per N)."""
        if n not in self.monitors_files:
            ids = _monitor_ids(n)
            self.monitors_files[n] = _monitors_file(self.folder / str(n), ids, self.fake)
            _fill_windows(self.stack, ids, FIRST_TICK)
        return self.monitors_files[n]


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float


@dataclass
class Figures:
    """One N in one setting: a cold run (new container) and the median of warm runs."""

    n: int
    cold: Run
    warm: Run
    peak_mb: float
    log_bytes: int
    computed: bool = False  # warm wall derived from CPU, not measured
    throttled: float = 0.0  # seconds the kernel held the process back for the quota

    @property
    def cpu_ms_per_monitor(self) -> float:
        return self.warm.cpu / self.n * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="N = 10 and 100 only; skip sam build")
    parser.add_argument("--repeat", type=int, default=3, help="warm runs per N, unlimited (median reported)")
    parser.add_argument("--reads", action="store_true", help="only the status and history reads at N = 1,000")
    parser.add_argument("--ratio", action="store_true", help="only QuotaWatch against the thread-pool peer")
    parser.add_argument("--ratio-n", type=int, help="N for the peer comparison (1,000; --quick 100)")
    parser.add_argument("--fetch", action="store_true", help="only: the fetch stage, threads against asyncio")
    parser.add_argument("--fetch-threads", help="with --fetch: thread counts to compare instead (16,64), at --ratio-n")
    parser.add_argument("--profile", help="only: profile a warm run of --ratio-n monitors into this pstats file")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved warm rounds against the peer")
    parser.add_argument("--ratio-pool", type=int, help="QuotaWatch's CHECK_CONCURRENCY against the peer (template's)")
    parser.add_argument("--ratio-mb", help="MemorySize shares to compare at (1024,256)")
    parser.add_argument("--burn", action="store_true", help="only the burn rule's year replay (no AWS)")
    parser.add_argument("--imports", action="store_true", help="only the handler's import against boto3's")
    parser.add_argument("--shard", action="store_true", help="only one fan-out shard (250; --quick 50) and N = 10,000")
    parser.add_argument("--pools", default="32,128", help="other pool sizes (CHECK_CONCURRENCY) to time N = 1,000 with")
    args = parser.parse_args()
    scrub_real_aws_environment()
    template = Template.read()
    print(f"QuotaWatch benchmarks, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {_cpu_model()}, Python {platform.python_version()}")
    print(f"load average: {_load()} (other work on the machine slows every figure, CPU under a quota too)")
    if args.burn:
        bench_burn(20 if args.quick else 100)
        return 0
    if args.imports:
        bench_imports(7 if args.quick else 15)
        return 0
    root = find_cgroup_root()
    if isinstance(root, str):
        print(f"CPU quota: skipped, {root}; quota figures below are computed from CPU, not measured")
    else:
        print(f"CPU quota: the function's process only, by {root.describe()}; Lambda's share is MemorySize / 1,769 MB")
    print(
        f"fakes: https with a test CA (QUOTAWATCH_CA_BUNDLE), answering after {PROVIDER_DELAY * 1000:.0f} ms;"
        f" template: {template.memory_mb} MB, {template.timeout_s} s timeout, pool {template.pool}"
    )
    print()
    quick = args.quick
    with (
        embedded_aws() as aws,
        FakeProvider(API, "bench-key", always(Reply(200, {**LIMIT_PLAN, "calls": 500}, delay=PROVIDER_DELAY))) as fake,
        tempfile.TemporaryDirectory() as scratch,
    ):
        counter = AwsCallCounter(aws.endpoint_url).start()
        try:
            # Fan-out on, so that the worker is deployed for the shard figures; runs stay below it.
            stack = deploy(aws, REPO / "template.yaml", stack_name="quotawatch-bench", parameters=FANOUT_ON)
            stack.aws.client("secretsmanager").put_secret_value(
                SecretId=stack.outputs["ApiKeysSecretName"], SecretString=json.dumps({"bench": "bench-key"})
            )
            bench = Bench(stack, fake, Path(scratch), None if isinstance(root, str) else root, template)
            dynamodb, table = stack.aws.client("dynamodb"), stack.outputs["TableName"]
            if args.reads:
                bench_reads(dynamodb, table, 1000, _full_window, _item_bytes, FIRST_TICK)
                return 0
            ratio_n = args.ratio_n or (100 if quick else 1000)
            if args.fetch:
                pools = tuple(int(p) for p in args.fetch_threads.split(",")) if args.fetch_threads else (64,)
                fetch_n = (ratio_n,) if args.fetch_threads else (10, 100, 1000)
                bench_fetch(fake.base_url + API.paths[0], "bench-key", bench.cgroup, fetch_n, pools)
                return 0
            if args.profile:
                _profile(bench, ratio_n, Path(args.profile).resolve())
                return 0
            if args.shard:
                bench_shard(bench, 50 if quick else SHARD_SIZE, ShardTarget())
                return 0
            shares = tuple(int(mb) for mb in args.ratio_mb.split(",")) if args.ratio_mb else SHARES_MB
            monitors = bench.monitors(ratio_n)
            bench_ratio(stack, monitors, ratio_n, bench.next_tick, bench.cgroup, args.rounds, shares, args.ratio_pool)
            if args.ratio:
                return 0
            calls = bench_calls(bench, counter, [10, 100] if quick else [10, 100, 1000])
            digests = {n: bench_digest(bench, counter, n) for n in ([10, 100] if quick else [10, 1000])}
            scaling = bench_scaling(bench, [10, 100] if quick else [10, 100, 1000, 10_000], args.repeat)
            table_n = 100 if quick else 1000
            sizes = bench_memory_sizes(bench, table_n, scaling)
            if not quick:
                bench_pools(bench, 1000, [int(p) for p in args.pools.split(",") if p], scaling)
            shard = bench_shard(bench, 50 if quick else SHARD_SIZE, ShardTarget())
            bench_reads(dynamodb, table, 1000, _full_window, _item_bytes, FIRST_TICK)
        finally:
            counter.stop()
    bench_imports()
    bench_config_load()
    bench_declared()
    bench_burn(20 if quick else 100)
    if not quick:
        bench_artifacts()
    bench_cost(bench, scaling, calls, shard, sizes, digests)
    print(f"load average at the end: {_load()}")
    return 0


def _load() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores"
    except OSError:
        return "unknown"


def _profile(bench: Bench, n: int, out: Path) -> None:
    """A cold run, then a warm one under cProfile (bench/profiling/profiled.py), unlimited."""
    env = {"MONITORS_FILE": str(bench.monitors(n)), "PROFILE_OUT": str(out)}
    code = REPO / "bench/profiling"
    with FunctionRuntime(bench.stack, "CheckUsageFunction", env, code_dir=code, handler="profiled.handler") as function:
        _check(function.invoke(bench.next_tick()))
        _check(function.invoke(bench.next_tick()))
    print(f"profile of a warm run of N = {n}: {out}")


# --- AWS calls per run, counted through a proxy ------------------------------------------


def bench_calls(bench: Bench, counter: AwsCallCounter, sizes: list[int]) -> dict[int, dict[str, Any]]:
    """Calls of a monitor's first run (no window yet) and of the next, when nothing changed."""
    results: dict[int, dict[str, Any]] = {}
    for n in sizes:
        ids = [f"calls-{n}-{i:04d}" for i in range(n)]
        path = _monitors_file(bench.folder / f"calls-{n}", ids, bench.fake)
        env = {"MONITORS_FILE": str(path), "AWS_ENDPOINT_URL": counter.endpoint_url}
        with FunctionRuntime(bench.stack, "CheckUsageFunction", env) as function:
            counter.take()
            _check(function.invoke(bench.next_tick()))
            first = counter.take()
            _check(function.invoke(bench.next_tick()))
            second = counter.take()
        results[n] = {"first": first, "second": second, "snapshot_bytes": _stored_bytes(bench.stack, ids[0], "SNAP#")}
    print("AWS calls per run (service operation: a monitor's first run, the next run) when nothing changed:")
    for n, r in results.items():
        ops = sorted(set(r["first"]) | set(r["second"]))
        parts = [f"{s} {op}: {r['first'].get((s, op), 0)}, {r['second'].get((s, op), 0)}" for s, op in ops]
        print(f"  N={n}: " + "; ".join(parts))
    print()
    return results


# --- wall and CPU: unlimited and under Lambda's CPU share, cold and warm ------------------


def bench_scaling(bench: Bench, sizes: list[int], repeat: int) -> dict[str, dict[int, Figures]]:
    memory = bench.template.memory_mb
    share = cpu_share(memory)
    results: dict[str, dict[int, Figures]] = {"unlimited": {}, "quota": {}}
    for n in sizes:
        results["unlimited"][n] = measure(bench, n, None, repeat if n < 10_000 else 1)
    for n in sizes:
        unlimited = results["unlimited"][n]
        if n >= 10_000 or bench.cgroup is None:
            results["quota"][n] = _computed(unlimited, share)
        else:
            results["quota"][n] = measure(bench, n, memory, 1 if n >= 1000 else 2)
    print(
        "Wall time and CPU (user+sys of the function's process) of a run; cold = a new container"
        " (imports, Secrets Manager, new connections and TLS handshakes), warm = median of the next runs"
    )
    print(
        f"  {'setting':<22} {'N':>6} {'cold wall':>10} {'cold CPU':>9} {'warm wall':>10} {'warm CPU':>9}"
        f" {'CPU/monitor':>12} {'peak MB':>8} {'throttled':>9}"
    )
    for label, by_n in (("unlimited", results["unlimited"]), (f"{memory} MB ({share:.4f} CPU)", results["quota"])):
        for n, f in by_n.items():
            mark = "*" if f.computed else " "
            print(
                f"  {label:<22} {n:>6} {f.cold.wall:>9.2f}s{mark}{f.cold.cpu:>8.2f}s {f.warm.wall:>9.2f}s{mark}"
                f"{f.warm.cpu:>8.2f}s {f.cpu_ms_per_monitor:>9.2f} ms {f.peak_mb:>8.0f}"
                + (f" {f.throttled:>8.1f}s" if f.throttled else "")
            )
    if any(f.computed for f in results["quota"].values()):
        print(
            "  * computed, not measured: the unlimited run's CPU over the share (CPU / share), at least its"
            " unlimited wall time"
        )
    print("  throttled: time the kernel held the process back for the quota, all its runs (cgroup cpu.stat)")
    timeout = bench.template.timeout_s
    over = [n for n, f in results["quota"].items() if f.warm.wall > timeout]
    if over:
        print(f"  at {memory} MB, N = {', '.join(map(str, over))} does not fit the {timeout} s timeout: fan-out")
    full = [n for n, f in results["unlimited"].items() if f.peak_mb > 0.8 * memory]
    if full:
        print(
            f"  at N = {', '.join(map(str, full))} the peak memory is over 80% of {memory} MB: fan-out, or more memory"
        )
    print()
    return results


def measure(bench: Bench, n: int, memory_mb: int | None, warm_runs: int) -> Figures:
    """A cold run in a new container, then warm runs; under a CPU quota when memory_mb is set."""
    env = {"MONITORS_FILE": str(bench.monitors(n))}
    if memory_mb is None:
        return _measure(bench, FunctionRuntime(bench.stack, "CheckUsageFunction", env), n, warm_runs)
    if bench.cgroup is None:
        raise RuntimeError("no cgroup to limit the CPU with")
    env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(memory_mb)
    with CpuQuota(bench.cgroup, cpu_share(memory_mb), f"{memory_mb}mb") as quota:
        function = FunctionRuntime(bench.stack, "CheckUsageFunction", env)
        function.launcher = quota.launcher()
        return replace(_measure(bench, function, n, warm_runs), throttled=quota.throttled_seconds())


def _measure(bench: Bench, function: FunctionRuntime, n: int, warm_runs: int) -> Figures:
    started = time.perf_counter()
    with function:
        first = function.invoke(bench.next_tick())
        cold = Run(time.perf_counter() - started, function.cpu_seconds() or 0.0)
        _check(first)
        warm: list[Run] = []
        log_bytes = 0
        for _ in range(warm_runs):
            run, invocation = timed(function, bench.next_tick())
            _check(invocation)
            warm.append(run)
            log_bytes = sum(len(line) + 1 for line in invocation.logs)
        peak = function.peak_rss_mb() or 0.0
    median = Run(statistics.median(r.wall for r in warm), statistics.median(r.cpu for r in warm))
    return Figures(n, cold, median, peak, log_bytes)


def timed(function: FunctionRuntime, event: dict[str, Any]) -> tuple[Run, Invocation]:
    """One invocation's wall time and the CPU its process used meanwhile."""
    cpu = function.cpu_seconds() or 0.0
    started = time.perf_counter()
    invocation = function.invoke(event)
    wall = time.perf_counter() - started
    return Run(wall, (function.cpu_seconds() or 0.0) - cpu), invocation


def _computed(unlimited: Figures, share: float) -> Figures:
    """Under a quota a CPU-bound run takes its CPU over the share, and never less than unlimited."""

    def limit(run: Run) -> Run:
        return Run(max(run.wall, run.cpu / share), run.cpu)

    return replace(unlimited, cold=limit(unlimited.cold), warm=limit(unlimited.warm), computed=True)


# --- MemorySize: wall time and price of a warm run at each size ---------------------------


def bench_memory_sizes(bench: Bench, n: int, scaling: dict[str, dict[int, Figures]]) -> dict[int, Figures]:
    template_mb = bench.template.memory_mb
    sizes: dict[int, Figures] = {template_mb: scaling["quota"][n]}
    measured = MEMORY_SIZES if bench.cgroup is not None else ()
    for memory in MEMORY_SIZES:
        if memory in sizes:
            continue
        if memory in measured and (memory == MEMORY_SIZES[-1] or n >= 1000):
            sizes[memory] = measure(bench, n, memory, 1)
        else:
            sizes[memory] = _computed(scaling["unlimited"][n], cpu_share(memory))
    print(f"MemorySize: a warm run of N = {n} under each size's CPU share (arm64 price)")
    print(f"  {'MemorySize':>10} {'CPU share':>9} {'warm wall':>10} {'warm CPU':>9} {'GB-s':>7} {'$ per run':>10}")
    for memory in sorted(sizes):
        f = sizes[memory]
        gb_s, dollars = per_run_dollars(f.warm.wall, memory)
        mark = "*" if f.computed else " "
        default = "  (template)" if memory == template_mb else ""
        print(
            f"  {memory:>7} MB {cpu_share(memory):>9.4f} {f.warm.wall:>9.2f}s{mark}{f.warm.cpu:>8.2f}s"
            f" {gb_s:>7.2f} {dollars:>10.6f}{default}"
        )
    if any(f.computed for f in sizes.values()):
        print("  * computed from the unlimited run's CPU over the share, not measured")
    print()
    return sizes


# --- pool sizes ------------------------------------------------------------------------------


def bench_pools(bench: Bench, n: int, pools: list[int], scaling: dict[str, dict[int, Figures]]) -> None:
    """Warm run time with other CHECK_CONCURRENCY settings, unlimited."""
    by_pool = {bench.template.pool: scaling["unlimited"][n].warm.wall}
    for pool in pools:
        env = {"MONITORS_FILE": str(bench.monitors(n)), "CHECK_CONCURRENCY": str(pool)}
        with FunctionRuntime(bench.stack, "CheckUsageFunction", env) as function:
            _check(function.invoke(bench.next_tick()))  # the cold start is not what this measures
            run, invocation = timed(function, bench.next_tick())
            _check(invocation)
        by_pool[pool] = run.wall
    print(f"Pool size (CHECK_CONCURRENCY) at N = {n}, unlimited: warm run, and the waves of answers alone")
    for pool, seconds in sorted(by_pool.items()):
        waves = -(-n // pool) * PROVIDER_DELAY  # ceil(N / pool) waves, each one answer long
        default = "  (the template's setting)" if pool == bench.template.pool else ""
        print(f"  {pool:>5}  {seconds:6.2f} s  {waves:5.1f} s{default}")
    print()


# --- fan-out: one shard's cost, and what N = 10,000 and 100,000 would take ---------------


@dataclass(frozen=True)
class Shard:
    size: int
    figures: Figures
    memory_mb: int

    def fan_out_wall(self, n: int, concurrency: int) -> float:
        """Waves of shards: the first wave starts cold, the others find warm containers."""
        shards = -(-n // self.size)
        waves = -(-shards // concurrency)
        return self.figures.cold.wall + (waves - 1) * self.figures.warm.wall


def bench_shard(bench: Bench, size: int, target: ShardTarget) -> Shard:
    """One shard of `size` monitors under the template's CPU share: cold and warm."""
    memory = bench.template.memory_mb
    env = {"MONITORS_FILE": str(bench.monitors(size))}
    function = FunctionRuntime(bench.stack, target.logical_id, env, handler=target.handler)
    ids = _monitor_ids(size)
    with CpuQuota(bench.cgroup, cpu_share(memory), "shard") if bench.cgroup else contextlib.nullcontext() as quota:
        if quota is not None:
            function.launcher = quota.launcher()
        started = time.perf_counter()
        with function:
            first = function.invoke(target.event(bench, ids))
            cold = Run(time.perf_counter() - started, function.cpu_seconds() or 0.0)
            _check(first)
            runs = []
            for _ in range(2):
                run, invocation = timed(function, target.event(bench, ids))
                _check(invocation)
                runs.append(run)
            peak = function.peak_rss_mb() or 0.0
    warm = Run(statistics.median(r.wall for r in runs), statistics.median(r.cpu for r in runs))
    figures = Figures(size, cold, warm, peak, 0)
    if bench.cgroup is None:
        figures = _computed(figures, cpu_share(memory))
    shard = Shard(size, figures, memory)
    handler = target.handler or f"{target.logical_id} (an SQS event of one shard)"
    print(f"Fan-out shard: {size} monitors through {handler} at {memory} MB ({cpu_share(memory):.4f} CPU)")
    print(
        f"  cold {cold.wall:.2f} s wall, {cold.cpu:.2f} s CPU; warm {warm.wall:.2f} s wall, {warm.cpu:.2f} s CPU"
        f" ({warm.cpu / size * 1000:.2f} ms a monitor)"
    )
    timeout = bench.template.timeout_s  # the worker's is the check function's (template.yaml)
    slowest = max(cold.wall, warm.wall)
    verdict = "within" if slowest <= timeout / 2 else "PAST"
    print(f"  slowest shard run {slowest:.2f} s: {verdict} half the worker's {timeout} s timeout ({timeout / 2:.0f} s)")
    for n in (10_000, 100_000):
        walls = ", ".join(f"concurrency {c}: {shard.fan_out_wall(n, c):6.0f} s" for c in FANOUT_CONCURRENCY)
        shards = -(-n // size)
        gb_s, dollars = per_run_dollars(warm.wall, memory)
        print(
            f"  N = {n:>7,}: {shards} shards; computed wall {walls};"
            f" Lambda {shards * gb_s:.0f} GB-s, ${shards * dollars * RUNS_PER_MONTH:.2f} a month (warm shards)"
        )
    print("  (computed: waves of ceil(shards / concurrency), the first cold; the dispatcher's own run is not in it)")
    print()
    return shard


# --- cost -------------------------------------------------------------------------------------


def bench_cost(
    bench: Bench,
    scaling: dict[str, dict[int, Figures]],
    calls: dict[int, dict[str, Any]],
    shard: Shard,
    sizes: dict[int, Figures],
    digests: dict[int, Digest],
) -> None:
    template = bench.template
    snapshot_bytes, window_bytes = calls[10]["snapshot_bytes"], _full_window_bytes()
    print(
        f"DynamoDB items: snapshot {snapshot_bytes} B as stored; a full window ({window.WINDOW_SIZE} readings)"
        f" with every figure moving {window_bytes} B (worst case)"
    )
    print()
    common = {
        "memory_mb": template.memory_mb,
        "snapshot_bytes": snapshot_bytes,
        "window_bytes": window_bytes,
        "alarms": template.alarms,
        "metrics": template.metrics,
    }
    warm_secrets = _secrets_calls(calls[10]["second"])
    ten = scaling["quota"][10]
    usage = Usage(
        10, lambda_seconds=ten.warm.wall, invocations=1, log_bytes=ten.log_bytes, secrets_calls=warm_secrets, **common
    )
    ten_monitors = monthly(usage, digest=digests[10])
    print_month(
        f"Cost: 10 monitors every 15 minutes and a daily digest, prices of {PRICES_DATED} (us-east-1)",
        ten_monitors,
        " (target: under $1)",
    )
    paid = sum(line.paid for line in ten_monitors)
    print(f"  under $1 a month without any free tier: {'yes' if paid < 1 else 'NO'} (${paid:.2f})\n")
    for n in (1000, 10_000):
        figures = scaling["quota"].get(n) or _scaled(scaling["quota"][max(scaling["quota"])], n)
        # Past the recommended FanOutAbove (or the timeout) a deployment runs fanned out.
        fits = n <= RECOMMENDED_FANOUT_ABOVE and figures.warm.wall <= template.timeout_s
        shards = -(-n // shard.size)
        if fits:
            usage = Usage(
                n,
                lambda_seconds=figures.warm.wall,
                invocations=1,
                log_bytes=figures.log_bytes,
                secrets_calls=warm_secrets,
                **common,
            )
            how = f"one invocation of {figures.warm.wall:.0f} s"
        else:
            # Fanned out: shards of SHARD_SIZE, each send, receive and delete
            # one SQS request (sent 10 to a batch), plus the dispatcher's own short run.
            seconds = shards * shard.figures.warm.wall + ten.warm.wall
            usage = Usage(
                n,
                lambda_seconds=seconds,
                invocations=shards + 1,
                log_bytes=figures.log_bytes,
                secrets_calls=warm_secrets,
                sqs_requests=-(-shards // 10) + 2 * shards,
                fan_out=True,
                **{**common, "alarms": template.alarms + template.fan_out_alarms},
            )
            how = f"fan-out, {shards} shards of {shard.size} ({seconds:.0f} s of Lambda a run)"
        scale = "" if n in scaling["quota"] else ", scaled from the largest N measured"
        print_month(
            f"Cost: N = {n:,} every 15 minutes at {template.memory_mb} MB, {how}{scale}",
            monthly(usage, digest=digests.get(n) or _scaled_digest(digests[max(digests)], n)),
        )


# --- the daily digest: one invocation at N = 10, its calls and its message ---------------------


def bench_digest(bench: Bench, counter: AwsCallCounter, n: int) -> Digest:
    """The digest schedule's invocation at N monitors with full windows: a first (cold) one,
    then a warm one the next day, timed, with its AWS calls counted."""
    env = {"MONITORS_FILE": str(bench.monitors(n)), "AWS_ENDPOINT_URL": counter.endpoint_url}
    with FunctionRuntime(bench.stack, "CheckUsageFunction", env) as function:
        _check(function.invoke(bench.next_digest()))
        counter.take()
        run, invocation = timed(function, bench.next_digest())
        _check(invocation)
        calls = counter.take()
    if invocation.result.get("status") != "digest_queued":
        raise RuntimeError(f"digest run: {invocation.result}")
    message = _stored_bytes(bench.stack, "QuotaWatch", "MSG#")
    log_bytes = sum(len(line) + 1 for line in invocation.logs)
    ops = "; ".join(f"{service} {op}: {count}" for (service, op), count in sorted(calls.items()))
    print(f"Daily digest at N = {n}: a warm run {run.wall * 1000:.0f} ms, a message of {message} B; AWS calls: {ops}")
    print()
    return Digest(n, run.wall, message, log_bytes)


def _scaled_digest(digest: Digest, n: int) -> Digest:
    """Past the largest N measured: its time grown in proportion, its message with its listed
    monitors (at most LISTED_UP_TO)."""
    listed = min(n, LISTED_UP_TO) / min(digest.monitors, LISTED_UP_TO)  # past it, only how many more
    factor = n / digest.monitors
    return Digest(n, digest.lambda_seconds * factor, int(digest.message_bytes * listed), digest.log_bytes)


def _scaled(figures: Figures, n: int) -> Figures:
    factor = n / figures.n
    run = Run(figures.warm.wall * factor, figures.warm.cpu * factor)
    return replace(figures, n=n, warm=run, log_bytes=int(figures.log_bytes * factor), computed=True)


def _secrets_calls(calls: Counter[tuple[str, str]]) -> float:
    return float(sum(v for (service, _), v in calls.items() if service == "secretsmanager"))


def _monitor_ids(n: int) -> list[str]:
    return [f"bench-{n}-{i:04d}" for i in range(n)]


def _monitors_file(folder: Path, ids: list[str], fake: FakeProvider) -> Path:
    """A monitors.yaml with one cloudlayer monitor per id, all reading the fake with one key."""
    monitors = [{"id": m, "provider": "cloudlayer", "secret_field": "bench", "base_url": fake.base_url} for m in ids]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "monitors.yaml"
    path.write_text(yaml.safe_dump({"monitors": monitors}))
    return path


def _stored_bytes(stack: LocalStack, monitor: str, prefix: str) -> int:
    """Size of a monitor's newest item under `prefix`, as DynamoDB counts it for capacity."""
    response = stack.aws.client("dynamodb").query(
        TableName=stack.outputs["TableName"],
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues={":pk": {"S": f"MON#{monitor}"}, ":prefix": {"S": prefix}},
        ScanIndexForward=False,
        Limit=1,
    )
    return sum(_item_bytes(item) for item in response["Items"])


def _item_bytes(value: dict[str, Any]) -> int:
    """DynamoDB's item size: attribute names plus values (numbers about a byte per two digits)."""
    total = 0
    for name, typed in value.items():
        ((kind, inner),) = typed.items()
        total += len(name.encode())
        if kind == "S":
            total += len(inner.encode())
        elif kind == "B":
            total += len(inner)
        elif kind == "N":
            total += len(inner.strip("-").replace(".", "")) // 2 + 2
        elif kind == "BOOL":
            total += 1
        elif kind == "M":
            total += 3 + _item_bytes(inner)
    return total


def _full_window(monitor: str, newest: datetime) -> list[Snapshot]:
    """A full window of cloudlayer readings up to `newest` (checks every 15 minutes for as
    long as it spans) in which every figure moved at every check: the worst case for its
    size and for the work of reading it."""
    usage = get_provider("cloudlayer").parse(LIMIT_PLAN, newest)  # type: ignore[union-attr]
    readings = [
        Snapshot(
            monitor,
            "cloudlayer",
            newest - timedelta(minutes=15 * i),
            usage.period,
            tuple(replace(m, used=None if m.used is None else round(m.used * (1 - i / 400))) for m in usage.meters),
        )
        for i in range(4 * window.WINDOW_SIZE)  # the window keeps one an hour past the newest few
    ]
    return window.roll(readings[0], readings[1:])


def _fill_windows(stack: LocalStack, ids: list[str], newest: datetime) -> None:
    """Give every monitor a full window of recent readings, as after two days of checks."""
    store = DynamoStore(stack.aws.client("dynamodb"), stack.outputs["TableName"])
    store.put_snapshots([], {m: window.encode(_full_window(m, newest)) for m in ids})


def _full_window_bytes() -> int:
    """The WINDOW item of a cloudlayer monitor, full, with every figure moving."""
    item = {
        "pk": {"S": "MON#bench-0000"},
        "sk": {"S": "WINDOW"},
        "readings": {"B": window.encode(_full_window("bench-0000", FIRST_TICK))},
        "expires_at": {"N": "1830039300"},
    }
    return _item_bytes(item)


def _check(invocation: Invocation) -> None:
    result = invocation.result
    if invocation.error or result.get("failed") or result.get("batchItemFailures"):
        raise RuntimeError(invocation.error or result)


# --- cold start: imports -------------------------------------------------------------------------


IMPORT_PROBE = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"


def bench_imports(processes: int = 15) -> None:
    """The handler's import against `import boto3`, fresh processes under the template's share.

    Measured two ways: from the layer's source without bytecode (as the layer shipped before
    `BuildMethod: makefile`: Lambda's /opt is read only, so every cold start compiled it),
    and compiled as layers/quotawatch/Makefile ships it. boto3 comes compiled, as in the
    runtime. Unlimited where no cgroup can be made (say so).
    """
    share = cpu_share(Template.read().memory_mb)
    root = find_cgroup_root()
    with tempfile.TemporaryDirectory() as scratch:
        folders = _import_folders(Path(scratch))
        with contextlib.ExitStack() as stack:
            launcher: tuple[str, ...] = ()
            if isinstance(root, CgroupRoot):
                launcher = stack.enter_context(CpuQuota(root, share, "import")).launcher()
                where = f"under the {share:.3f} CPU share"
            else:
                where = f"unlimited ({root})"

            def median_import(module: str, env: dict[str, str]) -> float:
                samples = []
                for _ in range(processes):
                    done = subprocess.run(
                        [*launcher, sys.executable, "-c", IMPORT_PROBE.format(module=module)],
                        env=env,
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    samples.append(float(done.stdout))
                return statistics.median(samples)

            compiled_env = handler_import_env(*folders["compiled"])
            median_import("boto3", compiled_env)  # warm the file cache first
            boto3_s = median_import("boto3", compiled_env)
            source_s = median_import("app", handler_import_env(*folders["source"]))
            compiled_s = median_import("app", compiled_env)
    print(f"Cold start: import time, median of {processes} fresh processes, {where}")
    print(f"  boto3 alone                     {boto3_s * 1000:7.1f} ms")
    print(f"  handler, layer without bytecode {source_s * 1000:7.1f} ms  ({source_s / boto3_s:.2f} x boto3)")
    ratio = compiled_s / boto3_s
    print(f"  handler, layer as built         {compiled_s * 1000:7.1f} ms  ({ratio:.2f} x boto3; target 1.4 x)")
    bench_catalogue_load(handler_import_env())
    print()


def _import_folders(scratch: Path) -> dict[str, tuple[Path, Path]]:
    """(function, layer) folders: the sources without any __pycache__, and the layer's code
    compiled by its Makefile (its `code` target; the dependencies come from the venv)."""
    no_cache = shutil.ignore_patterns("__pycache__")
    function = shutil.copytree(REPO / "functions/check_usage", scratch / "function", ignore=no_cache)
    source = shutil.copytree(REPO / "layers/quotawatch/quotawatch", scratch / "source/quotawatch", ignore=no_cache)
    built = scratch / "built"
    make = ["make", "-s", "-C", str(REPO / "layers/quotawatch"), "code"]
    subprocess.run([*make, f"ARTIFACTS_DIR={built}", f"PYTHON={sys.executable}"], check=True)
    return {"source": (function, source.parent), "compiled": (function, built / "python")}


# --- artifacts --------------------------------------------------------------------------


def bench_artifacts() -> dict[str, int]:
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as scratch:
        build = Path(scratch) / "build"
        env = {
            **os.environ,
            "SAM_CLI_TELEMETRY": "0",
            "AWS_DEFAULT_REGION": "us-east-1",
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        }
        subprocess.run(
            [
                str(Path(sys.executable).parent / "sam"),
                "build",
                "--build-dir",
                str(build),
                "--cache-dir",
                str(Path(scratch) / "cache"),
                "--template-file",
                str(REPO / "template.yaml"),
            ],
            cwd=scratch,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        for folder in sorted(p for p in build.iterdir() if p.is_dir()):
            sizes[folder.name] = _zipped_size(folder)
    print("Artifacts (zipped, as sam deploy uploads them)")
    for name, size in sizes.items():
        shown = f"{size / 1024 / 1024:6.2f} MB" if size >= 1024 * 1024 else f"{size / 1024:6.1f} KB"
        print(f"  {name:<22} {shown}")
    print()
    return sizes


def _zipped_size(folder: Path) -> int:
    with tempfile.TemporaryFile() as handle:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(folder).as_posix())
        return handle.tell()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
