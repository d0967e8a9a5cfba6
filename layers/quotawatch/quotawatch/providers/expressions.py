"""Expressions of a declared provider: JMESPath, compiled once, with errors that name a field.

A plain dotted path (`prompts.used`) is walked directly rather than by the JMESPath
interpreter: it is the common case, it is faster, and it can say which step of the path
was wrong ("field 'prompts' is missing", "period is not a JSON object"), where JMESPath
would only answer null. Anything else (`sum(balances[].amount)`, `error.code == 'X'`) is
JMESPath, with the few functions provider answers need added (`lower`, `text`, `date`).

Messages are templates: `{expression}` is replaced by its value (text on one line, a
number as a number, anything else as nothing), and a part in `[...]` is left out when a
placeholder in it came out empty: "subscription not active[ (plan {plan})]".
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import jmespath
from jmespath import functions as jp_functions
from jmespath.exceptions import JMESPathError

from quotawatch.echo import clip
from quotawatch.providers import parsing as p

_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
# What one expression may be: long enough for any real declaration, short enough that a
# hostile file cannot make the compiler work hard.
MAX_EXPRESSION_CHARS = 500
MAX_TEMPLATE_CHARS = 4 * MAX_EXPRESSION_CHARS


class ExpressionError(ValueError):
    """An expression (or a template) that cannot be used; the text says why, in one line."""


class _Functions(jp_functions.Functions):
    """The functions JMESPath lacks for reading provider answers."""

    @jp_functions.signature({"types": []})
    def _func_lower(self, value: Any) -> str:
        return value.lower() if isinstance(value, str) else ""

    @jp_functions.signature({"types": []})
    def _func_text(self, value: Any) -> str:
        return error_text(value)

    @jp_functions.signature({"types": []})
    def _func_date(self, value: Any) -> str | None:
        try:
            when = p.timestamp({"date": value}, "date")
        except p.BadResponse:
            return None
        return None if when is None else f"{when:%Y-%m-%d}"


_OPTIONS = jmespath.Options(custom_functions=_Functions())


def error_text(value: Any) -> str:
    """A provider's text on one line: a string itself; an error object's message, error or
    code; nothing for anything else. Whole (fetching masks, then cuts)."""
    if isinstance(value, dict):
        value = value.get("message") or value.get("error") or value.get("code")
    return p.one_line(value) if isinstance(value, str) else ""


class Expression:
    """One compiled expression; `source` is how errors name it.

    `value(data)` is the expression's value; for a plain path, BadResponse when a step of it
    is there but not an object. It is a function chosen once at compile time (a one-step
    path is one dict lookup), because every figure of every check calls it.
    """

    __slots__ = ("path", "source", "value")

    def __init__(self, source: str, search: Callable[[Any], Any] | None, path: tuple[str, ...] | None) -> None:
        self.source = source
        self.path = path
        if path is not None and len(path) == 1:
            step = path[0]
            self.value: Callable[[Any], Any] = lambda data: (
                data.get(step) if data.__class__ is dict else _walk(data, path)
            )
        elif path is not None or search is None:
            self.value = lambda data: _walk(data, path or ())
        else:
            self.value = _guarded(search)

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def missing_field(self, data: Any) -> str:
        """What to name when the value is missing: the first missing step of a path."""
        if self.path is not None:
            for depth in range(1, len(self.path)):
                if _walk(data, self.path[:depth]) is None:
                    return ".".join(self.path[:depth])
        return self.source

    def absent(self, data: Any) -> bool:
        """True when a plain path names no field of the answer (a field that is there and
        null is not absent); an expression beyond a path cannot tell: False."""
        node = data
        for step in self.path or ():
            if not isinstance(node, dict) or step not in node:
                return True
            node = node[step]
        return False

    def holds(self, data: Any) -> bool:
        """True when the value is true as JMESPath counts it (not null, false or empty)."""
        return _true(self.value(data))


def _guarded(search: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def value(data: Any) -> Any:
        try:
            return search(data)
        except (JMESPathError, RecursionError, ArithmeticError, TypeError, ValueError):
            return None  # a function given the wrong kind of value: no value

    return value


# `headers.NAME` at the top of an expression: an answer's header, by its lower-cased name
# (quoted as JMESPath wants a name with '-'; unquoted is accepted too).
_HEADER = re.compile(r'(?<![\w.\]"\'`])headers\.("(?:[^"\\]|\\.)*"|[A-Za-z0-9_-]+)')


def _header_field(found: re.Match[str]) -> str:
    name = found[1].strip('"').lower()
    return f'headers."{name}"' if not re.fullmatch(r"[a-z_][a-z0-9_]*", name) else f"headers.{name}"


def reads_headers(source: str) -> bool:
    """Whether an expression reads the answer's headers."""
    return bool(_HEADER.search(source))


def compile_expression(source: Any) -> Expression:
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("must be an expression (text)")
    if len(source) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(f"is longer than {MAX_EXPRESSION_CHARS} characters")
    if not source.isprintable():
        raise ExpressionError("must be one line of printable characters")
    source = source.strip()
    if "headers." in source:
        source = _HEADER.sub(_header_field, source)
    if _PATH.fullmatch(source):
        return Expression(source, None, tuple(source.split(".")))
    try:
        with warnings.catch_warnings():  # a `literal` that is not JSON still compiles: no need to warn
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            compiled = jmespath.compile(source)
    except (JMESPathError, RecursionError, ValueError) as exc:
        reason = clip(" ".join(str(exc).split()[:12]), 120)
        raise ExpressionError(f"does not compile as JMESPath ({reason})") from None
    fast = _closure(cast(dict[str, Any], compiled.parsed))
    return Expression(source, fast or (lambda data: compiled.search(data, options=_OPTIONS)), None)


