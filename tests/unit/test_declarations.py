"""The declaration language: what each field means, and the errors a wrong one gets.

The catalogue's entries are tested against their documented answers in test_catalogue.py;
the four first providers keep their own suites (test_cloudlayer.py...), now run against
their declarations. Here: the rules a user writing their own declaration relies on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from quotawatch.core.snapshot import Condition, Meter, Period, Severity
from quotawatch.providers.base import Provider
from quotawatch.providers.catalogue import CODED
from quotawatch.providers.declaration import DeclarationError, declare
from quotawatch.providers.parsing import BadResponse, monthly_period

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
BASE: dict[str, Any] = {
    "name": "acme",
    "url": "https://api.acme.example/v1/usage",
    "auth": "Authorization: Bearer {key}",
    "meters": {"calls": {"used": "calls.used", "limit": "calls.limit", "unit": "calls"}},
}


def provider(**changes: Any) -> Provider:
    return declare({**BASE, **changes}, "acme.yaml", coded=CODED)


def problem(**changes: Any) -> str:
    with pytest.raises(DeclarationError) as caught:
        declare({**BASE, **changes}, "acme.yaml", coded=CODED)
    message = str(caught.value)
    assert message.isprintable()
    assert len(message) <= 400
    return message


def meters(p: Provider, body: Any) -> list[Meter]:
    return list(p.parse(body, NOW).meters)


# --- figures ------------------------------------------------------------------------------------


def test_used_and_limit_give_remaining() -> None:
    assert meters(provider(), {"calls": {"used": 842, "limit": "1000"}}) == [Meter("calls", 842, 1000, 158, "calls")]


@pytest.mark.parametrize("limit", [None, -1, 1e15])
def test_the_usual_unlimited_values_leave_nothing_to_count_down(limit: Any) -> None:
    assert meters(provider(), {"calls": {"used": 5, "limit": limit}}) == [Meter("calls", 5, None, None, "calls")]


def test_declared_unlimited_values_replace_the_usual_ones() -> None:
    p = provider(meters={"calls": {"used": "u", "limit": "l", "unit": "calls", "unlimited": [0]}})
    assert meters(p, {"u": 5, "l": 0}) == [Meter("calls", 5, None, None, "calls")]
    with pytest.raises(BadResponse, match="field 'l' is missing"):
        p.parse({"u": 5}, NOW)  # null is not among them: a missing limit is a bad answer


@pytest.mark.parametrize(
    ("figures", "body", "expected"),
    [
        ({"used": "u", "remaining": "r"}, {"u": 30, "r": 70}, (30, 100, 70)),  # limit = used + remaining
        ({"limit": "l", "remaining": "r"}, {"l": 100, "r": 70}, (30, 100, 70)),  # used = limit - remaining
        ({"used": "u", "limit": "l", "remaining": "r"}, {"u": 130, "l": 100, "r": -30}, (130, 100, 0)),
        ({"remaining": "r"}, {"r": -2.5}, (None, None, -2.5)),  # a balance, as reported
    ],
)
def test_any_two_figures_give_the_third(figures: dict[str, str], body: Any, expected: tuple[Any, ...]) -> None:
    p = provider(meters={"m": {**figures, "unit": "USD"}})
    [meter] = meters(p, body)
    assert (meter.used, meter.limit, meter.remaining) == expected


def test_scale_turns_cents_into_dollars() -> None:
    p = provider(meters={"spend": {"used": "cents", "limit": "cap", "unit": "USD", "scale": 0.01}})
    assert meters(p, {"cents": 1250, "cap": 5000}) == [Meter("spend", 12.5, 50.0, 37.5, "USD")]


def test_a_missing_figure_names_the_first_missing_step_of_its_path() -> None:
    with pytest.raises(BadResponse) as caught:
        provider().parse({"other": 1}, NOW)
    assert (caught.value.field, caught.value.message) == ("calls", "field 'calls' is missing")
    with pytest.raises(BadResponse, match="calls is not a JSON object"):
        provider().parse({"calls": [1]}, NOW)
    with pytest.raises(BadResponse, match=r"field 'calls\.used' is not a number"):
        provider().parse({"calls": {"used": True}}, NOW)


def test_an_optional_meter_is_left_out_when_absent_and_read_when_there() -> None:
    p = provider(meters={**BASE["meters"], "jobs": {"used": "jobs", "unit": "jobs", "optional": True}})
    assert [m.name for m in meters(p, {"calls": {"used": 1, "limit": 9}})] == ["calls"]
    assert [m.name for m in meters(p, {"calls": {"used": 1, "limit": 9}, "jobs": 4})] == ["calls", "jobs"]


def test_a_limit_path_that_names_no_field_is_an_error_not_unlimited() -> None:
    with pytest.raises(BadResponse) as caught:
        provider().parse({"calls": {"used": 5, "limti": 10}}, NOW)
    assert caught.value.message == "field 'calls.limit' is missing"
    # Present and null: no limit, as the usual unlimited values say; absent only where declared.
    assert meters(provider(), {"calls": {"used": 5, "limit": None}}) == [Meter("calls", 5, None, None, "calls")]
    optional = provider(meters={"calls": {**BASE["meters"]["calls"], "optional": ["limit"]}})
    assert meters(optional, {"calls": {"used": 5}}) == [Meter("calls", 5, None, None, "calls")]


def test_optional_may_be_an_expression_on_the_answer() -> None:
    p = provider(meters={"credit": {"remaining": "credit", "unit": "credits", "optional": "plan != 'usage'"}})
    assert meters(p, {"plan": "limit"}) == []
    with pytest.raises(BadResponse, match="credit"):
        p.parse({"plan": "usage"}, NOW)


def test_a_family_is_one_meter_per_item() -> None:
    p = provider(meters={"balance:*": {"each": "balances", "key": "id", "remaining": "amount", "unit": "USD"}})
    body = {"balances": [{"id": "b-1", "amount": 12.5}, {"id": 7, "amount": "3"}]}
    assert meters(p, body) == [Meter("balance:b-1", None, None, 12.5, "USD"), Meter("balance:7", None, None, 3, "USD")]
    assert p.has_meter("balance:b-1")
    with pytest.raises(BadResponse, match=r"balances\[1\]"):
        p.parse({"balances": [{"id": "a", "amount": 1}, {"amount": 2}]}, NOW)


def test_a_family_adds_up_a_repeated_name_only_where_it_counts() -> None:
    days = {
        "data": [{"results": [{"model": "m", "n": 2}, {"model": "k", "n": 1}]}, {"results": [{"model": "m", "n": 3}]}]
    }
    counts = provider(meters={"tokens:*": {"each": "data[].results[]", "key": "model", "used": "n", "unit": "tokens"}})
    assert meters(counts, days) == [
        Meter("tokens:m", 5, None, None, "tokens"),
        Meter("tokens:k", 1, None, None, "tokens"),
    ]
    # Against a limit a sum means nothing: each item stays its own meter, as before.
    balances = provider(
        meters={"left:*": {"each": "data[].results[]", "key": "model", "remaining": "n", "unit": "USD"}}
    )
    assert [m.remaining for m in meters(balances, days)] == [2, 1, 3]


@pytest.mark.parametrize(
    ("given", "unit"), [("EUR", "EUR"), ("eur", "EUR"), (" GB ", "GB"), ("hour", "hour"), ("US$", "USD"), (None, "USD")]
)
def test_the_unit_may_come_from_the_answer(given: Any, unit: str) -> None:
    p = provider(meters={"balance": {"remaining": "balance", "unit": "USD", "unit_from": "currency"}})
    assert meters(p, {"balance": "12.5", "currency": given}) == [Meter("balance", None, None, 12.5, unit)]


def test_jmespath_reads_what_a_path_cannot() -> None:
    p = provider(meters={"credit": {"remaining": "sum(balances[].amount)", "unit": "USD"}})
    assert meters(p, {"balances": [{"amount": 2}, {"amount": 3.5}]}) == [Meter("credit", None, None, 5.5, "USD")]


# --- period, conditions, refusals -------------------------------------------------------------


def test_a_period_from_the_answer_in_either_form() -> None:
    p = provider(period={"start": "period.from", "end": "period.to"})
    usage = p.parse(
        {"calls": {"used": 1, "limit": 10}, "period": {"from": "2026-11-01T00:00:00Z", "to": 1764547200}}, NOW
    )
    assert usage.period == Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2025, 12, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("day", "now", "start", "end"),
    [
        (1, datetime(2026, 11, 24, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
        (15, datetime(2026, 11, 3, tzinfo=UTC), datetime(2026, 10, 15, tzinfo=UTC), datetime(2026, 11, 15, tzinfo=UTC)),
        (
            31,
            datetime(2026, 2, 28, 12, tzinfo=UTC),
            datetime(2026, 2, 28, tzinfo=UTC),
            datetime(2026, 3, 31, tzinfo=UTC),
        ),
        (31, datetime(2026, 12, 31, tzinfo=UTC), datetime(2026, 12, 31, tzinfo=UTC), datetime(2027, 1, 31, tzinfo=UTC)),
    ],
)
def test_a_monthly_calendar_period(day: int, now: datetime, start: datetime, end: datetime) -> None:
    assert monthly_period(day, now) == Period(start, end)
    answer = {"calls": {"used": 1, "limit": 10}}
    assert provider(period={"monthly": day}).parse(answer, now).period == Period(start, end)


def test_conditions_from_an_expression_and_from_a_true_false_field() -> None:
    p = provider(
        conditions={
            "inactive": {"when": "status != 'active'", "severity": "critical", "message": "subscription {status}"},
            "disabled": {"when_true": "disabled", "severity": "warning", "message": "key disabled[ by {by}]"},
        }
    )
    usage = p.parse({"calls": {"used": 1, "limit": 5}, "status": "past_due", "disabled": "true"}, NOW)
    assert usage.conditions == (
        Condition("inactive", Severity.CRITICAL, "subscription past_due"),
        Condition("disabled", Severity.WARNING, "key disabled"),
    )
    assert p.parse({"calls": {"used": 1, "limit": 5}, "status": "active"}, NOW).conditions == ()  # absent flag: false
    with pytest.raises(BadResponse, match="disabled"):
        p.parse({"calls": {"used": 1, "limit": 5}, "status": "active", "disabled": "maybe"}, NOW)


def test_a_refusal_is_a_reading_only_when_its_status_and_expression_match() -> None:
    p = provider(
        refusals=[
            {
                "status": 429,
                "when": "error.type == 'quota'",
                "condition": "quota_reached",
                "severity": "critical",
                "message": "Acme: {text(error)}[ (resets {date(error.reset)})]",
            }
        ]
    )
    assert p.read_refusal is not None
    body = {"error": {"type": "quota", "message": "monthly\nquota used", "reset": 1764547200}}
    usage = p.read_refusal(429, body, NOW)
    assert usage is not None
    assert usage.conditions == (
        Condition("quota_reached", Severity.CRITICAL, "Acme: monthly quota used (resets 2025-12-01)"),
    )
    assert p.read_refusal(429, {"error": {"type": "rate"}}, NOW) is None
    assert p.read_refusal(403, body, NOW) is None
    assert p.read_refusal(429, "<html>", NOW) is None


# --- the request --------------------------------------------------------------------------------


def test_header_auth_with_a_format() -> None:
    p = provider(auth={"header": "DeepL-Auth-Key", "format": "DeepL-Auth-Key {key}"})
    request = p.request("k:fx")
    assert request.url == "https://api.acme.example/v1/usage"
    assert request.headers == {"DeepL-Auth-Key": "DeepL-Auth-Key k:fx"}


def test_query_auth_puts_the_key_after_the_declared_query() -> None:
    p = provider(auth={"query": "api_key"}, query={"output": "json"})
    url, headers, *_ = p.request("a b+c")
    assert url == "https://api.acme.example/v1/usage?output=json&api_key=a+b%2Bc"
    assert headers == {}
    assert "a%20b%2Bc" in p.auth.forms("a b+c")  # the forms an echo of it may take are masked too


def test_basic_auth_and_params_in_the_path() -> None:
    p = provider(
        url="https://api.acme.example/Accounts/{account_sid}/Balance.json",
        params={"account_sid": "the Account SID"},
        auth={"basic": True},
    )
    url, headers, *_ = p.request("AC1:token", params={"account_sid": "AC 1/2"})
    assert url == "https://api.acme.example/Accounts/AC%201%2F2/Balance.json"
    assert headers == {"Authorization": "Basic QUMxOnRva2Vu"}
    assert p.auth.forms("AC1:token") == ("token", "QUMxOnRva2Vu")


def test_a_monitor_base_url_replaces_the_host_and_keeps_the_path() -> None:
    assert provider().url("https://127.0.0.1:8443/") == "https://127.0.0.1:8443/v1/usage"


def test_code_reads_what_a_declaration_cannot() -> None:
    p = declare(
        {
            "name": "ir",
            "url": "https://api.imagerouter.io/v1/credits",
            "auth": "Authorization: Bearer {key}",
            "code": "imagerouter",
        },
        "ir.yaml",
        coded=CODED,
    )
    assert p.meter_names == ("credit", "key:*")
    assert p.parse({"remaining_credits": "2", "credit_usage": "1"}, NOW).meters[0].remaining == 2


# --- errors name the file, the provider and the field --------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"url": "http://api.acme.example/usage"}, "url", "https://"),
        ({"url": "https://169.254.169.254/latest"}, "url", "169.254.169.254: a private, link-local or metadata"),
        ({"url": "https://[::ffff:169.254.169.254]/usage"}, "url", "169.254.169.254: a private"),
        ({"url": "https://[fd00::2]/usage"}, "url", "fd00::2: a private"),
        ({"url": "https://10.0.0.7:8443/usage"}, "url", "10.0.0.7: a private"),
        ({"url": "https://api.acme.example/usage?key=1"}, "url", "query"),
        ({"url": "https://api.acme.example/{key}/usage"}, "url", "only where 'auth'"),
        ({"url": "https://api.acme.example/{account}/usage"}, "url", "not declared under 'params:'"),
        ({"auth": "Bearer {key}"}, "auth", "header"),
        ({"auth": {"header": "Authorization", "format": "Bearer"}}, "auth.format", "{key}"),
        ({"meters": {"calls": {"used": "calls[", "unit": "calls"}}}, "meters.calls.used", "does not compile"),
        ({"meters": {"calls": {"used": "calls", "unit": "dollars?"}}}, "meters.calls.unit", "unknown unit"),
        ({"meters": {"calls": {"limit": "l", "unit": "calls"}}}, "meters.calls", "'used' or 'remaining'"),
        ({"meters": {"Calls": {"used": "c", "unit": "calls"}}}, "meters.Calls", "lower-case"),
        ({"meters": {"calls": {"used": "c", "unit": "calls", "scale": 0}}}, "meters.calls.scale", "above 0"),
        ({"meters": {}}, "meters", "required"),
        ({"period": {"monthly": 32}}, "period.monthly", "1 to 31"),
        ({"conditions": {"x": {"when": "a", "severity": "loud", "message": "m"}}}, "conditions.x.severity", "warning"),
        ({"conditions": {"x": {"when": "a", "severity": "info", "message": "m {a"}}}, "conditions.x.message", "'{'"),
        (
            {"refusals": [{"status": 200, "condition": "x", "severity": "info", "message": "m"}]},
            "refusals[0].status",
            "400",
        ),
        ({"code": "nothing"}, "code", "no coded reader"),
        ({"colour": "red"}, "colour", "unknown field"),
        ({"name": "Acme!"}, "name", "lower-case"),
        # a mapping's key is checked as its own field: named, and what it must be
        ({"headers": {"acme version": "1"}}, "headers.acme version", "must be a header's name, got 'acme version'"),
    ],
)
def test_a_wrong_field_is_named(changes: dict[str, Any], field: str, says: str) -> None:
    message = problem(**changes)
    assert message.startswith("acme.yaml: provider '")
    assert f"field '{field}'" in message
    assert says in message


# A declaration's mistakes of shape (the model's) and of rule (a schema cannot say them)
# come out together, in one run, each once.
@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"colour": "red", "url": "https://api.acme.example/{account}"}, ["colour", "url"]),
        ({"display_name": 5, "auth": "Bearer {key}", "code": "nothing"}, ["display_name", "auth", "code"]),
        (  # a wrong meter is told by the model, a right one by the rules
            {"meters": {"calls": {"used": 5, "unit": "calls"}, "credit": {"limit": "l", "unit": "credits"}}},
            ["meters.calls.used", "meters.credit"],
        ),
        (  # each once: a wrong field is not told again by the rules that read it
            {"params": ["account"], "url": "https://api.acme.example/{account}", "auth": 5, "meters": {"a": 1}},
            ["auth", "meters.a", "params"],  # in the order written
        ),
    ],
)
def test_every_mistake_of_a_declaration_is_one_line_in_one_run(changes: dict[str, Any], fields: list[str]) -> None:
    with pytest.raises(DeclarationError) as caught:
        declare({**BASE, **changes}, "acme.yaml", coded=CODED)

    lines = caught.value.lines
    assert all(line.startswith("acme.yaml: provider 'acme': field '") for line in lines)
    assert [line.split("'")[3] for line in lines] == fields
