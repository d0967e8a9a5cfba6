"""A fake Tornado API: GET /usage with x-api-key, answering like the three kinds of key.

The provider's documentation gives the fields per key type but no example, so the answers
below are built from its field table: every key has the job count and the storage figures
(effective = used + reserved by jobs in progress); a Stripe-billed key adds its billing
period; a trial key adds its storage quota; `max_*` limits appear when configured.
"""

from __future__ import annotations

from typing import Any

from quotawatch_local.fakes.server import FakeProvider, ProviderApi, Reply, Scenario, always, common_faults

API = ProviderApi(
    name="tornado",
    paths=("/usage",),
    auth_header="x-api-key",
    auth_prefix="",
    unauthorized=Reply(401, {"error": "Invalid API Key"}),
)

STRIPE_KEY: dict[str, Any] = {
    "client_name": "Acme Media",
    "usage_count": 1284,
    "storage_usage_gb": 342.61,
    "storage_reserved_gb": 2.35,
    "storage_effective_usage_gb": 344.96,
    "billing_period_start": "2026-11-01T00:00:00Z",
    "billing_period_end": "2026-12-01T00:00:00Z",
    "current_period_usage_gb": 87.42,
    "max_resolution_limit": "1080",
}
TRIAL_KEY: dict[str, Any] = {
    "client_name": "Trial - Jane Doe",
    "usage_count": 312,
    "storage_usage_gb": 412.37,
    "storage_reserved_gb": 1.82,
    "storage_effective_usage_gb": 414.19,
    "storage_limit_gb": 1000,
    "storage_limit_bytes": 1000000000000,
    "storage_remaining_gb": 585.81,
    "max_resolution_limit": "720",
    "max_duration_limit_seconds": 600,
    "max_filesize_limit_bytes": 2147483648,
    "max_filesize_limit_mb": 2048,
}
NO_LIMIT_KEY: dict[str, Any] = {
    "client_name": "Internal pipeline",
    "usage_count": 58213,
    "storage_usage_gb": 18342.07,
    "storage_reserved_gb": 0,
    "storage_effective_usage_gb": 18342.07,
}
# A Stripe-billed key whose billing information could not be read: no period this time.
STRIPE_KEY_BILLING_ERROR: dict[str, Any] = {
    **{k: v for k, v in STRIPE_KEY.items() if not k.startswith(("billing_period_", "current_period_"))},
    "billing_error": "Failed to retrieve billing information from Stripe",
}

QUOTA_REACHED = Reply(
    403, {"error": "Storage quota exceeded: 1000.00 GB of 1000 GB used. Contact support to upgrade your plan."}
)

# Effective storage (GB of the trial key's 1000) per reading in the climbing scenario:
# quiet, warning (80%), critical (95%), then a new trial starts from little again.
CLIMB = (500.0, 700.0, 820.0, 880.0, 960.0, 990.0, 40.0)
_TRIAL_LIMIT_GB = 1000.0
_RESERVED_GB = 1.5  # a job in progress holds some storage


def climbing(call: int) -> Reply:
    effective = CLIMB[min(call, len(CLIMB)) - 1]
    return Reply(
        200,
        {
            **TRIAL_KEY,
            "usage_count": int(effective * 0.75),
            "storage_usage_gb": effective - _RESERVED_GB,
            "storage_reserved_gb": _RESERVED_GB,
            "storage_effective_usage_gb": effective,
            "storage_remaining_gb": _TRIAL_LIMIT_GB - effective,
        },
    )


def scenarios(slow_seconds: float = 15.0) -> dict[str, Scenario]:
    return {
        "stripe": always(Reply(200, STRIPE_KEY)),
        "trial": always(Reply(200, TRIAL_KEY)),
        "no-limit": always(Reply(200, NO_LIMIT_KEY)),
        "billing-error": always(Reply(200, STRIPE_KEY_BILLING_ERROR)),
        "climbing": climbing,
        "missing-usage-count": always(Reply(200, {k: v for k, v in TRIAL_KEY.items() if k != "usage_count"})),
        "unauthorized": always(API.unauthorized),  # a revoked key
        "missing-header": always(Reply(401, {"error": "Missing x-api-key header"})),
        "quota-reached": always(QUOTA_REACHED),
        "gateway-timeout": always(Reply(504, {"message": "Endpoint request timed out"})),
        **common_faults(slow_seconds),
    }


def fake_tornado(key: str, scenario: str | Scenario = "trial") -> FakeProvider:
    chosen = scenarios()[scenario] if isinstance(scenario, str) else scenario
    return FakeProvider(API, key, chosen)
