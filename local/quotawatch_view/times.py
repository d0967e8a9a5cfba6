"""Times as a person reads them: stored in UTC, shown in the user's zone (or --tz)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from quotawatch_view.errors import ViewError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def since(text: str, now: datetime) -> datetime:
    """`--since`: a duration back from now (30d, 12h, 2w, 90m) or a date or time (2026-11-01)."""
    found = _DURATION.match(text)
    if found:
        amount, unit = float(found.group(1)), found.group(2).lower()
        return now - timedelta(**{_UNITS[unit]: amount})
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ViewError(f"--since '{text}' is not a duration or a date: use e.g. 30d, 12h, 2w or 2026-11-01") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Zone:
    """The zone times are shown in, and its name for headings."""

    tz: tzinfo
    name: str

    @classmethod
    def named(cls, name: str | None) -> Zone:
        """The zone of that name, or (None) this machine's, with its daylight saving rules."""
        if name is None:
            return _local()
        try:
            return cls(ZoneInfo(name), name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ViewError(f"--tz '{name}' is not a time zone: use a name such as UTC or Europe/Berlin") from None

    def moment(self, value: datetime | None) -> str:
        """'Nov 30 14:05', in this zone."""
        if value is None:
            return "-"
        local = value.astimezone(self.tz)
        return f"{local:%b} {local.day} {local:%H:%M}"

    def day(self, value: datetime) -> str:
        local = value.astimezone(self.tz)
        return f"{local:%b} {local.day}"

    def heading(self) -> str:
        return f"times in {self.name}"


def _local() -> Zone:
    """This machine's zone as a set of rules, not today's offset: a 90-day report crosses
    daylight saving time. TZ first (as the C library reads it), then /etc/localtime."""
    name = os.environ.get("TZ", "").removeprefix(":")
    if name:
        try:
            return Zone(ZoneInfo(name), name)
        except (ZoneInfoNotFoundError, ValueError):
            pass  # a POSIX rule such as "CET-1CEST": the offset of now is the best we have
    try:
        with open(_LOCALTIME, "rb") as rules:
            zone: tzinfo = ZoneInfo.from_file(rules, key="localtime")
    except (OSError, ValueError):
        zone = datetime.now().astimezone().tzinfo or UTC
    return Zone(zone, datetime.now(zone).tzname() or "local time")


_LOCALTIME = "/etc/localtime"


def span(delta: timedelta) -> str:
    """'3 d', '5 h', '40 min': how far ahead, at a glance."""
    seconds = delta.total_seconds()
    if seconds >= 2 * 86_400:
        return f"{seconds / 86_400:.0f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{max(seconds, 0) / 60:.0f} min"
