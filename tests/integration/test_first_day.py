"""Day one on the local stack, as a person lives it: the stack deployed with an empty secret,
`quotawatch check-now` and `status` while the keys are not in yet (each monitor "waiting for
its key", no message), then the key goes in and the next run takes its first reading;
`quotawatch test-alert` reaches the topic; `mute` refuses what it cannot mean. Everything
through the commands, Lambda's Invoke API of the embedded AWS and the real functions."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from quotawatch_view import table as view_table
from quotawatch_view.cli import main

from quotawatch_local.fakes import Reply
from quotawatch_local.fakes.cloudlayer import LIMIT_PLAN, fake_cloudlayer
from quotawatch_local.inbox import Inbox
from quotawatch_local.local_stack import LocalStack
from tests.integration.conftest import (
    CLOUDLAYER_KEY,
    REPO,
    Platform,
    cloudlayer_monitor,
    items,
    put_keys,
    write_monitors,
)

pytestmark = pytest.mark.integration


def run(*argv: str) -> tuple[int, str, str]:
    out = io.StringIO()
    err = io.StringIO()
    from contextlib import redirect_stderr

    with redirect_stderr(err):
        code = main(list(argv), out)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def here(stack: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The commands run from a folder holding the local stack's description, as `make up` writes it."""
    stack.save(tmp_path / ".quotawatch-local" / "stack.json")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(view_table, "SOURCE_ROOT", tmp_path / "elsewhere")
    return tmp_path


def test_waiting_for_keys_is_not_an_outage_and_the_first_reading_comes_with_the_key(
    stack: LocalStack, here: Path, inbox: Inbox
) -> None:
    put_keys(stack, {})  # as deployed: the keys go in after the deploy
    reply = Reply(200, {**LIMIT_PLAN, "calls": 500})
    with fake_cloudlayer(CLOUDLAYER_KEY, lambda _call: reply) as fake:
        monitors = write_monitors(here, [cloudlayer_monitor(fake.base_url)])
        with Platform(stack, monitors) as platform:
            platform.lambdas.serve_invokes()
            for _ in range(4):  # past failures_before_alert: still no "Cannot monitor"
                code, said, _ = run("check-now")
                assert code == 0
                assert said.splitlines()[1].startswith("  cloudlayer-prod  waiting for its key: secret ")
                platform.deliver()
            assert inbox.take() == []
            assert [i for i in items(stack, "cloudlayer-prod", "MSG#")] == []

            code, status, _ = run("status", "--monitors", str(monitors), "--tz", "UTC")
            assert code == 0
            [row] = [line for line in status.splitlines() if line.startswith("cloudlayer-prod")]
            assert "waiting for its key" in row
            assert "failed" not in row
            assert " no key [1]" in row
            assert "has no field 'cloudlayer-prod' yet" in status

            put_keys(stack, {"cloudlayer-prod": CLOUDLAYER_KEY})
            code, said, _ = run("check-now")
            assert (code, said.splitlines()[1]) == (0, "  cloudlayer-prod  ok")
            platform.deliver()
    assert inbox.take() == []  # a first reading at 50% says nothing either
    code, status, _ = run("status", "--monitors", str(monitors), "--json")
    [calls] = [row for row in json.loads(status) if row["meter"] == "calls"]
    assert (calls["used"], calls["last_check"]["ok"]) == (500, True)


def test_test_alert_reaches_the_topic_through_the_stacks_function(stack: LocalStack, here: Path, inbox: Inbox) -> None:
    monitors = write_monitors(here, [])
    with Platform(stack, monitors) as platform:
        platform.lambdas.serve_invokes()
        code, said, _ = run("test-alert")
        platform.deliver()
    assert code == 0
    assert said.startswith("Test alert queued: [TEST] QuotaWatch test alert")
    [delivery] = inbox.take()
    assert delivery.subject.startswith("[TEST]")


