"""Fan-out: a run too large for one invocation is split into shards, each checked by a worker.

What a shard is, how monitors are split into shards, a shard's message body, the
continuation of a shard whose worker had to stop (pure); and the dispatcher and the
worker's check of one shard, on the ports (the queue: adapters/queue.py). The handlers
(functions/check_usage/app.py) wire them and claim each tick and shard once.

A shard names its monitors by id, and the monitors file's problems by their position in
the file's list of problems: a problem's name may be anything the file held, even the id
of another monitor (an id used twice), so its position is the one name that is short and
unambiguous. Dispatcher and worker read the same monitors file, shipped with the code.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from quotawatch.check import CheckDeps, MonitorOutcome, run_check
from quotawatch.config import ConfigProblem, Monitor, MonitorsConfig
from quotawatch.core.snapshot import format_time
from quotawatch.ports import MessageQueue

SCHEMA = 1
DEFAULT_FANOUT_ABOVE = 0  # off: the template's FanOutAbove turns it on
DEFAULT_SHARD_SIZE = 250


class BadShard(Exception):
    """A message that is not a shard of ours: retrying it cannot help."""


@dataclass(frozen=True)
class Shard:
    """One part of one run. `run` and `index` together name it once per tick: the worker's
    claim (Powertools Idempotency) is keyed on them."""

    run: str  # the tick's scheduled time, or a manual run's own id
    scheduled_time: str  # the time the run speaks for (its readings' checked_at)
    index: str  # "3", or "3.r1", "3.r2" for what was left of shard 3 when its worker stopped
    count: int  # shards the run was split into
    monitors: tuple[str, ...]  # enabled monitors' ids
    problems: tuple[int, ...] = ()  # positions in the monitors file's list of problems

    @property
    def size(self) -> int:
        return len(self.monitors) + len(self.problems)

    def to_body(self) -> str:
        return json.dumps(
            {
                "schema": SCHEMA,
                "run": self.run,
                "scheduled_time": self.scheduled_time,
                "shard": self.index,
                "shards": self.count,
                "monitors": list(self.monitors),
                "problems": list(self.problems),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_body(cls, body: str) -> Shard:
        try:
            data: Any = json.loads(body)
            if not isinstance(data, dict) or data.get("schema") != SCHEMA:
                raise BadShard("not a shard message (schema 1)")
            shard = cls(
                run=_text(data, "run"),
                scheduled_time=_text(data, "scheduled_time"),
                index=_text(data, "shard"),
                count=int(data["shards"]),
                monitors=tuple(_texts(data.get("monitors", []))),
                problems=tuple(int(p) for p in data.get("problems", [])),
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise BadShard(f"not a shard message: {type(exc).__name__}") from None
        return shard

    def key(self) -> dict[str, str]:
        """What the worker's claim is keyed on."""
        return {"run": self.run, "shard": self.index}

    def continuation(self, monitors: Sequence[str], problems: Sequence[int]) -> Shard:
        """What is left of this shard, under a name of its own: "3" -> "3.r1" -> "3.r2"."""
        base, _, rest = self.index.partition(".r")
        number = int(rest) + 1 if rest.isdigit() else 1
        return Shard(self.run, self.scheduled_time, f"{base}.r{number}", self.count, tuple(monitors), tuple(problems))


def _text(data: dict[str, Any], name: str) -> str:
    value = data[name]
    if not isinstance(value, str) or not value:
        raise ValueError(name)
    return value


def _texts(values: Any) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError("monitors")
    return values


def needs_fanout(config: MonitorsConfig, above: int) -> bool:
    """More to check than one invocation should take on: the problems count, as each is checked.
    `above` 0 means fan-out is off (the template then creates no shard queue)."""
    return above > 0 and len(config.enabled) + len(config.problems) > above


def plan(config: MonitorsConfig, run: str, scheduled_time: str, size: int) -> list[Shard]:
    """The shards of one run, in the order a single run would check: problems first, then the
    enabled monitors, `size` at a time. Every job is in exactly one shard."""
    if size < 1:
        raise ValueError("a shard holds at least one monitor")
    jobs: list[tuple[str, int | str]] = [("problem", i) for i in range(len(config.problems))]
    jobs += [("monitor", m.id) for m in config.enabled]
    chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
    return [
        Shard(
            run=run,
            scheduled_time=scheduled_time,
            index=str(n),
            count=len(chunks),
            monitors=tuple(str(ref) for kind, ref in chunk if kind == "monitor"),
            problems=tuple(int(ref) for kind, ref in chunk if kind == "problem"),
        )
        for n, chunk in enumerate(chunks)
    ]


