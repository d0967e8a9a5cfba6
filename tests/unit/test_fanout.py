"""Fan-out's pure part: shards of a run, their message, their continuation; and the SQS adapter's batches."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quotawatch.adapters.queue import MAX_BATCH_BYTES, MessagesNotSent, SqsQueue
from quotawatch.config import MonitorsConfig, parse_monitors
from quotawatch.fanout import BadShard, Shard, needs_fanout, plan, select, unreached

TICK = "2026-11-24T00:15:00Z"


def _config(enabled: int, problems: int = 0, disabled: int = 0) -> MonitorsConfig:
    monitors: list[dict[str, Any]] = [
        {"id": f"m{n:03d}", "provider": "cloudlayer", "secret_field": "k"} for n in range(enabled)
    ]
    monitors += [
        {"id": f"off{n}", "provider": "cloudlayer", "secret_field": "k", "enabled": False} for n in range(disabled)
    ]
    monitors += [{"id": f"bad{n}", "provider": "cloudlayer"} for n in range(problems)]  # no secret_field
    config = parse_monitors({"monitors": monitors})
    assert len(config.problems) == problems
    return config


def test_fan_out_only_above_the_size_counting_problems_not_disabled_monitors() -> None:
    assert not needs_fanout(_config(5), 5)
    assert needs_fanout(_config(6), 5)
    assert needs_fanout(_config(4, problems=2), 5)
    assert not needs_fanout(_config(5, disabled=10), 5)
    assert not needs_fanout(_config(20_000), 0)  # 0: fan-out is off (no shard queue deployed)


@given(enabled=st.integers(0, 60), problems=st.integers(0, 8), size=st.integers(1, 25))
def test_every_monitor_and_problem_is_in_exactly_one_shard(enabled: int, problems: int, size: int) -> None:
    config = _config(enabled, problems, disabled=2)
    shards = plan(config, TICK, TICK, size)
    assert [s.index for s in shards] == [str(n) for n in range(len(shards))]
    assert all(s.count == len(shards) and 1 <= s.size <= size for s in shards)
    assert [m for s in shards for m in s.monitors] == [m.id for m in config.enabled]
    assert [p for s in shards for p in s.problems] == list(range(problems))
    assert len(shards) == -(-(enabled + problems) // size)


def test_a_shard_goes_through_its_message_unchanged() -> None:
    shard = Shard("manual:x", TICK, "3.r2", 7, ("a", "b"), (0, 4))
    assert Shard.from_body(shard.to_body()) == shard
    assert shard.key() == {"run": "manual:x", "shard": "3.r2"}


@pytest.mark.parametrize(
    "body",
    ["", "[]", "{}", '{"schema": 2}', '{"schema": 1, "run": "", "scheduled_time": "t", "shard": "0", "shards": 1}',
     '{"schema": 1, "run": "r", "scheduled_time": "t", "shard": "0", "shards": 1, "monitors": "abc"}',
     '{"schema": 1, "run": "r", "scheduled_time": "t", "shard": "0", "shards": 1, "problems": ["x"]}'],
)  # fmt: skip
def test_a_message_that_is_not_a_shard_says_so(body: str) -> None:
    with pytest.raises(BadShard):
        Shard.from_body(body)


def test_a_continuation_has_a_name_of_its_own_per_hand_on() -> None:
    shard = Shard(TICK, TICK, "3", 5, ("a", "b", "c"), (1,))
    first = shard.continuation(["c"], [1])
    assert (first.index, first.monitors, first.problems, first.run, first.count) == ("3.r1", ("c",), (1,), TICK, 5)
    assert first.continuation(["c"], []).index == "3.r2"


def test_select_keeps_the_shards_order_and_names_what_the_file_no_longer_has() -> None:
    config = _config(4, problems=2)
    shard = Shard(TICK, TICK, "0", 1, ("m003", "gone", "m001"), (1, 9))
    jobs = select(config, shard)
    assert [m.id for m in jobs.monitors] == ["m003", "m001"]
    assert jobs.problems == (config.problems[1],)
    assert jobs.problem_positions == (1,)
    assert jobs.missing == ("gone", "problem #9")


def test_unreached_maps_run_checks_order_back_to_monitors_and_problems() -> None:
    config = _config(3, problems=2)
    jobs = select(config, Shard(TICK, TICK, "0", 1, ("m000", "m001", "m002"), (0, 1)))
    statuses = ["error", "unreached", "ok", "unreached", "unreached"]  # problems first, as run_check
    assert unreached(jobs, statuses) == (("m001", "m002"), (1,))
    with pytest.raises(ValueError, match="one status per job"):
        unreached(jobs, statuses[:-1])


class _FakeSqs:
    def __init__(self, fail_first: int = 0, sender_fault: bool = False) -> None:
        self.calls: list[list[dict[str, str]]] = []
        self._fail_first = fail_first
        self._sender_fault = sender_fault

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803
        self.calls.append(Entries)
        failing = Entries[: self._fail_first]
        self._fail_first = 0
        return {"Failed": [{"Id": e["Id"], "SenderFault": self._sender_fault, "Code": "X"} for e in failing]}


def test_the_queue_sends_ten_to_a_call_and_within_the_size_limit() -> None:
    sqs = _FakeSqs()
    SqsQueue(sqs, "url").send([str(n) for n in range(23)])
    assert [len(c) for c in sqs.calls] == [10, 10, 3]
    big = "x" * (MAX_BATCH_BYTES // 3 + 1)  # two fit in a call, not three
    sqs = _FakeSqs()
    SqsQueue(sqs, "url").send([big] * 4)
    assert [len(c) for c in sqs.calls] == [2, 2]


def test_the_queue_sends_again_what_sqs_failed_and_raises_for_what_it_refused() -> None:
    sqs = _FakeSqs(fail_first=2)
    SqsQueue(sqs, "url", sleep=lambda _: None).send(["a", "b", "c"])
    assert [[e["MessageBody"] for e in c] for c in sqs.calls] == [["a", "b", "c"], ["a", "b"]]
    with pytest.raises(MessagesNotSent, match="refused 1"):
        SqsQueue(_FakeSqs(fail_first=1, sender_fault=True), "url").send(["a"])
    with pytest.raises(MessagesNotSent, match="more than SQS takes"):
        SqsQueue(_FakeSqs(), "url").send(["x" * (MAX_BATCH_BYTES + 1)])
