"""Event patterns as Lambda event filtering and EventBridge rules read them.

A pattern is a JSON object shaped like the events it selects. Each leaf is a list of
rules, any of which may match: an exact value (string, number, true/false, null), or one
of {"prefix": ...}, {"suffix": ...}, {"equals-ignore-case": ...}, {"anything-but": ...},
{"exists": true|false} and {"numeric": [op, value, ...]}. Every field of the pattern must
match (AND); "$or" takes a list of patterns, any of which may match. When the event's
value is a list, the leaf matches if any element does (EventBridge's `resources`).

The subset here covers what the template uses (exact values, prefix) and the other common
operators; an operator outside it raises rather than match silently.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

_MISSING = object()
_NUMERIC_OPS = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class UnsupportedPattern(ValueError):
    """A filter operator this matcher does not implement."""


def matches(pattern: Mapping[str, Any] | str, event: Any) -> bool:
    """Whether `event` matches one pattern (a dict, or its JSON text as stored in AWS)."""
    if isinstance(pattern, str):
        pattern = json.loads(pattern)
        if not isinstance(pattern, dict):
            raise UnsupportedPattern(f"a pattern is a JSON object, got {pattern!r}")
    return _match_object(pattern, event)


def matches_any(patterns: Iterable[Mapping[str, Any] | str], event: Any) -> bool:
    """Lambda's FilterCriteria: the filters are ORed; no filter at all lets everything through."""
    patterns = list(patterns)
    return not patterns or any(matches(p, event) for p in patterns)


def filter_criteria_patterns(filter_criteria: Mapping[str, Any] | None) -> list[str]:
    """The Pattern texts of an event source mapping's FilterCriteria."""
    return [f["Pattern"] for f in (filter_criteria or {}).get("Filters", [])]


def _match_object(pattern: Mapping[str, Any], event: Any) -> bool:
    for key, expected in pattern.items():
        if key == "$or":
            if not any(_match_object(alternative, event) for alternative in expected):
                return False
            continue
        value = event.get(key, _MISSING) if isinstance(event, Mapping) else _MISSING
        if isinstance(expected, Mapping):
            if value is _MISSING:  # as in AWS: a leaf under a missing field is missing ({"exists": false})
                value = {}
            if not isinstance(value, Mapping) or not _match_object(expected, value):
                return False
        elif isinstance(expected, list):
            if not _match_leaf(expected, value):
                return False
        else:
            raise UnsupportedPattern(f"field {key!r}: a pattern's leaf is a list of rules, got {expected!r}")
    return True


def _match_leaf(rules: list[Any], value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    for rule in rules:
        if isinstance(rule, Mapping) and "exists" in rule:
            if bool(rule["exists"]) == (value is not _MISSING):
                return True
            continue
        if value is _MISSING:
            continue
        if any(_match_rule(rule, v) for v in values):
            return True
    return False


def _match_rule(rule: Any, value: Any) -> bool:
    if not isinstance(rule, Mapping):
        return _same(rule, value)
    if len(rule) != 1:
        raise UnsupportedPattern(f"one operator per rule, got {dict(rule)!r}")
    ((operator, operand),) = rule.items()
    if operator == "prefix":
        return isinstance(value, str) and _text_rule(operand, value, str.startswith)
    if operator == "suffix":
        return isinstance(value, str) and _text_rule(operand, value, str.endswith)
    if operator == "equals-ignore-case":
        return isinstance(value, str) and value.casefold() == str(operand).casefold()
    if operator == "anything-but":
        if isinstance(operand, Mapping):
            return not _match_rule(operand, value)
        excluded = operand if isinstance(operand, list) else [operand]
        return not any(_same(e, value) for e in excluded)
    if operator == "numeric":
        return _numeric(operand, value)
    raise UnsupportedPattern(f"operator {operator!r} is not implemented by the local filter")


def _text_rule(operand: Any, value: str, test: Any) -> bool:
    if isinstance(operand, Mapping) and "equals-ignore-case" in operand:
        return bool(test(value.casefold(), str(operand["equals-ignore-case"]).casefold()))
    if not isinstance(operand, str):
        raise UnsupportedPattern(f"prefix/suffix takes a string, got {operand!r}")
    return bool(test(value, operand))


def _same(expected: Any, value: Any) -> bool:
    # JSON true is not the number 1, and 1 is not "1": compare type and value.
    if isinstance(expected, bool) or isinstance(value, bool):
        return isinstance(expected, bool) and isinstance(value, bool) and expected == value
    if isinstance(expected, int | float) and isinstance(value, int | float):
        return float(expected) == float(value)
    return type(expected) is type(value) and bool(expected == value)


def _numeric(operand: list[Any], value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if len(operand) % 2:
        raise UnsupportedPattern(f"numeric takes operator/value pairs, got {operand!r}")
    for op, bound in zip(operand[::2], operand[1::2], strict=True):
        if op not in _NUMERIC_OPS:
            raise UnsupportedPattern(f"numeric operator {op!r}")
        if not _NUMERIC_OPS[op](float(value), float(bound)):
            return False
    return True
