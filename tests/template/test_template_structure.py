"""What the template promises the code and the user: names, wiring, security properties."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

SECRET_ARN = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${ApiKeysSecretName}-??????"
# The one place a "*" resource remains: the AWS-managed policy SAM attaches to every
# function role it generates (logs:CreateLogGroup/CreateLogStream/PutLogEvents on "*").
BASIC_EXECUTION_ROLE = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
DYNAMODB_STREAM_ROLE = "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole"
# fmt: off
CLOUDWATCH_RETENTION_DAYS = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545,
    731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
]
# fmt: on


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


NO_VALUE = {"Ref": "AWS::NoValue"}


def _either_way(items: list[Any]) -> list[Any]:
    """The items of a list whatever its conditions say: both branches of an Fn::If item, but
    AWS::NoValue. What a role may do is judged on everything it could be granted."""
    flat: list[Any] = []
    for item in items:
        if isinstance(item, dict) and set(item) == {"Fn::If"}:
            _condition, *branches = item["Fn::If"]
            flat += [b for b in branches if b != NO_VALUE]
        else:
            flat.append(item)
    return flat


@pytest.fixture(scope="module")
def function(resources: dict[str, Any]) -> dict[str, Any]:
    assert resources["CheckUsageFunction"]["Type"] == "AWS::Serverless::Function"
    properties: dict[str, Any] = resources["CheckUsageFunction"]["Properties"]
    return properties


# --- parameters -------------------------------------------------------------------------


def test_parameters_and_defaults(template: dict[str, Any]) -> None:
    params = template["Parameters"]
    assert params["ScheduleExpression"]["Default"] == "rate(15 minutes)"
    assert params["SnapshotRetentionDays"]["Type"] == "Number"
    assert params["SnapshotRetentionDays"]["Default"] == 400
    assert params["AlertEmails"]["Default"] == ""
    assert params["AlertPhones"]["Default"] == ""
    assert params["ApiKeysSecretName"]["Default"] == "quotawatch/api-keys"
    assert params["LogRetentionDays"]["Type"] == "Number"
    assert params["LogRetentionDays"]["Default"] == 30
    assert params["LogRetentionDays"]["AllowedValues"] == CLOUDWATCH_RETENTION_DAYS
    heartbeat = params["HeartbeatSeconds"]
    assert heartbeat["Type"] == "Number"
    assert heartbeat["Default"] == 1800  # two 15-minute intervals of the default schedule
    assert "twice your schedule's interval" in heartbeat["Description"]


# `sam deploy --guided` asks in the template's order: who is told first, the rare ones last.
GUIDED_ORDER = [
    "AlertEmails", "AlertPhones", "ScheduleExpression", "DigestSchedule", "DigestTimezone",
    "SnapshotRetentionDays", "LogRetentionDays", "ApiKeysSecretName", "ReservedConcurrency",
    "HeartbeatSeconds", "FanOutAbove", "ShardSize", "ShardConcurrency",
    "ChatSlackWorkspaceId", "ChatSlackChannelId", "ChatTeamsTenantId", "ChatTeamsTeamId", "ChatTeamsChannelId",
]  # fmt: skip


def test_every_parameter_has_a_default_and_a_description_and_the_rare_ones_come_last(
    template: dict[str, Any],
) -> None:
    params = template["Parameters"]
    assert list(params) == GUIDED_ORDER
    for name, param in params.items():
        assert "Default" in param, f"{name} has no default: a newcomer could not just press Enter"
        assert param.get("Description", "").strip(), f"{name} has no description"
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    assert [name for group in groups for name in group["Parameters"]] == GUIDED_ORDER


@pytest.mark.parametrize(
    ("parameter", "good", "bad"),
    [
        ("AlertEmails", ["", "a@example.com", "a@example.com,b.c+q@example.org", ",".join(["x@y.z"] * 5)],
         ["a@example.com, b@example.org", "a@example.com;b@example.org", ",".join(["x@y.z"] * 6), "no-at-sign"]),
        ("AlertPhones", ["", "+4915112345678", "+4915112345678,+15555550100"],
         ["+49 151", "004915112345678", "+4915112345678, +15555550100", ",".join(["+15555550100"] * 6)]),
    ],
)  # fmt: skip
def test_recipients_are_comma_separated_lists_of_at_most_five(
    template: dict[str, Any], parameter: str, good: list[str], bad: list[str]
) -> None:
    pattern = re.compile(template["Parameters"][parameter]["AllowedPattern"])
    assert [value for value in good if not pattern.fullmatch(value)] == []
    assert [value for value in bad if pattern.fullmatch(value)] == []


# --- function, layer, schedule ----------------------------------------------------------


def test_function_runtime_and_layer(
    template: dict[str, Any], function: dict[str, Any], resources: dict[str, Any]
) -> None:
    assert function["CodeUri"] == "functions/check_usage/"
    assert function["Handler"] == "app.lambda_handler"
    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == ["arm64"]
    # our layer only: Powertools is bundled in it, not taken from the public layer
    assert function["Layers"] == [{"Ref": "QuotaWatchLayer"}]
    # reserved by default; 0 reserves none (accounts with a concurrency quota of 10)
    assert template["Parameters"]["ReservedConcurrency"]["Default"] == 0  # works on quota-10 accounts
    assert function["ReservedConcurrentExecutions"] == {
        "Fn::If": [
            "HasReservedConcurrency",
            {"Ref": "ReservedConcurrency"},
            {"Ref": "AWS::NoValue"},
        ]
    }
    assert template["Conditions"]["HasReservedConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ReservedConcurrency"}, "0"]}]
    }
    layer = resources["QuotaWatchLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"] == "layers/quotawatch/"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    # layers/quotawatch/Makefile: SAM's python3.13 build plus compiled bytecode (test_template_build.py)
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}


def test_function_environment_is_exactly_what_the_code_reads(function: dict[str, Any]) -> None:
    assert function["Environment"]["Variables"] == {
        "TABLE_NAME": {"Ref": "QuotaWatchTable"},
        "ALERT_TOPIC_ARN": {"Ref": "AlertTopic"},
        "API_KEYS_SECRET_NAME": {"Ref": "ApiKeysSecretName"},
        "MONITORS_FILE": "monitors.yaml",
        "CHECK_CONCURRENCY": 64,
        "SNAPSHOT_RETENTION_DAYS": {"Ref": "SnapshotRetentionDays"},
        "FANOUT_ABOVE": {"Ref": "FanOutAbove"},
        "SHARD_SIZE": {"Ref": "ShardSize"},
        "SHARD_QUEUE_URL": {"Fn::If": ["FanOutEnabled", {"Ref": "CheckShardQueue"}, ""]},
        "DIGEST_SCHEDULE": {"Ref": "DigestSchedule"},
        "DIGEST_TIMEZONE": {"Ref": "DigestTimezone"},
        "POWERTOOLS_SERVICE_NAME": "quotawatch",
        "POWERTOOLS_METRICS_NAMESPACE": "QuotaWatch",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def test_function_logs_to_its_own_log_group_with_retention(function: dict[str, Any], resources: dict[str, Any]) -> None:
    log_group = function["LoggingConfig"]["LogGroup"]["Ref"]
    assert resources[log_group]["Type"] == "AWS::Logs::LogGroup"
    assert resources[log_group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    # Text format keeps POWERTOOLS_LOG_LEVEL in charge (JSON format sets AWS_LAMBDA_LOG_LEVEL)
    assert function["LoggingConfig"].get("LogFormat", "Text") == "Text"


def test_a_failed_run_is_retried_once_then_goes_to_the_notify_function(
    function: dict[str, Any], transformed: dict[str, Any]
) -> None:
    config = function["EventInvokeConfig"]
    assert config["MaximumRetryAttempts"] == 1
    assert config["DestinationConfig"] == {
        "OnFailure": {"Type": "Lambda", "Destination": {"Fn::GetAtt": ["NotifyFunction", "Arn"]}}
    }
    # not a dead-letter queue as well: Lambda would send the same failure to both
    assert "DeadLetterQueue" not in function
    assert "DeadLetterConfig" not in transformed["Resources"]["CheckUsageFunction"]["Properties"]
    # SAM lets the check function's role invoke the notify function, and nothing else
    invokes = [
        statement
        for role, statement in _role_statements(transformed)
        if role == "CheckUsageFunctionRole" and "lambda:InvokeFunction" in _as_list(statement["Action"])
    ]
    assert invokes == [
        {"Action": "lambda:InvokeFunction", "Effect": "Allow", "Resource": {"Fn::GetAtt": ["NotifyFunction", "Arn"]}}
    ]


def test_schedule(function: dict[str, Any]) -> None:
    assert set(function["Events"]) == {"Schedule", "Digest"}
    event = function["Events"]["Schedule"]
    assert event["Type"] == "ScheduleV2"
    props = event["Properties"]
    assert props["ScheduleExpression"] == {"Ref": "ScheduleExpression"}
    assert props["RetryPolicy"] == {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 900}
    assert props["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}}
    assert json.loads(props["Input"]) == {
        "source": "schedule",
        "scheduled_time": "<aws.scheduler.scheduled-time>",
    }


def test_digest_schedule(template: dict[str, Any], function: dict[str, Any]) -> None:
    """A second schedule, in its own time zone, that `off` disables through a condition."""
    params = template["Parameters"]
    assert params["DigestSchedule"]["Default"] == "cron(0 8 * * ? *)"
    assert params["DigestTimezone"]["Default"] == "UTC"
    assert template["Conditions"]["DigestOn"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "DigestSchedule"}, "off"]}]}
    event = function["Events"]["Digest"]
    assert event["Type"] == "ScheduleV2"
    props = event["Properties"]
    assert props["ScheduleExpressionTimezone"] == {"Ref": "DigestTimezone"}
    assert props["State"] == {"Fn::If": ["DigestOn", "ENABLED", "DISABLED"]}
    # "off" is no expression: the disabled schedule keeps a valid one.
    assert props["ScheduleExpression"]["Fn::If"][:2] == ["DigestOn", {"Ref": "DigestSchedule"}]
    assert props["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}}
    assert json.loads(props["Input"]) == {
        "source": "digest",
        "digest": True,
        "scheduled_time": "<aws.scheduler.scheduled-time>",
    }
    env = function["Environment"]["Variables"]
    assert env["DIGEST_TIMEZONE"] == {"Ref": "DigestTimezone"}
    assert env["DIGEST_SCHEDULE"] == {"Ref": "DigestSchedule"}


def test_schedule_dead_letter_queue(resources: dict[str, Any], transformed: dict[str, Any]) -> None:
    queue = resources["ScheduleDeadLetterQueue"]
    assert queue["Type"] == "AWS::SQS::Queue"
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    # both senders may send to it: the scheduler's role and the function's role
    queue_arn = {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}
    senders = {
        name
        for name, statement in _role_statements(transformed)
        if "sqs:SendMessage" in _as_list(statement["Action"]) and statement["Resource"] == queue_arn
    }
    # the schedulers, for checks and digests they could not deliver
    assert senders == {"CheckUsageFunctionScheduleRole", "CheckUsageFunctionDigestRole"}


# --- storage, topic, secret ---------------------------------------------------------------


def test_table_keys_recovery_encryption_ttl_and_retention(resources: dict[str, Any]) -> None:
    table = resources["QuotaWatchTable"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    props = table["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert props["AttributeDefinitions"] == [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    # the notify function reads new message items from the stream; the new image is all it needs
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}


def test_topic_is_encrypted(resources: dict[str, Any]) -> None:
    topic = resources["AlertTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == "alias/aws/sns"
    assert topic["DisplayName"] == "QuotaWatch"


@given(addresses=st.lists(st.emails(), min_size=1, max_size=5))
def test_any_five_addresses_are_accepted_and_each_fills_its_own_slot(
    template: dict[str, Any], addresses: list[str]
) -> None:
    """What the template's conditions and endpoints compute: the value padded with four
    commas, split, the first five entries; an empty entry creates no subscription."""
    value = ",".join(addresses)
    assert re.fullmatch(template["Parameters"]["AlertEmails"]["AllowedPattern"], value)
    entries = (value + ",,,,").split(",")[:5]
    assert [entry for entry in entries if entry] == addresses


def slot(parameter: str, index: int) -> dict[str, Any]:
    """The index-th entry of a comma-separated parameter, padded so that it always exists."""
    padded = {"Fn::Sub": "${" + parameter + "},,,,"}
    return {"Fn::Select": [index, {"Fn::Split": [",", padded]}]}


@pytest.mark.parametrize("index", range(5))
def test_each_email_gets_every_alert_and_each_phone_only_critical_ones(
    template: dict[str, Any], resources: dict[str, Any], index: int
) -> None:
    suffix = "" if index == 0 else str(index + 1)
    email, sms = resources[f"AlertEmailSubscription{suffix}"], resources[f"AlertSmsSubscription{suffix}"]
    for subscription, kind, parameter in ((email, "Email", "AlertEmails"), (sms, "Phone", "AlertPhones")):
        condition = f"HasAlert{kind}{index + 1}"
        assert subscription["Condition"] == condition
        assert subscription["Properties"]["Endpoint"] == slot(parameter, index)
        assert template["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [slot(parameter, index), ""]}]}
    assert email["Properties"]["Protocol"] == "email"
    assert "FilterPolicy" not in email["Properties"]
    props = sms["Properties"]
    assert props["Protocol"] == "sms"
    assert props["FilterPolicyScope"] == "MessageAttributes"
    policy = props["FilterPolicy"]
    assert (json.loads(policy) if isinstance(policy, str) else policy) == {"severity": ["critical"]}


def test_a_stack_that_tells_no_one_says_so_in_its_outputs(template: dict[str, Any]) -> None:
    warning = template["Outputs"]["Warning"]
    assert warning["Condition"] == "NoRecipient"
    assert "No one will be told" in warning["Value"]


def test_api_keys_secret_starts_empty(resources: dict[str, Any]) -> None:
    secret = resources["ApiKeysSecret"]["Properties"]
    assert secret["Name"] == {"Ref": "ApiKeysSecretName"}
    assert json.loads(secret["SecretString"]) == {}
    assert "monitors.yaml" in secret["Description"]


# --- IAM ----------------------------------------------------------------------------------


def _role_statements(transformed: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(role, statement) for every inline statement of every IAM role after the SAM transform."""
    return [
        (name, statement)
        for name, resource in transformed["Resources"].items()
        if resource["Type"] == "AWS::IAM::Role"
        for policy in resource["Properties"].get("Policies", [])
        for statement in _either_way(_as_list(policy["PolicyDocument"]["Statement"]))
    ]


