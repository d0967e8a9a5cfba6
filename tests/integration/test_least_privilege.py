"""The function makes no AWS call that its role in template.yaml does not allow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from quotawatch_local.aws_counter import AwsCallCounter
from quotawatch_local.fakes import Reply, sequence
from quotawatch_local.fakes.cloudlayer import LIMIT_PLAN, fake_cloudlayer
from quotawatch_local.invoke import FunctionRuntime
from quotawatch_local.local_stack import LocalStack
from tests.integration.conftest import CLOUDLAYER_KEY, cloudlayer_monitor, put_keys, tick, write_monitors

pytestmark = pytest.mark.integration

# botocore's service names in the signing scope, as IAM's action prefixes.
_IAM_PREFIX = {"dynamodb": "dynamodb", "sns": "sns", "secretsmanager": "secretsmanager"}


def _allowed_actions(stack: LocalStack) -> set[str]:
    """Every action the function's role allows, from the deployed (transformed) template."""
    role = stack.transformed["Resources"]["CheckUsageFunctionRole"]["Properties"]
    actions: set[str] = set()
    for policy in role.get("Policies", []):
        for statement in _as_list(policy["PolicyDocument"]["Statement"]):
            if statement["Effect"] == "Allow":
                actions.update(_as_list(statement["Action"]))
    return actions


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.fixture
def counter(stack: LocalStack) -> Iterator[AwsCallCounter]:
    proxy = AwsCallCounter(stack.aws.endpoint_url).start()
    yield proxy
    proxy.stop()


def test_every_call_the_function_makes_is_allowed_by_its_role(
    stack: LocalStack, counter: AwsCallCounter, tmp_path: Path
) -> None:
    put_keys(stack, {"cloudlayer-prod": CLOUDLAYER_KEY})
    # A warning, a critical alert, a rejected key and its return: every path that talks to AWS.
    unauthorized = Reply(401, {"error": "Unauthorized"})
    replies = sequence(
        *(Reply(200, {**LIMIT_PLAN, "calls": c}) for c in (820, 960)), unauthorized, Reply(200, LIMIT_PLAN)
    )
    with fake_cloudlayer(CLOUDLAYER_KEY, replies) as fake:
        monitors = write_monitors(tmp_path, [cloudlayer_monitor(fake.base_url)])
        env = {"MONITORS_FILE": str(monitors), "AWS_ENDPOINT_URL": counter.endpoint_url}
        with FunctionRuntime(stack, "CheckUsageFunction", env) as function:
            for n in range(4):
                assert function.invoke(tick(n)).error is None
            assert function.invoke({"test_alert": True}).result["status"] == "test_sent"
            assert function.invoke(tick(3)).result["status"] == "duplicate"
    made = {f"{_IAM_PREFIX.get(service, service)}:{operation}" for service, operation in counter.take()}
    expected = {"PutItem", "UpdateItem", "BatchGetItem", "BatchWriteItem", "Query"}
    assert {f"dynamodb:{operation}" for operation in expected} | {
        "sns:Publish",
        "secretsmanager:GetSecretValue",
    } <= made
    assert made <= _allowed_actions(stack), made - _allowed_actions(stack)
