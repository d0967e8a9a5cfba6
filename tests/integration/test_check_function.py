"""CheckUsageFunction through the local invoke, against the embedded AWS and a fake cloudlayer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quotawatch.core import window
from quotawatch.core.snapshot import ErrorKind
from quotawatch_local.fakes import Reply, always, sequence
from quotawatch_local.fakes.cloudlayer import LIMIT_PLAN, fake_cloudlayer
from quotawatch_local.inbox import Inbox
from quotawatch_local.local_stack import LocalStack
from tests.integration.conftest import (
    CLOUDLAYER_KEY,
    Platform,
    closed_port_url,
    cloudlayer_monitor,
    items,
    put_keys,
    runtime,
    signal_states,
    tick,
    write_monitors,
)

pytestmark = pytest.mark.integration

AT_82_PERCENT = Reply(200, {**LIMIT_PLAN, "calls": 820})


def test_snapshot_is_stored_and_a_warning_reaches_the_topic_once(
    stack: LocalStack, inbox: Inbox, tmp_path: Path
) -> None:
    put_keys(stack, {"cloudlayer-prod": CLOUDLAYER_KEY})
    with fake_cloudlayer(CLOUDLAYER_KEY, always(AT_82_PERCENT)) as fake:
        monitors = write_monitors(tmp_path, [cloudlayer_monitor(fake.base_url)])
        with Platform(stack, monitors) as platform:
            first = platform.check(tick(1))
            second = platform.check(tick(2))  # same reading, a quarter hour later

    assert first.error is None
    assert first.result["status"] == "ok"
    assert first.result["queued"] == 1
    snapshots = items(stack, "cloudlayer-prod", "SNAP#")
    assert [i["sk"]["S"] for i in snapshots] == ["SNAP#2026-11-24T00:15:00Z", "SNAP#2026-11-24T00:30:00Z"]
    stored = json.loads(snapshots[0]["snapshot"]["S"])
    assert stored["schema"] == 1
    assert stored["meters"][0] == {"name": "calls", "used": 820, "limit": 1000, "remaining": 180, "unit": "calls"}
    assert int(snapshots[0]["expires_at"]["N"]) > 1_700_000_000  # TTL attribute set

    deliveries = inbox.take()
    assert len(deliveries) == 1, "the identical second run must send nothing"
    message = deliveries[0]
    assert message.subject == "[WARNING] cloudlayer-prod: calls at 82% of limit"
    assert message.attributes == {
        "severity": "warning",
        "provider": "cloudlayer",
        "monitor": "cloudlayer-prod",
        "kind": "alert",
    }
    assert "820 of 1,000 calls used" in message.body
    assert not message.body.lstrip().startswith("{")
    assert second.result["queued"] == 0
    # The key went to the provider in its header, and nowhere else.
    assert fake.requests[0]["x-api-key"] == CLOUDLAYER_KEY
    assert "QuotaWatch/" in fake.requests[0]["user-agent"]
    assert CLOUDLAYER_KEY not in "\n".join(first.logs + second.logs)


def test_warning_then_critical_then_eased_then_recovery(stack: LocalStack, inbox: Inbox, tmp_path: Path) -> None:
    put_keys(stack, {"cloudlayer-prod": CLOUDLAYER_KEY})
    # 93% stays critical (hysteresis: it must fall below 95 - 5); 88% eases to warning;
    # 76% stays warning (not below 80 - 5); 70% clears.
    readings = [Reply(200, {**LIMIT_PLAN, "calls": calls}) for calls in (820, 960, 930, 880, 760, 700)]
    with fake_cloudlayer(CLOUDLAYER_KEY, sequence(*readings)) as fake:
        monitors = write_monitors(tmp_path, [cloudlayer_monitor(fake.base_url)])
        with Platform(stack, monitors) as platform:
            for n in range(len(readings)):
                platform.check(tick(n))
    subjects = [d.subject for d in inbox.take()]
    assert subjects == [
        "[WARNING] cloudlayer-prod: calls at 82% of limit",
        "[CRITICAL] cloudlayer-prod: calls at 96% of limit",
        "[WARNING] cloudlayer-prod: calls down to 88% (was critical)",
        "[OK] cloudlayer-prod: calls back to normal (70%)",
    ]
    states = signal_states(stack, "cloudlayer-prod")
    assert {key: state["level"] for key, state in states.items()} == {"meter:calls": "ok"}


def test_bad_monitors_each_give_one_clear_line_and_the_others_still_run(
    stack: LocalStack, inbox: Inbox, tmp_path: Path
) -> None:
    put_keys(stack, {"cloudlayer-prod": CLOUDLAYER_KEY, "down": CLOUDLAYER_KEY})
    with fake_cloudlayer(CLOUDLAYER_KEY, always(AT_82_PERCENT)) as fake:
        monitors = write_monitors(
            tmp_path,
            [
                {"id": "typo-provider", "provider": "cloudlayr", "secret_field": "x"},
                cloudlayer_monitor(fake.base_url, "no-key-yet"),
                cloudlayer_monitor(fake.base_url, "bad-threshold", thresholds={"warning": "eighty"}),
                cloudlayer_monitor(closed_port_url(), "down"),
                cloudlayer_monitor(fake.base_url),
            ],
        )
        with Platform(stack, monitors) as platform:
            invocation = platform.check(tick(1))

    result = invocation.result
    assert invocation.error is None
    assert result["status"] == "partial"
    by_monitor = {m["monitor"]: m for m in result["monitors"]}
    assert by_monitor["cloudlayer-prod"]["status"] == "ok"
    assert len(by_monitor["cloudlayer-prod"]["queued"]) == 1

    def error(monitor: str) -> dict[str, str]:
        return dict(by_monitor[monitor]["error"])

    assert error("typo-provider")["kind"] == "config"
    assert (
        "monitor 'typo-provider': field 'provider': unknown provider 'cloudlayr'" in (error("typo-provider")["message"])
    )
    assert error("bad-threshold")["kind"] == "config"
    assert "field 'thresholds.warning'" in error("bad-threshold")["message"]
    assert by_monitor["no-key-yet"]["status"] == "waiting"  # not a failure: day one
    assert error("no-key-yet") == {
        "kind": "no_key",
        "message": "no-key-yet: waiting for its key: secret 'quotawatch/api-keys' has no field 'no-key-yet' yet",
    }
    assert error("down")["kind"] == "unavailable"
    assert "cannot connect to 127.0.0.1" in error("down")["message"]

    error_lines = [r for r in invocation.log_records() if r.get("level") == "ERROR"]
    assert {r.get("monitor") for r in error_lines} == {"typo-provider", "bad-threshold", "down"}
    assert CLOUDLAYER_KEY not in "\n".join(invocation.logs) + json.dumps(result)
    assert len(inbox.take()) == 1  # only the healthy monitor's warning; no error is a breach


@pytest.mark.parametrize(
    ("secret_value", "expected"),
    [
        (CLOUDLAYER_KEY, "is not a JSON object of named keys"),  # a bare key pasted in
        ('["cl-live-list"]', "is not a JSON object of named keys"),
        ({"cloudlayer-prod": ""}, "field 'cloudlayer-prod' is not a non-empty string"),
    ],
)
def test_a_malformed_secret_is_named_and_its_value_never_shown(
    stack: LocalStack, tmp_path: Path, secret_value: str | dict[str, str], expected: str
) -> None:
    put_keys(stack, secret_value)
    monitors = write_monitors(tmp_path, [cloudlayer_monitor("https://api.cloudlayer.io")])
    with runtime(stack, monitors) as function:
        invocation = function.invoke(tick(1))
    outcome = invocation.result["monitors"][0]
    assert outcome["error"]["kind"] == "config"
    assert "secret 'quotawatch/api-keys'" in outcome["error"]["message"]
    assert expected in outcome["error"]["message"]
    everything = "\n".join(invocation.logs) + json.dumps(invocation.result)
    assert CLOUDLAYER_KEY not in everything
    assert "cl-live-list" not in everything


def test_a_missing_secret_is_a_config_error(stack: LocalStack, tmp_path: Path) -> None:
    stack.aws.client("secretsmanager").delete_secret(
        SecretId=stack.outputs["ApiKeysSecretName"], ForceDeleteWithoutRecovery=True
    )
    monitors = write_monitors(tmp_path, [cloudlayer_monitor("https://api.cloudlayer.io")])
    with runtime(stack, monitors) as function:
        outcome = function.invoke(tick(1)).result["monitors"][0]
    assert outcome["error"] == {
        "kind": "config",
        "message": "cloudlayer-prod: secret 'quotawatch/api-keys' does not exist "
        "(deploy the stack, or check API_KEYS_SECRET_NAME)",
    }


def test_a_failed_check_keeps_history_and_alert_state(stack: LocalStack, inbox: Inbox, tmp_path: Path) -> None:
    put_keys(stack, {"cloudlayer-prod": CLOUDLAYER_KEY})
    replies = sequence(AT_82_PERCENT, Reply(500, {"error": "Internal Server Error"}))
    with fake_cloudlayer(CLOUDLAYER_KEY, replies) as fake:
        monitors = write_monitors(tmp_path, [cloudlayer_monitor(fake.base_url)])
        with Platform(stack, monitors) as platform:
            platform.check(tick(1))
            before = [i for i in items(stack, "cloudlayer-prod", "") if i["sk"]["S"] != "WINDOW"]
            failed = platform.check(tick(2))

    assert failed.result["monitors"][0]["error"]["kind"] == "unavailable"
    after = items(stack, "cloudlayer-prod", "")
    assert [i for i in after if i in before] == before, "no snapshot or alert state stored before may change"
    new = [i for i in after if i not in before and i["sk"]["S"] != "WINDOW"]
    assert len(new) == 1
    assert json.loads(new[0]["snapshot"]["S"])["error"]["kind"] == "unavailable"
    assert json.loads(new[0]["snapshot"]["S"])["meters"] == []
    # The recent readings gain the failure (failures are counted) and keep the good reading.
    [stored] = [i for i in after if i["sk"]["S"] == "WINDOW"]
    recent = window.decode(stored["readings"]["B"], "cloudlayer-prod")
    assert [r.error.kind if r.error else None for r in recent] == [ErrorKind.UNAVAILABLE, None]
    assert [m.used for m in recent[1].meters if m.name == "calls"] == [820]
    assert [d.subject for d in inbox.take()] == ["[WARNING] cloudlayer-prod: calls at 82% of limit"]


def test_a_duplicate_delivery_of_a_tick_keeps_the_first_snapshot(stack: LocalStack, tmp_path: Path) -> None:
    put_keys(stack, {"cloudlayer-prod": CLOUDLAYER_KEY})
    replies = sequence(AT_82_PERCENT, Reply(500, {"error": "Internal Server Error"}))
    with fake_cloudlayer(CLOUDLAYER_KEY, replies) as fake:
        monitors = write_monitors(tmp_path, [cloudlayer_monitor(fake.base_url)])
        with runtime(stack, monitors) as function:
            function.invoke(tick(1))
            function.invoke(tick(1))
    snapshots = items(stack, "cloudlayer-prod", "SNAP#")
    assert len(snapshots) == 1
    assert json.loads(snapshots[0]["snapshot"]["S"])["error"] is None


def test_an_unreadable_monitors_file_fails_the_run_and_quotawatch_itself_says_so_then_clears(
    stack: LocalStack, inbox: Inbox, tmp_path: Path
) -> None:
    put_keys(stack, {"cloudlayer-prod": CLOUDLAYER_KEY})
    monitors = tmp_path / "monitors.yaml"
    monitors.write_text("monitors:\n  - id: a\n    provider: [unclosed\n")
    with (
        fake_cloudlayer(CLOUDLAYER_KEY, always(Reply(200, {**LIMIT_PLAN, "calls": 100}))) as fake,
        Platform(stack, monitors) as platform,
    ):
        # As the scheduler invokes it: asynchronously, retried once, then the destination.
        outcome = platform.lambdas.invoke_async("CheckUsageFunction", tick(1))
        platform.deliver()
        failed = inbox.take()

        write_monitors(tmp_path, [cloudlayer_monitor(fake.base_url)])  # the file is mended
        platform.check(tick(2))
        platform.check(tick(3))
        mended = inbox.take()

    assert [a.error["errorType"] for a in outcome.attempts if a.error] == ["ConfigError", "ConfigError"]
    assert any("not valid YAML at line 4" in r.get("message", "") for r in outcome.attempts[0].log_records())
    [alert] = failed
    assert alert.subject == "[CRITICAL] QuotaWatch itself: a check run failed after 2 attempts (ConfigError)"
    assert "monitors.yaml: not valid YAML at line 4" in alert.body
    assert alert.attributes["severity"] == "critical"  # passes the SMS subscription's filter
    assert [d.subject for d in mended] == ["[OK] QuotaWatch itself: check runs work again"]


def test_the_heartbeat_alarm_reaches_people_and_says_when_it_is_over(
    stack: LocalStack, inbox: Inbox, tmp_path: Path
) -> None:
    monitors = write_monitors(tmp_path, [])
    with Platform(stack, monitors) as platform:
        platform.lambdas.set_alarm_state("HeartbeatAlarm", "ALARM", "Threshold Crossed: no datapoints")
        platform.deliver()
        raised = inbox.take()
        platform.lambdas.set_alarm_state("HeartbeatAlarm", "OK", "Threshold Crossed: 1 datapoint")
        platform.deliver()
        cleared = inbox.take()

    [alert] = raised
    assert alert.subject.startswith("[CRITICAL] QuotaWatch itself: ")
    assert "HeartbeatAlarm" in alert.body
    assert [d.subject.split(":")[0] for d in cleared] == ["[OK] QuotaWatch itself"]


def test_a_large_run_lists_only_the_monitors_that_need_attention(stack: LocalStack, tmp_path: Path) -> None:
    """Past 100 monitors the result carries counts and what needs attention, not every outcome."""
    healthy = [f"fine-{i:03d}" for i in range(104)]
    put_keys(stack, {m: CLOUDLAYER_KEY for m in [*healthy, "warned", "down"]})
    with (
        fake_cloudlayer(CLOUDLAYER_KEY, always(Reply(200, {**LIMIT_PLAN, "calls": 100}))) as calm,
        fake_cloudlayer(CLOUDLAYER_KEY, always(AT_82_PERCENT)) as busy,
    ):
        monitors = write_monitors(
            tmp_path,
            [
                *(cloudlayer_monitor(calm.base_url, m) for m in healthy),
                cloudlayer_monitor(busy.base_url, "warned"),
                cloudlayer_monitor(closed_port_url(), "down"),
            ],
        )
        with Platform(stack, monitors) as platform:
            result = platform.check(tick(1)).result

    assert (result["checked"], result["failed"], result["queued"]) == (106, 1, 1)  # one failed check is no news yet
    assert "monitors" not in result
    assert sorted(o["monitor"] for o in result["attention"]) == ["down", "warned"]
