"""The demo: QuotaWatch end to end on this machine, no AWS account, no Docker.

Brings up the embedded AWS, deploys template.yaml into it, starts a fake of each of the
four providers, and runs the check function as the scheduler would (asynchronously, with
its retry and on-failure destination) on twelve ticks six hours apart (a fast-forwarded
clock); the notify function delivers what the table's stream brings after each. The fakes
play one story, in which each kind of moment happens exactly once: a test alert, a
warning, a critical alert, a reminder, a period reset, a forecast warning, a recovery, a
key revoked, a key restored, QuotaWatch itself failing (a broken monitors file) and
recovering, SNS down for a run (its message arrives once, a run late), a silence
(`quotawatch mute`) that holds a critical alert and, when it ends, one "still critical"
message, the daily digest (its event delivered twice, one message), and a leaked OpenRouter
key without a limit whose spend burns at 20 times its usual rate for two ticks (one burn
alert, then its clear; eight days of its readings are seeded so that the burn rule has a
baseline). Each snapshot and
each message is printed as SNS delivered it; then everything is torn down.
Beside the topic, two channels of monitors.yaml (`channels:`): a Slack webhook and
PagerDuty, fakes on loopback; what each received is printed under the emails, and Slack
refuses once (429 with Retry-After), to be served by its retry.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import yaml
from quotawatch_view.commands import status_of, write_report
from quotawatch_view.silencing import mute, muted_text
from quotawatch_view.table import Table
from quotawatch_view.text import Painter, status_text, wants_colour
from quotawatch_view.times import Zone

from quotawatch.adapters.store import DynamoStore
from quotawatch.config import parse_monitors
from quotawatch.core import formatting as fmt
from quotawatch.core.snapshot import Meter, Snapshot, format_time
from quotawatch.core.window import Window
from quotawatch_local.aws_counter import AwsCallCounter, Refusal
from quotawatch_local.embedded_aws import EmbeddedAws, embedded_aws
from quotawatch_local.fakes import FakeProvider, Reply, cloudlayer, converra, imagerouter, tornado
from quotawatch_local.fakes.catalogued import fixtures
from quotawatch_local.fakes.channels import ROUTING_KEY, FakeReceivers
from quotawatch_local.inbox import Delivery, Inbox
from quotawatch_local.lambda_service import Call, LocalLambda
from quotawatch_local.local_stack import LocalStack, deploy, teardown

TICK = timedelta(hours=6)
FIRST_TICK = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
NOVEMBER = {"start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"}

# cloudlayer.io calls of 1,000 per tick: warning at 82%, critical at 96%, still critical a
# day later (a reminder), then the billing period starts again.
CLOUDLAYER_CALLS = (500, 700, 820, 880, 960, 965, 970, 975, 980, 40, 60, 80)
# ImageRouter's balance per tick, burning $4 a day out of $30: it runs out within the week
# (a forecast warning) until $20 are added at tick 6 (the forecast clears).
IMAGEROUTER_BALANCE = (20.0, 19.0, 18.0, 17.0, 16.0, 35.8, 35.6, 35.4, 35.2, 35.0, 34.8, 34.6)
IMAGEROUTER_TOP_UP_AT = 6
TORNADO_REVOKED_AT = 6  # the provider revokes the key; a new one goes into the secret at tick 8
TORNADO_NEW_KEY_AT = 8
BROKEN_FILE_AT = 2  # a broken monitors.yaml fails a run between ticks 1 and 2
SNS_DOWN_AT = 5  # SNS refuses to publish during this run; the next run's delivery takes it
STATUS_AT = 6  # `quotawatch status` is shown after this run: a critical, a revoked key, a top-up
# The daily digest (DigestSchedule, 08:00 UTC) fires between runs 9 and 10, and the scheduler
# delivers its event twice: one digest, with a critical meter and a day's failed checks.
DIGEST_AFTER = 9
DIGEST_AT = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
# Converra's conversations of 10,000: a migration floods them (critical at 90%) while you
# have silenced converra-prod for a day; the silence ends with them still critical.
CONVERRA_CONVERSATIONS = (1547,) * 6 + (9300, 9350, 9400, 9450, 9500, 9550)
MUTE_AT = 7  # `quotawatch mute converra-prod --for 1d` three hours before this tick
SLACK_429_AT = 3  # the Slack webhook answers 429 (Retry-After: 60) once: its retry serves it
# An OpenRouter key without a limit spends $1.50 a tick, for eight seeded days and on; it
# leaks at tick 5 and burns 20x that for two ticks (the burn alert at the second), then is
# revoked: the spend flattens and the alert clears two ticks later (the 12-hour window
# empties). The demo checks every 6 hours, so its windows are wider than the defaults.
OPENROUTER: dict[str, Any] = {
    "id": "openrouter-agents",
    "provider": "openrouter",
    "secret_field": "openrouter",
    "burn": {"factor": 10, "short": "12h", "long": "48h"},
}
OPENROUTER_USUAL = 1.5  # dollars a tick
OPENROUTER_LEAK = (5, 6)  # the ticks that spend 20x
OPENROUTER_START = 120.0  # the key's lifetime spend when the seeded readings begin
SEEDED_DAYS = 8
# The channels beside the topic, as monitors.yaml declares them (the URL and key are secrets).
DEMO_CHANNELS = [
    {"name": "team-slack", "type": "slack", "secret_field": "slack-webhook", "min_severity": "info"},  # the digest too
    {"name": "on-call", "type": "pagerduty", "secret_field": "pagerduty-routing-key"},  # critical only
]

STORY = {
    3: "cloudlayer-prod passes 80% of its calls; ImageRouter's balance burns fast",
    2: "you fixed monitors.yaml: checks run again",
    5: "cloudlayer-prod passes 95%; SNS refuses to publish (its KMS key was disabled by mistake);"
    " an OpenRouter key leaks",
    6: "SNS takes messages again; Tornado revokes the key QuotaWatch uses; you add $20 at ImageRouter",
    8: "you put Tornado's new key in the secret",
    7: "a migration floods converra-prod's conversations (you silenced it 3 hours before);"
    " you revoked the leaked OpenRouter key",
    9: "a day after the critical alert, cloudlayer-prod is still critical",
    10: "cloudlayer's billing period starts again",
    11: "the silence on converra-prod ended 3 hours ago: it is still critical",
}

# How a message is recognised as each kind of moment, in the order the story tells them.
MOMENTS: list[tuple[str, Callable[[Delivery], bool]]] = [
    ("test alert", lambda d: d.attributes.get("kind") == "test"),
    ("warning", lambda d: d.subject.startswith("[WARNING] cloudlayer-prod: calls at")),
    ("forecast warning", lambda d: "at the current rate" in d.subject),
    ("critical", lambda d: d.subject.startswith("[CRITICAL] cloudlayer-prod: calls at")),
    ("key revoked", lambda d: d.subject.startswith("[CRITICAL] Cannot monitor")),
    ("key restored", lambda d: "checks work again" in d.subject),
    ("recovery", lambda d: "no longer on track to run out" in d.subject or "back to normal" in d.subject),
    ("still critical after a silence", lambda d: "(still, silence ended" in d.subject),
    ("reminder", lambda d: d.attributes.get("kind") == "reminder"),
    ("period reset", lambda d: "reset with the new billing period" in d.subject),
    ("QuotaWatch itself", lambda d: d.subject.startswith("[CRITICAL] QuotaWatch itself")),
    ("daily digest", lambda d: d.attributes.get("kind") == "digest"),
    ("leaked key burning", lambda d: "faster than usual" in d.subject),
    ("burn over", lambda d: "burning at its usual pace again" in d.subject),
]
SNS_DOWN = "SNS was down for a run"  # a message that arrived one run late, once
HELD = "held by a silence"  # decided and stored, never sent


@dataclass
class _Story:
    """The fakes' answers, tick by tick (a fake's call number is the tick)."""

    tornado_fake: FakeProvider | None = None

    def cloudlayer(self, call: int) -> Reply:
        calls = CLOUDLAYER_CALLS[min(call, len(CLOUDLAYER_CALLS)) - 1]
        return Reply(200, {**cloudlayer.LIMIT_PLAN, "calls": calls, "successJobs": calls, "totalJobs": calls + 42})

    def imagerouter(self, call: int) -> Reply:
        remaining = IMAGEROUTER_BALANCE[min(call, len(IMAGEROUTER_BALANCE)) - 1]
        deposits = 30.0 if call < IMAGEROUTER_TOP_UP_AT else 50.0
        key = {
            **imagerouter.PRODUCTION_KEY,
            "period_spend": "0.5000",
            "period_start": "2026-11-01T00:00:00.000Z",
            "expires_at": "2027-06-01T00:00:00.000Z",
        }
        return Reply(
            200,
            {
                "remaining_credits": f"{remaining:.4f}",
                "credit_usage": f"{deposits - remaining:.4f}",
                "total_deposits": f"{deposits:.4f}",
                "usage_by_api_key": [key, imagerouter.WEB_TOKEN],
            },
        )

    def converra(self, call: int) -> Reply:
        used = CONVERRA_CONVERSATIONS[min(call, len(CONVERRA_CONVERSATIONS)) - 1]
        conversations = {**converra.PRO_USAGE["conversations"], "used": used}
        return Reply(200, {**converra.PRO_USAGE, "period": NOVEMBER, "conversations": conversations})

    def tornado(self, call: int) -> Reply:
        return Reply(200, tornado.TRIAL_KEY)

    def openrouter(self, call: int) -> Reply:
        data = {"label": "sk-or-v1-d3m...0a9", "limit": None, "usage": openrouter_spend(call), "is_free_tier": False}
        return Reply(200, {"data": data})


def openrouter_spend(tick: int) -> float:
    """The key's lifetime spend at a tick of the story (negative: the seeded days before it)."""
    spent = OPENROUTER_START + (tick + SEEDED_DAYS * 4) * OPENROUTER_USUAL
    return round(spent + sum(19 * OPENROUTER_USUAL for leak in OPENROUTER_LEAK if leak <= tick), 2)


