"""The demo: QuotaWatch end to end on this machine, no AWS account, no Docker.

Brings up the embedded AWS, deploys template.yaml into it, starts a fake of each of the
four providers whose usage climbs from call to call, runs the check function on
successive schedule ticks, and prints each snapshot and each message as SNS delivered
it. Then tears everything down.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from quotawatch.adapters.store import DynamoStore
from quotawatch.core import formatting as fmt
from quotawatch.core.snapshot import Snapshot
from quotawatch_local.embedded_aws import embedded_aws
from quotawatch_local.fakes import FakeProvider, cloudlayer, converra, imagerouter, tornado
from quotawatch_local.inbox import Delivery, Inbox
from quotawatch_local.invoke import FunctionRuntime
from quotawatch_local.local_stack import deploy, teardown

TICK = timedelta(hours=6)
FIRST_TICK = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
TICKS = 7  # every fake climbs through 50, 70, 82, 88, 96, 99 percent, then resets


@dataclass(frozen=True)
class DemoProvider:
    provider: str
    key: str
    start: Callable[[str], FakeProvider]
    base_url: Callable[[FakeProvider], str] = lambda fake: fake.base_url


class _Ticks:
    """The demo's clock: the fakes date their answers by the tick being checked."""

    def __init__(self) -> None:
        self.now = FIRST_TICK

    def __call__(self) -> datetime:
        return self.now


def _providers(clock: _Ticks) -> list[DemoProvider]:
    november = {"start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"}
    december = {"start": "2026-12-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"}
    return [
        DemoProvider("cloudlayer", "demo-cloudlayer-key", lambda k: cloudlayer.fake_cloudlayer(k, "climbing")),
        DemoProvider("tornado", "sk_demo_tornado", lambda k: tornado.fake_tornado(k, "climbing")),
        DemoProvider(
            "converra",
            "sk_test_demo_converra",
            lambda k: converra.fake_converra(k, converra.climbing_in(november, december)),
            converra.base_url_of,
        ),
        DemoProvider(
            "imagerouter",
            "demo-imagerouter-key",
            lambda k: imagerouter.fake_imagerouter(k, imagerouter.climbing(clock), clock),
        ),
    ]


