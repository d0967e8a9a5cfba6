"""The monitors file: validated on load, every problem naming the file, the monitor and the field."""

from __future__ import annotations

import re
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quotawatch.config import ConfigError, Monitor, load_monitors, parse_monitors
from quotawatch.core.burn import DEFAULT_BURN, BurnSettings
from quotawatch.core.rules import DEFAULT_POLICY, DEFAULT_THRESHOLDS, AlertPolicy, Thresholds
from quotawatch.models import MonitorModel

SHIPPED = Path(__file__).resolve().parents[2] / "functions" / "check_usage" / "monitors.yaml"
FILE = "team-monitors.yaml"
GOOD = {"id": "cloudlayer-prod", "provider": "cloudlayer", "secret_field": "cloudlayer-prod"}
MONITOR_FIELDS = ", ".join(sorted(f.name for f in msgspec.structs.fields(MonitorModel)))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / FILE
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_shipped_file_loads_with_no_problems() -> None:
    config = load_monitors(SHIPPED)

    assert config.problems == ()
    assert [m.id for m in config.enabled] == ["cloudlayer-prod", "tornado-downloads", "converra-prod", "imagerouter"]
    assert [m.provider for m in config.enabled] == ["cloudlayer", "tornado", "converra", "imagerouter"]
    cloudlayer = config.enabled[0]
    assert cloudlayer.provider == "cloudlayer"
    assert cloudlayer.secret_field == "cloudlayer-prod"
    assert cloudlayer.base_url is None
    assert cloudlayer.thresholds_for("calls") == Thresholds(80, 95)
    assert cloudlayer.thresholds_for("storage") == Thresholds(90, 98)
    converra = next(m for m in config.monitors if m.id == "converra-prod")
    assert converra.thresholds == Thresholds(75, 90)
    assert all(m.enabled for m in config.monitors)
    for monitor in config.monitors:
        assert monitor.policy == DEFAULT_POLICY, monitor.id
        assert not any(t.has_floor for t in monitor.meter_thresholds.values()), monitor.id


def test_a_full_monitor_is_read() -> None:
    config = parse_monitors(
        {
            "defaults": {"thresholds": {"warning": 70}},
            "monitors": [
                {
                    **GOOD,
                    "enabled": True,
                    "base_url": "https://eu.cloudlayer.example",
                    "thresholds": {"critical": 90},
                    "meters": {"storage": {"warning": 85}, "credit": None},
                }
            ],
        },
        source=FILE,
    )
    [monitor] = config.monitors
    assert config.problems == ()
    assert monitor == Monitor(
        id="cloudlayer-prod",
        provider="cloudlayer",
        secret_field="cloudlayer-prod",
        enabled=True,
        base_url="https://eu.cloudlayer.example",
        thresholds=Thresholds(70, 90),
        meter_thresholds={"storage": Thresholds(85, 90), "credit": Thresholds(70, 90)},
    )
    assert monitor.thresholds_for("calls") == Thresholds(70, 90)


def test_defaults_are_optional() -> None:
    [monitor] = parse_monitors({"monitors": [GOOD]}).monitors
    assert monitor.thresholds == DEFAULT_THRESHOLDS
    assert monitor.enabled


