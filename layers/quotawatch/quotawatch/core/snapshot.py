"""The usage snapshot, schema 1: the public contract between providers, storage and messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from typing import Any

SCHEMA_VERSION = 1


class ErrorKind(StrEnum):
    """Why a check produced no meters. Each kind is its own signal, never a breach."""

    AUTH = "auth"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    BAD_RESPONSE = "bad_response"
    CONFIG = "config"
    INTERNAL = "internal"  # our side failed (a bug, a storage error), not the provider
    # The secret has no field for the monitor yet (day one: keys go in after the deploy).
    # Not a failure: "waiting for its key", no signal and no message until the field appears.
    NO_KEY = "no_key"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Meter:
    """One measured quantity. `limit=None` means unlimited; any figure may be unknown (None)."""

    name: str
    used: float | None
    limit: float | None
    remaining: float | None
    unit: str

    @property
    def percent_used(self) -> float | None:
        """Percent of the limit used, or None when unlimited or unknown."""
        if self.limit is None or self.limit <= 0:
            return None
        used = self.used
        if used is None and self.remaining is not None:
            used = self.limit - self.remaining
        if used is None:
            return None
        return used / self.limit * 100.0


@dataclass(frozen=True)
class Condition:
    """A fact that needs attention without a number (subscription inactive, key expiring...)."""

    name: str
    severity: Severity
    message: str


@dataclass(frozen=True)
class CheckError:
    kind: ErrorKind
    message: str


@dataclass(frozen=True)
class Period:
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class Snapshot:
    monitor: str
    provider: str
    checked_at: datetime
    period: Period | None = None
    meters: tuple[Meter, ...] = ()
    conditions: tuple[Condition, ...] = ()
    error: CheckError | None = None
    schema: int = field(default=SCHEMA_VERSION)

    @classmethod
    def failed(cls, monitor: str, provider: str, checked_at: datetime, kind: ErrorKind, message: str) -> Snapshot:
        return cls(monitor, provider, checked_at, error=CheckError(kind, message))

    @property
    def ok(self) -> bool:
        """Not a failed check: usage was read, or there is no key to read it with yet."""
        return self.error is None or self.waiting

    @property
    def waiting(self) -> bool:
        """Waiting for its key: the secret has no field for it yet."""
        return self.error is not None and self.error.kind is ErrorKind.NO_KEY

    def meter(self, name: str) -> Meter | None:
        """The first meter of that name."""
        return self._meters_by_name.get(name)

    @cached_property
    def _meters_by_name(self) -> dict[str, Meter]:
        # Rules look meters up by name in every reading of a window, for every meter: a dict
        # built once per snapshot (in its own __dict__, which a frozen dataclass allows).
        found: dict[str, Meter] = {}
        for meter in self.meters:
            found.setdefault(meter.name, meter)
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "monitor": self.monitor,
            "provider": self.provider,
            "checked_at": format_time(self.checked_at),
            "period": None
            if self.period is None
            else {"start": format_time(self.period.start), "end": format_time(self.period.end)},
            "meters": [
                {
                    "name": m.name,
                    "used": plain_number(m.used),
                    "limit": plain_number(m.limit),
                    "remaining": plain_number(m.remaining),
                    "unit": m.unit,
                }
                for m in self.meters
            ],
            "conditions": [
                {"name": c.name, "severity": c.severity.value, "message": c.message} for c in self.conditions
            ],
            "error": None if self.error is None else {"kind": self.error.kind.value, "message": self.error.message},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snapshot:
        period = data.get("period")
        error = data.get("error")
        return cls(
            schema=int(data.get("schema", SCHEMA_VERSION)),
            monitor=data["monitor"],
            provider=data["provider"],
            checked_at=parse_time(data["checked_at"]),
            period=None if not period else Period(_maybe_time(period.get("start")), _maybe_time(period.get("end"))),
            meters=tuple(
                Meter(
                    name=m["name"],
                    used=_maybe_float(m.get("used")),
                    limit=_maybe_float(m.get("limit")),
                    remaining=_maybe_float(m.get("remaining")),
                    unit=m.get("unit", ""),
                )
                for m in data.get("meters", [])
            ),
            conditions=tuple(
                Condition(c["name"], Severity(c["severity"]), c.get("message", "")) for c in data.get("conditions", [])
            ),
            error=None if not error else CheckError(ErrorKind(error["kind"]), error["message"]),
        )


def format_time(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, to the second: the one time format of the contract."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _maybe_time(value: str | None) -> datetime | None:
    return None if value is None else parse_time(value)


def _maybe_float(value: Any) -> float | None:
    return None if value is None else float(value)


def plain_number(value: float | None) -> int | float | None:
    """Whole numbers print as integers (842, not 842.0) so the JSON reads like the provider's."""
    if value is None or value.__class__ is int:  # the common cases first: the window encodes many
        return value
    if float(value).is_integer() and abs(value) < 2**53:
        return int(value)
    return value