def _seed_history(store: DynamoStore, out: Callable[[str], None]) -> None:
    """Eight days of the OpenRouter key's readings before the story, stored as a check run
    stores them (snapshots and the window of recent readings): its burn needs a baseline."""
    readings = [
        Snapshot(
            OPENROUTER["id"],
            OPENROUTER["provider"],
            FIRST_TICK + tick * TICK,
            meters=(Meter("key_credit", openrouter_spend(tick), None, None, "USD"),),
        )
        for tick in range(-SEEDED_DAYS * 4, 1)
    ]
    window = Window.of([])
    for reading in readings:
        window = window.rolled(reading)
    store.put_snapshots(readings, {OPENROUTER["id"]: window.encode()})
    daily = fmt.quantity(4 * OPENROUTER_USUAL, "USD")
    out(f"Seeded {SEEDED_DAYS} days of readings of {OPENROUTER['id']} ({daily} a day): the baseline of its burn rate.")


def run(repo: Path, out: Callable[[str], None] = print) -> dict[str, int]:
    started = time.monotonic()
    story = _Story()
    keys = {
        "cloudlayer-prod": "demo-cloudlayer-key",
        "tornado": "sk_demo_tornado_1",
        "converra": "sk_test_demo_converra",
        "imagerouter": "demo-imagerouter-key",
        "openrouter": OPENROUTER_KEY,
    }
    counts = {"checks": 0, "messages": 0, "sms": 0}
    seen: dict[str, int] = {name: 0 for name, _ in MOMENTS} | {SNS_DOWN: 0, HELD: 0}
    out("QuotaWatch demo: everything runs on this machine (embedded AWS, fake providers, a fast clock).\n")
    with embedded_aws() as aws, ExitStack() as fakes:
        receivers = fakes.enter_context(FakeReceivers())
        keys = {**keys, "slack-webhook": receivers.url_for("slack"), "pagerduty-routing-key": ROUTING_KEY}
        servers = {
            "cloudlayer": fakes.enter_context(FakeProvider(cloudlayer.API, keys["cloudlayer-prod"], story.cloudlayer)),
            "tornado": fakes.enter_context(FakeProvider(tornado.API, keys["tornado"], story.tornado)),
            "converra": fakes.enter_context(FakeProvider(converra.API, keys["converra"], story.converra)),
            "imagerouter": fakes.enter_context(FakeProvider(imagerouter.API, keys["imagerouter"], story.imagerouter)),
            "openrouter": fakes.enter_context(
                FakeProvider(fixtures()["openrouter"].api(), keys["openrouter"], story.openrouter)
            ),
        }
        stack = deploy(
            aws,
            repo / "template.yaml",
            stack_name="quotawatch-demo",
            parameters={"AlertEmails": "you@example.com", "AlertPhones": "+15555550100"},
        )
        out(f"Embedded AWS at {aws.endpoint_url}; deployed template.yaml as stack '{stack.name}'.")
        out(f"  created beside the stack (moto's CloudFormation lacks them): {', '.join(stack.beside)}")
        out("  fakes: " + ", ".join(f"{name} at {server.base_url}" for name, server in servers.items()))

        config = yaml.safe_load((repo / "functions/check_usage/monitors.yaml").read_text())
        config["monitors"].append(dict(OPENROUTER))
        for monitor in config["monitors"]:
            server = servers[monitor["provider"]]
            monitor["base_url"] = converra.base_url_of(server) if monitor["provider"] == "converra" else server.base_url
        monitor_ids = [m["id"] for m in config["monitors"] if m.get("enabled", True)]
        # PagerDuty's endpoint is not a secret: here its fake's (an https URL in monitors.yaml).
        config["channels"] = [*DEMO_CHANNELS[:1], {**DEMO_CHANNELS[1], "url": receivers.url_for("pagerduty")}]
        _put_keys(aws, stack, keys)
        topic = stack.outputs["AlertTopicArn"]
        inbox = Inbox(aws, topic, "demo-inbox")
        sms_filter = stack.template["Resources"]["AlertSmsSubscription"]["Properties"]["FilterPolicy"]
        phone = Inbox(aws, topic, "demo-phone", sms_filter)
        store = DynamoStore(aws.client("dynamodb"), stack.outputs["TableName"])
        out("Monitors: functions/check_usage/monitors.yaml and an OpenRouter key, each base_url set to its fake.")
        _seed_history(store, out)
        out(f"Channels beside the topic: a Slack webhook and PagerDuty (fakes at {receivers.url}).\n")

        shown: set[str] = set()
        channel_seen: dict[str, int] = {"count": 0}  # receivers' requests printed so far
        decided_at: dict[str, int] = {}  # subject -> the run that decided it
        proxy = AwsCallCounter(aws.endpoint_url).start()  # AWS as the notify function sees it

        lambdas: LocalLambda
        sms_texts: dict[str, str] = {}  # by subject, from every message the stream brought

        def deliver(run: int) -> None:
            """The notify function takes what the stream brings; print what SNS delivered."""
            calls = lambdas.pump()
            topic_retries = lambdas.run_schedules(only=_topic)  # the topic's retries: the clock skips to them
            calls += lambdas.pump() if topic_retries else []
            sms_texts.update(_sms_texts(calls))
            to_phone = {d.subject for d in phone.take()}
            order = {monitor_id: i for i, monitor_id in enumerate(monitor_ids)}
            deliveries = sorted(inbox.take(), key=lambda d: order.get(d.attributes.get("monitor", ""), -1))
            waiting = {
                o.event["channel_retry"]["key"]
                for o in topic_retries
                if (o.attempts[-1].result or {}).get("status") in ("failed", "unknown")
            }
            if waiting:
                out(f"    {len(waiting)} message(s) wait in the table: SNS refused them; their retry is scheduled")
            elif not deliveries:
                out("    no message")
            for delivery in deliveries:
                counts["messages"] += 1
                for name, matches in MOMENTS:
                    if matches(delivery):
                        seen[name] += 1
                        break
                late = decided_at.get(delivery.subject, run) < run
                if late:
                    seen[SNS_DOWN] += 1
                _print_delivery(delivery, out, shown, late)
                if delivery.subject in to_phone:
                    counts["sms"] += 1
                    sms = sms_texts.get(delivery.subject, "")
                    out(f"      SMS   ({len(sms)} chars) {sms}")
            _print_channels(receivers, out, channel_seen)
            fired = lambdas.run_schedules(only=lambda event: not _topic(event))  # a channel retry: the clock skips
            if fired:
                out(f"    {len(fired)} channel retry(s) fire (one-time schedules, a minute or more later)")
                lambdas.pump()
                _print_channels(receivers, out, channel_seen)

        def decided(run: int, result: Any) -> None:
            for monitor in (result or {}).get("monitors", []):
                for message in monitor.get("queued", []):
                    decided_at.setdefault(message["subject"], run)
                    if message.get("held_by"):  # a silence holds it: stored, never sent
                        seen[HELD] += 1
                        out(f"    HELD  {message['subject']}   (silence {message['held_by']}: stored, not sent)")

        with tempfile.TemporaryDirectory() as scratch:
            monitors_file = Path(scratch) / "monitors.yaml"
            good = yaml.safe_dump(config, sort_keys=False)
            monitors_file.write_text(good)
            lambdas = LocalLambda(  # Lambda as it runs the stack's two functions
                stack,
                env_overrides={
                    "CheckUsageFunction": {"MONITORS_FILE": str(monitors_file)},
                    "NotifyFunction": {"AWS_ENDPOINT_URL": proxy.endpoint_url},
                },
            )
            try:
                out(f"[0] {fmt.timestamp(FIRST_TICK)}  you invoke the function with events/test-alert.json")
                test_event = json.loads((repo / "events/test-alert.json").read_text())
                lambdas.invoke("CheckUsageFunction", {**test_event, "scheduled_time": format_time(FIRST_TICK)})
                deliver(0)
                out("")
                for number in range(1, len(CLOUDLAYER_CALLS) + 1):
                    now = FIRST_TICK + number * TICK
                    if number == BROKEN_FILE_AT:
                        _broken_run(lambdas, monitors_file, now - TICK / 2, out)
                        deliver(number)
                        monitors_file.write_text(good)  # you fix it before the next tick
                        out("")
                    if number == TORNADO_REVOKED_AT:
                        servers["tornado"].valid_key = "sk_demo_tornado_2"  # the old key stops working
                    if number == TORNADO_NEW_KEY_AT:
                        # The warm function still holds the old key; when Tornado rejects it,
                        # the function reads the secret again and finds the new one.
                        _put_keys(aws, stack, {**keys, "tornado": "sk_demo_tornado_2"})
                    if number == MUTE_AT:
                        _mute(stack, now - TICK / 2, out)
                    if number == SLACK_429_AT:
                        receivers.fail_next("slack", Reply(429, b"rate_limited", {"Retry-After": "60"}))
                    # SNS refuses for one run: the messages wait in the table and the stream.
                    proxy.refuse(*([Refusal("Publish", code="KMSDisabled")] if number == SNS_DOWN_AT else []))
                    # As the scheduler invokes it: asynchronously, with a retry on failure.
                    outcome = lambdas.invoke_async("CheckUsageFunction", _tick(now))
                    if not outcome.succeeded:
                        raise RuntimeError(f"check failed: {outcome.attempts[-1].error}")
                    counts["checks"] += 1
                    caption = f"  {STORY[number]}" if number in STORY else ""
                    out(f"[{number}] {fmt.timestamp(now)}{caption}")
                    width = max(len(m) for m in monitor_ids)
                    for monitor_id in monitor_ids:
                        latest = store.recent_snapshots(monitor_id, limit=1)
                        line = _snapshot_line(latest[0]) if latest else "no snapshot"
                        out(f"    {monitor_id:<{width}}  {line}")
                    decided(number, outcome.attempts[-1].result)
                    deliver(number)
                    out("")
                    if number == STATUS_AT:
                        _show_status(stack, config, out)
                    if number == DIGEST_AFTER:
                        _daily_digest(lambdas, out)
                        deliver(number)
                        out("")
            finally:
                lambdas.close()
                proxy.stop()
        _write_the_report(repo, stack, config, out)
        teardown(stack)
    out("Moments: " + ", ".join(f"{name} x{count}" for name, count in seen.items()))
    out(
        f"Done in {time.monotonic() - started:.1f} s: {counts['checks']} checks of {len(monitor_ids)} monitors, "
        f"{counts['messages']} messages, {counts['sms']} of them by SMS. Everything was torn down."
    )
    return {**counts, **{f"moment:{name}": count for name, count in seen.items()}}


