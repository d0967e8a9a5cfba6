"""Providers: declarations in the catalogue (catalogue/*.yaml), code where one cannot say it.

`PROVIDERS` is the catalogue, read on first use (module attribute, loaded lazily: a
container that never reads a provider never parses the catalogue).
"""

from __future__ import annotations

from typing import Any

from quotawatch.providers.base import Provider


def catalogued() -> dict[str, Provider]:
    from quotawatch.providers.catalogue import shipped

    return shipped().providers


def get_provider(name: str) -> Provider | None:
    return catalogued().get(name)


def __getattr__(name: str) -> Any:
    if name == "PROVIDERS":
        return catalogued()
    raise AttributeError(name)
