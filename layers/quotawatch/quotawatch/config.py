"""Monitors and channels: a reviewed file in the repo, validated on load (hostile input:
whatever its bytes, `load_monitors` returns or raises ConfigError). A wrong monitor or channel
is reported with the file, the entry and the field, and only it is skipped. The YAML is read
by strict_yaml.py, the fields by models.py; here are the rules a schema cannot say (what a
monitor inherits, its provider's meters and params, what a channel's type takes). Secrets are
never in the file: `secret_field` names their field in the API-keys secret.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quotawatch import strict_yaml
from quotawatch.core.channels import PAGERDUTY_URL, Channel
from quotawatch.core.rules import DEFAULT_POLICY, DEFAULT_THRESHOLDS, AlertPolicy, Thresholds
from quotawatch.core.urls import may_carry_a_key
from quotawatch.echo import ECHO_CHARS, attempt, bounded, clip, show, show_key
from quotawatch.echo import ConfigError as ConfigError
from quotawatch.echo import InvalidField as Invalid
from quotawatch.strict_yaml import MAX_CHANNELS, MAX_MONITORS, Broken, read_entry, read_list

if TYPE_CHECKING:  # the models, msgspec and the registry are imported when a file is read
    from quotawatch import models
    from quotawatch.providers.base import Provider
    from quotawatch.providers.registry import Registry

_TOP_LEVEL_FIELDS = {"defaults", "monitors", "providers", "channels"}
_POLICY_FIELDS = {"remind_every_hours", "hysteresis", "failures_before_alert", "forecast_days"}
_DEFAULT_SEVERITY = ("warning", "critical")  # [is pagerduty]
MAX_PARAM_CHARS = 200
# A user's own declarations, beside the monitors file: <directory of the file>/providers/*.yaml
PROVIDERS_DIRECTORY = "providers"


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
    # The day its month starts, for a provider whose period is monthly (a billing cycle).
    monthly_on: int | None = None
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
    # Its other wrong fields: `check-config` prints every line; a run records the first.
    more: tuple[str, ...] = ()

    @property
    def lines(self) -> tuple[str, ...]:
        return (self.message, *self.more)


@dataclass(frozen=True)
class MonitorsConfig:
    monitors: tuple[Monitor, ...]
    problems: tuple[ConfigProblem, ...]
    # Provider declarations that cannot be used, one line each (their monitors are problems too).
    declaration_problems: tuple[str, ...] = ()
    # Channels beside the SNS topic (core/channels.py), and one line per broken one.
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
    from quotawatch.providers.registry import read_beside

    path = Path(path)
    try:
        raw = strict_yaml.read_bytes(path, path.name)
        beside = read_beside(path.parent / PROVIDERS_DIRECTORY)
        digest = hashlib.blake2b(raw, digest_size=16)
        for name, content in beside:
            digest.update(name.encode() + b"\0" + content)
        key = (path.name, strict_yaml.default_loader(), digest.digest())
        config = _parsed.get(key)
        if config is None:
            data = strict_yaml.parse_yaml(raw, path.name, strict_yaml.MONITORS_FILE)
            config = parse_monitors(data, source=path.name, declared_beside=beside)
            _parsed.clear()
            _parsed[key] = config
        return config
    except ConfigError:
        raise
    except Exception as exc:  # a bug here must not take the run down: say so, in one line
        raise ConfigError(
            bounded(f"{clip(path.name)}: cannot be read (internal error {type(exc).__name__}; please report it)")
        ) from None


def parse_monitors(
    data: Any, source: str = "monitors.yaml", declared_beside: tuple[tuple[str, bytes], ...] = ()
) -> MonitorsConfig:
    """The monitors of a parsed file; `declared_beside` are provider files beside it (name, bytes)."""
    from quotawatch.providers.registry import declared_providers

    source = clip(source)
    if not isinstance(data, dict) or not isinstance(data.get("monitors"), list):
        raise ConfigError(f"{source}: expected a top-level 'monitors:' list")
    # x-...: a place for anchors to share (`x-common: &common`), as in Compose files; not read.
    unknown = {k for k in data if not (isinstance(k, str) and k.startswith("x-"))} - _TOP_LEVEL_FIELDS
    if unknown:
        raise ConfigError(bounded(f"{source}: unknown top-level field '{min(show_key(key) for key in unknown)}'"))
    if len(data["monitors"]) > MAX_MONITORS:
        raise ConfigError(
            f"{source}: {len(data['monitors']):,} monitors, more than the {MAX_MONITORS:,} one file may hold"
        )
    defaults = {} if data.get("defaults") is None else data["defaults"]  # None: `defaults:` and nothing under it
    broken = [v for v in defaults.values() if isinstance(v, Broken)] if isinstance(defaults, dict) else []
    # The defaults are every monitor's: when they are wrong, the file cannot be used.
    entry, what = (broken[0], "field 'defaults'") if broken else (data, None)
    inherited = read_entry(source, entry, what, _defaults)
    if isinstance(inherited, list):
        raise ConfigError(inherited[0], tuple(inherited[1:]))
    registry = declared_providers(data.get("providers"), source, declared_beside)
    monitors, wrong = read_list(source, data["monitors"], "monitor", "id", partial(_monitor, inherited, registry))
    problems = [ConfigProblem(name, lines[0], tuple(lines[1:])) for name, lines in wrong]
    channels, channel_problems = _channels(data.get("channels"), source)
    return MonitorsConfig(tuple(monitors), tuple(problems), registry.problems, channels, channel_problems)


def _channels(value: Any, source: str) -> tuple[tuple[Channel, ...], tuple[str, ...]]:
    """The usable channels, and one line per problem."""
    if value is None:
        return (), ()
    if not isinstance(value, list):
        return (), (bounded(f"{source}: field 'channels': must be a list of channels, got {show(value)}"),)
    if len(value) > MAX_CHANNELS:
        return (), (f"{source}: field 'channels': {len(value)} channels, more than the {MAX_CHANNELS} allowed",)
    channels, problems = read_list(source, value, "channel", "name", _channel)
    return tuple(channels), tuple(line for _, lines in problems for line in lines)


def _channel(entry: Any, twin: str | None) -> Channel:
    """The channel an entry holds; InvalidField with every wrong field, each once."""
    from quotawatch import models

    model, shape = models.check_fields(entry, models.ChannelModel)
    found = [Invalid("name", "another channel already has this name")] if twin else []
    found += shape
    kind, given = model.type, _written(model, "url", "signing_secret_field", "min_severity")  # kind None: wrong
    url, signing = given.get("url"), given.get("signing_secret_field")
    if url is not None and kind not in ("pagerduty", None):
        found.append(Invalid("url", "only a pagerduty channel takes a url; a webhook's URL is a secret (secret_field)"))
    elif url is not None and not may_carry_a_key(url):
        found.append(Invalid("url", f"must be an https URL such as {PAGERDUTY_URL}, got {show(url)}"))
    if signing is not None and kind not in ("webhook", None):
        found.append(Invalid("signing_secret_field", "only a webhook channel is signed"))
    if signing is None and kind == "webhook" and "signing_secret_field" not in {f.field for f in shape}:
        found.append(Invalid("signing_secret_field", "missing: name the field of the API-keys secret that holds it"))
    if found:
        raise Invalid.of(found)
    return Channel(
        name=model.name,
        type=kind,
        secret_field=model.secret_field,
        min_severity=given.get("min_severity", _DEFAULT_SEVERITY[kind == "pagerduty"]),
        monitors=tuple([model.monitors] if isinstance(model.monitors, str) else model.monitors),
        signals=tuple([model.signals] if isinstance(model.signals, str) else model.signals),
        url=url,
        signing_secret_field=signing,
    )


def _defaults(data: dict[str, Any]) -> tuple[Thresholds, AlertPolicy]:
    from quotawatch import models

    try:
        model, found = models.check_fields({} if data.get("defaults") is None else data["defaults"], models.Defaults)
        inherited = _inherit(model, (DEFAULT_THRESHOLDS, DEFAULT_POLICY), found)
    except Invalid as exc:  # not a mapping
        found, inherited = list(exc.every()), (DEFAULT_THRESHOLDS, DEFAULT_POLICY)
    if found:
        raise Invalid.of([Invalid(f"defaults.{w.field}".removesuffix(".-"), str(w)) for w in found])
    return inherited


def _inherit(
    model: models.Defaults | models.MonitorModel, inherited: tuple[Thresholds, AlertPolicy], found: list[Invalid]
) -> tuple[Thresholds, AlertPolicy]:
    """The thresholds and alert policy, inherited and overridden by the fields set here."""
    levels = attempt(found, lambda: _levels(model.thresholds, model.burn, inherited[0]), inherited[0])
    changes = _written(model, *_POLICY_FIELDS)
    hours = changes.pop("remind_every_hours", None)
    if hours is not None:
        changes["remind_every"] = timedelta(hours=hours) if hours > 0 else None
    return levels, replace(inherited[1], **changes)


def _monitor(inherited: tuple[Thresholds, AlertPolicy], registry: Registry, entry: Any, twin: str | None) -> Monitor:
    """The monitor an entry holds; InvalidField with every wrong field, each once (the model's,
    then the rules below on the fields that are right). `twin`: an earlier monitor's same id."""
    from quotawatch import models

    model, shape = models.check_fields(entry, models.MonitorModel)
    found = [Invalid("id", f"another monitor ({twin}) already has this id")] if twin else []
    found += shape  # every rule below is checked, on the fields that are right
    wrong = {problem.field.split(".")[0] for problem in shape}  # each problem once: no rule on these
    provider = registry.providers.get(model.provider)
    if model.provider in registry.broken and model.enabled:
        # The run's outcome (and `quotawatch status`) shows this line alone: it carries the why.
        found.append(Invalid("provider", f"its declaration cannot be used: {registry.broken[model.provider]}"))
    elif model.provider is not None and provider is None and model.enabled:
        close = difflib.get_close_matches(model.provider, list(registry.providers), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        why = "`quotawatch providers` lists them all; a provider of your own is declared under 'providers:'"
        found.append(Invalid("provider", f"unknown provider {show(model.provider)} ({hint}{why})"))
    if model.base_url is not None and not may_carry_a_key(model.base_url):
        found.append(Invalid("base_url", "must be https:// (plain http only for a loopback test server)"))
    thresholds, policy = _inherit(model, inherited, found)
    meter_thresholds: dict[str, Thresholds] = {}
    meter_limits: dict[str, float] = {}
    for name, meter in (model.meters or {}).items():
        if provider is not None and not provider.has_meter(name):
            meters = clip(", ".join(provider.meter_names), 2 * ECHO_CHARS)
            found.append(Invalid(f"meters.{show_key(name)}", f"{model.provider} has no such meter (meters: {meters})"))
            continue
        meter = meter or models.MeterModel()
        meter_thresholds[name] = attempt(
            found, partial(_meter_thresholds, meter, thresholds, f"meters.{name}"), thresholds
        )
        if limit := _written(meter, "limit"):
            meter_limits[name] = limit["limit"]
            meter_thresholds[name] = replace(meter_thresholds[name], budget=limit["limit"])
    if model.period is not None and provider is not None and provider.monthly_on is None:
        found.append(Invalid("period", f"{model.provider}'s period is not monthly (it comes from its answers)"))
    params = _params(model.params or {}, provider if model.enabled else None, found) if "params" not in wrong else {}
    if found:
        raise Invalid.of(found)
    return Monitor(
        id=model.id,
        provider=model.provider,
        secret_field=model.secret_field,
        enabled=model.enabled,
        base_url=model.base_url,
        thresholds=thresholds,
        meter_thresholds=meter_thresholds,
        policy=policy,
        params=params,
        meter_limits=meter_limits,
        monthly_on=model.period.monthly if model.period else None,
        spec=provider,
    )


def _params(values: dict[str, str | int], provider: Provider | None, found: list[Invalid]) -> dict[str, str]:
    """The values the provider's URL needs from this monitor (an account id): each wrong or
    missing one in `found`."""
    params = {name: str(value) for name, value in values.items()}
    for name, value in params.items():
        if provider is not None and name not in provider.params:
            takes = ", ".join(sorted(provider.params)) or "none"
            why = f"{provider.name} takes no such parameter (it takes: {clip(takes)})"
            found.append(Invalid(f"params.{show_key(name)}", why))
        elif not value.isprintable() or len(value) > MAX_PARAM_CHARS:
            why = f"must be one line of text of at most {MAX_PARAM_CHARS}, got {show(value)}"
            found.append(Invalid(f"params.{show_key(name)}", why))
        elif provider is not None and (why_not := provider.param_problem(name, value)) is not None:
            found.append(Invalid(f"params.{name}", f"{why_not}, got {show(value)}"))
    for name, about in provider.params.items() if provider is not None else ():
        if name not in params:
            found.append(Invalid(f"params.{name}", f"required by {provider.name if provider else ''}: {clip(about)}"))
    return params


def _meter_thresholds(meter: models.MeterModel, inherited: Thresholds, where: str) -> Thresholds:
    """A meter's percent thresholds and floors (`min_remaining: 100`, or `{warning: 100, critical: 20}`)."""
    percent = _levels(meter, meter.burn, inherited, where)
    floor = meter.min_remaining  # a number: the warning floor alone
    floors = {"warning": floor} if floor is None or isinstance(floor, float) else _written(floor, "warning", "critical")
    return replace(percent, floor_warning=floors.get("warning"), floor_critical=floors.get("critical"))


def _levels(
    model: models.ThresholdsModel | None, burn: models.BurnField, inherited: Thresholds, where: str = ""
) -> Thresholds:
    """The inherited thresholds with what is set here (warning above critical is wrong once
    inherited), and the burn settings with what `burn:` changes (core/burn.py checks them).
    `where`: a meter's field ("meters.NAME"), none for the monitor's or the defaults' own."""
    levels = replace(inherited, **_written(model, "warning", "critical")) if model else inherited
    if levels.warning > levels.critical:
        raise Invalid(where or "thresholds", f"warning ({levels.warning:g}) is above critical ({levels.critical:g})")
    if burn is None or isinstance(burn, bool):
        return levels if burn is None else replace(levels, burn=replace(levels.burn, off=not burn))
    changes = _written(burn, "factor", "short", "long", "min_spend")
    changes.update({name: _seconds(changes[name]) for name in ("short", "long") if name in changes})
    try:
        return replace(levels, burn=replace(levels.burn, off=False, **changes))
    except ValueError as exc:
        raise Invalid(f"{where}.burn".removeprefix("."), str(exc)) from None


def _written(model: Any, *names: str) -> dict[str, Any]:
    """The fields of a model that the file sets (msgspec's UNSET: not written)."""
    from msgspec import UNSET

    return {name: value for name in names if (value := getattr(model, name)) is not UNSET}


def _seconds(duration: str) -> float:
    """'30min' or '6h' (models.Duration) in seconds."""
    return float(duration.removesuffix("min")) * 60 if duration.endswith("min") else float(duration[:-1]) * 3600
