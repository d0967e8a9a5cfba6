"""A monitors file with providers of its own: under `providers:`, or beside it in providers/.

A user's declaration may replace a catalogue entry; a broken one is a problem of its own
and of its monitors, and every other monitor still runs. A monitor gives the values its
provider's URL needs (`params`) and may set a limit of its own for a meter without one.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from quotawatch.cli import check_config
from quotawatch.config import load_monitors, parse_monitors

ACME = {
    "display_name": "Acme",
    "url": "https://api.acme.example/v1/accounts/{account}/usage",
    "params": {"account": "the account id"},
    "auth": "X-Acme-Key: {key}",
    "meters": {"spend": {"used": "spend", "unit": "USD"}},
}


def write(folder: Path, monitors: dict[str, Any], beside: dict[str, Any] | None = None) -> Path:
    path = folder / "monitors.yaml"
    path.write_text(yaml.safe_dump(monitors), encoding="utf-8")
    for name, data in (beside or {}).items():
        (folder / "providers").mkdir(exist_ok=True)
        (folder / "providers" / f"{name}.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_a_declaration_in_the_file_with_params_and_an_own_limit() -> None:
    config = parse_monitors(
        {
            "providers": {"acme": ACME},
            "monitors": [
                {
                    "id": "acme-prod",
                    "provider": "acme",
                    "secret_field": "acme",
                    "params": {"account": "A-17"},
                    "meters": {"spend": {"limit": 50, "warning": 70}},
                }
            ],
        }
    )
    assert config.problems == ()
    [monitor] = config.monitors
    assert monitor.spec is not None
    assert monitor.spec.display_name == "Acme"
    assert monitor.params == {"account": "A-17"}
    assert monitor.meter_limits == {"spend": 50.0}
    assert monitor.thresholds_for("spend").warning == 70
    assert monitor.thresholds_for("spend").budget == 50  # its alerts speak of a budget (core/messages.py)
    assert monitor.spec.request("k", params=monitor.params).url == "https://api.acme.example/v1/accounts/A-17/usage"


def test_params_are_required_and_checked() -> None:
    config = parse_monitors(
        {
            "providers": {"acme": ACME},
            "monitors": [
                {"id": "a", "provider": "acme", "secret_field": "acme"},
                {"id": "b", "provider": "acme", "secret_field": "acme", "params": {"account": "1", "region": "eu"}},
                {"id": "c", "provider": "acme", "secret_field": "acme", "params": {"account": "x\ny"}},
                {
                    "id": "d",
                    "provider": "acme",
                    "secret_field": "acme",
                    "params": {"account": "1"},
                    "meters": {"spend": {"limit": -5}},
                },
            ],
        }
    )
    messages = [p.message for p in config.problems]
    assert messages == [
        "monitors.yaml: monitor 'a': field 'params.account': required by acme: the account id",
        "monitors.yaml: monitor 'b': field 'params.region': acme takes no such parameter (it takes: account)",
        "monitors.yaml: monitor 'c': field 'params.account': must be one line of text of at most 200, got 'x\\ny'",
        "monitors.yaml: monitor 'd': field 'meters.spend.limit': must be an amount above 0 (the meter's limit, "
        "in its unit), got -5",
    ]


def test_a_file_beside_replaces_a_catalogue_entry(tmp_path: Path) -> None:
    mine = {**ACME, "url": "https://api.acme.example/v1/usage", "params": {}, "display_name": "My cloudlayer"}
    path = write(
        tmp_path,
        {"monitors": [{"id": "c", "provider": "cloudlayer", "secret_field": "k"}]},
        beside={"cloudlayer": mine},
    )
    [monitor] = load_monitors(path).monitors
    assert monitor.spec is not None
    assert monitor.spec.display_name == "My cloudlayer"
    assert monitor.spec.source == "providers/cloudlayer.yaml"


def test_a_broken_declaration_costs_its_monitors_only(tmp_path: Path) -> None:
    broken = {**ACME, "meters": {"spend": {"used": "spend[", "unit": "USD"}}}
    path = write(
        tmp_path,
        {
            "monitors": [
                {"id": "acme-prod", "provider": "acme", "secret_field": "acme", "params": {"account": "1"}},
                {"id": "cl", "provider": "cloudlayer", "secret_field": "cl"},
            ]
        },
        beside={"acme": broken},
    )
    config = load_monitors(path)
    assert [m.id for m in config.monitors] == ["cl"]
    [declaration] = config.declaration_problems
    assert re.match(
        r"providers/acme\.yaml: line \d+: provider 'acme': field 'meters\.spend\.used': does not compile", declaration
    )
    [problem] = config.problems
    assert problem.monitor == "acme-prod"
    # The run's outcome names the why; check-config prints it once, with the declaration.
    assert problem.message.endswith(f"its declaration cannot be used: {declaration}")

    out = io.StringIO()
    assert check_config(path, out) == 1
    lines = out.getvalue().splitlines()
    assert lines[0] == declaration
    assert lines[1].endswith("its declaration cannot be used (its problem is above)")  # each problem once
    assert declaration not in lines[1]
    assert lines[-2:] == ["monitors.yaml: 2 problems", "monitors.yaml: 2 monitors, 1 disabled"]


@pytest.mark.parametrize(
    ("mistakes", "fields"),
    [
        (  # mistakes of the declaration's rules, after its form's (an expression is compiled as read)
            {
                "url": "https://api.acme.example/v1/{account}/{region}/usage",
                "meters": {"spend": {"used": "spend[", "unit": "USD"}, "calls": {"used": "calls", "unit": "Calls"}},
            },
            ["meters.spend.used", "url", "meters.calls.unit"],
        ),
        (  # mistakes of its form: no rule is checked before the form is right
            {"colour": "red", "display_name": 5, "auth": None},
            ["colour", "display_name", "auth"],
        ),
        (  # every wrong field of every item of a list, each told with its index (msgspec stops at the first)
            {
                "refusals": [
                    {"status": 429, "condition": "a", "severity": "critical", "message": "limit {"},
                    {"status": 429, "condition": "b", "severity": "critical", "message": "ok"},
                    {"status": 99, "condition": "c", "severity": "critical", "message": "ok", "when": "x[["},
                ]
            },
            ["refusals[0].message", "refusals[2].status", "refusals[2].when"],
        ),
    ],
)
def test_every_mistake_of_a_declaration_is_printed_once(
    tmp_path: Path, mistakes: dict[str, Any], fields: list[str]
) -> None:
    path = write(
        tmp_path,
        {
            "monitors": [
                {"id": "acme-prod", "provider": "acme", "secret_field": "acme", "params": {"account": "1"}},
                {"id": "cl", "provider": "cloudlayer", "secret_field": "cl"},
            ]
        },
        beside={"acme": {k: v for k, v in {**ACME, **mistakes}.items() if v is not None}},
    )
    out = io.StringIO()
    assert check_config(path, out) == 1
    *declared, monitor, count, disabled = out.getvalue().splitlines()
    assert [re.sub(r".*field '([^']*)'.*", r"\1", line) for line in declared] == fields
    assert all(re.match(r"providers/acme\.yaml: line \d+: provider 'acme': field ", line) for line in declared)
    assert monitor.endswith("'acme-prod': field 'provider': its declaration cannot be used (its problem is above)")
    assert [count, disabled] == [f"monitors.yaml: {len(fields) + 1} problems", "monitors.yaml: 2 monitors, 1 disabled"]
    assert [m.id for m in load_monitors(path).monitors] == ["cl"]  # the other monitors still load


def test_a_changed_file_beside_is_read_again(tmp_path: Path) -> None:
    monitors = {"monitors": [{"id": "a", "provider": "acme", "secret_field": "acme", "params": {"account": "1"}}]}
    path = write(tmp_path, monitors, beside={"acme": ACME})
    first = load_monitors(path)
    write(tmp_path, monitors, beside={"acme": {**ACME, "display_name": "Acme 2"}})
    second = load_monitors(path)
    names = [m.spec.display_name if m.spec else None for m in (*first.monitors, *second.monitors)]
    assert names == ["Acme", "Acme 2"]


def test_check_config_of_a_good_file(tmp_path: Path) -> None:
    path = write(tmp_path, {"monitors": [{"id": "a", "provider": "openrouter", "secret_field": "openrouter"}]})
    out = io.StringIO()
    assert check_config(path, out) == 0
    assert out.getvalue() == "monitors.yaml: 1 monitor, no problems\n"


def test_check_config_of_an_unreadable_file(tmp_path: Path) -> None:
    out = io.StringIO()
    assert check_config(tmp_path / "missing.yaml", out) == 1
    assert out.getvalue().startswith("missing.yaml: cannot be read")
