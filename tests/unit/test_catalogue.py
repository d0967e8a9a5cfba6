"""The catalogue: every declared provider against a fake serving its documented answers.

One parametrised suite over the fixtures of local/quotawatch_local/fakes/catalogue/: each
documented answer reads as the fixture expects, each error answer is its error kind, the
key travels as the documentation says (the fake refuses any other way), and the key never
reaches a snapshot, even when the provider echoes it. `quotawatch fetch` runs against each.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from quotawatch.adapters.http import HttpClient
from quotawatch.cli import EXIT_CODES, main
from quotawatch.config import Monitor
from quotawatch.core.masking import RECOGNISABLE
from quotawatch.core.snapshot import ErrorKind, Snapshot
from quotawatch.fetching import fetch_snapshot
from quotawatch.providers import PROVIDERS
from quotawatch.providers.catalogue import DIRECTORY, read_directory, read_file, shipped
from quotawatch_local.fakes import FakeProvider
from quotawatch_local.fakes.catalogued import Fixture, fixtures, read_fixture
from tests.unit.support import OneKey, Serve

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
# The four first providers have fakes and tests of their own (fakes/<name>.py, test_<name>.py).
SEEDS = {"cloudlayer", "tornado", "converra", "imagerouter"}
FIXTURES = fixtures()
CASES = [pytest.param(name, answer, id=f"{name}-{answer}") for name, fx in FIXTURES.items() for answer in fx.expect]


def test_the_catalogue_loads_without_a_problem() -> None:
    assert shipped().problems == ()


@pytest.mark.parametrize("name", sorted(set(PROVIDERS) - SEEDS))
def test_every_entry_has_a_fixture_from_its_documentation(name: str) -> None:
    provider = PROVIDERS[name]
    assert name in FIXTURES, f"fakes/catalogue/{name}.yaml is missing"
    fixture = FIXTURES[name]
    assert provider.docs_url.startswith("https://")
    assert fixture.docs == provider.docs_url
    assert {"unauthorized"} <= set(fixture.expect), "an error answer is tested"
    assert any("error" not in expected for expected in fixture.expect.values()), "a documented answer is tested"


def start(serve: Serve, fixture: Fixture, answer: str) -> FakeProvider:
    return serve(fixture.api(), fixture.key, fixture.scenarios()[answer])


def read(fixture: Fixture, fake: FakeProvider, client: HttpClient, key: str | None = None) -> Snapshot:
    provider = PROVIDERS[fixture.provider]
    monitor = Monitor(
        id=f"{fixture.provider}-test",
        provider=fixture.provider,
        secret_field="key",
        base_url=fake.base_url,
        params=fixture.params,
        spec=provider,
    )
    return fetch_snapshot(monitor, provider, OneKey(key or fixture.key), client, NOW)


@pytest.mark.parametrize(("name", "answer"), CASES)
def test_each_answer_reads_as_documented(name: str, answer: str, serve: Serve, client: HttpClient) -> None:
    fixture = FIXTURES[name]
    fake = start(serve, fixture, answer)
    snapshot = read(fixture, fake, client)
    expected = fixture.expect[answer]

    if "error" in expected:
        assert snapshot.error is not None, snapshot
        assert snapshot.error.kind is ErrorKind(expected["error"]), snapshot.error.message
    else:
        assert snapshot.error is None, snapshot.error
        assert [_meter(m) for m in snapshot.to_dict()["meters"]] == [_meter(m) for m in expected["meters"]]
        conditions = [{k: c[k] for k in ("name", "severity", "message")} for c in snapshot.to_dict()["conditions"]]
        assert conditions == expected.get("conditions", [])
        if "period" in expected:
            assert snapshot.to_dict()["period"] == expected["period"]
    assert_no_key(fixture.key, snapshot)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_the_key_travels_as_documented_and_only_there(name: str, serve: Serve, client: HttpClient) -> None:
    fixture = FIXTURES[name]
    answer = next(a for a, expected in fixture.expect.items() if "error" not in expected)
    fake = start(serve, fixture, answer)

    assert read(fixture, fake, client).error is None  # the fake answers only a key sent as documented
    wrong = read(fixture, fake, client, key=fixture.key[::-1])
    assert wrong.error is not None
    assert wrong.error.kind is ErrorKind.AUTH
    assert_no_key(fixture.key[::-1], wrong)
    # Nowhere but where the documentation puts it.
    in_query = "query" in fixture.auth
    assert all((fixture.key in path) == in_query for path in fake.paths[:1])
    assert all(fixture.key not in value for value in fake.requests[0].values()) == (in_query or "basic" in fixture.auth)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_quotawatch_fetch_against_the_fake(name: str, serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    fixture = FIXTURES[name]
    answer = next(a for a, expected in fixture.expect.items() if "error" not in expected)
    monkeypatch.setenv("QW_TEST_KEY", fixture.key)
    params = [f"--param={k}={v}" for k, v in fixture.params.items()]
    for scenario, code in ((answer, 0), ("unauthorized", EXIT_CODES[ErrorKind.AUTH])):
        fake = start(serve, fixture, scenario)
        out = io.StringIO()
        args = ["fetch", name, "--key-env", "QW_TEST_KEY", "--base-url", fake.base_url, *params, "--timeout", "2"]
        assert main(args, out) == code, out.getvalue()
        assert fixture.key not in out.getvalue()
        assert PROVIDERS[name].display_name in out.getvalue()


def _meter(meter: dict[str, Any]) -> dict[str, Any]:
    return {k: (round(float(v), 6) if isinstance(v, int | float) else v) for k, v in meter.items()}


def assert_no_key(key: str, snapshot: Snapshot) -> None:
    text = json.dumps(snapshot.to_dict())
    runs = {key[i : i + RECOGNISABLE] for i in range(len(key) - RECOGNISABLE + 1)}
    assert not any(run in text for run in runs), "a part of the key reached the snapshot"


def test_the_readme_example_declaration_reads_its_documented_answer(
    serve: Serve, client: HttpClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/watch-any-api.md: docs/examples/providers/coingecko.yaml against its answers,
    with `quotawatch fetch --providers` as the page shows it."""
    assert "coingecko" not in PROVIDERS, "the docs' example is an API the catalogue does not have"
    fixture = read_fixture(EXAMPLES / "coingecko-answers.yaml")
    fake = start(serve, fixture, "documented")
    monkeypatch.setenv("QW_KEY", fixture.key)
    out = io.StringIO()
    declaration = str(EXAMPLES / "providers" / "coingecko.yaml")
    args = ["fetch", "coingecko", "--providers", declaration, "--key-env", "QW_KEY", "--base-url", fake.base_url]
    assert main(args, out) == 0, out.getvalue()
    assert "307 calls" in out.getvalue()
    assert "0.0%" in out.getvalue() or "0%" in out.getvalue()
    assert "billing period:" in out.getvalue()  # the calendar month of the check


