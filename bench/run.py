"""QuotaWatch benchmarks: what a check costs as the number of monitors grows.

Runs the real check function (local invoke) against the embedded AWS and a fake provider
that answers after 200 ms, and prints figures; it asserts nothing. Usage:

    make bench                 # everything, a few minutes
    python bench/run.py --quick   # N = 10 and 100 only, no sam build
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "layers/quotawatch"), str(REPO / "local")]

from quotawatch.adapters.store import DynamoStore  # noqa: E402
from quotawatch.core import window  # noqa: E402
from quotawatch.core.snapshot import Snapshot, format_time  # noqa: E402
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
RUNS_PER_MONTH = 30.44 * 24 * 4  # every 15 minutes

# Prices: AWS list prices for us-east-1 as we know them on 2026-11-24 (not fetched live;
# check https://aws.amazon.com/pricing before relying on them).
PRICES_DATED = "2026-11-24"
LAMBDA_ARM_GB_SECOND = 0.0000133334
LAMBDA_REQUEST = 0.20 / 1_000_000
DYNAMODB_WRITE_UNIT = 0.625 / 1_000_000  # on-demand, per 1 KB write
DYNAMODB_READ_UNIT = 0.125 / 1_000_000  # on-demand, per 4 KB strongly consistent read
DYNAMODB_STORAGE_GB_MONTH = 0.25
DYNAMODB_PITR_GB_MONTH = 0.20
SECRET_MONTH = 0.40
SECRETS_API_CALL = 0.05 / 10_000
SNS_PUBLISH = 0.50 / 1_000_000
SCHEDULER_INVOCATION = 1.00 / 1_000_000  # after the free 14 million a month
LOGS_INGEST_GB = 0.50
ALARM_MONTH = 0.10  # a standard-resolution alarm on one metric
CUSTOM_METRIC_MONTH = 0.30  # each EMF metric (Lambda's and SQS's own metrics are free)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="N = 10 and 100 only; skip sam build")
    parser.add_argument("--repeat", type=int, default=5, help="warm runs per N (median reported)")
    parser.add_argument(
        "--pools", default="32,128", help="other pool sizes (CHECK_CONCURRENCY) to time the largest N with"
    )
    args = parser.parse_args()
    scrub_real_aws_environment()
    print(f"QuotaWatch benchmarks, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {_cpu_model()}, Python {platform.python_version()}")
    print()
    sizes = [10, 100] if args.quick else [10, 100, 1000]
    pools = [int(p) for p in args.pools.split(",") if p]
    fanout = bench_fanout(sizes, args.repeat, [] if args.quick else pools)
    bench_imports()
    artifacts = {} if args.quick else bench_artifacts()
    cost(fanout.get(10), artifacts)
    return 0


# --- 1, 3, 4: fan-out, memory and AWS calls ------------------------------------------------


def bench_fanout(sizes: list[int], repeat: int, pools: list[int]) -> dict[int, dict[str, Any]]:
    print(
        f"Fan-out: one check run, the provider answering after {PROVIDER_DELAY * 1000:.0f} ms"
        f" (median of {repeat} warm runs)"
    )
    results: dict[int, dict[str, Any]] = {}
    with (
        embedded_aws() as aws,
        FakeProvider(API, "bench-key", always(Reply(200, {**LIMIT_PLAN, "calls": 500}, delay=PROVIDER_DELAY))) as fake,
    ):
        counter = AwsCallCounter(aws.endpoint_url).start()
        try:
            stack = deploy(aws, REPO / "template.yaml", stack_name="quotawatch-bench")
            for n in sizes:
                results[n] = _fanout_once(stack, counter, fake, n, repeat)
            largest = max(sizes)
            by_pool = {pool: _timed_runs(stack, fake, largest, repeat, pool) for pool in pools}
        finally:
            counter.stop()
    print()
    header = (
        f"  {'N':>5}  {'run (s)':>8}  {'sequential':>10}  {'floor':>6}  {'vs seq.':>8}  {'vs floor':>8}  {'peak MB':>7}"
    )
    print(header)
    for n, r in results.items():
        sequential = n * PROVIDER_DELAY
        print(
            f"  {n:>5}  {r['median']:>8.2f}  {sequential:>9.0f}s  {PROVIDER_DELAY:>5.1f}s  "
            f"{r['median'] / sequential:>8.3f}  {r['median'] / PROVIDER_DELAY:>7.1f}x  {r['peak_mb']:>7.0f}"
        )
    template_pool = int(_template_env("CHECK_CONCURRENCY"))
    print()
    print(f"Pool size (CHECK_CONCURRENCY) at N={largest}: run time, and the waves of answers alone")
    for pool, seconds in sorted({template_pool: results[largest]["median"], **by_pool}.items()):
        waves = -(-largest // pool) * PROVIDER_DELAY  # ceil(N / pool) waves, each one answer long
        default = "  (the template's setting)" if pool == template_pool else ""
        print(f"  {pool:>5}  {seconds:6.2f} s  {waves:5.1f} s{default}")
    print()
    print("AWS calls per run (service operation: cold, warm) when nothing changed:")
    for n, r in results.items():
        ops = sorted(set(r["cold_calls"]) | set(r["warm_calls"]))
        parts = [
            f"{service} {op}: {r['cold_calls'].get((service, op), 0)}, {r['warm_calls'].get((service, op), 0)}"
            for service, op in ops
        ]
        print(f"  N={n}: " + "; ".join(parts))
    print()
    return results


def _fanout_once(stack: LocalStack, counter: AwsCallCounter, fake: FakeProvider, n: int, repeat: int) -> dict[str, Any]:
    ids = _monitor_ids(n)
    stack.aws.client("secretsmanager").put_secret_value(
        SecretId=stack.outputs["ApiKeysSecretName"], SecretString=json.dumps({"bench": "bench-key"})
    )
    with tempfile.TemporaryDirectory() as scratch:
        path = _monitors_file(Path(scratch), ids, fake)
        # Calls are counted through a proxy; times are taken without it, as the proxy's
        # extra hop would be counted in them.
        counted = {"MONITORS_FILE": str(path), "AWS_ENDPOINT_URL": counter.endpoint_url}
        with FunctionRuntime(stack, "CheckUsageFunction", counted) as function:
            counter.take()
            _check(function.invoke(_tick(n, 0)))
            cold_calls = counter.take()
            _check(function.invoke(_tick(n, 1)))
            warm_calls = counter.take()
        # The timed runs read and write full windows, as every run does after two days.
        _fill_windows(stack, ids, datetime.fromisoformat(_tick(n, 2)["scheduled_time"]) - timedelta(minutes=1))
        with FunctionRuntime(stack, "CheckUsageFunction", {"MONITORS_FILE": str(path)}) as function:
            _check(function.invoke(_tick(n, 2)))  # the cold start is not what this measures
            times: list[float] = []
            log_bytes = 0
            for i in range(3, repeat + 3):
                started = time.perf_counter()
                warm = function.invoke(_tick(n, i))
                times.append(time.perf_counter() - started)
                _check(warm)
                log_bytes = sum(len(line) + 1 for line in warm.logs)
            peak = function.peak_rss_mb() or 0.0
    return {
        "median": statistics.median(times),
        "cold_calls": cold_calls,
        "warm_calls": warm_calls,
        "peak_mb": peak,
        "log_bytes": log_bytes,
        "snapshot_bytes": _stored_bytes(stack, ids[0], "SNAP#"),
    }


def _monitor_ids(n: int) -> list[str]:
    return [f"bench-{n}-{i:04d}" for i in range(n)]


def _monitors_file(folder: Path, ids: list[str], fake: FakeProvider) -> Path:
    """A monitors.yaml with one cloudlayer monitor per id, all reading the fake with one key."""
    monitors = [{"id": m, "provider": "cloudlayer", "secret_field": "bench", "base_url": fake.base_url} for m in ids]
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
        "readings": {"S": window.encode(_full_window("bench-0000", FIRST_TICK))},
        "expires_at": {"N": "1830039300"},
    }
    return _item_bytes(item)


def _timed_runs(stack: LocalStack, fake: FakeProvider, n: int, repeat: int, pool: int) -> float:
    """Median of warm runs of N monitors with CHECK_CONCURRENCY set to `pool`."""
    with tempfile.TemporaryDirectory() as scratch:
        # The monitors of the fan-out run: their windows are stored, so every run here is warm.
        path = _monitors_file(Path(scratch), _monitor_ids(n), fake)
        env = {"MONITORS_FILE": str(path), "CHECK_CONCURRENCY": str(pool)}
        with FunctionRuntime(stack, "CheckUsageFunction", env) as function:
            _check(function.invoke(_tick(n + pool, 0)))  # the cold start is not what this measures
            times = []
            for i in range(1, repeat + 1):
                started = time.perf_counter()
                _check(function.invoke(_tick(n + pool, i)))
                times.append(time.perf_counter() - started)
    return statistics.median(times)


def _template_env(name: str) -> str:
    template = cfn_yaml.load_template(REPO / "template.yaml")
    return str(template["Resources"]["CheckUsageFunction"]["Properties"]["Environment"]["Variables"][name])


def _check(invocation: Invocation) -> None:
    if invocation.error or invocation.result["failed"]:
        raise RuntimeError(invocation.error or invocation.result)


def _tick(n: int, i: int) -> dict[str, str]:
    at = FIRST_TICK + timedelta(days=n) + timedelta(minutes=15 * i)  # distinct ticks per N
    return {"source": "schedule", "scheduled_time": str(format_time(at))}


# --- 2: cold start -------------------------------------------------------------------------


IMPORT_PROBE = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"


def bench_imports(processes: int = 15) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(REPO / "functions/check_usage"), str(REPO / "layers/quotawatch")]),
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "quotawatch",
        "POWERTOOLS_METRICS_NAMESPACE": "QuotaWatch",
        "PYTHONDONTWRITEBYTECODE": "1",
    }

    def median_import(module: str) -> float:
        samples = []
        for _ in range(processes):
            done = subprocess.run(
                [sys.executable, "-c", IMPORT_PROBE.format(module=module)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            samples.append(float(done.stdout))
        return statistics.median(samples)

    median_import("boto3")  # warm the file cache first
    boto3_s = median_import("boto3")
    handler_s = median_import("app")
    print(f"Cold start: import time, median of {processes} fresh processes")
    print(f"  boto3 alone            {boto3_s * 1000:7.1f} ms")
    print(f"  check_usage handler    {handler_s * 1000:7.1f} ms  ({handler_s / boto3_s:.2f} x boto3; target 1.5 x)")
    print()


# --- 5: artifacts --------------------------------------------------------------------------


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


# --- 6: cost -------------------------------------------------------------------------------


def cost(ten: dict[str, Any] | None, artifacts: dict[str, int]) -> None:
    if ten is None:
        return
    template = (REPO / "template.yaml").read_text()
    memory_mb = int(template.split("MemorySize:")[1].split()[0])
    seconds = ten["median"]
    calls = ten["warm_calls"]
    runs = RUNS_PER_MONTH
    monitors = 10
    lambda_cost = runs * (seconds * memory_mb / 1024 * LAMBDA_ARM_GB_SECOND + LAMBDA_REQUEST)
    # DynamoDB on-demand bills by item size: a write unit per KB written, a read unit per
    # 4 KB read (strongly consistent). Per run: the tick's idempotency record (written in
    # progress, then completed) and a read of QuotaWatch's own state; per monitor, a
    # snapshot and its window written, its STATE and WINDOW read (a STATE item is small).
    # Alerts are rare; the notify function's reads of the table's stream are free.
    snapshot_bytes, window_bytes = ten["snapshot_bytes"], _full_window_bytes()
    write_units = 2 + monitors * (math.ceil(snapshot_bytes / 1024) + math.ceil(window_bytes / 1024))
    read_units = 1 + monitors * (1 + math.ceil(window_bytes / 4096))
    dynamo = runs * (write_units * DYNAMODB_WRITE_UNIT + read_units * DYNAMODB_READ_UNIT)
    # Steady state: a year and a month of snapshots (the default retention), and the windows.
    stored_gb = monitors * (96 * 400 * snapshot_bytes + window_bytes) / 1024**3
    storage = stored_gb * (DYNAMODB_STORAGE_GB_MONTH + DYNAMODB_PITR_GB_MONTH)
    secrets = SECRET_MONTH + runs * sum(v for (s, _), v in calls.items() if s == "secretsmanager") * SECRETS_API_CALL
    sns = runs * sum(v for (s, _), v in calls.items() if s == "sns") * SNS_PUBLISH
    scheduler = runs * SCHEDULER_INVOCATION
    logs = runs * ten["log_bytes"] / 1024**3 * LOGS_INGEST_GB  # as measured: a run's log lines
    alarm_count = template.count("Type: AWS::CloudWatch::Alarm")
    alarms = alarm_count * ALARM_MONTH
    metric_count = sum(app.read_text().count("add_metric(") for app in (REPO / "functions").glob("*/app.py"))
    metrics = metric_count * CUSTOM_METRIC_MONTH
    total = lambda_cost + dynamo + storage + secrets + sns + scheduler + logs + alarms + metrics
    # The always-free tiers cover Lambda (1M requests, 400,000 GB-s), DynamoDB storage
    # (25 GB, not its backups), SNS (1M publishes), Scheduler (14M invocations), Logs (5 GB),
    # and 10 alarms and 10 custom metrics. On-demand requests and secrets have none.
    with_free_tier = dynamo + stored_gb * DYNAMODB_PITR_GB_MONTH + secrets
    with_free_tier += max(0, alarm_count - 10) * ALARM_MONTH + max(0, metric_count - 10) * CUSTOM_METRIC_MONTH
    print(
        f"DynamoDB items: snapshot {snapshot_bytes} B as stored; a full window ({window.WINDOW_SIZE} readings)"
        f" with every figure moving {window_bytes} B (worst case)"
    )
    print(f"Cost: 10 monitors every 15 minutes ({runs:.0f} runs a month), prices of {PRICES_DATED} (us-east-1)")
    for name, value in (
        (f"Lambda arm64 ({memory_mb} MB x {seconds:.2f} s)", lambda_cost),
        (f"DynamoDB requests ({write_units} write, {read_units} read units a run)", dynamo),
        ("DynamoDB storage + PITR (steady state)", storage),
        ("Secrets Manager (1 secret)", secrets),
        ("SNS (alerts are rare)", sns),
        ("EventBridge Scheduler", scheduler),
        (f"CloudWatch Logs ({ten['log_bytes'] / 1024:.1f} KB a run)", logs),
        (f"CloudWatch alarms ({alarm_count} x ${ALARM_MONTH:.2f})", alarms),
        (f"Custom metrics ({metric_count}; service metrics are free)", metrics),
    ):
        print(f"  {name:<42} ${value:7.3f}")
    print(f"  {'total, without any free tier':<42} ${total:7.3f} a month (target: under $1)")
    print(f"  {'total, with the always-free tiers':<42} ${with_free_tier:7.3f} a month")


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
