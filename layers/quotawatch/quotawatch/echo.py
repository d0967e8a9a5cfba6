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
    """One wrong field of an entry (`field` fit to print); the reader adds the file and the entry."""

    def __init__(self, field: str, message: str, more: tuple[InvalidField, ...] = ()) -> None:
        super().__init__(message)
        self.field = field
        self.more = more  # the entry's other wrong fields, each to be reported too

    def every(self) -> tuple[InvalidField, ...]:
        return (self, *self.more)

    @classmethod
    def of(cls, found: list[InvalidField]) -> InvalidField:
        """The first of these wrong fields, with the others in its `more`."""
        return cls(found[0].field, str(found[0]), tuple(found[1:]))


class Findings:
    """The wrong fields of one entry: every rule's failure is kept, so one run shows them all."""

    def __init__(self, found: list[InvalidField] | None = None) -> None:
        self.found: list[InvalidField] = found or []

    def attempt(self, rule: Callable[[], _T], fallback: _T) -> _T:
        try:
            return rule()
        except InvalidField as exc:
            self.found.extend(exc.every())
            return fallback

    def raise_any(self) -> None:
        if self.found:
            raise InvalidField.of(self.found)


def _text(value: str, limit: int = ECHO_CHARS) -> str:
    """One printable line of at most `limit` characters: unprintable ones and the backslash as
    Python escapes (what is printed reads back unambiguously), then an ellipsis."""
    pieces: list[str] = []
    size = 0
    for char in value:  # stops early: a long value is never copied whole
        piece = char if char.isprintable() and char != "\\" else _escape(char)
        pieces.append(piece)
        size += len(piece)
        if size > limit:
            break
    else:
        return "".join(pieces)
    while size > limit - 1:
        size -= len(pieces.pop())
    return "".join(pieces) + "…"


def _escape(char: str) -> str:
    named = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if char in named:
        return named[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _show(value: Any) -> str:
    """A value as an error message echoes it: short, one line, never a repr of a structure.
    (strict_yaml.py reads only these kinds: its tags exclude !!set and !!binary.)"""
    if isinstance(value, str):
        return f"'{_text(value)}'"
    if value is None or isinstance(value, (bool, float)):
        return repr(value)
    if isinstance(value, int):
        if value.bit_length() > 128:  # Python will not even print a big enough int
            return f"a whole number of about {int(value.bit_length() * math.log10(2)) + 1:,} digits"
        return repr(value)
    if isinstance(value, (list, tuple, dict)):
        kind, noun = ("a mapping", "field") if isinstance(value, dict) else ("a list", "item")
        return f"{kind} of {len(value):,} {noun}{'s' * (len(value) != 1)}"
    if isinstance(value, date):  # and datetime: YAML reads 2026-01-01 as a date
        return f"the date {_text(value.isoformat())}"
    return f"a value of type {_text(type(value).__name__)}"


def _name(key: Any) -> str:
    """A field or meter name as it goes between quotes in a message."""
    return _text(key) if isinstance(key, str) else _show(key)


def _bounded(message: str) -> str:
    """The last guard: one line of at most MAX_MESSAGE_CHARS, whatever went into it."""
    if len(message) <= MAX_MESSAGE_CHARS and message.isprintable():
        return message
    line = "".join(c if c.isprintable() else _escape(c) for c in message[: MAX_MESSAGE_CHARS + 1])
    return line if len(line) <= MAX_MESSAGE_CHARS else line[: MAX_MESSAGE_CHARS - 1] + "…"


class ConfigError(Exception):
    """A file (or a declaration given alone) that cannot be used: one line naming file and line,
    and `more` its other problems."""

    def __init__(self, message: str, more: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.more = more

    @property
    def lines(self) -> tuple[str, ...]:
        return (str(self), *self.more)
