"""The burn signal through the real check path: the check function reads eight days of a
key's readings from the window item it stores (no other read), raises one burn alert on a
leak and clears it once the spend flattens; the window stays about one write unit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from quotawatch.adapters.store import DynamoStore
from quotawatch.core.snapshot import Meter, Snapshot, format_time
from quotawatch.core.window import WINDOW_SIZE, Window
from quotawatch_local.fakes import Reply
from quotawatch_local.fakes.catalogued import fixtures
from quotawatch_local.fakes.server import FakeProvider
from quotawatch_local.inbox import Inbox
from quotawatch_local.local_stack import LocalStack
from tests.integration.conftest import Platform, items, put_keys, queued, signal_states, write_monitors

pytestmark = pytest.mark.integration

MONITOR = "openrouter-leak"
START = datetime(2026, 11, 16, tzinfo=UTC)  # eight days before the checks below
TICK = timedelta(minutes=15)
USUAL = 0.5  # dollars a quarter hour: $2 an hour
SEEDED = 8 * 96


def spend(tick: int, leaked: int = 0) -> float:
    """The key's lifetime spend at a tick: usual, plus 19 times more for each leaked tick."""
    return round(100 + tick * USUAL + leaked * 19 * USUAL, 2)


def seed(stack: LocalStack) -> None:
    """Eight days of readings, stored as check runs store them: snapshots and the window."""
    readings = [
        Snapshot(MONITOR, "openrouter", START + n * TICK, meters=(Meter("key_credit", spend(n), None, None, "USD"),))
        for n in range(SEEDED)
    ]
    window = Window.of([])
    for reading in readings:
        window = window.rolled(reading)
    DynamoStore(stack.aws.client("dynamodb"), stack.outputs["TableName"]).put_snapshots(
        readings[-WINDOW_SIZE:], {MONITOR: window.encode()}
    )


def test_a_leaked_key_raises_one_burn_alert_and_clears_once(stack: LocalStack, inbox: Inbox, tmp_path: Path) -> None:
    openrouter = fixtures()["openrouter"]
    put_keys(stack, {"openrouter": openrouter.key})
    seed(stack)
    leaked = [0, 1, 2, 2, 2, 2, 2, 2]  # ticks of 20x so far, at each check from the seeded ones on

    def answer(call: int) -> Reply:
        tick = SEEDED + call - 1
        return Reply(
            200, {"data": {"label": "sk-or-v1-abc...def", "limit": None, "usage": spend(tick, leaked[call - 1])}}
        )

    monitor = {"id": MONITOR, "provider": "openrouter", "secret_field": "openrouter"}
    with FakeProvider(openrouter.api(), openrouter.key, answer) as fake:
        monitors = write_monitors(tmp_path, [{**monitor, "base_url": fake.base_url}])
        with Platform(stack, monitors) as platform:
            runs = []
            for call in range(1, len(leaked) + 1):
                at = START + (SEEDED + call - 1) * TICK
                runs.append(platform.check({"source": "schedule", "scheduled_time": format_time(at)}))

    decided = [[q["subject"] for q in queued(run)] for run in runs]
    assert decided == [
        [],
        [],  # a single leaked reading is a blip
        [f"[WARNING] {MONITOR}: key_credit burning 20x faster than usual"],
        [],  # the short window still holds a leaked quarter hour
        [f"[OK] {MONITOR}: key_credit burning at its usual pace again"],
        [],
        [],
        [],
    ]
    assert [d.subject for d in inbox.take()] == [s for run in decided for s in run]
    assert signal_states(stack, MONITOR)["burn:key_credit"]["level"] == "ok"
    [window] = items(stack, MONITOR, "WINDOW")
    stored = window["readings"]["B"]
    assert len(stored) < 1024  # a steady burn: one write unit, eight days in it
    kept = Window.decode(stored, MONITOR)
    assert kept.times[0] - kept.times[-1] >= 7.9 * 86_400
