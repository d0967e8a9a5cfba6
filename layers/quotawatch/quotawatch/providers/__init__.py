"""Provider adapters: one small module per paid API, registered by name."""

from __future__ import annotations

from quotawatch.providers import cloudlayer, converra, imagerouter, tornado
from quotawatch.providers.base import Provider

PROVIDERS: dict[str, Provider] = {
    p.name: p for p in (cloudlayer.PROVIDER, tornado.PROVIDER, converra.PROVIDER, imagerouter.PROVIDER)
}


def get_provider(name: str) -> Provider | None:
    return PROVIDERS.get(name)
