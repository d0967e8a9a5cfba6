"""A fake cloudlayer.io: GET /v2/account (and /v1) with X-API-Key, from the documented examples."""

from __future__ import annotations

from typing import Any

from quotawatch_local.fakes.server import FakeProvider, ProviderApi, Reply, Scenario, always, common_faults

API = ProviderApi(
    name="cloudlayer",
    paths=("/v2/account", "/v1/account"),
    auth_header="X-API-Key",
    auth_prefix="",
    unauthorized=Reply(401, {"error": "Unauthorized", "message": "Invalid API key"}),
)

# The two examples of the provider's documentation, as published.
LIMIT_PLAN: dict[str, Any] = {
    "email": "[email protected]",
    "uid": "aBcDeFgHiJkLmNoPqRsTuVwXyZ12",
    "subscription": "price-starter-1k",
    "subType": "limit",
    "subActive": True,
    "calls": 842,
    "callsLimit": 1000,
    "bytesTotal": 1073741824,
    "bytesLimit": 5368709120,
    "computeTimeTotal": 384200,
    "computeTimeLimit": 600000,
    "storageUsed": 52428800,
    "storageLimit": 1073741824,
    "totalJobs": 900,
    "successJobs": 858,
    "errorJobs": 42,
}
USAGE_PLAN: dict[str, Any] = {
    "email": "[email protected]",
    "uid": "aBcDeFgHiJkLmNoPqRsTuVwXyZ12",
    "subscription": "price-growth-usage",
    "subType": "usage",
    "subActive": True,
    "calls": 15234,
    "callsLimit": -1,
    "credit": 4500,
    "bytesTotal": 2147483648,
    "bytesLimit": -1,
    "computeTimeTotal": 720000,
    "computeTimeLimit": -1,
    "storageUsed": 104857600,
    "storageLimit": -1,
    "totalJobs": 15300,
    "successJobs": 15234,
    "errorJobs": 66,
}

# Calls per reading in the climbing scenario: quiet, warning (80%), critical (95%), then
# the period resets. Other meters stay well below their limits.
CLIMB = (500, 700, 820, 880, 960, 990, 120)


def climbing(call: int) -> Reply:
    calls = CLIMB[min(call, len(CLIMB)) - 1]
    return Reply(200, {**LIMIT_PLAN, "calls": calls, "totalJobs": calls + 10, "successJobs": calls})


def scenarios(slow_seconds: float = 15.0) -> dict[str, Scenario]:
    return {
        "limit-plan": always(Reply(200, LIMIT_PLAN)),
        "usage-plan": always(Reply(200, USAGE_PLAN)),
        "climbing": climbing,
        "inactive": always(Reply(200, {**LIMIT_PLAN, "subActive": False})),
        "missing-calls": always(Reply(200, {k: v for k, v in LIMIT_PLAN.items() if k != "calls"})),
        "unauthorized": always(API.unauthorized),
        **common_faults(slow_seconds),
    }


def fake_cloudlayer(key: str, scenario: str | Scenario = "limit-plan") -> FakeProvider:
    chosen = scenarios()[scenario] if isinstance(scenario, str) else scenario
    return FakeProvider(API, key, chosen)
