"""The liberal readers every provider parser is built from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quotawatch.core.errors import CheckFailed
from quotawatch.core.snapshot import ErrorKind
from quotawatch.providers import parsing as p
from quotawatch.providers.parsing import BadResponse

# --- number ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (842, 842.0),
        (0, 0.0),
        (-3, -3.0),
        (25.5, 25.5),
        ("842", 842.0),
        ("25.5000", 25.5),
        (" 12.0 ", 12.0),
        ("-1", -1.0),
        ("1e3", 1000.0),
        (2**60, float(2**60)),
    ],
)
def test_number_accepts_json_numbers_and_decimal_strings(value: Any, expected: float) -> None:
    result = p.number({"f": value}, "f")
    assert result == expected
    assert isinstance(result, float)


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), float("-inf"), "NaN", "nan", "inf", "Infinity", "-Infinity", "1e400", 10**400],
)
def test_number_rejects_non_finite_values(value: Any) -> None:
    with pytest.raises(BadResponse, match="'f' is not a finite number") as caught:
        p.number({"f": value}, "f")
    assert caught.value.field == "f"


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        (True, "boolean"),
        (False, "boolean"),
        ("lots", "text"),
        ("", "text"),
        ("12 calls", "text"),
        ([1], "a list"),
        ({"value": 1}, "an object"),
    ],
)
def test_number_rejects_what_is_not_a_number(value: Any, detail: str) -> None:
    with pytest.raises(BadResponse) as caught:
        p.number({"f": value}, "f")
    assert "'f' is not a number" in caught.value.message
    assert detail in caught.value.message
    assert caught.value.field == "f"


def test_number_missing_or_null_when_required_names_the_field() -> None:
    for obj in ({}, {"calls": None}):
        with pytest.raises(BadResponse, match="'calls' is missing") as caught:
            p.number(obj, "calls")
        assert caught.value.field == "calls"


def test_number_missing_when_optional_is_none() -> None:
    assert p.number({}, "credit", required=False) is None
    assert p.number({"credit": None}, "credit", required=False) is None


def test_bad_response_is_a_classified_check_failure() -> None:
    exc = BadResponse("field 'x' is missing", "x")
    assert isinstance(exc, CheckFailed)
    assert exc.kind is ErrorKind.BAD_RESPONSE
    assert str(exc) == exc.message == "field 'x' is missing"


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_number_reads_back_any_finite_float_as_number_or_text(value: float) -> None:
    assert p.number({"f": value}, "f") == value
    assert p.number({"f": repr(value)}, "f") == value


# --- limit -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [-1, -1.0, "-1", -0.5, None, p.UNLIMITED_AT, 10**18, 1e300, "1e16"])
def test_limit_unlimited_sentinels(value: Any) -> None:
    assert p.limit({"callsLimit": value}, "callsLimit") is None


def test_limit_missing_is_unlimited() -> None:
    assert p.limit({}, "callsLimit") is None


@pytest.mark.parametrize(("value", "expected"), [(1000, 1000.0), ("5368709120", 5368709120.0), (0, 0.0)])
def test_limit_real_caps(value: Any, expected: float) -> None:
    assert p.limit({"callsLimit": value}, "callsLimit") == expected


def test_limit_that_is_not_a_number_is_still_an_error() -> None:
    with pytest.raises(BadResponse, match="callsLimit"):
        p.limit({"callsLimit": "unlimited-ish"}, "callsLimit")


# --- remaining -------------------------------------------------------------------------------


def test_remaining() -> None:
    assert p.remaining(842, 1000) == 158
    assert p.remaining(1200, 1000) == 0  # over the limit: nothing left, never negative
    assert p.remaining(None, 1000) is None
    assert p.remaining(842, None) is None


# --- boolean ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), ("true", True), ("false", False), ("TRUE", True), ("False", False)],
)
def test_boolean_accepts_json_booleans_and_their_text(value: Any, expected: bool) -> None:
    assert p.boolean({"subActive": value}, "subActive") is expected


@pytest.mark.parametrize("value", [1, 0, "yes", "", [], {}, 1.0])
def test_boolean_rejects_anything_else(value: Any) -> None:
    with pytest.raises(BadResponse, match="'subActive' is not true or false"):
        p.boolean({"subActive": value}, "subActive", default=True)


def test_boolean_default_applies_only_when_absent_or_null() -> None:
    assert p.boolean({}, "subActive", default=True) is True
    assert p.boolean({"subActive": None}, "subActive", default=False) is False
    with pytest.raises(BadResponse, match="subActive"):
        p.boolean({}, "subActive")


# --- timestamp -------------------------------------------------------------------------------

NOV_24 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-24T01:00:00Z",
        "2026-11-24T01:00:00+00:00",
        "2026-11-24T02:00:00+01:00",
        " 2026-11-24T01:00:00Z ",
        "2026-11-24T01:00:00",  # no offset: read as UTC
        "2026-11-24T01:00:00.000Z",
        int(NOV_24.timestamp()),  # epoch seconds
        float(NOV_24.timestamp()),
        int(NOV_24.timestamp()) * 1000,  # epoch milliseconds
    ],
)
def test_timestamp_variants_all_mean_the_same_instant(value: Any) -> None:
    parsed = p.timestamp({"end": value}, "end")
    assert parsed == NOV_24
    assert parsed is not None
    assert parsed.tzinfo is not None


def test_timestamp_keeps_the_given_offset() -> None:
    parsed = p.timestamp({"end": "2026-11-24T02:00:00+01:00"}, "end")
    assert parsed is not None
    assert parsed.utcoffset() == timedelta(hours=1)
    assert parsed.astimezone(UTC) == NOV_24


def test_timestamp_absent_or_empty_is_none() -> None:
    assert p.timestamp({}, "end") is None
    assert p.timestamp({"end": None}, "end") is None
    assert p.timestamp({"end": ""}, "end") is None


@pytest.mark.parametrize(
    "value",
    [
        *(True, False, "next tuesday", "2026-13-45", [2026, 11, 24], {"t": 1}, 10**400, float("nan"), 1e300),
        "9999-12-31T23:00:00-05:00",  # a valid text past the last date UTC can hold
        "0001-01-01T00:30:00+01:00",
    ],
)
def test_timestamp_rejects_what_is_not_a_date(value: Any) -> None:
    with pytest.raises(BadResponse, match="'end' is not a date") as caught:
        p.timestamp({"end": value}, "end")
    assert caught.value.field == "end"


# --- require_object --------------------------------------------------------------------------


def test_require_object() -> None:
    body = {"calls": 1}
    assert p.require_object(body) is body


@pytest.mark.parametrize(
    ("body", "kind"), [([1, 2, 3], "a list"), ("text", "text"), (None, "null"), (42, "int"), (1.5, "float")]
)
def test_require_object_says_what_it_got(body: Any, kind: str) -> None:
    with pytest.raises(BadResponse, match=f"response is not a JSON object \\(got {kind}\\)") as caught:
        p.require_object(body)
    assert caught.value.field == "response"


# --- utc_window ------------------------------------------------------------------------------

NOW = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)  # a Tuesday


@pytest.mark.parametrize(
    ("name", "start", "end"),
    [
        ("daily", datetime(2026, 11, 24, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC)),
        ("day", datetime(2026, 11, 24, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC)),
        ("weekly", datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC)),  # Monday to Monday
        (" Monthly ", datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
    ],
)
def test_utc_window_is_the_named_day_week_or_month(name: str, start: datetime, end: datetime) -> None:
    window = p.utc_window(name, NOW)
    assert window is not None
    assert (window.start, window.end) == (start, end)


@pytest.mark.parametrize("name", [None, "", "yearly", "hourly", 7, True])
def test_utc_window_none_for_a_lifetime_or_unknown_window(name: Any) -> None:
    assert p.utc_window(name, NOW) is None


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 1), timezones=st.just(UTC)),
    st.sampled_from(["daily", "weekly", "monthly"]),
)
def test_utc_window_holds_now_and_starts_at_midnight(now: datetime, name: str) -> None:
    window = p.utc_window(name, now)
    assert window is not None
    assert window.start is not None
    assert window.end is not None
    assert window.start <= now < window.end
    assert window.start.time() == window.end.time() == datetime.min.time()
    assert timedelta(days=1) <= window.end - window.start <= timedelta(days=31)


# --- one_line --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  a\n b\t\tc ", "a b c"),
        ("a\x00b\x1b[31mc", "a b [31mc"),
        ("\u2028x\u00a0y", "x y"),
        ("", ""),
        ("x" * 5000, "x" * 5000),  # never cut: texts are masked, then cut, in fetching
    ],
)
def test_one_line(text: str, expected: str) -> None:
    assert p.one_line(text) == expected


@given(st.text())
def test_one_line_is_printable_and_single_spaced(text: str) -> None:
    line = p.one_line(text)
    assert line.isprintable()
    assert "  " not in line
    assert line == line.strip()
