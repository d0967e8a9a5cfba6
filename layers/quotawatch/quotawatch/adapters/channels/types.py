"""The channel types, by the name monitors.yaml gives them."""

from __future__ import annotations

from quotawatch.adapters.channels import ChannelType, discord, pagerduty, slack, teams, webhook

TYPES: dict[str, ChannelType] = {
    "slack": slack.Slack(),
    "teams": teams.Teams(),
    "discord": discord.Discord(),
    "pagerduty": pagerduty.PagerDuty(),
    "webhook": webhook.Webhook(),
}
