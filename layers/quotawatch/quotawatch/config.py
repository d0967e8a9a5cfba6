"""Monitors: a reviewed file in the repo, validated on load.

A problem in one monitor is reported with the file, the monitor and the field, and only
that monitor is skipped; a file that cannot be read at all raises ConfigError.

The file is hostile input as far as this module is concerned: whatever its bytes,
`load_monitors` returns or raises ConfigError, and every message is one line of bounded
length (values and names are echoed escaped and shortened, larger values are summarised).
The YAML is read strictly: UTF-8 only, no anchors or aliases, no merge keys, no tags
beyond plain values, lists and mappings, no key twice in one mapping, and caps on the
size of the file, the number of values, their nesting and the number of monitors.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from quotawatch import strict_yaml
from quotawatch.channel_config import parse_channels
from quotawatch.core.channels import Channel
from quotawatch.core.rules import DEFAULT_POLICY, DEFAULT_THRESHOLDS, AlertPolicy, Thresholds
from quotawatch.core.urls import may_carry_a_key
from quotawatch.core.window import WINDOW_SIZE
from quotawatch.echo import ECHO_CHARS as ECHO_CHARS
from quotawatch.echo import MAX_MESSAGE_CHARS as MAX_MESSAGE_CHARS
from quotawatch.echo import InvalidField as _Invalid
from quotawatch.echo import _bounded, _first_name, _name, _show, _text
from quotawatch.providers.base import Provider
from quotawatch.providers.registry import Registry, declared_providers, read_beside

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# How alerts behave over time: settable under `defaults` and per monitor.
_POLICY_FIELDS = {"remind_every_hours", "hysteresis", "failures_before_alert", "forecast_days"}
_MONITOR_FIELDS = {
    "id", "provider", "secret_field", "enabled", "base_url", "params", "thresholds", "meters"
} | _POLICY_FIELDS  # fmt: skip
_THRESHOLD_FIELDS = ("warning", "critical")
_METER_FIELDS = {*_THRESHOLD_FIELDS, "min_remaining", "limit"}
_TOP_LEVEL_FIELDS = {"defaults", "monitors", "providers", "channels"}
MAX_PARAM_CHARS = 200
# A user's own declarations, beside the monitors file: <directory of the file>/providers/*.yaml
PROVIDERS_DIRECTORY = "providers"

# Bounds on what the file may hold. 10,000 monitors as bench/run.py writes them take about
# 1 MB and 90,000 values, so each cap leaves room for twice that and more.
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_VALUES = 250_000  # scalars, lists and mappings: each costs memory while the file is read
MAX_DEPTH = 20  # levels, each value one: meters.<name>.min_remaining.warning of a monitor is at 7
MAX_MONITORS = 20_000
MAX_SECRET_FIELD_CHARS = 256
MAX_URL_CHARS = 2048
# libyaml's parser when PyYAML has it (fast); PyYAML's pure-Python one otherwise.
_PREFER_LIBYAML = True


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
    # Non-secret values for the provider's URL placeholders (an account id).
    params: Mapping[str, str] = field(default_factory=dict)
    # Limits of the monitor's own, for meters the API reports without one (a monthly budget).
    meter_limits: Mapping[str, float] = field(default_factory=dict)
    # The provider as this file resolved it (a user's declaration may replace the
    # catalogue's); None: look it up in the catalogue by name.
    spec: Provider | None = field(default=None, compare=False, repr=False)

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
    # Provider declarations that cannot be used, one line each (their monitors are problems too).
    declaration_problems: tuple[str, ...] = ()
    # Channels beside the SNS topic (channel_config.py), and one line per broken one.
    channels: tuple[Channel, ...] = ()
    channel_problems: tuple[str, ...] = ()

    @property
    def enabled(self) -> tuple[Monitor, ...]:
        return tuple(m for m in self.monitors if m.enabled)


# The file as last parsed, by its name, the YAML loader and its bytes' digest: a warm
# container reads the file every run (it may have been redeployed) but parses it again only
# when it changed. One entry.
_parsed: dict[tuple[str, Any, bytes], MonitorsConfig] = {}


def load_monitors(path: str | Path) -> MonitorsConfig:
    """The monitors in the file; raises ConfigError, and nothing else, when it cannot be used."""
    path = Path(path)
    try:
        raw = _read_bytes(path)
        beside = _declaration_files(path)
        digest = hashlib.blake2b(raw, digest_size=16)
        for name, content in beside:
            digest.update(name.encode() + b"\0" + content)
        key = (path.name, _loader_class(), digest.digest())
        config = _parsed.get(key)
        if config is None:
            config = parse_monitors(_parse_yaml(raw, path), source=path.name, declared_beside=beside)
            _parsed.clear()
            _parsed[key] = config
        return config
    except ConfigError:
        raise
    except Exception as exc:  # a bug here must not take the run down: say so, in one line
        raise ConfigError(
            _bounded(f"{_text(path.name)}: cannot be read (internal error {type(exc).__name__}; please report it)")
        ) from None


def parse_monitors(
    data: Any, source: str = "monitors.yaml", declared_beside: tuple[tuple[str, bytes], ...] = ()
) -> MonitorsConfig:
    """The monitors of a parsed file; `declared_beside` are provider files beside it (name, bytes)."""
    source = _text(source)
    if not isinstance(data, dict) or not isinstance(data.get("monitors"), list):
        raise ConfigError(f"{source}: expected a top-level 'monitors:' list")
    unknown = set(data) - _TOP_LEVEL_FIELDS
    if unknown:
        raise ConfigError(_bounded(f"{source}: unknown top-level field '{_first_name(unknown)}'"))
    if len(data["monitors"]) > MAX_MONITORS:
        raise ConfigError(
            f"{source}: {len(data['monitors']):,} monitors, more than the {MAX_MONITORS:,} one file may hold"
        )

    try:
        defaults = data.get("defaults")
        if defaults is None:  # absent, or `defaults:` with nothing under it
            defaults = {}
        if not isinstance(defaults, dict):
            raise _Invalid("defaults", f"must be a mapping, got {_show(defaults)}")
        unknown_defaults = set(defaults) - {"thresholds"} - _POLICY_FIELDS
        if unknown_defaults:
            allowed = ", ".join(sorted({"thresholds"} | _POLICY_FIELDS))
            raise _Invalid(f"defaults.{_first_name(unknown_defaults)}", f"unknown field (allowed: {allowed})")
        default_thresholds = _thresholds(defaults.get("thresholds"), DEFAULT_THRESHOLDS, "defaults.thresholds")
        default_policy = _policy(defaults, DEFAULT_POLICY, "defaults.")
    except _Invalid as exc:
        raise ConfigError(_bounded(f"{source}: field '{exc.field}': {exc}")) from None

    registry = declared_providers(data.get("providers"), source, declared_beside)
    monitors: list[Monitor] = []
    problems: list[ConfigProblem] = []
    first_with_id: dict[str, str] = {}
    for index, entry in enumerate(data["monitors"], start=1):
        name = _display_name(entry, index)
        entry_id = entry.get("id") if isinstance(entry, dict) else None
        try:
            # Every entry claims its id, even one that is broken in another field: two
            # entries with one id are one mistake, whichever of them is also wrong.
            if isinstance(entry_id, str) and entry_id in first_with_id:
                raise _Invalid("id", f"another monitor ({first_with_id[entry_id]}) already has this id")
            if isinstance(entry_id, str):
                first_with_id[entry_id] = f"#{index}"
            monitor = _monitor(entry, default_thresholds, default_policy, registry)
        except _Invalid as exc:
            problems.append(ConfigProblem(name, _bounded(f"{source}: monitor '{name}': field '{exc.field}': {exc}")))
            continue
        except Exception as exc:  # a bug must cost one monitor, not the run
            message = (
                f"{source}: monitor '{name}': cannot be read (internal error {type(exc).__name__}; please report it)"
            )
            problems.append(ConfigProblem(name, _bounded(message)))
            continue
        monitors.append(monitor)
    channels, channel_problems = parse_channels(data.get("channels"), source)
    return MonitorsConfig(tuple(monitors), tuple(problems), registry.problems, channels, channel_problems)


def _display_name(entry: Any, index: int) -> str:
    """How to name a monitor in an error: its id when it has a usable one, else its position."""
    if isinstance(entry, dict) and isinstance(entry.get("id"), str) and entry["id"]:
        return _text(entry["id"])
    return f"#{index}"


def _monitor(entry: Any, default_thresholds: Thresholds, default_policy: AlertPolicy, registry: Registry) -> Monitor:
    if not isinstance(entry, dict):
        raise _Invalid("-", f"each monitor must be a mapping of fields, got {_show(entry)}")
    unknown = set(entry) - _MONITOR_FIELDS
    if unknown:
        raise _Invalid(_first_name(unknown), f"unknown field (allowed: {', '.join(sorted(_MONITOR_FIELDS))})")

    monitor_id = entry.get("id")
    if not isinstance(monitor_id, str) or not _ID.fullmatch(monitor_id):
        raise _Invalid("id", "required; lower-case letters, digits, '-' and '_', at most 63")

    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _Invalid("enabled", f"must be true or false, got {_show(enabled)}")

    provider_name = entry.get("provider")
    if not isinstance(provider_name, str) or not provider_name:
        raise _Invalid("provider", "required")
    provider = registry.providers.get(provider_name)
    if provider_name in registry.broken and enabled:
        raise _Invalid("provider", f"its declaration cannot be used: {registry.broken[provider_name]}")
    if provider is None and enabled:
        close = (
            difflib.get_close_matches(provider_name, list(registry.providers), n=1) if len(provider_name) < 64 else []
        )
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise _Invalid(
            "provider",
            f"unknown provider {_show(provider_name)} ({hint}`quotawatch providers` lists them all; "
            "a provider of your own is declared under 'providers:')",
        )

    secret_field = entry.get("secret_field")
    if not isinstance(secret_field, str) or not secret_field.strip():
        raise _Invalid("secret_field", "required: the field of the API keys secret that holds this monitor's key")
    # The name is echoed in check errors ("secret ... has no field ..."): keep it one short line.
    if len(secret_field) > MAX_SECRET_FIELD_CHARS or not secret_field.isprintable():
        raise _Invalid(
            "secret_field",
            f"must be one line of printable characters, at most {MAX_SECRET_FIELD_CHARS}, got {_show(secret_field)}",
        )

    base_url = entry.get("base_url")
    if base_url is not None:
        base_url = _base_url(base_url)

    thresholds = _thresholds(entry.get("thresholds"), default_thresholds, "thresholds")
    meters = entry.get("meters")
    if meters is None:
        meters = {}
    if not isinstance(meters, dict):
        raise _Invalid("meters", f"must map meter names to thresholds, got {_show(meters)}")
    meter_thresholds: dict[str, Thresholds] = {}
    meter_limits: dict[str, float] = {}
    for meter_name, value in meters.items():
        where = f"meters.{_name(meter_name)}"
        if not isinstance(meter_name, str):
            raise _Invalid(where, "a meter's name must be text (quote it)")
        if provider is not None and not provider.has_meter(meter_name):
            meter_names = _text(", ".join(provider.meter_names), 2 * ECHO_CHARS)
            raise _Invalid(where, f"{provider_name} has no such meter (meters: {meter_names})")
        if isinstance(value, dict) and "limit" in value:
            meter_limits[meter_name] = _own_limit(value["limit"], f"{where}.limit")
            value = {k: v for k, v in value.items() if k != "limit"}
        meter_thresholds[meter_name] = _meter_thresholds(value, thresholds, where)

    return Monitor(
        id=monitor_id,
        provider=provider_name,
        secret_field=secret_field,
        enabled=enabled,
        base_url=base_url,
        thresholds=thresholds,
        meter_thresholds=meter_thresholds,
        policy=_policy(entry, default_policy, ""),
        params=_params(entry.get("params"), provider if enabled else None),
        meter_limits=meter_limits,
        spec=provider,
    )


def _own_limit(value: Any, where: str) -> float:
    amount = _finite(value)
    if amount is None or amount <= 0:
        raise _Invalid(where, f"must be an amount above 0 (the meter's limit, in its unit), got {_show(value)}")
    return amount


def _params(value: Any, provider: Provider | None) -> dict[str, str]:
    """The values the provider's URL needs from this monitor (an account id), all of them."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise _Invalid("params", f"must map parameter names to values, got {_show(value)}")
    params: dict[str, str] = {}
    for name, item in value.items():
        where = f"params.{_name(name)}"
        if provider is not None and name not in provider.params:
            declared = ", ".join(sorted(provider.params)) or "none"
            raise _Invalid(where, f"{provider.name} takes no such parameter (it takes: {_text(declared)})")
        if isinstance(item, int) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str) or not item or len(item) > MAX_PARAM_CHARS or not item.isprintable():
            raise _Invalid(where, f"must be one line of text of at most {MAX_PARAM_CHARS}, got {_show(item)}")
        params[name] = item
    if provider is not None:
        for name, about in provider.params.items():
            if name not in params:
                raise _Invalid(f"params.{name}", f"required by {provider.name}: {_text(about)}")
    return params