REPORT = Path(".quotawatch-local") / "demo-report.html"


def _table(stack: LocalStack) -> Table:
    return Table(DynamoStore(stack.aws.client("dynamodb"), stack.outputs["TableName"]), f"stack '{stack.name}'")


def _show_status(stack: LocalStack, config: dict[str, Any], out: Callable[[str], None]) -> None:
    """What `quotawatch status` prints at the story's busiest moment (coloured in a terminal)."""
    table = _table(stack)
    rows = status_of(table, list(parse_monitors(config).enabled))
    zone = Zone.named("UTC")  # the story's clock is UTC, as every line above
    out(f"`quotawatch status` after run {STATUS_AT}:\n")
    out(status_text(rows, zone, Painter(wants_colour(sys.stdout)), table.where))


def _write_the_report(repo: Path, stack: LocalStack, config: dict[str, Any], out: Callable[[str], None]) -> None:
    """The report of the whole story (`quotawatch report`), from the table."""
    path = repo / REPORT
    path.parent.mkdir(exist_ok=True)
    monitors = list(parse_monitors(config).enabled)
    charts = write_report(_table(stack), monitors, FIRST_TICK - TICK, Zone.named("UTC"), path)
    out(f"The story's report, {charts} charts (`quotawatch report`): {path}")
    out("  open it in a browser; `make up` and `.venv/bin/quotawatch status` show a running stack the same way\n")


