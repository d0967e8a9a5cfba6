"""Requests beyond one GET (docs/watch-any-api.md): POST bodies, time placeholders, pages and
headers as figures, through the real HTTP client against fakes on loopback, and hostile
answers on each new path (10,000 pages, a repeating cursor, a 1 MB header, a key echoed in a
header or a body). Declaration mistakes are named; placeholders and durations are
property-tested."""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quotawatch.adapters.http import HttpClient
from quotawatch.cli import main
from quotawatch.config import Monitor, parse_monitors
from quotawatch.core.errors import CheckFailed
from quotawatch.core.forecast import forecast
from quotawatch.core.snapshot import ErrorKind, Snapshot
from quotawatch.fetching import fetch_snapshot
from quotawatch.ports import HttpAnswer, HttpRequest
from quotawatch.providers import PROVIDERS
from quotawatch.providers.base import Provider
from quotawatch.providers.declaration import DeclarationError, declare
from quotawatch.providers.expressions import compile_expression
from quotawatch.providers.parsing import BadResponse, duration, time_values
from quotawatch_local.fakes import FakeProvider, ProviderApi, Reply, Scenario, always
from quotawatch_local.fakes.catalogued import fixtures
from tests.unit.support import OneKey, Serve, json_values

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
KEY = "qk_live_7Hn2Wq9Zr4Lx8Tb3Mv6Kc1Pd5Fs0GyJa"
API = ProviderApi(
    name="acme",
    paths=("/v1/usage",),
    auth_header="authorization",
    auth_prefix="Bearer ",
    unauthorized=Reply(401, {"error": {"message": f"bad key {KEY}"}}),
)
BASE = {
    "name": "acme",
    "url": "https://api.acme.example/v1/usage",
    "auth": "Authorization: Bearer {key}",
    "meters": {"spend": {"used": "sum(data[].amount)", "unit": "USD"}},
}
PAGES = {"next": "next_page", "more": "has_more", "param": "page"}
PAGED = {**BASE, "pages": PAGES}


def acme(**fields: Any) -> Provider:
    return declare({**BASE, **fields}, "acme.yaml")


def read(
    provider: Provider, fake: FakeProvider, client: HttpClient, limits: dict[str, float] | None = None
) -> Snapshot:
    monitor = Monitor(
        id="acme-prod", provider="acme", secret_field="acme", base_url=fake.base_url, meter_limits=limits or {}
    )
    return fetch_snapshot(monitor, provider, OneKey(KEY), client, NOW)


def page(number: int, more: bool, cursor: str | None = None) -> dict[str, Any]:
    return {"data": [{"amount": number}], "has_more": more, "next_page": cursor}


# --- POST and time placeholders ------------------------------------------------------------


def test_a_post_sends_its_json_body_with_the_months_times(serve: Serve, client: HttpClient) -> None:
    provider = acme(
        method="POST",
        body={"from": "{period.start:unix}", "to": "{period.end:rfc3339}", "note": "since {period.start:date}"},
        query={"asof": "{now:date}"},
        period={"monthly": 15},
    )
    fake = serve(API, KEY, always(Reply(200, {"data": [{"amount": 2.5}]})))
    snapshot = read(provider, fake, client)

    assert snapshot.error is None, snapshot.error
    assert snapshot.meters[0].used == 2.5
    assert json.loads(fake.bodies[0]) == {
        "from": int(datetime(2026, 11, 15, tzinfo=UTC).timestamp()),  # one unix placeholder alone: a number
        "to": "2026-12-15T00:00:00Z",
        "note": "since 2026-11-15",
    }
    assert fake.requests[0]["content-type"] == "application/json"
    assert parse_qs(urlsplit(fake.paths[0]).query) == {"asof": ["2026-11-24"]}


def test_a_text_body_is_sent_as_it_is_and_graphql_braces_are_text(serve: Serve, client: HttpClient) -> None:
    query = "query { viewer { login } rateLimit { remaining } }"
    provider = acme(method="POST", body=query, content_type="application/graphql")
    fake = serve(API, KEY, always(Reply(200, {"data": [{"amount": 1}]})))
    assert read(provider, fake, client).error is None
    assert fake.bodies[0] == query.encode()
    assert fake.requests[0]["content-type"] == "application/graphql"


# --- pages -------------------------------------------------------------------------------


