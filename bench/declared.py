"""Declared providers against coded ones: CPU per parse on the same answer, and what loading
the catalogue costs a cold container.

The coded parsers are the ones cloudlayer.io and Converra had before they became declarations
(bench/coded_reference.py); both must read the documented answer to the same meters first.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import coded_reference as coded
from quotawatch.providers import get_provider
from quotawatch_local.fakes.cloudlayer import LIMIT_PLAN
from quotawatch_local.fakes.converra import PRO_USAGE

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
CATALOGUE_PROBE = (
    "import time, app{pre}; t = time.perf_counter(); from quotawatch.providers import catalogued; "
    "n = len(catalogued()); print(time.perf_counter() - t, n)"
)


def bench_declared(calls: int = 20_000) -> None:
    print(f"Declared against coded providers: CPU per parse of the documented answer, {calls:,} parses")
    print(f"  {'provider':<12}{'coded':>10}{'declared':>11}{'ratio':>8}")
    cases: list[tuple[str, Callable[[Any, datetime], Any], Any]] = [
        ("cloudlayer", coded.cloudlayer_parse, LIMIT_PLAN),
        ("converra", coded.converra_parse, PRO_USAGE),
    ]
    for name, coded_parse, body in cases:
        provider = get_provider(name)
        if provider is None or provider.parse(body, NOW) != coded_parse(body, NOW):
            raise SystemExit(f"{name}: the declaration and the code read the documented answer differently")
        declared_parse = provider.parse
        coded_us = _cpu_per_call(coded_parse, body, calls)
        declared_us = _cpu_per_call(declared_parse, body, calls)
        print(f"  {name:<12}{coded_us:>8.1f} µs{declared_us:>8.1f} µs{declared_us / coded_us:>7.2f}x")
    print()


def _cpu_per_call(parse: Callable[[Any, datetime], Any], body: Any, calls: int) -> float:
    samples = []
    for _ in range(5):
        start = time.process_time()
        for _ in range(calls // 5):
            parse(body, NOW)
        samples.append((time.process_time() - start) / (calls // 5) * 1e6)
    return statistics.median(samples)


def bench_catalogue_load(env: dict[str, str], processes: int = 15) -> None:
    """The whole catalogue read and compiled in a fresh process, after the handler's import."""

    def median(pre: str) -> tuple[float, int]:
        samples, count = [], 0
        for _ in range(processes):
            done = subprocess.run(
                [sys.executable, "-c", CATALOGUE_PROBE.format(pre=pre)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            seconds, count_text = done.stdout.split()
            samples.append(float(seconds))
            count = int(count_text)
        return statistics.median(samples), count

    with_yaml, count = median("")
    without_yaml, _ = median(", yaml")
    print(f"  catalogue, {count} providers  {with_yaml * 1000:7.1f} ms  (PyYAML's import included; target 20 ms)")
    print(f"  catalogue without PyYAML   {without_yaml * 1000:7.1f} ms  (the monitors file imports PyYAML anyway)")


if __name__ == "__main__":
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    bench_declared()
