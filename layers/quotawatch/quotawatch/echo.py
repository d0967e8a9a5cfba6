"""Echoing hostile values in error messages: every message naming a value or field of a file
a user wrote goes through here, so it is one printable line that never floods a log.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

_T = TypeVar("_T")

# Every message is one line of at most MAX_MESSAGE_CHARS; an echoed value or name takes
# at most ECHO_CHARS of it.
ECHO_CHARS = 80
MAX_MESSAGE_CHARS = 400


class InvalidField(Exception):
    """Wrong fields of an entry (`field` fit to print), the first and its `more`; the reader
    adds the file and the entry."""

    def __init__(self, field: str, message: str, more: tuple[InvalidField, ...] = ()) -> None:
        super().__init__(message)
        self.field, self.more = field, more

    def every(self) -> tuple[InvalidField, ...]:
        return (self, *self.more)

    @classmethod
    def of(cls, found: list[InvalidField]) -> InvalidField:
        return cls(found[0].field, str(found[0]), tuple(found[1:]))


class ConfigError(Exception):
    """A file (or a declaration given alone) that cannot be used: one line naming file and line,
    and `more` its other problems."""

    def __init__(self, message: str, more: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.more = more

    @property
    def lines(self) -> tuple[str, ...]:
        return (str(self), *self.more)


def clip(value: str, limit: int = ECHO_CHARS) -> str:
    """One printable line of at most `limit` characters: unprintable ones and the backslash as
    Python escapes (what is printed reads back unambiguously), then an ellipsis."""
    head = value[: limit + 1]  # a long value is never copied whole
    pieces = [c if c.isprintable() and c != "\\" else c.encode("unicode_escape").decode() for c in head]
    size = sum(map(len, pieces))
    if size <= limit:
        return "".join(pieces)
    while size > limit - 1:
        size -= len(pieces.pop())
    return "".join(pieces) + "…"


def show(value: Any) -> str:
    """A value as an error message echoes it: short, one line, never a repr of a structure.
    (strict_yaml.py reads only these kinds: its tags exclude !!set and !!binary.)"""
    if isinstance(value, str):
        return f"'{clip(value)}'"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"a whole number of about {int(value.bit_length() * math.log10(2)) + 1:,} digits"
    if value is None or isinstance(value, (bool, float, int)):
        return repr(value)
    if isinstance(value, (list, tuple, dict)):
        kind, noun = ("a mapping", "field") if isinstance(value, dict) else ("a list", "item")
        return f"{kind} of {len(value):,} {noun}{'s' * (len(value) != 1)}"
    if isinstance(value, date):  # and datetime: YAML reads 2026-01-01 as a date
        return f"the date {clip(value.isoformat())}"
    return f"a value of type {clip(type(value).__name__)}"


def show_key(key: Any) -> str:
    """A field or meter name as it goes between quotes in a message."""
    return clip(key) if isinstance(key, str) else show(key)


def bounded(message: str) -> str:
    """The last guard: one line of at most MAX_MESSAGE_CHARS, whatever went into it."""
    return message if len(message) <= MAX_MESSAGE_CHARS and message.isprintable() else clip(message, MAX_MESSAGE_CHARS)


def attempt(found: list[InvalidField], rule: Callable[[], _T], fallback: _T) -> _T:
    """What `rule` gives, or `fallback` with its wrong fields kept: one run shows them all."""
    try:
        return rule()
    except InvalidField as exc:
        found.extend(exc.every())
        return fallback
