"""Plain helpers shared by the unit tests (fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from hypothesis import strategies as st

from quotawatch.adapters.http import HttpPolicy
from quotawatch.core.snapshot import Meter
from quotawatch.providers.base import ParsedUsage
from quotawatch_local.fakes import FakeProvider, ProviderApi, Scenario

# Short timeouts against loopback fakes; three attempts so retries show in the recorded delays.
POLICY = HttpPolicy(connect_timeout=0.5, read_timeout=0.5, max_attempts=3, backoff_base=0.5, retry_after_cap=10.0)

StartFake = Callable[..., FakeProvider]
Serve = Callable[[ProviderApi, str, Scenario], FakeProvider]


class Recorder:
    """Stands in for time.sleep: remembers the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def scenario_starter(
    serve: Serve, api: ProviderApi, scenarios: Mapping[str, Scenario], default: str, key: str
) -> StartFake:
    """start(scenario=default, key=key): a fake of `api` on loopback, by scenario name or any Scenario."""

    def start(scenario: str | Scenario = default, key: str = key) -> FakeProvider:
        chosen = scenarios[scenario] if isinstance(scenario, str) else scenario
        return serve(api, key, chosen)

    return start


def meters_by_name(usage: ParsedUsage) -> dict[str, Meter]:
    return {m.name: m for m in usage.meters}


# --- arbitrary JSON ------------------------------------------------------------------------------

# JSON integers have no size limit (json.loads gives Python ints), so include some past float range.
huge_integers = st.integers(min_value=2**1023, max_value=2**1100).flatmap(lambda n: st.sampled_from([n, -n]))
json_scalars = st.none() | st.booleans() | st.integers() | huge_integers | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


def numberish_with(*extra: Any) -> st.SearchStrategy[Any]:
    """Numbers as a provider might send them, good and bad, plus a provider's own odd values."""
    return (
        st.integers()
        | huge_integers
        | st.floats()
        | st.integers(min_value=-(10**6), max_value=10**16).map(str)
        | st.floats(allow_nan=False).map(repr)
        | st.sampled_from([-1, 0, None, "", "-1", "nan", "Infinity", "25.5000", True, False, *extra])
    )


class OneKey:
    """A KeyStore holding one key, never rotated, that does not check it (as the command
    line's environment variable does not)."""

    def __init__(self, key: str) -> None:
        self.key = key

    def get(self, field: str) -> str:
        return self.key

    def refresh(self, field: str, run: datetime) -> str | None:
        return None

    def where(self, field: str) -> str:
        return f"field '{field}' of secret 'quotawatch/api-keys'"


class KeysOf:
    """A KeyStore of several keys by field (a channel's URL, a routing key), never rotated."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def get(self, field: str) -> str:
        return self.values[field]

    def refresh(self, field: str, run: datetime) -> str | None:
        return None

    def where(self, field: str) -> str:
        return f"field '{field}'"
