"""A chat that takes one line of text (`content`): a channel type added as
delivery/senders/<type>.py adds one, with this one file (what to POST, what the answer
means) and one line in the registry (tests/unit/test_channel_type.py)."""

from __future__ import annotations

from quotawatch.core.channels import Channel, encode
from quotawatch.core.record import QueuedMessage
from quotawatch.delivery.senders.http import Post, receipt_of_status
from quotawatch.ports import KeyStore


class PlainChat:
    def request(self, channel: Channel, queued: QueuedMessage, keys: KeyStore, now: float) -> Post:
        url = keys.get(channel.secret_field)
        return Post(url, encode({"content": queued.message.sms}), {}, (url,))

    def receipt(self, status: int, body: bytes) -> str:
        return receipt_of_status(status, body)
