"""What reading monitors.yaml costs: the validation libraries' cold import, the handler's,
and the parse of a file of N monitors (written with anchors and merge keys, as people do).

Imports run in fresh processes under Lambda's CPU share for 1,024 MB (bench/cpuquota.py)
when a CPU-limited cgroup can be made, unlimited otherwise. Prints figures; asserts nothing.

    python bench/config_load.py            # what `make bench` prints under "Configuration"
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "layers/quotawatch"), str(REPO)]

from bench.cpuquota import CpuQuota, cpu_share, find_cgroup_root, handler_import_env  # noqa: E402

MEMORY_MB = 1024
PROBE = "import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
# What each candidate costs a cold start: its import and one small model defined with it.
CANDIDATES = {
    "boto3": "import boto3",
    "pydantic": "import pydantic; from typing import Literal\n"
    "class M(pydantic.BaseModel):\n a: int\n b: str = ''\n c: Literal['x', 'y'] = 'x'\n d: dict[str, float] = {}",
    "msgspec": "import msgspec; from typing import Literal\n"
    "class M(msgspec.Struct, forbid_unknown_fields=True):\n a: int\n b: str = ''\n c: Literal['x', 'y'] = 'x'\n"
    " d: dict[str, float] = {}",
    "check handler": "import app",
    "check handler, then the models": "import app; import quotawatch.models",
}


def bench_config_load(processes: int = 11) -> None:
    env = handler_import_env()
    root = find_cgroup_root()
    share = cpu_share(MEMORY_MB)
    setting = f"under {share:.3f} vCPU ({MEMORY_MB} MB)" if not isinstance(root, str) else f"unlimited ({root})"
    print(f"Configuration: cold import {setting}, median of {processes} fresh processes")
    figures: dict[str, float] = {}
    for label, code in CANDIDATES.items():
        samples = []
        for index in range(processes + 1):  # the first warms the file cache
            command = [sys.executable, "-c", PROBE.format(code=code)]
            if isinstance(root, str):
                done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            else:
                with CpuQuota(root, share, f"config-{index}") as quota:
                    done = subprocess.run(
                        [*quota.launcher(), *command], env=env, capture_output=True, text=True, check=False
                    )
            if done.returncode != 0:
                break
            samples.append(float(done.stdout))
        if len(samples) > 1:
            figures[label] = statistics.median(samples[1:])
            print(f"  {label:<40} {figures[label] * 1000:7.1f} ms", end="")
            ratio = f"  ({figures[label] / figures['boto3']:.2f} x boto3)" if "boto3" in figures else ""
            print(ratio)
        else:
            print(f"  {label:<40} not installed")
    bench_parse()
    print()


def monitors_yaml(n: int, shared: bool) -> str:
    """N monitors, written out or sharing their fields through an anchor and merge keys."""
    fields = ["provider: cloudlayer", "secret_field: cloudlayer", "remind_every_hours: 12"]
    fields.append("meters: {calls: {min_remaining: 100}}")
    lines = ["defaults:", "  thresholds: {warning: 80, critical: 95}", "monitors:"]
    for index in range(n):
        if shared and index:
            lines += ["  - <<: *first", f"    id: m-{index}"]
        else:
            lines += ["  - &first" if shared else "  -", f"    id: m-{index}", *(f"    {f}" for f in fields)]
    return "\n".join(lines) + "\n"


def bench_parse(sizes: tuple[int, ...] = (1000, 10_000), repeat: int = 5) -> None:
    """Parse and validation of monitors.yaml in this process (a warm container whose file changed)."""
    from quotawatch import config

    with tempfile.TemporaryDirectory() as folder:
        for n in sizes:
            for shared in (False, True):
                path = Path(folder) / "monitors.yaml"
                path.write_text(monitors_yaml(n, shared))
                samples = []
                label = f"parse of {n:,} monitors, {'merge keys' if shared else 'written out'}"
                for _ in range(repeat):
                    config._parsed.clear()
                    started = time.process_time()
                    try:
                        loaded = config.load_monitors(path)
                    except config.ConfigError as exc:
                        print(f"  {label:<40} refused: {exc}")
                        break
                    samples.append(time.process_time() - started)
                if samples and len(loaded.monitors) != n:
                    raise SystemExit(f"the bench file does not load: {loaded.problems[:1]}")
                if samples:
                    print(f"  {label:<40} {statistics.median(samples) * 1000:7.1f} ms CPU")


if __name__ == "__main__":
    bench_config_load()
