"""Tornado API: the three kinds of key of the field table, the drift the provider README warns
about, and arbitrary JSON (a parse either gives usage or a BadResponse, never anything else)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quotawatch.core.snapshot import Condition, ErrorKind, Meter, Period, Severity
from quotawatch.providers.base import ParsedUsage
from quotawatch.providers.parsing import BadResponse
from quotawatch.providers.tornado import PROVIDER, parse, read_refusal
from quotawatch_local.fakes.tornado import (
    CLIMB,
    NO_LIMIT_KEY,
    QUOTA_REACHED,
    STRIPE_KEY,
    STRIPE_KEY_BILLING_ERROR,
    TRIAL_KEY,
    climbing,
)
from tests.unit.support import json_values, meters_by_name, numberish_with

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
NOVEMBER = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
EXAMPLES = [STRIPE_KEY, TRIAL_KEY, NO_LIMIT_KEY, STRIPE_KEY_BILLING_ERROR]


def without(body: dict[str, Any], *fields: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in fields}


# --- the three kinds of key --------------------------------------------------------------------


def test_stripe_key_is_unlimited_storage_with_a_billing_period() -> None:
    usage = parse(STRIPE_KEY, NOW)

    assert usage.meters == (
        Meter("storage", 344.96, None, None, "GB"),
        Meter("jobs", 1284, None, None, "jobs"),
        Meter("period_storage", 87.42, None, None, "GB"),
    )
    assert usage.conditions == ()
    assert usage.period == NOVEMBER
    assert all(m.percent_used is None for m in usage.meters)  # nothing to alert on by percentage


def test_trial_key_has_a_storage_quota_on_the_effective_figure() -> None:
    usage = parse(TRIAL_KEY, NOW)

    assert usage.meters == (
        Meter("storage", 414.19, 1000, 585.81, "GB"),
        Meter("jobs", 312, None, None, "jobs"),
    )
    assert usage.conditions == ()
    assert usage.period is None
    # Effective (used + reserved), not storage_usage_gb: the quota is enforced on it.
    assert meters_by_name(usage)["storage"].percent_used == pytest.approx(41.419)


def test_no_limit_key_has_only_unlimited_meters() -> None:
    usage = parse(NO_LIMIT_KEY, NOW)

    assert usage.meters == (
        Meter("storage", 18342.07, None, None, "GB"),
        Meter("jobs", 58213, None, None, "jobs"),
    )
    assert usage.conditions == ()
    assert usage.period is None


def test_billing_error_is_a_warning_a_person_understands() -> None:
    usage = parse(STRIPE_KEY_BILLING_ERROR, NOW)

    assert usage.conditions == (
        Condition(
            "billing_error",
            Severity.WARNING,
            "Tornado could not read billing information: Failed to retrieve billing information from Stripe",
        ),
    )
    # The usage is still read; without billing data there is no period this time.
    assert usage.meters == (
        Meter("storage", 344.96, None, None, "GB"),
        Meter("jobs", 1284, None, None, "jobs"),
    )
    assert usage.period is None


def test_billing_error_beside_a_billing_period_keeps_both() -> None:
    usage = parse({**STRIPE_KEY, "billing_error": "Stripe API timeout"}, NOW)

    assert [c.name for c in usage.conditions] == ["billing_error"]
    assert usage.period == NOVEMBER
    assert "period_storage" in meters_by_name(usage)


def test_billing_error_text_is_one_whole_line() -> None:
    """Whole: the text may hold the key, which fetching masks before it cuts (test_masking.py)."""
    text = "  Stripe\nerror:\t" + "card declined " * 30 + "\x00\x1b[31m  "
    [condition] = parse({**STRIPE_KEY, "billing_error": text}, NOW).conditions

    prefix = "Tornado could not read billing information: "
    detail = condition.message[len(prefix) :]
    assert condition.message.startswith(prefix)
    assert detail == "Stripe error: " + "card declined " * 30 + "[31m"
    assert detail.isprintable()
    assert "  " not in detail


def test_quota_refusal_text_is_passed_on_whole() -> None:
    text = "Storage quota exceeded: " + "x" * 300 + " sk_live_0123456789abcdef"
    usage = read_refusal(403, {"error": text})
    assert usage is not None
    assert usage.conditions[0].message == f"Tornado refuses new jobs: {text}"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "Tornado could not read billing information"),
        ("   ", "Tornado could not read billing information"),
        ({"message": "No such customer"}, "Tornado could not read billing information: No such customer"),
        (["?"], "Tornado could not read billing information"),
    ],
)
def test_billing_error_in_other_shapes(value: Any, message: str) -> None:
    assert parse({**NO_LIMIT_KEY, "billing_error": value}, NOW).conditions == (
        Condition("billing_error", Severity.WARNING, message),
    )


@pytest.mark.parametrize("value", [None, "", False])
def test_empty_billing_error_is_no_condition(value: Any) -> None:
    assert parse({**STRIPE_KEY, "billing_error": value}, NOW).conditions == ()


# --- the storage quota --------------------------------------------------------------------------


def test_remaining_is_computed_when_only_the_limit_is_given() -> None:
    storage = meters_by_name(parse(without(TRIAL_KEY, "storage_remaining_gb"), NOW))["storage"]
    assert (storage.used, storage.limit, storage.unit) == (414.19, 1000, "GB")
    assert storage.remaining == pytest.approx(585.81)


def test_the_providers_remaining_figure_is_used_as_given() -> None:
    storage = meters_by_name(parse({**TRIAL_KEY, "storage_remaining_gb": 580}, NOW))["storage"]
    assert storage.remaining == 580


def test_over_quota_reports_no_negative_remaining() -> None:
    body = {**TRIAL_KEY, "storage_effective_usage_gb": 1003.5, "storage_remaining_gb": -3.5}
    storage = meters_by_name(parse(body, NOW))["storage"]

    assert storage.remaining == 0
    assert storage.percent_used == pytest.approx(100.35)
    storage = meters_by_name(parse(without(body, "storage_remaining_gb"), NOW))["storage"]
    assert storage.remaining == 0


@pytest.mark.parametrize("sentinel", [-1, "-1", None, 10**18, "1e20"])
def test_unlimited_sentinels_give_no_limit_and_no_remaining(sentinel: Any) -> None:
    storage = meters_by_name(parse({**TRIAL_KEY, "storage_limit_gb": sentinel}, NOW))["storage"]

    assert storage == Meter("storage", 414.19, None, None, "GB")
    assert storage.percent_used is None


def test_no_storage_limit_gb_is_unlimited_even_with_the_bytes_figure() -> None:
    storage = meters_by_name(parse(without(TRIAL_KEY, "storage_limit_gb", "storage_remaining_gb"), NOW))["storage"]
    assert storage.limit is None


def test_climbing_scenario_crosses_warning_and_critical_then_resets() -> None:
    percents = []
    for call in range(1, len(CLIMB) + 2):
        storage = meters_by_name(parse(climbing(call).body, NOW))["storage"]
        assert storage.used is not None
        assert storage.remaining == pytest.approx(1000 - storage.used)
        percents.append(storage.percent_used)

    assert percents == pytest.approx([50, 70, 82, 88, 96, 99, 4, 4])


# --- drift ------------------------------------------------------------------------------------


def test_decimal_strings_are_accepted() -> None:
    body = {
        **TRIAL_KEY,
        "usage_count": "312",
        "storage_effective_usage_gb": "414.1900",
        "storage_limit_gb": " 1000 ",
        "storage_remaining_gb": "585.8100",
    }
    assert parse(body, NOW) == parse(TRIAL_KEY, NOW)
    period_storage = meters_by_name(parse({**STRIPE_KEY, "current_period_usage_gb": "87.4200"}, NOW))
    assert period_storage["period_storage"].used == 87.42


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (1793491200, 1796083200),  # Unix seconds, as Stripe gives them
        (1793491200000, 1796083200000),  # milliseconds
        ("2026-11-01T00:00:00+00:00", "2026-12-01T00:00:00.000Z"),
        ("2026-11-01T01:00:00+01:00", "2026-11-30T19:00:00-05:00"),
    ],
)
def test_period_dates_as_epoch_or_iso(start: Any, end: Any) -> None:
    period = parse({**STRIPE_KEY, "billing_period_start": start, "billing_period_end": end}, NOW).period

    assert period is not None
    assert period.start == NOVEMBER.start
    assert period.end == NOVEMBER.end


def test_half_a_period_is_kept() -> None:
    assert parse(without(STRIPE_KEY, "billing_period_start"), NOW).period == Period(None, NOVEMBER.end)


def test_unknown_fields_are_ignored() -> None:
    body = {**TRIAL_KEY, "new_field": {"nested": [1, 2]}, "another": None, "plan": "pro"}
    assert parse(body, NOW) == parse(TRIAL_KEY, NOW)


def test_limits_per_video_are_not_meters() -> None:
    body = {**NO_LIMIT_KEY, "max_resolution_limit": "720", "max_filesize_limit_mb": "oops"}
    assert [m.name for m in parse(body, NOW).meters] == ["storage", "jobs"]


@pytest.mark.parametrize("field", ["usage_count", "storage_effective_usage_gb"])
@pytest.mark.parametrize("example", EXAMPLES, ids=["stripe", "trial", "no-limit", "billing-error"])
def test_missing_required_field_is_a_bad_response_naming_it(field: str, example: dict[str, Any]) -> None:
    with pytest.raises(BadResponse, match=field) as caught:
        parse(without(example, field), NOW)
    assert caught.value.kind is ErrorKind.BAD_RESPONSE
    assert caught.value.field == field


def test_storage_usage_alone_does_not_stand_in_for_the_effective_figure() -> None:
    """Quota is enforced on the effective figure; a guess would under-report reserved storage."""
    with pytest.raises(BadResponse, match="storage_effective_usage_gb"):
        parse(without(TRIAL_KEY, "storage_effective_usage_gb"), NOW)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("usage_count", "many"),
        ("usage_count", True),
        ("storage_effective_usage_gb", [1]),
        ("storage_limit_gb", "1 TB"),
        ("storage_remaining_gb", {"gb": 3}),
        ("current_period_usage_gb", "n/a"),
        ("billing_period_start", "last monday"),
        ("billing_period_end", True),
        ("usage_count", 10**400),
    ],
)
def test_wrong_types_name_the_field(field: str, value: Any) -> None:
    with pytest.raises(BadResponse, match=field):
        parse({**STRIPE_KEY, **TRIAL_KEY, field: value}, NOW)


@pytest.mark.parametrize("body", [[1, 2, 3], "ok", None, 42])
def test_a_body_that_is_not_an_object_is_a_bad_response(body: Any) -> None:
    with pytest.raises(BadResponse, match="not a JSON object"):
        parse(body, NOW)


def test_provider_declaration() -> None:
    assert PROVIDER.name == "tornado"
    assert PROVIDER.display_name == "Tornado API"
    assert PROVIDER.url() == "https://api.tornadoapi.io/usage"
    assert PROVIDER.url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080/usage"
    assert PROVIDER.auth_headers("sk_1") == {"x-api-key": "sk_1"}
    assert PROVIDER.parse is parse
    # Every meter the parser can produce is declared (config validates `meters:` against this list).
    produced = {m.name for example in EXAMPLES for m in parse(example, NOW).meters}
    assert produced == set(PROVIDER.meter_names)


# --- arbitrary JSON ------------------------------------------------------------------------

FIELDS = [
    "client_name",
    "usage_count",
    "storage_usage_gb",
    "storage_reserved_gb",
    "storage_effective_usage_gb",
    "billing_period_start",
    "billing_period_end",
    "current_period_usage_gb",
    "billing_error",
    "storage_limit_gb",
    "storage_limit_bytes",
    "storage_remaining_gb",
    "max_resolution_limit",
    "max_duration_limit_seconds",
    "max_filesize_limit_bytes",
    "max_filesize_limit_mb",
]
numberish = numberish_with("1080")
dateish = (
    st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats()
    | st.datetimes(timezones=st.none() | st.just(UTC)).map(lambda d: d.isoformat())
    | st.sampled_from(["2026-11-01T00:00:00Z", "2026-13-01", "Z", "0"])
)
field_value = numberish | dateish | json_values
tornado_like = st.fixed_dictionaries({}, optional={name: field_value for name in FIELDS})


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
        assert usage.field in usage.message
        return
    assert isinstance(usage, ParsedUsage)
    names = [m.name for m in usage.meters]
    assert names[:2] == ["storage", "jobs"]
    assert len(names) == len(set(names))
    for meter in usage.meters:
        assert meter.name in PROVIDER.meter_names
        assert PROVIDER.has_meter(meter.name)
        for figure in (meter.used, meter.limit, meter.remaining):
            assert figure is None or isinstance(figure, float)
        if meter.limit is None:
            assert meter.remaining is None
        else:
            assert meter.remaining is not None
            assert meter.remaining >= 0
        percent = meter.percent_used
        if percent is not None and percent > 100:
            assert meter.used is not None
            assert meter.limit is not None
            assert meter.used > meter.limit, meter
    for condition in usage.conditions:
        assert condition.name == "billing_error"
        assert condition.severity is Severity.WARNING
        assert condition.message.startswith("Tornado could not read billing information")
        assert condition.message.isprintable()
        assert "  " not in condition.message  # one line; the length is fetching's to cut
    if usage.period is not None:
        assert usage.period.start is not None or usage.period.end is not None
        for moment in (usage.period.start, usage.period.end):
            assert moment is None or moment.tzinfo is not None


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_gives_usage_or_bad_response(body: Any) -> None:
    check_parse_contract(body)


@settings(max_examples=500, deadline=None)
@given(tornado_like)
def test_tornado_shaped_json_gives_usage_or_bad_response(body: dict[str, Any]) -> None:
    check_parse_contract(body)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), field_value, max_size=len(FIELDS)))
def test_documented_keys_with_arbitrary_overrides(overrides: dict[str, Any]) -> None:
    for example in EXAMPLES:
        check_parse_contract({**example, **overrides})


def test_a_403_about_the_storage_quota_is_a_critical_condition_not_a_check_error() -> None:
    usage = read_refusal(403, QUOTA_REACHED.body)
    assert usage is not None
    assert usage.meters == ()
    (condition,) = usage.conditions
    assert condition.name == "storage_quota_reached"
    assert condition.severity is Severity.CRITICAL
    assert condition.message.startswith("Tornado refuses new jobs: Storage quota exceeded")


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"error": "Invalid API Key"}),
        (403, {"error": "Forbidden"}),  # a 403 that is not about the quota stays an auth error
        (403, None),
        (403, "quota"),
        (429, {"error": "Storage quota exceeded"}),
    ],
)
def test_other_refusals_stay_check_errors(status: int, body: object) -> None:
    assert read_refusal(status, body) is None