# Each case: (fields merged into a good monitor, field named in the problem).
BAD_MONITORS: list[tuple[dict[str, Any], str]] = [
    ({"provider": "acme"}, "provider"),
    ({"provider": None}, "provider"),
    ({"thresholds": {"warning": "eighty"}}, "thresholds.warning"),
    ({"thresholds": {"warning": 96}}, "thresholds"),  # warning above the default critical 95
    ({"thresholds": {"warning": 90, "critical": 85}}, "thresholds"),
    ({"thresholds": {"warning": 0}}, "thresholds.warning"),
    ({"thresholds": {"critical": 150}}, "thresholds.critical"),
    ({"thresholds": {"critical": True}}, "thresholds.critical"),
    ({"thresholds": {"treshold": 80}}, "thresholds.treshold"),
    ({"thresholds": 80}, "thresholds"),
    ({"treshold": 80}, "treshold"),
    ({"base_url": "http://example.com"}, "base_url"),
    ({"base_url": "http://localhost:9000"}, "base_url"),  # a name, not a loopback address
    ({"base_url": "ftp://127.0.0.1"}, "base_url"),
    ({"base_url": "https://"}, "base_url"),
    ({"base_url": 8080}, "base_url"),
    ({"meters": {"callz": {"warning": 50}}}, "meters.callz"),
    ({"meters": {"calls": {"warning": 99}}}, "meters.calls"),  # above the inherited critical
    ({"meters": ["calls"]}, "meters"),
    ({"secret_field": ""}, "secret_field"),
    ({"secret_field": None}, "secret_field"),
    ({"enabled": "yes"}, "enabled"),
    # The alert policy.
    ({"remind_every_hours": -1}, "remind_every_hours"),
    ({"remind_every_hours": 24 * 365 + 1}, "remind_every_hours"),
    ({"remind_every_hours": "daily"}, "remind_every_hours"),
    ({"remind_every_hours": True}, "remind_every_hours"),
    ({"remind_every_hours": None}, "remind_every_hours"),
    ({"hysteresis": -0.1}, "hysteresis"),
    ({"hysteresis": 50.5}, "hysteresis"),
    ({"hysteresis": "5%"}, "hysteresis"),
    ({"failures_before_alert": 0}, "failures_before_alert"),
    ({"failures_before_alert": 2.5}, "failures_before_alert"),
    ({"failures_before_alert": 3.0}, "failures_before_alert"),  # a whole number, written as one
    ({"failures_before_alert": False}, "failures_before_alert"),
    ({"failures_before_alert": 49}, "failures_before_alert"),  # more than the recent readings hold
    ({"forecast_days": -1}, "forecast_days"),
    ({"forecast_days": 367}, "forecast_days"),
    ({"forecast_days": [7]}, "forecast_days"),
    # Floors under what remains.
    ({"meters": {"credit": {"min_remaining": -5}}}, "meters.credit.min_remaining"),
    ({"meters": {"credit": {"min_remaining": "100"}}}, "meters.credit.min_remaining"),
    ({"meters": {"credit": {"min_remaining": True}}}, "meters.credit.min_remaining"),
    ({"meters": {"credit": {"min_remaining": {}}}}, "meters.credit.min_remaining"),
    ({"meters": {"credit": {"min_remaining": {"low": 5}}}}, "meters.credit.min_remaining.low"),
    ({"meters": {"credit": {"min_remaining": {"warning": "x"}}}}, "meters.credit.min_remaining.warning"),
    ({"meters": {"credit": {"min_remaining": {"critical": -1}}}}, "meters.credit.min_remaining.critical"),
    ({"meters": {"credit": {"min_remaining": {"warning": 10, "critical": 20}}}}, "meters.credit.min_remaining"),
    ({"meters": {"credit": {"min_remaining": [100]}}}, "meters.credit.min_remaining"),
    ({"meters": {"credit": {"floor": 100}}}, "meters.credit.floor"),
    ({"meters": {"credit": 100}}, "meters.credit"),
]


@pytest.mark.parametrize(("fields", "field"), BAD_MONITORS)
def test_a_bad_monitor_is_a_problem_naming_file_monitor_and_field(fields: dict[str, Any], field: str) -> None:
    bad = {**GOOD, "id": "broken", **fields}
    other = {**GOOD, "id": "healthy"}
    config = parse_monitors({"monitors": [bad, other]}, source=FILE)

    [problem] = config.problems
    assert problem.monitor == "broken"
    assert problem.message.startswith(f"{FILE}: monitor 'broken': field '{field}': ")
    # The other monitor still loads.
    assert [m.id for m in config.monitors] == ["healthy"]


def test_the_alert_policy_is_read_from_defaults_and_per_monitor() -> None:
    config = parse_monitors(
        {
            "defaults": {
                "thresholds": {"warning": 70},
                "remind_every_hours": 12,
                "hysteresis": 2.5,
                "failures_before_alert": 5,
                "forecast_days": 14,
            },
            "monitors": [
                {**GOOD, "id": "inherits"},
                {**GOOD, "id": "quiet", "remind_every_hours": 0, "failures_before_alert": 1},
                {**GOOD, "id": "half-hourly", "remind_every_hours": 0.5, "hysteresis": 0, "forecast_days": 0},
            ],
        },
        source=FILE,
    )
    assert config.problems == ()
    policies = {m.id: m.policy for m in config.monitors}
    assert policies["inherits"] == AlertPolicy(timedelta(hours=12), 2.5, 5, 14)
    assert policies["quiet"] == AlertPolicy(None, 2.5, 1, 14)  # 0 hours: never remind
    assert policies["half-hourly"] == AlertPolicy(timedelta(minutes=30), 0, 5, 0)
    assert {m.thresholds for m in config.monitors} == {Thresholds(70, 95)}