def test_secrets_manager_access_is_only_get_secret_value_on_the_keys_secret(
    transformed: dict[str, Any],
) -> None:
    secret_statements = [
        (role, statement)
        for role, statement in _role_statements(transformed)
        if any(action.startswith("secretsmanager:") for action in _as_list(statement["Action"]))
    ]
    read_keys = {
        "Sid": "ReadApiKeys",
        "Effect": "Allow",
        "Action": "secretsmanager:GetSecretValue",
        "Resource": {"Fn::Sub": SECRET_ARN},
    }
    # the check, the notify function (channels' webhook URLs and routing keys), and the
    # fan-out worker that checks a shard of a large run
    assert secret_statements == [
        ("CheckUsageFunctionRole", read_keys),
        ("NotifyFunctionRole", read_keys),
        ("CheckShardFunctionRole", read_keys),
    ]


def _dynamodb_actions(transformed: dict[str, Any], role: str) -> set[str]:
    statements = [s for r, s in _role_statements(transformed) if r == role]
    for statement in statements:
        if any(a.startswith("dynamodb:") for a in _as_list(statement["Action"])):
            assert statement["Resource"] == {"Fn::GetAtt": ["QuotaWatchTable", "Arn"]}, statement
    return {a for s in statements for a in _as_list(s["Action"]) if a.startswith("dynamodb:")}


