"""`quotawatch status`, `history` and `report` on the local stack after a story, as a person
runs them: through the command, against the table the real functions wrote.

The story: five hourly checks of three monitors through the real check and notify
functions. cloudlayer-prod climbs past 80% of its calls (a warning, a message) and has a
meter without a limit; cloudlayer-staging works twice, then its key is revoked (its last
check failed) and its subscription is inactive all along (a condition); cloudlayer-new has no
key at all (it never had a reading).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from quotawatch_view import table as view_table
from quotawatch_view.cli import main

from quotawatch_local.embedded_aws import EmbeddedAws
from quotawatch_local.fakes import Reply, sequence
from quotawatch_local.fakes.cloudlayer import LIMIT_PLAN, fake_cloudlayer
from quotawatch_local.local_stack import LocalStack, deploy
from tests.browser import report_charts
from tests.integration.conftest import REPO, Platform, closed_port_url, cloudlayer_monitor, put_keys, write_monitors

pytestmark = pytest.mark.integration

STACK = "quotawatch-view"
CALLS = (500, 700, 820, 850, 880)  # a warning from the third check on
STAGING_KEY, PROD_KEY = "cl-staging-key-not-real", "cl-prod-key-not-real"


def _at(hour: int) -> dict[str, str]:
    return {"source": "schedule", "scheduled_time": f"2026-11-24T{hour:02d}:00:00Z"}


@pytest.fixture(scope="module")
def story(aws: EmbeddedAws, tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalStack, Path]:
    """The stack after the story, and a folder holding its monitors file and the local
    stack's description (as `make up` writes it)."""
    aws.reset()
    stack = deploy(aws, REPO / "template.yaml", stack_name=STACK)
    folder = tmp_path_factory.mktemp("view")
    replies = [Reply(200, {**LIMIT_PLAN, "calls": calls}) for calls in CALLS]
    inactive = sequence(Reply(200, {**LIMIT_PLAN, "subActive": False}))  # a condition, raised from the start
    with fake_cloudlayer(PROD_KEY, sequence(*replies)) as prod, fake_cloudlayer(STAGING_KEY, inactive) as staging:
        monitors = write_monitors(
            folder,
            [
                cloudlayer_monitor(prod.base_url),
                cloudlayer_monitor(staging.base_url, "cloudlayer-staging"),
                cloudlayer_monitor(staging.base_url, "cloudlayer-new"),  # its key is not in the secret
            ],
        )
        put_keys(stack, {"cloudlayer-prod": PROD_KEY, "cloudlayer-staging": STAGING_KEY})
        with Platform(stack, monitors) as platform:
            for hour in range(len(CALLS)):
                if hour == 3:
                    staging.valid_key = "cl-staging-rotated"  # the key QuotaWatch holds is revoked
                platform.check(_at(hour))
    stack.save(folder / ".quotawatch-local" / "stack.json")
    return stack, folder