def test_without_policy_fields_the_defaults_apply() -> None:
    [monitor] = parse_monitors({"monitors": [GOOD]}).monitors
    assert monitor.policy == DEFAULT_POLICY == AlertPolicy(timedelta(hours=24), 5.0, 3, 7.0)


@pytest.mark.parametrize(
    ("fields", "policy"),
    [
        ({"remind_every_hours": 24 * 365}, AlertPolicy(remind_every=timedelta(days=365))),
        ({"remind_every_hours": 1}, AlertPolicy(remind_every=timedelta(hours=1))),
        ({"hysteresis": 50}, AlertPolicy(hysteresis=50)),
        ({"hysteresis": 0}, AlertPolicy(hysteresis=0)),
        ({"failures_before_alert": 48}, AlertPolicy(failures_before_alert=48)),
        ({"forecast_days": 366}, AlertPolicy(forecast_days=366)),
        ({"forecast_days": 1.5}, AlertPolicy(forecast_days=1.5)),
    ],
)
def test_policy_limits_are_inclusive(fields: dict[str, Any], policy: AlertPolicy) -> None:
    config = parse_monitors({"monitors": [{**GOOD, **fields}]})
    assert config.problems == ()
    assert config.monitors[0].policy == policy


@pytest.mark.parametrize(
    ("floor", "thresholds"),
    [
        (100, Thresholds(80, 95, floor_warning=100)),
        (0, Thresholds(80, 95, floor_warning=0)),
        (2.5, Thresholds(80, 95, floor_warning=2.5)),
        ({"warning": 100, "critical": 20}, Thresholds(80, 95, floor_warning=100, floor_critical=20)),
        ({"warning": 20, "critical": 20}, Thresholds(80, 95, floor_warning=20, floor_critical=20)),
        ({"critical": 5}, Thresholds(80, 95, floor_critical=5)),
        ({"warning": 50}, Thresholds(80, 95, floor_warning=50)),
        (None, Thresholds(80, 95)),
    ],
)
def test_min_remaining_sets_floors(floor: Any, thresholds: Thresholds) -> None:
    config = parse_monitors({"monitors": [{**GOOD, "meters": {"credit": {"min_remaining": floor}}}]})
    assert config.problems == ()
    assert config.monitors[0].thresholds_for("credit") == thresholds
    assert config.monitors[0].thresholds_for("calls") == Thresholds(80, 95)  # other meters keep no floor


def test_floors_and_percent_thresholds_of_one_meter_combine_with_the_monitors() -> None:
    config = parse_monitors(
        {
            "monitors": [
                {
                    **GOOD,
                    "thresholds": {"warning": 60},
                    "meters": {"credit": {"critical": 90, "min_remaining": {"warning": 10, "critical": 1}}},
                }
            ]
        }
    )
    assert config.monitors[0].thresholds_for("credit") == Thresholds(60, 90, 10, 1)


def test_policy_problems_name_file_monitor_field_and_value() -> None:
    def problem(**fields: Any) -> str:
        return parse_monitors({"monitors": [{**GOOD, **fields}]}, source=FILE).problems[0].message

    prefix = f"{FILE}: monitor 'cloudlayer-prod': field "
    assert problem(hysteresis=60) == f"{prefix}'hysteresis': must be a number from 0 to 50, got 60"
    assert problem(failures_before_alert=2.5) == (
        f"{prefix}'failures_before_alert': must be a whole number from 1 to 48, got 2.5"
    )
    assert (
        problem(remind_every_hours="daily")
        == f"{prefix}'remind_every_hours': must be a number from 0 to 8760, got 'daily'"
    )
    assert problem(forecast_days=400) == f"{prefix}'forecast_days': must be a number from 0 to 366, got 400"
    assert problem(meters={"credit": {"min_remaining": -5}}) == (
        f"{prefix}'meters.credit.min_remaining': must be an amount of 0 or more, got -5"
    )
    assert problem(meters={"credit": {"min_remaining": {"warning": 10, "critical": 20}}}) == (
        f"{prefix}'meters.credit.min_remaining': the warning floor must not be below the critical floor"
    )
    assert "allowed: burn, critical, limit, min_remaining, warning" in problem(meters={"credit": {"floor": 1}})


