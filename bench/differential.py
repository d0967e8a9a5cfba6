"""Differential replay: two trees judge the same random chains of runs, and must agree.

A speed change to the window, the rules or the forecasts must not change anything a person
reads or the store keeps. Each tree runs in a process of its own (as bench/core_cost.py),
replaying the same chains of readings from the same seed, as `check._evaluate_and_decide`
does: decode the stored window, evaluate, decide against the stored states, render each
message, roll and encode. Chains mix random meters (limits, balances, counts, whole and
fractional figures, budgets, floors), failures, gaps, resets, new periods, late runs and
8-day stretches for the burn rule. Usage:

    python bench/differential.py OLD_LAYER NEW_LAYER [--chains 300] [--seed 1]

It prints how many runs differ in what a person reads or the store keeps (levels,
decisions, messages, stored states, the stored window's bytes) and, apart, in the exact
floats of the forecasts (a rate's last bits), with the first differences. Exit status 1
when anything read or stored differs.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

_NAMES = ("calls", "credit", "storage", "jobs", "tokens", "seats")


def _chain(rng: random.Random, index: int) -> list[dict[str, Any]]:
    """One chain's runs as plain data (the same in both trees): per run its time and reading."""
    long = index % 10 == 0  # every tenth chain spans the burn rule's 8 days and more
    runs = rng.randint(800, 1000) if long else rng.randint(5, 160)
    step = rng.choice((900, 900, 900, 300, 1800, 3600))
    meters: list[dict[str, Any]] = []
    for name in rng.sample(_NAMES, rng.randint(1, 5)):
        kind = rng.choice(("limit", "limit", "limit", "balance", "count", "remaining"))
        limit = rng.choice((1000, 5000, 10**6, 5 * 2**30, 250.0, 0))
        meters.append(
            {
                "name": name,
                "kind": kind,
                "limit": limit,
                "value": rng.uniform(0, limit or 100) if rng.random() < 0.5 else rng.randint(0, int(limit or 100)),
                "rate": rng.choice((0.0, 0.001, 0.01, 0.05, 0.2)) * (limit or 100) / 96,
                "floats": rng.random() < 0.3,
                "floor": rng.random() < 0.2,
                "budget": kind == "count" and rng.random() < 0.3,
            }
        )
    at = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 86_400))
    period_start = at - timedelta(days=rng.randint(0, 25))
    out: list[dict[str, Any]] = []
    for _ in range(runs):
        gap = step
        roll = rng.random()
        if roll < 0.02:
            gap = step * rng.randint(2, 40)  # a gap: runs that did not happen
        elif roll < 0.03:
            gap = -rng.randint(60, 3 * step)  # a late run: older than the newest stored reading
        elif roll < 0.06:
            gap = step + rng.randint(-120, 120)  # jitter
        at += timedelta(seconds=gap)
        if rng.random() < 0.005:
            period_start = at - timedelta(minutes=rng.randint(0, 30))  # a new billing period
            for meter in meters:
                if meter["kind"] != "balance":
                    meter["value"] = 0
        failure = rng.random() < 0.05
        reading: dict[str, Any] = {"at": at.timestamp(), "failed": None}
        if failure:
            reading["failed"] = rng.choice(("unavailable", "rate_limited", "auth", "bad_response", "internal"))
        else:
            figures = []
            for meter in meters:
                burst = 20 if rng.random() < 0.01 else 1
                move = meter["rate"] * burst * rng.uniform(0, 2)
                if meter["kind"] == "balance":
                    meter["value"] = max(0, meter["value"] - move) if rng.random() > 0.01 else meter["value"] + 500
                else:
                    meter["value"] += move
                    if rng.random() < 0.003:
                        meter["value"] /= 10  # a reset the provider did not date
                value = meter["value"] if meter["floats"] else round(meter["value"])
                if rng.random() < 0.02:
                    continue  # the meter absent from this reading
                figures.append([meter["name"], meter["kind"], meter["limit"], value])
            reading["meters"] = figures
            reading["period"] = period_start.timestamp() if rng.random() < 0.95 else None
        out.append(reading)
    return out


def _settings(rng: random.Random) -> dict[str, Any]:
    return {"floors": rng.random() < 0.3, "burn_short": rng.choice((1800.0, 3600.0)), "forecast_days": 7.0}


