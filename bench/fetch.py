"""The fetch stage alone: the tuned thread pool against asyncio (aiohttp), under Lambda's CPU shares.

Each variant runs in its own process in a CPU-limited cgroup (bench/cpuquota.py) against
the fake provider over https (200 ms an answer), fetching and parsing N answers a round:
- threads: QuotaWatch's own client (adapters/http.py: urllib3, one TLS context, its checks
  of URL, headers, status and size) on CHECK_CONCURRENCY threads;
- asyncio: aiohttp with as many connections, one event loop, the same TLS context.
A warm-up round opens the connections; the figures are the median of the timed rounds.
Run by `python bench/run.py --fetch` (needs aiohttp, a dev dependency).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.cpuquota import CgroupRoot, CpuQuota, cpu_share

REPO = Path(__file__).resolve().parents[1]
THREADS = 64


def bench_fetch(
    url: str, key: str, cgroup: CgroupRoot | None, sizes: tuple[int, ...], pools: tuple[int, ...] = (THREADS,)
) -> None:
    """`pools`: thread counts for QuotaWatch's client; asyncio is measured beside the first."""
    from quotawatch_local.fakes import tls

    rounds = 3
    variants = [f"threads:{pool}" for pool in pools] + (["asyncio"] if pools == (THREADS,) else [])

    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "layers/quotawatch"), str(REPO)]),
        tls.CA_BUNDLE_VARIABLE: tls.ca_bundle(),
    }
    print(f"Fetch stage alone (fetch and parse N answers, 200 ms each), median of {rounds} rounds")
    print(f"  {'CPU share':<20} {'N':>6} " + " ".join(f"{v + ' wall/CPU a monitor':>28}" for v in variants))
    for memory in (1024, 256):
        for n in sizes:
            row = []
            for variant in variants:
                command = [sys.executable, "-m", "bench.fetch", variant, url, key, str(n), str(rounds)]
                if cgroup is None:
                    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True, cwd=REPO)
                else:
                    with CpuQuota(cgroup, cpu_share(memory), f"fetch-{variant.replace(':', '')}") as quota:
                        done = subprocess.run(
                            [*quota.launcher(), *command], env=env, capture_output=True, text=True, check=True, cwd=REPO
                        )
                figures = json.loads(done.stdout)
                row.append(f"{figures['wall']:>8.2f} s / {figures['cpu'] / n * 1000:>5.2f} ms")
            print(f"  {memory:>5} MB ({cpu_share(memory):.3f} vCPU) {n:>6} " + " ".join(f"{r:>28}" for r in row))
    print()


def _threads(url: str, key: str, n: int, threads: int) -> Any:
    from concurrent.futures import ThreadPoolExecutor

    from quotawatch.adapters.http import HttpClient

    client = HttpClient(pool_size=threads)
    executor = ThreadPoolExecutor(threads)
    headers = {"X-API-Key": key}

    def round_() -> None:
        list(executor.map(lambda _: client.get_json(url, headers), range(n)))

    return round_


def _asyncio(url: str, key: str, n: int, _: int) -> Any:
    import asyncio

    import aiohttp

    from quotawatch.adapters.http import shared_ssl_context

    loop = asyncio.new_event_loop()

    async def make() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=THREADS, ssl=shared_ssl_context())
        return aiohttp.ClientSession(connector=connector, headers={"X-API-Key": key})

    session = loop.run_until_complete(make())

    async def one() -> Any:
        async with session.get(url) as response:
            return json.loads(await response.read())

    async def all_() -> None:
        await asyncio.gather(*(one() for _ in range(n)))

    return lambda: loop.run_until_complete(all_())


def main() -> None:
    variant, url, key, n, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    kind, _, threads = variant.partition(":")
    round_ = (_threads if kind == "threads" else _asyncio)(url, key, n, int(threads or THREADS))
    round_()  # warm: connections open, imports done
    walls, cpus = [], []
    for _ in range(rounds):
        cpu, started = time.process_time(), time.perf_counter()
        round_()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    print(json.dumps({"wall": statistics.median(walls), "cpu": statistics.median(cpus)}))


if __name__ == "__main__":
    main()
