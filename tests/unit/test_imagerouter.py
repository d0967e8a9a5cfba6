"""ImageRouter: the documented examples, spend windows, lifetime caps, key expiry, the drift
the provider README warns about, and arbitrary JSON (usage or a BadResponse, nothing else)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quotawatch.core.snapshot import Condition, ErrorKind, Meter, Severity
from quotawatch.providers.base import ParsedUsage
from quotawatch.providers.imagerouter import PROVIDER, parse
from quotawatch.providers.parsing import BadResponse
from quotawatch_local.fakes.imagerouter import BY_API_KEY, CREDITS_ONLY, PRODUCTION_KEY, WEB_TOKEN
from tests.unit.support import json_values, meters_by_name, numberish_with

# Inside the documented example's spend window (May 2026), long before its key expires.
NOW = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)  # a Wednesday
PROD = "key:Production Key"


def account(*keys: Any, **fields: Any) -> dict[str, Any]:
    return {**CREDITS_ONLY, "usage_by_api_key": list(keys), **fields}


def key(**fields: Any) -> dict[str, Any]:
    return {**PRODUCTION_KEY, **fields}


def key_meter(body: dict[str, Any], now: datetime = NOW, name: str = PROD) -> Meter:
    return meters_by_name(parse(body, now))[name]


def bad_field(body: Any, now: datetime = NOW) -> str:
    with pytest.raises(BadResponse) as caught:
        parse(body, now)
    assert caught.value.kind is ErrorKind.BAD_RESPONSE
    assert caught.value.field
    assert caught.value.field in caught.value.message
    return caught.value.field


# --- the documented examples --------------------------------------------------------------------


def test_credits_example_gives_the_credit_meter_only() -> None:
    usage = parse(CREDITS_ONLY, NOW)

    assert usage.meters == (Meter("credit", 4.5, 30.0, 25.5, "USD"),)
    assert usage.conditions == ()
    assert usage.period is None
    assert usage.meters[0].percent_used == pytest.approx(15.0)


def test_by_api_key_example_gives_credit_and_the_capped_key() -> None:
    usage = parse(BY_API_KEY, NOW)

    assert usage.meters == (
        Meter("credit", 4.5, 30.0, 25.5, "USD"),
        Meter(PROD, 1.2, 5.0, 3.8, "USD"),
    )
    assert usage.conditions == ()  # expires 2027-01-01, far away; the web token is no key of the user's
    assert usage.period is None  # windows are per key
    assert meters_by_name(usage)[PROD].percent_used == pytest.approx(24.0)


def test_the_web_token_alone_gives_nothing_even_if_it_looked_capped_or_expiring() -> None:
    token = {**WEB_TOKEN, "is_active": True, "spend_limit": "1.0", "expires_at": "2026-05-21T00:00:00Z"}

    assert parse(account(WEB_TOKEN), NOW) == parse(CREDITS_ONLY, NOW)
    assert parse(account(token), NOW) == parse(CREDITS_ONLY, NOW)


def test_keys_without_a_spend_limit_give_no_meter() -> None:
    usage = parse(account(key(spend_limit=None), key(api_key_name="Other", spend_limit=None)), NOW)
    assert [m.name for m in usage.meters] == ["credit"]


def test_missing_or_null_breakdown_is_just_the_credit_meter() -> None:
    assert parse({**CREDITS_ONLY, "usage_by_api_key": None}, NOW) == parse(CREDITS_ONLY, NOW)
    assert parse(account(), NOW) == parse(CREDITS_ONLY, NOW)


def test_numbers_as_json_numbers_work_like_decimal_strings() -> None:
    body = account(key(spend_limit=5, period_spend=1.2), remaining_credits=25.5, credit_usage=4.5, total_deposits=30)
    assert parse(body, NOW) == parse(BY_API_KEY, NOW)


def test_unknown_fields_are_ignored() -> None:
    body = account(key(new_field={"x": [1]}), WEB_TOKEN, another=None)
    assert parse(body, NOW) == parse(BY_API_KEY, NOW)


# --- the credit meter ---------------------------------------------------------------------------


def test_credit_usage_is_derived_from_deposits_and_balance_when_missing() -> None:
    body = {"remaining_credits": "25.47", "total_deposits": "30.0000"}
    assert parse(body, NOW).meters == (Meter("credit", 4.53, 30.0, 25.47, "USD"),)


def test_deposits_are_derived_from_usage_and_balance_when_missing() -> None:
    body = {"remaining_credits": "25.5000", "credit_usage": "4.5000"}
    assert parse(body, NOW).meters == (Meter("credit", 4.5, 30.0, 25.5, "USD"),)


def test_balance_alone_is_a_balance_meter() -> None:
    assert parse({"remaining_credits": "3"}, NOW).meters == (Meter("credit", None, None, 3.0, "USD"),)


def test_balance_above_deposits_never_reads_as_negative_usage() -> None:
    body = {"remaining_credits": "1.0", "total_deposits": "0"}  # e.g. free credit, no deposit yet
    credit = parse(body, NOW).meters[0]
    assert credit == Meter("credit", 0.0, 0.0, 1.0, "USD")
    assert credit.percent_used is None


# --- spend windows -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "now", "current", "previous"),
    [
        # day: from 00:00 UTC
        ("day", NOW, "2026-05-20T00:00:00.000Z", "2026-05-19T00:00:00.000Z"),
        # week: from Monday 00:00 UTC (2026-05-18 is a Monday)
        ("week", NOW, "2026-05-18T00:00:00.000Z", "2026-05-11T00:00:00.000Z"),
        ("week", datetime(2026, 5, 24, 23, 59, tzinfo=UTC), "2026-05-18T00:00:00Z", "2026-05-17T23:59:59Z"),
        # month: from the 1st
        ("month", NOW, "2026-05-01T00:00:00.000Z", "2026-04-01T00:00:00.000Z"),
        # a window that has just turned: the old spend no longer counts
        ("month", datetime(2026, 6, 1, 0, 0, tzinfo=UTC), "2026-06-01T00:00:00.000Z", "2026-05-01T00:00:00.000Z"),
        ("day", datetime(2026, 5, 21, 0, 0, 1, tzinfo=UTC), "2026-05-21T00:00:00Z", "2026-05-20T23:59:59Z"),
    ],
)
def test_spend_counts_only_in_the_current_window(period: str, now: datetime, current: str, previous: str) -> None:
    this_window = key_meter(account(key(spend_limit_period=period, period_start=current, period_spend="4.8")), now)
    assert this_window == Meter(PROD, 4.8, 5.0, 0.2, "USD")
    assert this_window.percent_used == pytest.approx(96.0)

    # The key has not spent since the reset: the reported figure is the last window's.
    last_window = key_meter(account(key(spend_limit_period=period, period_start=previous, period_spend="4.8")), now)
    assert last_window == Meter(PROD, 0.0, 5.0, 5.0, "USD")


@pytest.mark.parametrize("period", ["Month", " monthly ", "MONTH"])
def test_window_names_are_read_liberally(period: str) -> None:
    body = account(key(spend_limit_period=period, period_start="2026-04-01T00:00:00Z"))
    assert key_meter(body).used == 0.0


def test_period_start_as_epoch_seconds_or_milliseconds() -> None:
    this_month = int(datetime(2026, 5, 1, tzinfo=UTC).timestamp())
    last_month = int(datetime(2026, 4, 1, tzinfo=UTC).timestamp())

    assert key_meter(account(key(period_start=this_month))).used == 1.2
    assert key_meter(account(key(period_start=this_month * 1000))).used == 1.2
    assert key_meter(account(key(period_start=last_month))).used == 0.0


@pytest.mark.parametrize("period_start", [None, "", "2026-05-25T00:00:00Z"])
def test_no_or_future_period_start_takes_the_spend_as_reported(period_start: Any) -> None:
    assert key_meter(account(key(period_start=period_start))).used == 1.2


@pytest.mark.parametrize("period", ["year", "hour", 7, ["month"]])
def test_an_unknown_window_takes_the_spend_as_reported(period: Any) -> None:
    body = account(key(spend_limit_period=period, period_start="2020-01-01T00:00:00Z"))
    assert key_meter(body) == Meter(PROD, 1.2, 5.0, 3.8, "USD")


def test_spend_over_the_cap_leaves_nothing_not_a_negative_remainder() -> None:
    meter = key_meter(account(key(period_spend="5.2500")))
    assert meter == Meter(PROD, 5.25, 5.0, 0.0, "USD")
    assert meter.percent_used == pytest.approx(105.0)


def test_remainders_carry_no_float_noise() -> None:
    assert key_meter(account(key(period_spend="4.1"))).remaining == 0.9


@pytest.mark.parametrize("cap", [-1, "-1", 10**18, "1e20"])
def test_an_unlimited_cap_is_no_cap(cap: Any) -> None:
    assert PROD not in meters_by_name(parse(account(key(spend_limit=cap)), NOW))


def test_a_zero_cap_is_a_meter_without_a_percent() -> None:
    meter = key_meter(account(key(spend_limit="0", period_spend="0")))
    assert meter == Meter(PROD, 0.0, 0.0, 0.0, "USD")
    assert meter.percent_used is None


def test_inactive_capped_keys_still_have_their_meter() -> None:
    assert key_meter(account(key(is_active=False))).used == 1.2


# --- lifetime caps ------------------------------------------------------------------------------


def lifetime(**fields: Any) -> dict[str, Any]:
    return key(spend_limit="10.0000", spend_limit_period=None, period_spend="4.2000", period_start=None, **fields)


def test_lifetime_cap_counts_all_spend() -> None:
    assert key_meter(account(lifetime())) == Meter(PROD, 4.2, 10.0, 5.8, "USD")


def test_lifetime_cap_ignores_dates_however_old() -> None:
    body = account(key(**{**lifetime(), "period_start": "2020-01-01T00:00:00Z"}))
    assert key_meter(body, datetime(2030, 1, 1, tzinfo=UTC)).used == 4.2


def test_lifetime_cap_without_period_spend_uses_the_keys_credit_usage() -> None:
    assert key_meter(account(key(**{**lifetime(), "period_spend": None}))).used == 4.2
    entry = {k: v for k, v in lifetime().items() if k != "period_spend"}
    assert key_meter(account(entry)).used == 4.2


def test_lifetime_cap_without_any_spend_figure_names_period_spend() -> None:
    entry = {k: v for k, v in lifetime().items() if k not in ("period_spend", "credit_usage")}
    assert bad_field(account(entry)) == "usage_by_api_key[0].period_spend"


# --- key expiry ---------------------------------------------------------------------------------

EXPIRES = datetime(2027, 1, 1, tzinfo=UTC)


def expiry_at(now: datetime, **fields: Any) -> tuple[Condition, ...]:
    return parse(account(key(**fields)), now).conditions


def test_expiry_message_names_the_key_and_the_date() -> None:
    assert expiry_at(datetime(2026, 12, 23, tzinfo=UTC)) == (
        Condition(
            "key_expiring:Production Key",
            Severity.WARNING,
            "API key 'Production Key' expires on 2027-01-01 (in 9 days)",
        ),
    )


@pytest.mark.parametrize(
    ("left", "severity"),
    [
        (timedelta(days=30), None),
        (timedelta(days=14, seconds=1), None),
        (timedelta(days=14), Severity.WARNING),
        (timedelta(days=10), Severity.WARNING),
        (timedelta(days=3, seconds=1), Severity.WARNING),
        (timedelta(days=3), Severity.CRITICAL),
        (timedelta(hours=1), Severity.CRITICAL),
        (timedelta(0), Severity.CRITICAL),
        (-timedelta(days=5), Severity.CRITICAL),
    ],
)
def test_expiry_thresholds(left: timedelta, severity: Severity | None) -> None:
    conditions = expiry_at(EXPIRES - left)
    if severity is None:
        assert conditions == ()
    else:
        [condition] = conditions
        assert condition.name == "key_expiring:Production Key"
        assert condition.severity is severity
        assert "Production Key" in condition.message
        assert "2027-01-01" in condition.message


@pytest.mark.parametrize(
    ("now", "text"),
    [
        (datetime(2026, 12, 31, 9, 0, tzinfo=UTC), "expires on 2027-01-01 (tomorrow)"),
        (datetime(2026, 12, 29, 23, 0, tzinfo=UTC), "expires on 2027-01-01 (in 3 days)"),
        (datetime(2027, 1, 1, 0, 0, tzinfo=UTC), "expired on 2027-01-01 (today)"),
        (datetime(2027, 1, 2, 8, 0, tzinfo=UTC), "expired on 2027-01-01 (yesterday)"),
        (datetime(2027, 1, 11, tzinfo=UTC), "expired on 2027-01-01 (10 days ago)"),
    ],
)
def test_expiry_wording(now: datetime, text: str) -> None:
    [condition] = expiry_at(now)
    assert text in condition.message
    assert condition.message.startswith("API key 'Production Key' ")


def test_expiry_at_a_time_of_day_gives_the_time() -> None:
    [condition] = expiry_at(datetime(2026, 6, 1, 9, 0, tzinfo=UTC), expires_at="2026-06-01T15:30:00Z")
    assert condition.message == "API key 'Production Key' expires on 2026-06-01 15:30 UTC (today)"
    assert condition.severity is Severity.CRITICAL


def test_expiry_is_judged_in_utc_whatever_the_offsets() -> None:
    now = datetime(2026, 12, 23, 1, 0, tzinfo=timezone(timedelta(hours=2)))  # 2026-12-22 23:00 UTC
    [condition] = expiry_at(now, expires_at="2027-01-01T02:00:00+02:00")
    assert condition.message == "API key 'Production Key' expires on 2027-01-01 (in 10 days)"


def test_expiry_as_epoch_seconds() -> None:
    [condition] = expiry_at(datetime(2026, 12, 23, tzinfo=UTC), expires_at=int(EXPIRES.timestamp()))
    assert "2027-01-01 (in 9 days)" in condition.message


@pytest.mark.parametrize("inactive", [False, "false"])
def test_inactive_keys_are_not_judged_for_expiry(inactive: Any) -> None:
    assert expiry_at(EXPIRES - timedelta(days=1), is_active=inactive) == ()


def test_a_key_without_is_active_counts_as_active() -> None:
    entry = {k: v for k, v in PRODUCTION_KEY.items() if k != "is_active"}
    assert len(parse(account(entry), EXPIRES - timedelta(days=1)).conditions) == 1


@pytest.mark.parametrize("never", [None, ""])
def test_keys_that_never_expire_give_no_condition(never: Any) -> None:
    assert expiry_at(EXPIRES, expires_at=never) == ()


def test_an_uncapped_key_can_still_be_expiring() -> None:
    usage = parse(account(key(spend_limit=None)), EXPIRES - timedelta(days=2))
    assert [m.name for m in usage.meters] == ["credit"]
    assert [c.name for c in usage.conditions] == ["key_expiring:Production Key"]


def test_two_expiring_keys_are_two_conditions() -> None:
    body = account(key(), key(api_key_id="k-2", api_key_name="Staging Key", expires_at="2026-12-31T00:00:00Z"))
    usage = parse(body, datetime(2026, 12, 30, tzinfo=UTC))

    assert [(c.name, c.severity) for c in usage.conditions] == [
        ("key_expiring:Production Key", Severity.CRITICAL),
        ("key_expiring:Staging Key", Severity.CRITICAL),
    ]
    assert [m.name for m in usage.meters] == ["credit", PROD, "key:Staging Key"]


# --- naming keys ---------------------------------------------------------------------------------


def test_a_key_without_a_name_is_named_by_its_id() -> None:
    for nameless in (key(api_key_name=None), key(api_key_name="  "), {**PRODUCTION_KEY, "api_key_name": 12}):
        usage = parse(account(nameless), EXPIRES - timedelta(days=1))
        expected = "12" if nameless["api_key_name"] == 12 else PRODUCTION_KEY["api_key_id"]
        assert [m.name for m in usage.meters] == ["credit", f"key:{expected}"]
        assert [c.name for c in usage.conditions] == [f"key_expiring:{expected}"]


def test_an_id_too_long_to_print_is_no_name() -> None:
    body = account(key(api_key_name=None, api_key_id=10**5000))
    assert bad_field(body) == "usage_by_api_key[0].api_key_name"


def test_names_are_one_line() -> None:
    assert key_meter(account(key(api_key_name=" Production\n  Key ")), name=PROD).used == 1.2


def test_names_are_passed_on_whole_with_unprintables_made_spaces() -> None:
    """A key's name may be the key itself: fetching masks names (and keeps them unique)."""
    name = "sk_live_0123456789abcdef\x00\x1b" * 8
    [_, meter] = parse(account(key(api_key_name=name)), NOW).meters
    assert meter.name == "key:" + " ".join(name.replace("\x00", " ").replace("\x1b", " ").split())


