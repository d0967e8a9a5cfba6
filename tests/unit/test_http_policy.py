"""The shared HTTP policy, for every provider: its URL and auth headers through the real
HttpClient against its fake on loopback.

A provider gets these tests by having a hand-written fake in `quotawatch_local.fakes.<name>`
(an `API` and `scenarios()`) and one line in UNAUTHORIZED below: the four first providers.
The policy is one piece of code whatever the provider, so the catalogue's entries are not
run through it again; their own suite (test_catalogue.py) checks how each sends its key,
its documented answers and errors, and that the key reaches no output. What a provider does
itself is tested in its own modules. Retries never really sleep: the client records the delays.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest

from quotawatch.adapters.http import USER_AGENT, FetchFailed, HttpClient, HttpPolicy
from quotawatch.core.errors import CheckFailed
from quotawatch.core.snapshot import ErrorKind
from quotawatch.providers import PROVIDERS
from quotawatch.providers.base import Provider
from quotawatch.providers.parsing import BadResponse
from quotawatch_local.fakes import FakeProvider, Reply, Scenario, always
from tests.unit.support import POLICY, Recorder, Serve

KEY = "qw_live_5e4d3c2b1a0f9e8d7c6b5a4938271605"
NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
AFTER_3 = " (after 3 attempts)"  # POLICY's attempts

# The provider's own words when it rejects a key (its documented 401).
UNAUTHORIZED = {
    "cloudlayer": "Unauthorized",
    "tornado": "Invalid API Key",
    "converra": "Invalid API key",
    "imagerouter": "Invalid API key",
}


@dataclass
class Served:
    """A provider and its fake on loopback, reached as a check reaches it."""

    provider: Provider
    fake: FakeProvider

    @property
    def url(self) -> str:
        """The provider's usage URL with the fake's address in place of the real host."""
        return self.provider.url(self.fake.base_url + urlsplit(self.provider.base_url).path)

    def get(self, client: HttpClient, key: str = KEY) -> Any:
        return client.get_json(self.url, self.provider.auth_headers(key))

    def failure(self, client: HttpClient, key: str = KEY) -> CheckFailed:
        """The check error of a whole check (fetch, then parse), with the key in none of it."""
        with pytest.raises(CheckFailed) as caught:
            self.provider.parse(self.get(client, key), NOW)
        assert_no_key(caught.value, key)
        return caught.value


def assert_no_key(error: CheckFailed, key: str) -> None:
    assert key not in str(error)
    assert key not in repr(error.args)
    assert error.__cause__ is None  # raised `from None`: no chained exception carrying the request


def fake_module(name: str) -> ModuleType:
    return importlib.import_module(f"quotawatch_local.fakes.{name}")


def scenarios(name: str) -> dict[str, Scenario]:
    found: dict[str, Scenario] = fake_module(name).scenarios(slow_seconds=2)
    return found


@pytest.fixture(params=sorted(UNAUTHORIZED))
def name(request: pytest.FixtureRequest) -> str:
    chosen: str = request.param
    return chosen


@pytest.fixture
def start(serve: Serve, name: str) -> Any:
    """start("rate-limited") or start(any Scenario): the provider's fake, serving it."""

    def start_one(scenario: str | Scenario, key: str = KEY) -> Served:
        chosen = scenarios(name)[scenario] if isinstance(scenario, str) else scenario
        return Served(PROVIDERS[name], serve(fake_module(name).API, key, chosen))

    return start_one


# --- the request ---------------------------------------------------------------------------------


def test_the_request_carries_the_key_as_the_provider_expects(client: HttpClient, start: Any, name: str) -> None:
    fake = start(always(Reply(200, {})))
    assert fake.get(client) == {}

    api = fake_module(name).API
    [headers] = fake.fake.requests
    assert headers[api.auth_header.lower()] == api.auth_prefix + KEY
    assert headers["user-agent"] == USER_AGENT
    assert headers["user-agent"].startswith("QuotaWatch/")
    assert headers["accept"] == "application/json"
    wanted = urlsplit(fake.url)
    assert fake.fake.paths == [wanted.path + (f"?{wanted.query}" if wanted.query else "")]


def test_redirects_are_not_followed(client: HttpClient, start: Any) -> None:
    fake = start(always(Reply(302, {}, {"Location": "http://example.com/steal"})))
    error = fake.failure(client)

    assert error.kind is ErrorKind.BAD_RESPONSE
    assert "unexpected status 302" in error.message
    assert fake.fake.calls == 1


