"""A silence as the table stores it (pk = SILENCES, its JSON in `silence`), read through a
typed model: a malformed item fails with msgspec's error naming the field, not a KeyError."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from quotawatch.core.silences import Recurrence, Silence

Time = Annotated[datetime, msgspec.Meta(tz=True)]  # as core.snapshot.format_time writes it


class _Every(msgspec.Struct):
    span: str
    tz: str


class StoredSilence(msgspec.Struct):
    id: str
    monitor: str
    starts_at: Time
    created_at: Time
    signal: str | None = None  # absent or empty: every signal
    ends_at: Time | None = None
    author: str = ""
    reason: str = ""
    every: _Every | None = None
    ended_at: Time | None = None


def read_silence(stored: str | bytes) -> Silence:
    """The silence of an item's JSON; ValueError (msgspec's, naming the field) when malformed."""
    s = msgspec.json.decode(stored, type=StoredSilence)
    every = Recurrence.parse(s.every.span, s.every.tz) if s.every else None
    return Silence(**{**msgspec.structs.asdict(s), "signal": s.signal or "*", "every": every})