RAPIDAPI = read_fixture(EXAMPLES / "rapidapi-example-answers.yaml")


@pytest.mark.parametrize("answer", sorted(RAPIDAPI.expect))
def test_the_rapidapi_template_reads_the_plans_quota_from_the_headers(
    answer: str, serve: Serve, client: HttpClient
) -> None:
    """docs/examples/providers/rapidapi-example.yaml, a user's declaration for one API sold on
    RapidAPI: the key and the API's host in headers, the plan's quota from the answer's."""
    provider = read_file(EXAMPLES / "providers" / "rapidapi-example.yaml", "docs/examples/")
    fake = serve(RAPIDAPI.api(), RAPIDAPI.key, RAPIDAPI.scenarios()[answer])
    params = {"host": "example-api.p.rapidapi.com"}
    monitor = Monitor("rapidapi-test", provider.name, "key", base_url=fake.base_url, params=params)
    assert provider.url(None, params) == "https://example-api.p.rapidapi.com/v1/status"  # without the fake
    snapshot = fetch_snapshot(monitor, provider, OneKey(RAPIDAPI.key), client, NOW)
    expected = RAPIDAPI.expect[answer]
    if "error" in expected:
        assert snapshot.error is not None
        assert snapshot.error.kind is ErrorKind(expected["error"])
    else:
        assert snapshot.error is None, snapshot.error
        assert [_meter(m) for m in snapshot.to_dict()["meters"]] == [_meter(m) for m in expected["meters"]]
        assert fake.requests[0]["x-rapidapi-host"] == "example-api.p.rapidapi.com"
    assert_no_key(RAPIDAPI.key, snapshot)


def test_every_shipped_file_passes_the_strict_reader_too() -> None:
    """The catalogue is read at C speed in a container; a user's file, strictly: ours must pass both."""
    strict = read_directory(DIRECTORY, "catalogue/", shipped=False)
    assert strict.problems == ()
    assert sorted(strict.providers) == sorted(shipped().providers)


ADMIN_KEYS = "docs/security.md#keys-that-can-do-more-than-read-usage"
SECURITY = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def test_every_key_that_can_do_more_than_read_is_explained_where_its_help_points() -> None:
    """An entry whose key help points at the admin-key section has its row there (what the key
    can do, the narrowest one), and an entry with a row there points its users to it."""
    section = SECURITY.read_text(encoding="utf-8").split("## Keys that can do more than read usage", 1)[1]
    # A row names its entries in backquotes in its first cell: `anthropic`, `anthropic-usage`.
    rows = {
        name for line in section.splitlines() if line.startswith("| `") for name in line.split("|")[1].split("`")[1::2]
    }
    pointing = {name for name, provider in PROVIDERS.items() if ADMIN_KEYS in provider.key.where}
    assert pointing <= rows, f"no row in docs/security.md for {sorted(pointing - rows)}"
    assert rows & set(PROVIDERS) <= pointing, "a row's entry does not point at it"


def test_quotawatch_providers_lists_every_entry_and_counts_them() -> None:
    out = io.StringIO()
    assert main(["providers"], out=out) == 0
    listed = [line.split()[0] for line in out.getvalue().splitlines()[1:] if line and not line.endswith("one")]
    assert sorted(listed) == sorted(PROVIDERS)
    assert f"\n\n{len(PROVIDERS)} providers; " in out.getvalue()
    assert len(PROVIDERS) >= 40, "issue 23: a catalogue of 40"