@pytest.mark.parametrize(
    ("defaults", "monitor", "meter", "credit", "calls"),
    [
        (None, None, None, DEFAULT_BURN, DEFAULT_BURN),  # sensible without any config
        (
            None,
            {"factor": 10, "short": "1h", "long": "6h", "min_spend": 5},
            None,
            BurnSettings(factor=10, short=3600, long=21600, min_spend=5),
            BurnSettings(factor=10, short=3600, long=21600, min_spend=5),
        ),
        ({"factor": 8}, None, False, BurnSettings(factor=8, off=True), BurnSettings(factor=8)),  # `burn: off`
        (False, None, True, DEFAULT_BURN, BurnSettings(off=True)),  # off everywhere, `on` for one meter
        (None, {"short": "45min"}, {"long": "12h"}, BurnSettings(short=2700, long=43200), BurnSettings(short=2700)),
    ],
)
def test_burn_settings_are_inherited_from_defaults_to_monitor_to_meter(
    defaults: Any, monitor: Any, meter: Any, credit: BurnSettings, calls: BurnSettings
) -> None:
    entry = {**GOOD, **({} if monitor is None else {"burn": monitor})}
    if meter is not None:
        entry["meters"] = {"credit": {"burn": meter}}
    config = parse_monitors({"defaults": {} if defaults is None else {"burn": defaults}, "monitors": [entry]})
    assert config.problems == ()
    assert config.monitors[0].thresholds_for("credit").burn == credit
    assert config.monitors[0].thresholds_for("calls").burn == calls


@pytest.mark.parametrize(
    ("burn", "field", "why"),
    [
        ({"factor": 1}, "burn.factor", "must be"),
        ({"short": "6h"}, "burn", "short (21600.0 s) must be positive and under long"),
        ({"short": "1 hour"}, "burn.short", "30min, 1h, 6h"),
        ({"min_spend": -1}, "burn.min_spend", "0 or more"),
        ({"window": "1h"}, "burn.window", "unknown field"),
        ("sometimes", "burn", "got 'sometimes'"),
    ],
)
def test_a_wrong_burn_setting_names_its_field(burn: Any, field: str, why: str) -> None:
    [problem] = parse_monitors({"monitors": [{**GOOD, "burn": burn}]}, source=FILE).problems
    assert f"field '{field}'" in problem.message
    assert why in problem.message


