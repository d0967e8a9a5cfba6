"""The fetch stage alone: a thread pool against asyncio (aiohttp), under Lambda's CPU shares.

Each variant runs in its own process in a CPU-limited cgroup (bench/cpuquota.py) against
the fake provider over https (200 ms an answer), fetching and parsing N answers a round:
- threads: urllib3 on CHECK_CONCURRENCY threads, one TLS context (the peer's way, and
  QuotaWatch's client until the fetch stage moved to asyncio);
- client: QuotaWatch's own client (adapters/http.py: aiohttp on one loop, its checks of
  URL, headers, status and size), as many fetches at once;
- asyncio: bare aiohttp with as many connections, one event loop, the same TLS context.
A warm-up round opens the connections; the figures are the median of the timed rounds.
Run by `python bench/run.py --fetch`.
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
    """`pools`: how many fetches at once (threads, or QuotaWatch's connections on its loop)."""
    from quotawatch_local.fakes import tls

    rounds = 3
    variants = [f"threads:{pool}" for pool in pools] + [f"client:{pool}" for pool in pools]
    variants += ["asyncio"] if pools == (THREADS,) else []

    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "layers/quotawatch"), str(REPO)]),
        tls.CA_BUNDLE_VARIABLE: tls.ca_bundle(),
    }
    print(f"Fetch stage alone (fetch and parse N answers, 200 ms each), median of {rounds} rounds")
    print(f"  {'CPU share':<20} {'N':>6} " + " ".join(f"{v + ' wall / CPU a mon.':>25}" for v in variants))
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
                row.append(f"{figures['wall']:>6.2f} s / {figures['cpu'] / n * 1000:>5.2f} ms")
            print(f"  {memory:>5} MB ({cpu_share(memory):.3f} vCPU) {n:>6} " + " ".join(f"{r:>25}" for r in row))
    print()


def _threads(url: str, key: str, n: int, threads: int) -> Any:
    from concurrent.futures import ThreadPoolExecutor

    import urllib3

    from quotawatch.adapters.http import shared_ssl_context

    pool = urllib3.PoolManager(maxsize=threads, ssl_context=shared_ssl_context())
    executor = ThreadPoolExecutor(threads)
    headers = {"X-API-Key": key, "Accept": "application/json"}

    def one(_: int) -> Any:
        return json.loads(pool.request("GET", url, headers=headers, timeout=10.0, retries=False).data)

    def round_() -> None:
        list(executor.map(one, range(n)))

    return round_


def _client(url: str, key: str, n: int, connections: int) -> Any:
    import asyncio

    from quotawatch.adapters.http import HttpClient
    from quotawatch.ports import HttpRequest

    client = HttpClient(pool_size=connections)
    request = HttpRequest(url, {"X-API-Key": key})

    async def all_() -> None:
        await asyncio.gather(*(client.fetch_async(request) for _ in range(n)))

    return lambda: client.run(all_())


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
    variant_of = {"threads": _threads, "client": _client, "asyncio": _asyncio}
    round_ = variant_of[kind](url, key, n, int(threads or THREADS))
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