@pytest.fixture
def here(story: tuple[LocalStack, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the commands from the story's folder, where they find its local stack."""
    folder = story[1]
    monkeypatch.chdir(folder)
    monkeypatch.setattr(view_table, "SOURCE_ROOT", folder / "elsewhere")  # never the repo's own `make up`
    return folder


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(*argv: str, out: io.StringIO | None = None) -> tuple[int, str]:
    out = out if out is not None else io.StringIO()
    defaults = [*(["--monitors", "monitors.yaml"] if "--monitors" not in argv else []), "--tz", "UTC"]
    code = main([*argv, *defaults] if "--tz" not in argv else [*argv, *defaults[:-2]], out=out)
    return code, out.getvalue()


def status_json() -> list[dict[str, Any]]:
    code, text = run("status", "--json")
    assert code == 0
    return list(json.loads(text))


def test_status_puts_what_needs_attention_first(here: Path) -> None:
    rows = status_json()
    order = [(r["monitor"], r["meter"]) for r in rows]
    # The revoked key first (critical), then the warning that runs out soonest; the monitor
    # whose key is not in the secret yet waits for it, raised by nothing.
    assert order[0][0] == "cloudlayer-staging"
    first_prod = order.index(("cloudlayer-prod", "calls"))
    assert all(monitor == "cloudlayer-staging" for monitor, _ in order[:first_prod])
    assert order.index(("cloudlayer-new", None)) > first_prod

    calls = rows[first_prod]
    assert calls["used"] == 880
    assert calls["limit"] == 1000
    assert calls["unit"] == "calls"
    assert calls["percent"] == 88.0
    assert (calls["level"], calls["since"]) == ("warning", "2026-11-24T02:00:00Z")
    assert calls["trend_per_day"] == pytest.approx(24 * 91)  # the least-squares line: 91 calls an hour
    assert calls["runs_out_by"] == "limit"
    assert calls["runs_out_at"].startswith("2026-11-24T05:")  # 120 calls left at 91 an hour
    assert calls["last_check"] == {
        "at": "2026-11-24T04:00:00Z",
        "ok": True,
        "waiting_for_key": False,
        "error": None,
        "level": "ok",
        "failing_since": None,
    }

    unlimited = next(r for r in rows if r["monitor"] == "cloudlayer-prod" and r["limit"] is None)
    assert unlimited["meter"] == "failed_jobs"
    assert unlimited["percent"] is None
    assert unlimited["runs_out_at"] is None

    staging = [r for r in rows if r["monitor"] == "cloudlayer-staging"]
    assert {r["meter"] for r in staging} >= {"calls", "failed_jobs"}  # figures of its last good reading
    assert {r["read_at"] for r in staging if r["condition"] is None} == {"2026-11-24T02:00:00Z"}
    check = staging[0]["last_check"]
    assert (check["at"], check["ok"], check["level"]) == ("2026-11-24T04:00:00Z", False, "critical")
    assert check["error"]["kind"] == "auth"
    assert check["failing_since"] == "2026-11-24T03:00:00Z"

    (inactive,) = [r for r in staging if r["condition"] is not None]
    assert inactive["meter"] == "condition:subscription_inactive"
    assert (inactive["level"], inactive["since"]) == ("critical", "2026-11-24T00:00:00Z")
    assert inactive["condition"].startswith("the cloudlayer.io subscription is not active")
    assert order.index(("cloudlayer-staging", "condition:subscription_inactive")) < first_prod  # critical

    new = next(r for r in rows if r["monitor"] == "cloudlayer-new")
    assert new["meter"] is None
    assert new["last_check"]["error"]["kind"] == "no_key"
    assert (new["last_check"]["waiting_for_key"], new["last_check"]["level"]) == (True, "ok")
    assert all(r["silenced_until"] is None for r in rows)  # silences do not exist yet


def test_status_table_reads_at_a_glance_coloured_only_in_a_terminal(here: Path) -> None:
    code, plain = run("status")
    assert code == 0
    lines = plain.splitlines()
    assert lines[0] == f"QuotaWatch status of the local stack '{STACK}', times in UTC"
    assert lines[2].split() == [
        "MONITOR", "METER", "USED", "LIMIT", "%", "LEVEL", "SINCE", "TREND/DAY", "FORECAST", "BURN", "LAST", "CHECK"
    ]  # fmt: skip
    calls = next(line for line in lines if line.startswith("cloudlayer-prod") and " calls " in line)
    assert calls.split()[:9] == ["cloudlayer-prod", "calls", "880", "calls", "1,000", "calls", "88%", "warning", "Nov"]
    assert "limit Nov 24 (in 1 h)" in calls
    assert any("failed_jobs" in line and "no limit" in line for line in lines)
    assert any(line.startswith("cloudlayer-new") and "waiting for its key" in line for line in lines)
    # A failed check's error in full, once per monitor, under the table.
    notes = [line.strip() for line in lines if line.startswith("  cloudlayer-")]
    assert len(notes) == 3
    failed, condition = sorted(n for n in notes if n.startswith("cloudlayer-staging: "))
    assert failed.startswith("cloudlayer-staging: auth: ")
    assert failed.endswith("(cannot monitor since Nov 24 03:00)")
    assert condition.startswith("cloudlayer-staging: subscription_inactive: the cloudlayer.io subscription is not")
    assert any(n.startswith("cloudlayer-new: waiting for its key: secret 'quotawatch/api-keys'") for n in notes)
    assert any(line.split()[:2] == ["cloudlayer-staging", "condition:subscription_inactive"] for line in lines)
    assert PROD_KEY not in plain
    assert STAGING_KEY not in plain
    assert "\033[" not in plain  # piped: no colour

    code, coloured = run("status", out=Terminal())
    assert "\033[33m" in coloured  # the warning, in yellow
    assert "\033[1;31m" in coloured  # the revoked key's level, in bold red


def test_a_deployed_stack_is_found_by_its_cloudformation_outputs(
    here: Path, aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = status_json()
    # As with a real account: the caller's credentials, region and endpoint, the stack by name.
    for name, value in {
        "AWS_ENDPOINT_URL": aws.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    (here / ".quotawatch-local" / "stack.json").rename(here / "stack.json.away")  # no local stack
    try:
        code, text = run("status", "--json", "--stack", STACK)
    finally:
        (here / "stack.json.away").rename(here / ".quotawatch-local" / "stack.json")
    assert code == 0
    assert json.loads(text) == local


def test_history_lists_readings_messages_and_a_sparkline(here: Path) -> None:
    code, text = run("history", "cloudlayer-prod", "--since", "2026-11-23")
    assert code == 0
    lines = text.splitlines()
    assert lines[0] == "cloudlayer-prod: 5 readings since Nov 23 00:00; times in UTC"
    spark = next(line for line in lines if line.startswith("calls "))
    assert "▁▅▇▇█" in spark  # 500, 700, 820, 850, 880 from low to high
    assert "now 880 of 1,000 calls; low 500 calls, high 880 calls" in spark
    assert any(line.startswith("Nov 24 04:00") and "880 of 1,000 calls" in line for line in lines)
    message = next(line for line in lines if "[WARNING] cloudlayer-prod: calls at 82% of limit" in line)
    assert message.split()[:4] == ["Nov", "24", "02:00", "warning"]
    assert "(sent " in message
    assert all(char not in text for char in "\033")

    code, text = run("history", "cloudlayer-staging", "calls", "--since", "2026-11-23")
    assert code == 0
    assert sum(line.endswith("failed: auth [1]") for line in text.splitlines()) == 2
    assert "  [1] auth: cloudlayer-staging: 127.0.0.1 rejected the API key (401: Unauthorized)" in text
    assert "failed_jobs" not in text  # only the meter asked for
    assert "Cannot monitor" not in text  # and only its messages


@pytest.mark.parametrize("shape", ["--csv", "--json"])
def test_history_for_other_tools(here: Path, shape: str) -> None:
    code, text = run("history", "cloudlayer-prod", "calls", "--since", "2026-11-23", shape)
    assert code == 0
    if shape == "--csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        readings = [(r["time"], r["used"], r["limit"]) for r in rows if r["kind"] == "reading"]
        assert readings == [(f"2026-11-24T{h:02d}:00:00Z", str(c), "1000") for h, c in enumerate(CALLS)]
        (message,) = [r for r in rows if r["kind"] == "message"]
        assert (message["time"], message["severity"]) == ("2026-11-24T02:00:00Z", "warning")
    else:
        data = json.loads(text)
        assert [r["meters"][0]["used"] for r in data["readings"]] == list(CALLS)
        assert [(m["signal"], m["severity"]) for m in data["messages"]] == [("meter:calls", "warning")]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["history", "nope"], "unknown monitor 'nope': not in the monitors file and nothing stored"),
        (["history", "cloudlayer-prod", "nope"], "monitor 'cloudlayer-prod' has no meter 'nope'"),
        (["history", "cloudlayer-prod", "--since", "a while"], "--since 'a while' is not a duration or a date"),
        (["status", "--tz", "Mars/Olympus"], "--tz 'Mars/Olympus' is not a time zone"),
        (["status", "--stack", "no-such-stack"], "no stack named 'no-such-stack'"),
        (["status", "--stack", "not-quotawatch"], "stack 'not-quotawatch' has no TableName output"),
        (["status", "--no-local"], "no local stack is running (start it with `make up`)"),
        (["status", "--stale-local"], "(is `make up` still running?)"),
    ],
    ids=["monitor", "meter", "since", "tz", "stack", "outputs", "no-local-stack", "stale-local-stack"],
)
def test_bad_input_is_one_line_and_a_failing_exit_code(
    here: Path,
    aws: EmbeddedAws,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    says: str,
) -> None:
    for name, value in {"AWS_ENDPOINT_URL": aws.endpoint_url, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    if "not-quotawatch" in argv:
        aws.client("cloudformation").create_stack(
            StackName="not-quotawatch",
            TemplateBody=json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}),
        )
    if "--no-local" in argv:
        argv = [*(a for a in argv if a != "--no-local"), "--monitors", str(here / "monitors.yaml")]
        monkeypatch.chdir(here.parent)  # no .quotawatch-local here, nor in the (patched) source tree
    if "--stale-local" in argv:  # `make up` was killed: its description points at nothing
        argv = [a for a in argv if a != "--stale-local"]
        stale = here / "stale" / ".quotawatch-local"
        stale.mkdir(parents=True, exist_ok=True)
        (stale / "stack.json").write_text(json.dumps({"endpoint_url": closed_port_url(), "name": STACK}))
        (here / "stale" / "monitors.yaml").write_text((here / "monitors.yaml").read_text())
        monkeypatch.chdir(here / "stale")
    code, out = run(*argv)
    error = capsys.readouterr().err
    assert code == 1
    assert out == ""
    assert error.count("\n") == 1
    assert says in error
    assert "Traceback" not in error


