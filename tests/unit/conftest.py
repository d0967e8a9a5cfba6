"""Fixtures shared by the unit tests that talk HTTP to the fake provider servers on loopback."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from quotawatch.adapters.http import HttpClient
from quotawatch_local.fakes import FakeProvider, ProviderApi, Scenario
from quotawatch_local.fakes import cloudlayer as fake_cloudlayer
from tests.unit.support import POLICY, Recorder, Serve, StartFake, scenario_starter

FAKE_KEY = "cl_live_9f8e7d6c5b4a39281706f5e4d3c2b1a0"


@pytest.fixture(scope="session")
def _stopping() -> Iterator[list[threading.Thread]]:
    """Fake servers stop in the background: each stop waits out the server's 0.5 s poll."""
    threads: list[threading.Thread] = []
    yield threads
    for thread in threads:
        thread.join(timeout=5)


@pytest.fixture
def stop_later(_stopping: list[threading.Thread]) -> Iterator[Callable[[FakeProvider], FakeProvider]]:
    """Fakes to stop after the test, in the background: stop_later(fake.start())."""
    started: list[FakeProvider] = []

    def register(fake: FakeProvider) -> FakeProvider:
        started.append(fake)
        return fake

    yield register
    for fake in started:
        thread = threading.Thread(target=fake.stop, daemon=True)
        thread.start()
        _stopping.append(thread)


@pytest.fixture
def fake_tls() -> bool:
    """Fakes serve https, as real providers do; a module that tests plain http overrides this."""
    return True


@pytest.fixture
def serve(stop_later: Callable[[FakeProvider], FakeProvider], fake_tls: bool) -> Serve:
    """Start any provider's fake on loopback: serve(fakes.tornado.API, key, scenario)."""

    def start(api: ProviderApi, key: str, scenario: Scenario) -> FakeProvider:
        return stop_later(FakeProvider(api, key, scenario, tls=fake_tls).start())

    return start


@pytest.fixture
def start_fake(serve: Serve) -> StartFake:
    """Start a fake cloudlayer.io on loopback: start_fake("rate-limited"), or any Scenario.

    Test modules for other providers override this with their own scenarios."""
    return scenario_starter(
        serve, fake_cloudlayer.API, fake_cloudlayer.scenarios(slow_seconds=2), "limit-plan", FAKE_KEY
    )


@pytest.fixture
def sleep() -> Recorder:
    return Recorder()


@pytest.fixture
def client(sleep: Recorder) -> HttpClient:
    """The real HttpClient with short timeouts, whose retries only record their delays in `sleep`."""
    return HttpClient(POLICY, sleep=sleep)
