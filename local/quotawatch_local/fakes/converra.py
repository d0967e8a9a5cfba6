"""A fake Converra: GET /api/v1/usage with `Authorization: Bearer <key>`, from the documented examples.

The fake serves the full path, so a monitor's base_url for it is `base_url_of(fake)`
(`<fake.base_url>/api/v1`), just as the real one is `https://converra.ai/api/v1`.
"""

from __future__ import annotations

from typing import Any

from quotawatch_local.fakes.server import FakeProvider, ProviderApi, Reply, Scenario, always, common_faults

API_PREFIX = "/api/v1"

API = ProviderApi(
    name="converra",
    paths=(f"{API_PREFIX}/usage",),
    auth_header="Authorization",
    auth_prefix="Bearer ",
    # Also the answer for an expired key or a missing header.
    unauthorized=Reply(401, {"error": {"code": "UNAUTHORIZED", "message": "Invalid API key"}}),
)


def base_url_of(fake: FakeProvider) -> str:
    """The base_url a converra monitor uses to reach this fake."""
    return fake.base_url + API_PREFIX


PERIOD: dict[str, Any] = {"start": "2025-01-01T00:00:00Z", "end": "2025-01-31T23:59:59Z"}
NEXT_PERIOD: dict[str, Any] = {"start": "2025-02-01T00:00:00Z", "end": "2025-02-28T23:59:59Z"}

# The documented usage example (a Pro plan), as published.
PRO_USAGE: dict[str, Any] = {
    "period": PERIOD,
    "prompts": {"used": 23, "limit": 100},
    "optimizations": {"used": 12, "limit": 50, "running": 2},
    "conversations": {"used": 1547, "limit": 10000},
    "tokens": {"used": 1250000, "limit": None},
}
# The Free plan's limits from the documented plan table (5 prompts, 10 optimizations and
# 500 conversations a month); the figures used are made up.
FREE_USAGE: dict[str, Any] = {
    "period": PERIOD,
    "prompts": {"used": 3, "limit": 5},
    "optimizations": {"used": 4, "limit": 10, "running": 0},
    "conversations": {"used": 212, "limit": 500},
    "tokens": {"used": 48000, "limit": None},
}
# Enterprise plans have custom limits; this one has none at all.
UNLIMITED_USAGE: dict[str, Any] = {
    "period": PERIOD,
    "prompts": {"used": 412, "limit": None},
    "optimizations": {"used": 230, "limit": None, "running": 5},
    "conversations": {"used": 184500, "limit": None},
    "tokens": {"used": 96500000, "limit": None},
}

# The documented 429 for a plan limit: a hard cap until resetAt, not a request rate.
LIMIT_EXCEEDED: dict[str, Any] = {
    "error": {
        "code": "LIMIT_EXCEEDED",
        "message": "Monthly optimization limit reached",
        "details": {"limit": 50, "used": 50, "resetAt": "2025-02-01T00:00:00Z"},
    }
}
# The 429 for the request rate (Free 60/min, Pro 300/min); the body is not documented,
# this one follows the documented error shape.
RATE_LIMITED: dict[str, Any] = {"error": {"code": "RATE_LIMITED", "message": "Rate limit exceeded: 300 requests/min"}}

# Conversations per reading in the climbing scenario (limit 10,000): 50%, 70%, 82%
# (warning at 80), 88%, 96% (critical at 95), 99%, then the next month starts.
# Other meters stay well below their limits.
CLIMB = (5000, 7000, 8200, 8800, 9600, 9900, 1200)


def climbing_in(period: dict[str, Any], next_period: dict[str, Any]) -> Scenario:
    """Conversations climb through `period`; the last reading is the start of `next_period`."""

    def reply(call: int) -> Reply:
        index = min(call, len(CLIMB)) - 1
        current = next_period if index == len(CLIMB) - 1 else period
        conversations = {**PRO_USAGE["conversations"], "used": CLIMB[index]}
        return Reply(200, {**PRO_USAGE, "period": current, "conversations": conversations})

    return reply


climbing = climbing_in(PERIOD, NEXT_PERIOD)


def scenarios(slow_seconds: float = 15.0) -> dict[str, Scenario]:
    return {
        "pro": always(Reply(200, PRO_USAGE)),
        "free": always(Reply(200, FREE_USAGE)),
        "unlimited": always(Reply(200, UNLIMITED_USAGE)),
        "climbing": climbing,
        "missing-prompts": always(Reply(200, {k: v for k, v in PRO_USAGE.items() if k != "prompts"})),
        # A revoked or expired key: the documented 401.
        "unauthorized": always(API.unauthorized),
        "limit-exceeded": always(Reply(429, LIMIT_EXCEEDED)),
        **common_faults(slow_seconds),
        "rate-limited": always(Reply(429, RATE_LIMITED, {"Retry-After": "1"})),
    }


def fake_converra(key: str, scenario: str | Scenario = "pro") -> FakeProvider:
    chosen = scenarios()[scenario] if isinstance(scenario, str) else scenario
    return FakeProvider(API, key, chosen)