def test_dynamodb_access_is_item_level_on_the_table_only(transformed: dict[str, Any]) -> None:
    # The check: Powertools Idempotency's tick record, snapshots and windows in batches,
    # state and message in one TransactWriteItems (authorised as PutItem/UpdateItem).
    check = ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchGetItem", "BatchWriteItem", "Query")
    assert _dynamodb_actions(transformed, "CheckUsageFunctionRole") == {f"dynamodb:{a}" for a in check}
    # The fan-out worker does what the check does, for its shard (and claims the shard).
    assert _dynamodb_actions(transformed, "CheckShardFunctionRole") == {f"dynamodb:{a}" for a in check}
    # The notify function: reads and marks a message sent; reads QuotaWatch's own state and
    # writes a self-alert's state and message in a transaction.
    notify = ("GetItem", "BatchGetItem", "PutItem", "UpdateItem")
    assert _dynamodb_actions(transformed, "NotifyFunctionRole") == {f"dynamodb:{a}" for a in notify}
    # IAM has no action for a transaction as a whole, nor anything table-wide here
    every = {a for _, s in _role_statements(transformed) for a in _as_list(s["Action"])}
    assert not {"dynamodb:TransactWriteItems", "dynamodb:Scan", "dynamodb:DeleteTable"} & every