def test_keys_sharing_a_name_are_told_apart_by_id() -> None:
    body = account(key(api_key_id="a-1"), key(api_key_id="b-2"))
    names = [m.name for m in parse(body, NOW).meters]
    assert names == ["credit", "key:Production Key (a-1)", "key:Production Key (b-2)"]


def test_keys_sharing_a_name_and_an_id_are_told_apart_by_position() -> None:
    names = [m.name for m in parse(account(WEB_TOKEN, key(), key()), NOW).meters]
    same = f"{PROD} ({PRODUCTION_KEY['api_key_id']})"
    assert names == ["credit", f"{same} #2", f"{same} #3"]  # positions in usage_by_api_key


def test_a_keys_name_does_not_change_when_a_namesake_starts_to_expire() -> None:
    namesake = key(api_key_id="b-2", spend_limit=None, expires_at="2026-06-10T00:00:00Z")
    body = account(key(api_key_id="a-1"), namesake)

    later = parse(body, datetime(2026, 6, 1, tzinfo=UTC))
    assert [m.name for m in parse(body, NOW).meters] == [m.name for m in later.meters]
    assert [m.name for m in later.meters] == ["credit", "key:Production Key (a-1)"]
    assert [c.name for c in later.conditions] == ["key_expiring:Production Key (b-2)"]


