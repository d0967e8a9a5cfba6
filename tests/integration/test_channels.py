"""Channels beside the topic, on the local stack: the real notify function behind the
table's stream, its secrets in the local Secrets Manager, its retries as one-time
schedules, and fake receivers for every channel type over HTTPS on loopback.

One suite over the channel types: each receives exactly its documented payload, once,
even when it fails first (a 429 with a long Retry-After, then a 500) and recovers through
its retry, while another channel and the topic are not held up; PagerDuty's trigger and
resolve share one dedup_key; the webhook's signature verifies. Then: a channel that keeps
failing raises one "channel failing" alert on the topic and the other channel (not on
itself), cleared once when it works; a message a silence holds goes to no channel."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from quotawatch.adapters.store import DynamoStore
from quotawatch.core.channels import (
    Channel,
    discord_payload,
    pagerduty_event,
    q_notification,
    slack_payload,
    teams_payload,
    webhook_document,
)
from quotawatch.core.messages import Message
from quotawatch_local.fakes import Reply, tls
from quotawatch_local.fakes.channels import CHATBOT, ROUTING_KEY, SIGNING_KEY, TYPES, FakeReceivers
from quotawatch_local.inbox import Inbox
from quotawatch_local.lambda_service import LocalLambda
from quotawatch_local.local_stack import LocalStack, deploy
from tests.integration.conftest import REPO, Platform, put_keys

pytestmark = pytest.mark.integration

ALERT = Message(
    subject="[CRITICAL] acme: calls at 97%, resets Dec 1",
    email="acme is CRITICAL: calls at 97% of the plan.\n\n  calls  970 of 1,000\n\n-- QuotaWatch",
    sms="QuotaWatch CRITICAL: acme calls at 97%",
    severity="critical",
    monitor="acme",
    provider="cloudlayer",
    kind="alert",
)
RECOVERY = Message(
    subject="[OK] acme: calls back to 40%",
    email="acme is OK again: calls at 40%.\n\n-- QuotaWatch",
    sms="QuotaWatch OK: acme calls at 40%",
    severity="info",
    monitor="acme",
    provider="cloudlayer",
    kind="recovery",
)
SIGNAL = "meter:calls"


@pytest.fixture
def receivers() -> Iterator[FakeReceivers]:
    with FakeReceivers() as fake:
        yield fake


@pytest.fixture
def service(stack: LocalStack) -> Iterator[LocalLambda]:
    with LocalLambda(stack) as lambdas:
        yield lambdas


def declare(stack: LocalStack, receivers: FakeReceivers, *channels: Channel) -> None:
    """The channels as the check function stores them, and their secrets."""
    keys = {f"{kind}-url": receivers.url_for(kind) for kind in TYPES}
    keys["pagerduty-key"] = ROUTING_KEY
    keys["webhook-signing"] = SIGNING_KEY
    put_keys(stack, keys)
    store(stack).put_channels(channels)


def store(stack: LocalStack) -> DynamoStore:
    return DynamoStore(stack.aws.client("dynamodb"), stack.outputs["TableName"])


def channel(kind: str, name: str | None = None, **fields: Any) -> Channel:
    return Channel(
        name=name or f"team-{kind}",
        type=kind,
        secret_field="pagerduty-key" if kind == "pagerduty" else f"{kind}-url",
        min_severity="warning",
        signing_secret_field="webhook-signing" if kind == "webhook" else None,
        **fields,
    )


def put(stack: LocalStack, message: Message, version: int, held_by: str | None = None) -> str:
    key = f"MSG#2026-11-24T0{version}:00:00Z#v{version}#{SIGNAL}"
    item = {
        "pk": {"S": f"MON#{message.monitor}"},
        "sk": {"S": key},
        "signal": {"S": SIGNAL},
        "message": {"S": json.dumps(message.to_dict())},
    }
    if held_by:
        item["held_by"] = {"S": held_by}
    stack.aws.client("dynamodb").put_item(TableName=stack.outputs["TableName"], Item=item)
    return key


def expected(kind: str, message: Message, key: str) -> Any:
    if kind == "slack":
        return slack_payload(message)
    if kind == "teams":
        return teams_payload(message)
    if kind == "discord":
        return discord_payload(message)
    if kind == "pagerduty":
        return pagerduty_event(message, message.monitor, SIGNAL, ROUTING_KEY)
    return webhook_document(message, SIGNAL, key)


@pytest.mark.parametrize("kind", TYPES)
def test_each_channel_gets_its_payload_once_through_a_failure_and_its_retry(
    kind: str, stack: LocalStack, service: LocalLambda, receivers: FakeReceivers, inbox: Inbox
) -> None:
    under_test = channel(kind, url=f"{receivers.url}/pagerduty/v2/enqueue" if kind == "pagerduty" else None)
    other = channel("discord" if kind != "discord" else "slack", name="other")
    declare(stack, receivers, under_test, other)
    receivers.fail_next(kind, Reply(429, {"error": "slow down"}, {"Retry-After": "120"}), Reply(503, b"busy"))

    alert_key = put(stack, ALERT, 1)
    service.pump()

    # The topic and the other channel have it; this one refused it, and its retry waits.
    assert [d.subject for d in inbox.take()] == [ALERT.subject]
    assert len(receivers.accepted(other.type)) == 1
    assert receivers.accepted(kind) == []
    assert [r.status for r in receivers.received if r.type == kind] == [429]
    item = store(stack).message_item("acme", alert_key) or {}
    assert item[f"failed#{under_test.name}"].endswith('answered 429: {"error": "slow down"}')
    assert f"sent#{other.name}" in item
    assert f"sent#{under_test.name}" not in item

    # The retry (a one-time schedule, at least Retry-After later): a 503, then within the
    # same attempt it goes through. Running the schedules again, or the stream record
    # coming back, sends nothing more anywhere.
    fired = service.run_schedules()
    assert [o.attempts[-1].result["status"] for o in fired] == ["sent"]
    assert service.run_schedules() == []
    service.invoke(
        "NotifyFunction",
        {"channel_retry": {"monitor": "acme", "key": alert_key, "channel": under_test.name, "attempt": 2}},
    )
    assert [r.status for r in receivers.received if r.type == kind][:2] == [429, 503]
    assert receivers.accepted(kind) == [expected(kind, ALERT, alert_key)]
    assert len(receivers.accepted(other.type)) == 1
    assert inbox.take() == []

    # The recovery: PagerDuty resolves the incident the alert opened.
    recovery_key = put(stack, RECOVERY, 2)
    service.pump()
    accepted = receivers.accepted(kind)
    assert accepted == [expected(kind, ALERT, alert_key), expected(kind, RECOVERY, recovery_key)]
    if kind == "pagerduty":
        assert [e["event_action"] for e in accepted] == ["trigger", "resolve"]
        assert accepted[0]["dedup_key"] == accepted[1]["dedup_key"] == "quotawatch/acme/meter:calls"
    if kind == "webhook":
        sent = [r for r in receivers.received if r.type == "webhook" and r.status == 204]
        assert all(r.headers["x-quotawatch-signature"].startswith("sha256=") for r in sent)
        assert all(r.headers["x-quotawatch-timestamp"].isdigit() for r in sent)


def test_a_failing_channel_raises_one_alert_elsewhere_and_clears_once(
    stack: LocalStack, service: LocalLambda, receivers: FakeReceivers, inbox: Inbox
) -> None:
    declare(stack, receivers, channel("slack"), channel("discord"))
    receivers.fail_next("slack", *[Reply(500, b"oops")] * 6)  # both attempts at each of three messages

    for n in (1, 2, 3):  # three messages in a row that Slack refuses, each tried (one invocation each)
        put(stack, Message(**{**ALERT.to_dict(), "monitor": f"acme-{n}"}), n)
        service.pump()
    service.pump()  # the "channel failing" alert they raised

    subjects = [d.subject for d in inbox.take()]
    assert subjects.count("[CRITICAL] QuotaWatch itself: channel team-slack failing") == 1
    assert [e["embeds"][0]["title"] for e in receivers.accepted("discord")].count(
        "[CRITICAL] QuotaWatch itself: channel team-slack failing"
    ) == 1
    assert receivers.accepted("slack") == []
    assert len([r for r in receivers.received if r.type == "slack"]) == 6

    service.run_schedules()  # the three retries: Slack works again
    service.pump()

    assert [p["text"] for p in receivers.accepted("slack")] == [ALERT.subject] * 3
    assert [d.subject for d in inbox.take()] == ["[OK] QuotaWatch itself: channel team-slack works again"]
    assert service.run_schedules() == []


def test_what_goes_nowhere_a_held_message_and_the_recovery_of_an_incident_never_opened(
    stack: LocalStack, service: LocalLambda, receivers: FakeReceivers, inbox: Inbox
) -> None:
    declare(stack, receivers, *(channel(kind) for kind in TYPES))
    key = put(stack, ALERT, 1, held_by="sil-1")

    service.pump()
    retried = service.invoke(
        "NotifyFunction", {"channel_retry": {"monitor": "acme", "key": key, "channel": "team-slack", "attempt": 2}}
    )

    assert retried.result["status"] == "not routed"
    assert receivers.received == []
    assert inbox.take() == []

    # PagerDuty at its default (critical): a warning is not paged, so its recovery resolves nothing.
    pager = Channel("pager", "pagerduty", "pagerduty-key", "critical", url=receivers.url_for("pagerduty"))
    declare(stack, receivers, pager)
    warning = Message(**{**ALERT.to_dict(), "subject": "[WARNING] acme: calls at 82%", "severity": "warning"})
    put(stack, warning, 2)
    recovery_key = put(stack, RECOVERY, 3)
    service.close()  # a new container: it reads the channels afresh
    service.pump()

    assert receivers.received == []
    assert len(inbox.take()) == 2
    assert (store(stack).message_item("acme", recovery_key) or {})["sent#pager"].endswith(" no incident open")


def test_the_check_function_stores_the_channels_of_monitors_yaml_for_the_notify_function(
    stack: LocalStack, receivers: FakeReceivers, inbox: Inbox, tmp_path: Path
) -> None:
    declare(stack, receivers)  # the secrets only
    monitors = tmp_path / "monitors.yaml"
    monitors.write_text(
        yaml.safe_dump(
            {
                "monitors": [{"id": "acme", "provider": "cloudlayer", "secret_field": "acme"}],
                "channels": [
                    {"name": "team-slack", "type": "slack", "secret_field": "slack-url"},
                    {"name": "pager", "type": "pagerduty", "secret_field": "pagerduty-key"},
                    {"name": "broken", "type": "slack"},
                ],
            }
        )
    )
    with Platform(stack, monitors) as platform:
        platform.lambdas.invoke("CheckUsageFunction", {"test_alert": True})  # what events/test-alert.json does
        platform.deliver()

    assert [c.name for c in store(stack).channels()] == ["team-slack", "pager"]  # the broken one is left out
    [test_alert] = inbox.take()
    assert [p["text"] for p in receivers.accepted("slack")] == [test_alert.subject]
    assert receivers.accepted("pagerduty") == []  # a test opens no incident


def test_the_topic_refusing_holds_up_no_channel_and_its_retry_resends_to_no_other(
    stack: LocalStack, service: LocalLambda, receivers: FakeReceivers
) -> None:
    declare(stack, receivers, channel("slack"), channel("pagerduty", url=f"{receivers.url}/pagerduty/v2/enqueue"))
    sns = stack.aws.client("sns")
    topic = stack.outputs["AlertTopicArn"]
    sns.delete_topic(TopicArn=topic)  # SNS refuses: the topic is gone

    put(stack, ALERT, 1)
    refused = service.pump()
    assert [c.result["batchItemFailures"] for c in refused] == [[]]  # handled: the topic's retry is scheduled ...
    assert len(receivers.accepted("slack")) == len(receivers.accepted("pagerduty")) == 1  # ... the channels have it

    sns.create_topic(Name=topic.rsplit(":", 1)[1])  # SNS is back
    inbox = Inbox(stack.aws, topic, "after-repair")
    [retried] = service.run_schedules()
    assert retried.attempts[-1].result["status"] == "sent"

    assert [d.subject for d in inbox.take()] == [ALERT.subject]
    assert len(receivers.accepted("slack")) == len(receivers.accepted("pagerduty")) == 1


def test_the_amazon_q_chat_channels_deploy_only_with_their_ids(aws: Any) -> None:
    """Locally they are listed as not emulated (nothing here posts to Slack or Teams)."""
    aws.reset()
    chat = {
        "ChatSlackWorkspaceId": "T0123ABCD",
        "ChatSlackChannelId": "C0123ABCD",
        "ChatTeamsTenantId": "00000000-0000-0000-0000-000000000001",
        "ChatTeamsTeamId": "00000000-0000-0000-0000-000000000002",
        "ChatTeamsChannelId": "19:abc@thread.tacv2",
    }
    with_chat = deploy(aws, REPO / "template.yaml", stack_name="quotawatch-chat", parameters=chat)
    assert with_chat.not_emulated == [
        "SlackChat (AWS::Chatbot::SlackChannelConfiguration)",
        "TeamsChat (AWS::Chatbot::MicrosoftTeamsChannelConfiguration)",
    ]
    assert "ChatRole" in with_chat.resources


def test_amazon_q_as_a_subscriber_of_the_topic_gets_the_custom_notification(
    stack: LocalStack, service: LocalLambda, receivers: FakeReceivers, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the topic publishes: Amazon Q (an HTTPS subscriber, as the chat channel
    configuration subscribes it) gets the custom notification; email and SQS the text."""
    assert "ChatRole" not in stack.resources  # no chat ids (the default): no Amazon Q configuration
    assert stack.not_emulated == []
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls.ca_bundle())  # the embedded SNS posts to the fake over https
    stack.aws.client("sns").subscribe(
        TopicArn=stack.outputs["AlertTopicArn"], Protocol="https", Endpoint=receivers.url_for(CHATBOT)
    )

    put(stack, ALERT, 1)
    service.pump()

    [notification] = [r for r in receivers.received if r.type == CHATBOT and r.body.get("Type") == "Notification"]
    assert notification.status == 200
    assert json.loads(notification.body["Message"]) == q_notification(ALERT)
    assert [d.body for d in inbox.take()] == [ALERT.email]
