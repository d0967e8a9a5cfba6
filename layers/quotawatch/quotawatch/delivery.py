"""Delivery of stored messages, in stages: skip what was sent, send, record as sent.

The notify function runs this for each message item the table's stream brings. Deciding
a message happened exactly once, in the check's transaction; delivery is at least once:
a message whose send failed stays unsent and is retried (the stream redelivers it), and a
redelivered or retried message that was recorded as sent is not sent again. A duplicate is
possible only when the sender dies after the channel accepted a message and before it was
recorded as sent. The record is a conditional update of the message item itself rather
than a separate idempotency record: the item already exists, is read by key, and carries
its expiry, so one write says "sent" and schedules its removal.
A message stored as held by a silence (core/silences.py) reaches this function through the
stream like any other and is not sent; its item says so (`held_by`) and already expires.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from quotawatch.core.messages import Message, sms_line, subject_line
from quotawatch.core.record import QueuedMessage
from quotawatch.core.self_messages import SELF_MONITOR
from quotawatch.ports import Clock, MessageLog, MessageRefused, Notifier

log = logging.getLogger("quotawatch.delivery")


@dataclass(frozen=True)
class Delivered:
    monitor: str
    key: str
    subject: str
    message_id: str | None  # None: it had been sent before, and was not sent again

    def to_dict(self) -> dict[str, str | None]:
        return {"monitor": self.monitor, "key": self.key, "subject": self.subject, "message_id": self.message_id}


def deliver(queued: QueuedMessage, sent: MessageLog, notifier: Notifier, clock: Clock) -> Delivered:
    """Send one stored message unless it was sent already. Raises when the channel refuses:
    the message then stays unsent for the next attempt. A message a silence holds is not
    sent: it stays in the table as held (it expires with the readings of its time)."""
    if queued.held_by is not None:
        log.info("message held by silence %s; not sent", queued.held_by, extra={"monitor": queued.monitor})
        return Delivered(queued.monitor, queued.key, queued.message.subject, None)
    if sent.was_sent(queued.monitor, queued.key):
        log.info("message already sent; not sending it again", extra={"monitor": queued.monitor, "key": queued.key})
        return Delivered(queued.monitor, queued.key, queued.message.subject, None)
    try:
        message_id = notifier.publish(queued.message)
    except MessageRefused as exc:
        # Retrying would block every message behind it for nothing: say so in its place.
        log.error("%s; sending a notice instead", exc, extra={"monitor": queued.monitor, "key": queued.key})
        message_id = notifier.publish(_refused_notice(queued, str(exc)))
    # A crash here, between the channel's acceptance and this record, is the one place a
    # message can go out twice.
    sent.record_sent(queued.monitor, queued.key, message_id, clock.now())
    log.info(
        "message sent",
        extra={
            "monitor": queued.monitor,
            "key": queued.key,
            "message_id": message_id,
            "subject": queued.message.subject,
        },
    )
    return Delivered(queued.monitor, queued.key, queued.message.subject, message_id)


def _refused_notice(queued: QueuedMessage, reason: str) -> Message:
    original = queued.message
    return Message(
        subject=subject_line(
            f"[{original.severity.upper()}] QuotaWatch itself: an alert about {original.monitor[:40]} was refused"
        ),
        email="\n".join(
            [
                f"QuotaWatch could not send an alert about monitor {original.monitor}: {reason}.",
                f"Its level: {original.severity}. The alert is in the table as {queued.key}.",
                "Look at the monitor in the table or run `quotawatch fetch` for it, and at the notify function's log.",
                "",
                "-- QuotaWatch",
            ]
        ),
        sms=sms_line(
            f"QuotaWatch: an alert about {original.monitor[:40]} ({original.severity}) could not be sent. See email."
        ),
        severity=original.severity,
        monitor=original.monitor,
        provider=original.provider,
        kind=original.kind,
    )


class Unreadable(Protocol):
    monitor: str
    key: str


def deliver_unreadable(item: Unreadable, sent: MessageLog, notifier: Notifier, clock: Clock) -> Delivered:
    """A message item that cannot be read is not retried (it never will be readable); people
    are told that a message was lost, once, and the item is recorded as handled."""
    notice = Message(
        subject="[WARNING] QuotaWatch itself: an alert could not be read and was not sent",
        email="\n".join(
            [
                f"QuotaWatch stored an alert about monitor {item.monitor} that it cannot read ({item.key}).",
                "It was not sent. Look at that monitor's state in the table, and at the notify function's log.",
                "",
                "-- QuotaWatch",
            ]
        ),
        sms=sms_line(f"QuotaWatch WARNING: an alert about {item.monitor[:60]} could not be read and was not sent."),
        severity="warning",
        monitor=SELF_MONITOR,
        provider="quotawatch",
        kind="alert",
    )
    return deliver(QueuedMessage(item.monitor, "", item.key, notice), sent, notifier, clock)