def test_a_capped_key_with_neither_name_nor_id_names_the_field() -> None:
    assert bad_field(account(WEB_TOKEN, key(api_key_name=None, api_key_id=None))) == "usage_by_api_key[1].api_key_name"


def test_an_anonymous_key_that_needs_no_meter_or_condition_is_fine() -> None:
    anonymous = key(api_key_name=None, api_key_id=None, spend_limit=None, expires_at=None)
    assert parse(account(anonymous), NOW) == parse(CREDITS_ONLY, NOW)


# --- what a meter needs is missing or wrong -------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({k: v for k, v in CREDITS_ONLY.items() if k != "remaining_credits"}, "remaining_credits"),
        ({**CREDITS_ONLY, "remaining_credits": "lots"}, "remaining_credits"),
        ({**CREDITS_ONLY, "credit_usage": True}, "credit_usage"),
        ({**CREDITS_ONLY, "total_deposits": [30]}, "total_deposits"),
        ({**CREDITS_ONLY, "total_deposits": 10**400}, "total_deposits"),
        ({**CREDITS_ONLY, "usage_by_api_key": {"0": PRODUCTION_KEY}}, "usage_by_api_key"),
        ({**CREDITS_ONLY, "usage_by_api_key": "none"}, "usage_by_api_key"),
        (account("Production Key"), "usage_by_api_key[0]"),
        (account(WEB_TOKEN, None), "usage_by_api_key[1]"),
        (account(key(spend_limit="five")), "usage_by_api_key[0].spend_limit"),
        (account(key(spend_limit={"usd": 5})), "usage_by_api_key[0].spend_limit"),
        (account(WEB_TOKEN, key(spend_limit=True)), "usage_by_api_key[1].spend_limit"),
        (account(key(period_spend=None)), "usage_by_api_key[0].period_spend"),
        (account(key(period_spend="1,20")), "usage_by_api_key[0].period_spend"),
        (account(key(period_start="last month")), "usage_by_api_key[0].period_start"),
        (account(key(expires_at="soon")), "usage_by_api_key[0].expires_at"),
        (account(key(expires_at=10**30)), "usage_by_api_key[0].expires_at"),
        (account(key(expires_at="0001-01-01T00:00:00+05:00")), "usage_by_api_key[0].expires_at"),
        (account(key(period_start="0001-01-01T00:00:00+05:00")), "usage_by_api_key[0].period_start"),
        (account(key(is_active="maybe")), "usage_by_api_key[0].is_active"),
    ],
)
def test_missing_or_wrong_pieces_name_the_field_path(body: Any, field: str) -> None:
    assert bad_field(body) == field