def pages_of(replies: dict[str | None, dict[str, Any]]) -> Scenario:
    """Each page by the cursor that asks for it (None: the first)."""
    first = replies.pop(None)
    return always(Reply(200, first, pages={f"page={c}": Reply(200, body) for c, body in replies.items()}))


def test_the_meters_are_read_over_every_page(serve: Serve, client: HttpClient) -> None:
    fake = serve(API, KEY, pages_of({None: page(1, True, "p2"), "p2": page(2, True, "p3"), "p3": page(4, False)}))
    snapshot = read(declare(PAGED, "acme.yaml"), fake, client)
    assert snapshot.error is None, snapshot.error
    assert snapshot.meters[0].used == 7
    assert [parse_qs(urlsplit(p).query).get("page") for p in fake.paths] == [None, ["p2"], ["p3"]]


def test_a_null_cursor_ends_the_pages_without_more(serve: Serve, client: HttpClient) -> None:
    provider = declare({**PAGED, "pages": {"next": "next_page", "param": "page"}}, "acme.yaml")
    fake = serve(API, KEY, pages_of({None: page(1, True, "p2"), "p2": page(2, True, None)}))
    assert read(provider, fake, client).meters[0].used == 3


def endless(call: int) -> Reply:
    """10,000 pages: each one says there is another."""
    return Reply(200, page(call, call < 10_000, f"p{call}"))


@pytest.mark.parametrize(
    ("scenario", "cap", "calls", "says"),
    [
        (endless, 10, 10, "more than 10 pages (pages.max)"),
        (endless, 3, 3, "more than 3 pages (pages.max)"),
        (always(Reply(200, page(1, True, "same"))), 10, 2, "the page cursor 'next_page' repeated after 2 pages"),
        (always(Reply(200, {**page(1, True), "next_page": {"odd": 1}})), 10, 1, "is not a page cursor"),
    ],
    ids=["10000-pages-default-cap", "10000-pages-cap-3", "repeating-cursor", "odd-cursor"],
)
def test_pages_never_give_a_partial_sum(
    serve: Serve, client: HttpClient, scenario: Scenario, cap: int, calls: int, says: str
) -> None:
    provider = declare({**PAGED, "pages": {**PAGES, "max": cap}}, "acme.yaml")
    fake = serve(API, KEY, scenario)
    snapshot = read(provider, fake, client)
    assert snapshot.error is not None
    assert snapshot.error.kind is ErrorKind.BAD_RESPONSE
    assert says in snapshot.error.message
    assert fake.calls == calls
    assert snapshot.meters == ()


# --- headers as figures --------------------------------------------------------------------


HEADERS = {
    **BASE,
    "meters": {
        "requests": {
            "limit": 'headers."X-RateLimit-Limit-Requests"',
            "remaining": "headers.x-ratelimit-remaining-requests",
            "unit": "requests",
        }
    },
    "period": {"resets_in": 'headers."x-ratelimit-reset-requests"'},
}


@pytest.mark.parametrize(
    ("reset", "end"), [("6m0s", NOW + timedelta(minutes=6)), ("20ms", NOW), ("1s", NOW + timedelta(seconds=1))]
)
def test_headers_are_figures_and_a_duration_is_the_periods_end(
    serve: Serve, client: HttpClient, reset: str, end: datetime
) -> None:
    sent = {
        "X-RATELIMIT-LIMIT-REQUESTS": "60",
        "x-ratelimit-remaining-requests": "59",
        "X-RateLimit-Reset-Requests": reset,
    }
    fake = serve(API, KEY, always(Reply(200, {"object": "list", "data": []}, sent)))
    snapshot = read(declare(HEADERS, "acme.yaml"), fake, client)
    assert snapshot.error is None, snapshot.error
    assert (snapshot.meters[0].used, snapshot.meters[0].limit, snapshot.meters[0].remaining) == (1, 60, 59)
    assert snapshot.period is not None
    assert snapshot.period.end is not None
    assert abs(snapshot.period.end - end) < timedelta(milliseconds=25)