# JMESPath's interpreter visits the tree on every call (about 10 µs for `plan != 'usage'`).
# The shapes declarations use most (fields, literals, ==, !=, &&, ||, !) become Python
# closures once, with JMESPath's own meaning: a field of a non-object is null, equality
# never takes true for 1, and truth is JMESPath's. Anything else keeps the interpreter.
_Closure = Callable[[Any], Any]


def _closure(node: dict[str, Any]) -> _Closure | None:
    kind, children = node.get("type"), node.get("children", [])
    if kind == "field":
        name = node["value"]
        return lambda data: data.get(name) if data.__class__ is dict else None
    if kind == "literal":
        value = node["value"]
        return lambda data: value
    found = [_closure(child) for child in children]
    parts = [part for part in found if part is not None]
    if len(parts) != len(found) or not parts:
        return None
    first, last = parts[0], parts[-1]
    if kind == "subexpression" and len(parts) == 2:
        return lambda data: last(first(data))
    if kind == "comparator" and node.get("value") in ("eq", "ne") and len(parts) == 2:
        same = node["value"] == "eq"
        return lambda data: _json_equal(first(data), last(data)) == same
    if kind == "and_expression" and len(parts) == 2:
        return lambda data: last(data) if _true(left := first(data)) else left
    if kind == "or_expression" and len(parts) == 2:
        return lambda data: left if _true(left := first(data)) else last(data)
    if kind == "not_expression" and len(parts) == 1:
        return lambda data: not _true(first(data))
    return None


def _json_equal(left: Any, right: Any) -> bool:
    """Equality as JSON means it: true and 1 are not equal (Python says they are)."""
    return (left.__class__ is bool) == (right.__class__ is bool) and left == right


def _true(value: Any) -> bool:
    """JMESPath's truth: 0 is true (`in (None, False)` would take 0 for False, as Python does)."""
    if value is None or value is False:
        return False
    return len(value) > 0 if value.__class__ in (str, list, dict) else True


def _walk(data: Any, path: tuple[str, ...]) -> Any:
    value = data
    for depth, step in enumerate(path):
        if value is None:
            return None
        if not isinstance(value, dict):
            where = ".".join(path[:depth]) or "response"
            p.require_object(value, where)
        value = value.get(step)
    return value


# --- message templates ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Part:
    text: str = ""
    expression: Expression | None = None


class Template:
    """A message with `{expression}` placeholders and `[optional parts]` (a plain class, as
    Expression: models.py has msgspec compile both as a file is read)."""

    __slots__ = ("_pieces", "source")

    def __init__(self, source: str, pieces: tuple[tuple[bool, tuple[_Part, ...]], ...]) -> None:
        self.source, self._pieces = source, pieces  # pieces: (optional, parts)

    def render(self, data: Any) -> str:
        out: list[str] = []
        for optional, parts in self._pieces:
            rendered = [part.text if part.expression is None else _shown(part.expression.value(data)) for part in parts]
            if optional and any(
                part.expression is not None and not text for part, text in zip(parts, rendered, strict=True)
            ):
                continue
            out.append("".join(rendered))
        return "".join(out)


def compile_template(source: Any) -> Template:
    """`source` as a template; ExpressionError naming what is wrong (an unclosed brace...)."""
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("must be a message (text)")
    if len(source) > MAX_TEMPLATE_CHARS:
        raise ExpressionError(f"is longer than {MAX_TEMPLATE_CHARS} characters")
    if not source.isprintable():
        raise ExpressionError("must be one line of printable characters")
    pieces: list[tuple[bool, tuple[_Part, ...]]] = []
    parts: list[_Part] = []
    text: list[str] = []
    optional = False
    at = 0
    while at < len(source):
        char = source[at]
        if char in "{}[]" and source[at : at + 2] == char * 2:  # doubled: the character itself
            text.append(char)
            at += 2
            continue
        if char == "{":
            end = _closing_brace(source, at)
            parts.append(_Part("".join(text)))
            text = []
            parts.append(_Part(expression=compile_expression(source[at + 1 : end])))
            at = end + 1
            continue
        if char == "}":
            raise ExpressionError("has a '}' without its '{' (write '}}' for the character)")
        if char in "[]":
            if (char == "[") == optional:
                raise ExpressionError("has an unmatched '[' or ']' (write '[[' or ']]' for the character)")
            parts.append(_Part("".join(text)))
            pieces.append((optional, tuple(parts)))
            parts, text, optional = [], [], char == "["
            at += 1
            continue
        text.append(char)
        at += 1
    if optional:
        raise ExpressionError("has a '[' without its ']'")
    parts.append(_Part("".join(text)))
    pieces.append((False, tuple(parts)))
    return Template(source, tuple(pieces))


def _closing_brace(source: str, start: int) -> int:
    """Where the placeholder opened at `start` closes (JMESPath may nest braces and quotes)."""
    depth, quote = 0, ""
    for at in range(start, len(source)):
        char = source[at]
        if quote:
            if char == quote and source[at - 1] != "\\":
                quote = ""
        elif char in "'`\"":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return at
    raise ExpressionError("has a '{' without its '}' (write '{{' for the character)")


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return p.one_line(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return ""
    try:
        return f"{value:g}" if isinstance(value, float) else str(value)
    except ValueError:  # an integer too long to print
        return ""


def parse_time(value: Any, where: str) -> datetime | None:
    """A date in an answer (ISO text or epoch seconds/ms), named by `where` when it is wrong."""
    return p.timestamp({where: value}, where)
