"""What the burn rule costs a whole warm check run, per monitor (issue 24: "under 10 %").

The real check function (local invoke, its own process, unlimited CPU) against the embedded
AWS and a fake cloudlayer over https whose figures keep moving (every meter climbs a little
each round, so no meter is idle and none alerts). Three sets of N monitors, each with its
own stored windows and monitors.yaml, take turns for `rounds` warm runs (the order rotating
each round), so that the machine's load weighs on all alike:

- two days: windows of two days of readings (48 rows), as the other benches and as every
  run before the burn rule's 8 days;
- burn on: 8 days of readings (the 48 rows and one an hour back to 8 days), burn on;
- burn off: the same 8 days, `burn: off` on every monitor.

Each round gives each set's CPU over the two days' run; it prints the median ratio and its
range, and the ratio of the sums: the rows past 48 change, and the burn rule's floors are
rebuilt, at the first run of each hour only, so a run in four costs more than the median
says. Asserts nothing.

    python bench/burn_run.py [--n 300] [--rounds 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "layers/quotawatch"), str(REPO / "local"), str(REPO)]

from quotawatch.adapters.store import DynamoStore  # noqa: E402
from quotawatch.core import window  # noqa: E402
from quotawatch.core.snapshot import Snapshot, format_time  # noqa: E402
from quotawatch.providers import get_provider  # noqa: E402
from quotawatch_local.embedded_aws import embedded_aws, scrub_real_aws_environment  # noqa: E402
from quotawatch_local.fakes import FakeProvider, Reply  # noqa: E402
from quotawatch_local.fakes.cloudlayer import API, LIMIT_PLAN  # noqa: E402
from quotawatch_local.invoke import FunctionRuntime  # noqa: E402
from quotawatch_local.local_stack import LocalStack, deploy  # noqa: E402

FIRST_TICK = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
STEP = timedelta(minutes=15)
SETS = ("two days", "burn on", "burn off")
# Figures far from their limits (none alerts), each climbing steadily a round, above min_spend.
PLAN = {**LIMIT_PLAN, "calls": 300_000, "callsLimit": 1_000_000}
CLIMB = {"calls": 300, "computeTimeTotal": 50}  # a run: 1,200 calls an hour, 200 ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300, help="monitors a set")
    parser.add_argument("--rounds", type=int, default=8, help="warm runs a set (8: two hours of runs)")
    args = parser.parse_args()
    scrub_real_aws_environment()
    n = args.n
    with (
        embedded_aws() as aws,
        FakeProvider(API, "bench-key", lambda call: _reply(call // (len(SETS) * n))) as fake,
        tempfile.TemporaryDirectory() as scratch,
    ):
        stack = deploy(aws, REPO / "template.yaml", stack_name="quotawatch-burn-run")
        stack.aws.client("secretsmanager").put_secret_value(
            SecretId=stack.outputs["ApiKeysSecretName"], SecretString=json.dumps({"bench": "bench-key"})
        )
        files = {}
        for number, name in enumerate(SETS):
            ids = [f"burn-{number}-{i:04d}" for i in range(n)]
            files[name] = _monitors_file(Path(scratch) / str(number), ids, fake.base_url, off=name == "burn off")
            _fill(stack, ids, days=2 if name == "two days" else 8)
        cpu: dict[str, list[float]] = {name: [] for name in SETS}
        runtimes = {
            name: FunctionRuntime(stack, "CheckUsageFunction", {"MONITORS_FILE": str(files[name])}) for name in SETS
        }
        for runtime in runtimes.values():
            runtime.__enter__()
        try:
            for tick in range(-2, args.rounds):  # two unmeasured runs: a cold one, then the first warm
                order = SETS[tick % 3 :] + SETS[: tick % 3]
                for name in order:
                    spent = _run(runtimes[name], tick + 2, SETS.index(name))
                    if tick >= 0:
                        cpu[name].append(spent)
        finally:
            for runtime in runtimes.values():
                runtime.__exit__(None, None, None)
    print(f"Burn in a whole warm run: {n} monitors a set, {args.rounds} interleaved rounds, unlimited CPU")
    base = cpu["two days"]
    for name in SETS:
        ratios = [a / b for a, b in zip(cpu[name], base, strict=True)]
        print(
            f"  {name:<9} CPU a monitor {statistics.median(cpu[name]) / n * 1000:.2f} ms"
            f" (mean {statistics.mean(cpu[name]) / n * 1000:.2f});"
            f" against two days {statistics.median(ratios):.3f}x [{min(ratios):.3f}-{max(ratios):.3f}],"
            f" sums {sum(cpu[name]) / sum(base):.3f}x"
        )
    on_off = [a / b for a, b in zip(cpu["burn on"], cpu["burn off"], strict=True)]
    print(
        f"  burn on against burn off (the same 8 days): {statistics.median(on_off):.3f}x"
        f" [{min(on_off):.3f}-{max(on_off):.3f}], sums {sum(cpu['burn on']) / sum(cpu['burn off']):.3f}x"
    )


def _reply(round_: int) -> Reply:
    return Reply(200, {**PLAN, **{key: PLAN[key] + climb * round_ for key, climb in CLIMB.items()}}, delay=0.05)


def _run(runtime: FunctionRuntime, tick: int, offset: int) -> float:
    """One run at the set's own tick (every 15 minutes, a second apart between sets)."""
    at = FIRST_TICK + (tick + 1) * STEP + timedelta(seconds=offset)
    before = runtime.cpu_seconds() or 0.0
    invocation = runtime.invoke({"source": "schedule", "scheduled_time": str(format_time(at))})
    result = invocation.result or {}
    if invocation.error or result.get("failed") or result.get("batchItemFailures"):
        raise RuntimeError(invocation.error or result)
    return (runtime.cpu_seconds() or 0.0) - before


def _monitors_file(folder: Path, ids: list[str], base_url: str, *, off: bool) -> Path:
    monitors: list[dict[str, Any]] = [
        {"id": m, "provider": "cloudlayer", "secret_field": "bench", "base_url": base_url} for m in ids
    ]
    if off:
        monitors = [{**m, "burn": False} for m in monitors]  # `burn: off`
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "monitors.yaml"
    path.write_text(yaml.safe_dump({"monitors": monitors}))
    return path


def _fill(stack: LocalStack, ids: list[str], days: int) -> None:
    """Windows of `days` of readings every 15 minutes up to the first tick, climbing as the fake does."""
    parse = get_provider("cloudlayer").parse  # type: ignore[union-attr]
    now, then = (parse(_reply(k).body, FIRST_TICK) for k in (1, 0))
    climbs = {m.name: (m.used or 0) - (old.used or 0) for m, old in zip(now.meters, then.meters, strict=True)}
    count = days * 96 + 8
    readings = [
        Snapshot(
            "x",
            "cloudlayer",
            FIRST_TICK - age * STEP,
            then.period,
            tuple(replace(m, used=None if m.used is None else m.used - climbs[m.name] * age) for m in then.meters),
        )
        for age in range(count)
    ]
    rolled = window.Window.of([])
    for reading in reversed(readings):
        rolled = rolled.rolled(reading)
    stored = rolled.encode()  # names no monitor: the same for each
    store = DynamoStore(stack.aws.client("dynamodb"), stack.outputs["TableName"])
    store.put_snapshots([], dict.fromkeys(ids, stored))


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"  wall {time.perf_counter() - started:.0f} s")
