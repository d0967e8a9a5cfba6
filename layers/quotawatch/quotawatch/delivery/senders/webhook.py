"""A generic JSON webhook: the message (schema 1), signed so the receiver can verify it and
refuse replays (core/channels.py `signature`). The URL and the signing key are secrets."""

from __future__ import annotations

from quotawatch.core.channels import (
    MESSAGE_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Channel,
    encode,
    signature,
    webhook_document,
)
from quotawatch.core.record import QueuedMessage
from quotawatch.delivery.senders.http import Post, receipt_of_status
from quotawatch.ports import KeyStore


class Webhook:
    def request(self, channel: Channel, queued: QueuedMessage, keys: KeyStore, now: float) -> Post:
        url = keys.get(channel.secret_field)
        secret = keys.get(channel.signing_secret_field or "")
        body = encode(webhook_document(queued.message, queued.signal, queued.key))
        timestamp = int(now)
        headers = {
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature(secret, timestamp, body),
            MESSAGE_ID_HEADER: queued.key,
        }
        return Post(url, body, headers, (url, secret))

    def receipt(self, status: int, body: bytes) -> str:
        return receipt_of_status(status, body)