def test_an_epoch_reset_header_is_the_periods_end(serve: Serve, client: HttpClient) -> None:
    provider = declare({**HEADERS, "period": {"end": "headers.x-ratelimit-reset"}}, "acme.yaml")
    sent = {
        "x-ratelimit-limit-requests": "5000",
        "x-ratelimit-remaining-requests": "4999",
        "x-ratelimit-reset": "1796086800",
    }
    fake = serve(API, KEY, always(Reply(200, [], sent)))  # any body: only its headers are read
    snapshot = read(provider, fake, client)
    assert snapshot.error is None, snapshot.error
    assert snapshot.period is not None
    assert snapshot.period.end == datetime.fromtimestamp(1796086800, tz=UTC)


def test_a_missing_header_is_a_bad_answer_naming_it(serve: Serve, client: HttpClient) -> None:
    fake = serve(API, KEY, always(Reply(200, {})))
    snapshot = read(declare(HEADERS, "acme.yaml"), fake, client)
    assert snapshot.error is not None
    assert snapshot.error.kind is ErrorKind.BAD_RESPONSE
    assert "x-ratelimit-" in snapshot.error.message


def test_a_header_of_a_megabyte_is_a_bad_answer_asked_once(serve: Serve, client: HttpClient) -> None:
    fake = serve(API, KEY, always(Reply(200, {"data": []}, {"x-padding": "x" * 1_000_000})))
    snapshot = read(acme(), fake, client)
    assert snapshot.error is not None
    assert snapshot.error.kind is ErrorKind.BAD_RESPONSE
    assert "oversized headers" in snapshot.error.message
    assert fake.calls == 1  # asking again would get the same headers


@pytest.mark.parametrize("where", ["header", "body", "both"])
def test_a_key_echoed_in_a_header_or_the_body_is_masked(serve: Serve, client: HttpClient, where: str) -> None:
    provider = acme(
        conditions={
            "echo": {"when": "`true`", "severity": "info", "message": 'key {headers."x-echo"} {note}[ {data[0].name}]'}
        },
        meters={"spend:*": {"each": "data", "key": "name", "used": "amount", "unit": "USD"}},
    )
    headers = {"X-Echo": f"{KEY}"} if where != "body" else {}
    body = {"data": [{"name": f"key {KEY}", "amount": 1}], "note": KEY if where != "header" else "none"}
    fake = serve(API, KEY, always(Reply(200, body, headers)))
    snapshot = read(provider, fake, client)
    assert snapshot.error is None, snapshot.error
    text = json.dumps(snapshot.to_dict())
    assert KEY[:8] not in text
    assert KEY[-8:] not in text


# --- budgets --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["openai", "anthropic"])
def test_a_spend_entry_against_the_monitors_budget_forecasts_the_day_it_is_reached(
    serve: Serve, client: HttpClient, name: str
) -> None:
    fixture = fixtures()[name]
    fake = serve(fixture.api(), fixture.key, fixture.scenarios()["paginated"])
    monitor = Monitor(
        id=name, provider=name, secret_field=name, base_url=fake.base_url, meter_limits={"cost_this_month": 200}
    )
    snapshot = fetch_snapshot(monitor, PROVIDERS[name], OneKey(fixture.key), client, NOW)
    [meter] = snapshot.meters
    used = fixture.expect["paginated"]["meters"][0]["used"]
    assert (meter.used, meter.limit, meter.remaining) == (used, 200, 200 - used)
    # The same spend growing by 10 a day: the budget is reached when used meets 200.
    readings = [(NOW - timedelta(days=d), replace(meter, used=used - 10 * d)) for d in (2, 1)]
    ahead = forecast(meter, [*readings, (NOW, meter)], NOW)
    assert ahead is not None
    assert ahead.runs_out_at is not None
    assert abs(ahead.runs_out_at - (NOW + timedelta(days=(200 - used) / 10))) < timedelta(minutes=1)