def _policy(values: dict[Any, Any], inherited: AlertPolicy, prefix: str) -> AlertPolicy:
    """Override the inherited alert policy with the fields set here."""

    def number(name: str, low: float, high: float, whole: bool = False) -> float | None:
        if name not in values:
            return None
        raw = values[name]
        kind_ok = isinstance(raw, int) if whole else isinstance(raw, (int, float))
        if isinstance(raw, bool) or not kind_ok or not low <= raw <= high:
            what = "a whole number" if whole else "a number"
            raise _Invalid(f"{prefix}{name}", f"must be {what} from {low:g} to {high:g}, got {_show(raw)}")
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
        raise _Invalid(
            where, f"must be a mapping with 'warning', 'critical' and/or 'min_remaining', got {_show(value)}"
        )
    unknown = set(value) - _METER_FIELDS
    if unknown:
        raise _Invalid(f"{where}.{_first_name(unknown)}", "unknown field (allowed: critical, min_remaining, warning)")
    percent = _thresholds({k: v for k, v in value.items() if k in _THRESHOLD_FIELDS}, inherited, where)
    floor = value.get("min_remaining")
    if floor is None:
        return replace(percent, floor_warning=None, floor_critical=None)
    floors = floor if isinstance(floor, dict) else {"warning": floor}
    if isinstance(floor, dict) and (not floor or set(floor) - set(_THRESHOLD_FIELDS)):
        raise _Invalid(f"{where}.min_remaining", "a number, or a mapping with 'warning' and/or 'critical'")
    figures: dict[str, float | None] = {"warning": None, "critical": None}
    for name in _THRESHOLD_FIELDS:
        if name not in floors:
            continue
        raw = floors[name]
        amount = _finite(raw)
        if amount is None or amount < 0:
            raise _Invalid(
                f"{where}.min_remaining.{name}" if isinstance(floor, dict) else f"{where}.min_remaining",
                f"must be an amount of 0 or more, got {_show(raw)}",
            )
        figures[name] = amount
    if figures["warning"] is not None and figures["critical"] is not None and figures["warning"] < figures["critical"]:
        raise _Invalid(f"{where}.min_remaining", "the warning floor must not be below the critical floor")
    return replace(percent, floor_warning=figures["warning"], floor_critical=figures["critical"])


