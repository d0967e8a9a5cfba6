"""Integration fixtures: the embedded AWS with the real template deployed, fake providers."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from quotawatch_local.embedded_aws import EmbeddedAws, embedded_aws
from quotawatch_local.inbox import Inbox
from quotawatch_local.invoke import FunctionRuntime, Invocation
from quotawatch_local.lambda_service import Call, LocalLambda
from quotawatch_local.local_stack import LocalStack, deploy

REPO = Path(__file__).resolve().parents[2]
PROBES = Path(__file__).resolve().parent / "probes"  # stand-in handlers (see probes/notify_probe.py)
CLOUDLAYER_KEY = "cl-live-3f9a2b7c-not-a-real-key"


@pytest.fixture(scope="session")
def aws() -> Iterator[EmbeddedAws]:
    with embedded_aws() as embedded:
        yield embedded


@pytest.fixture
def stack(aws: EmbeddedAws) -> LocalStack:
    """A fresh account with template.yaml deployed, for each test."""
    aws.reset()
    return deploy(aws, REPO / "template.yaml", stack_name="quotawatch-test")


# Fan-out is off by default (no shard queue, worker or alarm is deployed); a deployment with
# many monitors turns it on with FanOutAbove. Tests then lower the threshold by environment.
FANOUT_ON = {"FanOutAbove": "2000"}


@pytest.fixture
def fanout_stack(aws: EmbeddedAws) -> LocalStack:
    """A fresh account with template.yaml deployed with fan-out on, for each test."""
    aws.reset()
    return deploy(aws, REPO / "template.yaml", stack_name="quotawatch-test", parameters=FANOUT_ON)


@pytest.fixture
def inbox(aws: EmbeddedAws, stack: LocalStack) -> Inbox:
    return Inbox(aws, stack.outputs["AlertTopicArn"], "test-inbox")


@pytest.fixture
def local_lambda(stack: LocalStack) -> Iterator[LocalLambda]:
    """The local Lambda service for the stack, running the functions' own code."""
    with LocalLambda(stack) as service:
        yield service


def probed(stack: LocalStack, *functions: str, **env: dict[str, str]) -> LocalLambda:
    """The local Lambda service with these functions' code replaced by the probe handler."""
    return LocalLambda(stack, code={f: (PROBES, "notify_probe.handler") for f in functions}, env_overrides=env)


def put_message(stack: LocalStack, monitor: str, subject: str, version: int = 1, **fields: Any) -> str:
    """Write a message item as the check does (without its state); its sort key."""
    sk = f"MSG#2026-11-24T01:00:00Z#meter:calls#{version}"
    message = {
        "subject": subject,
        "email": f"{subject}\n\nWhat to do: look at the plan.",
        "sms": subject[:160],
        "severity": "critical",
        "monitor": monitor,
        "provider": "cloudlayer",
        "kind": "alert",
        **fields,
    }
    stack.aws.client("dynamodb").put_item(
        TableName=stack.outputs["TableName"],
        Item={"pk": {"S": f"MON#{monitor}"}, "sk": {"S": sk}, "message": {"S": json.dumps(message)}},
    )
    return sk


def queue_bodies(stack: LocalStack, output: str) -> list[dict[str, Any]]:
    """Every message waiting in the queue named by a stack output (its URL), parsed; left in place."""
    sqs = stack.aws.client("sqs")
    response = sqs.receive_message(QueueUrl=stack.outputs[output], MaxNumberOfMessages=10, VisibilityTimeout=0)
    return [json.loads(m["Body"]) for m in response.get("Messages", [])]


def put_keys(stack: LocalStack, keys: dict[str, str] | str) -> None:
    value = keys if isinstance(keys, str) else json.dumps(keys)
    stack.aws.client("secretsmanager").put_secret_value(SecretId=stack.outputs["ApiKeysSecretName"], SecretString=value)


def write_monitors(folder: Path, monitors: list[dict[str, Any]]) -> Path:
    path = folder / "monitors.yaml"
    path.write_text(yaml.safe_dump({"monitors": monitors}, sort_keys=False))
    return path


def cloudlayer_monitor(base_url: str, monitor_id: str = "cloudlayer-prod", **extra: Any) -> dict[str, Any]:
    return {"id": monitor_id, "provider": "cloudlayer", "secret_field": monitor_id, "base_url": base_url, **extra}


def runtime(stack: LocalStack, monitors: Path, **env: str) -> FunctionRuntime:
    return FunctionRuntime(stack, "CheckUsageFunction", {"MONITORS_FILE": str(monitors), **env})


class Platform:
    """QuotaWatch as Lambda runs it: the check function, and the notify function behind the
    table's stream (with its filter, batches and retries), through the local Lambda service."""

    def __init__(self, stack: LocalStack, monitors: Path, **env: str) -> None:
        self.stack = stack
        self.lambdas = LocalLambda(stack, env_overrides={"CheckUsageFunction": {"MONITORS_FILE": str(monitors), **env}})

    def check(self, event: dict[str, Any]) -> Invocation:
        """A check run, then everything the stream brings delivered, as happens within a second."""
        invocation = self.lambdas.invoke("CheckUsageFunction", event)
        self.deliver()
        return invocation

    def deliver(self) -> list[Call]:
        return self.lambdas.pump()

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *_: object) -> None:
        self.lambdas.close()


def queued(invocation: Invocation) -> list[dict[str, str]]:
    """The messages a check run decided, from its result."""
    return [q for monitor in invocation.result.get("monitors", []) for q in monitor.get("queued", [])]


def tick(n: int) -> dict[str, str]:
    """The scheduler's event for the n-th quarter hour of a day."""
    return {"source": "schedule", "scheduled_time": f"2026-11-24T{n // 4:02d}:{n % 4 * 15:02d}:00Z"}


def closed_port_url() -> str:
    """A loopback address where nothing listens: connection refused, at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def items(stack: LocalStack, monitor: str, prefix: str) -> list[dict[str, Any]]:
    condition, values = "pk = :pk", {":pk": {"S": f"MON#{monitor}"}}
    if prefix:
        condition += " AND begins_with(sk, :prefix)"
        values[":prefix"] = {"S": prefix}
    response = stack.aws.client("dynamodb").query(
        TableName=stack.outputs["TableName"],
        KeyConditionExpression=condition,
        ExpressionAttributeValues=values,
        ConsistentRead=True,
    )
    return list(response["Items"])


def signal_states(stack: LocalStack, monitor: str) -> dict[str, dict[str, str]]:
    """The monitor's stored alert state, per signal: level, since, version ... as text."""
    item = (
        stack.aws.client("dynamodb")
        .get_item(
            TableName=stack.outputs["TableName"],
            Key={"pk": {"S": f"MON#{monitor}"}, "sk": {"S": "STATE"}},
            ConsistentRead=True,
        )
        .get("Item", {})
    )
    return {
        name.removeprefix("signal#"): {field: next(iter(v.values())) for field, v in value["M"].items()}
        for name, value in item.items()
        if name.startswith("signal#")
    }