def _mute(stack: LocalStack, at: datetime, out: Callable[[str], None]) -> None:
    """`quotawatch mute converra-prod --for 1d --reason ...` as you would run it at `at`."""
    args = argparse.Namespace(
        pattern="converra-prod", duration="1d", start=None, every=None, tz="UTC", reason="migrating the chat bots"
    )
    session = boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - the embedded AWS's, never real
        region_name="us-east-1",
    )
    table = Table(_table(stack).store, f"stack '{stack.name}'", session, stack.aws.endpoint_url)
    silence = mute(table, args, at)
    out(f"[~] {fmt.timestamp(at)}  you run: quotawatch mute converra-prod --for 1d --reason '{args.reason}'")
    for line in muted_text(silence, Zone.named("UTC")).splitlines():
        out(f"    {line}")
    out("")


def _tick(at: datetime) -> dict[str, str]:
    return {"source": "schedule", "scheduled_time": str(format_time(at))}


def _broken_run(lambdas: LocalLambda, monitors: Path, at: datetime, out: Callable[[str], None]) -> None:
    """A monitors file that cannot be read fails the run; after its retry, Lambda hands the
    failure to the notify function, which tells people that QuotaWatch itself is in trouble."""
    monitors.write_text(monitors.read_text().replace("monitors:", "monitors: [", 1))
    outcome = lambdas.invoke_async("CheckUsageFunction", _tick(at))
    out(f"[!] {fmt.timestamp(at)}  you push a monitors.yaml with a stray bracket")
    errors = [a.error for a in outcome.attempts if a.error]
    out(f"    the run fails ({len(errors)} attempts: {errors[-1]['errorType'] if errors else 'none'})")


