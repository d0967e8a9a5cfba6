"""Provider declarations are hostile input too: whatever a file declares, loading gives a
Provider or one line naming what is wrong, and a declared provider reads any answer as a
reading or a bad answer.

Declarations from edits of real ones (each catalogue file), from arbitrary structures and
text; expressions and message templates from arbitrary text; and the `providers:` section
of a monitors file, whose broken entry costs its monitors and nothing else.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from quotawatch.config import ConfigError, parse_monitors
from quotawatch.providers.base import Provider
from quotawatch.providers.catalogue import CODED, DIRECTORY
from quotawatch.providers.declaration import DeclarationError, declare
from quotawatch.providers.expressions import ExpressionError, compile_expression, compile_template
from tests.unit.support import json_values

EXAMPLES = int(os.environ.get("QUOTAWATCH_FUZZ_EXAMPLES", "150"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# A request of every kind beside the catalogue's: POST, a body with placeholders, pages, headers.
REQUESTS = {
    "name": "acme",
    "url": "https://api.acme.example/v1/{account}/report",
    "params": {"account": "the account"},
    "method": "POST",
    "body": {"from": "{period.start:unix}", "query": "{ viewer { login } }", "ids": ["{account}"]},
    "headers": {"acme-version": "2024-01-01"},
    "pages": {"next": "next_page", "more": "has_more", "param": "page", "max": 5},
    "auth": "Authorization: Bearer {key}",
    "meters": {
        "spend": {"used": "sum(data[].amount)", "unit": "USD"},
        "calls": {"remaining": 'headers."x-remaining"', "limit": "headers.x-limit", "unit": "calls"},
    },
    "period": {"monthly": 1},
}
REAL = [yaml.safe_load(path.read_text()) for path in sorted(DIRECTORY.glob("*.yaml"))] + [REQUESTS]
odd_text = st.text(max_size=60) | st.sampled_from(
    ["{key}", "{", "}", "[", "]", "{{", "a.b.c", "a[0", "`x`", "'x'", "length(@)", "\x00", "\u2028", "https://"]
)
values = json_values | odd_text | st.integers() | st.none()


@st.composite
def edited(draw: st.DrawFn, value: Any, depth: int = 0) -> Any:
    """A real declaration with parts replaced, dropped or added, at any depth."""
    roll = draw(st.integers(min_value=0, max_value=9))
    if roll == 0:
        return draw(values)
    if isinstance(value, dict):
        out = {k: draw(edited(v, depth + 1)) for k, v in value.items() if draw(st.integers(0, 12)) != 0}
        if draw(st.integers(0, 5)) == 0:
            out[draw(odd_text)] = draw(values)
        return out
    if isinstance(value, list):
        return [draw(edited(v, depth + 1)) for v in value]
    if isinstance(value, str) and roll == 1:
        return value + draw(odd_text)
    return value


def load(data: Any) -> Provider | str:
    try:
        return declare(data, "acme.yaml", coded=CODED)
    except DeclarationError as exc:
        message = str(exc)
        assert message.isprintable(), message
        assert len(message) <= 400
        assert message.startswith("acme.yaml: provider '")
        return message


@SETTINGS
@given(data=st.sampled_from(REAL).flatmap(edited))
def test_an_edited_declaration_loads_or_names_its_problem(data: Any) -> None:
    provider = load(data)
    if isinstance(provider, Provider):
        assert provider.base_url.startswith("https://")


@SETTINGS
@given(data=values | st.dictionaries(odd_text, values, max_size=6))
def test_anything_at_all_loads_or_names_its_problem(data: Any) -> None:
    load(data)


@SETTINGS
@given(source=odd_text | st.text(min_size=0, max_size=600))
def test_any_text_is_an_expression_or_says_why_not(source: str) -> None:
    for compile_ in (compile_expression, compile_template):
        outcome = _compiled_or_why(compile_, source)
        if isinstance(outcome, str):
            assert outcome.isprintable()
        elif compile_ is compile_template:
            assert isinstance(outcome.render({"a": {"b": 1}}), str)


def _compiled_or_why(compile_: Any, source: str) -> Any:
    try:
        return compile_(source)
    except ExpressionError as exc:
        return str(exc)


def test_a_deeply_nested_expression_is_refused_not_a_crash() -> None:
    for source in ("(" * 400 + "a" + ")" * 400, "[" * 499, "a" + ".a" * 249, "{" * 250 + "}" * 250):
        with contextlib.suppress(ExpressionError):
            compile_expression(source)


@SETTINGS
@given(section=st.sampled_from(REAL).flatmap(edited) | values)
def test_a_broken_declaration_in_a_monitors_file_costs_only_its_monitors(section: Any) -> None:
    data = {
        "providers": {"acme": section},
        "monitors": [
            {"id": "mine", "provider": "acme", "secret_field": "acme"},
            {"id": "theirs", "provider": "cloudlayer", "secret_field": "cloudlayer"},
        ],
    }
    try:
        config = parse_monitors(data, "monitors.yaml")
    except ConfigError as exc:  # never for a declaration: it is one monitor's problem
        raise AssertionError(f"the whole file was refused: {exc}") from None
    assert [m.id for m in config.monitors if m.id == "theirs"] == ["theirs"]
    ids = {m.id for m in config.monitors} | {p.monitor for p in config.problems}
    assert ids == {"mine", "theirs"}
    for line in config.declaration_problems:
        assert line.isprintable()
        assert len(line) <= 400


expressions = st.sampled_from(
    [
        "a != 'x'",
        "a == `1`",
        "a == `true`",
        "a.b == 'x'",
        "a && b",
        "a || b",
        "!a",
        "a && a != 'USD'",
        "`0` == a",
        "a != `null`",
    ]
)


@SETTINGS
@given(source=expressions, data=st.dictionaries(st.sampled_from(["a", "b", "c"]), values, max_size=3) | values)
@example(source="a && b", data={"a": 0})  # 0 is true in JMESPath, false in Python
@example(source="!a", data={"a": 0.0})
def test_the_fast_closures_mean_what_jmespath_means(source: str, data: Any) -> None:
    """Common shapes are Python closures, not the interpreter: same value, same truth, on anything.
    (A plain path is not among them: it is walked, and names a step that is not an object.)"""
    import jmespath

    expected = jmespath.search(source, data)
    expression = compile_expression(source)
    assert expression.value(data) == expected
    assert type(expression.value(data)) is type(expected)
