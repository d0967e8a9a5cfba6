"""The level of a signal: its own module so that the rules and the burn rule (core/burn.py),
which the rules call, both import it without importing each other."""

from __future__ import annotations

from enum import IntEnum

from quotawatch.core.snapshot import Severity


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
        return {Severity.INFO: cls.OK, Severity.WARNING: cls.WARNING, Severity.CRITICAL: cls.CRITICAL}[severity]