@dataclass(frozen=True)
class ShardJobs:
    """A shard's part of the monitors file, as the worker checks it."""

    monitors: tuple[Monitor, ...]
    problems: tuple[ConfigProblem, ...]
    problem_positions: tuple[int, ...]  # of each problem above, in the file's list
    missing: tuple[str, ...]  # named by the shard but no longer in the file (a deploy in between)


def select(config: MonitorsConfig, shard: Shard) -> ShardJobs:
    """The shard's monitors and problems, in the shard's order; what the file no longer has is
    left out and named, so the worker can say so."""
    enabled = {m.id: m for m in config.enabled}
    monitors = tuple(enabled[i] for i in shard.monitors if i in enabled)
    positions = tuple(p for p in shard.problems if 0 <= p < len(config.problems))
    missing = tuple(i for i in shard.monitors if i not in enabled)
    missing += tuple(f"problem #{p}" for p in shard.problems if not 0 <= p < len(config.problems))
    return ShardJobs(monitors, tuple(config.problems[p] for p in positions), positions, missing)


def unreached(jobs: ShardJobs, statuses: Sequence[str]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The monitors and problems a stopped worker did not reach. `statuses` are run_check's
    outcomes' statuses, in its order: the problems first, then the monitors."""
    if len(statuses) != len(jobs.problems) + len(jobs.monitors):
        raise ValueError("one status per job")
    split = len(jobs.problems)
    problems = tuple(p for p, s in zip(jobs.problem_positions, statuses[:split], strict=True) if s == "unreached")
    monitors = tuple(m.id for m, s in zip(jobs.monitors, statuses[split:], strict=True) if s == "unreached")
    return monitors, problems


# --- the dispatcher and the worker -------------------------------------------------------


class NoProgress(Exception):
    """A worker stopped before checking anything: handing the shard on would only loop."""


def dispatch(
    scheduled: str | None, config: MonitorsConfig, deps: CheckDeps, queue: MessageQueue, size: int
) -> dict[str, Any]:
    """Send the run's monitors to the shard queue, in shards. Any shard not sent fails the run,
    so Lambda's retry sends them all again; the workers' claims drop the ones already checked."""
    at = format_time(deps.clock.now()) or ""
    # A manual run has no tick: its own id keeps its shards apart from any other run's.
    run = scheduled or f"manual:{at}:{uuid.uuid4().hex[:8]}"
    shards = plan(config, run, at, size)
    queue.send([shard.to_body() for shard in shards])
    dispatched = sum(shard.size for shard in shards)
    return {
        "status": "dispatched",
        "shards": len(shards),
        "dispatched": dispatched,
        "checked": 0,
        "failed": 0,
        "queued": 0,
    }


@dataclass(frozen=True)
class Worker:
    """What a worker checks a shard with."""

    deps: CheckDeps
    queue: MessageQueue  # where what is left of a shard goes
    concurrency: int
    should_stop: Callable[[], bool]  # the invocation's time is nearly up


def check_shard(shard: Shard, config: MonitorsConfig, worker: Worker) -> tuple[dict[str, Any], list[MonitorOutcome]]:
    """Check one shard's monitors; before the timeout would kill them, what is left goes back
    to the queue under a name of its own, so it too is checked once. Its summary, and outcomes."""
    jobs = select(config, shard)
    outcomes = run_check(
        jobs.monitors, jobs.problems, worker.deps, concurrency=worker.concurrency, should_stop=worker.should_stop
    )
    left_monitors, left_problems = unreached(jobs, [o.status for o in outcomes])
    left = len(left_monitors) + len(left_problems)
    continued = None
    if left:
        if left == len(outcomes):
            # Fails the shard: SQS delivers it again, and after maxReceiveCount it goes to
            # the dead-letter queue, whose alarm tells people (the margin must be too large).
            raise NoProgress(f"shard {shard.index}: stopped before its first check; STOP_MARGIN_SECONDS too large?")
        continuation = shard.continuation(left_monitors, left_problems)
        worker.queue.send([continuation.to_body()])
        continued = continuation.index
    summary = {
        "shard": shard.index,
        "checked": len(outcomes) - left,
        "failed": sum(1 for o in outcomes if o.status == "error"),
        "queued": sum(len(o.queued) for o in outcomes),
        "unreached": left,
        "continued_as": continued,
        "missing": list(jobs.missing[:20]),
    }
    return summary, outcomes
