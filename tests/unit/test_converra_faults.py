"""Converra through the real HttpClient against the fake Converra on loopback.

Every scenario ends as usage or as its classified CheckFailed, the key never shows in a
message, and retries never really sleep: the client records the delays it asked for.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from quotawatch.adapters.http import USER_AGENT, HttpClient, HttpPolicy
from quotawatch.core.errors import CheckFailed
from quotawatch.core.snapshot import ErrorKind
from quotawatch.providers.base import ParsedUsage
from quotawatch.providers.converra import PROVIDER, parse
from quotawatch.providers.parsing import BadResponse
from quotawatch_local.fakes import FakeProvider, Reply, always
from quotawatch_local.fakes import converra as fake_converra
from quotawatch_local.fakes.converra import FREE_USAGE, PRO_USAGE, UNLIMITED_USAGE, base_url_of
from tests.unit.support import Recorder, Serve, StartFake, scenario_starter

KEY = "sk_live_4f3e2d1c0b9a8f7e6d5c4b3a29180716"
SLOW_SECONDS = 2.0
SCENARIOS = fake_converra.scenarios(slow_seconds=SLOW_SECONDS)


@pytest.fixture
def start_fake(serve: Serve) -> StartFake:
    """Start a fake Converra on loopback: start_fake("limit-exceeded"), or any Scenario."""
    return scenario_starter(serve, fake_converra.API, SCENARIOS, "pro", KEY)


def check(client: HttpClient, fake: FakeProvider, key: str = KEY, base_url: str | None = None) -> ParsedUsage:
    """What the check does: fetch with the provider's URL and headers, then parse."""
    url = PROVIDER.url(base_url or base_url_of(fake))
    return PROVIDER.parse(client.get_json(url, PROVIDER.auth_headers(key)), datetime.now(UTC))


def failure(client: HttpClient, fake: FakeProvider, key: str = KEY, base_url: str | None = None) -> CheckFailed:
    with pytest.raises(CheckFailed) as caught:
        check(client, fake, key, base_url)
    assert key not in str(caught.value)
    assert key not in repr(caught.value.args)
    return caught.value


# --- answers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "body"), [("pro", PRO_USAGE), ("free", FREE_USAGE), ("unlimited", UNLIMITED_USAGE)]
)
def test_documented_answers_parse(
    client: HttpClient, start_fake: StartFake, sleep: Recorder, scenario: str, body: dict[str, Any]
) -> None:
    fake = start_fake(scenario)

    assert check(client, fake) == parse(body)
    assert fake.calls == 1
    assert sleep.delays == []


def test_request_path_and_headers(client: HttpClient, start_fake: StartFake) -> None:
    fake = start_fake("pro")
    check(client, fake)

    assert fake.paths == ["/api/v1/usage"]
    [headers] = fake.requests
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["user-agent"] == USER_AGENT
    assert headers["user-agent"].startswith("QuotaWatch/")
    assert headers["accept"] == "application/json"


def test_climbing_reads_a_new_figure_each_call(client: HttpClient, start_fake: StartFake) -> None:
    fake = start_fake("climbing")
    used = [check(client, fake).meters[2].used for _ in range(len(fake_converra.CLIMB) + 1)]

    assert used == [*fake_converra.CLIMB, fake_converra.CLIMB[-1]]


def test_the_fake_base_url_without_the_api_prefix_is_a_config_error(client: HttpClient, start_fake: StartFake) -> None:
    fake = start_fake("pro")
    error = failure(client, fake, base_url=fake.base_url)

    assert error.kind is ErrorKind.CONFIG
    assert "404" in error.message
    assert "base_url" in error.message


# --- auth: never retried --------------------------------------------------------------------------


def test_revoked_key_is_auth_with_the_providers_message(
    client: HttpClient, start_fake: StartFake, sleep: Recorder
) -> None:
    fake = start_fake("unauthorized")
    error = failure(client, fake)

    assert error.kind is ErrorKind.AUTH
    assert error.message == "127.0.0.1 rejected the API key (401: Invalid API key)"
    assert len(fake.requests) == 1
    assert sleep.delays == []


def test_wrong_key_is_auth(client: HttpClient, start_fake: StartFake) -> None:
    fake = start_fake("pro")
    error = failure(client, fake, key="sk_test_not_the_key_000000000000")

    assert error.kind is ErrorKind.AUTH
    assert "Invalid API key" in error.message
    assert fake.calls == 0


def test_missing_header_is_auth(client: HttpClient, start_fake: StartFake) -> None:
    fake = start_fake("pro")
    with pytest.raises(CheckFailed) as caught:
        client.get_json(PROVIDER.url(base_url_of(fake)), {})

    assert caught.value.kind is ErrorKind.AUTH
    assert "Invalid API key" in caught.value.message


