"""Channels: which messages each one takes, and what it is sent.

Pure: a channel's definition (the built-in SNS topic, and those of monitors.yaml's
`channels:`), the routing rule, and one payload function per channel type. Sending is
delivery/senders/<type>.py's business.

Formats, each as the receiving service documents it:
- Slack incoming webhook: `text` (the fallback for notifications) and Block Kit `blocks`
  (a header with the subject, a section with the body in a plain-text code-free form);
- Microsoft Teams, Workflows "post to a channel when a webhook request is received": a
  `message` whose one attachment is an Adaptive Card (TextBlocks, no links);
- Discord webhook: `content` empty, one embed (title, description, colour by severity);
- PagerDuty Events API v2: `trigger` on an alert or reminder, `resolve` on a recovery, with
  `dedup_key` = monitor + signal, so one incident per signal opens once and closes itself;
- generic webhook: the message as JSON (schema 1), signed: `X-QuotaWatch-Signature:
  sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` and `X-QuotaWatch-Timestamp`, with
  `X-QuotaWatch-Message-Id` (the message's id, the same on every resend);
- Amazon Q Developer in chat applications (Slack, Teams via the SNS topic): its custom
  notification (`version` "1.0", `source` "custom", `content`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict, dataclass
from fnmatch import fnmatchcase
from typing import Any

from quotawatch.core.messages import Message
from quotawatch.core.self_messages import SELF_MONITOR

TYPES = ("slack", "teams", "discord", "pagerduty", "webhook")
SEVERITIES = ("info", "warning", "critical")
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
SIGNATURE_HEADER = "X-QuotaWatch-Signature"
TIMESTAMP_HEADER = "X-QuotaWatch-Timestamp"
MESSAGE_ID_HEADER = "X-QuotaWatch-Message-Id"  # the same on a resend: a receiver can drop the copy
CHANNEL_SIGNAL = "self:channel:"  # QuotaWatch itself: channel <name> failing
# PagerDuty opens incidents: it takes alerts, reminders and recoveries, not the digest or a test.
_PAGED_KINDS = ("alert", "reminder", "recovery")
_SLACK_TEXT_MAX = 2900  # a section's text is at most 3000 characters
_DISCORD_DESCRIPTION_MAX = 4000  # an embed's description: 4096
_TEAMS_TEXT_MAX = 20000  # a Workflows webhook takes up to 28 KB
_COLOURS = {"critical": 0xD62728, "warning": 0xFF9F1C, "info": 0x2CA02C}


@dataclass(frozen=True)
class Channel:
    name: str
    type: str  # one of TYPES
    secret_field: str  # the webhook URL (slack, teams, discord, webhook) or routing key (pagerduty)
    min_severity: str = "warning"
    monitors: tuple[str, ...] = ("*",)  # patterns (fnmatch) of the monitor ids it takes
    signals: tuple[str, ...] = ("*",)  # patterns of signal keys: meter:*, forecast:*, check, condition:*
    url: str | None = None  # pagerduty only: another Events API endpoint (the EU one)
    signing_secret_field: str | None = None  # webhook only: the field holding the HMAC key

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "monitors": list(self.monitors), "signals": list(self.signals)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Channel:
        return cls(
            name=str(data["name"]),
            type=str(data["type"]),
            secret_field=str(data["secret_field"]),
            min_severity=str(data.get("min_severity", "warning")),
            monitors=tuple(str(p) for p in data.get("monitors", ["*"])),
            signals=tuple(str(p) for p in data.get("signals", ["*"])),
            url=data.get("url"),
            signing_secret_field=data.get("signing_secret_field"),
        )


def routes(channel: Channel, message: Message, signal: str) -> bool:
    """Whether `channel` takes this message (a message a silence holds goes to no channel:
    the caller never asks). The topic takes every message. A recovery passes the severity
    bar (it closes what was said); "QuotaWatch itself" messages pass the monitor and signal
    patterns (a pattern selects your monitors, never hides QuotaWatch's own trouble), except
    that a channel is not told about its own failure."""
    if signal == CHANNEL_SIGNAL + channel.name:
        return False
    if channel.type == "topic":
        return True
    if channel.type == "pagerduty" and message.kind not in _PAGED_KINDS:
        return False
    if message.monitor == SELF_MONITOR:
        return message.kind == "recovery" or _rank(message.severity) >= _rank(channel.min_severity)
    if message.kind != "recovery" and _rank(message.severity) < _rank(channel.min_severity):
        return False
    if message.kind == "digest":  # the digest is about every monitor, not one: severity alone decides
        return True
    return any(fnmatchcase(message.monitor, p) for p in channel.monitors) and any(
        fnmatchcase(signal, p) for p in channel.signals
    )


TOPIC = Channel("topic", "topic", "", min_severity="info")  # the SNS topic: built in, every message


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


def _body(message: Message) -> str:
    """The email's text without its signature: the meters, the trend, what to do."""
    text = message.email.rstrip()
    return text.removesuffix("-- QuotaWatch").rstrip()


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _slack_escape(text: str) -> str:
    """Slack reads &, < and > as markup (links, mentions): escaped, the text stays link-free."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link_escape(text: str) -> str:
    """Markdown (Teams, Discord, Amazon Q) makes `[text](url)` a link that hides its address:
    with the parenthesis escaped it stays text ([CRITICAL] and the like are left alone)."""
    return text.replace("](", "]\\(")


def _chat_escape(text: str) -> str:
    """Amazon Q's client-markdown, rendered in Slack or Teams: Slack's markup and Markdown
    links escaped, an @mention broken by a zero-width space (@everyone, @here, @channel)."""
    return _link_escape(_slack_escape(text)).replace("@", "@\u200b")


def slack_payload(message: Message) -> dict[str, Any]:
    body = _slack_escape(_cut(_body(message), _SLACK_TEXT_MAX))
    return {
        "text": _slack_escape(message.subject),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": _cut(message.subject, 150)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"```{body}```"}},
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": _slack_escape(f"QuotaWatch | {message.severity} | {message.monitor}")}
                ],
            },
        ],
    }


def teams_payload(message: Message) -> dict[str, Any]:
    colour = {"critical": "Attention", "warning": "Warning"}.get(message.severity, "Good")
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {
                            "type": "TextBlock",
                            "text": _link_escape(message.subject),
                            "weight": "Bolder",
                            "size": "Medium",
                            "color": colour,
                            "wrap": True,
                        },
                        {
                            "type": "TextBlock",
                            "text": _link_escape(_cut(_body(message), _TEAMS_TEXT_MAX)),
                            "wrap": True,
                        },
                    ],
                },
            }
        ],
    }


def discord_payload(message: Message) -> dict[str, Any]:
    return {
        "content": "",
        "allowed_mentions": {"parse": []},  # nothing in a message pings anyone
        "embeds": [
            {
                "title": _link_escape(_cut(message.subject, 256)),
                "description": _link_escape(_cut(_body(message), _DISCORD_DESCRIPTION_MAX)),
                "color": _COLOURS.get(message.severity, _COLOURS["info"]),
                "footer": {"text": _link_escape(f"QuotaWatch | {message.severity} | {message.monitor}")},
            }
        ],
    }


def dedup_key(monitor: str, signal: str) -> str:
    """PagerDuty's key of the one incident per monitor and signal."""
    return _cut(f"quotawatch/{monitor}/{signal}", 255)


def opens_incident(message: Message) -> bool:
    """Whether a message triggers (True) or resolves (False) its PagerDuty incident."""
    return message.kind != "recovery"


def pagerduty_event(message: Message, monitor: str, signal: str, routing_key: str) -> dict[str, Any]:
    """An Events API v2 event: one incident per monitor and signal (dedup_key), triggered
    by an alert or reminder (PagerDuty folds a repeat into the open incident), resolved by
    the recovery."""
    key = dedup_key(monitor, signal)
    if message.kind == "recovery":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": key}
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": key,
        "payload": {
            "summary": _cut(message.subject, 1024),
            "source": monitor,
            "severity": message.severity if message.severity in ("critical", "warning") else "info",
            "component": message.provider,
            "group": "quotawatch",
            "class": signal.split(":", 1)[0],
            "custom_details": {"message": _cut(_body(message), 8000), "signal": signal},
        },
    }


def webhook_document(message: Message, signal: str, key: str) -> dict[str, Any]:
    """The message as a receiver's program reads it: schema 1, every field named."""
    return {
        "schema": 1,
        "id": key,
        "monitor": message.monitor,
        "provider": message.provider,
        "signal": signal,
        "severity": message.severity,
        "kind": message.kind,
        "subject": message.subject,
        "text": _body(message),
        "sms": message.sms,
    }


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256 over "<timestamp>.<body>", keyed with the shared secret."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def q_notification(message: Message) -> dict[str, Any]:
    """Amazon Q Developer in chat applications' custom notification: chat subscribers of the
    topic receive this JSON (the topic's `https` protocol message) and render it."""
    return {
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": _chat_escape(message.subject),
            "description": _chat_escape(_cut(_body(message), 3500)),
            "keywords": [message.severity, _chat_escape(message.monitor), message.kind],
        },
        "metadata": {
            "threadId": f"quotawatch-{hashlib.blake2b(message.monitor.encode(), digest_size=8).hexdigest()}",
            "summary": _chat_escape(message.sms),
            "eventType": f"quotawatch.{message.kind}",
        },
    }