def run(repo: Path, out: Callable[[str], None] = print) -> dict[str, int]:
    started = time.monotonic()
    counts = {"checks": 0, "messages": 0, "sms": 0}
    clock = _Ticks()
    out("QuotaWatch demo: everything runs on this machine (embedded AWS, fake providers).\n")
    with embedded_aws() as aws, _fakes(_providers(clock)) as fakes:
        stack = deploy(
            aws,
            repo / "template.yaml",
            stack_name="quotawatch-demo",
            parameters={"AlertEmail": "you@example.com", "AlertPhone": "+15555550100"},
        )
        out(f"Embedded AWS at {aws.endpoint_url}; deployed template.yaml as stack '{stack.name}'.")
        out(f"  created beside the stack (moto's CloudFormation lacks them): {', '.join(stack.beside)}")
        for entry, fake in fakes:
            out(f"  fake {entry.provider} at {fake.base_url}")

        config = yaml.safe_load((repo / "functions/check_usage/monitors.yaml").read_text())
        keys: dict[str, str] = {}
        for monitor in config["monitors"]:
            for entry, fake in fakes:
                if monitor["provider"] == entry.provider and monitor.get("enabled", True):
                    monitor["base_url"] = entry.base_url(fake)
                    keys[monitor["secret_field"]] = entry.key
        monitor_ids = [m["id"] for m in config["monitors"] if m.get("enabled", True)]
        aws.client("secretsmanager").put_secret_value(
            SecretId=stack.outputs["ApiKeysSecretName"], SecretString=json.dumps(keys)
        )
        topic = stack.outputs["AlertTopicArn"]
        inbox = Inbox(aws, topic, "demo-inbox")
        sms_filter = stack.template["Resources"]["AlertSmsSubscription"]["Properties"]["FilterPolicy"]
        phone = Inbox(aws, topic, "demo-phone", sms_filter)
        store = DynamoStore(aws.client("dynamodb"), stack.outputs["TableName"])
        out("Monitors: functions/check_usage/monitors.yaml, each base_url set to its fake; keys in the secret.\n")

        shown_bodies: set[str] = set()
        with tempfile.TemporaryDirectory() as scratch:
            monitors_file = Path(scratch) / "monitors.yaml"
            monitors_file.write_text(yaml.safe_dump(config, sort_keys=False))
            with FunctionRuntime(stack, "CheckUsageFunction", {"MONITORS_FILE": str(monitors_file)}) as runtime:
                for number in range(1, TICKS + 1):
                    clock.now = FIRST_TICK + (number - 1) * TICK
                    invocation = runtime.invoke({"source": "schedule", "scheduled_time": _iso(clock.now)})
                    if invocation.error:
                        raise RuntimeError(f"check failed: {invocation.error}")
                    counts["checks"] += 1
                    out(f"[{number}] {fmt.timestamp(clock.now)}")
                    width = max(len(m) for m in monitor_ids)
                    for monitor_id in monitor_ids:
                        latest = store.recent_snapshots(monitor_id, limit=1)
                        line = _snapshot_line(latest[0]) if latest else "no snapshot"
                        out(f"    {monitor_id:<{width}}  {line}")
                    sms_texts = _sms_texts(invocation.result)
                    to_phone = {d.subject for d in phone.take()}
                    order = {monitor_id: i for i, monitor_id in enumerate(monitor_ids)}
                    deliveries = sorted(inbox.take(), key=lambda d: order.get(d.attributes.get("monitor", ""), 0))
                    if not deliveries:
                        out("    no change: no message")
                    for delivery in deliveries:
                        counts["messages"] += 1
                        _print_delivery(delivery, out, shown_bodies)
                        if delivery.subject in to_phone:
                            counts["sms"] += 1
                            sms = sms_texts.get(delivery.subject, "")
                            out(f"      SMS   ({len(sms)} chars) {sms}")
                    out("")
        teardown(stack)
    out(
        f"Done in {time.monotonic() - started:.1f} s: {counts['checks']} checks of {len(monitor_ids)} monitors, "
        f"{counts['messages']} messages, {counts['sms']} of them by SMS. Everything was torn down."
    )
    return counts


@contextmanager
def _fakes(providers: list[DemoProvider]) -> Iterator[list[tuple[DemoProvider, FakeProvider]]]:
    with ExitStack() as stack:
        yield [(entry, stack.enter_context(entry.start(entry.key))) for entry in providers]


def _print_delivery(delivery: Delivery, out: Callable[[str], None], shown: set[str]) -> None:
    """Every message's subject; the whole email once per severity, so the story stays readable."""
    severity = delivery.attributes.get("severity", "")
    attributes = ", ".join(f"{k}={v}" for k, v in sorted(delivery.attributes.items()))
    out(f"    EMAIL {delivery.subject}")
    out(f"          ({attributes})")
    if severity not in shown:
        shown.add(severity)
        for line in delivery.body.splitlines():
            out(f"          | {line}")


def _sms_texts(result: Any) -> dict[str, str]:
    notified = [n for monitor in (result or {}).get("monitors", []) for n in monitor.get("notified", [])]
    return {n["subject"]: n["sms"] for n in notified}


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _snapshot_line(snapshot: Snapshot) -> str:
    if snapshot.error:
        return f"cannot check ({snapshot.error.kind.value}): {snapshot.error.message}"
    parts = [f"{m.name} {fmt.percent(m.percent_used)}" for m in snapshot.meters if m.percent_used is not None]
    parts += [f"{c.severity.value}: {c.message}" for c in snapshot.conditions]
    return ", ".join(parts) or "no limited meters"
