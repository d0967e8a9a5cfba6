"""Alert state: which signals changed level since they were last stored.

This is deliberately small: notify when a signal's level differs from its stored level,
never again while it stays the same. Reminders, hysteresis and forecasts build on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from quotawatch.core.rules import Level, Signal


@dataclass(frozen=True)
class SignalState:
    """The stored level of one (monitor, signal) and the version that guards its updates."""

    key: str
    level: Level
    since: datetime
    version: int


@dataclass(frozen=True)
class Transition:
    signal: Signal
    previous: Level
    previous_version: int  # 0 when no state was stored yet

    @property
    def current(self) -> Level:
        return self.signal.level

    @property
    def is_rise(self) -> bool:
        return self.current > self.previous

    @property
    def is_clear(self) -> bool:
        return self.current is Level.OK


def transitions(signals: list[Signal], stored: dict[str, SignalState], reports_meters: bool = True) -> list[Transition]:
    """Signals whose level differs from the stored one.

    A signal with no stored state counts as OK before. A stored raised signal that the
    snapshot no longer reports clears: a condition that went away, or a meter that is gone
    or became unlimited (a deleted key, a removed cap). A reading without meters (a
    provider's refusal read as a condition) says nothing about meters, so they stay.
    """
    result: list[Transition] = []
    seen: set[str] = set()
    for signal in signals:
        seen.add(signal.key)
        state = stored.get(signal.key)
        previous = state.level if state else Level.OK
        if signal.level != previous:
            result.append(Transition(signal, previous, state.version if state else 0))
    for key, state in stored.items():
        vanished = key.startswith("condition:") or (reports_meters and key.startswith("meter:"))
        if key not in seen and vanished and state.level is not Level.OK:
            result.append(Transition(Signal(key, Level.OK), state.level, state.version))
    return result
