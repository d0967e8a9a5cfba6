"""What the burn signal and the window's second tier cost a check run, per monitor.

The part of a run they change, on one monitor with six meters (four with a limit, a
balance, a count without a limit), every figure moving, after ten days of checks every 15
minutes: decode the stored window, evaluate the reading against it (every signal, the burn
too), roll the reading in and encode the window again. Run it with the layer of one tree
and of another, interleaved, to compare (the layer's path is the first argument, default
this tree's):

    python bench/burn_cost.py [LAYER_DIR] [--rounds 5] [--n 2000]

It prints the median CPU per monitor over the rounds, and the stored window's size.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("layer", nargs="?", default=str(Path(__file__).resolve().parents[1] / "layers/quotawatch"))
parser.add_argument("--rounds", type=int, default=5)
parser.add_argument("--n", type=int, default=2000, help="monitors a round")
args = parser.parse_args()
sys.path.insert(0, args.layer)
# The editable install's finder would import this tree's layer whatever the path says.
sys.meta_path = [finder for finder in sys.meta_path if "editable" not in repr(finder).lower()]

from quotawatch.core.rules import DEFAULT_POLICY, DEFAULT_THRESHOLDS, evaluate  # noqa: E402
from quotawatch.core.snapshot import Meter, Period, Snapshot  # noqa: E402
from quotawatch.core.window import Window  # noqa: E402

START = datetime(2026, 11, 14, tzinfo=UTC)
PERIOD = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


def readings(count: int) -> list[Snapshot]:
    rng = random.Random(7)  # noqa: S311 - synthetic usage
    used = {"calls": 0, "output_bytes": 0, "compute_time": 0, "storage": 0, "failed_jobs": 0}
    credit = 50_000.0
    out = []
    for n in range(count):
        for name in used:
            used[name] += rng.randint(0, 40)
        credit -= rng.uniform(0, 3)
        meters = (
            Meter("calls", used["calls"], 100_000, 100_000 - used["calls"], "calls"),
            Meter("output_bytes", used["output_bytes"] * 1024, 10**9, None, "bytes"),
            Meter("compute_time", used["compute_time"], 600_000, None, "ms"),
            Meter("storage", used["storage"], 10**6, None, "bytes"),
            Meter("failed_jobs", used["failed_jobs"], None, None, "jobs"),
            Meter("credit", None, None, round(credit, 2), "credits"),
        )
        out.append(Snapshot("bench", "cloudlayer", START + n * timedelta(minutes=15), PERIOD, meters))
    return out


def main() -> None:
    history = readings(10 * 96 + 1)
    window = Window.of([])
    for reading in history[:-1]:
        window = window.rolled(reading)
    stored, snapshot = window.encode(), history[-1]
    thresholds = DEFAULT_THRESHOLDS
    cpus = []
    for _ in range(args.rounds):
        start = time.process_time()
        for _ in range(args.n):
            past = Window.decode(stored, "bench")
            evaluate(snapshot, past, lambda _: thresholds, {}, DEFAULT_POLICY)
            past.rolled(snapshot).encode()
        cpus.append((time.process_time() - start) / args.n)
    cpu = statistics.median(cpus) * 1e6
    print(f"{args.layer}: {len(window)} rows, window {len(stored)} B; CPU a monitor {cpu:.0f} µs")


main()
