"""What a provider module declares: where its usage lives, how to authenticate, how to parse.

A provider module is small and declarative: one `PROVIDER = Provider(...)`. Its `parse`
turns the provider's JSON into meters, conditions and a billing period, using the liberal
readers of `quotawatch.providers.parsing`, and raises `BadResponse` naming the field when
the answer lacks what a meter needs. It never does I/O: the HTTP policy, retries and
error classification are shared by all providers (`quotawatch.adapters.http`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
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
    # (JSON body, time of the check) -> usage; the time is for facts relative to now,
    # such as a key expiring in N days.
    parse: Callable[[Any, datetime], ParsedUsage]
    # Meter names snapshots use; a trailing '*' names a family ("key:*" for one per key).
    meter_names: tuple[str, ...] = field(default=())
    # Condition names, the same way ("key_expiring:*"). What a family adds to its prefix
    # is the provider's text, masked with the key; the rest of a declared name is never.
    condition_names: tuple[str, ...] = field(default=())
    # (status, JSON error body, time) -> usage, for a refusal that is itself a reading:
    # "storage quota reached" is a breach to report, not a check that failed.
    read_refusal: Callable[[int, Any, datetime], ParsedUsage | None] | None = None

    def url(self, base_url: str | None = None) -> str:
        return (base_url or self.base_url).rstrip("/") + self.path

    def has_meter(self, name: str) -> bool:
        return declared_part(name, self.meter_names) is not None


def declared_part(name: str, patterns: tuple[str, ...]) -> str | None:
    """The part of `name` a module declared (all of it, or a family's prefix); None if not declared."""
    for pattern in patterns:
        if not pattern.endswith("*"):
            if name == pattern:
                return name
        elif name.startswith(pattern[:-1]) and len(name) > len(pattern) - 1:
            return pattern[:-1]
    return None
