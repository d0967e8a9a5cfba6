"""Discord incoming webhook: the URL is the secret; a 2xx answer means it was posted."""

from __future__ import annotations

from quotawatch.core.channels import Channel, discord_payload, encode
from quotawatch.core.record import QueuedMessage
from quotawatch.delivery.senders.http import Post, receipt_of_status
from quotawatch.ports import KeyStore


class Discord:
    def request(self, channel: Channel, queued: QueuedMessage, keys: KeyStore, now: float) -> Post:
        url = keys.get(channel.secret_field)
        return Post(url, encode(discord_payload(queued.message)), {}, (url,))

    def receipt(self, status: int, body: bytes) -> str:
        return receipt_of_status(status, body)
