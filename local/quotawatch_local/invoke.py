"""Local invoke: run a function of template.yaml with an event, as `sam local invoke -e` does.

The function runs in its own Python process (a warm container: several events may be
sent to it) with the environment of the deployed function in the local stack, its code
folder and its layers' folders on the path, and AWS reached only through AWS_ENDPOINT_URL.
It trusts the fake providers' test CA through QUOTAWATCH_CA_BUNDLE, a setting only the
local platform sets.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quotawatch_local.fakes import tls
from quotawatch_local.local_stack import LocalStack

_WORKER = Path(__file__).resolve().with_name("_worker.py")
# What a Lambda process inherits from the machine: nothing of the developer's AWS setup.
_PASS_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "PYENV_VERSION")


@dataclass
class Invocation:
    result: Any
    error: dict[str, Any] | None  # errorType, errorMessage, stackTrace: Lambda's error payload
    logs: list[str] = field(default_factory=list)

    def log_records(self) -> list[dict[str, Any]]:
        """The structured (JSON) log lines, as CloudWatch Logs Insights would see them."""
        records = []
        for line in self.logs:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return records


class FunctionRuntime:
    """One warm execution environment of a function from the local stack.

    `code_dir` and `handler` replace the function's code (its CodeUri folder and Handler) with
    a stand-in, keeping everything else of the deployed function: tests of the platform use
    it to run a probe where the real handler would run.

    `launcher`, set before start(), is a command prefix that ends by exec'ing its arguments
    (the benchmark's puts the process into a CPU-limited cgroup before Python starts).
    """

    launcher: tuple[str, ...] = ()

    def __init__(
        self,
        stack: LocalStack,
        logical_id: str,
        env_overrides: dict[str, str] | None = None,
        *,
        code_dir: Path | None = None,
        handler: str | None = None,
    ) -> None:
        self.stack = stack
        self.logical_id = logical_id
        self._env_overrides = env_overrides or {}
        self._code_dir = code_dir
        self._handler = handler
        self._process: subprocess.Popen[str] | None = None
        self._log_lines: queue.Queue[str] = queue.Queue()

    def start(self) -> FunctionRuntime:
        config = self.stack.aws.client("lambda").get_function_configuration(
            FunctionName=self.stack.function_name(self.logical_id)
        )
        code_dir = self._code_dir or self.stack.source_dir(self.logical_id)
        layer_dirs = [self.stack.source_dir(layer) for layer in self._layer_ids()]
        env = {name: os.environ[name] for name in _PASS_THROUGH if name in os.environ}
        env.update(self.stack.aws.environment)
        env.update({k: str(v) for k, v in config.get("Environment", {}).get("Variables", {}).items()})
        env.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": config["FunctionName"],
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.get("MemorySize", 128)),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{config.get('Runtime', 'python3.13')}",
                "LAMBDA_TASK_ROOT": str(code_dir),
                # As in Lambda: the function's code first, then its layers (/opt/python).
                "PYTHONPATH": os.pathsep.join([str(code_dir), *map(str, layer_dirs)]),
                "PYTHONDONTWRITEBYTECODE": "1",
                # The fakes' test CA, trusted besides certifi's CAs (never set in Lambda).
                tls.CA_BUNDLE_VARIABLE: tls.ca_bundle(),
            }
        )
        env.update(self._env_overrides)
        worker = [sys.executable, str(_WORKER), self._handler or config["Handler"], str(config.get("Timeout", 3))]
        self._process = subprocess.Popen(
            [*self.launcher, *worker],
            cwd=code_dir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._pump_logs, daemon=True).start()
        return self

    def invoke(self, event: dict[str, Any]) -> Invocation:
        process = self._process
        if process is None or process.stdin is None or process.stdout is None:
            raise RuntimeError("start() the runtime first")
        marker = f"--end-of-invocation-{uuid.uuid4()}--"
        process.stdin.write(json.dumps({"event": event, "marker": marker}) + "\n")
        process.stdin.flush()
        line = process.stdout.readline()
        if not line:
            process.wait()
            logs = self._drain(None)
            raise RuntimeError(f"{self.logical_id} exited with code {process.returncode}:\n" + "\n".join(logs[-20:]))
        reply = json.loads(line)
        return Invocation(reply.get("result"), reply.get("error"), self._drain(marker))

    @property
    def pid(self) -> int | None:
        """The container's process id, while it runs."""
        return None if self._process is None else self._process.pid

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system, all threads) the container has used so far (Linux)."""
        stat = self._proc("stat")
        if stat is None:
            return None
        # Fields after the command name, which is in parentheses and may hold spaces.
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float | None:
        """The container's peak resident memory so far (Linux), what Lambda bills as memory used."""
        for line in (self._proc("status") or "").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return None

    def _proc(self, name: str) -> str | None:
        """The container process's /proc/<pid>/<name>, while it runs (Linux)."""
        if self._process is None:
            return None
        try:
            return Path(f"/proc/{self._process.pid}/{name}").read_text()
        except OSError:
            return None

    def kill(self) -> None:
        """The container dies where it stands (a timeout, an out-of-memory kill)."""
        if self._process is not None:
            self._process.kill()

    def stop(self) -> None:
        if self._process is not None:
            if self._process.stdin:
                self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self._process = None

    def __enter__(self) -> FunctionRuntime:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _layer_ids(self) -> list[str]:
        layers = self.stack.template["Resources"][self.logical_id].get("Properties", {}).get("Layers", [])
        return [layer["Ref"] for layer in layers if isinstance(layer, dict) and "Ref" in layer]

    def _pump_logs(self) -> None:
        process = self._process
        if process is None or process.stderr is None:
            return
        for line in process.stderr:
            self._log_lines.put(line.rstrip("\n"))

    def _drain(self, marker: str | None) -> list[str]:
        lines: list[str] = []
        while True:
            try:
                line = self._log_lines.get(timeout=5 if marker else 0.5)
            except queue.Empty:
                return lines
            if line == marker:
                return lines
            lines.append(line)


def invoke_once(
    stack: LocalStack, logical_id: str, event: dict[str, Any], env_overrides: dict[str, str] | None = None
) -> Invocation:
    """A cold start and one event: what `sam local invoke -e event.json` does."""
    with FunctionRuntime(stack, logical_id, env_overrides) as runtime:
        return runtime.invoke(event)
