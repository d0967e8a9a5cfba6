"""Every provider and every fault scenario through the check function in one run.

The first run reads every monitor healthy; the second meets each monitor's fault. Each
fault gives its own error kind (or, for a refusal that is news, a condition), nobody
crashes, the healthy monitors are still checked, and nothing stored before is changed.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from quotawatch_local.fakes import FakeProvider, cloudlayer, converra, imagerouter, tornado
from quotawatch_local.inbox import Inbox
from quotawatch_local.local_stack import LocalStack
from tests.integration.conftest import Platform, items, put_keys, tick, write_monitors

pytestmark = pytest.mark.integration

HEALTHY = {"cloudlayer": "limit-plan", "tornado": "trial", "converra": "pro", "imagerouter": "by-api-key"}
MODULES: dict[str, ModuleType] = {
    "cloudlayer": cloudlayer,
    "tornado": tornado,
    "converra": converra,
    "imagerouter": imagerouter,
}
# What each fault scenario must become: an error kind, or "ok:<condition>" for a reading.
EXPECTED = {
    "unauthorized": "auth",
    "missing-header": "auth",
    "management-key": "auth",
    "rate-limited": "rate_limited",
    "server-error": "unavailable",
    "internal-error": "unavailable",
    "gateway-timeout": "unavailable",
    "html-error-page": "unavailable",
    "slow": "unavailable",
    "truncated": "unavailable",
    "malformed-json": "bad_response",
    "html-200": "bad_response",
    "huge": "bad_response",
    "not-an-object": "bad_response",
    "missing-calls": "bad_response",
    "missing-usage-count": "bad_response",
    "missing-prompts": "bad_response",
    "quota-reached": "ok:condition:storage_quota_reached",
    "limit-exceeded": "ok:condition:limit_exceeded",
}
# Readings, not faults: each provider's documented variations.
READINGS = {
    "limit-plan",
    "usage-plan",
    "inactive",
    "climbing",
    "trial",
    "stripe",
    "no-limit",
    "billing-error",
    "pro",
    "free",
    "unlimited",
    "credits",
    "by-api-key",
    "expiring",
    "lifetime-cap",
}


def test_every_scenario_of_every_fake_is_classified_here() -> None:
    for name, module in MODULES.items():
        unknown = set(module.scenarios()) - set(EXPECTED) - READINGS
        assert not unknown, f"{name}: say what {sorted(unknown)} must give"


def _base_url(provider: str, fake: FakeProvider) -> str:
    return converra.base_url_of(fake) if provider == "converra" else fake.base_url


def _cases() -> Iterator[tuple[str, str]]:
    for provider, module in MODULES.items():
        for scenario in sorted(module.scenarios()):
            if scenario in EXPECTED:
                yield provider, scenario


def test_every_fault_gets_its_kind_and_nothing_stored_changes(stack: LocalStack, inbox: Inbox, tmp_path: Path) -> None:
    keys: dict[str, str] = {}
    monitors: list[dict[str, Any]] = []
    with ExitStack() as servers:
        for provider, scenario in [*((p, "healthy") for p in MODULES), *_cases()]:
            module = MODULES[provider]
            choices = module.scenarios(slow_seconds=3.0)
            healthy = choices[HEALTHY[provider]]
            # Call 1 healthy, every later call the fault.
            replies = (
                healthy
                if scenario == "healthy"
                else (lambda call, h=healthy, f=choices[scenario]: h(call) if call == 1 else f(call))
            )
            key = f"key-{provider}-{scenario}-0123456789"
            fake = servers.enter_context(FakeProvider(module.API, key, replies))
            monitor_id = f"{provider}-{scenario}"
            keys[monitor_id] = key
            monitors.append(
                {
                    "id": monitor_id,
                    "provider": provider,
                    "secret_field": monitor_id,
                    "base_url": _base_url(provider, fake),
                }
            )
        put_keys(stack, keys)
        path = write_monitors(tmp_path, monitors)
        with Platform(stack, path, HTTP_READ_TIMEOUT="1") as platform:
            first = platform.check(tick(1))
            before = {m["id"]: _record(stack, m["id"]) for m in monitors}
            inbox.take()
            second = platform.check(tick(2))

    assert first.error is None
    assert second.error is None
    assert all(o["status"] == "ok" for o in first.result["monitors"]), first.result
    outcomes = {o["monitor"]: o for o in second.result["monitors"]}
    assert len(outcomes) == len(monitors)
    for provider in MODULES:
        assert outcomes[f"{provider}-healthy"]["status"] == "ok"
    for provider, scenario in _cases():
        outcome = outcomes[f"{provider}-{scenario}"]
        expected = EXPECTED[scenario]
        if expected.startswith("ok:"):
            assert outcome["status"] == "ok", outcome
            assert outcome["levels"] == {expected[3:]: "critical"}, outcome
        else:
            assert outcome["status"] == "error", (provider, scenario, outcome)
            assert outcome["error"]["kind"] == expected, (provider, scenario, outcome)
            assert outcome["error"]["message"].startswith(f"{provider}-{scenario}: "), outcome

    everything = "\n".join(first.logs + second.logs) + json.dumps(first.result) + json.dumps(second.result)
    for monitor in monitors:
        after = _record(stack, monitor["id"])
        assert [i for i in after if i in before[monitor["id"]]] == before[monitor["id"]], monitor["id"]
        # The recent readings too: the window is stored compressed, so it is read as stored text.
        stored = json.dumps(items(stack, monitor["id"], ""), default=_unpacked)
        assert keys[monitor["id"]] not in everything + stored
    # Errors are not breaches: the quota readings alert as conditions, a rejected key as
    # "cannot monitor" at once, and one failure of any other kind says nothing yet.
    subjects = sorted(d.subject for d in inbox.take())
    rejected = sorted(
        f"[CRITICAL] Cannot monitor {provider}-{scenario}: the key was rejected"
        for provider, scenario in _cases()
        if EXPECTED[scenario] == "auth"
    )
    assert subjects == sorted(
        [
            *rejected,
            "[CRITICAL] converra-limit-exceeded: limit exceeded",
            "[CRITICAL] tornado-quota-reached: storage quota reached",
        ]
    ), subjects


def _record(stack: LocalStack, monitor: str) -> list[dict[str, Any]]:
    """The monitor's snapshots and each signal's alert state; not the recent readings
    (WINDOW), which every run rewrites, failed or not, nor messages, which only add up."""
    record: list[dict[str, Any]] = []
    for item in items(stack, monitor, ""):
        if item["sk"]["S"].startswith("MSG#"):
            continue
        if item["sk"]["S"] == "STATE":
            record += [{name: value} for name, value in item.items() if name.startswith("signal#")]
        elif item["sk"]["S"] != "WINDOW":
            record.append(item)
    return record


def _unpacked(value: object) -> str:
    """A binary attribute (the window, zlib-compressed JSON) as its text."""
    assert isinstance(value, bytes)
    return zlib.decompress(value).decode()