def test_a_missing_spend_in_a_stale_window_does_not_matter() -> None:
    body = account(key(period_spend=None, period_start="2026-04-01T00:00:00Z"))
    assert key_meter(body).used == 0.0


def test_fields_no_meter_or_condition_needs_are_not_judged() -> None:
    # Garbage where nothing depends on it: an uncapped, never-expiring key; an inactive key's expiry.
    body = account(
        key(spend_limit=None, expires_at=None, period_spend="n/a", period_start="?", created_at="x"),
        key(api_key_name="Old", spend_limit=None, is_active=False, expires_at="whenever"),
    )
    assert parse(body, NOW) == parse(CREDITS_ONLY, NOW)


@pytest.mark.parametrize("body", [[1, 2, 3], "ok", None, 42])
def test_a_body_that_is_not_an_object_is_a_bad_response(body: Any) -> None:
    with pytest.raises(BadResponse, match="not a JSON object"):
        parse(body, NOW)


def test_a_naive_check_time_is_taken_as_utc() -> None:
    assert parse(BY_API_KEY, NOW.replace(tzinfo=None)) == parse(BY_API_KEY, NOW)


# --- the declaration ----------------------------------------------------------------------------


def test_provider_declaration() -> None:
    assert PROVIDER.name == "imagerouter"
    assert PROVIDER.display_name == "ImageRouter"
    assert PROVIDER.url() == "https://api.imagerouter.io/v1/credits?by_api_key=true"
    assert PROVIDER.url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080/v1/credits?by_api_key=true"
    assert PROVIDER.auth_headers("ir-1") == {"Authorization": "Bearer ir-1"}
    assert PROVIDER.meter_names == ("credit", "key:*")
    for name in ("credit", PROD, "key:x", "key:Production Key (a-1) #2"):
        assert PROVIDER.has_meter(name)
    for name in ("key:", "key", "calls", "credits", "keys:x"):
        assert not PROVIDER.has_meter(name)


