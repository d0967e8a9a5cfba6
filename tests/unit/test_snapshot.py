"""The usage snapshot, schema 1: the public contract between providers, storage and messages."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quotawatch.core.snapshot import (
    SCHEMA_VERSION,
    CheckError,
    Condition,
    ErrorKind,
    Meter,
    Period,
    Severity,
    Snapshot,
    format_time,
    parse_time,
)

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)

# The example of the design brief, as published.
DESIGN_EXAMPLE = {
    "schema": 1,
    "monitor": "cloudlayer-prod",
    "provider": "cloudlayer",
    "checked_at": "2026-11-24T01:00:00Z",
    "period": {"start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"},
    "meters": [
        {"name": "calls", "used": 842, "limit": 1000, "remaining": 158, "unit": "calls"},
        {"name": "credit", "used": None, "limit": None, "remaining": 4500, "unit": "credits"},
    ],
    "conditions": [{"name": "subscription_inactive", "severity": "critical", "message": "..."}],
    "error": None,
}


def test_design_example_round_trips_exactly() -> None:
    snapshot = Snapshot.from_dict(DESIGN_EXAMPLE)

    assert snapshot.schema == SCHEMA_VERSION == 1
    assert snapshot.ok
    assert snapshot.checked_at == NOW
    assert snapshot.period == Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    assert snapshot.meter("calls") == Meter("calls", 842, 1000, 158, "calls")
    assert snapshot.meter("credit") == Meter("credit", None, None, 4500, "credits")
    assert snapshot.meter("storage") is None
    assert snapshot.conditions == (Condition("subscription_inactive", Severity.CRITICAL, "..."),)
    assert snapshot.to_dict() == DESIGN_EXAMPLE


def test_whole_numbers_serialise_as_integers() -> None:
    snapshot = Snapshot("m", "cloudlayer", NOW, meters=(Meter("calls", 842.0, 1000.0, 158.0, "calls"),))
    text = json.dumps(snapshot.to_dict())

    assert '"used": 842,' in text
    assert "842.0" not in text
    assert snapshot.to_dict()["meters"][0]["limit"] == 1000
    assert isinstance(snapshot.to_dict()["meters"][0]["limit"], int)


def test_fractions_stay_fractions() -> None:
    meter = Snapshot("m", "p", NOW, meters=(Meter("storage", 25.5, 100, 74.5, "GB"),)).to_dict()["meters"][0]
    assert meter["used"] == 25.5
    assert meter["remaining"] == 74.5


def test_failed_snapshot_has_no_meters_and_an_error() -> None:
    failed = Snapshot.failed("m", "cloudlayer", NOW, ErrorKind.AUTH, "key rejected")
    data = failed.to_dict()

    assert not failed.ok
    assert failed.error == CheckError(ErrorKind.AUTH, "key rejected")
    assert data["meters"] == []
    assert data["conditions"] == []
    assert data["period"] is None
    assert data["error"] == {"kind": "auth", "message": "key rejected"}
    assert Snapshot.from_dict(data) == failed


def test_error_kinds_are_the_contract_names() -> None:
    assert {kind.value for kind in ErrorKind} == {
        "auth",
        "rate_limited",
        "unavailable",
        "bad_response",
        "config",
        "internal",
        "no_key",
    }


def test_times_are_utc_with_z_to_the_second() -> None:
    local = datetime(2026, 11, 24, 2, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert format_time(local) == "2026-11-24T01:00:00Z"
    assert format_time(None) is None
    assert parse_time("2026-11-24T01:00:00Z") == NOW
    assert parse_time("2026-11-24T01:00:00") == NOW  # no offset: UTC
    assert parse_time("2026-11-24T02:00:00+01:00") == NOW
    assert parse_time("2026-11-24T02:00:00+01:00").tzinfo == UTC


def test_period_with_unknown_ends_round_trips() -> None:
    snapshot = Snapshot("m", "p", NOW, period=Period(None, datetime(2026, 12, 1, tzinfo=UTC)))
    data = snapshot.to_dict()
    assert data["period"] == {"start": None, "end": "2026-12-01T00:00:00Z"}
    assert Snapshot.from_dict(data) == snapshot


@pytest.mark.parametrize(
    ("meter", "percent"),
    [
        (Meter("calls", 842, 1000, 158, "calls"), 84.2),
        (Meter("calls", None, 1000, 158, "calls"), 84.2),  # from what is left
        (Meter("calls", 1200, 1000, 0, "calls"), 120.0),
        (Meter("calls", 0, 1000, 1000, "calls"), 0.0),
        (Meter("calls", 842, None, None, "calls"), None),  # unlimited
        (Meter("calls", 842, 0, None, "calls"), None),
        (Meter("calls", None, 1000, None, "calls"), None),
    ],
)
def test_percent_used(meter: Meter, percent: float | None) -> None:
    assert meter.percent_used == (pytest.approx(percent) if percent is not None else None)


figures = st.none() | st.integers(-(10**12), 10**12).map(float) | st.floats(allow_nan=False, allow_infinity=False)
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)).map(
    lambda t: t.replace(microsecond=0)
)
meters = st.builds(Meter, st.text(min_size=1, max_size=12), figures, figures, figures, st.text(max_size=8))
conditions = st.builds(Condition, st.text(min_size=1, max_size=12), st.sampled_from(Severity), st.text(max_size=40))
snapshots = st.builds(
    Snapshot,
    monitor=st.text(min_size=1, max_size=20),
    provider=st.text(min_size=1, max_size=12),
    checked_at=times,
    period=st.none() | st.builds(Period, st.none() | times, st.none() | times),
    meters=st.lists(meters, max_size=4).map(tuple),
    conditions=st.lists(conditions, max_size=2).map(tuple),
    error=st.none() | st.builds(CheckError, st.sampled_from(ErrorKind), st.text(max_size=40)),
)


@given(snapshots)
def test_any_snapshot_survives_json_and_back(snapshot: Snapshot) -> None:
    text = json.dumps(snapshot.to_dict(), allow_nan=False)
    assert Snapshot.from_dict(json.loads(text)) == snapshot
