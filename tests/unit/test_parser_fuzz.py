"""Every provider parser, fuzzed: any JSON is a reading or a BadResponse, and its snapshot fits one item.

For each provider in the registry, from its fake's documented answers and from arbitrary
JSON, generated answers change, drop, add, nest and multiply fields, with numbers past
float range, nan and infinity as text, long and odd unicode text. `parse` must return a
ParsedUsage or raise BadResponse (never RecursionError, OverflowError, TypeError ...);
a refusal reader must return a reading or None; and the snapshot made of any reading,
once `bounded`, fits one DynamoDB item with room to spare.
"""

from __future__ import annotations

import importlib
import json
import os
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quotawatch.core.bounds import MAX_JSON_BYTES, bounded
from quotawatch.core.sanity import check_figures
from quotawatch.core.snapshot import Snapshot
from quotawatch.providers import PROVIDERS
from quotawatch.providers.base import ParsedUsage, Provider
from quotawatch.providers.parsing import BadResponse
from quotawatch_local.fakes.catalogued import fixtures
from tests.unit.support import huge_integers, json_values

# A longer hunt: QUOTAWATCH_FUZZ_EXAMPLES=5000 pytest tests/unit/test_parser_fuzz.py
EXAMPLES = int(os.environ.get("QUOTAWATCH_FUZZ_EXAMPLES", "150"))
# Catalogue entries share one engine (fuzzed through every one of them): fewer each.
CATALOGUE_EXAMPLES = int(os.environ.get("QUOTAWATCH_FUZZ_EXAMPLES", "40"))

# Odd values a provider might send where a figure, a date or a name belongs.
odd_numbers = st.sampled_from(
    [
        *(0, -1, -0.0, 5e-324, 1e308, -1e308, 1e15, 10**400, -(10**400), 2**63, True, False, None),
        *("1e400", "-1e400", "NaN", "Infinity", "-Infinity", " 42 ", "0x10", "1_000", "١٢٣", "", "   ", "1e-400"),
    ]
)
odd_texts = (
    st.text(max_size=50)
    | st.sampled_from(["\ud800", "\x00\x01\x7f", "\u2028\u2029", "\U0001f600" * 40, "quota", "day", "Week", "month"])
    | st.integers(min_value=1, max_value=2000).map(lambda n: "9" * n)
    | st.sampled_from(["2026-11-24T01:00:00Z", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "2026-13-45"])
)
wild = json_values | huge_integers | odd_numbers | odd_texts | st.floats()


def deep(depth: int, leaf: Any) -> Any:
    """A value nested `depth` levels deep, built without recursion."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


nested = st.builds(deep, st.integers(min_value=50, max_value=5000), wild)


@st.composite
def mutated(draw: st.DrawFn, value: Any, depth: int = 0) -> Any:
    """The value with some of its parts replaced, dropped, added to, nested or multiplied."""
    roll = draw(st.integers(min_value=0, max_value=29))
    if roll == 0:
        return draw(wild)
    if roll == 1 and depth < 3:
        return draw(nested)
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if draw(st.integers(min_value=0, max_value=19)) == 0:
                continue  # dropped
            result[key] = draw(mutated(item, depth + 1))
        for _ in range(draw(st.integers(min_value=0, max_value=2))):
            result[draw(st.text(max_size=12))] = draw(wild)
        return result
    if isinstance(value, list):
        items = [draw(mutated(item, depth + 1)) for item in value]
        if items and draw(st.integers(min_value=0, max_value=4)) == 0:
            copies = draw(st.integers(min_value=2, max_value=400))
            items = [_renamed(items[i % len(items)], i) for i in range(copies)]
        return items
    return value


def _renamed(item: Any, index: int) -> Any:
    """A copy of a list entry with its names made distinct (many keys, many meters)."""
    if not isinstance(item, dict):
        return item
    return {
        k: f"{v}-{index}" if k in ("api_key_name", "api_key_id") and isinstance(v, str) else v for k, v in item.items()
    }


def _fake_answers(provider: str) -> tuple[list[Any], list[tuple[int, Any]]]:
    """The bodies of the provider's fake: (its 200 answers, its refusals as (status, body))."""
    catalogued = fixtures().get(provider)
    scenarios = (
        catalogued.scenarios()
        if catalogued is not None
        else importlib.import_module(f"quotawatch_local.fakes.{provider}").scenarios(0)
    )
    answers: list[Any] = []
    refusals: list[tuple[int, Any]] = []
    for scenario in scenarios.values():
        reply = scenario(1)
        if isinstance(reply.body, (dict, list)) and reply.delay == 0:
            (answers if reply.status == 200 else refusals).append((reply.status, reply.body))
    return [body for _, body in answers], refusals