def test_a_wrong_address_is_a_config_error(client: HttpClient, start: Any, sleep: Recorder) -> None:
    fake = start(always(Reply(200, {})))
    with pytest.raises(FetchFailed) as caught:
        client.get_json(fake.fake.base_url + "/nowhere", fake.provider.auth_headers(KEY))

    assert caught.value.kind is ErrorKind.CONFIG
    assert "404" in caught.value.message
    assert "base_url" in caught.value.message
    assert sleep.delays == []


# --- the key is refused: never retried -----------------------------------------------------------


def test_a_wrong_key_is_auth_with_the_providers_words(
    client: HttpClient, start: Any, sleep: Recorder, name: str
) -> None:
    fake = start(always(Reply(200, {})))
    error = fake.failure(client, key="qw_not_the_key_00000000000000000")

    assert error.kind is ErrorKind.AUTH
    assert error.message == f"127.0.0.1 rejected the API key (401: {UNAUTHORIZED[name]})"
    assert fake.fake.calls == 0
    assert len(fake.fake.requests) == 1
    assert sleep.delays == []


def test_a_revoked_key_is_auth(client: HttpClient, start: Any, sleep: Recorder, name: str) -> None:
    fake = start("unauthorized")
    error = fake.failure(client)

    assert error.kind is ErrorKind.AUTH
    assert error.message == f"127.0.0.1 rejected the API key (401: {UNAUTHORIZED[name]})"
    assert len(fake.fake.requests) == 1
    assert sleep.delays == []


ECHOED_KEYS = {
    "plain": KEY,
    "long": "k" * 200,
    "jwt-like": "eyJhbGciOiJIUzI1NiJ9." + "A" * 180 + ".sig",
    "with-spaces": "first-half-of-it second-half-of-it",
    "short": "k3y",
}


@pytest.mark.parametrize("key", ECHOED_KEYS.values(), ids=ECHOED_KEYS.keys())
@pytest.mark.parametrize("shape", ["flat", "nested"])
def test_a_key_echoed_by_the_provider_is_masked(client: HttpClient, start: Any, key: str, shape: str) -> None:
    text = f"Invalid API key: {key} (sent as {key[: len(key) // 2]}...)"
    body = {"error": text} if shape == "flat" else {"error": {"code": "UNAUTHORIZED", "message": text}}
    error = start(always(Reply(401, body)), key=key).failure(client, key=key)

    assert error.kind is ErrorKind.AUTH
    assert "Invalid API key: [redacted]" in error.message
    for part in key.split() if len(key) >= 8 else [key]:
        assert part[:8] not in error.message  # not even a cut-off part of it


@pytest.mark.parametrize("key", ["line\nbreak", "carriage\rreturn", "nul\x00byte", " leading", "euro€", "tab\x7f"])
def test_a_key_a_header_cannot_carry_is_a_config_error_and_nothing_is_sent(
    client: HttpClient, start: Any, key: str
) -> None:
    fake = start(always(Reply(200, {})))
    error = fake.failure(client, key=key)

    assert error.kind is ErrorKind.CONFIG
    assert error.message == "the API key contains characters an HTTP header cannot carry (e.g. a newline)"
    assert fake.fake.requests == []


# --- rate limits, server trouble, answers that cannot be read ------------------------------------


def test_rate_limited_honours_retry_after(client: HttpClient, start: Any, sleep: Recorder) -> None:
    fake = start("rate-limited")
    error = fake.failure(client)

    assert error.kind is ErrorKind.RATE_LIMITED
    assert error.message.startswith("127.0.0.1 answered 429 Too Many Requests")
    assert error.message.endswith("(after 3 attempts)")
    assert sleep.delays == [1.0, 1.0]  # Retry-After: 1, between the three attempts
    assert fake.fake.calls == 3


# Server trouble is retried with jittered backoff; an answer that cannot be read is not.
SHARED_FAULTS = [
    ("server-error", ErrorKind.UNAVAILABLE, "127.0.0.1 answered 500 (server error)" + AFTER_3),
    ("html-error-page", ErrorKind.UNAVAILABLE, "127.0.0.1 answered 502 (server error)" + AFTER_3),
    (
        "truncated",
        ErrorKind.UNAVAILABLE,
        "127.0.0.1 closed the connection before the answer was complete" + AFTER_3,
    ),
    ("malformed-json", ErrorKind.BAD_RESPONSE, "127.0.0.1 answered 200 but not with JSON"),
    ("html-200", ErrorKind.BAD_RESPONSE, "127.0.0.1 answered 200 but not with JSON"),
    ("huge", ErrorKind.BAD_RESPONSE, "127.0.0.1 answered with more than 1,000,000 bytes"),
]