def _thresholds(value: Any, inherited: Thresholds, where: str) -> Thresholds:
    """Override fields of the inherited thresholds; warning must not exceed critical."""
    if value is None:
        return inherited
    if not isinstance(value, dict):
        raise _Invalid(where, f"must be a mapping with 'warning' and/or 'critical', got {_show(value)}")
    unknown = set(value) - set(_THRESHOLD_FIELDS)
    if unknown:
        raise _Invalid(f"{where}.{_first_name(unknown)}", "unknown field (allowed: warning, critical)")
    figures = {"warning": inherited.warning, "critical": inherited.critical}
    for name in _THRESHOLD_FIELDS:
        if name not in value:
            continue
        raw = value[name]
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not 0 < raw <= 100:
            raise _Invalid(f"{where}.{name}", f"must be a percentage above 0 and at most 100, got {_show(raw)}")
        figures[name] = float(raw)
    if figures["warning"] > figures["critical"]:
        raise _Invalid(
            where,
            f"warning ({figures['warning']:g}) is above critical ({figures['critical']:g})",
        )
    return Thresholds(warning=figures["warning"], critical=figures["critical"])


def _base_url(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid("base_url", f"must be a URL, got {_show(value)}")
    if len(value) > MAX_URL_CHARS or not value.isprintable() or any(c.isspace() for c in value):
        raise _Invalid("base_url", f"must be a URL of at most {MAX_URL_CHARS} characters, without spaces")
    try:
        allowed = may_carry_a_key(value)
    except ValueError:  # urllib refuses some strings outright, such as an unclosed "[" IPv6 host
        allowed = False
    if allowed:
        return value
    raise _Invalid("base_url", "must be https:// (plain http only for a loopback test server)")


def _finite(raw: Any) -> float | None:
    """The number as a float when it is a finite one (not a bool); else None."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return None
    try:
        number = float(raw)
    except OverflowError:  # an int beyond any float
        return None
    return number if math.isfinite(number) else None


# --- Reading the file: bytes, then strict YAML (strict_yaml.py) ---------------------------


def _read_bytes(path: Path) -> bytes:
    source = _text(path.name)
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        reason = _text(exc.strerror or type(exc).__name__)
        raise ConfigError(_bounded(f"{source}: cannot read the monitors file ({reason})")) from None
    except ValueError:  # a path with a NUL character in it
        raise ConfigError(f"{source}: cannot read the monitors file (not a usable path)") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{source}: the monitors file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    return raw


def _declaration_files(path: Path) -> tuple[tuple[str, bytes], ...]:
    """The user's provider files beside the monitors file (providers/*.yaml)."""
    return read_beside(path.parent / PROVIDERS_DIRECTORY)


def _parse_yaml(raw: bytes, path: Path) -> Any:
    try:
        return strict_yaml.parse_yaml(raw, path.name, _loader_class(), MAX_VALUES, MAX_DEPTH)
    except strict_yaml.YamlRefused as exc:
        raise ConfigError(str(exc)) from None


def _loader_class() -> Any:
    strict_c, strict_python = strict_yaml.strict_loaders()
    return strict_c if _PREFER_LIBYAML and strict_c is not None else strict_python