# --- arbitrary JSON ------------------------------------------------------------------------------

numberish = numberish_with("5.0000")
offsets = st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12, minutes=-30))])
dateish = (
    st.datetimes(timezones=offsets).map(lambda d: d.isoformat().replace("+00:00", "Z"))
    | st.integers(min_value=-(10**14), max_value=10**14)
    | st.floats()
    | st.sampled_from([None, "", "2027-01-01T00:00:00.000Z", "2026-05-01", "yesterday", "2026-13-01T00:00:00Z"])
    | st.sampled_from(["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "0001-01-01", "9999-12-31"])
)
textish = st.none() | st.text(max_size=12) | st.integers() | st.sampled_from(["temp_jwt", "Production Key", " "])
KEY_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "api_key_id": textish,
    "api_key_name": textish,
    "credit_usage": numberish,
    "is_active": st.booleans() | st.sampled_from(["true", "false", "yes", None, 1]),
    "spend_limit": numberish,
    "spend_limit_period": st.sampled_from(["day", "week", "month", None, "Monthly", "year", "", 3]),
    "period_spend": numberish,
    "period_start": dateish,
    "expires_at": dateish,
}
key_like = st.fixed_dictionaries({}, optional={name: s | json_values for name, s in KEY_FIELDS.items()})
imagerouter_like = st.fixed_dictionaries(
    {},
    optional={
        "remaining_credits": numberish | json_values,
        "credit_usage": numberish | json_values,
        "total_deposits": numberish | json_values,
        "usage_by_api_key": st.none() | st.lists(key_like | json_values, max_size=4) | json_values,
    },
)
check_times: st.SearchStrategy[datetime] = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
) | st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1))  # naive: taken as UTC


