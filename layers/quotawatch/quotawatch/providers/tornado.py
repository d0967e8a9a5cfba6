"""Tornado API: declared in catalogue/tornado.yaml.

This module keeps the names the provider had when it was code (`PROVIDER`, `parse`,
`read_refusal`), now the declared provider's, so that code and tests that import them
read the declaration.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from quotawatch.providers.base import ParsedUsage, Provider

    PROVIDER: Provider

    def parse(body: Any, now: datetime | None = None) -> ParsedUsage: ...

    def read_refusal(status: int, body: Any, now: datetime | None = None) -> ParsedUsage | None: ...


def __getattr__(name: str) -> Any:
    from quotawatch.providers import get_provider

    provider = get_provider("tornado")
    if provider is None:  # the catalogue file is shipped with this module
        raise AttributeError(name)
    if name == "PROVIDER":
        return provider
    if name in ("parse", "read_refusal"):
        return getattr(provider, name)
    raise AttributeError(name)
