"""A fake ImageRouter: GET /v1/credits (with or without by_api_key=true), Bearer key.

Dates that only make sense relative to the check (the current spend window, a key that
expires in 10 days) are built when a request arrives, from `clock` (the real UTC time
unless a test or the demo passes its own), so the parser judges them against the same
`now` the check uses.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from quotawatch_local.fakes.server import FakeProvider, ProviderApi, Reply, Scenario, always, common_faults

Clock = Callable[[], datetime]

API = ProviderApi(
    name="imagerouter",
    paths=("/v1/credits",),  # the server matches without the query
    auth_header="Authorization",
    auth_prefix="Bearer ",
    unauthorized=Reply(401, {"error": {"message": "Invalid API key", "type": "authentication_error"}}),
)

# The two examples of the provider's documentation, as published.
CREDITS_ONLY: dict[str, Any] = {
    "remaining_credits": "25.5000",
    "credit_usage": "4.5000",
    "total_deposits": "30.0000",
}
PRODUCTION_KEY: dict[str, Any] = {
    "api_key_id": "d9eb93dc-56b1-4216-91b5-a44944508bbc",
    "api_key_name": "Production Key",
    "credit_usage": "4.2000",
    "total_requests": 150,
    "created_at": "2023-10-01T12:00:00.000Z",
    "is_active": True,
    "spend_limit": "5.0000",
    "spend_limit_period": "month",
    "period_spend": "1.2000",
    "period_start": "2026-05-01T00:00:00.000Z",
    "expires_at": "2027-01-01T00:00:00.000Z",
}
WEB_TOKEN: dict[str, Any] = {
    "api_key_id": "temp_jwt",
    "api_key_name": "Temporary web token (imagerouter.io)",
    "credit_usage": "0.0300",
    "total_requests": 45,
    "created_at": None,
    "is_active": False,
    "spend_limit": None,
    "spend_limit_period": None,
    "period_spend": "0.0300",
    "period_start": None,
    "expires_at": None,
}
BY_API_KEY: dict[str, Any] = {**CREDITS_ONLY, "usage_by_api_key": [PRODUCTION_KEY, WEB_TOKEN]}

INTERNAL_ERROR: dict[str, Any] = {"error": {"message": "Failed to fetch credit information", "type": "internal_error"}}
MANAGEMENT_KEY_REJECTED: dict[str, Any] = {
    "error": {
        "message": "Management keys cannot read credits; use a normal API key",
        "type": "authentication_error",
    }
}

DEPOSITS = 30.0
SPEND_LIMIT = 5.0
SPENT_BEFORE = 3.0  # the Production Key's spend in earlier months
# The Production Key's spend this month, reading by reading: 50%, 70%, 82% (warning at 80),
# 88%, 96% (critical at 95), 99% of its 5.00 monthly cap, then a new month begins.
CLIMB = (2.50, 3.50, 4.10, 4.40, 4.80, 4.95, 0.20)


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime) -> str:
    """The provider's style: 2026-05-01T00:00:00.000Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def month_start(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def money(value: float) -> str:
    return f"{value:.4f}"


def by_api_key(key: dict[str, Any], web_token_spend: float = 0.03) -> dict[str, Any]:
    """An account whose one API key is `key` (with the web token beside it), figures consistent."""
    token = {**WEB_TOKEN, "credit_usage": money(web_token_spend), "period_spend": money(web_token_spend)}
    used = float(key["credit_usage"]) + web_token_spend
    return {
        "remaining_credits": money(DEPOSITS - used),
        "credit_usage": money(used),
        "total_deposits": money(DEPOSITS),
        "usage_by_api_key": [key, token],
    }


def climbing(clock: Clock = utc_now) -> Scenario:
    """The Production Key's monthly spend climbs through the thresholds, then resets.

    The account's credit_usage and remaining_credits move with it (the key's lifetime
    credit_usage keeps growing across the reset). The window is the clock's current month.
    """

    def reply(call: int) -> Reply:
        step = min(call, len(CLIMB)) - 1
        spend = CLIMB[step]
        # Everything spent in the readings before a reset stays spent.
        lifetime = SPENT_BEFORE + sum(CLIMB[i] for i in range(step) if CLIMB[i + 1] < CLIMB[i]) + spend
        key = {
            **PRODUCTION_KEY,
            "credit_usage": money(lifetime),
            "total_requests": 100 + call * 10,
            "period_spend": money(spend),
            "period_start": iso(month_start(clock())),
            "expires_at": None,
        }
        return Reply(200, by_api_key(key))

    return reply


def expiring(days: float = 10, clock: Clock = utc_now) -> Scenario:
    """The documented account, its Production Key expiring `days` after each request."""

    def reply(_call: int) -> Reply:
        now = clock()
        key = {**PRODUCTION_KEY, "period_start": iso(month_start(now)), "expires_at": iso(now + timedelta(days=days))}
        return Reply(200, by_api_key(key))

    return reply


def lifetime_cap() -> dict[str, Any]:
    """A key capped at 10.00 for its whole life: no window, period_spend = credit_usage."""
    key = {
        **PRODUCTION_KEY,
        "spend_limit": "10.0000",
        "spend_limit_period": None,
        "period_spend": PRODUCTION_KEY["credit_usage"],
        "period_start": None,
        "expires_at": None,
    }
    return by_api_key(key)


def scenarios(slow_seconds: float = 15.0, clock: Clock = utc_now) -> dict[str, Scenario]:
    return {
        "credits": always(Reply(200, copy.deepcopy(CREDITS_ONLY))),
        "by-api-key": always(Reply(200, copy.deepcopy(BY_API_KEY))),
        "climbing": climbing(clock),
        "expiring": expiring(10, clock),
        "lifetime-cap": always(Reply(200, lifetime_cap())),
        "unauthorized": always(API.unauthorized),
        "management-key": always(Reply(403, MANAGEMENT_KEY_REJECTED)),
        "internal-error": always(Reply(500, INTERNAL_ERROR)),
        **common_faults(slow_seconds),
    }


def fake_imagerouter(key: str, scenario: str | Scenario = "by-api-key", clock: Clock = utc_now) -> FakeProvider:
    chosen = scenarios(clock=clock)[scenario] if isinstance(scenario, str) else scenario
    return FakeProvider(API, key, chosen)
