"""PagerDuty Events API v2: the routing key is the secret; 202 with the event's dedup_key."""

from __future__ import annotations

import json

from quotawatch.core.channels import PAGERDUTY_URL, Channel, encode, pagerduty_event
from quotawatch.core.record import QueuedMessage
from quotawatch.delivery.senders.http import Post
from quotawatch.ports import KeyStore


class PagerDuty:
    def request(self, channel: Channel, queued: QueuedMessage, keys: KeyStore, now: float) -> Post:
        routing_key = keys.get(channel.secret_field)
        event = pagerduty_event(queued.message, queued.monitor, queued.signal, routing_key)
        return Post(channel.url or PAGERDUTY_URL, encode(event), {}, (routing_key,))

    def receipt(self, status: int, body: bytes) -> str:
        try:
            answer = json.loads(body)
        except ValueError:
            return f"HTTP {status}"
        return (
            f"HTTP {status} dedup_key={answer.get('dedup_key', '?')}" if isinstance(answer, dict) else f"HTTP {status}"
        )