def test_a_key_echoed_by_the_provider_is_redacted(client: HttpClient, start_fake: StartFake) -> None:
    echo = Reply(401, {"error": {"code": "UNAUTHORIZED", "message": f"Invalid API key Bearer {KEY}"}})
    fake = start_fake(always(echo))
    error = failure(client, fake)

    assert error.kind is ErrorKind.AUTH
    assert "[redacted]" in error.message
    assert KEY[:12] not in error.message


# --- 429s: retried, bounded -----------------------------------------------------------------------


def test_rate_limited_honours_retry_after(client: HttpClient, start_fake: StartFake, sleep: Recorder) -> None:
    fake = start_fake("rate-limited")
    error = failure(client, fake)

    assert error.kind is ErrorKind.RATE_LIMITED
    assert error.message == (
        "127.0.0.1 answered 429 Too Many Requests: Rate limit exceeded: 300 requests/min (after 3 attempts)"
    )
    assert sleep.delays == [1.0, 1.0]
    assert fake.calls == 3


def test_limit_exceeded_is_rate_limited_with_the_providers_reason(
    client: HttpClient, start_fake: StartFake, sleep: Recorder
) -> None:
    fake = start_fake("limit-exceeded")
    error = failure(client, fake)

    assert error.kind is ErrorKind.RATE_LIMITED
    assert "Monthly optimization limit reached" in error.message
    # No Retry-After: bounded, jittered backoff.
    assert len(sleep.delays) == 2
    assert all(0 <= delay <= 1.0 for delay in sleep.delays)


# --- unavailable ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "text"),
    [
        ("server-error", "answered 500 (server error)"),
        ("html-error-page", "answered 502 (server error)"),
        ("truncated", "closed the connection before the answer was complete"),
    ],
)
def test_server_trouble_is_unavailable_after_retries(
    client: HttpClient, start_fake: StartFake, sleep: Recorder, scenario: str, text: str
) -> None:
    fake = start_fake(scenario)
    error = failure(client, fake)

    assert error.kind is ErrorKind.UNAVAILABLE
    assert text in error.message
    assert "(after 3 attempts)" in error.message
    assert "<html" not in error.message
    assert fake.calls == 3
    assert len(sleep.delays) == 2


def test_slow_provider_is_unavailable(start_fake: StartFake, sleep: Recorder) -> None:
    fake = start_fake("slow")  # answers after 2 s; the client waits 0.5 s
    client = HttpClient(HttpPolicy(connect_timeout=0.5, read_timeout=0.5, max_attempts=2), sleep=sleep)
    started = time.monotonic()
    error = failure(client, fake)

    assert error.kind is ErrorKind.UNAVAILABLE
    assert error.message == "127.0.0.1 did not answer in time (after 2 attempts)"
    assert time.monotonic() - started < SLOW_SECONDS - 0.1
    assert len(sleep.delays) == 1


# --- bad responses: not retried ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ("malformed-json", "127.0.0.1 answered 200 but not with JSON"),
        ("html-200", "127.0.0.1 answered 200 but not with JSON"),
        ("huge", "127.0.0.1 answered with more than 1,000,000 bytes"),
    ],
)
def test_unusable_bodies_are_a_bad_response(
    client: HttpClient, start_fake: StartFake, sleep: Recorder, scenario: str, message: str
) -> None:
    fake = start_fake(scenario)
    error = failure(client, fake)

    assert error.kind is ErrorKind.BAD_RESPONSE
    assert error.message == message
    assert fake.calls == 1
    assert sleep.delays == []


@pytest.mark.parametrize(("scenario", "field"), [("not-an-object", "response"), ("missing-prompts", "prompts")])
def test_json_without_usage_is_rejected_by_the_parser(
    client: HttpClient, start_fake: StartFake, scenario: str, field: str
) -> None:
    fake = start_fake(scenario)
    error = failure(client, fake)

    assert isinstance(error, BadResponse)
    assert error.kind is ErrorKind.BAD_RESPONSE
    assert error.field == field
    assert fake.calls == 1


# --- the key never leaks ------------------------------------------------------------------------------


FAILING = [name for name in SCENARIOS if name not in ("pro", "free", "unlimited", "climbing")]


def test_every_scenario_is_covered() -> None:
    assert set(SCENARIOS) >= {"pro", "free", "unlimited", "climbing", "unauthorized", "rate-limited"}
    assert set(SCENARIOS) >= {"limit-exceeded", "server-error", "slow", "malformed-json", "html-error-page"}
    assert set(SCENARIOS) >= {"html-200", "truncated", "huge", "not-an-object"}


@pytest.mark.parametrize("scenario", FAILING)
def test_the_key_is_in_no_error_message(start_fake: StartFake, scenario: str) -> None:
    fake = start_fake(scenario)
    client = HttpClient(HttpPolicy(connect_timeout=0.5, read_timeout=0.5, max_attempts=1))
    error = failure(client, fake)

    assert KEY not in error.message
    assert f"Bearer {KEY}" not in str(error)
    assert error.__cause__ is None  # raised `from None`: no chained exception carrying the request
