"""The daily digest through the real template, functions, stream and topic: one message a
day that says first what needs attention, never to SMS, and never twice for one day."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from quotawatch_local.embedded_aws import EmbeddedAws
from quotawatch_local.fakes import Reply, always
from quotawatch_local.fakes.cloudlayer import LIMIT_PLAN, fake_cloudlayer
from quotawatch_local.inbox import Inbox
from quotawatch_local.local_stack import LocalStack, deploy
from tests.integration.conftest import (
    CLOUDLAYER_KEY,
    REPO,
    Platform,
    closed_port_url,
    cloudlayer_monitor,
    items,
    put_keys,
    tick,
    write_monitors,
)

pytestmark = pytest.mark.integration

DIGEST_AT = "2026-11-24T08:00:00Z"  # the default schedule's 08:00, the day of the ticks


def digest(scheduled_time: str = DIGEST_AT) -> dict[str, object]:
    """The digest schedule's event (template.yaml, CheckUsageFunction's Digest event): the
    sample event a person invokes by hand, with the scheduler's time."""
    return {**json.loads((REPO / "events/digest.json").read_text()), "scheduled_time": scheduled_time}


def test_the_digest_says_what_needs_attention_first_once_a_day_and_not_by_sms(
    stack: LocalStack, inbox: Inbox, tmp_path: Path
) -> None:
    phone_filter = stack.template["Resources"]["AlertSmsSubscription"]["Properties"]["FilterPolicy"]
    phone = Inbox(stack.aws, stack.outputs["AlertTopicArn"], "test-phone", phone_filter)
    put_keys(stack, {"cloudlayer-prod": CLOUDLAYER_KEY, "down": CLOUDLAYER_KEY})
    with fake_cloudlayer(CLOUDLAYER_KEY, always(Reply(200, {**LIMIT_PLAN, "calls": 820}))) as fake:
        monitors = write_monitors(
            tmp_path,
            [
                # A budget of the monitor's own for a meter reported without a limit.
                cloudlayer_monitor(fake.base_url, meters={"failed_jobs": {"limit": 100}}),
                cloudlayer_monitor(closed_port_url(), "down"),
            ],
        )
        with Platform(stack, monitors) as platform:
            platform.check(tick(1))
            platform.check(tick(2))
            inbox.take()  # the warning about calls at 82%
            first = platform.check(digest())
            # The same day again: a duplicate delivery, the scheduler's retry, a later invoke.
            again = [platform.check(digest()), platform.check(digest("2026-11-24T19:30:00Z"))]
            # A check tick at the digest's own time is a tick of its own, not a duplicate of it.
            shared = platform.check(tick(32))
    assert (shared.result["status"], shared.result["checked"]) == ("partial", 2)

    assert first.result["status"] == "digest_queued"
    assert [a.result["status"] for a in again] == ["digest_duplicate", "digest_duplicate"]
    (delivered,) = [d for d in inbox.take() if d.attributes["kind"] == "digest"]
    assert delivered.attributes == {
        "severity": "info",
        "kind": "digest",
        "monitor": "QuotaWatch",
        "provider": "quotawatch",
    }
    assert delivered.subject.startswith("[DIGEST] QuotaWatch Tue Nov 24: 2 need attention")
    lines = delivered.body.splitlines()
    assert lines[0] == "2 need attention: cloudlayer-prod calls warning (82%); down: last check failed (unavailable)"
    body = delivered.body
    assert "  WARNING cloudlayer-prod calls (82%) since Nov 24 00:15 UTC" in body
    assert "Silenced:\n  none" in body
    assert "  down: 2 failed checks, the last at Nov 24 00:30 UTC" in body
    assert re.search(r"^  calls +820 of 1,000 calls \(82%\) +- +WARNING$", body, re.MULTILINE)
    assert "down (cloudlayer), last check Nov 24 00:30 UTC failed: unavailable\n  no reading yet" in body
    assert "Spend against budget:\n  cloudlayer-prod failed_jobs: 42 of 100 jobs budget (42%), too few" in body
    assert "If a day passes without it, QuotaWatch is not running" in body
    assert phone.take() == []  # info: the SMS subscription's filter leaves the digest out
    (stored,) = [i for i in items(stack, "QuotaWatch", "MSG#") if i["signal"]["S"] == "digest"]
    assert stored["sk"]["S"] == "MSG#2026-11-24T00:00:00Z#v0#digest"
    assert "sent#topic" in stored  # delivered through the topic, the built-in channel


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"DigestTimezone": "Europe/Berlin"}, ("cron(0 8 * * ? *)", "Europe/Berlin", "ENABLED")),
        ({"DigestSchedule": "off"}, ("cron(0 8 * * ? *)", "UTC", "DISABLED")),
    ],
    ids=["in-its-zone", "off"],
)
def test_the_digest_schedule_deploys_in_its_zone_and_off_disables_it(
    aws: EmbeddedAws, parameters: dict[str, str], expected: tuple[str, str, str]
) -> None:
    aws.reset()
    stack = deploy(aws, REPO / "template.yaml", stack_name="quotawatch-test", parameters=parameters)
    scheduler = stack.aws.client("scheduler")
    schedules = [scheduler.get_schedule(Name=s["Name"]) for s in scheduler.list_schedules()["Schedules"]]
    (schedule,) = [s for s in schedules if json.loads(s["Target"]["Input"]).get("digest")]
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"], schedule["State"]) == expected
    env = stack.aws.client("lambda").get_function_configuration(FunctionName=stack.function_name("CheckUsageFunction"))[
        "Environment"
    ]["Variables"]
    assert env["DIGEST_TIMEZONE"] == expected[1]
