"""The senders, by channel type: a channel type is one module here plus one line below.

The webhook types share one HTTP sender (delivery/senders/http.py) and say what to POST;
the SNS topic has its own (delivery/senders/topic.py).
"""

from __future__ import annotations

from quotawatch.delivery.senders import discord, pagerduty, slack, teams, webhook
from quotawatch.delivery.senders.http import Format, HttpSender
from quotawatch.ports import KeyStore, Sender

FORMATS: dict[str, Format] = {
    "slack": slack.FORMAT,
    "teams": teams.FORMAT,
    "discord": discord.FORMAT,
    "pagerduty": pagerduty.PagerDuty(),
    "webhook": webhook.Webhook(),
}


def senders(keys: KeyStore, topic: Sender, formats: dict[str, Format] = FORMATS) -> dict[str, Sender]:
    """Every channel type's sender: the topic's, and one HTTP sender for the webhook types."""
    http = HttpSender(keys, formats)
    return {"topic": topic, **dict.fromkeys(formats, http)}