def test_only_the_notify_function_publishes_and_only_to_the_alert_topic(transformed: dict[str, Any]) -> None:
    publishers = [(role, s) for role, s in _role_statements(transformed) if "sns:Publish" in _as_list(s["Action"])]
    assert [role for role, _ in publishers] == ["NotifyFunctionRole"]
    (_, statement) = publishers[0]
    assert statement["Resource"]["Fn::Sub"][1] == {"topicName": {"Fn::GetAtt": ["AlertTopic", "TopicName"]}}


def test_each_role_may_send_only_to_its_own_queue(transformed: dict[str, Any]) -> None:
    sends = {
        (role, json.dumps(s["Resource"]))
        for role, s in _role_statements(transformed)
        if any(a.startswith("sqs:Send") for a in _as_list(s["Action"]))
    }
    shards = json.dumps({"Fn::GetAtt": ["CheckShardQueue", "Arn"]})
    assert sends == {
        ("NotifyFunctionRole", json.dumps({"Fn::GetAtt": ["NotifyFailureQueue", "Arn"]})),
        ("CheckUsageFunctionScheduleRole", json.dumps({"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]})),
        ("CheckUsageFunctionDigestRole", json.dumps({"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]})),
        ("CheckUsageFunctionRole", shards),  # the dispatcher's shards
        ("CheckShardFunctionRole", shards),  # a worker's continuation
    }


def test_no_iam_statement_allows_a_wildcard_resource_or_action(transformed: dict[str, Any]) -> None:
    statements = _role_statements(transformed)
    assert statements
    for role, statement in statements:
        assert statement["Effect"] == "Allow", (role, statement)
        for resource in _as_list(statement["Resource"]):
            assert resource != "*", (role, statement)
            assert not str(resource).endswith(":*"), (role, statement)
        for action in _as_list(statement["Action"]):
            assert "*" not in action, (role, statement)


def test_only_managed_policy_is_lambda_basic_execution(transformed: dict[str, Any]) -> None:
    managed = {
        name: resource["Properties"].get("ManagedPolicyArns", [])
        for name, resource in transformed["Resources"].items()
        if resource["Type"] == "AWS::IAM::Role"
    }
    assert managed == {
        "CheckUsageFunctionRole": [BASIC_EXECUTION_ROLE],
        "CheckUsageFunctionScheduleRole": [],
        "CheckUsageFunctionDigestRole": [],
        # SAM adds it for the DynamoDB event: stream reads only (DescribeStream, GetRecords,
        # GetShardIterator, ListStreams), which Lambda's poller uses with the function's role.
        "NotifyFunctionRole": [BASIC_EXECUTION_ROLE, DYNAMODB_STREAM_ROLE],
        # Not AWSLambdaSQSQueueExecutionRole (every queue): its poller statement names its queue.
        "CheckShardFunctionRole": [BASIC_EXECUTION_ROLE],
        # A channel's one-time retry schedule runs as this (its policy: ChannelRetryRolePolicy).
        "ChannelRetryRole": [],
        # Amazon Q Developer in chat applications, only with the chat parameters: no permissions.
        "ChatRole": [],
    }


@pytest.mark.parametrize("schedule_role", ["CheckUsageFunctionScheduleRole", "CheckUsageFunctionDigestRole"])
def test_schedule_role_may_only_invoke_the_function_and_use_the_queue(
    transformed: dict[str, Any], schedule_role: str
) -> None:
    actions = {
        action
        for role, statement in _role_statements(transformed)
        if role == schedule_role
        for action in _as_list(statement["Action"])
    }
    assert actions == {"lambda:InvokeFunction", "sqs:SendMessage"}


# --- outputs and samconfig ----------------------------------------------------------------


def test_outputs(template: dict[str, Any]) -> None:
    assert set(template["Outputs"]) == {
        "TableName",
        "AlertTopicArn",
        "CheckUsageFunctionName",
        "ApiKeysSecretName",
        "ScheduleDeadLetterQueueUrl",
        "NotifyFunctionName",
        "NotifyFailureQueueUrl",
        "CheckShardFunctionName",
        "CheckShardQueueUrl",
        "CheckShardDeadLetterQueueUrl",
        "Warning",
    }
    assert template["Outputs"]["NotifyFunctionName"]["Value"] == {"Ref": "NotifyFunction"}
    assert template["Outputs"]["NotifyFailureQueueUrl"]["Value"] == {"Ref": "NotifyFailureQueue"}


def test_samconfig(repo_root: Path) -> None:
    config = tomllib.loads((repo_root / "samconfig.toml").read_text())
    assert config["version"] == 0.1
    default = config["default"]
    assert default["global"]["parameters"]["stack_name"] == "quotawatch"
    deploy = default["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["confirm_changeset"] is True
    assert deploy["resolve_s3"] is True
    assert default["validate"]["parameters"]["lint"] is True
    assert {"cached", "parallel"} <= set(default["build"]["parameters"])
    # Tracked, so it holds no personal data: the recipients go to samconfig.local.toml.
    assert "parameter_overrides" not in deploy
    assert "samconfig.local.toml" in (repo_root / ".gitignore").read_text().splitlines()


# --- the notify function, its stream, its queue -------------------------------------------


@pytest.fixture(scope="module")
def notify(resources: dict[str, Any]) -> dict[str, Any]:
    assert resources["NotifyFunction"]["Type"] == "AWS::Serverless::Function"
    properties: dict[str, Any] = resources["NotifyFunction"]["Properties"]
    return properties


def test_notify_function_runtime_layer_and_environment(notify: dict[str, Any], resources: dict[str, Any]) -> None:
    assert notify["CodeUri"] == "functions/notify/"
    assert notify["Handler"] == "app.lambda_handler"
    assert notify["Runtime"] == "python3.13"
    assert notify["Architectures"] == ["arm64"]
    assert notify["Layers"] == [{"Ref": "QuotaWatchLayer"}]
    assert notify["MemorySize"] <= 256
    assert 10 <= notify["Timeout"] <= 60
    assert notify["Environment"]["Variables"] == {
        "TABLE_NAME": {"Ref": "QuotaWatchTable"},
        "ALERT_TOPIC_ARN": {"Ref": "AlertTopic"},
        "SNAPSHOT_RETENTION_DAYS": {"Ref": "SnapshotRetentionDays"},  # sent messages live as long as readings
        "POWERTOOLS_SERVICE_NAME": "quotawatch",
        "POWERTOOLS_METRICS_NAMESPACE": "QuotaWatch",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        # Channels: their secrets, and how a failed one's retry is scheduled.
        "API_KEYS_SECRET_NAME": {"Ref": "ApiKeysSecretName"},
        "CHANNEL_RETRY_ROLE_ARN": {"Fn::GetAtt": ["ChannelRetryRole", "Arn"]},
        "CHANNEL_RETRY_DEAD_LETTER_ARN": {"Fn::GetAtt": ["NotifyFailureQueue", "Arn"]},
    }
    log_group = resources[notify["LoggingConfig"]["LogGroup"]["Ref"]]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert log_group["Properties"]["LogGroupName"] == {"Fn::Sub": "/aws/lambda/${AWS::StackName}-notify"}


def test_notify_function_retries_async_events_twice_then_keeps_them_in_its_queue(notify: dict[str, Any]) -> None:
    config = notify["EventInvokeConfig"]
    assert config["MaximumRetryAttempts"] == 2
    assert config["DestinationConfig"] == {
        "OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": ["NotifyFailureQueue", "Arn"]}}
    }


def test_the_stream_mapping(notify: dict[str, Any], transformed: dict[str, Any]) -> None:
    streams = [e for e in notify["Events"].values() if e["Type"] == "DynamoDB"]
    assert len(streams) == 1
    props = streams[0]["Properties"]
    assert props["Stream"] == {"Fn::GetAtt": ["QuotaWatchTable", "StreamArn"]}
    assert props["StartingPosition"] == "TRIM_HORIZON"
    assert 1 <= props["BatchSize"] <= 100
    assert 0 <= props["MaximumBatchingWindowInSeconds"] <= 5  # alerts are not held back
    assert props["BisectBatchOnFunctionError"] is True
    # Retried until SNS takes the message, as long as the stream keeps it; then the failure queue.
    assert props["MaximumRetryAttempts"] == -1
    assert props["MaximumRecordAgeInSeconds"] == 86400
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["DestinationConfig"] == {
        "OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": ["NotifyFailureQueue", "Arn"]}}
    }
    mappings = [r for r in transformed["Resources"].values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    (mapping,) = [m for m in mappings if m["Properties"]["FunctionName"] == {"Ref": "NotifyFunction"}]
    assert mapping["Properties"]["FilterCriteria"] == props["FilterCriteria"]


def _stream_record(event_name: str, sk: str) -> dict[str, Any]:
    keys = {"pk": {"S": "MON#cloudlayer-prod"}, "sk": {"S": sk}}
    return {
        "eventName": event_name,
        "eventSource": "aws:dynamodb",
        "dynamodb": {"Keys": keys, "NewImage": {**keys, "message": {"S": "{}"}}, "SequenceNumber": "1"},
    }


@pytest.mark.parametrize(
    ("event_name", "sk", "delivered"),
    [
        ("INSERT", "MSG#2026-11-24T01:00:00Z#meter:calls#3", True),
        ("INSERT", "MSG#2026-11-24T01:00:00Z#QuotaWatch:heartbeat#1", True),
        ("MODIFY", "MSG#2026-11-24T01:00:00Z#meter:calls#3", False),  # marked sent
        ("REMOVE", "MSG#2026-11-24T01:00:00Z#meter:calls#3", False),  # expired
        ("INSERT", "SNAP#2026-11-24T01:00:00Z", False),
        ("INSERT", "STATE", False),
        ("MODIFY", "STATE", False),
        ("INSERT", "WINDOW", False),
        ("INSERT", "msg#lower-case", False),
    ],
)
def test_the_stream_filter_passes_only_message_inserts(
    notify: dict[str, Any], event_name: str, sk: str, delivered: bool
) -> None:
    from quotawatch_local.event_filter import filter_criteria_patterns, matches_any

    (stream,) = [e for e in notify["Events"].values() if e["Type"] == "DynamoDB"]
    patterns = filter_criteria_patterns(stream["Properties"]["FilterCriteria"])
    assert len(patterns) == 1
    assert matches_any(patterns, _stream_record(event_name, sk)) is delivered


def test_notify_failure_queue_is_encrypted_kept_14_days_and_refuses_plain_transport(
    resources: dict[str, Any],
) -> None:
    queue = resources["NotifyFailureQueue"]
    assert queue["Type"] == "AWS::SQS::Queue"
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    policy = resources["NotifyFailureQueuePolicy"]["Properties"]
    assert policy["Queues"] == [{"Ref": "NotifyFailureQueue"}]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == {"Fn::GetAtt": ["NotifyFailureQueue", "Arn"]}


# --- watching itself ------------------------------------------------------------------------

ALARMS = ("HeartbeatAlarm", "ScheduleDeadLetterAlarm", "NotifyFailureAlarm", "CheckShardDeadLetterAlarm")


def test_three_alarms_and_a_fourth_with_fan_out_on_free_metrics_without_actions(resources: dict[str, Any]) -> None:
    alarms = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert set(alarms) == set(ALARMS)  # $0.10 a month each
    assert resources["CheckShardDeadLetterAlarm"]["Condition"] == "FanOutEnabled"  # only with fan-out
    for name, props in alarms.items():
        assert props["Namespace"] in ("AWS/Lambda", "AWS/SQS"), name
        # state changes reach people through the EventBridge rule, not through actions
        assert not {"AlarmActions", "OKActions", "InsufficientDataActions"} & set(props), name
        description = props["AlarmDescription"]
        text = description if isinstance(description, str) else description["Fn::Sub"]
        assert len(text) > 80, name  # read by a person in an email: says what happened and what to do


def test_heartbeat_alarm_raises_when_no_check_ran_for_two_intervals(resources: dict[str, Any]) -> None:
    props = resources["HeartbeatAlarm"]["Properties"]
    assert props["Namespace"] == "AWS/Lambda"
    assert props["MetricName"] == "Invocations"
    assert props["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "CheckUsageFunction"}}]
    assert props["Statistic"] == "Sum"
    assert props["Period"] == {"Ref": "HeartbeatSeconds"}
    assert props["EvaluationPeriods"] == 1
    assert props["Threshold"] == 1
    assert props["ComparisonOperator"] == "LessThanThreshold"
    assert props["TreatMissingData"] == "breaching"  # no invocations means no data points
    assert props["AlarmDescription"]["Fn::Sub"].startswith("No check has run for ${HeartbeatSeconds} seconds")


@pytest.mark.parametrize(
    ("alarm", "queue"),
    [
        ("ScheduleDeadLetterAlarm", "ScheduleDeadLetterQueue"),
        ("NotifyFailureAlarm", "NotifyFailureQueue"),
        ("CheckShardDeadLetterAlarm", "CheckShardDeadLetterQueue"),
    ],
)
def test_queue_alarms_raise_on_any_waiting_message(resources: dict[str, Any], alarm: str, queue: str) -> None:
    props = resources[alarm]["Properties"]
    assert props["Namespace"] == "AWS/SQS"
    assert props["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert props["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}]
    assert props["Statistic"] == "Maximum"
    assert props["Threshold"] == 0
    assert props["ComparisonOperator"] == "GreaterThanThreshold"
    assert props["TreatMissingData"] == "notBreaching"


def test_alarm_state_changes_of_this_stack_reach_the_notify_function(
    notify: dict[str, Any], transformed: dict[str, Any]
) -> None:
    rules = [e for e in notify["Events"].values() if e["Type"] in ("EventBridgeRule", "CloudWatchEvent")]
    assert len(rules) == 1
    pattern = rules[0]["Properties"]["Pattern"]
    assert pattern["source"] == ["aws.cloudwatch"]
    assert pattern["detail-type"] == ["CloudWatch Alarm State Change"]
    assert _either_way(pattern["resources"]) == [{"Fn::GetAtt": [alarm, "Arn"]} for alarm in ALARMS]
    assert "detail" not in pattern  # both ways: to ALARM and back to OK
    (rule,) = [r for r in transformed["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["NotifyFunction", "Arn"]}
    permissions = [r["Properties"] for r in transformed["Resources"].values() if r["Type"] == "AWS::Lambda::Permission"]
    assert [(p["Principal"], p["FunctionName"]) for p in permissions] == [
        ("events.amazonaws.com", {"Ref": "NotifyFunction"})
    ]


# --- fan-out: the shard queue, its worker, its dead-letter queue ---------------------------


@pytest.fixture(scope="module")
def worker(resources: dict[str, Any]) -> dict[str, Any]:
    assert resources["CheckShardFunction"]["Type"] == "AWS::Serverless::Function"
    properties: dict[str, Any] = resources["CheckShardFunction"]["Properties"]
    return properties


def test_fan_out_parameters(template: dict[str, Any]) -> None:
    params = template["Parameters"]
    above = params["FanOutAbove"]
    assert (above["Default"], above["MinValue"]) == (0, 0)  # off unless a deployment turns it on
    assert template["Conditions"]["FanOutEnabled"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "FanOutAbove"}, 0]}]}
    fan_out = [name for name, r in template["Resources"].items() if r.get("Condition") == "FanOutEnabled"]
    assert sorted(fan_out) == sorted(
        [
            "CheckShardFunction",
            "CheckShardMapping",
            "CheckShardLogGroup",
            "CheckShardQueue",
            "CheckShardDeadLetterQueue",
            "CheckShardQueuePolicy",
            "CheckShardDeadLetterAlarm",
        ]
    )
    assert params["ShardSize"]["Default"] == 250
    concurrency = params["ShardConcurrency"]
    assert concurrency["MinValue"] == 2
    assert 2 <= concurrency["Default"] < 10
    assert "concurrency quota of 10" in concurrency["Description"]


def test_the_worker_is_the_check_functions_code_with_another_handler(
    worker: dict[str, Any], function: dict[str, Any], resources: dict[str, Any]
) -> None:
    for key in ("CodeUri", "Runtime", "Architectures", "Layers", "MemorySize"):
        assert worker[key] == function[key], key
    assert worker["Handler"] == "app.shard_handler"
    assert worker["Environment"]["Variables"] == {
        "TABLE_NAME": {"Ref": "QuotaWatchTable"},
        "API_KEYS_SECRET_NAME": {"Ref": "ApiKeysSecretName"},
        "MONITORS_FILE": "monitors.yaml",
        "CHECK_CONCURRENCY": 64,
        "SNAPSHOT_RETENTION_DAYS": {"Ref": "SnapshotRetentionDays"},
        "SHARD_QUEUE_URL": {"Ref": "CheckShardQueue"},
        "STOP_MARGIN_SECONDS": 45,
        "POWERTOOLS_SERVICE_NAME": "quotawatch",
        "POWERTOOLS_METRICS_NAMESPACE": "QuotaWatch",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
    # it starts no check later than its margin before the timeout
    assert worker["Environment"]["Variables"]["STOP_MARGIN_SECONDS"] < worker["Timeout"] / 2
    log_group = resources[worker["LoggingConfig"]["LogGroup"]["Ref"]]["Properties"]
    assert log_group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert "Events" not in worker  # its mapping is CheckShardMapping, with its own poller statement


def test_the_shard_mapping_reports_item_failures_and_caps_concurrency(resources: dict[str, Any]) -> None:
    mapping = resources["CheckShardMapping"]
    assert mapping["Type"] == "AWS::Lambda::EventSourceMapping"
    props = mapping["Properties"]
    assert props["FunctionName"] == {"Ref": "CheckShardFunction"}
    assert props["EventSourceArn"] == {"Fn::GetAtt": ["CheckShardQueue", "Arn"]}
    assert props["BatchSize"] == 1  # one shard per invocation: each has the whole timeout
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "ShardConcurrency"}}


def test_the_shard_queue_outlasts_the_worker_and_redrives_to_its_dead_letter_queue(
    resources: dict[str, Any], worker: dict[str, Any]
) -> None:
    queue = resources["CheckShardQueue"]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["VisibilityTimeout"] >= 6 * worker["Timeout"]  # AWS's advice for SQS event sources
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["CheckShardDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 3,
    }
    dead = resources["CheckShardDeadLetterQueue"]["Properties"]
    assert dead["SqsManagedSseEnabled"] is True
    assert dead["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert dead["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]  # a message keeps its age in the DLQ
    policy = resources["CheckShardQueuePolicy"]["Properties"]
    assert policy["Queues"] == [{"Ref": "CheckShardQueue"}, {"Ref": "CheckShardDeadLetterQueue"}]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert (statement["Effect"], statement["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})


def test_the_worker_polls_and_sends_on_its_queue_only(transformed: dict[str, Any]) -> None:
    queue = {"Fn::GetAtt": ["CheckShardQueue", "Arn"]}
    sqs = [
        (role, statement)
        for role, statement in _role_statements(transformed)
        if any(a.startswith("sqs:") for a in _as_list(statement["Action"]))
        and role in ("CheckShardFunctionRole", "CheckUsageFunctionRole")
    ]
    actions = {(role, a) for role, s in sqs for a in _as_list(s["Action"])}
    assert actions == {
        ("CheckUsageFunctionRole", "sqs:SendMessage"),
        ("CheckShardFunctionRole", "sqs:SendMessage"),
        ("CheckShardFunctionRole", "sqs:ReceiveMessage"),
        ("CheckShardFunctionRole", "sqs:DeleteMessage"),
        ("CheckShardFunctionRole", "sqs:GetQueueAttributes"),
    }
    assert all(s["Resource"] == queue for _, s in sqs)


def test_the_dead_letter_alarm_is_routed_to_the_notify_function(notify: dict[str, Any]) -> None:
    (rule,) = [e for e in notify["Events"].values() if e["Type"] == "EventBridgeRule"]
    routed = {"Fn::If": ["FanOutEnabled", {"Fn::GetAtt": ["CheckShardDeadLetterAlarm", "Arn"]}, NO_VALUE]}
    assert routed in rule["Properties"]["Pattern"]["resources"]  # when it exists: fan-out on


# --- channels ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "condition", "ids"),
    [
        (
            "SlackChat",
            "HasSlackChat",
            {"SlackWorkspaceId": "ChatSlackWorkspaceId", "SlackChannelId": "ChatSlackChannelId"},
        ),
        (
            "TeamsChat",
            "HasTeamsChat",
            {"TeamsTenantId": "ChatTeamsTenantId", "TeamId": "ChatTeamsTeamId", "TeamsChannelId": "ChatTeamsChannelId"},
        ),
    ],
)
def test_amazon_q_chat_channels_exist_only_with_their_ids_and_may_run_nothing(
    template: dict[str, Any], resources: dict[str, Any], resource: str, condition: str, ids: dict[str, str]
) -> None:
    chat = resources[resource]
    assert chat["Condition"] == condition
    required = template["Conditions"][condition]["Fn::And"]
    assert required == [{"Fn::Not": [{"Fn::Equals": [{"Ref": p}, ""]}]} for p in ids.values()]
    assert all(template["Parameters"][p]["Default"] == "" for p in ids.values())
    properties = chat["Properties"]
    assert {name: properties[name] for name in ids} == {name: {"Ref": p} for name, p in ids.items()}
    assert properties["SnsTopicArns"] == [{"Ref": "AlertTopic"}]
    assert properties["GuardrailPolicies"] == [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSDenyAll"}]
    role = resources[properties["IamRoleArn"]["Fn::GetAtt"][0]]
    assert role["Condition"] == "HasChat"
    assert "Policies" not in role["Properties"]
    assert "ManagedPolicyArns" not in role["Properties"]


def test_a_channel_retry_schedule_may_only_invoke_the_notify_function(resources: dict[str, Any]) -> None:
    trust = resources["ChannelRetryRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "scheduler.amazonaws.com"}]
    policy = resources["ChannelRetryRolePolicy"]["Properties"]
    assert policy["Roles"] == [{"Ref": "ChannelRetryRole"}]
    assert [(s["Action"], s["Resource"]) for s in policy["PolicyDocument"]["Statement"]] == [
        ("lambda:InvokeFunction", {"Fn::GetAtt": ["NotifyFunction", "Arn"]}),
        ("sqs:SendMessage", {"Fn::GetAtt": ["NotifyFailureQueue", "Arn"]}),
    ]
