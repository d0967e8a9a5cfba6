"""The local platform itself: the real template deployed into the embedded AWS, the CLI, the demo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from quotawatch_local.demo import OPENROUTER_KEY
from quotawatch_local.fakes.channels import ROUTING_KEY
from quotawatch_local.local_stack import LocalStack, deploy
from tests.browser import report_charts
from tests.integration.conftest import REPO, put_message

pytestmark = pytest.mark.integration


def test_the_template_deploys_with_what_aws_would_hold(stack: LocalStack) -> None:
    aws = stack.aws
    function = aws.client("lambda").get_function_configuration(FunctionName=stack.outputs["CheckUsageFunctionName"])
    assert function["Runtime"] == "python3.13"
    assert function["Handler"] == "app.lambda_handler"
    env = function["Environment"]["Variables"]
    assert env["TABLE_NAME"] == stack.outputs["TableName"]
    assert env["ALERT_TOPIC_ARN"] == stack.outputs["AlertTopicArn"]
    assert env["API_KEYS_SECRET_NAME"] == "quotawatch/api-keys"

    table = aws.client("dynamodb").describe_table(TableName=stack.outputs["TableName"])["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}

    secret = aws.client("secretsmanager").get_secret_value(SecretId="quotawatch/api-keys")
    assert json.loads(secret["SecretString"]) == {}

    scheduler = aws.client("scheduler")
    schedules = [scheduler.get_schedule(Name=s["Name"]) for s in scheduler.list_schedules()["Schedules"]]
    assert len(schedules) == 2  # the checks and the daily digest
    (schedule,) = [s for s in schedules if "digest" not in s["Target"]["Input"]]
    (digest,) = [s for s in schedules if "digest" in s["Target"]["Input"]]
    assert digest["ScheduleExpression"] == "cron(0 8 * * ? *)"
    assert digest["ScheduleExpressionTimezone"] == "UTC"
    assert digest["State"] == "ENABLED"
    assert schedule["ScheduleExpression"] == "rate(15 minutes)"
    assert "<aws.scheduler.scheduled-time>" in schedule["Target"]["Input"]
    assert schedule["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 3
    assert schedule["Target"]["DeadLetterConfig"]["Arn"].endswith(
        stack.outputs["ScheduleDeadLetterQueueUrl"].rsplit("/", 1)[-1]
    )


def test_the_notify_function_its_stream_its_queue_and_alarms_are_deployed(stack: LocalStack) -> None:
    aws = stack.aws
    lambda_ = aws.client("lambda")
    notify = lambda_.get_function_configuration(FunctionName=stack.outputs["NotifyFunctionName"])
    assert notify["Runtime"] == "python3.13"
    assert notify["Handler"] == "app.lambda_handler"
    assert notify["Environment"]["Variables"]["TABLE_NAME"] == stack.outputs["TableName"]
    assert notify["Environment"]["Variables"]["ALERT_TOPIC_ARN"] == stack.outputs["AlertTopicArn"]
    notify_arn = notify["FunctionArn"]
    queue_arn = aws.client("sqs").get_queue_attributes(
        QueueUrl=stack.outputs["NotifyFailureQueueUrl"], AttributeNames=["QueueArn", "Policy"]
    )["Attributes"]
    assert json.loads(queue_arn["Policy"])["Statement"][0]["Sid"] == "DenyInsecureTransport"

    # the stream and its mapping, as deployed
    table = aws.client("dynamodb").describe_table(TableName=stack.outputs["TableName"])["Table"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    (mapping,) = lambda_.list_event_source_mappings(FunctionName=stack.outputs["NotifyFunctionName"])[
        "EventSourceMappings"
    ]
    assert mapping["EventSourceArn"] == table["LatestStreamArn"]
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["DestinationConfig"] == {"OnFailure": {"Destination": queue_arn["QueueArn"]}}
    assert json.loads(mapping["FilterCriteria"]["Filters"][0]["Pattern"])["eventName"] == ["INSERT"]

    # asynchronous invokes: a failed check goes to the notify function, its failures to the queue
    check = lambda_.get_function_event_invoke_config(FunctionName=stack.outputs["CheckUsageFunctionName"])
    assert check["MaximumRetryAttempts"] == 1
    assert check["DestinationConfig"]["OnFailure"]["Destination"] == notify_arn
    own = lambda_.get_function_event_invoke_config(FunctionName=stack.outputs["NotifyFunctionName"])
    assert own["MaximumRetryAttempts"] == 2
    assert own["DestinationConfig"]["OnFailure"]["Destination"] == queue_arn["QueueArn"]

    # the three alarms (fan-out is off by default), and the rule that sends their state
    # changes to the notify function
    alarms = aws.client("cloudwatch").describe_alarms()["MetricAlarms"]
    by_name = {a["AlarmName"]: a for a in alarms}
    names = [stack.resources[a] for a in ("HeartbeatAlarm", "ScheduleDeadLetterAlarm", "NotifyFailureAlarm")]
    assert sorted(by_name) == sorted(names)
    assert "CheckShardQueueUrl" not in stack.outputs  # nothing of fan-out, so nothing polls an idle queue
    heartbeat = by_name[stack.resources["HeartbeatAlarm"]]
    assert heartbeat["Period"] == 1800
    assert heartbeat["Dimensions"] == [{"Name": "FunctionName", "Value": stack.outputs["CheckUsageFunctionName"]}]
    assert heartbeat["TreatMissingData"] == "breaching"
    events = aws.client("events")
    (rule,) = events.list_rules()["Rules"]
    assert sorted(json.loads(rule["EventPattern"])["resources"]) == sorted(a["AlarmArn"] for a in alarms)
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["Arn"] == notify_arn
    policy = json.loads(lambda_.get_policy(FunctionName=stack.outputs["NotifyFunctionName"])["Policy"])
    assert [s["Principal"] for s in policy["Statement"]] == [{"Service": "events.amazonaws.com"}]


def test_with_fan_out_on_the_shard_queue_its_mapping_dead_letter_queue_and_alarm_are_deployed(
    fanout_stack: LocalStack,
) -> None:
    stack = fanout_stack
    aws = stack.aws
    sqs = aws.client("sqs")
    queue = sqs.get_queue_attributes(QueueUrl=stack.outputs["CheckShardQueueUrl"], AttributeNames=["All"])
    dead = sqs.get_queue_attributes(QueueUrl=stack.outputs["CheckShardDeadLetterQueueUrl"], AttributeNames=["All"])
    attributes, dead_attributes = queue["Attributes"], dead["Attributes"]
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": dead_attributes["QueueArn"],
        "maxReceiveCount": 3,
    }
    assert attributes["VisibilityTimeout"] == "720"
    assert attributes["SqsManagedSseEnabled"] == dead_attributes["SqsManagedSseEnabled"] == "true"
    lambda_ = aws.client("lambda")
    worker = lambda_.get_function_configuration(FunctionName=stack.outputs["CheckShardFunctionName"])
    assert worker["Handler"] == "app.shard_handler"
    assert worker["Environment"]["Variables"]["SHARD_QUEUE_URL"] == stack.outputs["CheckShardQueueUrl"]
    (mapping,) = lambda_.list_event_source_mappings(FunctionName=stack.outputs["CheckShardFunctionName"])[
        "EventSourceMappings"
    ]
    assert mapping["EventSourceArn"] == attributes["QueueArn"]
    assert mapping["BatchSize"] == 1
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 5}
    alarms = {a["AlarmName"]: a for a in aws.client("cloudwatch").describe_alarms()["MetricAlarms"]}
    dead_letters = alarms[stack.resources["CheckShardDeadLetterAlarm"]]
    (rule,) = aws.client("events").list_rules()["Rules"]
    assert dead_letters["AlarmArn"] in json.loads(rule["EventPattern"])["resources"]  # routed to the notify function
    # moto would receive and invoke the worker itself on every send; the message waits for the poller
    sqs.send_message(QueueUrl=stack.outputs["CheckShardQueueUrl"], MessageBody="{}")
    assert len(sqs.receive_message(QueueUrl=stack.outputs["CheckShardQueueUrl"]).get("Messages", [])) == 1


def test_moto_leaves_the_stream_to_the_local_lambda_service(stack: LocalStack) -> None:
    """moto would invoke the mapped function itself (through Docker) and drop the records."""
    put_message(stack, "cloudlayer-prod", "waits in the stream")
    streams = stack.aws.client("dynamodbstreams")
    arn = stack.aws.client("dynamodb").describe_table(TableName=stack.outputs["TableName"])["Table"]["LatestStreamArn"]
    (shard,) = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
    (record,) = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert record["eventName"] == "INSERT"


def test_subscriptions_follow_the_parameters(stack: LocalStack) -> None:
    aws = stack.aws
    topic = stack.outputs["AlertTopicArn"]
    assert aws.client("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []

    aws.reset()
    with_both = deploy(
        aws,
        REPO / "template.yaml",
        stack_name="quotawatch-subscribed",
        parameters={"AlertEmails": "ops@example.com,cto@example.org", "AlertPhones": "+15555550100"},
    )
    sns = aws.client("sns")
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=with_both.outputs["AlertTopicArn"])["Subscriptions"]
    assert sorted((s["Protocol"], s["Endpoint"]) for s in subscriptions) == [
        ("email", "cto@example.org"),
        ("email", "ops@example.com"),
        ("sms", "+15555550100"),
    ]
    (sms_arn,) = (s["SubscriptionArn"] for s in subscriptions if s["Protocol"] == "sms")
    sms = sns.get_subscription_attributes(SubscriptionArn=sms_arn)["Attributes"]
    assert json.loads(sms["FilterPolicy"]) == {"severity": ["critical"]}
    assert sms["FilterPolicyScope"] == "MessageAttributes"
    assert "Warning" not in with_both.outputs
    assert stack.outputs["Warning"].startswith("No one will be told")


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "layers/quotawatch"), str(REPO / "local")])
    return subprocess.run(
        [sys.executable, "-m", "quotawatch_local", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_local_invoke_cli_runs_a_function_with_an_event_file() -> None:
    done = _cli("invoke", "CheckUsageFunction", "-e", "events/scheduled.json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    # A fresh stack's secret is empty: each monitor waits for its key (not a failure) and
    # says which field of which secret to fill.
    assert (result["status"], result["failed"]) == ("ok", 0)
    fields = {
        "cloudlayer-prod": "cloudlayer-prod",
        "tornado-downloads": "tornado",
        "converra-prod": "converra",
        "imagerouter": "imagerouter",
    }
    assert [m["monitor"] for m in result["monitors"]] == list(fields)
    for outcome in result["monitors"]:
        assert outcome["status"] == "waiting"
        assert outcome["error"] == {
            "kind": "no_key",
            "message": f"{outcome['monitor']}: waiting for its key: secret 'quotawatch/api-keys' has no field "
            f"'{fields[outcome['monitor']]}' yet",
        }
    assert '"level":"INFO"' in done.stderr  # the function's structured log, as Lambda prints it
    assert '"level":"ERROR"' not in done.stderr


def test_local_invoke_cli_runs_the_notify_function_with_each_of_its_events() -> None:
    done = _cli("invoke", "NotifyFunction", "-e", "events/notify-stream.json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"batchItemFailures": []}
    done = _cli("invoke", "NotifyFunction", "-e", "events/alarm-state-change.json", "--async")
    assert done.returncode == 0, done.stderr
    assert "attempt 1: ok" in done.stderr


def test_the_demo_tells_each_moment_exactly_once() -> None:
    # Its own process (moto keeps one account per process); a safety net, not a speed limit:
    # on a loaded machine the demo's five monitors and twelve ticks take two minutes or more.
    done = _cli("demo", timeout=600)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert (
        "Moments: test alert x1, warning x1, forecast warning x1, critical x1, key revoked x1, key restored x1, "
        "recovery x1, still critical after a silence x1, reminder x1, period reset x1, QuotaWatch itself x1, "
        "daily digest x1, leaked key burning x1, burn over x1, SNS was down for a run x1, held by a silence x1" in text
    )
    assert "12 checks of 5 monitors, 15 messages, 6 of them by SMS. Everything was torn down." in text
    subjects = [line.split("EMAIL ", 1)[1] for line in text.splitlines() if "EMAIL " in line]
    assert subjects == [
        "[TEST] QuotaWatch test alert: your subscriptions work",
        "[CRITICAL] QuotaWatch itself: a check run failed after 2 attempts (ConfigError)",
        "[OK] QuotaWatch itself: check runs work again",
        "[WARNING] cloudlayer-prod: calls at 82% of limit",
        "[WARNING] imagerouter: credit runs out around Nov 25 at the current rate",
        "[CRITICAL] cloudlayer-prod: calls at 96% of limit   (late: SNS refused it last run)",
        "[CRITICAL] Cannot monitor tornado-downloads: the key was rejected",
        "[OK] imagerouter: credit no longer on track to run out",
        "[WARNING] openrouter-agents: key_credit burning 20x faster than usual",
        "[OK] tornado-downloads: checks work again",
        "[OK] openrouter-agents: key_credit burning at its usual pace again",
        "[CRITICAL] Reminder: cloudlayer-prod: calls at 98% of limit",
        "[DIGEST] QuotaWatch Sun Nov 22: 2 need attention, cloudlayer-prod calls critical (98%)",
        "[OK] cloudlayer-prod: calls reset with the new billing period (4%)",
        "[CRITICAL] converra-prod: conversations at 95% of limit (still, silence ended Nov 22 15:00 UTC)",
    ]
    # The silence: set with `quotawatch mute`, holding converra-prod's critical alert (stored, not sent).
    assert "you run: quotawatch mute converra-prod --for 1d" in text
    [held] = [line.strip() for line in text.splitlines() if line.lstrip().startswith("HELD ")]
    assert held.startswith("HELD  [CRITICAL] converra-prod: conversations at 93% of limit, resets Dec 1   (silence s-")
    sms = [line.split(") ", 1)[1] for line in text.splitlines() if line.lstrip().startswith("SMS ")]
    assert all(len(message) <= 160 for message in sms)
    assert len(sms) == 6
    assert "1 message(s) wait in the table: SNS refused them; their retry is scheduled" in text
    # The daily digest: its event twice, one message, whose first line says what needs attention.
    assert "digest_queued, then digest_duplicate" in text
    assert (
        "| 2 need attention: cloudlayer-prod calls critical (98%); tornado-downloads: 2 failed checks in the last day"
        in text
    )
    # It lists the silence in force, and the critical signal it holds, marked, out of the first line.
    assert "|   converra-prod until Nov 22 15:00 UTC, by " in text
    assert "CRITICAL converra-prod conversations (94%) since Nov 21 18:00 UTC, silenced until Nov 22 15:00 UTC" in text
    # The leaked key: seeded days give its burn a baseline; 20x for two ticks, one alert, one clear.
    assert "Seeded 8 days of readings of openrouter-agents ($6.00 a day)" in text
    assert "| openrouter-agents (OpenRouter) is WARNING: key_credit burning 20x faster than usual." in text
    assert "| key_credit: $5.00/h (last 12 h), 20x the usual $0.25/h." in text
    assert "|   none" in text.split("| Burning faster than usual:", 1)[1]  # the digest comes after the clear
    for key in (
        "demo-cloudlayer-key",
        "sk_demo_tornado_1",
        "sk_demo_tornado_2",
        "demo-imagerouter-key",
        OPENROUTER_KEY,
    ):
        assert key not in text
    # The channels beside the topic: Slack has every message (once, its 429 served by the
    # retry), PagerDuty the critical ones, each incident triggered and resolved by one dedup_key.
    slack = [line.split("SLACK ", 1)[1] for line in text.splitlines() if line.lstrip().startswith("SLACK ")]
    delivered = sorted(line.removesuffix("  -> 200") for line in slack if line.endswith("-> 200"))
    assert delivered == sorted(subject.removesuffix("   (late: SNS refused it last run)") for subject in subjects)
    [refused] = [line for line in slack if not line.endswith("-> 200")]
    assert refused.startswith("[WARNING] ")
    assert refused.endswith("  -> 429")
    assert "2 channel retry(s) fire" in text
    paged = [line.split("PAGERDUTY ", 1)[1] for line in text.splitlines() if "PAGERDUTY " in line]
    assert [line.split("  ")[0] for line in paged if "cloudlayer-prod" in line] == [
        "trigger dedup_key=quotawatch/cloudlayer-prod/meter:calls",  # critical
        "trigger dedup_key=quotawatch/cloudlayer-prod/meter:calls",  # its reminder: the same incident
        "resolve dedup_key=quotawatch/cloudlayer-prod/meter:calls",  # the new billing period
    ]
    assert all(line.endswith("-> 202") for line in paged)
    assert not any("WARNING" in line or "DIGEST" in line for line in paged)  # PagerDuty: critical only
    assert ROUTING_KEY not in text
    # `quotawatch status` at its busiest moment, and at the end the report: a chart per meter.
    status = text.split("`quotawatch status` after run 6:", 1)[1].split("\n[~]", 1)[0].strip().splitlines()
    rows = status[3 : status.index("", 3)]  # under the title and the header
    assert rows[0].split()[:8] == ["cloudlayer-prod", "calls", "965", "calls", "1,000", "calls", "96%", "critical"]
    assert [line.split()[0] for line in rows[1:3]] == ["tornado-downloads"] * 2
    assert all(line.endswith("failed [1]") for line in rows[1:3])
    [burning] = [line for line in rows if line.startswith("openrouter-agents")]
    assert burning.split()[1:9] == ["key_credit", "$234.00", "no", "limit", "-", "warning", "(burn)", "Nov"]
    assert " 20x " in burning
    assert status[-1].startswith("  tornado-downloads: auth: ")
    report = Path(text.split("(`quotawatch report`): ", 1)[1].splitlines()[0])
    charts = report_charts(report)
    assert {(c["monitor"], c["meter"]) for c in charts if c["width"] and c["shown"]} == DEMO_METERS
    forecast = next(dict(c["legend"]) for c in charts if (c["monitor"], c["meter"]) == ("cloudlayer-prod", "calls"))
    assert forecast["legend-forecast"] == "forecast: reaches the limit Dec 4"
    leaked = next(dict(c["legend"]) for c in charts if c["monitor"] == "openrouter-agents")
    assert leaked["legend-burn"] == "burning faster than usual 1 time"  # shaded, its alert marked


DEMO_METERS = {
    ("cloudlayer-prod", meter) for meter in ("calls", "output_bytes", "compute_time", "storage", "failed_jobs")
} | {
    ("tornado-downloads", "storage"),
    ("tornado-downloads", "jobs"),
    ("converra-prod", "prompts"),
    ("converra-prod", "optimizations"),
    ("converra-prod", "conversations"),
    ("converra-prod", "tokens"),
    ("imagerouter", "credit"),
    ("imagerouter", "key:Production Key"),
    ("openrouter-agents", "key_credit"),
}
