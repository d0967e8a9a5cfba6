"""Fixtures shared by the unit tests that talk HTTP to the fake cloudlayer server on loopback."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from quotawatch_local.fakes import FakeProvider, ProviderApi, Scenario
from quotawatch_local.fakes import cloudlayer as fake_cloudlayer

FAKE_KEY = "cl_live_9f8e7d6c5b4a39281706f5e4d3c2b1a0"

StartFake = Callable[..., FakeProvider]


@pytest.fixture(scope="session")
def _stopping() -> Iterator[list[threading.Thread]]:
    """Fake servers stop in the background: each stop waits out the server's 0.5 s poll."""
    threads: list[threading.Thread] = []
    yield threads
    for thread in threads:
        thread.join(timeout=5)


@pytest.fixture
def start_fake(_stopping: list[threading.Thread]) -> Iterator[StartFake]:
    """Start a fake cloudlayer.io on loopback: start_fake("rate-limited"), or any Scenario."""
    started: list[FakeProvider] = []
    scenarios = fake_cloudlayer.scenarios(slow_seconds=2)

    def start(scenario: str | Scenario = "limit-plan", key: str = FAKE_KEY) -> FakeProvider:
        chosen = scenarios[scenario] if isinstance(scenario, str) else scenario
        fake = FakeProvider(fake_cloudlayer.API, key, chosen).start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        thread = threading.Thread(target=fake.stop, daemon=True)
        thread.start()
        _stopping.append(thread)


Serve = Callable[[ProviderApi, str, Scenario], FakeProvider]


@pytest.fixture
def serve(_stopping: list[threading.Thread]) -> Iterator[Serve]:
    """Start any provider's fake on loopback: serve(fakes.tornado.API, key, scenario)."""
    started: list[FakeProvider] = []

    def start(api: ProviderApi, key: str, scenario: Scenario) -> FakeProvider:
        fake = FakeProvider(api, key, scenario).start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        thread = threading.Thread(target=fake.stop, daemon=True)
        thread.start()
        _stopping.append(thread)
