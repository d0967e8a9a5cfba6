"""`quotawatch fetch` against each fake provider: the table, the JSON, one exit code per error kind."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from quotawatch.cli import EXIT_CODES, main
from quotawatch.core.snapshot import ErrorKind
from quotawatch.providers import catalogued
from quotawatch_local.fakes import Reply, cloudlayer, converra, imagerouter, tornado
from tests.unit.support import Serve

KEY = "sk_live_cli_0123456789abcdef"
REPO = Path(__file__).resolve().parents[2]


def fetch(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    monkeypatch.setenv("QW_TEST_KEY", KEY)
    out = io.StringIO()
    code = main(["fetch", *args, "--key-env", "QW_TEST_KEY"], out=out)
    text = out.getvalue()
    assert KEY not in text
    return code, text


PROVIDERS: list[tuple[str, ModuleType, str, Callable[[str], str], list[str]]] = [
    (
        "cloudlayer",
        cloudlayer,
        "limit-plan",
        lambda url: url,
        ["calls", "output_bytes", "compute_time", "storage", "failed_jobs"],
    ),
    ("tornado", tornado, "stripe", lambda url: url, ["storage", "jobs", "period_storage"]),
    ("converra", converra, "pro", lambda url: url + "/api/v1", ["prompts", "optimizations", "conversations", "tokens"]),
    ("imagerouter", imagerouter, "by-api-key", lambda url: url, ["credit", "key:Production Key"]),
]


@pytest.mark.parametrize(("name", "fake", "scenario", "base", "meters"), PROVIDERS, ids=[p[0] for p in PROVIDERS])
def test_fetch_prints_the_meters_of_each_provider(
    monkeypatch: pytest.MonkeyPatch,
    serve: Serve,
    name: str,
    fake: ModuleType,
    scenario: str,
    base: Callable[[str], str],
    meters: list[str],
) -> None:
    server = serve(fake.API, KEY, fake.scenarios()[scenario])
    code, table = fetch(monkeypatch, name, "--base-url", base(server.base_url))
    assert code == 0, table
    lines = table.splitlines()
    assert lines[2].split() == ["meter", "used", "limit", "remaining", "used", "%"]
    assert [line.split("  ")[0].strip() for line in lines[3 : 3 + len(meters)]] == meters

    code, text = fetch(monkeypatch, name, "--base-url", base(server.base_url), "--json")
    snapshot = json.loads(text)
    assert code == 0
    assert snapshot["schema"] == 1
    assert snapshot["provider"] == name
    assert snapshot["error"] is None
    assert [m["name"] for m in snapshot["meters"]] == meters


def test_the_table_reads_like_the_documented_example(monkeypatch: pytest.MonkeyPatch, serve: Serve) -> None:
    server = serve(cloudlayer.API, KEY, cloudlayer.scenarios()["limit-plan"])
    code, table = fetch(monkeypatch, "cloudlayer", "--base-url", server.base_url)
    assert code == 0
    assert table.splitlines()[0].startswith("cloudlayer.io, read ")
    assert table.splitlines()[3].split() == ["calls", "842", "calls", "1,000", "calls", "158", "calls", "84%"]
    assert table.splitlines()[7].split() == ["failed_jobs", "42", "jobs", "no", "limit", "-", "-"]


@pytest.mark.parametrize(
    ("scenario", "kind"),
    [
        ("unauthorized", ErrorKind.AUTH),
        ("server-error", ErrorKind.UNAVAILABLE),
        ("html-error-page", ErrorKind.UNAVAILABLE),
        ("slow", ErrorKind.UNAVAILABLE),
        ("malformed-json", ErrorKind.BAD_RESPONSE),
        ("huge", ErrorKind.BAD_RESPONSE),
        ("missing-calls", ErrorKind.BAD_RESPONSE),
    ],
)
def test_each_fault_exits_with_its_own_code(
    monkeypatch: pytest.MonkeyPatch, serve: Serve, scenario: str, kind: ErrorKind
) -> None:
    server = serve(cloudlayer.API, KEY, cloudlayer.scenarios(slow_seconds=1.0)[scenario])
    code, text = fetch(monkeypatch, "cloudlayer", "--base-url", server.base_url, "--timeout", "0.3")
    assert code == EXIT_CODES[kind]
    assert f"cannot check ({kind.value}): cloudlayer: " in text


def test_rate_limited_exits_4_and_names_it(monkeypatch: pytest.MonkeyPatch, serve: Serve) -> None:
    server = serve(converra.API, KEY, converra.scenarios()["rate-limited"])
    code, text = fetch(monkeypatch, "converra", "--base-url", server.base_url + "/api/v1", "--json")
    assert code == 4
    error = json.loads(text)["error"]
    assert error["kind"] == "rate_limited"
    assert "Rate limit exceeded: 300 requests/min (after 3 attempts)" in error["message"]


def test_a_refusal_that_is_a_reading_exits_0_with_its_condition(monkeypatch: pytest.MonkeyPatch, serve: Serve) -> None:
    server = serve(tornado.API, KEY, tornado.scenarios()["quota-reached"])
    code, table = fetch(monkeypatch, "tornado", "--base-url", server.base_url)
    assert code == 0
    assert "critical: Tornado refuses new jobs: Storage quota exceeded" in table


def test_the_key_comes_only_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QW_NOT_SET", raising=False)
    out = io.StringIO()
    code = main(["fetch", "cloudlayer", "--key-env", "QW_NOT_SET"], out=out)
    assert code == EXIT_CODES[ErrorKind.CONFIG] == 7
    assert "environment variable QW_NOT_SET is not set or empty" in out.getvalue()


def test_plain_http_to_another_host_is_refused_before_sending_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    code, text = fetch(monkeypatch, "cloudlayer", "--base-url", "http://example.com")
    assert code == 7
    assert "refusing to send an API key over http: use https" in text


def test_exit_codes_are_distinct_and_documented() -> None:
    assert sorted(EXIT_CODES.values()) == [3, 4, 5, 6, 7, 8]
    readme = (REPO / "docs" / "fetch.md").read_text()
    for kind, code in EXIT_CODES.items():
        assert f"| {code} | `{kind.value}` |" in readme


def test_the_command_runs_as_a_module(serve: Serve) -> None:
    server = serve(imagerouter.API, KEY, imagerouter.scenarios()["unauthorized"])
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "quotawatch",
            "fetch",
            "imagerouter",
            "--key-env",
            "QW_TEST_KEY",
            "--base-url",
            server.base_url,
        ],
        env={**os.environ, "QW_TEST_KEY": KEY, "PYTHONPATH": str(REPO / "layers/quotawatch")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3
    assert "cannot check (auth): imagerouter: 127.0.0.1 rejected the API key (401: Invalid API key)" in done.stdout
    assert KEY not in done.stdout + done.stderr


def _run_cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The command as a person runs it, in its own process (its own TLS trust)."""
    return subprocess.run(
        [sys.executable, "-m", "quotawatch", *argv],
        env={**(env if env is not None else os.environ), "PYTHONPATH": str(REPO / "layers/quotawatch")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_an_untrusted_certificate_is_named_once_not_retried_as_an_outage(serve: Serve) -> None:
    calls: list[int] = []

    def counted(call: int) -> Reply:
        calls.append(call)
        return cloudlayer.scenarios()["limit-plan"](call)

    server = serve(cloudlayer.API, KEY, counted)
    env = {k: v for k, v in os.environ.items() if k != "QUOTAWATCH_CA_BUNDLE"}
    done = _run_cli("fetch", "cloudlayer", "--key-env", "QW_TEST_KEY", "--base-url", server.base_url, env={
        **env, "QW_TEST_KEY": KEY
    })  # fmt: skip
    assert done.returncode == EXIT_CODES[ErrorKind.UNAVAILABLE] == 5
    assert "cannot check (unavailable): cloudlayer: the certificate of 127.0.0.1 is not trusted; " in done.stdout
    assert "set QUOTAWATCH_CA_BUNDLE=" in done.stdout
    assert "attempts" not in done.stdout  # one handshake: asking again would change nothing
    assert calls == []  # no request ever reached the fake


@pytest.mark.parametrize(
    ("name", "shows"),
    [
        ("mailgun", ["key:       api:<private API key>, sent as HTTP basic", "  messages", "messages"]),
        ("twilio", ["<AccountSid>:<AuthToken>", "  account_sid: the Account SID", "      account_sid: <account_sid>"]),
        ("deepgram", ['"deepgram-prod": "<API key>"', "balance:*", "--param project_id=<project_id>"]),
    ],
)
def test_providers_name_says_what_to_put_where(name: str, shows: list[str]) -> None:
    out = io.StringIO()
    assert main(["providers", name], out=out) == 0
    text = out.getvalue()
    for part in shows:
        assert part in text
    assert f"    provider: {name}\n" in text
    assert "docs:      https://" in text


# Every entry says what its key looks like and where to create one, from the provider's own
# documentation (a neutral "<API key>" where it gives no format): none falls back to "<key>".
@pytest.mark.parametrize("name", sorted(catalogued()))
def test_providers_name_says_what_the_key_looks_like_and_where_to_create_it(name: str) -> None:
    key = catalogued()[name].key
    assert key.format, f"catalogue/{name}.yaml: key.format is missing"
    assert key.where, f"catalogue/{name}.yaml: key.where is missing"
    out = io.StringIO()
    assert main(["providers", name], out=out) == 0
    assert f"key:       {key.format}, sent as " in out.getvalue()
    assert f"           create one at: {key.where}\n" in out.getvalue()


def test_the_provider_list_fits_100_columns_and_unknown_names_are_named() -> None:
    out = io.StringIO()
    assert main(["providers"], out=out) == 0
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 100
    assert lines[0].split() == ["PROVIDER", "KEY", "MEASURES"]
    out = io.StringIO()
    assert main(["providers", "mailgunn"], out=out) == 7
    assert out.getvalue().startswith("unknown provider 'mailgunn' (known: ")


def test_an_optional_meter_absent_from_the_answer_is_a_warning(
    monkeypatch: pytest.MonkeyPatch, serve: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    without = cloudlayer.LIMIT_PLAN.copy()
    without.pop("errorJobs", None)
    server = serve(cloudlayer.API, KEY, lambda _call: Reply(200, without))
    code, _table = fetch(monkeypatch, "cloudlayer", "--base-url", server.base_url)
    assert code == 0
    assert "warning: optional meter 'failed_jobs' of cloudlayer is in no answer read" in capsys.readouterr().err


def test_the_fake_of_a_provider_of_your_own_prints_a_command_that_works() -> None:
    """`quotawatch_local fake ... --fixture ... --providers ...` as the docs show it, then the
    command it prints, word for word (its variables, then .venv/bin/quotawatch's arguments)."""
    fixture, declaration = "docs/examples/coingecko-answers.yaml", "docs/examples/providers/coingecko.yaml"
    paths = {"PYTHONPATH": os.pathsep.join([str(REPO / "layers/quotawatch"), str(REPO / "local")])}
    argv = ["fake", "coingecko", "documented", "--fixture", fixture, "--providers", declaration]
    fake = subprocess.Popen(
        [sys.executable, "-m", "quotawatch_local", *argv],
        env={**os.environ, **paths},
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert fake.stdout is not None
        printed = [fake.stdout.readline() for _ in range(2)][1].split()
        variables = dict(word.split("=", 1) for word in printed[:2])
        assert printed[2] == ".venv/bin/quotawatch"
        assert f"--providers {declaration}" in " ".join(printed)
        done = subprocess.run(
            [sys.executable, "-m", "quotawatch_view", *printed[3:]],
            env={**os.environ, **paths, **variables},
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        fake.terminate()
        fake.wait(timeout=30)
