"""Converra through the real HttpClient against the fake Converra on loopback: its
documented answers, usage that climbs, and its base URL with the /api/v1 prefix.

What every provider shares (the request, retries, unreadable answers, the key in no
message) and each provider's own refusals are in test_http_policy.py. Retries never
really sleep: the client records them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from quotawatch.adapters.http import HttpClient
from quotawatch.core.errors import CheckFailed
from quotawatch.core.snapshot import ErrorKind
from quotawatch.providers.base import ParsedUsage
from quotawatch.providers.converra import PROVIDER, parse
from quotawatch.providers.parsing import BadResponse
from quotawatch_local.fakes import FakeProvider
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


def test_missing_header_is_auth(client: HttpClient, start_fake: StartFake) -> None:
    fake = start_fake("pro")
    with pytest.raises(CheckFailed) as caught:
        client.get_json(PROVIDER.url(base_url_of(fake)), {})

    assert caught.value.kind is ErrorKind.AUTH
    assert "Invalid API key" in caught.value.message


# --- bad responses: not retried ---------------------------------------------------------------------


def test_json_without_prompts_is_rejected_by_the_parser(client: HttpClient, start_fake: StartFake) -> None:
    fake = start_fake("missing-prompts")
    error = failure(client, fake)

    assert isinstance(error, BadResponse)
    assert error.kind is ErrorKind.BAD_RESPONSE
    assert error.field == "prompts"
    assert fake.calls == 1
