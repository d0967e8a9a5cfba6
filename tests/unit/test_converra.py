"""Converra: the documented example, the drift the provider README warns about, and
arbitrary JSON (a parse either gives usage or a BadResponse, never anything else)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quotawatch.core.snapshot import Condition, ErrorKind, Meter, Period, Severity
from quotawatch.providers.base import ParsedUsage
from quotawatch.providers.converra import PROVIDER, parse, read_refusal
from quotawatch.providers.parsing import BadResponse
from quotawatch_local.fakes.converra import (
    CLIMB,
    FREE_USAGE,
    LIMIT_EXCEEDED,
    NEXT_PERIOD,
    PRO_USAGE,
    UNLIMITED_USAGE,
    climbing,
)
from tests.unit.support import huge_integers, json_values, meters_by_name, numberish_with

NOW = datetime(2025, 1, 20, 12, 0, tzinfo=UTC)
JANUARY = Period(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 31, 23, 59, 59, tzinfo=UTC))
METERS = ("prompts", "optimizations", "conversations", "tokens")


def without(body: dict[str, Any], field: str) -> dict[str, Any]:
    """A copy of body without `field` ('prompts' or a dotted 'prompts.used')."""
    parent, _, child = field.partition(".")
    if not child:
        return {k: v for k, v in body.items() if k != parent}
    return {**body, parent: {k: v for k, v in body[parent].items() if k != child}}


def with_value(body: dict[str, Any], field: str, value: Any) -> dict[str, Any]:
    parent, _, child = field.partition(".")
    if not child:
        return {**body, parent: value}
    return {**body, parent: {**body[parent], child: value}}


# --- the documented examples -----------------------------------------------------------------


def test_documented_example_gives_the_expected_meters_and_period() -> None:
    usage = parse(PRO_USAGE, NOW)

    assert usage.meters == (
        Meter("prompts", 23, 100, 77, "prompts"),
        Meter("optimizations", 12, 50, 38, "optimizations"),
        Meter("conversations", 1547, 10000, 8453, "conversations"),
        Meter("tokens", 1250000, None, None, "tokens"),
    )
    assert usage.period == JANUARY
    assert usage.conditions == ()
    meters = meters_by_name(usage)
    assert meters["conversations"].percent_used == pytest.approx(15.47)
    assert meters["tokens"].percent_used is None  # unlimited: nothing to alert on by percentage


def test_running_optimizations_are_not_a_meter() -> None:
    assert parse(with_value(PRO_USAGE, "optimizations.running", 40), NOW) == parse(PRO_USAGE, NOW)
    assert parse(without(PRO_USAGE, "optimizations.running"), NOW) == parse(PRO_USAGE, NOW)


def test_free_plan_limits() -> None:
    meters = meters_by_name(parse(FREE_USAGE, NOW))

    assert [(m.name, m.limit) for m in meters.values()] == [
        ("prompts", 5),
        ("optimizations", 10),
        ("conversations", 500),
        ("tokens", None),
    ]


def test_null_limits_are_unlimited() -> None:
    usage = parse(UNLIMITED_USAGE, NOW)

    assert [m.name for m in usage.meters] == list(METERS)
    for meter in usage.meters:
        assert meter.used is not None
        assert meter.limit is None
        assert meter.remaining is None
        assert meter.percent_used is None


@pytest.mark.parametrize("sentinel", [-1, "-1", None, 10**18, "1e20"])
def test_unlimited_sentinels_give_no_limit(sentinel: Any) -> None:
    prompts = meters_by_name(parse(with_value(PRO_USAGE, "prompts.limit", sentinel), NOW))["prompts"]
    assert prompts == Meter("prompts", 23, None, None, "prompts")


def test_missing_limit_is_unlimited() -> None:
    meters = meters_by_name(parse(without(PRO_USAGE, "conversations.limit"), NOW))
    assert meters["conversations"] == Meter("conversations", 1547, None, None, "conversations")


def test_used_above_limit_reports_no_negative_remaining() -> None:
    optimizations = meters_by_name(parse(with_value(PRO_USAGE, "optimizations.used", 55), NOW))["optimizations"]

    assert optimizations.remaining == 0
    assert optimizations.percent_used == pytest.approx(110.0)


# --- drift ---------------------------------------------------------------------------------------


def test_decimal_strings_are_accepted() -> None:
    body = with_value(PRO_USAGE, "conversations", {"used": "1547.0000", "limit": " 10000 "})
    body = with_value(body, "tokens.used", "1250000")

    assert parse(body, NOW) == parse(PRO_USAGE, NOW)


@pytest.mark.parametrize(
    "period",
    [
        {"start": 1735689600, "end": 1738367999},  # epoch seconds
        {"start": 1735689600000, "end": 1738367999000},  # epoch milliseconds
        {"start": "2025-01-01T00:00:00+00:00", "end": "2025-01-31T23:59:59.000Z"},
        {"start": "2025-01-01T00:00:00", "end": "2025-01-31T23:59:59"},  # no zone: UTC
    ],
)
def test_period_as_epoch_or_other_iso_forms(period: dict[str, Any]) -> None:
    assert parse({**PRO_USAGE, "period": period}, NOW).period == JANUARY


def test_a_missing_period_still_gives_the_meters() -> None:
    for body in (without(PRO_USAGE, "period"), {**PRO_USAGE, "period": None}, {**PRO_USAGE, "period": {}}):
        usage = parse(body, NOW)
        assert usage.period is None
        assert usage.meters == parse(PRO_USAGE, NOW).meters


def test_half_a_period_is_kept() -> None:
    usage = parse(without(PRO_USAGE, "period.end"), NOW)
    assert usage.period == Period(JANUARY.start, None)


def test_unknown_fields_are_ignored() -> None:
    body = {
        **PRO_USAGE,
        "plan": "Pro",
        "seats": {"used": 3, "limit": 5},
        "prompts": {**PRO_USAGE["prompts"], "archived": 4, "note": None},
        "period": {**PRO_USAGE["period"], "timezone": "UTC"},
    }
    assert parse(body, NOW) == parse(PRO_USAGE, NOW)


def test_now_is_optional() -> None:
    assert parse(PRO_USAGE) == parse(PRO_USAGE, NOW)


# --- bad answers name the dotted field ------------------------------------------------------------


@pytest.mark.parametrize("field", METERS)
def test_a_missing_meter_object_is_a_bad_response_naming_it(field: str) -> None:
    for body in (without(PRO_USAGE, field), with_value(PRO_USAGE, field, None)):
        with pytest.raises(BadResponse) as caught:
            parse(body, NOW)
        assert caught.value.kind is ErrorKind.BAD_RESPONSE
        assert caught.value.field == field
        assert caught.value.message == f"field '{field}' is missing"


@pytest.mark.parametrize("field", [f"{name}.used" for name in METERS])
def test_a_missing_used_is_a_bad_response_naming_the_dotted_field(field: str) -> None:
    for body in (without(PRO_USAGE, field), with_value(PRO_USAGE, field, None)):
        with pytest.raises(BadResponse) as caught:
            parse(body, NOW)
        assert caught.value.field == field
        assert caught.value.message == f"field '{field}' is missing"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("prompts", 23),
        ("tokens", [1250000]),
        ("conversations", "1547/10000"),
        ("period", "2025-01"),
        ("prompts.used", "lots"),
        ("prompts.used", True),
        ("optimizations.used", {"value": 12}),
        ("conversations.limit", "unlimited"),
        ("tokens.limit", False),
        ("period.start", "January"),
        ("period.end", True),
        ("period.end", [2025, 1, 31]),
    ],
)
def test_wrong_types_name_the_dotted_field(field: str, value: Any) -> None:
    with pytest.raises(BadResponse) as caught:
        parse(with_value(PRO_USAGE, field, value), NOW)
    assert caught.value.field == field
    assert f"{field}" in caught.value.message


@pytest.mark.parametrize("field", ["prompts.used", "tokens.limit"])
def test_integers_beyond_float_range_are_a_bad_response_not_a_crash(field: str) -> None:
    with pytest.raises(BadResponse, match=field.replace(".", r"\.")):
        parse(with_value(PRO_USAGE, field, 10**400), NOW)


@pytest.mark.parametrize("body", [[1, 2, 3], "ok", None, 42, True])
def test_a_body_that_is_not_an_object_is_a_bad_response(body: Any) -> None:
    with pytest.raises(BadResponse, match="not a JSON object") as caught:
        parse(body, NOW)
    assert caught.value.field == "response"


def test_an_error_body_with_status_200_is_a_bad_response() -> None:
    with pytest.raises(BadResponse, match="'prompts' is missing"):
        parse({"error": {"code": "INTERNAL", "message": "try again"}}, NOW)


# --- the declaration and the fake's scenarios -------------------------------------------------


def test_provider_declaration() -> None:
    assert PROVIDER.name == "converra"
    assert PROVIDER.display_name == "Converra"
    assert PROVIDER.url() == "https://converra.ai/api/v1/usage"
    assert PROVIDER.url("http://127.0.0.1:8080/api/v1/") == "http://127.0.0.1:8080/api/v1/usage"
    assert PROVIDER.auth_headers("sk_test_1") == {"Authorization": "Bearer sk_test_1"}
    assert PROVIDER.meter_names == METERS
    produced = {m.name for body in (PRO_USAGE, FREE_USAGE, UNLIMITED_USAGE) for m in parse(body, NOW).meters}
    assert produced == set(PROVIDER.meter_names)
    assert all(PROVIDER.has_meter(name) for name in produced)


def test_climbing_crosses_the_thresholds_then_the_period_resets() -> None:
    readings = [parse(climbing(call).body, NOW) for call in range(1, len(CLIMB) + 2)]
    percents = [meters_by_name(u)["conversations"].percent_used for u in readings]

    assert percents == pytest.approx([50, 70, 82, 88, 96, 99, 12, 12])
    assert all(u.period == JANUARY for u in readings[:6])
    next_month = Period(datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 2, 28, 23, 59, 59, tzinfo=UTC))
    assert parse({**PRO_USAGE, "period": NEXT_PERIOD}, NOW).period == next_month
    assert all(u.period == next_month for u in readings[6:])
    documented = meters_by_name(parse(PRO_USAGE, NOW))
    for usage in readings:  # only conversations climb
        assert [m for m in usage.meters if m.name != "conversations"] == [
            m for m in documented.values() if m.name != "conversations"
        ]


# --- arbitrary JSON ------------------------------------------------------------------------------

numberish = numberish_with("unlimited")
dateish = (
    st.datetimes().map(lambda d: d.isoformat())
    | st.integers(min_value=-(10**14), max_value=10**14)
    | st.floats()
    | huge_integers
    | st.sampled_from(["", "2025-01-01T00:00:00Z", "2025-13-01", "Z", "1735689600"])
)
period_like = st.fixed_dictionaries({}, optional={"start": dateish | json_values, "end": dateish | json_values})
# Every piece may be missing or of any type: mostly bad responses, each naming its field.
sparse_meter = st.fixed_dictionaries({}, optional={"used": numberish, "limit": numberish, "running": numberish})
converra_sparse = st.fixed_dictionaries(
    {},
    optional={**{name: sparse_meter | json_values for name in METERS}, "period": period_like | json_values},
)
# Every meter present with a `used`: many of these parse, with arbitrary figures and dates.
full_meter = st.fixed_dictionaries(
    {"used": numberish}, optional={"limit": numberish, "running": numberish | json_values, "extra": json_values}
)
converra_like = st.fixed_dictionaries(
    {name: full_meter for name in METERS},
    optional={"period": period_like | json_values, "plan": json_values, "error": json_values},
)


def parse_or_error(body: Any) -> ParsedUsage | BadResponse:
    """Anything else (another exception) propagates and fails the test."""
    try:
        return parse(body, NOW)
    except BadResponse as exc:
        return exc


def check_parse_contract(body: Any) -> None:
    usage = parse_or_error(body)
    if isinstance(usage, BadResponse):
        assert usage.kind is ErrorKind.BAD_RESPONSE
        assert usage.field
        assert f"{usage.field}" in usage.message
        return
    assert isinstance(usage, ParsedUsage)
    assert [m.name for m in usage.meters] == list(METERS)
    for meter in usage.meters:
        assert meter.name in PROVIDER.meter_names
        for figure in (meter.used, meter.limit, meter.remaining):
            assert figure is None or isinstance(figure, float)
        if meter.remaining is not None:
            assert meter.limit is not None
            assert meter.remaining >= 0
    if usage.period is not None:
        for moment in (usage.period.start, usage.period.end):
            assert moment is None or moment.tzinfo is not None


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_gives_usage_or_bad_response(body: Any) -> None:
    check_parse_contract(body)


@settings(max_examples=300, deadline=None)
@given(converra_sparse)
def test_converra_shaped_json_with_missing_pieces_gives_usage_or_bad_response(body: dict[str, Any]) -> None:
    check_parse_contract(body)


@settings(max_examples=300, deadline=None)
@given(converra_like)
def test_converra_shaped_json_gives_usage_or_bad_response(body: dict[str, Any]) -> None:
    check_parse_contract(body)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([f"{name}.{part}" for name in METERS for part in ("used", "limit")] + ["period.start"]),
        numberish | dateish | json_values,
        max_size=6,
    )
)
def test_documented_example_with_arbitrary_values(overrides: dict[str, Any]) -> None:
    body = PRO_USAGE
    for field, value in overrides.items():
        body = with_value(body, field, value)
    check_parse_contract(body)


def test_limit_exceeded_is_a_critical_condition_with_its_reset_date() -> None:
    usage = read_refusal(429, LIMIT_EXCEEDED)
    assert usage is not None
    assert usage.meters == ()
    assert usage.conditions == (
        Condition(
            "limit_exceeded", Severity.CRITICAL, "Converra: Monthly optimization limit reached (resets 2025-02-01)"
        ),
    )


def test_limit_exceeded_text_is_passed_on_whole_on_one_line() -> None:
    """Never cut here: fetching masks the key out of it first, then cuts (test_masking.py)."""
    message = "Monthly\noptimization limit reached  " + "for sk_live_0123456789abcdef " * 10
    usage = read_refusal(429, {"error": {**LIMIT_EXCEEDED["error"], "message": message}})
    assert usage is not None
    [condition] = usage.conditions
    assert condition.message == f"Converra: {' '.join(message.split())} (resets 2025-02-01)"
    assert read_refusal(429, {"error": {"code": "LIMIT_EXCEEDED", "message": " \t"}}) == ParsedUsage(
        (), (Condition("limit_exceeded", Severity.CRITICAL, "Converra: a plan limit is reached"),)
    )


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (429, {"error": {"code": "RATE_LIMITED", "message": "Rate limit exceeded: 300 requests/min"}}),
        (429, None),
        (401, {"error": {"code": "LIMIT_EXCEEDED"}}),
        (429, {"error": "LIMIT_EXCEEDED"}),
    ],
)
def test_other_refusals_stay_check_errors(status: int, body: object) -> None:
    assert read_refusal(status, body) is None


def test_limit_exceeded_with_an_unreadable_reset_still_reads() -> None:
    body = {
        "error": {
            "code": "LIMIT_EXCEEDED",
            "message": "Monthly conversation limit reached",
            "details": {"resetAt": "soon"},
        }
    }
    usage = read_refusal(429, body)
    assert usage is not None
    assert usage.conditions[0].message == "Converra: Monthly conversation limit reached"