@pytest.mark.parametrize(("scenario", "kind", "text"), SHARED_FAULTS)
def test_shared_faults_are_classified(
    client: HttpClient, start: Any, sleep: Recorder, scenario: str, kind: ErrorKind, text: str
) -> None:
    fake = start(scenario)
    error = fake.failure(client)

    assert error.kind is kind
    assert error.message == text
    retried = kind is ErrorKind.UNAVAILABLE
    assert fake.fake.calls == (POLICY.max_attempts if retried else 1)
    assert len(sleep.delays) == (POLICY.max_attempts - 1 if retried else 0)
    for attempt, delay in enumerate(sleep.delays, start=1):
        assert 0 <= delay <= POLICY.backoff_base * 2 ** (attempt - 1)


def test_a_slow_provider_is_unavailable(start: Any, sleep: Recorder) -> None:
    fake = start("slow")  # answers after 2 s; the client waits 0.5 s
    client = HttpClient(HttpPolicy(connect_timeout=0.5, read_timeout=0.5, max_attempts=2), sleep=sleep)
    started = time.monotonic()
    error = fake.failure(client)

    assert error.kind is ErrorKind.UNAVAILABLE
    assert error.message == "127.0.0.1 did not answer in time (after 2 attempts)"
    assert time.monotonic() - started < 1.9
    assert len(sleep.delays) == 1


# --- each provider's own refusals, read by the shared policy -------------------------------------

# (provider, scenario of its fake, kind, the message or its telling part, attempts made).
# Tornado's 403 "Storage quota exceeded" is auth here; the check reads it as a condition
# (Provider.read_refusal, tested with the provider).
OWN_REFUSALS = [
    ("tornado", "missing-header", ErrorKind.AUTH, "127.0.0.1 rejected the API key (401: Missing x-api-key header)", 1),
    ("tornado", "quota-reached", ErrorKind.AUTH, "(403: Storage quota exceeded: 1000.00 GB of 1000 GB used", 1),
    ("tornado", "gateway-timeout", ErrorKind.UNAVAILABLE, "127.0.0.1 answered 504 (server error)" + AFTER_3, 3),
    (
        "converra",
        "rate-limited",
        ErrorKind.RATE_LIMITED,
        "127.0.0.1 answered 429 Too Many Requests: Rate limit exceeded: 300 requests/min" + AFTER_3,
        3,
    ),
    ("converra", "limit-exceeded", ErrorKind.RATE_LIMITED, ": Monthly optimization limit reached", 3),
    (
        "imagerouter",
        "management-key",
        ErrorKind.AUTH,
        "127.0.0.1 rejected the API key (403: Management keys cannot read credits; use a normal API key)",
        1,
    ),
    ("imagerouter", "internal-error", ErrorKind.UNAVAILABLE, "127.0.0.1 answered 500 (server error)" + AFTER_3, 3),
]


@pytest.mark.parametrize(
    ("name", "scenario", "kind", "text", "attempts"), OWN_REFUSALS, ids=[f"{r[0]}-{r[1]}" for r in OWN_REFUSALS]
)
def test_a_providers_own_refusal_is_classified(
    client: HttpClient, start: Any, sleep: Recorder, scenario: str, kind: ErrorKind, text: str, attempts: int
) -> None:
    fake = start(scenario)
    error = fake.failure(client)

    assert error.kind is kind
    assert text in error.message
    assert fake.fake.calls == attempts
    assert len(sleep.delays) == attempts - 1  # Retry-After when given, else bounded jittered backoff
    assert all(0 <= delay <= 1.0 for delay in sleep.delays)


# --- JSON that is not an object: for the parser to refuse ----------------------------------------


def test_json_that_is_not_an_object_is_left_to_the_parser(client: HttpClient, start: Any) -> None:
    fake = start("not-an-object")
    assert fake.get(client) == [1, 2, 3]

    error = fake.failure(client)
    assert isinstance(error, BadResponse)
    assert error.kind is ErrorKind.BAD_RESPONSE
    assert error.field == "response"


# --- every scenario of every fake: the key never leaks -------------------------------------------


def test_no_scenario_puts_the_key_in_an_error(start: Any, name: str) -> None:
    client = HttpClient(HttpPolicy(connect_timeout=0.5, read_timeout=0.5, max_attempts=1))
    for scenario in scenarios(name):
        fake = start(scenario)
        try:
            fake.provider.parse(fake.get(client), NOW)
        except CheckFailed as error:
            assert_no_key(error, KEY)
