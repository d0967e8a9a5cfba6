"""SQS: the queue that carries shards from the dispatcher to the workers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

# SendMessageBatch takes at most 10 entries and 256 KiB of bodies in all.
MAX_ENTRIES = 10
MAX_BATCH_BYTES = 256 * 1024
_ATTEMPTS = 3  # per entry that SQS reports failed without blaming the sender


class MessagesNotSent(Exception):
    """Some messages could not be sent: the caller fails, so that its retry sends them."""


class SqsQueue:
    def __init__(self, client: Any, queue_url: str, sleep: Callable[[float], None] = time.sleep) -> None:
        self._client = client
        self.queue_url = queue_url
        self._sleep = sleep

    def send(self, bodies: Sequence[str]) -> None:
        """Every body as one message, 10 to a call; raises MessagesNotSent for what SQS refused."""
        for batch in _batches(bodies):
            self._send_batch(batch)

    def _send_batch(self, bodies: list[str]) -> None:
        pending = {str(n): body for n, body in enumerate(bodies)}
        for attempt in range(_ATTEMPTS):
            response = self._client.send_message_batch(
                QueueUrl=self.queue_url, Entries=[{"Id": i, "MessageBody": b} for i, b in pending.items()]
            )
            failed = response.get("Failed", [])
            refused = [f for f in failed if f.get("SenderFault")]
            if refused:  # a message SQS will never take as it is: sending it again cannot help
                raise MessagesNotSent(f"SQS refused {len(refused)} messages: {refused[0].get('Code', '?')}")
            pending = {f["Id"]: pending[f["Id"]] for f in failed}
            if not pending:
                return
            self._sleep(0.2 * 2**attempt)
        raise MessagesNotSent(f"{len(pending)} messages not sent after {_ATTEMPTS} attempts")


def _batches(bodies: Sequence[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    size = 0
    for body in bodies:
        length = len(body.encode())
        if length > MAX_BATCH_BYTES:
            raise MessagesNotSent(f"a message of {length:,} bytes is more than SQS takes")
        if batch and (len(batch) == MAX_ENTRIES or size + length > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(body)
        size += length
    if batch:
        yield batch
