"""Monitors: a reviewed file in the repo, validated on load.

A problem in one monitor is reported with the file, the monitor and the field, and only
that monitor is skipped; a file that cannot be read at all raises ConfigError.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from quotawatch.core.rules import DEFAULT_POLICY, DEFAULT_THRESHOLDS, AlertPolicy, Thresholds
from quotawatch.core.urls import may_carry_a_key
from quotawatch.core.window import WINDOW_SIZE
from quotawatch.providers import PROVIDERS

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# How alerts behave over time: settable under `defaults` and per monitor.
_POLICY_FIELDS = {"remind_every_hours", "hysteresis", "failures_before_alert", "forecast_days"}
_MONITOR_FIELDS = {"id", "provider", "secret_field", "enabled", "base_url", "thresholds", "meters"} | _POLICY_FIELDS
_THRESHOLD_FIELDS = {"warning", "critical"}
_METER_FIELDS = _THRESHOLD_FIELDS | {"min_remaining"}


class ConfigError(Exception):
    """The monitors file as a whole cannot be used."""


@dataclass(frozen=True)
class Monitor:
    id: str
    provider: str
    secret_field: str
    enabled: bool = True
    base_url: str | None = None
    thresholds: Thresholds = DEFAULT_THRESHOLDS
    meter_thresholds: Mapping[str, Thresholds] = field(default_factory=dict)
    policy: AlertPolicy = DEFAULT_POLICY

    def thresholds_for(self, meter: str) -> Thresholds:
        return self.meter_thresholds.get(meter, self.thresholds)


@dataclass(frozen=True)
class ConfigProblem:
    """One monitor that cannot run, and why, as one line a person can act on."""

    monitor: str
    message: str


@dataclass(frozen=True)
class MonitorsConfig:
    monitors: tuple[Monitor, ...]
    problems: tuple[ConfigProblem, ...]

    @property
    def enabled(self) -> tuple[Monitor, ...]:
        return tuple(m for m in self.monitors if m.enabled)


def load_monitors(path: str | Path) -> MonitorsConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path.name}: cannot read the monitors file ({exc.strerror})") from None
    try:
        import yaml  # only when a file is read: keeps the handler's cold import light

        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path.name}: not valid YAML{where}") from None
    return parse_monitors(data, source=path.name)


def parse_monitors(data: Any, source: str = "monitors.yaml") -> MonitorsConfig:
    if not isinstance(data, dict) or not isinstance(data.get("monitors"), list):
        raise ConfigError(f"{source}: expected a top-level 'monitors:' list")
    unknown = set(data) - {"defaults", "monitors"}
    if unknown:
        raise ConfigError(f"{source}: unknown top-level field '{sorted(unknown)[0]}'")

    defaults = data.get("defaults") or {}
    try:
        if not isinstance(defaults, dict):
            raise _Invalid("defaults", "must be a mapping")
        unknown_defaults = sorted(set(defaults) - {"thresholds"} - _POLICY_FIELDS)
        if unknown_defaults:
            allowed = ", ".join(sorted({"thresholds"} | _POLICY_FIELDS))
            raise _Invalid(f"defaults.{unknown_defaults[0]}", f"unknown field (allowed: {allowed})")
        default_thresholds = _thresholds(defaults.get("thresholds"), DEFAULT_THRESHOLDS, "defaults.thresholds")
        default_policy = _policy(defaults, DEFAULT_POLICY, "defaults.")
    except _Invalid as exc:
        raise ConfigError(f"{source}: field '{exc.field}': {exc}") from None

    monitors: list[Monitor] = []
    problems: list[ConfigProblem] = []
    seen: set[str] = set()
    for index, entry in enumerate(data["monitors"], start=1):
        name = _display_name(entry, index)
        try:
            monitor = _monitor(entry, default_thresholds, default_policy)
            if monitor.id in seen:
                raise _Invalid("id", "another monitor already has this id")
        except _Invalid as exc:
            problems.append(ConfigProblem(name, f"{source}: monitor '{name}': field '{exc.field}': {exc}"))
            continue
        seen.add(monitor.id)
        monitors.append(monitor)
    return MonitorsConfig(tuple(monitors), tuple(problems))


def _display_name(entry: Any, index: int) -> str:
    """How to name a monitor in an error: its id when it has a usable one, else its position."""
    if isinstance(entry, dict) and isinstance(entry.get("id"), str) and entry["id"]:
        return str(entry["id"])
    return f"#{index}"


class _Invalid(Exception):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


def _monitor(entry: Any, default_thresholds: Thresholds, default_policy: AlertPolicy) -> Monitor:
    if not isinstance(entry, dict):
        raise _Invalid("-", "each monitor must be a mapping of fields")
    unknown = sorted(set(entry) - _MONITOR_FIELDS)
    if unknown:
        raise _Invalid(unknown[0], f"unknown field (allowed: {', '.join(sorted(_MONITOR_FIELDS))})")

    monitor_id = entry.get("id")
    if not isinstance(monitor_id, str) or not _ID.fullmatch(monitor_id):
        raise _Invalid("id", "required; lower-case letters, digits, '-' and '_', at most 63")

    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _Invalid("enabled", "must be true or false")

    provider_name = entry.get("provider")
    if not isinstance(provider_name, str) or not provider_name:
        raise _Invalid("provider", "required")
    provider = PROVIDERS.get(provider_name)
    if provider is None and enabled:
        known = ", ".join(sorted(PROVIDERS))
        raise _Invalid("provider", f"unknown provider '{provider_name}' (known: {known})")

    secret_field = entry.get("secret_field")
    if not isinstance(secret_field, str) or not secret_field.strip():
        raise _Invalid("secret_field", "required: the field of the API keys secret that holds this monitor's key")

    base_url = entry.get("base_url")
    if base_url is not None:
        base_url = _base_url(base_url)

    thresholds = _thresholds(entry.get("thresholds"), default_thresholds, "thresholds")
    meters = entry.get("meters") or {}
    if not isinstance(meters, dict):
        raise _Invalid("meters", "must map meter names to thresholds")
    meter_thresholds: dict[str, Thresholds] = {}
    for meter_name, value in meters.items():
        if provider is not None and not provider.has_meter(str(meter_name)):
            raise _Invalid(
                f"meters.{meter_name}",
                f"{provider_name} has no such meter (meters: {', '.join(provider.meter_names)})",
            )
        meter_thresholds[str(meter_name)] = _meter_thresholds(value, thresholds, f"meters.{meter_name}")

    return Monitor(
        id=monitor_id,
        provider=provider_name,
        secret_field=secret_field,
        enabled=enabled,
        base_url=base_url,
        thresholds=thresholds,
        meter_thresholds=meter_thresholds,
        policy=_policy(entry, default_policy, ""),
    )


def _policy(values: dict[str, Any], inherited: AlertPolicy, prefix: str) -> AlertPolicy:
    """Override the inherited alert policy with the fields set here."""

    def number(name: str, low: float, high: float, whole: bool = False) -> float | None:
        if name not in values:
            return None
        raw = values[name]
        kind_ok = isinstance(raw, int) if whole else isinstance(raw, (int, float))
        if isinstance(raw, bool) or not kind_ok or not low <= raw <= high:
            what = "a whole number" if whole else "a number"
            raise _Invalid(f"{prefix}{name}", f"must be {what} from {low:g} to {high:g}, got {raw!r}")
        return float(raw)

    policy = inherited
    hours = number("remind_every_hours", 0, 24 * 365)
    if hours is not None:
        policy = replace(policy, remind_every=timedelta(hours=hours) if hours > 0 else None)
    hysteresis = number("hysteresis", 0, 50)
    if hysteresis is not None:
        policy = replace(policy, hysteresis=hysteresis)
    # Failures are counted in the window of recent readings, so no more than it holds.
    failures = number("failures_before_alert", 1, WINDOW_SIZE, whole=True)
    if failures is not None:
        policy = replace(policy, failures_before_alert=int(failures))
    days = number("forecast_days", 0, 366)
    if days is not None:
        policy = replace(policy, forecast_days=days)
    return policy


def _meter_thresholds(value: Any, inherited: Thresholds, where: str) -> Thresholds:
    """A meter's percent thresholds, plus an optional floor under what remains.

    `min_remaining: 100` warns below 100 left; `{warning: 100, critical: 20}` sets both.
    """
    if value is None:  # a meter named with nothing under it keeps the monitor's thresholds
        value = {}
    if not isinstance(value, dict):
        raise _Invalid(where, "must be a mapping with 'warning', 'critical' and/or 'min_remaining'")
    unknown = sorted(set(value) - _METER_FIELDS)
    if unknown:
        raise _Invalid(f"{where}.{unknown[0]}", "unknown field (allowed: critical, min_remaining, warning)")
    percent = _thresholds({k: v for k, v in value.items() if k in _THRESHOLD_FIELDS}, inherited, where)
    floor = value.get("min_remaining")
    if floor is None:
        return replace(percent, floor_warning=None, floor_critical=None)
    floors = floor if isinstance(floor, dict) else {"warning": floor}
    if isinstance(floor, dict) and (not floor or set(floor) - _THRESHOLD_FIELDS):
        raise _Invalid(f"{where}.min_remaining", "a number, or a mapping with 'warning' and/or 'critical'")
    figures: dict[str, float | None] = {"warning": None, "critical": None}
    for name, raw in floors.items():
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or raw < 0:
            raise _Invalid(
                f"{where}.min_remaining.{name}" if isinstance(floor, dict) else f"{where}.min_remaining",
                f"must be an amount of 0 or more, got {raw!r}",
            )
        figures[name] = float(raw)
    if figures["warning"] is not None and figures["critical"] is not None and figures["warning"] < figures["critical"]:
        raise _Invalid(f"{where}.min_remaining", "the warning floor must not be below the critical floor")
    return replace(percent, floor_warning=figures["warning"], floor_critical=figures["critical"])


def _thresholds(value: Any, inherited: Thresholds, where: str) -> Thresholds:
    """Override fields of the inherited thresholds; warning must not exceed critical."""
    if value is None:
        return inherited
    if not isinstance(value, dict):
        raise _Invalid(where, "must be a mapping with 'warning' and/or 'critical'")
    unknown = sorted(set(value) - _THRESHOLD_FIELDS)
    if unknown:
        raise _Invalid(f"{where}.{unknown[0]}", "unknown field (allowed: warning, critical)")
    figures = {"warning": inherited.warning, "critical": inherited.critical}
    for name in _THRESHOLD_FIELDS & set(value):
        raw = value[name]
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not 0 < raw <= 100:
            raise _Invalid(f"{where}.{name}", f"must be a percentage above 0 and at most 100, got {raw!r}")
        figures[name] = float(raw)
    if figures["warning"] > figures["critical"]:
        raise _Invalid(
            where,
            f"warning ({figures['warning']:g}) is above critical ({figures['critical']:g})",
        )
    return Thresholds(warning=figures["warning"], critical=figures["critical"])


def _base_url(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid("base_url", "must be a URL")
    if may_carry_a_key(value):
        return value
    raise _Invalid("base_url", "must be https:// (plain http only for a loopback test server)")