def test_a_failed_check_is_named_and_exits_1(stack: LocalStack, here: Path) -> None:
    put_keys(stack, {"cloudlayer-prod": "a-key-the-fake-rejects"})
    with fake_cloudlayer(CLOUDLAYER_KEY) as fake:
        monitors = write_monitors(here, [cloudlayer_monitor(fake.base_url)])
        with Platform(stack, monitors) as platform:
            platform.lambdas.serve_invokes()
            code, said, _ = run("check-now")
    assert code == 1
    assert said.splitlines()[0] == "Checked 1 monitor: 1 failed, 1 message queued."  # a rejected key: at once
    assert said.splitlines()[1].startswith("  cloudlayer-prod  failed (auth): ")
    assert "a-key-the-fake-rejects" not in said


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (
            ["cloudlayer-prd", "--for", "1d"],
            "'cloudlayer-prd' matches no monitor of the monitors file "
            "(did you mean cloudlayer-prod?); --force stores it anyway",
        ),
        (["cloudlayer-prod", "--for", "99999999999d"], "--for '99999999999d' is too long"),
        (["cloudlayer-prod", "--until", "2020-01-01T00:00Z"], "the silence would end 2020-01-01T00:00:00Z, before"),
        (["cloudlayer-prod", "--from", "2020-01-01", "--for", "2h"], "the silence would end 2020-01-01T02:00:00Z"),
    ],
)
def test_mute_refuses_what_it_cannot_mean_in_one_line_and_stores_nothing(
    here: Path, argv: list[str], says: str
) -> None:
    monitors = write_monitors(here, [cloudlayer_monitor("https://127.0.0.1:9")])
    code, said, err = run("mute", *argv, "--monitors", str(monitors))
    assert (code, said) == (1, "")
    assert err.startswith(f"quotawatch mute: {says}")
    assert err.count("\n") == 1
    assert json.loads(run("silences", "--all", "--json")[1]) == []


def test_mute_as_the_docs_write_it_and_force_for_a_monitor_to_come(here: Path) -> None:
    monitors = write_monitors(here, [cloudlayer_monitor("https://127.0.0.1:9")])
    assert run("mute", "cloudlayer-prod", "--for", "1d", "--monitors", str(monitors))[0] == 0
    assert run("mute", "cloudlayer-next", "--for", "1d", "--force", "--monitors", str(monitors))[0] == 0
    listed = json.loads(run("silences", "--json")[1])
    assert sorted((s["monitor"], s["reason"]) for s in listed) == [
        ("cloudlayer-next", "no reason given"),
        ("cloudlayer-prod", "no reason given"),
    ]


def test_make_up_serves_the_demos_fakes_so_every_command_shows_something(stack: LocalStack, here: Path) -> None:
    """What `make up` does (quotawatch_local/__main__.py), in this process: the demo's fakes
    and keys, six readings; then status, history, report and mute as a person runs them."""
    from contextlib import ExitStack
    from datetime import UTC, datetime

    from quotawatch_local.demo import first_readings, serve_demo_providers
    from quotawatch_local.lambda_service import LocalLambda

    with ExitStack() as fakes:
        overrides = serve_demo_providers(stack, REPO, fakes, here / ".quotawatch-local")
        with LocalLambda(stack, env_overrides={"CheckUsageFunction": overrides}) as lambdas:
            first_readings(lambdas.serve_invokes(), datetime.now(UTC))
            code, said, _ = run("check-now")
    assert code == 0
    assert said.startswith("Checked 4 monitors: 0 failed")
    monitors = str(REPO / "functions/check_usage/monitors.yaml")
    code, status, _ = run("status", "--monitors", monitors)
    assert code == 0
    [calls] = [line for line in status.splitlines() if line.split()[:2] == ["cloudlayer-prod", "calls"]]
    assert "critical" in calls  # the story's calls climb past 95% within six readings
    assert " failed [" not in status
    assert "waiting for its key" not in status
    code, history, _ = run("history", "converra-prod", "--monitors", monitors)
    assert (code, history.startswith("converra-prod: 7 readings since ")) == (0, True)
    assert run("report", "--monitors", monitors, "--out", str(here / "r.html"))[0] == 0
    assert run("mute", "converra-prod", "--for", "1d", "--monitors", monitors)[0] == 0