def answers_for(provider: str) -> st.SearchStrategy[Any]:
    seeds, _ = _fake_answers(provider)
    assert seeds, f"the fake of {provider} has no documented answer to start from"
    return st.sampled_from(seeds).flatmap(mutated) | json_values | nested


def refusals_for(provider: str) -> st.SearchStrategy[tuple[int, Any]]:
    _, refusals = _fake_answers(provider)
    seeds = refusals or [(429, {"error": {"code": "LIMIT_EXCEEDED"}})]
    statuses = st.sampled_from([401, 403, 404, 429, 500])
    return st.sampled_from(seeds).flatmap(lambda r: st.tuples(st.just(r[0]) | statuses, mutated(r[1]))) | st.tuples(
        statuses, json_values | nested
    )


def _examples(provider: str) -> int:
    return CATALOGUE_EXAMPLES if provider in fixtures() else EXAMPLES


checked_at = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


def stored_size(snapshot: Snapshot) -> int:
    return len(json.dumps(snapshot.to_dict(), separators=(",", ":")).encode())


def assert_storable(provider: Provider, usage: ParsedUsage, at: datetime) -> None:
    assert isinstance(usage, ParsedUsage)
    snapshot = Snapshot("fuzz", provider.name, at, usage.period, usage.meters, usage.conditions)
    check_figures(usage.meters)  # never raises: it names a problem or finds none
    assert stored_size(bounded(snapshot)) < MAX_JSON_BYTES


@pytest.mark.parametrize("provider", sorted(PROVIDERS), ids=str)
def test_any_answer_is_a_reading_or_a_bad_response(provider: str) -> None:
    adapter = PROVIDERS[provider]

    @settings(max_examples=_examples(provider), deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=answers_for(provider), at=checked_at)
    def parse_any(body: Any, at: datetime) -> None:
        try:
            usage = adapter.parse(body, at)
        except BadResponse:
            return
        assert_storable(adapter, usage, at)

    parse_any()


@pytest.mark.parametrize("provider", sorted(p.name for p in PROVIDERS.values() if p.read_refusal), ids=str)
def test_any_refusal_is_a_reading_or_none(provider: str) -> None:
    adapter = PROVIDERS[provider]
    read_refusal = adapter.read_refusal
    assert read_refusal is not None

    @settings(max_examples=_examples(provider), deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(refusal=refusals_for(provider), at=checked_at)
    def read_any(refusal: tuple[int, Any], at: datetime) -> None:
        status, body = refusal
        usage = read_refusal(status, body, at)
        if usage is not None:
            assert_storable(adapter, usage, at)

    read_any()


@pytest.mark.parametrize("provider", sorted(PROVIDERS), ids=str)
def test_the_documented_answers_parse_into_plausible_figures(provider: str) -> None:
    """The starting points of the fuzzing are real readings, with no figure the sanity check refuses."""
    adapter = PROVIDERS[provider]
    at = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    for body in _fake_answers(provider)[0]:
        try:
            usage = adapter.parse(body, at)
        except BadResponse:
            continue  # a fault scenario (not an object, a field missing)
        assert check_figures(usage.meters) is None
        assert_storable(adapter, usage, at)
