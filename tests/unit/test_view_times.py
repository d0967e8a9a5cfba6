"""Times in the view commands: stored in UTC, shown in the user's zone; --since read kindly."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from quotawatch_view import times
from quotawatch_view.errors import ViewError
from quotawatch_view.text import sparkline
from quotawatch_view.times import Zone, since

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", NOW - timedelta(days=30)),
        ("12h", NOW - timedelta(hours=12)),
        ("2w", NOW - timedelta(weeks=2)),
        ("90m", NOW - timedelta(minutes=90)),
        (" 1.5D ", NOW - timedelta(days=1.5)),
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T06:00:00Z", datetime(2026, 11, 1, 6, tzinfo=UTC)),
        ("2026-11-01T07:00:00+01:00", datetime(2026, 11, 1, 6, tzinfo=UTC)),
    ],
)
def test_since_is_a_duration_back_or_a_date(text: str, expected: datetime) -> None:
    assert since(text, NOW) == expected


@pytest.mark.parametrize("text", ["", "30", "d30", "thirty days", "-3d", "2026-13-01"])
def test_since_that_is_neither_says_what_would_do(text: str) -> None:
    with pytest.raises(ViewError, match=r"is not a duration or a date: use e\.g\. 30d"):
        since(text, NOW)


@pytest.mark.parametrize(
    ("zone", "shown"),
    [("UTC", "Nov 24 02:00"), ("Europe/Berlin", "Nov 24 03:00"), ("America/New_York", "Nov 23 21:00")],
)
def test_times_are_shown_in_the_zone_asked_for(zone: str, shown: str) -> None:
    assert Zone.named(zone).moment(datetime(2026, 11, 24, 2, 0, tzinfo=UTC)) == shown


def test_without_tz_times_are_in_this_machines_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        zone = Zone.named(None)
        assert zone.moment(datetime(2026, 11, 24, 2, 0, tzinfo=UTC)) == "Nov 24 11:00"
        assert zone.heading() == "times in Asia/Tokyo"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_without_tz_the_machines_zone_rules_keep_daylight_saving(monkeypatch: pytest.MonkeyPatch) -> None:
    rules = Path("/usr/share/zoneinfo/Europe/Berlin")
    if not rules.exists():
        pytest.skip("no system time zone data")
    monkeypatch.delenv("TZ", raising=False)
    monkeypatch.setattr(times, "_LOCALTIME", str(rules))
    zone = Zone.named(None)
    assert zone.moment(datetime(2026, 7, 1, 12, 0, tzinfo=UTC)) == "Jul 1 14:00"
    assert zone.moment(datetime(2026, 12, 1, 12, 0, tzinfo=UTC)) == "Dec 1 13:00"


def test_daylight_saving_time_follows_each_moment() -> None:
    berlin = Zone.named("Europe/Berlin")
    assert berlin.moment(datetime(2026, 7, 1, 12, 0, tzinfo=UTC)) == "Jul 1 14:00"  # CEST
    assert berlin.moment(datetime(2026, 12, 1, 12, 0, tzinfo=UTC)) == "Dec 1 13:00"  # CET


def test_an_unknown_zone_is_one_line() -> None:
    with pytest.raises(ViewError, match=r"^--tz 'Mars/Olympus' is not a time zone"):
        Zone.named("Mars/Olympus")


def test_sparkline_scales_from_low_to_high_and_leaves_gaps_for_failures() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([5, None, 5]) == "▁ ▁"  # flat: no range to scale
    assert sparkline([None, None]) == ""
    assert len(sparkline(list(range(500)), width=48)) == 48  # the newest of each bucket
