"""Lambda's CPU for the function process: a cgroup CPU quota in proportion to MemorySize.

Lambda gives a function CPU in proportion to its memory, one vCPU at 1,769 MB. The bench
runs the function's process in a child cgroup whose CFS quota is that share of one CPU:
cgroup v1 (`cpu.cfs_quota_us` over `cpu.cfs_period_us`) or v2 (`cpu.max`). The process
joins the cgroup before Python starts (a `sh` launcher writes its own pid into
`cgroup.procs`, then execs), so its imports are limited too. Needs root and a writable
cgroup file system; `find_cgroup_root()` says why not when it is not.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Self

ONE_VCPU_MB = 1769
PERIOD_US = 100_000
V1_ROOT = Path("/sys/fs/cgroup/cpu")


def cpu_share(memory_mb: int) -> float:
    """The share of one CPU Lambda gives a function of this MemorySize."""
    return memory_mb / ONE_VCPU_MB


@dataclass(frozen=True)
class CgroupRoot:
    path: Path
    version: int  # 1 or 2

    def describe(self) -> str:
        control = "cpu.cfs_quota_us / cpu.cfs_period_us" if self.version == 1 else "cpu.max"
        return f"cgroup v{self.version} CPU quota ({control}) under {self.path}"


def find_cgroup_root() -> CgroupRoot | str:
    """Where a CPU-limited child cgroup can be made, or the reason it cannot."""
    if (V1_ROOT / "cpu.cfs_quota_us").exists():
        return CgroupRoot(V1_ROOT, 1) if os.access(V1_ROOT, os.W_OK) else f"{V1_ROOT} is not writable (not root?)"
    for root in _cgroup2_mounts():
        controllers = (
            (root / "cgroup.controllers").read_text().split() if (root / "cgroup.controllers").exists() else []
        )
        if "cpu" in controllers:
            if os.access(root / "cgroup.subtree_control", os.W_OK):
                return CgroupRoot(root, 2)
            return f"{root} (cgroup v2) is not writable (not root?)"
    return "no cgroup with the cpu controller is mounted (neither v1 cpu nor v2 with cpu)"


def _cgroup2_mounts() -> list[Path]:
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return []
    return [Path(line.split()[1]) for line in mounts if len(line.split()) > 2 and line.split()[2] == "cgroup2"]


class CpuQuota:
    """A child cgroup limited to `share` of one CPU, for the function's process only."""

    def __init__(self, root: CgroupRoot, share: float, name: str) -> None:
        self.root = root
        self.share = share
        self.path = root.path / f"quotawatch-bench-{os.getpid()}-{name}"

    def __enter__(self) -> Self:
        quota_us = max(1000, round(self.share * PERIOD_US))  # the kernel's minimum is 1 ms
        if self.root.version == 2:
            control = self.root.path / "cgroup.subtree_control"
            if "cpu" not in control.read_text().split():
                control.write_text("+cpu")
        self.path.mkdir()
        if self.root.version == 1:
            (self.path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (self.path / "cpu.cfs_quota_us").write_text(str(quota_us))
        else:
            (self.path / "cpu.max").write_text(f"{quota_us} {PERIOD_US}")
        return self

    def launcher(self) -> tuple[str, ...]:
        """A command prefix that moves itself into the cgroup, then execs the command."""
        return ("sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.path / "cgroup.procs"))

    def throttled_seconds(self) -> float:
        """How long the kernel held the group's processes back for the quota so far."""
        name, scale = ("throttled_time", 1e9) if self.root.version == 1 else ("throttled_usec", 1e6)
        stat = self.path / "cpu.stat"
        for line in stat.read_text().splitlines() if stat.exists() else []:
            key, _, value = line.partition(" ")
            if key == name:
                return int(value) / scale
        return 0.0

    def __exit__(self, *_: object) -> None:
        # The function's process has exited by now; an empty cgroup is removed with rmdir.
        try:
            self.path.rmdir()
        except OSError as exc:
            print(f"  (could not remove {self.path}: {exc})")


def handler_import_env(function: Path | None = None, layer: Path | None = None) -> dict[str, str]:
    """A clean environment in which a fresh process imports the check handler as Lambda would
    (the function's code and the layer's from the repository, or from the folders given)."""
    repo = Path(__file__).resolve().parents[1]
    function = function or repo / "functions/check_usage"
    layer = layer or repo / "layers/quotawatch"
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(function), str(layer)]),
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "quotawatch",
        "POWERTOOLS_METRICS_NAMESPACE": "QuotaWatch",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
