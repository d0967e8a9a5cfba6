"""Where a warm check run's CPU goes, stage by stage, by ablation (not by a profiler).

A profiler misattributes a run's CPU across its threads and coroutines. Here each variant
is the real check function in its own local container (bench/profiling/ablated.py) with
one stage replaced by what it returned on the cold run; a stage's cost is the warm run's
CPU (the process's, all threads, from /proc) with it less without it. Each variant has
its own N monitors with full windows and its own ticks 15 minutes apart, as the ratio
bench's; the variants take turns round by round, under the template's CPU share:

    python bench/stages.py [--n 1000] [--rounds 5] [--mb 1024] [--variants base,http,...] [--tree DIR]

It prints, per variant, the median CPU a monitor over the rounds with its range and least,
the base's less it (the median of the rounds' differences, each round's base against the
variant's run of that round), and the stand-in's own figures, each timed in the thread
that runs it (time.thread_time, so no other thread's work is counted in): the client's
event loop as a whole, the core (`check._evaluate_and_decide`) on it, the batched reads
and writes in the store's threads, and the cyclic garbage collector. With RECORE=1 in the
environment each run's core work is done again afterwards, one monitor after the other on
one thread (`recore`; that run's total then includes it). Trials (TRIALS) are changes, not
stages, run only when named; `tree` is the base with another checkout's check layer
(`--tree DIR`), to compare two trees under the same load. The base less each variant is
also printed round by round, and for the loop's and the core's thread CPU. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "layers/quotawatch"), str(REPO / "local"), str(REPO)]

from bench.cpuquota import CgroupRoot, CpuQuota, cpu_share, find_cgroup_root  # noqa: E402
from bench.run import FIRST_TICK, PROVIDER_DELAY, _fill_windows, _load, _monitors_file  # noqa: E402
from quotawatch.core.snapshot import format_time  # noqa: E402
from quotawatch_local.embedded_aws import embedded_aws, scrub_real_aws_environment  # noqa: E402
from quotawatch_local.fakes import FakeProvider, Reply, always  # noqa: E402
from quotawatch_local.fakes.cloudlayer import API, LIMIT_PLAN  # noqa: E402
from quotawatch_local.invoke import FunctionRuntime  # noqa: E402
from quotawatch_local.local_stack import deploy  # noqa: E402

VARIANTS = {
    "base": "",
    "http": "http",
    "reading": "reading",
    "core": "core",
    "load": "load",
    "write": "write",
    "call": "call",
    "idem": "idem",
    "log": "log",
    "all": "reading,core,load,write,idem,log",
    "nogc": "nogc",
    "gcfreeze": "gcfreeze",
    "store2": "store2",
    "switch": "switch",
    "tree": "",  # nothing ablated: the check layer of --tree instead of this tree's
}


# Stages the stand-in times in the thread that runs them (CPU seconds a run, in its result).
TIMED = ("loop_cpu", "core_cpu", "load_cpu", "write_cpu", "gc_cpu", "recore_cpu")
TRIALS = ("nogc", "gcfreeze", "store2", "switch", "tree")  # not stages: changes tried, run only when named


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mb", type=int, default=1024, help="MemorySize whose CPU share each variant runs at")
    parser.add_argument("--variants", default=",".join(v for v in VARIANTS if v not in TRIALS))
    parser.add_argument("--tree", type=Path, help="another checkout, whose layers/quotawatch the variant tree runs")
    args = parser.parse_args()
    names = args.variants.split(",")
    scrub_real_aws_environment()
    root = find_cgroup_root()
    cgroup = root if isinstance(root, CgroupRoot) else None
    print(f"stages by ablation, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, N = {args.n},")
    print(f"  {args.rounds} rounds, {'at the share of ' + str(args.mb) + ' MB' if cgroup else 'unlimited'}")
    print(f"  load average: {_load()}")
    reply = Reply(200, {**LIMIT_PLAN, "calls": 500}, delay=PROVIDER_DELAY)
    with (
        embedded_aws() as aws,
        FakeProvider(API, "bench-key", always(reply)) as fake,
        tempfile.TemporaryDirectory() as scratch,
        ExitStack() as stack_of,
    ):
        stack = deploy(aws, REPO / "template.yaml", stack_name="quotawatch-stages")
        stack.aws.client("secretsmanager").put_secret_value(
            SecretId=stack.outputs["ApiKeysSecretName"], SecretString=json.dumps({"bench": "bench-key"})
        )
        runtimes: dict[str, FunctionRuntime] = {}
        ticks: dict[str, int] = {}
        for index, name in enumerate(names):
            ids = [f"st{index}-{i:04d}" for i in range(args.n)]
            path = _monitors_file(Path(scratch) / name, ids, fake)
            _fill_windows(stack, ids, FIRST_TICK)
            env = {
                "MONITORS_FILE": str(path),
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(args.mb),
                "ABLATE": VARIANTS[name],
                **{k: os.environ[k] for k in ("RECORE",) if k in os.environ},
                **({"TREE": str(args.tree.resolve())} if name == "tree" and args.tree else {}),
            }
            runtime = FunctionRuntime(
                stack, "CheckUsageFunction", env, code_dir=REPO / "bench/profiling", handler="ablated.handler"
            )
            if cgroup is not None:
                quota = stack_of.enter_context(CpuQuota(cgroup, cpu_share(args.mb), f"stage-{name}"))
                runtime.launcher = quota.launcher()
            runtimes[name] = stack_of.enter_context(runtime)
            ticks[name] = 0

        def tick(name: str) -> dict[str, str]:
            ticks[name] += 1  # 15 minutes apart for each variant; a second apart between them
            at = FIRST_TICK + timedelta(minutes=15 * ticks[name], seconds=names.index(name))
            return {"source": "schedule", "scheduled_time": str(format_time(at))}

        for _ in range(2):  # the cold run and a warm one, whose results the others reuse
            for name in names:
                _invoke(runtimes[name], tick(name))
        cpu: dict[str, list[float]] = {name: [] for name in names}
        queued: dict[str, int] = dict.fromkeys(names, 0)
        flushes: dict[str, list[float]] = {name: [] for name in names}
        timed: dict[str, dict[str, list[float]]] = {name: {part: [] for part in TIMED} for name in names}
        for r in range(args.rounds):
            order = names if r % 2 == 0 else names[::-1]
            for name in order:
                spent, messages, parts = _invoke(runtimes[name], tick(name))
                cpu[name].append(spent / args.n * 1000)
                for part in TIMED:
                    timed[name][part].append(parts.get(part, 0.0) / args.n * 1000)
                queued[name] += messages
                flushes[name].append(parts.get("flushes", 0.0))
    head = f"  {'variant':<9} {'ablated':<34} {'CPU a monitor':>13} {'range':>11} {'least':>8} {'base less it':>12}"
    print(head + "  thread CPU of: " + " ".join(f"{p.removesuffix('_cpu'):>6}" for p in TIMED))
    for name in names:
        median = statistics.median(cpu[name])
        # Paired round by round: the base's run of the same round less this one's.
        less = statistics.median(b - v for b, v in zip(cpu["base"], cpu[name], strict=True)) if "base" in cpu else 0.0
        print(
            f"  {name:<9} {VARIANTS[name] or '-':<34} {median:>10.3f} ms"
            f" [{min(cpu[name]):.2f}-{max(cpu[name]):.2f}] {min(cpu[name]):>5.2f} ms"
            f" {'' if name == 'base' else f'{less:.3f} ms':>12} {'':14}"
            + " ".join(f"{statistics.median(timed[name][p]):>6.3f}" for p in TIMED)
            + (f" ({queued[name]} messages)" if queued[name] else "")
            + (f" ({args.n / statistics.median(flushes[name]):.1f} a flush)" if any(flushes[name]) else "")
        )
    print("  rounds (ms a monitor): " + "; ".join(f"{n} " + " ".join(f"{c:.2f}" for c in cpu[n]) for n in names))
    if "base" in cpu:
        print(
            "  base less each, round by round (ms a monitor): "
            + "; ".join(
                f"{n} " + " ".join(f"{b - v:+.2f}" for b, v in zip(cpu["base"], cpu[n], strict=True))
                for n in names
                if n != "base"
            )
        )
        for part in ("loop_cpu", "core_cpu"):
            base = timed["base"][part]
            print(
                f"  base less each, {part.removesuffix('_cpu')} thread CPU, median of rounds: "
                + "; ".join(
                    f"{n} {statistics.median(b - v for b, v in zip(base, timed[n][part], strict=True)):+.3f} ms"
                    for n in names
                    if n != "base"
                )
            )
    print(f"  load average at the end: {_load()}")
    return 0


def _invoke(runtime: FunctionRuntime, event: dict[str, str]) -> tuple[float, int, dict[str, float]]:
    """The run's CPU in seconds (all threads), the messages it queued (a state change costs
    a transaction: a variant should make none warm), and the stand-in's own figures (TIMED,
    CPU seconds of the threads that ran them; `flushes`, the calls that decided the checks
    whose readings were in); a failed run stops the bench."""
    before = runtime.cpu_seconds() or 0.0
    invocation = runtime.invoke(event)
    spent = (runtime.cpu_seconds() or 0.0) - before
    result = invocation.result or {}
    if invocation.error or result.get("failed"):
        raise RuntimeError(invocation.error or result)
    return spent, int(result.get("queued", 0)), {part: float(result.get(part, 0.0)) for part in (*TIMED, "flushes")}


if __name__ == "__main__":
    sys.exit(main())