def test_a_policy_problem_in_the_file_is_reported_from_yaml(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        defaults:
          remind_every_hours: 6
        monitors:
          - {id: a, provider: cloudlayer, secret_field: a, hysteresis: 5}
          - {id: b, provider: cloudlayer, secret_field: b, failures_before_alert: 0}
          - id: c
            provider: cloudlayer
            secret_field: c
            meters:
              credit: {min_remaining: {warning: 5, critical: 1}}
        """,
    )
    config = load_monitors(path)

    assert [m.id for m in config.monitors] == ["a", "c"]
    assert [m.policy.remind_every for m in config.monitors] == [timedelta(hours=6)] * 2
    [problem] = config.problems
    assert problem.message.startswith(f"{FILE}: line 5: monitor 'b': field 'failures_before_alert': ")
    assert config.monitors[1].thresholds_for("credit") == Thresholds(80, 95, 5, 1)


def test_messages_say_what_is_wrong() -> None:
    def problem(**fields: Any) -> str:
        return parse_monitors({"monitors": [{**GOOD, **fields}]}, source=FILE).problems[0].message

    assert "unknown provider 'acme' (`quotawatch providers` lists them all" in problem(provider="acme")
    assert "unknown provider 'cloudlayr' (did you mean 'cloudlayer'? " in problem(provider="cloudlayr")
    assert "got 'eighty'" in problem(thresholds={"warning": "eighty"})
    assert "warning (96) is above critical (95)" in problem(thresholds={"warning": 96})
    assert "got 150" in problem(thresholds={"critical": 150})
    assert "allowed: " in problem(treshold=80)
    assert "must be https://" in problem(base_url="http://example.com")
    assert "cloudlayer has no such meter" in problem(meters={"callz": {}})


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:8080", "http://[::1]:8080", "https://api.example.com"])
def test_loopback_http_and_any_https_base_url_are_accepted(base_url: str) -> None:
    config = parse_monitors({"monitors": [{**GOOD, "base_url": base_url}]})
    assert config.problems == ()
    assert config.monitors[0].base_url == base_url


def test_unknown_provider_is_allowed_while_disabled() -> None:
    config = parse_monitors({"monitors": [{**GOOD, "provider": "tornado", "enabled": False, "meters": {"jobs": {}}}]})
    assert config.problems == ()
    assert config.enabled == ()


def test_duplicate_id_keeps_the_first() -> None:
    first = {**GOOD, "secret_field": "first"}
    second = {**GOOD, "secret_field": "second"}
    config = parse_monitors({"monitors": [first, second]}, source=FILE)

    assert [m.secret_field for m in config.monitors] == ["first"]
    [problem] = config.problems
    assert problem.message.startswith(f"{FILE}: monitor 'cloudlayer-prod': field 'id': ")
    assert "already" in problem.message


@pytest.mark.parametrize(
    ("entry", "name", "field"),
    [
        ({"provider": "cloudlayer", "secret_field": "x"}, "#2", "id"),
        ({**GOOD, "id": "Has Spaces"}, "Has Spaces", "id"),
        ({**GOOD, "id": "x" * 64}, "x" * 64, "id"),
        # Named escaped, so that the problem stays one line.
        ({**GOOD, "id": "trailing-newline\n"}, "trailing-newline\\n", "id"),
        ("just a string", "#2", "-"),
    ],
)
def test_monitor_without_a_usable_id_is_named_by_what_it_has(entry: Any, name: str, field: str) -> None:
    config = parse_monitors({"monitors": [{**GOOD, "id": "first"}, entry]}, source=FILE)

    [problem] = config.problems
    assert problem.monitor == name
    assert problem.message.startswith(f"{FILE}: monitor '{name}': field '{field}': ")
    assert [m.id for m in config.monitors] == ["first"]


def test_several_problems_are_all_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        monitors:
          - {id: a, provider: cloudlayer, secret_field: a, thresholds: {warning: eighty}}
          - {id: b, provider: cloudlayer, secret_field: b}
          - {id: c, provider: nope, secret_field: c}
          - {id: d, provider: cloudlayer, secret_field: d, base_url: "http://example.com"}
        """,
    )
    config = load_monitors(path)

    assert [m.id for m in config.monitors] == ["b"]
    assert [p.monitor for p in config.problems] == ["a", "c", "d"]
    assert all(re.match(rf"{FILE}: line \d: monitor '{p.monitor}': field '", p.message) for p in config.problems)


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (None, "expected a top-level 'monitors:' list"),
        ([], "expected a top-level 'monitors:' list"),
        ({"monitors": {"a": 1}}, "expected a top-level 'monitors:' list"),
        ({"monitors": [], "extra": 1}, "unknown top-level field 'extra'"),
        ({"monitors": [], "defaults": {"thresholds": {"warning": 0}}}, "field 'defaults.thresholds.warning'"),
        ({"monitors": [], "defaults": {"retries": 3}}, "field 'defaults.retries': unknown field (allowed: "),
        ({"monitors": [], "defaults": [1]}, "field 'defaults': must be a mapping"),
        (
            {"monitors": [], "defaults": {"hysteresis": 60}},
            "field 'defaults.hysteresis': must be a number from 0 to 50",
        ),
        ({"monitors": [], "defaults": {"remind_every_hours": -1}}, "field 'defaults.remind_every_hours'"),
        ({"monitors": [], "defaults": {"failures_before_alert": 0}}, "field 'defaults.failures_before_alert'"),
        ({"monitors": [], "defaults": {"forecast_days": "a week"}}, "field 'defaults.forecast_days'"),
    ],
)
def test_a_file_that_cannot_be_used_at_all_is_a_config_error(data: Any, detail: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_monitors(data, source=FILE)
    assert str(caught.value).startswith(f"{FILE}: ")
    assert detail in str(caught.value)


def test_every_wrong_field_of_the_defaults_is_a_line_of_one_check_config_run(tmp_path: Path) -> None:
    from io import StringIO

    from quotawatch.cli import check_config

    path = write(tmp_path, "defaults:\n  hysteresis: x\n  thresholds: {warning: 99, critical: 90}\nmonitors: []\n")
    out = StringIO()
    assert check_config(path, out) == 1
    assert out.getvalue().splitlines() == [
        f"{FILE}: line 2: field 'defaults.hysteresis': must be a number from 0 to 50, got 'x'",
        f"{FILE}: line 3: field 'defaults.thresholds': warning (99) is above critical (90)",
    ]


def test_yaml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        monitors:
          - id: cloudlayer-prod
            provider: cloudlayer
            secret_field: [unclosed
        """,
    )
    with pytest.raises(ConfigError, match=rf"^{re.escape(FILE)}: not valid YAML at line \d+$") as caught:
        load_monitors(path)
    line = int(str(caught.value).rsplit(" ", 1)[1])
    assert 4 <= line <= 5


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^absent\.yaml: cannot be read \(No such file"):
        load_monitors(tmp_path / "absent.yaml")


def test_empty_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=rf"^{re.escape(FILE)}: expected a top-level 'monitors:' list"):
        load_monitors(write(tmp_path, ""))


def test_a_warm_container_parses_the_file_again_only_when_its_bytes_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import quotawatch.config as config_module

    parsed: list[str] = []
    real = config_module.parse_monitors

    def counted(data: Any, source: str, **rest: Any) -> config_module.MonitorsConfig:
        parsed.append(source)
        return real(data, source, **rest)

    monkeypatch.setattr(config_module, "parse_monitors", counted)
    path = write(tmp_path, f"monitors:\n  - {GOOD}\n")

    first, again = load_monitors(path), load_monitors(path)
    path.write_text(path.read_text().replace("cloudlayer-prod", "cloudlayer-eu"), encoding="utf-8")
    changed = load_monitors(path)

    assert again is first
    assert [m.id for m in changed.monitors] == ["cloudlayer-eu"]
    assert parsed == [FILE, FILE]  # once for the first bytes, once for the changed ones


def test_check_config_of_a_file_with_anchors_merge_keys_and_one_broken_monitor(tmp_path: Path) -> None:
    from io import StringIO

    from quotawatch.cli import check_config

    path = write(
        tmp_path,
        """\
        x-common: &common
          provider: cloudlayer
          remind_every_hours: 12
        monitors:
          - <<: *common
            id: cloudlayer-prod
            secret_field: cloudlayer-prod
          - <<: *common
            id: cloudlayer-staging
            secret_field: cloudlayer-staging
            thresholds: {warning: 90, critical: 85}
            hysteresis: lots
          - {<<: *common, id: cloudlayer-eu, secret_field: cloudlayer-eu, hysteresis: 2}
        """,
    )
    out = StringIO()
    assert check_config(path, out) == 1
    assert out.getvalue().splitlines() == [  # its mistake of shape and its mistake of rule, in one run
        f"{FILE}: line 12: monitor 'cloudlayer-staging': field 'hysteresis': must be a number from 0 to 50, got 'lots'",
        f"{FILE}: line 11: monitor 'cloudlayer-staging': field 'thresholds': warning (90) is above critical (85)",
        f"{FILE}: 2 problems",
        f"{FILE}: 3 monitors, 1 disabled",
    ]
    config = load_monitors(path)
    assert [(m.id, m.policy.remind_every) for m in config.monitors] == [
        ("cloudlayer-prod", timedelta(hours=12)),
        ("cloudlayer-eu", timedelta(hours=12)),
    ]


def test_check_config_prints_each_rule_a_monitor_breaks_once_and_runs_the_others(tmp_path: Path) -> None:
    from io import StringIO

    from quotawatch.cli import check_config

    path = write(
        tmp_path,
        """\
        monitors:
          - {id: fine, provider: cloudlayer, secret_field: a}
          - id: wrong
            provider: cloudlayer
            secret_field: b
            base_url: http://example.com
            thresholds: {warning: 90, critical: 85}
            meters: {nothing: {limit: 5}}
        """,
    )
    out = StringIO()
    assert check_config(path, out) == 1
    lines = out.getvalue().splitlines()
    assert lines[:3] == [
        f"{FILE}: line 6: monitor 'wrong': field 'base_url': must be https:// "
        "(plain http only for a loopback test server)",
        f"{FILE}: line 7: monitor 'wrong': field 'thresholds': warning (90) is above critical (85)",
        f"{FILE}: line 8: monitor 'wrong': field 'meters.nothing': cloudlayer has no such meter (meters: "
        + ", ".join(load_monitors(path).monitors[0].spec.meter_names)  # type: ignore[union-attr]
        + ")",
    ]
    assert lines[3:] == [f"{FILE}: 3 problems", f"{FILE}: 2 monitors, 1 disabled"]
    assert [m.id for m in load_monitors(path).monitors] == ["fine"]


def test_every_wrong_field_inside_one_meter_or_thresholds_is_a_line(tmp_path: Path) -> None:
    """msgspec names the first wrong field of a nested mapping only: each is told, so that a
    person fixes them all at once, not one run per field."""
    from io import StringIO

    from quotawatch.cli import check_config

    path = write(
        tmp_path,
        """\
        monitors:
          - id: wrong
            provider: cloudlayer
            secret_field: b
            thresholds: {warning: high, critical: 85, colour: red}
            meters:
              calls: {limit: lots, unit: 5}
        """,
    )
    out = StringIO()
    assert check_config(path, out) == 1
    assert [re.sub(r".*field '([^']*)'.*", r"\1", line) for line in out.getvalue().splitlines()[:-2]] == [
        "thresholds.warning",
        "thresholds.colour",
        "meters.calls.limit",
        "meters.calls.unit",
    ]


# Shape mistakes (the model's: a wrong type, an unknown or missing field) and rule mistakes
# (warning above critical, an undeclared parameter, an id twice...) of one monitor come out
# together in one run, each once: a person fixes them all at once, not one run per kind.
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            "thresholds: {warning: 90, critical: 85}\n    colour: red",
            [
                f"line 6: monitor 'm': field 'colour': unknown field (allowed: {MONITOR_FIELDS})",
                "line 5: monitor 'm': field 'thresholds': warning (90) is above critical (85)",
            ],
        ),
        (
            "hysteresis: lots\n    meters: {nothing: {limit: 5}, calls: {warning: 99, critical: 90}}",
            [
                "line 5: monitor 'm': field 'hysteresis': must be a number from 0 to 50, got 'lots'",
                "line 6: monitor 'm': field 'meters.nothing': cloudlayer has no such meter",
                "line 6: monitor 'm': field 'meters.calls': warning (99) is above critical (90)",
            ],
        ),
        (
            "base_url: http://example.com\n    enabled: maybe\n    params: {region: eu}",
            [
                "line 6: monitor 'm': field 'enabled': must be true or false, got 'maybe'",
                "line 5: monitor 'm': field 'base_url': must be https:// (plain http only for a loopback test server)",
                "line 7: monitor 'm': field 'params.region': cloudlayer takes no such parameter (it takes: none)",
            ],
        ),
        (  # a wrong meter is told, and the right ones are checked by the rules
            "meters: {calls: {warning: x}, storage: {warning: 99, critical: 90}, nothing: {}}",
            [
                "line 5: monitor 'm': field 'meters.calls.warning': must be a percentage above 0 and at most 100, "
                "got 'x'",
                "line 5: monitor 'm': field 'meters.storage': warning (99) is above critical (90)",
                "line 5: monitor 'm': field 'meters.nothing': cloudlayer has no such meter",
            ],
        ),
        (  # a wrong type is reported once, not again by the rules of that field
            "thresholds: {warning: 99, critical: x}\n    params: [region]\n    forecast_days: -1",
            [
                "line 5: monitor 'm': field 'thresholds.critical': must be a percentage above 0 and at most 100, "
                "got 'x'",
                "line 6: monitor 'm': field 'params': must be a mapping, got a list of 1 item",
                "line 7: monitor 'm': field 'forecast_days': must be a number from 0 to 366, got -1",
            ],
        ),
    ],
)
def test_check_config_prints_shape_and_rule_mistakes_of_a_monitor_in_one_run(
    tmp_path: Path, fields: str, expected: list[str]
) -> None:
    from io import StringIO

    from quotawatch.cli import check_config

    path = tmp_path / FILE
    path.write_text(f"monitors:\n  - id: m\n    provider: cloudlayer\n    secret_field: a\n    {fields}\n")
    out = StringIO()
    assert check_config(path, out) == 1
    lines = out.getvalue().splitlines()
    assert [line.split(" (meters:")[0] for line in lines[:-2]] == [f"{FILE}: {line}" for line in expected]
    assert lines[-2:] == [f"{FILE}: {len(expected)} problems", f"{FILE}: 1 monitor, 1 disabled"]


def test_an_id_twice_and_a_wrong_field_of_the_same_monitor_are_both_reported() -> None:
    entry = {**GOOD, "hysteresis": "lots"}
    config = parse_monitors({"monitors": [GOOD, entry]}, source=FILE)

    [problem] = config.problems
    assert problem.lines == (
        f"{FILE}: monitor 'cloudlayer-prod': field 'id': another monitor (#1) already has this id",
        f"{FILE}: monitor 'cloudlayer-prod': field 'hysteresis': must be a number from 0 to 50, got 'lots'",
    )


def test_wrong_params_are_one_problem_not_also_a_missing_parameter() -> None:
    entry = {"id": "sms", "provider": "twilio", "secret_field": "t", "params": ["account_sid"], "hysteresis": -1}
    [problem] = parse_monitors({"monitors": [entry]}, source=FILE).problems

    assert problem.lines == (
        f"{FILE}: monitor 'sms': field 'params': must be a mapping, got a list of 1 item",
        f"{FILE}: monitor 'sms': field 'hysteresis': must be a number from 0 to 50, got -1",
    )


def test_every_wrong_or_missing_param_is_a_line() -> None:
    entry = {"id": "sms", "provider": "twilio", "secret_field": "t", "params": {"region": "eu"}}
    [problem] = parse_monitors({"monitors": [entry]}, source=FILE).problems

    assert problem.lines == (
        f"{FILE}: monitor 'sms': field 'params.region': twilio takes no such parameter (it takes: account_sid)",
        f"{FILE}: monitor 'sms': field 'params.account_sid': required by twilio: the Account SID (AC followed by "
        "32 hex digits)",
    )


# A mistake of shape (the model's) or of rule (a schema cannot say it), and the field each names.
MISTAKES: dict[str, tuple[Any, str]] = {
    "hysteresis": ("lots", "hysteresis"),
    "colour": ("red", "colour"),
    "enabled": ("maybe", "enabled"),
    "forecast_days": (-1, "forecast_days"),
    "secret_field": (None, "secret_field"),  # left out
    "thresholds": ({"warning": 90, "critical": 85}, "thresholds"),
    "base_url": ("http://example.com", "base_url"),
    "meters": ({"nothing": {}, "calls": {"warning": "x"}}, "meters.nothing meters.calls.warning"),
    "params": ({"region": "eu"}, "params.region"),
}


@settings(max_examples=60, deadline=None)
@given(
    count=st.integers(1, 6),
    data=st.data(),
    chosen=st.lists(st.sampled_from(sorted(MISTAKES)), min_size=1, unique=True),
)
def test_any_mistakes_injected_into_one_of_n_monitors_are_each_one_line_of_that_monitor(
    count: int, data: st.DataObject, chosen: list[str]
) -> None:
    broken = data.draw(st.integers(0, count - 1))
    monitors = [{**GOOD, "id": f"m{index}"} for index in range(count)]
    for name in chosen:
        value, _ = MISTAKES[name]
        if value is None:
            del monitors[broken][name]
        else:
            monitors[broken][name] = value

    config = parse_monitors({"monitors": monitors}, source=FILE)

    assert [m.id for m in config.monitors] == [f"m{i}" for i in range(count) if i != broken]
    [problem] = config.problems
    assert problem.monitor == f"m{broken}"
    fields = [re.search(r"field '([^']*)'", line)[1] for line in problem.lines]  # type: ignore[index]
    assert sorted(fields) == sorted(" ".join(MISTAKES[name][1] for name in chosen).split())  # each once


def test_a_monitor_with_thousands_of_mistakes_is_at_most_21_lines() -> None:
    entry = {**GOOD, **{f"field{index}": index for index in range(5000)}}
    [problem] = parse_monitors({"monitors": [entry]}, source=FILE).problems

    assert len(problem.lines) == 21
    assert problem.lines[19].startswith(f"{FILE}: monitor 'cloudlayer-prod': field 'field19': unknown field")
    assert problem.lines[20] == f"{FILE}: monitor 'cloudlayer-prod': 4,980 more problems, not shown"


@settings(max_examples=200, deadline=None)
@given(url=st.text(max_size=40) | st.text(max_size=30).map(lambda t: f"https://{t}"))
def test_any_base_url_is_a_monitor_or_a_problem_naming_it(url: str) -> None:
    config = parse_monitors({"monitors": [{**GOOD, "base_url": url}]}, source=FILE)

    assert len(config.monitors) + len(config.problems) == 1
    for problem in config.problems:
        assert "internal error" not in problem.message
        assert "field 'base_url'" in problem.message
