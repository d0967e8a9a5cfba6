"""The notices delivery sends in place of a message it cannot send as it is."""

from __future__ import annotations

from quotawatch.core.formatting import sms_line, subject_line
from quotawatch.core.messages import Message
from quotawatch.core.record import QueuedMessage
from quotawatch.core.self_messages import SELF_MONITOR


def refused_notice(queued: QueuedMessage, reason: str) -> Message:
    """Said in the place of a message a channel will never take: retrying it would block
    the messages behind it for nothing."""
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


def unreadable_notice(monitor: str, key: str) -> QueuedMessage:
    """A message item that cannot be read is never retried (it never will be readable):
    people are told once, through the same pipeline, recorded on the damaged item."""
    notice = Message(
        subject="[WARNING] QuotaWatch itself: an alert could not be read and was not sent",
        email="\n".join(
            [
                f"QuotaWatch stored an alert about monitor {monitor} that it cannot read ({key}).",
                "It was not sent. Look at that monitor's state in the table, and at the notify function's log.",
                "",
                "-- QuotaWatch",
            ]
        ),
        sms=sms_line(f"QuotaWatch WARNING: an alert about {monitor[:60]} could not be read and was not sent."),
        severity="warning",
        monitor=SELF_MONITOR,
        provider="quotawatch",
        kind="alert",
    )
    return QueuedMessage(monitor, "", key, notice)
