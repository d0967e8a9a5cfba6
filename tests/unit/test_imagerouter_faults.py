"""ImageRouter through the real HttpClient against the fake ImageRouter on loopback:
its documented answers, spend that climbs and resets, expiring keys and lifetime caps.

What every provider shares (the request, retries, unreadable answers, the key in no
message) and each provider's own refusals are in test_http_policy.py. Retries never
really sleep: the client records them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from quotawatch.adapters.http import HttpClient
from quotawatch.core.rules import DEFAULT_THRESHOLDS, Level
from quotawatch.core.snapshot import Meter, Severity
from quotawatch.providers.base import ParsedUsage
from quotawatch.providers.imagerouter import PROVIDER, parse
from quotawatch.providers.parsing import BadResponse
from quotawatch_local.fakes import FakeProvider, Reply, always
from quotawatch_local.fakes import imagerouter as fake_imagerouter
from quotawatch_local.fakes.imagerouter import CLIMB, CREDITS_ONLY, SPEND_LIMIT
from tests.unit.support import Recorder, Serve, StartFake, meters_by_name, scenario_starter

KEY = "ir_9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6"
NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
PROD = "key:Production Key"


@pytest.fixture
def imagerouter(serve: Serve) -> StartFake:
    """Start a fake ImageRouter on loopback whose clock stands at NOW: imagerouter("climbing")."""
    scenarios = fake_imagerouter.scenarios(slow_seconds=2, clock=lambda: NOW)
    return scenario_starter(serve, fake_imagerouter.API, scenarios, "by-api-key", KEY)


def fetch(client: HttpClient, fake: FakeProvider, key: str | None = None) -> Any:
    return client.get_json(PROVIDER.url(fake.base_url), PROVIDER.auth_headers(key or fake.valid_key))


def check(client: HttpClient, fake: FakeProvider, now: datetime = NOW) -> ParsedUsage:
    """What the check does: fetch, then parse."""
    return parse(fetch(client, fake), now)


# --- answers -------------------------------------------------------------------------------------


def test_documented_example_end_to_end(client: HttpClient, imagerouter: StartFake, sleep: Recorder) -> None:
    usage = check(client, imagerouter("by-api-key"), datetime(2026, 5, 20, tzinfo=UTC))

    assert usage.meters == (Meter("credit", 4.5, 30.0, 25.5, "USD"), Meter(PROD, 1.2, 5.0, 3.8, "USD"))
    assert usage.conditions == ()
    assert sleep.delays == []


def test_the_published_example_read_today_is_a_past_window(client: HttpClient, imagerouter: StartFake) -> None:
    """The example's window is May 2026: read in November, the key has spent nothing this month."""
    assert meters_by_name(check(client, imagerouter("by-api-key")))[PROD] == Meter(PROD, 0.0, 5.0, 5.0, "USD")


def test_credits_without_the_breakdown(client: HttpClient, imagerouter: StartFake) -> None:
    fake = imagerouter("credits")
    assert fetch(client, fake) == CREDITS_ONLY
    assert check(client, fake).meters == (Meter("credit", 4.5, 30.0, 25.5, "USD"),)


def test_climbing_spend_warns_then_goes_critical_then_resets(client: HttpClient, imagerouter: StartFake) -> None:
    fake = imagerouter("climbing")
    levels: list[Level] = []
    percents: list[float] = []
    for _ in range(len(CLIMB) + 1):  # the last reading repeats
        usage = check(client, fake)
        key = meters_by_name(usage)[PROD]
        credit = meters_by_name(usage)["credit"]
        assert key.limit == SPEND_LIMIT
        assert key.percent_used is not None
        percents.append(round(key.percent_used))
        levels.append(DEFAULT_THRESHOLDS.level(key.percent_used))
        # The account's figures move with the key's and stay consistent.
        assert credit.used is not None
        assert credit.limit is not None
        assert credit.remaining is not None
        assert credit.used + credit.remaining == pytest.approx(credit.limit)
        assert usage.conditions == ()

    assert percents == [50, 70, 82, 88, 96, 99, 4, 4]
    W, C, OK = Level.WARNING, Level.CRITICAL, Level.OK  # noqa: N806
    assert levels == [OK, OK, W, W, C, C, OK, OK]


def test_climbing_account_usage_only_grows(client: HttpClient, imagerouter: StartFake) -> None:
    fake = imagerouter("climbing")
    used = [meters_by_name(check(client, fake))["credit"].used or 0.0 for _ in CLIMB]
    assert used == sorted(used)
    assert used[-1] == pytest.approx(3.0 + 4.95 + 0.20 + 0.03)  # the spend before the reset stays spent


def test_expiring_key_is_a_warning_ten_days_ahead(client: HttpClient, imagerouter: StartFake) -> None:
    usage = check(client, imagerouter("expiring"))

    [condition] = usage.conditions
    assert condition.name == "key_expiring:Production Key"
    assert condition.severity is Severity.WARNING
    assert condition.message == "API key 'Production Key' expires on 2026-12-04 01:00 UTC (in 10 days)"
    assert meters_by_name(usage)[PROD].used == 1.2  # its window is the current month


def test_expiring_follows_the_clock_it_is_given(client: HttpClient, imagerouter: StartFake) -> None:
    clock = [NOW]
    fake = imagerouter(fake_imagerouter.expiring(days=2, clock=lambda: clock[0]))
    clock[0] = NOW + timedelta(days=40)

    [condition] = check(client, fake, clock[0]).conditions
    assert condition.severity is Severity.CRITICAL
    assert "(in 2 days)" in condition.message


def test_lifetime_cap(client: HttpClient, imagerouter: StartFake) -> None:
    usage = check(client, imagerouter("lifetime-cap"))
    assert meters_by_name(usage)[PROD] == Meter(PROD, 4.2, 10.0, 5.8, "USD")
    assert meters_by_name(usage)["credit"] == Meter("credit", 4.23, 30.0, 25.77, "USD")


def test_an_empty_object_names_the_balance(client: HttpClient, imagerouter: StartFake) -> None:
    fake = imagerouter(always(Reply(200, {})))
    with pytest.raises(BadResponse) as caught:
        check(client, fake)
    assert caught.value.field == "remaining_credits"


# --- the fake ------------------------------------------------------------------------------------


def test_fake_imagerouter_serves_the_named_scenario(
    client: HttpClient, stop_later: Callable[[FakeProvider], FakeProvider]
) -> None:
    fake = stop_later(fake_imagerouter.fake_imagerouter(KEY, "credits").start())

    assert fake.api is fake_imagerouter.API
    assert check(client, fake).meters == (Meter("credit", 4.5, 30.0, 25.5, "USD"),)
