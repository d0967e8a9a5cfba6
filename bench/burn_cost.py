"""What the burn signal and the window's second tier cost a check run, per monitor.

The part of a run they change, on one monitor with six meters (four with a limit, a
balance, a count without a limit), every figure moving, after ten days of checks every 15
minutes: decode the stored window, evaluate the reading against it (every signal, the burn
too), roll the reading in and encode the window again; the four runs of one hour in turn
(the rows past the first 48 change once or twice an hour, and are carried over between).
Run it with the layer of one tree and of another, interleaved, to compare (the layer's
path is the first argument, default this tree's):

    python bench/burn_cost.py [LAYER_DIR] [--rounds 5] [--n 2000]

It prints the median CPU per monitor over the rounds (and its parts), and the stored
window's size.
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
    history = readings(10 * 96 + 4)
    window = Window.of([])
    for reading in history[:-4]:
        window = window.rolled(reading)
    thresholds = DEFAULT_THRESHOLDS
    runs = []  # (the stored window, the reading) of each run of the hour
    for reading in history[-4:]:
        stored = window.encode()
        runs.append((stored, reading))
        window = Window.decode(stored, "bench")
        evaluate(reading, window, lambda _: thresholds, {}, DEFAULT_POLICY)  # as a run: it may keep a cache
        window = window.rolled(reading)
    clock = time.process_time
    rounds = []
    for _ in range(args.rounds):
        parts = [0.0] * 4
        for n in range(args.n):
            stored, snapshot = runs[n % 4]
            t0 = clock()
            past = Window.decode(stored, "bench")
            t1 = clock()
            evaluate(snapshot, past, lambda _: thresholds, {}, DEFAULT_POLICY)
            t2 = clock()
            rolled = past.rolled(snapshot)
            t3 = clock()
            rolled.encode()
            t4 = clock()
            for i, spent in enumerate((t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                parts[i] += spent / args.n
        rounds.append(parts)
    cpu = statistics.median(sum(parts) for parts in rounds) * 1e6
    split = ", ".join(
        f"{name} {statistics.median(parts[i] for parts in rounds) * 1e6:.0f}"
        for i, name in enumerate(("decode", "evaluate", "roll", "encode"))
    )
    sizes = "/".join(str(len(stored)) for stored, _ in runs)
    print(f"{args.layer}: {len(window)} rows, window {sizes} B; CPU a monitor {cpu:.0f} µs ({split})")


main()
