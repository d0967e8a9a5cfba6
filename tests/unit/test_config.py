"""The monitors file: validated on load, every problem naming the file, the monitor and the field."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from quotawatch.config import ConfigError, Monitor, load_monitors, parse_monitors
from quotawatch.core.rules import DEFAULT_THRESHOLDS, Thresholds

SHIPPED = Path(__file__).resolve().parents[2] / "functions" / "check_usage" / "monitors.yaml"
FILE = "team-monitors.yaml"
GOOD = {"id": "cloudlayer-prod", "provider": "cloudlayer", "secret_field": "cloudlayer-prod"}


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
    ({"base_url": "ftp://127.0.0.1"}, "base_url"),
    ({"base_url": "https://"}, "base_url"),
    ({"base_url": 8080}, "base_url"),
    ({"meters": {"callz": {"warning": 50}}}, "meters.callz"),
    ({"meters": {"calls": {"warning": 99}}}, "meters.calls"),  # above the inherited critical
    ({"meters": ["calls"]}, "meters"),
    ({"secret_field": ""}, "secret_field"),
    ({"secret_field": None}, "secret_field"),
    ({"enabled": "yes"}, "enabled"),
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


def test_messages_say_what_is_wrong() -> None:
    def problem(**fields: Any) -> str:
        return parse_monitors({"monitors": [{**GOOD, **fields}]}, source=FILE).problems[0].message

    assert "unknown provider 'acme' (known: cloudlayer, converra, imagerouter, tornado)" in problem(provider="acme")
    assert "got 'eighty'" in problem(thresholds={"warning": "eighty"})
    assert "warning (96) is above critical (95)" in problem(thresholds={"warning": 96})
    assert "got 150" in problem(thresholds={"critical": 150})
    assert "allowed: " in problem(treshold=80)
    assert "must be https://" in problem(base_url="http://example.com")
    assert "cloudlayer has no such meter" in problem(meters={"callz": {}})


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:8080", "http://localhost:9000", "http://[::1]:8080", "https://api.example.com"]
)
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
        ({**GOOD, "id": "trailing-newline\n"}, "trailing-newline\n", "id"),
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
    assert all(p.message.startswith(f"{FILE}: monitor '{p.monitor}': field '") for p in config.problems)


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (None, "expected a top-level 'monitors:' list"),
        ([], "expected a top-level 'monitors:' list"),
        ({"monitors": {"a": 1}}, "expected a top-level 'monitors:' list"),
        ({"monitors": [], "extra": 1}, "unknown top-level field 'extra'"),
        ({"monitors": [], "defaults": {"thresholds": {"warning": 0}}}, "field 'defaults.thresholds.warning'"),
        ({"monitors": [], "defaults": {"retries": 3}}, "field 'defaults'"),
    ],
)
def test_a_file_that_cannot_be_used_at_all_is_a_config_error(data: Any, detail: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_monitors(data, source=FILE)
    assert str(caught.value).startswith(f"{FILE}: ")
    assert detail in str(caught.value)


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
    with pytest.raises(ConfigError, match=r"^absent\.yaml: cannot read the monitors file"):
        load_monitors(tmp_path / "absent.yaml")


def test_empty_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=rf"^{re.escape(FILE)}: expected a top-level 'monitors:' list"):
        load_monitors(write(tmp_path, ""))
