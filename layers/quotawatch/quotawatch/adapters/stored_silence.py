"""A silence as the table stores it (pk = SILENCES, its JSON in `silence`), read through a
typed model: a malformed item fails with msgspec's error naming the field, not a KeyError."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from quotawatch.core.silences import Recurrence, Silence


class _Every(msgspec.Struct):
    span: str
    tz: str


class StoredSilence(msgspec.Struct):
    id: str
    monitor: str
    starts_at: datetime
    created_at: datetime
    signal: str | None = None  # absent or empty: every signal
    ends_at: datetime | None = None
    author: str = ""
    reason: str = ""
    every: _Every | None = None
    ended_at: datetime | None = None


def read_silence(stored: str | bytes) -> Silence:
    """The silence of an item's JSON; ValueError (msgspec's, naming the field) when malformed."""
    s = msgspec.json.decode(stored, type=StoredSilence)
    return Silence(
        id=s.id,
        monitor=s.monitor,
        signal=s.signal or "*",
        starts_at=_utc(s.starts_at),
        ends_at=_utc(s.ends_at) if s.ends_at else None,
        author=s.author,
        reason=s.reason,
        created_at=_utc(s.created_at),
        every=Recurrence.parse(s.every.span, s.every.tz) if s.every else None,
        ended_at=_utc(s.ended_at) if s.ended_at else None,
    )


def _utc(at: datetime) -> datetime:
    """In UTC, a time stored without a zone read as UTC (as core.snapshot.parse_time does)."""
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)
