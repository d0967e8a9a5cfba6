"""The JSON Schemas in docs/schema are generated from the models; example files point at them;
valid files round-trip and one mistake disables exactly its monitor."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quotawatch.config import MonitorsConfig, load_monitors
from quotawatch.providers import schema

REPO = Path(__file__).resolve().parents[2]
HEADER = re.compile(r"# yaml-language-server: \$schema=(\S+)\n")
EXAMPLES = {
    "monitors": [REPO / "functions/check_usage/monitors.yaml"],
    "provider": sorted((REPO / "layers/quotawatch/quotawatch/providers/catalogue").glob("*.yaml"))
    + sorted((REPO / "docs/examples/providers").glob("*.yaml")),
}


@pytest.mark.parametrize("name", sorted(schema.SCHEMAS))
def test_the_published_schema_is_the_generated_one(name: str) -> None:
    published = (REPO / "docs/schema" / f"{name}.schema.json").read_text(encoding="utf-8")
    generated = json.dumps(schema.schema_of(name), indent=2, sort_keys=True) + "\n"
    assert published == generated, f"run: python -m quotawatch.providers.schema {name} > docs/schema/{name}.schema.json"


@pytest.mark.parametrize(("name", "path"), [(n, p) for n, paths in EXAMPLES.items() for p in paths], ids=str)
def test_each_example_file_names_its_schema_for_editors(name: str, path: Path) -> None:
    header = HEADER.match(path.read_text(encoding="utf-8"))
    assert header is not None, f"{path.name} does not start with '# yaml-language-server: $schema=...'"
    assert (path.parent / header[1]).resolve() == REPO / "docs/schema" / f"{name}.schema.json"


# --- hypothesis: valid monitors round-trip; one mistake costs one monitor -----------------------

PERCENT = st.integers(1, 100)
MONITOR = st.fixed_dictionaries(
    {"provider": st.just("cloudlayer"), "secret_field": st.from_regex(r"[a-z][a-z0-9_-]{0,20}", fullmatch=True)},
    optional={
        "enabled": st.booleans(),
        "thresholds": st.tuples(PERCENT, PERCENT).map(lambda t: {"warning": min(t), "critical": max(t)}),
        "meters": st.dictionaries(
            st.sampled_from(["calls", "output_bytes", "storage"]),
            st.fixed_dictionaries({}, optional={"min_remaining": st.integers(0, 10**6), "limit": st.integers(1, 99)}),
            max_size=3,
        ),
        "remind_every_hours": st.integers(0, 24 * 365),
        "hysteresis": st.floats(0, 50),
        "failures_before_alert": st.integers(1, 48),
        "forecast_days": st.integers(0, 366),
    },
)
MISTAKES: list[dict[str, Any]] = [
    {"thresholds": {"warning": 101}},
    {"hysteresis": "5%"},
    {"colour": "red"},
    {"meters": {"calls": {"floor": 1}}},
    {"provider": "nope"},
    {"secret_field": ""},
    {"failures_before_alert": 2.5},
]
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def load(folder: Path, monitors: list[dict[str, Any]]) -> MonitorsConfig:
    path = folder / "monitors.yaml"
    path.write_text(yaml.safe_dump({"monitors": monitors}), encoding="utf-8")
    return load_monitors(path)


@SETTINGS
@given(entries=st.lists(MONITOR, min_size=1, max_size=6))
def test_valid_monitors_round_trip(tmp_path: Path, entries: list[dict[str, Any]]) -> None:
    monitors = [{"id": f"m{i}", **entry} for i, entry in enumerate(entries)]
    config = load(tmp_path, monitors)
    assert config.problems == ()
    for written, monitor in zip(monitors, config.monitors, strict=True):
        assert (monitor.id, monitor.secret_field, monitor.enabled) == (
            written["id"],
            written["secret_field"],
            written.get("enabled", True),
        )
        thresholds = written.get("thresholds", {"warning": 80, "critical": 95})
        assert (monitor.thresholds.warning, monitor.thresholds.critical) == (
            thresholds["warning"],
            thresholds["critical"],
        )
        assert dict(monitor.meter_limits) == {
            name: meter["limit"] for name, meter in written.get("meters", {}).items() if "limit" in meter
        }
        assert monitor.policy.failures_before_alert == written.get("failures_before_alert", 3)


@SETTINGS
@given(
    entries=st.lists(MONITOR, min_size=1, max_size=8),
    broken=st.integers(0, 7),
    mistake=st.sampled_from(MISTAKES),
)
def test_a_mistake_in_one_of_n_monitors_disables_exactly_that_one(
    tmp_path: Path, entries: list[dict[str, Any]], broken: int, mistake: dict[str, Any]
) -> None:
    monitors = [{"id": f"m{i}", **entry} for i, entry in enumerate(entries)]
    broken %= len(monitors)
    monitors[broken] = {**monitors[broken], **mistake, "enabled": True}
    config = load(tmp_path, monitors)
    assert [p.monitor for p in config.problems] == [f"m{broken}"]
    assert [m.id for m in config.monitors] == [m["id"] for i, m in enumerate(monitors) if i != broken]