def parse_or_error(body: Any, now: datetime) -> ParsedUsage | BadResponse:
    """Anything else (another exception) propagates and fails the test."""
    try:
        return parse(body, now)
    except BadResponse as exc:
        return exc


def check_parse_contract(body: Any, now: datetime = NOW) -> None:
    usage = parse_or_error(body, now)
    if isinstance(usage, BadResponse):
        assert usage.kind is ErrorKind.BAD_RESPONSE
        assert usage.field
        assert usage.field in usage.message
        return
    assert isinstance(usage, ParsedUsage)
    assert usage.period is None
    assert usage.meters[0].name == "credit"
    names = [m.name for m in usage.meters]
    assert len(set(names)) == len(names)
    for meter in usage.meters:
        assert PROVIDER.has_meter(meter.name), meter.name
        assert meter.unit == "USD"
        for figure in (meter.used, meter.limit, meter.remaining):
            assert figure is None or isinstance(figure, float)
        if meter.name.startswith("key:"):
            assert meter.used is not None
            assert meter.limit is not None
            assert meter.remaining is not None
            assert meter.limit >= 0
            assert meter.remaining >= 0
    condition_names = [c.name for c in usage.conditions]
    assert len(set(condition_names)) == len(condition_names)
    for condition in usage.conditions:
        assert condition.name.startswith("key_expiring:")
        assert len(condition.name) > len("key_expiring:")
        assert condition.severity in (Severity.WARNING, Severity.CRITICAL)
        assert condition.message.startswith("API key '")


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_gives_usage_or_bad_response(body: Any) -> None:
    check_parse_contract(body)


@settings(max_examples=500, deadline=None)
@given(imagerouter_like, check_times)
def test_imagerouter_shaped_json_gives_usage_or_bad_response(body: dict[str, Any], now: datetime) -> None:
    check_parse_contract(body, now)


@settings(max_examples=300, deadline=None)
@given(st.lists(key_like, max_size=4), check_times)
def test_documented_example_with_arbitrary_keys(keys: list[dict[str, Any]], now: datetime) -> None:
    check_parse_contract({**BY_API_KEY, "usage_by_api_key": [*BY_API_KEY["usage_by_api_key"], *keys]}, now)
    check_parse_contract({**CREDITS_ONLY, "usage_by_api_key": [{**PRODUCTION_KEY, **k} for k in keys]}, now)
