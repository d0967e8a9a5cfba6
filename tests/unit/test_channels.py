"""Channels beside the topic, the pure part: `channels:` in monitors.yaml, which channel
takes which message, and each channel type's payload (the integration suite checks that
the fake receivers get exactly these)."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import time
from pathlib import Path
from typing import Any, cast

import pytest

from quotawatch.cli import check_config
from quotawatch.config import parse_monitors
from quotawatch.core.channels import (
    MESSAGE_ID_HEADER,
    TOPIC,
    Channel,
    discord_payload,
    encode,
    pagerduty_event,
    q_notification,
    routes,
    signature,
    slack_payload,
    teams_payload,
    webhook_document,
)
from quotawatch.core.messages import Message
from quotawatch.core.record import QueuedMessage
from quotawatch.delivery.senders import FORMATS
from quotawatch.delivery.senders.http import HttpSender
from quotawatch.delivery.senders.topic import TopicSender
from quotawatch.delivery.senders.webhook import Webhook
from quotawatch.ports import ChannelFailed
from tests.unit.support import KeysOf

ALERT = Message(
    subject="[CRITICAL] imagerouter: credits at 96%, resets 2026-12-01",
    email="imagerouter is CRITICAL: credits at 96% <of 100>.\n\n  credits  96 of 100\n\n-- QuotaWatch",
    sms="QuotaWatch CRITICAL: imagerouter credits at 96%",
    severity="critical",
    monitor="imagerouter",
    provider="imagerouter",
    kind="alert",
)
RECOVERY = Message(
    "[OK] imagerouter: credits fine", "fine\n\n-- QuotaWatch", "ok", "info", "imagerouter", "x", "recovery"
)
DIGEST = Message("QuotaWatch daily: all fine", "all fine\n\n-- QuotaWatch", "ok", "info", "QuotaWatch", "x", "digest")
MONITOR = {"id": "imagerouter", "provider": "imagerouter", "secret_field": "imagerouter"}


def channel(**fields: Any) -> Channel:
    return Channel(**{"name": "team", "type": "slack", "secret_field": "slack-url", **fields})


def test_slack_blocks_carry_the_subject_and_the_body_escaped_without_links() -> None:
    assert slack_payload(ALERT) == {
        "text": "[CRITICAL] imagerouter: credits at 96%, resets 2026-12-01",
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": "[CRITICAL] imagerouter: credits at 96%, resets 2026-12-01"},
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "```imagerouter is CRITICAL: credits at 96% &lt;of 100&gt;.\n\n  credits  96 of 100```",
                },
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "QuotaWatch | critical | imagerouter"}]},
        ],
    }


def test_teams_gets_an_adaptive_card_and_discord_an_embed() -> None:
    card = teams_payload(ALERT)["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert [block["text"] for block in card["content"]["body"]] == [ALERT.subject, ALERT.email[:-15]]
    assert card["content"]["body"][0]["color"] == "Attention"
    embed = discord_payload(ALERT)
    assert embed["allowed_mentions"] == {"parse": []}
    assert embed["embeds"][0]["title"] == ALERT.subject
    assert embed["embeds"][0]["color"] == 0xD62728


def test_pagerduty_triggers_and_resolves_one_incident_per_monitor_and_signal() -> None:
    trigger = pagerduty_event(ALERT, "imagerouter", "meter:credits", "R0UT1NG")
    resolve = pagerduty_event(RECOVERY, "imagerouter", "meter:credits", "R0UT1NG")

    assert trigger["event_action"] == "trigger"
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["source"] == "imagerouter"
    assert resolve == {"routing_key": "R0UT1NG", "event_action": "resolve", "dedup_key": trigger["dedup_key"]}
    assert trigger["dedup_key"] == "quotawatch/imagerouter/meter:credits"


def test_the_webhook_signature_is_what_a_ten_line_receiver_computes() -> None:
    body = json.dumps(webhook_document(ALERT, "meter:credits", "MSG#1")).encode()
    expected = hmac.new(b"shh", b"1700000000." + body, hashlib.sha256).hexdigest()

    assert signature("shh", 1700000000, body) == f"sha256={expected}"
    assert signature("shh", 1700000001, body) != f"sha256={expected}"  # a replayed body with a new time fails


def test_amazon_q_custom_notification() -> None:
    note = q_notification(ALERT)
    assert (note["version"], note["source"], note["content"]["textType"]) == ("1.0", "custom", "client-markdown")
    assert note["content"]["title"] == ALERT.subject


@pytest.mark.parametrize(
    ("fields", "message", "signal", "taken"),
    [
        ({}, ALERT, "meter:credits", True),
        ({"min_severity": "critical"}, ALERT, "meter:credits", True),
        ({"min_severity": "warning"}, DIGEST, "digest", False),  # the digest is info
        ({"min_severity": "info"}, DIGEST, "digest", True),
        ({"min_severity": "critical"}, RECOVERY, "meter:credits", True),  # a recovery closes what was said
        ({"monitors": ("cloudlayer*",)}, ALERT, "meter:credits", False),
        ({"monitors": ("image*",), "signals": ("forecast:*",)}, ALERT, "meter:credits", False),
        ({"type": "pagerduty"}, DIGEST, "digest", False),  # PagerDuty opens incidents, not digests
    ],
)
def test_routing(fields: dict[str, Any], message: Message, signal: str, taken: bool) -> None:
    assert routes(channel(**fields), message, signal) is taken


def test_a_channel_is_not_told_of_its_own_failure_but_the_others_are() -> None:
    failing = Message(
        "[CRITICAL] QuotaWatch itself: channel team failing", "x", "x", "critical", "QuotaWatch", "q", "alert"
    )
    assert not routes(channel(), failing, "self:channel:team")
    assert routes(channel(name="pager", monitors=("imagerouter",)), failing, "self:channel:team")


def test_channels_in_monitors_yaml() -> None:
    config = parse_monitors(
        {
            "monitors": [MONITOR],
            "channels": [
                {"name": "team-slack", "type": "slack", "secret_field": "slack-url", "monitors": ["image*"]},
                {"name": "pager", "type": "pagerduty", "secret_field": "pd-key"},
                {"name": "hook", "type": "webhook", "secret_field": "hook-url", "signing_secret_field": "hook-key"},
            ],
        },
        source="team.yaml",
    )
    assert config.channel_problems == ()
    assert [(c.name, c.min_severity) for c in config.channels] == [
        ("team-slack", "warning"),
        ("pager", "critical"),
        ("hook", "warning"),
    ]
    assert Channel.from_dict(config.channels[0].to_dict()) == config.channels[0]


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"type": "slack", "secret_field": "x"}, "channel '#1': field 'name'"),
        (
            {"name": "a", "type": "irc", "secret_field": "x"},
            "channel 'a': field 'type': must be one of discord, pagerduty, slack, teams, webhook, got 'irc'",
        ),
        ({"name": "a", "type": "slack"}, "channel 'a': field 'secret_field'"),
        ({"name": "a", "type": "slack", "secret_field": "x", "url": "https://h"}, "channel 'a': field 'url'"),
        (
            {"name": "a", "type": "pagerduty", "secret_field": "x", "url": "https://169.254.169.254/v2/enqueue"},
            "channel 'a': field 'url': must be an https URL",
        ),
        (
            {"name": "a", "type": "pagerduty", "secret_field": "x", "url": "https://[::ffff:169.254.169.254]/"},
            "channel 'a': field 'url': must be an https URL",
        ),
        ({"name": "a", "type": "pagerduty", "secret_field": "x", "url": "http://pd.example"}, "field 'url'"),
        ({"name": "a", "type": "webhook", "secret_field": "x"}, "channel 'a': field 'signing_secret_field'"),
        ({"name": "a", "type": "slack", "secret_field": "x", "min_severity": "loud"}, "field 'min_severity'"),
        ({"name": "a", "type": "slack", "secret_field": "x", "monitors": 3}, "field 'monitors'"),
        ({"name": "a", "type": "slack", "secret_field": "x", "colour": "red"}, "channel 'a': field 'colour'"),
    ],
)
def test_a_broken_channel_is_named_with_its_file_and_field_and_left_out(entry: dict[str, Any], problem: str) -> None:
    good = {"name": "ok", "type": "discord", "secret_field": "d"}
    config = parse_monitors({"monitors": [MONITOR], "channels": [entry, good]}, source="team.yaml")

    assert [c.name for c in config.channels] == ["ok"]
    assert len(config.channel_problems) == 1
    assert config.channel_problems[0].startswith("team.yaml: ")
    assert problem in config.channel_problems[0]
    assert [m.id for m in config.monitors] == ["imagerouter"]  # the monitors still run


@pytest.mark.parametrize(
    ("entry", "problems"),
    [
        (
            {"name": "a", "type": "slack", "secret_field": "x", "min_severity": "loud", "url": "https://h"},
            [
                "field 'min_severity': must be one of critical, info, warning, got 'loud'",
                "field 'url': only a pagerduty channel takes a url; a webhook's URL is a secret (secret_field)",
            ],
        ),
        (
            {"name": "A b", "type": "webhook", "secret_field": "x", "colour": "red"},
            [
                "field 'name': must be lower-case letters, digits, '-' and '_', at most 63, got 'A b'",
                "field 'colour': unknown field (allowed: min_severity, monitors, name, secret_field, "
                "signals, signing_secret_field, type, url)",
                "field 'signing_secret_field': missing: name the field of the API-keys secret that holds it",
            ],
        ),
        (  # a wrong field is reported once, not again by the rules of that field
            {"name": "a", "type": "webhook", "secret_field": "x", "signing_secret_field": 7, "url": 5},
            [
                "field 'signing_secret_field': must be one line of printable characters, at most 256: "
                "a field of the API-keys secret, got 7",
                "field 'url': must be an https:// URL without spaces, at most 2048 characters, got 5",
            ],
        ),
        (
            {"name": "ok", "type": "pagerduty", "secret_field": "x", "url": "http://pd.example", "signals": []},
            [
                "field 'name': another channel already has this name",
                "field 'signals': must be a list or text, got a list of 0 items",
                "field 'url': must be an https URL such as https://events.pagerduty.com/v2/enqueue, "
                "got 'http://pd.example'",
            ],
        ),
    ],
)
def test_every_mistake_of_a_channel_is_one_line_in_one_run(entry: dict[str, Any], problems: list[str]) -> None:
    good = {"name": "ok", "type": "discord", "secret_field": "d"}
    config = parse_monitors({"monitors": [MONITOR], "channels": [good, entry]}, source="team.yaml")

    assert config.channel_problems == tuple(f"team.yaml: channel '{entry['name']}': {line}" for line in problems)
    assert [c.name for c in config.channels] == ["ok"]


def test_check_config_reports_a_broken_channel(tmp_path: Path) -> None:
    path = tmp_path / "monitors.yaml"
    path.write_text(
        "monitors:\n  - {id: imagerouter, provider: imagerouter, secret_field: imagerouter}\n"
        "channels:\n  - {name: pager, type: pagerduty}\n",
        encoding="utf-8",
    )
    out = io.StringIO()

    assert check_config(path, out) == 1
    assert out.getvalue().splitlines() == [
        "monitors.yaml: line 4: channel 'pager': field 'secret_field': "
        "required: one line of printable characters, at most 256: a field of the API-keys secret",
        "monitors.yaml: 1 problem",
        "monitors.yaml: 1 monitor, 0 disabled",
    ]
    path.write_text(path.read_text().replace("type: pagerduty}", "type: pagerduty, secret_field: pd}"))
    out = io.StringIO()
    assert check_config(path, out) == 0
    assert out.getvalue() == "monitors.yaml: 1 monitor, 1 channel, no problems\n"


def test_a_webhook_url_must_be_https_and_is_never_in_an_error() -> None:
    sender = HttpSender(
        KeysOf({"slack-url": "http://hooks.example.com/services/T0/B0/SECRETPATH"}), FORMATS, pool=cast(Any, object())
    )
    queued = QueuedMessage("imagerouter", "meter:credits", "MSG#1", ALERT)

    with pytest.raises(ChannelFailed) as refused:
        sender.send(channel(), queued)

    assert "over http: use https" in str(refused.value)
    assert "SECRETPATH" not in str(refused.value)
    with pytest.raises(ChannelFailed, match="moments ago"):  # not tried again in this invocation
        sender.send(channel(), queued)


def test_the_topic_carries_amazon_qs_custom_notification_for_its_https_subscribers() -> None:
    published: list[dict[str, Any]] = []

    class Sns:
        def publish(self, **request: Any) -> dict[str, str]:
            published.append(request)
            return {"MessageId": "m-1"}

    queued = QueuedMessage("imagerouter", "meter:credits", "MSG#1", ALERT)
    TopicSender(Sns(), "arn:aws:sns:us-east-1:123456789012:alerts").send(TOPIC, queued)

    bodies = json.loads(published[0]["Message"])
    assert published[0]["MessageStructure"] == "json"
    assert (bodies["default"], bodies["email"], bodies["sms"]) == (ALERT.email, ALERT.email, ALERT.sms)
    assert json.loads(bodies["https"]) == q_notification(ALERT)


def test_the_readmes_receiver_accepts_a_signed_webhook_and_refuses_a_tampered_or_late_one() -> None:
    readme = (Path(__file__).resolve().parents[2] / "docs" / "channels.md").read_text(encoding="utf-8")
    snippet = readme.split("**The generic webhook.**", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert len(snippet.strip().splitlines()) <= 10
    scope: dict[str, Any] = {}
    exec(snippet, scope)  # noqa: S102 - the docs' own example, run as a reader would
    hook = channel(type="webhook", secret_field="url", signing_secret_field="key")
    keys = KeysOf({"url": "https://hooks.example.com/q", "key": "shh"})
    queued = QueuedMessage("imagerouter", "meter:credits", "MSG#1", ALERT)
    post = Webhook().request(hook, queued, keys, time.time())

    assert scope["verified"](post.body, post.headers, b"shh")
    assert not scope["verified"](post.body + b" ", post.headers, b"shh")
    late = Webhook().request(hook, queued, keys, time.time() - 600)
    assert not scope["verified"](late.body, late.headers, b"shh")


HOSTILE = "m <!channel> <@U012345> @everyone <https://evil.example|click here> [click](https://evil.example)"
HOSTILE_ALERT = Message(
    f"[CRITICAL] {HOSTILE}: calls at 97%", f"{HOSTILE} at 97%", "sms", "critical", HOSTILE, "p", "alert"
)


def _texts(document: Any) -> list[str]:
    """Every string a chat renders as markup (Slack's plain_text is shown as it is)."""
    if isinstance(document, dict) and document.get("type") == "plain_text":
        return []
    if isinstance(document, dict):
        return [t for value in document.values() for t in _texts(value)]
    if isinstance(document, list):
        return [t for value in document for t in _texts(value)]
    return [document] if isinstance(document, str) else []


@pytest.mark.parametrize(
    ("kind", "payload", "markup"),
    [
        ("slack", lambda m: slack_payload(m), ("<!", "<@", "<http")),
        ("teams", lambda m: teams_payload(m), ("](http",)),
        ("discord", lambda m: discord_payload(m), ("](http",)),
        ("amazon q", lambda m: q_notification(m), ("<!", "<@", "<http", "@everyone", "](http")),
    ],
)
def test_hostile_names_are_escaped_in_every_chat_format(kind: str, payload: Any, markup: tuple[str, ...]) -> None:
    """A meter or monitor name is text: in no format does it mention anyone or become a link."""
    texts = _texts(payload(HOSTILE_ALERT))
    for text in texts:
        for bit in markup:
            assert bit not in text, (kind, text)
    if kind == "discord":
        assert payload(HOSTILE_ALERT)["allowed_mentions"] == {"parse": []}


def test_hostile_names_are_plain_json_strings_for_programs() -> None:
    """PagerDuty and the webhook are read by programs: the name arrives as it is, JSON-encoded."""
    event = json.loads(encode(pagerduty_event(HOSTILE_ALERT, HOSTILE, "meter:calls", "rk")))
    assert event["payload"]["source"] == HOSTILE
    assert json.loads(encode(webhook_document(HOSTILE_ALERT, "meter:calls", "MSG#1")))["monitor"] == HOSTILE


def test_the_webhook_carries_the_message_id_the_same_on_a_resend() -> None:
    hook = channel(type="webhook", secret_field="url", signing_secret_field="key")
    keys = KeysOf({"url": "https://hooks.example.com/q", "key": "shh"})
    queued = QueuedMessage("imagerouter", "meter:credits", "MSG#1", ALERT)
    first, resent = (Webhook().request(hook, queued, keys, t) for t in (time.time(), time.time() + 60))
    assert first.headers[MESSAGE_ID_HEADER] == resent.headers[MESSAGE_ID_HEADER] == "MSG#1"
