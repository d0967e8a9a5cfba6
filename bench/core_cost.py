"""What a warm check run's own Python work costs per monitor, outside HTTP and storage.

The monitor of `python bench/run.py --ratio`: a cloudlayer answer (five meters, four with a
limit), a full window of 48 readings in which every figure moved, a reading every 15
minutes. Per monitor, as `check._evaluate_and_decide` does it: decode the stored window,
evaluate the reading against it (every signal, burn included), decide against the states
the previous run stored, roll the reading in and encode the window again. Layers are run
one process each, interleaved round by round, so that two trees compare on the same load:

    python bench/core_cost.py [LAYER_DIR ...] [--rounds 5] [--n 2000]

It prints, per layer, the median CPU per monitor over the rounds (and its parts) with the
range, and the stored window's size; a round's figure for each part is the least of its
batches of 50 monitors, which compares trees but understates the work by a tenth to a
fifth, so the mean of every batch is printed too. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PARTS = ("decode", "evaluate", "decide", "roll", "encode")


def _measure(n: int) -> dict[str, Any]:
    """One round in this process: CPU per monitor of each part, in seconds."""
    from quotawatch.core.alerts import decide
    from quotawatch.core.rules import DEFAULT_POLICY, DEFAULT_THRESHOLDS, evaluate
    from quotawatch.core.snapshot import Snapshot
    from quotawatch.core.window import WINDOW_SIZE, Window, roll
    from quotawatch.providers import get_provider
    from quotawatch_local.fakes.cloudlayer import LIMIT_PLAN

    newest = datetime(2026, 11, 24, tzinfo=UTC)
    provider = get_provider("cloudlayer")
    if provider is None:
        raise SystemExit("no cloudlayer provider")
    usage = provider.parse(LIMIT_PLAN, newest)
    history = [  # as bench/run.py's _full_window: every figure moving
        Snapshot(
            "bench",
            "cloudlayer",
            newest - timedelta(minutes=15 * i),
            usage.period,
            tuple(replace(m, used=None if m.used is None else round(m.used * (1 - i / 400))) for m in usage.meters),
        )
        for i in range(4 * WINDOW_SIZE)
    ]
    stored = Window.of(roll(history[0], history[1:])).encode()
    answer = provider.parse({**LIMIT_PLAN, "calls": 500}, newest)  # what the bench's fake answers
    states: dict[str, Any] = {}
    thresholds = DEFAULT_THRESHOLDS

    def run(at: datetime, stored: bytes) -> tuple[bytes, Any, Any]:
        snapshot = Snapshot("bench", "cloudlayer", at, answer.period, answer.meters)
        past = Window.decode(stored, "bench")
        evaluation = evaluate(snapshot, past, lambda _: thresholds, {k: s.level for k, s in states.items()})
        decisions = decide(evaluation.signals, states, at, DEFAULT_POLICY, evaluation.speaks_for)
        return past.rolled(snapshot).encode(), snapshot, decisions

    # The cold run, whose states and window the warm runs start from.
    first = newest + timedelta(minutes=15)
    stored, _, decisions = run(first, stored)
    states.update({d.state.key: d.state for d in decisions})
    snapshot = Snapshot("bench", "cloudlayer", first + timedelta(minutes=15), answer.period, answer.meters)
    clock = time.process_time
    # Batches of monitors, and of each part the least a batch took: on a machine shared
    # with other work the least is the work itself, the rest is waiting for the CPU.
    batch = 50
    parts = [float("inf")] * len(PARTS)
    whole = 0.0  # every batch's CPU a monitor, for the mean: the least understates a run's
    previous = {k: s.level for k, s in states.items()}
    for _ in range(max(1, n // batch)):
        spent = [0.0] * len(PARTS)
        for _ in range(batch):
            t0 = clock()
            past = Window.decode(stored, "bench")
            t1 = clock()
            evaluation = evaluate(snapshot, past, lambda _: thresholds, previous)
            t2 = clock()
            decide(evaluation.signals, states, snapshot.checked_at, DEFAULT_POLICY, evaluation.speaks_for)
            t3 = clock()
            rolled = past.rolled(snapshot)
            t4 = clock()
            rolled.encode()
            t5 = clock()
            for i, part in enumerate((t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                spent[i] += part / batch
        parts = [min(a, b) for a, b in zip(parts, spent, strict=True)]
        whole += sum(spent)
    mean = whole / max(1, n // batch)
    return {"parts": parts, "mean": mean, "bytes": len(stored), "rows": len(past)}


def main() -> None:
    default = str(Path(__file__).resolve().parents[1] / "layers/quotawatch")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("layers", nargs="*", default=[default])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, default=2000, help="monitors a round")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a round, in a child
    args = parser.parse_args()
    if args.one:
        sys.path.insert(0, args.layers[0])
        # The editable install's finder would import this tree's layer whatever the path says.
        sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
        print(json.dumps(_measure(args.n)))
        return
    results: dict[str, list[dict[str, Any]]] = {layer: [] for layer in args.layers}
    for _ in range(args.rounds):
        for layer in args.layers:
            command = [sys.executable, __file__, layer, "--one", "--n", str(args.n)]
            results[layer].append(json.loads(subprocess.run(command, check=True, capture_output=True).stdout))
    for layer, rounds in results.items():
        totals = [sum(r["parts"]) * 1e6 for r in rounds]
        split = ", ".join(
            f"{name} {statistics.median(r['parts'][i] for r in rounds) * 1e6:.0f}" for i, name in enumerate(PARTS)
        )
        means = [r["mean"] * 1e6 for r in rounds]
        print(
            f"{layer}: {rounds[0]['rows']} rows, window {rounds[0]['bytes']} B; CPU a monitor"
            f" {statistics.median(totals):.0f} µs ({min(totals):.0f}-{max(totals):.0f}; {split});"
            f" mean of all batches {statistics.median(means):.0f} µs ({min(means):.0f}-{max(means):.0f})"
        )


if __name__ == "__main__":
    main()