def _daily_digest(lambdas: LocalLambda, out: Callable[[str], None]) -> None:
    """The digest schedule's event, delivered twice (as EventBridge may): one message a day."""
    event = {"source": "digest", "digest": True, "scheduled_time": str(format_time(DIGEST_AT))}
    statuses = []
    for _ in range(2):
        outcome = lambdas.invoke_async("CheckUsageFunction", event)
        if not outcome.succeeded:
            raise RuntimeError(f"digest failed: {outcome.attempts[-1].error}")
        statuses.append(str((outcome.attempts[-1].result or {}).get("status")))
    out(f"[d] {fmt.timestamp(DIGEST_AT)}  the daily digest (DigestSchedule); the scheduler delivers its event twice")
    out(f"    {statuses[0]}, then {statuses[1]}: one digest a day, whatever the scheduler repeats")


def _put_keys(aws: EmbeddedAws, stack: LocalStack, keys: dict[str, str]) -> None:
    aws.client("secretsmanager").put_secret_value(
        SecretId=stack.outputs["ApiKeysSecretName"], SecretString=json.dumps(keys)
    )


def _print_delivery(delivery: Delivery, out: Callable[[str], None], shown: set[str], late: bool) -> None:
    """Every message's subject; the whole email the first time each kind of message appears."""
    attributes = ", ".join(f"{k}={v}" for k, v in sorted(delivery.attributes.items()))
    out(f"    EMAIL {delivery.subject}" + ("   (late: SNS refused it last run)" if late else ""))
    out(f"          ({attributes})")
    kind = delivery.subject.split("]")[0] + delivery.attributes.get("kind", "")
    kind += " after a silence" if "(still, silence ended" in delivery.subject else ""
    kind += " burn" if "faster than usual" in delivery.subject else ""
    if kind not in shown:
        shown.add(kind)
        for line in delivery.body.splitlines():
            out(f"          | {line}")