def test_the_report_shows_a_chart_per_meter_in_a_real_browser(here: Path) -> None:
    code, text = run("report", "--since", "2026-11-23", "--out", "report.html")
    assert code == 0
    assert text == "Report of 3 monitors, 10 charts, written to report.html\n"
    page = (here / "report.html").read_text()
    assert "://" not in page  # no address at all: it opens without a network
    charts = {(c["monitor"], c["meter"]): c for c in report_charts(here / "report.html")}
    meters = {(r["monitor"], r["meter"]) for r in status_json() if r["meter"] and r["condition"] is None}
    assert set(charts) == meters  # cloudlayer-new has no reading, so no chart
    for (monitor, meter), chart in charts.items():
        assert min(chart["width"], chart["height"]) > 0, (monitor, meter)  # loaded
        assert chart["shown"], (monitor, meter)
        assert chart["alt"].startswith(f"Chart of {monitor} {meter}: ")
        legend = dict(chart["legend"])
        assert legend["legend-forecast"].startswith("forecast: ")
        if "legend-limit" in legend:
            assert chart["limit_pixels"] > 300, (monitor, meter)  # the limit line, across the chart
    calls = charts[("cloudlayer-prod", "calls")]
    legend = dict(calls["legend"])
    assert legend["legend-limit"] == "limit 1,000 calls"
    assert legend["legend-bands"] == "warning from 80%, critical from 95%"
    assert legend["legend-forecast"] == "forecast: reaches the limit Nov 24"
    assert legend["legend-messages"] == "1 message sent"
    assert calls["forecast_pixels"] > 100  # the projection, drawn
    unlimited = dict(charts[("cloudlayer-prod", "failed_jobs")]["legend"])
    assert unlimited["legend-limit none"] == "no limit"
    assert unlimited["legend-forecast"] == "forecast: none without a limit"
    assert charts[("cloudlayer-prod", "failed_jobs")]["limit_pixels"] == 0
    assert dict(charts[("cloudlayer-staging", "calls")]["legend"])["legend-failures"] == "2 checks failed"
    assert "legend-failures" not in legend
    # Before the charts, what matters now: raised, failing, waiting, running out first.
    overview = page[page.index('<section class="overview"') : page.index("</section>")]
    assert page.index('<section class="overview"') < page.index('<figure class="chart"')
    assert '<span class="critical">critical</span> <a href="#monitor-cloudlayer-staging">' in overview
    assert (
        '<span class="warning">warning</span> <a href="#monitor-cloudlayer-prod">cloudlayer-prod</a> calls' in overview
    )
    assert '<h3>Checks failing</h3><ul class=""><li>cloudlayer-staging: auth, cannot monitor since' in overview
    assert '<h3>Waiting for their key</h3><ul class=""><li>cloudlayer-new</li>' in overview
    assert '<h3>Runs out first</h3><ul class=""><li>cloudlayer-prod calls: limit Nov 24</li>' in overview
