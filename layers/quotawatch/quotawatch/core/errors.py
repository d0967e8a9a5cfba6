"""The one exception the check understands: a classified reason why a monitor has no reading."""

from __future__ import annotations

from typing import Any

from quotawatch.core.snapshot import ErrorKind


class CheckFailed(Exception):
    """Raised by adapters and parsers; becomes a snapshot carrying a check error.

    For a provider's refusal (401, 403, 404, 429) `status` and its JSON error `body` are kept,
    so that a provider can recognise a refusal that is itself news (a quota reached).
    """

    def __init__(self, kind: ErrorKind, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.body = body