def _print_channels(receivers: FakeReceivers, out: Callable[[str], None], seen: dict[str, int]) -> None:
    """What the Slack webhook and PagerDuty received since the last look; the first of each
    in full, as it arrived."""
    for request in receivers.received[seen["count"] :]:
        answer = f"-> {request.status}"
        if request.type == "slack":
            out(f"      SLACK {request.body.get('text', '')}  {answer}")
        elif request.type == "pagerduty":
            summary = (request.body.get("payload") or {}).get("summary", "")
            action, dedup = request.body.get("event_action"), request.body.get("dedup_key")
            out(
                "      "
                + "  ".join(part for part in (f"PAGERDUTY {action} dedup_key={dedup}", summary, answer) if part)
            )
        first = f"full:{request.type}"
        if request.status < 300 and first not in seen:
            seen[first] = 1
            shown = dict(request.body)
            if "routing_key" in shown:
                shown["routing_key"] = shown["routing_key"][:4] + "..."  # a secret: never shown whole
            for line in json.dumps(shown, indent=2, ensure_ascii=False).splitlines():
                out(f"          | {line}")
    seen["count"] = len(receivers.received)


def _topic(event: dict[str, Any]) -> bool:
    return bool(event.get("channel_retry", {}).get("channel") == "topic")


def _sms_texts(calls: list[Call]) -> dict[str, str]:
    """The SMS text of each message the notify function was given, by subject."""
    texts: dict[str, str] = {}
    for call in calls:
        for record in call.event.get("Records", []) if call.source == "stream" else []:
            image = record.get("dynamodb", {}).get("NewImage", {})
            try:
                message = json.loads(image["message"]["S"])
            except (KeyError, TypeError, ValueError):
                continue
            texts[message["subject"]] = message["sms"]
    return texts


