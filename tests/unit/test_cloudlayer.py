"""cloudlayer.io: the documented examples, the drift the provider README warns about, and
arbitrary JSON (a parse either gives usage or a BadResponse, never anything else)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quotawatch.core.snapshot import Condition, ErrorKind, Meter, Severity
from quotawatch.providers import PROVIDERS, get_provider
from quotawatch.providers.base import ParsedUsage
from quotawatch.providers.cloudlayer import PROVIDER, parse
from quotawatch.providers.parsing import BadResponse
from quotawatch_local.fakes.cloudlayer import LIMIT_PLAN, USAGE_PLAN
from tests.unit.support import json_values, meters_by_name, numberish_with


def test_limit_plan_example_gives_the_expected_meters() -> None:
    usage = parse(LIMIT_PLAN)

    assert usage.meters == (
        Meter("calls", 842, 1000, 158, "calls"),
        Meter("output_bytes", 1073741824, 5368709120, 5368709120 - 1073741824, "bytes"),
        Meter("compute_time", 384200, 600000, 600000 - 384200, "ms"),
        Meter("storage", 52428800, 1073741824, 1073741824 - 52428800, "bytes"),
        Meter("failed_jobs", 42, None, None, "jobs"),
    )
    assert "credit" not in meters_by_name(usage)
    assert usage.conditions == ()
    assert usage.period is None  # the account endpoint gives no billing dates
    assert meters_by_name(usage)["calls"].percent_used == pytest.approx(84.2)


def test_usage_plan_example_is_unlimited_with_a_credit_balance() -> None:
    usage = parse(USAGE_PLAN)
    meters = meters_by_name(usage)

    assert list(meters) == ["calls", "output_bytes", "compute_time", "storage", "credit", "failed_jobs"]
    assert meters["calls"] == Meter("calls", 15234, None, None, "calls")
    assert meters["output_bytes"] == Meter("output_bytes", 2147483648, None, None, "bytes")
    assert meters["compute_time"] == Meter("compute_time", 720000, None, None, "ms")
    assert meters["storage"] == Meter("storage", 104857600, None, None, "bytes")
    assert meters["credit"] == Meter("credit", None, None, 4500, "credits")
    assert meters["failed_jobs"] == Meter("failed_jobs", 66, None, None, "jobs")
    # Unlimited meters and balances carry no percent: nothing to alert on by percentage.
    assert all(m.percent_used is None for m in usage.meters)
    assert usage.conditions == ()


def test_inactive_subscription_is_a_critical_condition_naming_the_plan() -> None:
    usage = parse({**LIMIT_PLAN, "subActive": False})

    assert len(usage.conditions) == 1
    condition = usage.conditions[0]
    assert condition.name == "subscription_inactive"
    assert condition.severity is Severity.CRITICAL
    assert "not active" in condition.message
    assert "price-starter-1k" in condition.message
    # The meters are still read: an inactive plan still has usage to show.
    assert meters_by_name(usage)["calls"].used == 842


def test_the_plan_name_is_passed_on_whole_on_one_line() -> None:
    """A plan name may echo the key: fetching masks it, then cuts; never cut here."""
    plan = "price-\n" + "sk_live_0123456789abcdef" * 10
    [condition] = parse({**LIMIT_PLAN, "subActive": False, "subscription": plan}).conditions
    assert condition.message == f"the cloudlayer.io subscription is not active (plan price- {plan[7:]})"


def test_inactive_subscription_without_a_plan_name() -> None:
    body = {k: v for k, v in LIMIT_PLAN.items() if k != "subscription"}
    usage = parse({**body, "subActive": "false"})

    assert usage.conditions == (
        Condition("subscription_inactive", Severity.CRITICAL, "the cloudlayer.io subscription is not active"),
    )


def test_missing_sub_active_counts_as_active() -> None:
    body = {k: v for k, v in LIMIT_PLAN.items() if k != "subActive"}
    assert parse(body).conditions == ()


def test_decimal_strings_are_accepted() -> None:
    usage = parse({**LIMIT_PLAN, "calls": "842", "callsLimit": " 1000 ", "storageUsed": "52428800.0"})
    meters = meters_by_name(usage)

    assert meters["calls"] == Meter("calls", 842, 1000, 158, "calls")
    assert meters["storage"].used == 52428800


@pytest.mark.parametrize("sentinel", [-1, -1.0, "-1", None, 10**18, 1e300, "1e20"])
def test_unlimited_sentinels_give_no_limit(sentinel: Any) -> None:
    usage = parse({**LIMIT_PLAN, "callsLimit": sentinel})
    calls = meters_by_name(usage)["calls"]

    assert calls.limit is None
    assert calls.remaining is None
    assert calls.percent_used is None
    assert calls.used == 842


def test_missing_limit_field_is_unlimited() -> None:
    body = {k: v for k, v in LIMIT_PLAN.items() if k != "bytesLimit"}
    assert meters_by_name(parse(body))["output_bytes"].limit is None


def test_used_above_limit_reports_no_negative_remaining() -> None:
    calls = meters_by_name(parse({**LIMIT_PLAN, "calls": 1200}))["calls"]

    assert calls.remaining == 0
    assert calls.percent_used == pytest.approx(120.0)


def test_unknown_fields_are_ignored() -> None:
    assert parse({**LIMIT_PLAN, "newField": {"nested": [1, 2]}, "another": None}) == parse(LIMIT_PLAN)


def test_missing_calls_is_a_bad_response_naming_the_field() -> None:
    body = {k: v for k, v in LIMIT_PLAN.items() if k != "calls"}

    with pytest.raises(BadResponse, match="calls") as caught:
        parse(body)
    assert caught.value.kind is ErrorKind.BAD_RESPONSE
    assert caught.value.field == "calls"


def test_usage_plan_without_credit_is_a_bad_response_naming_credit() -> None:
    body = {k: v for k, v in USAGE_PLAN.items() if k != "credit"}

    with pytest.raises(BadResponse, match="credit") as caught:
        parse(body)
    assert caught.value.field == "credit"


def test_limit_plan_with_a_credit_field_reports_it() -> None:
    credit = meters_by_name(parse({**LIMIT_PLAN, "credit": 12}))["credit"]
    assert credit == Meter("credit", None, None, 12, "credits")


@pytest.mark.parametrize(
    ("field", "value"),
    [("calls", "lots"), ("calls", True), ("storageUsed", [1]), ("callsLimit", "unlimited"), ("subActive", "maybe")],
)
def test_wrong_types_name_the_field(field: str, value: Any) -> None:
    with pytest.raises(BadResponse, match=field):
        parse({**LIMIT_PLAN, field: value})


@pytest.mark.parametrize("field", ["calls", "callsLimit", "credit", "errorJobs"])
def test_integers_beyond_float_range_are_a_bad_response_not_a_crash(field: str) -> None:
    with pytest.raises(BadResponse, match=field):
        parse({**USAGE_PLAN, field: 10**400})


@pytest.mark.parametrize("body", [[1, 2, 3], "ok", None, 42])
def test_a_body_that_is_not_an_object_is_a_bad_response(body: Any) -> None:
    with pytest.raises(BadResponse, match="not a JSON object"):
        parse(body)


def test_provider_declaration() -> None:
    assert get_provider("cloudlayer") is PROVIDER
    assert PROVIDERS["cloudlayer"] is PROVIDER
    assert get_provider("acme") is None
    assert PROVIDER.url() == "https://api.cloudlayer.io/v2/account"
    assert PROVIDER.url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080/v2/account"
    assert PROVIDER.auth_headers("k-1") == {"X-API-Key": "k-1"}
    # Every meter the parser can produce is declared (config validates `meters:` against this list).
    produced = {m.name for m in parse(LIMIT_PLAN).meters} | {m.name for m in parse(USAGE_PLAN).meters}
    assert produced == set(PROVIDER.meter_names)


# --- arbitrary JSON ------------------------------------------------------------------------

FIELDS = [
    "calls",
    "callsLimit",
    "bytesTotal",
    "bytesLimit",
    "computeTimeTotal",
    "computeTimeLimit",
    "storageUsed",
    "storageLimit",
    "credit",
    "errorJobs",
    "subType",
    "subActive",
    "subscription",
]
numberish = numberish_with("usage", "limit")
field_value = numberish | json_values
cloudlayer_like = st.fixed_dictionaries({}, optional={name: field_value for name in FIELDS})


def parse_or_error(body: Any) -> ParsedUsage | BadResponse:
    """Anything else (another exception) propagates and fails the test."""
    try:
        return parse(body)
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
    for meter in usage.meters:
        assert meter.name in PROVIDER.meter_names
        percent = meter.percent_used
        if percent is not None and percent > 100:
            assert meter.used is not None
            assert meter.limit is not None
            assert meter.used > meter.limit, meter
        for figure in (meter.used, meter.limit, meter.remaining):
            assert figure is None or isinstance(figure, float)
        if meter.remaining is not None and meter.limit is not None:
            assert meter.remaining >= 0


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_gives_usage_or_bad_response(body: Any) -> None:
    check_parse_contract(body)


@settings(max_examples=500, deadline=None)
@given(cloudlayer_like)
def test_cloudlayer_shaped_json_gives_usage_or_bad_response(body: dict[str, Any]) -> None:
    check_parse_contract(body)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), field_value, max_size=len(FIELDS)))
def test_documented_example_with_arbitrary_overrides(overrides: dict[str, Any]) -> None:
    check_parse_contract({**LIMIT_PLAN, **overrides})
    check_parse_contract({**USAGE_PLAN, **overrides})
