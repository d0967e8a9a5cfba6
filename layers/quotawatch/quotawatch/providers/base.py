"""What a provider module declares: where its usage lives, how to authenticate, how to parse."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from quotawatch.core.snapshot import Condition, Meter, Period


@dataclass(frozen=True)
class ParsedUsage:
    meters: tuple[Meter, ...]
    conditions: tuple[Condition, ...] = ()
    period: Period | None = None


@dataclass(frozen=True)
class Provider:
    name: str
    display_name: str
    base_url: str
    path: str
    auth_headers: Callable[[str], dict[str, str]]
    parse: Callable[[Any], ParsedUsage]
    meter_names: tuple[str, ...] = field(default=())

    def url(self, base_url: str | None = None) -> str:
        return (base_url or self.base_url).rstrip("/") + self.path