def _snapshot_line(snapshot: Snapshot) -> str:
    if snapshot.error:
        return f"cannot check ({snapshot.error.kind.value}): {snapshot.error.message}"
    parts = []
    for m in snapshot.meters:
        if m.percent_used is not None:
            parts.append(f"{m.name} {fmt.percent(m.percent_used)}")
        elif m.limit is None and m.used is None and m.remaining is not None:
            parts.append(f"{m.name} {fmt.quantity(m.remaining, m.unit)} left")
        elif m.limit is None and m.used is not None and m.unit == "USD":
            parts.append(f"{m.name} {fmt.quantity(m.used, m.unit)} spent")
    parts += [f"{c.severity.value}: {c.message}" for c in snapshot.conditions]
    return ", ".join(parts) or "no limited meters"


# --- `make up`: the demo's fakes and keys behind a stack left running --------------------

OPENROUTER_KEY = "sk-or-v1-d3m0" + "0a9" * 20  # the fake's key, in OpenRouter's form
DEMO_KEYS = {
    "cloudlayer-prod": "demo-cloudlayer-key",
    "tornado": "sk_demo_tornado_1",
    "converra": "sk_test_demo_converra",
    "imagerouter": "demo-imagerouter-key",
}
UP_READINGS = 6  # readings taken when `make up` starts, six hours apart, the last now


