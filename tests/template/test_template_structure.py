"""What the template promises the code and the user: names, wiring, security properties."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

SECRET_ARN = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${ApiKeysSecretName}-??????"
# The one place a "*" resource remains: the AWS-managed policy SAM attaches to every
# function role it generates (logs:CreateLogGroup/CreateLogStream/PutLogEvents on "*").
BASIC_EXECUTION_ROLE = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
# fmt: off
CLOUDWATCH_RETENTION_DAYS = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545,
    731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
]
# fmt: on


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


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
    assert params["AlertEmail"]["Default"] == ""
    assert params["AlertPhone"]["Default"] == ""
    assert params["ApiKeysSecretName"]["Default"] == "quotawatch/api-keys"
    assert params["LogRetentionDays"]["Type"] == "Number"
    assert params["LogRetentionDays"]["Default"] == 30
    assert params["LogRetentionDays"]["AllowedValues"] == CLOUDWATCH_RETENTION_DAYS
    assert template["Conditions"]["HasAlertEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlertEmail"}, ""]}]}
    assert template["Conditions"]["HasAlertPhone"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlertPhone"}, ""]}]}


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
    assert layer["Metadata"] == {"BuildMethod": "python3.13", "BuildArchitecture": "arm64"}


def test_function_environment_is_exactly_what_the_code_reads(function: dict[str, Any]) -> None:
    assert function["Environment"]["Variables"] == {
        "TABLE_NAME": {"Ref": "QuotaWatchTable"},
        "ALERT_TOPIC_ARN": {"Ref": "AlertTopic"},
        "API_KEYS_SECRET_NAME": {"Ref": "ApiKeysSecretName"},
        "MONITORS_FILE": "monitors.yaml",
        "CHECK_CONCURRENCY": 64,
        "SNAPSHOT_RETENTION_DAYS": {"Ref": "SnapshotRetentionDays"},
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


def test_failed_async_invocations_retry_once_then_go_to_the_dead_letter_queue(
    function: dict[str, Any],
) -> None:
    assert function["EventInvokeConfig"]["MaximumRetryAttempts"] == 1
    assert function["DeadLetterQueue"] == {
        "Type": "SQS",
        "TargetArn": {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]},
    }


def test_schedule(function: dict[str, Any]) -> None:
    (event,) = function["Events"].values()
    assert event["Type"] == "ScheduleV2"
    props = event["Properties"]
    assert props["ScheduleExpression"] == {"Ref": "ScheduleExpression"}
    assert props["RetryPolicy"] == {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 900}
    assert props["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}}
    assert json.loads(props["Input"]) == {
        "source": "schedule",
        "scheduled_time": "<aws.scheduler.scheduled-time>",
    }


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
    assert senders == {"CheckUsageFunctionRole", "CheckUsageFunctionScheduleRole"}


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


def test_topic_is_encrypted(resources: dict[str, Any]) -> None:
    topic = resources["AlertTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == "alias/aws/sns"
    assert topic["DisplayName"] == "QuotaWatch"


def test_email_gets_every_alert(resources: dict[str, Any]) -> None:
    email = resources["AlertEmailSubscription"]
    assert email["Condition"] == "HasAlertEmail"
    assert email["Properties"]["Protocol"] == "email"
    assert email["Properties"]["Endpoint"] == {"Ref": "AlertEmail"}
    assert "FilterPolicy" not in email["Properties"]


def test_sms_gets_only_critical_alerts(resources: dict[str, Any]) -> None:
    sms = resources["AlertSmsSubscription"]
    assert sms["Condition"] == "HasAlertPhone"
    props = sms["Properties"]
    assert props["Protocol"] == "sms"
    assert props["Endpoint"] == {"Ref": "AlertPhone"}
    assert props["FilterPolicyScope"] == "MessageAttributes"
    policy = props["FilterPolicy"]
    assert (json.loads(policy) if isinstance(policy, str) else policy) == {"severity": ["critical"]}


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
        for statement in _as_list(policy["PolicyDocument"]["Statement"])
    ]


def test_secrets_manager_access_is_only_get_secret_value_on_the_keys_secret(
    transformed: dict[str, Any],
) -> None:
    secret_statements = [
        statement
        for _, statement in _role_statements(transformed)
        if any(action.startswith("secretsmanager:") for action in _as_list(statement["Action"]))
    ]
    assert secret_statements == [
        {
            "Sid": "ReadApiKeys",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": {"Fn::Sub": SECRET_ARN},
        }
    ]


def test_dynamodb_access_is_item_level_on_the_table_only(transformed: dict[str, Any]) -> None:
    actions = {
        action
        for _, statement in _role_statements(transformed)
        for action in _as_list(statement["Action"])
        if action.startswith("dynamodb:")
    }
    assert actions == {f"dynamodb:{a}" for a in ("PutItem", "UpdateItem", "BatchGetItem", "BatchWriteItem", "Query")}


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
    }


def test_schedule_role_may_only_invoke_the_function_and_use_the_queue(
    transformed: dict[str, Any],
) -> None:
    actions = {
        action
        for role, statement in _role_statements(transformed)
        if role == "CheckUsageFunctionScheduleRole"
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
    }


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