def _replay(chains: int, seed: int) -> None:
    """In a child: every run of every chain, one JSON line per run."""
    from quotawatch.core.alerts import decide
    from quotawatch.core.burn import BurnSettings
    from quotawatch.core.messages import render
    from quotawatch.core.rules import AlertPolicy, Thresholds, evaluate
    from quotawatch.core.snapshot import ErrorKind, Meter, Period, Snapshot
    from quotawatch.core.window import Window

    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic readings, not secrets
    for index in range(chains):
        chain = _chain(rng, index)
        settings = _settings(rng)
        policy = AlertPolicy(forecast_days=settings["forecast_days"])
        budgets: dict[str, float] = {}
        floors: set[str] = set()
        for reading in chain:
            for name, kind, limit, _ in reading.get("meters", []):
                if kind == "count" and limit:
                    budgets[name] = limit
                if kind in ("balance", "remaining") and settings["floors"]:
                    floors.add(name)
        burn = BurnSettings(short=settings["burn_short"])

        def thresholds_for(name: str, burn: BurnSettings = burn, floors: set[str] = floors) -> Thresholds:
            if name in floors:
                return Thresholds(floor_warning=100.0, floor_critical=20.0, burn=burn)
            return Thresholds(burn=burn)

        stored: bytes | None = None
        states: dict[str, Any] = {}
        for step, reading in enumerate(chain):
            at = datetime.fromtimestamp(reading["at"], UTC)
            if reading["failed"]:
                snapshot = Snapshot.failed("m", "p", at, ErrorKind(reading["failed"]), "m: it failed")
            else:
                meters = []
                for name, kind, limit, value in reading["meters"]:
                    if kind == "limit":
                        meters.append(Meter(name, value, limit, None if limit is None else limit - value, "calls"))
                    elif kind == "balance":
                        meters.append(Meter(name, None, None, value, "USD"))
                    elif kind == "count":
                        meters.append(Meter(name, value, budgets.get(name), None, "jobs"))
                    else:  # a limit and what remains, as reported (not limit minus used)
                        meters.append(Meter(name, value, limit, (limit or 0) - value + 1, "GB"))
                start = reading["period"]
                period = None if start is None else Period(datetime.fromtimestamp(start, UTC), None)
                snapshot = Snapshot("m", "p", at, period, tuple(meters))
            past = Window.decode(stored, "m") if stored is not None else Window.of([])
            previous = {k: s.level for k, s in states.items()}
            evaluation = evaluate(snapshot, past, thresholds_for, previous, policy)
            stored = past.rolled(snapshot).encode()
            decisions = decide(evaluation.signals, states, at, policy, evaluation.speaks_for)
            messages = [
                render(d, snapshot, "Provider", evaluation.trends).to_dict() for d in decisions if d.notice is not None
            ]
            for decision in decisions:
                states[decision.state.key] = decision.state
            read = {
                "signals": [
                    [s.key, s.level.label, s.reset, s.silent, s.failures, s.burn is not None and s.burn.level.label]
                    for s in evaluation.signals
                ],
                "speaks_for": sorted(evaluation.speaks_for),
                "decisions": [[d.state.key, d.state.level.label, d.notice, d.expected_version] for d in decisions],
                "messages": messages,
                "window": stored.hex(),
            }
            exact = {
                name: [f.per_day.hex(), None if f.runs_out_at is None else f.runs_out_at.isoformat()]
                for name, f in sorted(evaluation.trends.items())
            }
            print(json.dumps({"run": f"{index}.{step}", "read": read, "exact": exact}, default=str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("layers", nargs="+")
    parser.add_argument("--chains", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a tree, in a child
    args = parser.parse_args()
    if args.one:
        sys.path.insert(0, args.layers[0])
        # The editable install's finder would import this tree's layer whatever the path says.
        sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
        _replay(args.chains, args.seed)
        return
    if len(args.layers) != 2:
        parser.error("two layers: the old tree's and the new one's")
    outputs = []
    for layer in args.layers:
        command = [sys.executable, __file__, layer, "--one", "--chains", str(args.chains), "--seed", str(args.seed)]
        outputs.append(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines())
    old, new = ([json.loads(line) for line in lines] for lines in outputs)
    if len(old) != len(new):
        raise SystemExit(f"{len(old)} runs against {len(new)}: the replays differ in length")
    read = [(a, b) for a, b in zip(old, new, strict=True) if a["read"] != b["read"]]
    exact = [(a, b) for a, b in zip(old, new, strict=True) if a["exact"] != b["exact"]]
    messages = sum(len(a["read"]["messages"]) for a in old)
    forecasts = sum(len(a["exact"]) for a in old)
    print(
        f"{args.chains} chains, {len(old)} runs, {messages} messages, {forecasts} forecasts (seed {args.seed}):"
        f" {len(read)} runs differ in what is read or stored, {len(exact)} in a forecast's exact floats"
    )
    for a, b in (read + exact)[:5]:
        print(f"run {a['run']}:")
        for part in ("read", "exact"):
            for key in a[part]:
                if a[part][key] != b[part][key]:
                    print(f"  {key}: {str(a[part][key])[:300]}\n  {' ' * len(key)}  {str(b[part][key])[:300]}")
    sys.exit(1 if read else 0)


if __name__ == "__main__":
    main()
