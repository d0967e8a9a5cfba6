"""Messages about QuotaWatch itself: a run that failed, an alarm on its own health.

They read like any alert ("[CRITICAL] QuotaWatch itself: ...") and go through the same
topic, so the people who get alerts learn when the watcher itself is in trouble.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from quotawatch.core import formatting as fmt
from quotawatch.core.formatting import sms_line, subject_line
from quotawatch.core.messages import Message
from quotawatch.core.rules import Level

SELF_MONITOR = "QuotaWatch"  # not a valid monitor id (capitals), so no monitor can take it
_TEXT_MAX = 300  # what a message quotes of an error or an alarm's reason


@dataclass(frozen=True)
class SelfNotice:
    """One thing to say about QuotaWatch itself."""

    signal: str
    level: Level  # OK: it is over
    headline: str  # one line: what happened, or what is fine again
    details: tuple[str, ...] = ()  # what a person reads next, line by line
    advice: str = ""


def render_self(notice: SelfNotice, at: datetime) -> Message:
    tag = "OK" if notice.level is Level.OK else notice.level.name
    headline = _one_line(notice.headline, 120)
    lines = [f"QuotaWatch itself is {tag} ({fmt.timestamp(at)}): {headline}.", ""]
    lines += [_one_line(line, _TEXT_MAX) for line in notice.details]
    if notice.advice:
        lines += ["", f"What to do: {notice.advice}"]
    lines += ["", "-- QuotaWatch"]
    return Message(
        subject=subject_line(f"[{tag}] QuotaWatch itself: {headline}"),
        email="\n".join(lines),
        sms=sms_line(f"QuotaWatch {tag}: itself: {headline}"),
        severity="info" if notice.level is Level.OK else notice.level.label,
        monitor=SELF_MONITOR,
        provider="quotawatch",
        kind="recovery" if notice.level is Level.OK else "alert",
    )


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."
