"""The one exception the check understands: a classified reason why a monitor has no reading."""

from __future__ import annotations

from quotawatch.core.snapshot import ErrorKind


class CheckFailed(Exception):
    """Raised by adapters and parsers; becomes a snapshot carrying a check error."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
