"""Rules: from a snapshot and thresholds to a level per signal."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from quotawatch.core.snapshot import Condition, Meter, Severity, Snapshot


class Level(IntEnum):
    """Ordered so that a rise is `new > old`."""

    OK = 0
    WARNING = 1
    CRITICAL = 2

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Level:
        return cls[value.upper()]

    @classmethod
    def of_severity(cls, severity: Severity) -> Level:
        return {
            Severity.INFO: cls.OK,
            Severity.WARNING: cls.WARNING,
            Severity.CRITICAL: cls.CRITICAL,
        }[severity]


@dataclass(frozen=True)
class Thresholds:
    """Percent-used thresholds for one meter."""

    warning: float = 80.0
    critical: float = 95.0

    def level(self, percent_used: float) -> Level:
        if percent_used >= self.critical:
            return Level.CRITICAL
        if percent_used >= self.warning:
            return Level.WARNING
        return Level.OK


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class Signal:
    """One thing that can be raised: a meter's usage or a provider condition."""

    key: str
    level: Level
    meter: Meter | None = None
    condition: Condition | None = None
    thresholds: Thresholds | None = None

    @property
    def subject(self) -> str:
        """What the signal is about, as a person names it."""
        if self.meter is not None:
            return self.meter.name
        name = self.condition.name if self.condition is not None else self.key.split(":", 1)[-1]
        # "key_expiring:my_key" reads "key expiring: my_key": only the vocabulary part is ours.
        kind, _, detail = name.partition(":")
        return kind.replace("_", " ") + (f": {detail}" if detail else "")


def meter_signal_key(meter_name: str) -> str:
    return f"meter:{meter_name}"


def condition_signal_key(condition_name: str) -> str:
    return f"condition:{condition_name}"


def evaluate(snapshot: Snapshot, thresholds_for: Callable[[str], Thresholds]) -> list[Signal]:
    """Levels of every signal the snapshot can speak for.

    A failed check speaks for nothing: its missing meters are not zero and not a breach.
    Meters without a limit (unlimited or informational) carry no percent signal.
    """
    if not snapshot.ok:
        return []
    signals: list[Signal] = []
    for meter in snapshot.meters:
        percent = meter.percent_used
        if percent is None:
            continue
        thresholds = thresholds_for(meter.name)
        signals.append(
            Signal(meter_signal_key(meter.name), thresholds.level(percent), meter=meter, thresholds=thresholds)
        )
    for condition in snapshot.conditions:
        signals.append(
            Signal(condition_signal_key(condition.name), Level.of_severity(condition.severity), condition=condition)
        )
    return signals