def serve_demo_providers(stack: LocalStack, repo: Path, fakes: ExitStack, folder: Path) -> dict[str, str]:
    """The demo's four fakes (each answer a step further in the story) and their keys in the
    stack's secret, with monitors.yaml's monitors pointed at them in `folder`/monitors.yaml.
    The check function's environment to use them: MONITORS_FILE and the fakes' CA."""
    from quotawatch_local.fakes import tls

    story = _Story()
    servers = {
        "cloudlayer": fakes.enter_context(FakeProvider(cloudlayer.API, DEMO_KEYS["cloudlayer-prod"], story.cloudlayer)),
        "tornado": fakes.enter_context(FakeProvider(tornado.API, DEMO_KEYS["tornado"], story.tornado)),
        "converra": fakes.enter_context(FakeProvider(converra.API, DEMO_KEYS["converra"], story.converra)),
        "imagerouter": fakes.enter_context(FakeProvider(imagerouter.API, DEMO_KEYS["imagerouter"], story.imagerouter)),
    }
    config = yaml.safe_load((repo / "functions/check_usage/monitors.yaml").read_text())
    for monitor in config["monitors"]:
        server = servers.get(monitor["provider"])
        if server is not None:
            monitor["base_url"] = converra.base_url_of(server) if monitor["provider"] == "converra" else server.base_url
    folder.mkdir(parents=True, exist_ok=True)
    monitors_file = folder / "monitors.yaml"
    monitors_file.write_text(yaml.safe_dump(config, sort_keys=False))
    _put_keys(stack.aws, stack, DEMO_KEYS)
    return {"MONITORS_FILE": str(monitors_file), tls.CA_BUNDLE_VARIABLE: tls.ca_bundle()}


def first_readings(lambdas: LocalLambda, now: datetime) -> None:
    """A few past ticks, so that status, history and the report have a trend to show."""
    for number in range(UP_READINGS - 1, -1, -1):
        lambdas.invoke("CheckUsageFunction", _tick((now - number * TICK).replace(microsecond=0)))
    lambdas.pump()
