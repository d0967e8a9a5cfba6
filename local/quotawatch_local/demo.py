"""The demo: QuotaWatch end to end on this machine, no AWS account, no Docker.

Brings up the embedded AWS, deploys template.yaml into it, starts a fake cloudlayer.io
whose usage climbs from call to call, runs the check function on successive schedule
ticks, and prints each snapshot and each message as SNS delivered it. Then tears down.
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from quotawatch.adapters.store import DynamoStore
from quotawatch.core import formatting as fmt
from quotawatch.core.snapshot import Snapshot
from quotawatch_local.embedded_aws import embedded_aws
from quotawatch_local.fakes.cloudlayer import CLIMB, fake_cloudlayer
from quotawatch_local.inbox import Inbox
from quotawatch_local.invoke import FunctionRuntime
from quotawatch_local.local_stack import deploy, teardown

DEMO_KEY = "demo-cloudlayer-key-not-real"
TICK = timedelta(hours=6)
FIRST_TICK = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)


def run(repo: Path, out: Any = print) -> dict[str, int]:
    started = time.monotonic()
    counts = {"checks": 0, "messages": 0, "sms": 0}
    out("QuotaWatch demo: everything runs on this machine (embedded AWS, fake cloudlayer.io).\n")
    with embedded_aws() as aws, fake_cloudlayer(DEMO_KEY, "climbing") as cloudlayer:
        stack = deploy(
            aws,
            repo / "template.yaml",
            stack_name="quotawatch-demo",
            parameters={"AlertEmail": "you@example.com", "AlertPhone": "+15555550100"},
        )
        out(f"Embedded AWS at {aws.endpoint_url}; fake cloudlayer.io at {cloudlayer.base_url}")
        out(f"Deployed template.yaml as stack '{stack.name}': {len(stack.resources)} resources")
        out(f"  created beside the stack (moto's CloudFormation lacks them): {', '.join(stack.beside)}")

        aws.client("secretsmanager").put_secret_value(
            SecretId=stack.outputs["ApiKeysSecretName"], SecretString=json.dumps({"cloudlayer-prod": DEMO_KEY})
        )
        topic = stack.outputs["AlertTopicArn"]
        inbox = Inbox(aws, topic, "demo-inbox")
        sms_filter = stack.template["Resources"]["AlertSmsSubscription"]["Properties"]["FilterPolicy"]
        phone = Inbox(aws, topic, "demo-phone", sms_filter)
        store = DynamoStore(aws.client("dynamodb"), stack.outputs["TableName"])

        with tempfile.TemporaryDirectory() as scratch:
            monitors = _monitors_pointing_at(repo, cloudlayer.base_url, Path(scratch))
            out("Monitors: functions/check_usage/monitors.yaml, with cloudlayer-prod's base_url set to the fake\n")
            with FunctionRuntime(stack, "CheckUsageFunction", {"MONITORS_FILE": str(monitors)}) as runtime:
                for number in range(1, len(CLIMB) + 1):
                    tick = FIRST_TICK + (number - 1) * TICK
                    invocation = runtime.invoke({"source": "schedule", "scheduled_time": fmt_time(tick)})
                    if invocation.error:
                        raise RuntimeError(f"check failed: {invocation.error}")
                    counts["checks"] += 1
                    snapshot = store.recent_snapshots("cloudlayer-prod", limit=1)[0]
                    out(f"[{number}] {fmt.timestamp(tick)}  {_snapshot_line(snapshot)}")
                    phone_subjects = {d.subject for d in phone.take()}
                    deliveries = inbox.take()
                    if not deliveries:
                        out("    no change: no message\n")
                    notified = {n["subject"]: n for n in _notified(invocation.result)}
                    for delivery in deliveries:
                        counts["messages"] += 1
                        out(f"    EMAIL  Subject: {delivery.subject}")
                        out(
                            "           attributes: "
                            + ", ".join(f"{k}={v}" for k, v in sorted(delivery.attributes.items()))
                        )
                        for line in delivery.body.splitlines():
                            out(f"           | {line}")
                        sms = notified.get(delivery.subject, {}).get("sms", "")
                        if delivery.subject in phone_subjects:
                            counts["sms"] += 1
                            out(f"    SMS    ({len(sms)} chars) {sms}")
                        else:
                            out("    SMS    not sent: the phone subscription only takes critical alerts")
                        out("")
        teardown(stack)
    out(
        f"Done in {time.monotonic() - started:.1f} s: {counts['checks']} checks, "
        f"{counts['messages']} messages, {counts['sms']} by SMS. Everything was torn down."
    )
    return counts


def fmt_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _monitors_pointing_at(repo: Path, base_url: str, folder: Path) -> Path:
    """The repo's monitors file with cloudlayer-prod sent to the fake (an allowed override)."""
    data = yaml.safe_load((repo / "functions/check_usage/monitors.yaml").read_text())
    for monitor in data["monitors"]:
        if monitor["provider"] == "cloudlayer":
            monitor["base_url"] = base_url
    path = folder / "monitors.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _snapshot_line(snapshot: Snapshot) -> str:
    if snapshot.error:
        return f"{snapshot.monitor}: cannot check ({snapshot.error.kind.value}): {snapshot.error.message}"
    parts = []
    for meter in snapshot.meters:
        if meter.limit is None:
            continue
        pct = meter.percent_used
        parts.append(f"{meter.name} {fmt.percent(pct)}" if pct is not None else meter.name)
    calls = snapshot.meter("calls")
    headline = f" ({fmt.fraction(calls.used, calls.limit, calls.unit)})" if calls else ""
    return f"{snapshot.monitor}{headline}: " + ", ".join(parts)


def _notified(result: Any) -> list[dict[str, str]]:
    return [n for monitor in (result or {}).get("monitors", []) for n in monitor.get("notified", [])]
