"""Tornado API through the real HttpClient against the fake Tornado on loopback: every
documented answer parses, storage climbs over successive checks.

What every provider shares (the request, retries, unreadable answers, the key in no
message) and each provider's own refusals are in test_http_policy.py. Retries never
really sleep: the client records them.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from quotawatch.adapters.http import HttpClient
from quotawatch.core.errors import CheckFailed
from quotawatch.core.snapshot import ErrorKind, Meter
from quotawatch.providers.base import ParsedUsage
from quotawatch.providers.parsing import BadResponse
from quotawatch.providers.tornado import PROVIDER, parse
from quotawatch_local.fakes import FakeProvider
from quotawatch_local.fakes import tornado as fake_tornado
from quotawatch_local.fakes.tornado import CLIMB, NO_LIMIT_KEY, STRIPE_KEY, STRIPE_KEY_BILLING_ERROR, TRIAL_KEY
from tests.unit.support import Recorder, Serve, StartFake, scenario_starter

KEY = "sk_7c1e9a2b4d6f80315a7b9c2d4e6f8a0b"
NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
SCENARIOS = fake_tornado.scenarios(slow_seconds=2)


@pytest.fixture
def start_fake(serve: Serve) -> StartFake:
    """Start a fake Tornado API on loopback: start_fake("quota-reached"), or any Scenario."""
    return scenario_starter(serve, fake_tornado.API, SCENARIOS, "trial", KEY)


def check(client: HttpClient, fake: FakeProvider, key: str | None = None) -> ParsedUsage:
    """What the check does: fetch with the provider's URL and auth headers, then parse."""
    body = client.get_json(PROVIDER.url(fake.base_url), PROVIDER.auth_headers(key or fake.valid_key))
    return PROVIDER.parse(body, NOW)


def check_failure(client: HttpClient, fake: FakeProvider, key: str | None = None) -> CheckFailed:
    key = key or fake.valid_key
    with pytest.raises(CheckFailed) as caught:
        check(client, fake, key)
    assert key not in str(caught.value)
    assert key not in caught.value.message
    assert key not in repr(caught.value.args)
    return caught.value


# --- answers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "body"),
    [
        ("stripe", STRIPE_KEY),
        ("trial", TRIAL_KEY),
        ("no-limit", NO_LIMIT_KEY),
        ("billing-error", STRIPE_KEY_BILLING_ERROR),
    ],
)
def test_each_kind_of_key_parses_over_http(
    client: HttpClient, start_fake: StartFake, sleep: Recorder, scenario: str, body: dict[str, object]
) -> None:
    fake = start_fake(scenario)

    assert check(client, fake) == parse(body, NOW)
    assert fake.calls == 1
    assert fake.paths == ["/usage"]
    assert sleep.delays == []


def test_climbing_storage_over_successive_checks(client: HttpClient, start_fake: StartFake) -> None:
    fake = start_fake("climbing")
    storage = [next(m for m in check(client, fake).meters if m.name == "storage") for _ in range(len(CLIMB) + 1)]

    assert [m.percent_used for m in storage] == pytest.approx([50, 70, 82, 88, 96, 99, 4, 4])
    assert storage[4] == Meter("storage", 960, 1000, 40, "GB")
    assert fake.calls == len(CLIMB) + 1


def test_fake_tornado_defaults_to_the_trial_key(client: HttpClient) -> None:
    with fake_tornado.fake_tornado(KEY) as fake:
        assert check(client, fake) == parse(TRIAL_KEY, NOW)


# --- answers without usage ----------------------------------------------------------------------


def test_json_without_usage_is_a_bad_response_from_the_parser(
    client: HttpClient, start_fake: StartFake, sleep: Recorder
) -> None:
    failure = check_failure(client, start_fake("missing-usage-count"))

    assert isinstance(failure, BadResponse)
    assert failure.kind is ErrorKind.BAD_RESPONSE
    assert failure.field == "usage_count"
    assert sleep.delays == []