def test_quotawatch_fetch_openai_prints_costs_this_month_over_its_pages(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/watch-any-api.md: `quotawatch fetch openai --key-env OPENAI_ADMIN_KEY` on the fake."""
    fixture = fixtures()["openai"]
    fake = serve(fixture.api(), fixture.key, fixture.scenarios()["paginated"])
    monkeypatch.setenv("OPENAI_ADMIN_KEY", fixture.key)
    out = io.StringIO()
    assert main(["fetch", "openai", "--key-env", "OPENAI_ADMIN_KEY", "--base-url", fake.base_url], out) == 0
    assert re.search(r"cost_this_month +\$100\.00", out.getvalue()), out.getvalue()
    assert "billing period:" in out.getvalue()
    assert int(parse_qs(urlsplit(fake.paths[0]).query)["start_time"][0]) % 86400 == 0  # the month's first second
    assert fixture.key not in out.getvalue()


def test_a_monitors_own_billing_month_moves_the_request_and_the_period(serve: Serve, client: HttpClient) -> None:
    config = parse_monitors(
        {
            "monitors": [
                {"id": "spend", "provider": "openai", "secret_field": "openai", "period": {"monthly": 15}},
                {"id": "rest", "provider": "github", "secret_field": "gh", "period": {"monthly": 15}},
            ]
        }
    )
    [monitor] = config.monitors
    [problem] = config.problems
    assert "field 'period': github's period is not monthly" in problem.message
    fixture = fixtures()["openai"]
    fake = serve(fixture.api(), fixture.key, fixture.scenarios()["documented"])
    monitor = replace(monitor, base_url=fake.base_url)
    snapshot = fetch_snapshot(monitor, PROVIDERS["openai"], OneKey(fixture.key), client, NOW)
    start = datetime(2026, 11, 15, tzinfo=UTC)
    assert parse_qs(urlsplit(fake.paths[0]).query)["start_time"] == [str(int(start.timestamp()))]
    assert snapshot.period is not None
    assert (snapshot.period.start, snapshot.period.end) == (start, datetime(2026, 12, 15, tzinfo=UTC))


# --- declarations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"body": {"a": 1}}, "field 'body': is sent only with method: POST"),
        ({"method": "POST"}, "field 'body': required with method: POST"),
        ({"method": "POST", "body": {"auth": "{key}"}}, "field 'body.auth': the key goes only where 'auth' puts it"),
        ({"method": "POST", "body": {"{key}": 1}}, "field 'body': the key goes only where 'auth' puts it"),
        ({"method": "POST", "body": "q={key}"}, "field 'body': the key goes only where 'auth' puts it"),
        ({"method": "POST", "body": {"a": 1}, "content_type": "text/plain"}, "field 'content_type': a mapping is sent"),
        ({"query": {"from": "{period.start:unix}"}}, "field 'period': {period...} placeholders need"),
        ({"query": {"from": "{now:iso}"}}, "field 'query.from': the placeholder {now:iso} is not declared"),
        ({"headers": {"anthropic-version": "{key}"}}, "field 'headers.anthropic-version': the key goes only"),
        ({"pages": {"next": "next_page", "param": "page", "max": 0}}, "field 'pages.max'"),
        ({"pages": {"next": "a[", "param": "page"}}, "field 'pages.next': does not compile"),
        ({"pages": {"next": "n"}}, "field 'pages.param'"),
        ({"period": {"end": "e", "resets_in": "r"}}, "field 'period.resets_in': either end"),
        ({"method": "PUT"}, "field 'method'"),
    ],
)
def test_a_wrong_request_field_is_named(fields: dict[str, Any], says: str) -> None:
    with pytest.raises(DeclarationError) as raised:
        acme(**fields)
    assert says in "\n".join(raised.value.lines), raised.value.lines


def test_only_a_declaration_that_reads_headers_gets_them_in_its_answer() -> None:
    assert declare(HEADERS, "acme.yaml").reads_headers
    assert not acme().reads_headers
    assert not acme(meters={"s": {"used": "data.headers.x", "unit": "USD"}}).reads_headers


class Pages:
    """An in-memory provider (JsonFetcher) answering with the given pages in turn."""

    def __init__(self, answers: list[HttpAnswer]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def fetch(self, request: HttpRequest) -> HttpAnswer:
        self.asked.append(request.url)
        return self.answers[min(len(self.asked), len(self.answers)) - 1]


page_bodies = st.fixed_dictionaries(
    {},
    optional={
        "data": st.lists(st.fixed_dictionaries({}, optional={"amount": json_values}), max_size=3) | json_values,
        "has_more": st.booleans() | json_values,
        "next_page": st.sampled_from(["p1", "p2", "", None]) | json_values,
    },
)
header_names = st.sampled_from(["X-Ratelimit-Remaining-Requests", "x-ratelimit-limit-requests"])
header_maps = st.dictionaries(header_names, st.text(max_size=8))


@settings(max_examples=300, deadline=None)
@given(
    bodies=st.lists(page_bodies | json_values, min_size=1, max_size=12),
    headers=header_maps,
    declaration=st.sampled_from([PAGED, {**PAGED, "pages": {**PAGES, "max": 2}}, HEADERS]),
)
def test_any_pages_and_headers_read_as_a_reading_or_a_bad_answer(
    bodies: list[Any], headers: dict[str, str], declaration: dict[str, Any]
) -> None:
    provider = declare(declaration, "acme.yaml")
    fetcher = Pages([HttpAnswer(body, headers) for body in bodies])
    monitor = Monitor(id="acme-prod", provider="acme", secret_field="acme")
    snapshot = fetch_snapshot(monitor, provider, OneKey(KEY), fetcher, NOW)
    assert snapshot.error is None or snapshot.error.kind is ErrorKind.BAD_RESPONSE, snapshot.error
    assert len(fetcher.asked) <= (provider.pages.max if provider.pages else 1)


# --- properties -----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(now=st.datetimes(timezones=st.just(UTC)), day=st.none() | st.integers(1, 31))
def test_time_placeholders_for_any_moment(now: datetime, day: int | None) -> None:
    try:
        values = time_values(day, now)
    except CheckFailed as exc:  # a month before year 1 or after 9999
        failed: CheckFailed | None = exc
    else:
        failed = None
    if failed is not None:
        assert failed.kind is ErrorKind.CONFIG
        assert now.year in (1, 9999)
        return
    second = now.replace(microsecond=0)
    assert int(values["now:unix"]) == int(now.timestamp()) or int(values["now:unix"]) == int(second.timestamp())
    assert datetime.fromisoformat(values["now:rfc3339"].replace("Z", "+00:00")) == second
    assert values["now:date"] == now.date().isoformat()
    if day is not None:
        start = datetime.fromisoformat(values["period.start:rfc3339"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(values["period.end:rfc3339"].replace("Z", "+00:00"))
        assert start <= now < end
        assert int(values["period.start:unix"]) == int(start.timestamp())


@settings(max_examples=200, deadline=None)
@given(value=st.text(max_size=40), now=st.datetimes(min_value=datetime(1971, 1, 1), timezones=st.just(UTC)))
def test_any_param_text_travels_intact_in_url_and_body(value: str, now: datetime) -> None:
    provider = declare(
        {
            **BASE,
            "url": "https://api.acme.example/v1/{account}/usage",
            "params": {"account": "the account"},
            "query": {"q": "{account}", "since": "{now:unix}"},
            "method": "POST",
            "body": {"account": "{account}", "at": "{now:rfc3339}", "list": ["{account}"]},
        },
        "acme.yaml",
    )
    request = provider.request(KEY, params={"account": value}, now=now)
    assert request.body is not None
    assert json.loads(request.body) == {"account": value, "at": time_values(None, now)["now:rfc3339"], "list": [value]}
    parts = urlsplit(request.url)
    assert parse_qs(parts.query, keep_blank_values=True)["q"] == [value]
    assert KEY not in request.url
    assert KEY.encode() not in request.body


_PART = st.tuples(st.integers(0, 999), st.sampled_from(["h", "m", "s", "ms"]))
_SECONDS = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(_PART, min_size=1, max_size=4))
def test_a_go_duration_is_its_seconds(parts: list[tuple[int, str]]) -> None:
    text = "".join(f"{n}{unit}" for n, unit in parts)
    assert duration(text, "reset") == timedelta(seconds=sum(n * _SECONDS[unit] for n, unit in parts))


@settings(max_examples=200, deadline=None)
@given(value=st.text(max_size=30) | st.integers() | st.floats() | st.none() | st.booleans())
def test_any_reset_value_is_a_duration_or_a_bad_answer(value: Any) -> None:
    try:
        wait = duration(value, "reset")
    except BadResponse as exc:
        wrong: BadResponse | None = exc
    else:
        wrong = None
    if wrong is not None:
        assert wrong.field == "reset"
        return
    assert wait is None or timedelta(0) <= wait <= timedelta(days=3660)


_HEADER_NAME = st.from_regex(re.compile(r"[A-Za-z][A-Za-z0-9-]{0,30}"), fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(name=_HEADER_NAME, value=st.text(max_size=20), quoted=st.booleans())
def test_a_header_is_read_whatever_the_case_of_its_name(name: str, value: str, quoted: bool) -> None:
    source = f'headers."{name}"' if quoted else f"headers.{name}"
    expression = compile_expression(source)
    assert expression.value({"headers": {name.lower(): value}}) == value
    assert compile_expression(f"length({source}) > `-1`").value({"headers": {name.lower(): value}}) is True


# --- a monitor's params in a header and in the host (an API on RapidAPI) ---------------------

ACCOUNT = {**BASE, "params": {"account": "the account, e.g. A-17"}, "headers": {"X-Account": "acct {account}"}}
HOSTED = {**BASE, "params": {"host": "the API's host"}, "url": "https://{host}/v1/usage"}


def monitor_of(declaration: dict[str, Any], params: dict[str, str]) -> tuple[Monitor | None, list[str]]:
    monitor = {"id": "m", "provider": "acme", "secret_field": "acme", "params": params}
    config = parse_monitors({"providers": {"acme": declaration}, "monitors": [monitor]})
    return (config.monitors[0] if config.monitors else None), [p.message for p in config.problems]


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"X-Account": "{key}"}, "the key goes only where 'auth' puts it"),
        ({"X-Account": "{other}"}, "the placeholder {other} is not declared under 'params:'"),
        ({"Host": "{account}"}, "a fixed value, not the key's"),
        ({"X-Account": "a\r\nX-Evil: 1"}, "must be one line of text"),  # the model's rule
    ],
)
def test_a_header_placeholder_must_be_a_declared_param(headers: dict[str, str], why: str) -> None:
    with pytest.raises(DeclarationError, match=re.escape(why)):
        declare({**ACCOUNT, "headers": headers}, "acme.yaml")


@given(value=st.text(max_size=40) | st.sampled_from(["a\r\nX-Evil: 1", "a\nb", " lead", "tail ", "é", "\x00", ""]))
@settings(max_examples=150, deadline=None)
def test_a_param_in_a_header_is_refused_or_sent_exactly(value: str) -> None:
    monitor, problems = monitor_of(ACCOUNT, {"account": value})
    if monitor is None:
        assert any("field 'params.account'" in p for p in problems), problems
        return
    assert monitor.spec is not None
    request = monitor.spec.request(KEY, params=monitor.params)
    assert request.headers["X-Account"] == f"acct {value}"
    # One header line as http.client writes it: nothing that ends it or starts another.
    assert all(" " <= char <= "~" for char in request.headers["X-Account"])


@pytest.mark.parametrize("value", ["A-17", "a b  c", "x" * 200, "{key}", "%0d%0a", "acct: 1"])
def test_a_param_in_a_header_reaches_the_api_exactly_and_alone(value: str, serve: Serve, client: HttpClient) -> None:
    fake = serve(API, KEY, always(Reply(200, {"data": [{"amount": 1}]})))
    monitor, problems = monitor_of(ACCOUNT, {"account": value})
    assert monitor is not None, problems
    spec = monitor.spec
    assert spec is not None
    snapshot = fetch_snapshot(replace(monitor, base_url=fake.base_url), spec, OneKey(KEY), client, NOW)
    assert snapshot.error is None, snapshot.error
    [sent] = fake.requests
    assert [name for name in sent if name.startswith("x-")] == ["x-account"]  # one header, not split
    assert sent["x-account"] == f"acct {value}"
    assert sent["authorization"] == f"Bearer {KEY}"  # "{key}" in a param is text, never the key


@pytest.mark.parametrize(
    ("value", "refused"),
    [
        ("example-api.p.rapidapi.com", False),
        ("API.Example.com", False),
        ("10.0.0.7", True),  # private
        ("169.254.169.254", True),  # metadata
        ("2852039166", True),  # the metadata address as one number
        ("evil.example/x?y=", True),
        ("evil.example#", True),
        ("user@evil.example", True),
        ("-bad.example", True),
        ("", True),
    ],
)
def test_a_param_in_the_host_must_be_a_public_host_name(value: str, refused: bool) -> None:
    monitor, problems = monitor_of(HOSTED, {"host": value})
    if refused:
        assert monitor is None
        assert any("field 'params.host'" in p for p in problems), problems
    else:
        assert monitor is not None
        assert monitor.spec is not None
        assert monitor.spec.url(None, monitor.params) == f"https://{value}/v1/usage"
