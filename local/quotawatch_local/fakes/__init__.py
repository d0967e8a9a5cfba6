"""Fake providers for tests and the demo: one module per provider, one shared server."""

from quotawatch_local.fakes.server import FakeProvider, ProviderApi, Reply, Scenario, always, sequence

__all__ = ["FakeProvider", "ProviderApi", "Reply", "Scenario", "always", "sequence"]
