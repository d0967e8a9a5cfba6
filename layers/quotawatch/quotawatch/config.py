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

import functools
import hashlib
import math
import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
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
_THRESHOLD_FIELDS = ("warning", "critical")
_METER_FIELDS = {*_THRESHOLD_FIELDS, "min_remaining"}

# Bounds on what the file may hold. 10,000 monitors as bench/run.py writes them take about
# 1 MB and 90,000 values, so each cap leaves room for twice that and more.
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_VALUES = 250_000  # scalars, lists and mappings: each costs memory while the file is read
MAX_DEPTH = 20  # levels, each value one: meters.<name>.min_remaining.warning of a monitor is at 7
MAX_MONITORS = 20_000
MAX_SECRET_FIELD_CHARS = 256
MAX_URL_CHARS = 2048
# Every message is one line of at most MAX_MESSAGE_CHARS; an echoed value or name takes
# at most ECHO_CHARS of it.
ECHO_CHARS = 80
MAX_MESSAGE_CHARS = 400
# libyaml's parser when PyYAML has it (fast); PyYAML's pure-Python one otherwise.
_PREFER_LIBYAML = True
# Characters YAML 1.1 allows in a stream (PyYAML and libyaml refuse the others).
_NOT_YAML_CHAR = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


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


# The file as last parsed, by its name, the YAML loader and its bytes' digest: a warm
# container reads the file every run (it may have been redeployed) but parses it again only
# when it changed. One entry.
_parsed: dict[tuple[str, Any, bytes], MonitorsConfig] = {}


def load_monitors(path: str | Path) -> MonitorsConfig:
    """The monitors in the file; raises ConfigError, and nothing else, when it cannot be used."""
    path = Path(path)
    try:
        raw = _read_bytes(path)
        key = (path.name, _loader_class(), hashlib.blake2b(raw, digest_size=16).digest())
        config = _parsed.get(key)
        if config is None:
            config = parse_monitors(_parse_yaml(raw, path), source=path.name)
            _parsed.clear()
            _parsed[key] = config
        return config
    except ConfigError:
        raise
    except Exception as exc:  # a bug here must not take the run down: say so, in one line
        raise ConfigError(
            _bounded(f"{_text(path.name)}: cannot be read (internal error {type(exc).__name__}; please report it)")
        ) from None


def parse_monitors(data: Any, source: str = "monitors.yaml") -> MonitorsConfig:
    source = _text(source)
    if not isinstance(data, dict) or not isinstance(data.get("monitors"), list):
        raise ConfigError(f"{source}: expected a top-level 'monitors:' list")
    unknown = set(data) - {"defaults", "monitors"}
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
            monitor = _monitor(entry, default_thresholds, default_policy)
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
    return MonitorsConfig(tuple(monitors), tuple(problems))


def _display_name(entry: Any, index: int) -> str:
    """How to name a monitor in an error: its id when it has a usable one, else its position."""
    if isinstance(entry, dict) and isinstance(entry.get("id"), str) and entry["id"]:
        return _text(entry["id"])
    return f"#{index}"


class _Invalid(Exception):
    """One field of one monitor (or of defaults) is wrong; `field` is already fit to print."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


def _monitor(entry: Any, default_thresholds: Thresholds, default_policy: AlertPolicy) -> Monitor:
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
    provider = PROVIDERS.get(provider_name)
    if provider is None and enabled:
        known = ", ".join(sorted(PROVIDERS))
        raise _Invalid("provider", f"unknown provider {_show(provider_name)} (known: {known})")

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
    for meter_name, value in meters.items():
        where = f"meters.{_name(meter_name)}"
        if not isinstance(meter_name, str):
            raise _Invalid(where, "a meter's name must be text (quote it)")
        if provider is not None and not provider.has_meter(meter_name):
            meter_names = _text(", ".join(provider.meter_names), 2 * ECHO_CHARS)
            raise _Invalid(where, f"{provider_name} has no such meter (meters: {meter_names})")
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
    )


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


# --- Messages: one line each, bounded whatever the file holds -----------------------------


def _text(value: str, limit: int = ECHO_CHARS) -> str:
    """The text as one printable line of at most `limit` characters: escapes, then an ellipsis.

    Unprintable characters (line breaks, controls, odd spaces) are written as Python escapes,
    and so is a backslash, so that what is printed can be read back unambiguously.
    """
    pieces: list[str] = []
    size = 0
    for char in value:  # stops early: a long value is never copied whole
        piece = char if char.isprintable() and char != "\\" else _escape(char)
        pieces.append(piece)
        size += len(piece)
        if size > limit:
            break
    else:
        return "".join(pieces)
    while size > limit - 1:
        size -= len(pieces.pop())
    return "".join(pieces) + "…"


def _escape(char: str) -> str:
    named = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if char in named:
        return named[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _show(value: Any) -> str:
    """A value as an error message echoes it: short, one line, never a repr of a structure."""
    if isinstance(value, str):
        return f"'{_text(value)}'"
    if value is None or isinstance(value, (bool, float)):
        return repr(value)
    if isinstance(value, int):
        if value.bit_length() > 128:  # Python will not even print a big enough int
            return f"a whole number of about {int(value.bit_length() * math.log10(2)) + 1:,} digits"
        return repr(value)
    if isinstance(value, (list, tuple)):
        return f"a list of {_count(len(value), 'item')}"
    if isinstance(value, dict):
        return f"a mapping of {_count(len(value), 'field')}"
    if isinstance(value, (set, frozenset)):
        return f"a set of {_count(len(value), 'item')}"
    if isinstance(value, (bytes, bytearray)):
        return f"binary data of {_count(len(value), 'byte')}"
    if isinstance(value, date):  # and datetime: YAML reads 2026-01-01 as a date
        return f"the date {_text(value.isoformat())}"
    return f"a value of type {_text(type(value).__name__)}"


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" if number == 1 else f"{number:,} {noun}s"


def _name(key: Any) -> str:
    """A field or meter name as it goes between quotes in a message."""
    return _text(key) if isinstance(key, str) else _show(key)


def _first_name(keys: set[Any]) -> str:
    """The first of some unknown keys, by their printed names (keys may be of any type)."""
    return min(_name(key) for key in keys)


def _bounded(message: str) -> str:
    """The last guard: one line of at most MAX_MESSAGE_CHARS, whatever went into it."""
    if len(message) <= MAX_MESSAGE_CHARS and message.isprintable():
        return message
    line = "".join(c if c.isprintable() else _escape(c) for c in message[: MAX_MESSAGE_CHARS + 1])
    return line if len(line) <= MAX_MESSAGE_CHARS else line[: MAX_MESSAGE_CHARS - 1] + "…"


# --- Reading the file: bytes, strictly decoded, parsed by a loader that refuses tricks ----


class _Refused(Exception):
    """Something the file may not hold, at a line (1-based)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


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


def _parse_yaml(raw: bytes, path: Path) -> Any:
    source = _text(path.name)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{source}: not UTF-8 text: byte 0x{raw[exc.start]:02x} at line {line} (byte offset {exc.start}); "
            "save the file as UTF-8"
        ) from None
    bad = _NOT_YAML_CHAR.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        raise ConfigError(
            f"{source}: line {line}: the character U+{ord(bad.group()):04X} is not allowed in YAML "
            "(inside double quotes, write it as an escape)"
        )

    import yaml  # only when a file is read: keeps the handler's cold import light

    loader = _loader_class()(text)
    try:
        return loader.get_single_data()
    except _Refused as exc:
        raise ConfigError(_bounded(f"{source}: line {exc.line}: {exc}")) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}: not valid YAML{where}") from None
    except yaml.YAMLError:
        raise ConfigError(f"{source}: not valid YAML") from None
    finally:
        loader.dispose()


def _loader_class() -> Any:
    strict_c, strict_python = _strict_loaders()
    return strict_c if _PREFER_LIBYAML and strict_c is not None else strict_python


@functools.cache
def _strict_loaders() -> tuple[Any, Any]:
    """PyYAML's safe loaders, C (None without libyaml) and Python, made strict.

    Both share one composer, written here on top of the parser's events, because libyaml's
    own composer cannot be told to refuse anchors, and recurses in C without a depth limit
    (a few hundred thousand "[" crash the process). Construction is PyYAML's safe
    constructor, with duplicate keys refused and any failure of a value turned into an error
    at its line.
    """
    import yaml
    from yaml import events
    from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

    core = "tag:yaml.org,2002:"
    scalar_tags = {f"{core}{name}" for name in ("str", "int", "float", "bool", "null")}
    implicit_tags = scalar_tags | {f"{core}timestamp"}
    seq_tags, map_tags, merge = {f"{core}seq"}, {f"{core}map"}, f"{core}merge"
    kinds = {f"{core}{name}": name for name in ("int", "float", "bool", "timestamp")}
    no_aliases = "anchors and aliases (&name, *name) are not allowed: write values out, or share them under 'defaults:'"
    words = {"int": "a whole number", "float": "a number", "bool": "true or false", "timestamp": "a date"}

    class Composer:
        """Events to nodes, refusing anchors, aliases, odd tags, deep nesting and too many values."""

        def __init__(self, loader: Any) -> None:
            self.loader = loader
            self.values = 0

        def document(self) -> Node | None:
            loader = self.loader
            loader.get_event()  # stream start
            node = None
            if not loader.check_event(events.StreamEndEvent):
                loader.get_event()  # document start
                node = self.node(loader.get_event(), 1)
                loader.get_event()  # document end
            if not loader.check_event(events.StreamEndEvent):
                raise _Refused(_line(loader.peek_event()), "a second YAML document ('---'): the file holds one")
            loader.get_event()
            return node

        def node(self, event: Any, depth: int) -> Node:
            """The node that starts with this event (already taken from the parser)."""
            # The file is read as written: an alias may stand for a whole tree (a few hundred
            # bytes of them for billions of values), and it hides what a reviewer reads.
            if isinstance(event, events.AliasEvent) or event.anchor is not None:
                raise _Refused(_line(event), no_aliases)
            self.values += 1
            if self.values > MAX_VALUES:
                raise _Refused(_line(event), f"more than {MAX_VALUES:,} values in the file")
            if depth > MAX_DEPTH:
                raise _Refused(_line(event), f"nested more than {MAX_DEPTH} levels deep")
            start: Any = event.start_mark
            if isinstance(event, events.ScalarEvent):
                tag = self.tag(event, ScalarNode, scalar_tags, event.value)
                if tag not in implicit_tags:
                    if tag == merge:
                        raise _Refused(_line(event), "merge keys (<<) are not allowed: write the fields out")
                    raise _Refused(  # '=', the "value" key of YAML 1.1
                        _line(event), f"{_show(event.value)} has a special meaning in YAML; quote it to mean the text"
                    )
                return ScalarNode(tag, event.value, start, start, style=event.style)
            get_event = self.loader.get_event
            if isinstance(event, events.SequenceStartEvent):
                tag = self.tag(event, SequenceNode, seq_tags, None)
                items = []
                item: Any = get_event()
                while not isinstance(item, events.SequenceEndEvent):
                    items.append(self.node(item, depth + 1))
                    item = get_event()
                return SequenceNode(tag, items, start, _end(item), flow_style=event.flow_style)
            tag = self.tag(event, MappingNode, map_tags, None)
            pairs = []
            key: Any = get_event()
            while not isinstance(key, events.MappingEndEvent):
                key_node = self.node(key, depth + 1)
                pairs.append((key_node, self.node(get_event(), depth + 1)))
                key = get_event()
            return MappingNode(tag, pairs, start, _end(key), flow_style=event.flow_style)

        def tag(self, event: Any, kind: type[Node], allowed: set[str], value: str | None) -> str:
            tag = event.tag
            if tag is None or tag == "!":
                resolved: str = self.loader.resolve(kind, value, event.implicit)
                return resolved
            if tag not in allowed:
                shown = "!!" + tag[len(core) :] if tag.startswith(core) else tag
                raise _Refused(_line(event), f"the tag '{_text(shown)}' is not allowed here")
            return str(tag)

    def _line(event: Any) -> int:
        return int(event.start_mark.line) + 1

    def _end(event: Any) -> Any:
        return event.end_mark

    class Strict(yaml.constructor.SafeConstructor):
        def get_single_node(self) -> Node | None:
            return Composer(self).document()

        def construct_object(self, node: Any, deep: bool = False) -> Any:
            try:
                return super().construct_object(node, deep=deep)
            except _Refused:
                raise
            except Exception:  # int("9" * 5000), date(2026, 2, 30), ...: the value's line
                what = words.get(kinds.get(node.tag, ""), "")
                raise _Refused(
                    int(node.start_mark.line) + 1, f"cannot read this value{' as ' + what if what else ''}"
                ) from None

        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Hashable, Any]:
            if not isinstance(node, MappingNode):
                raise _Refused(int(node.start_mark.line) + 1, "expected a mapping here")
            mapping: dict[Hashable, Any] = {}
            lines: dict[Hashable, int] = {}
            for key_node, value_node in node.value:
                line = int(key_node.start_mark.line) + 1
                key = self.construct_object(key_node, deep=deep)
                if not isinstance(key, Hashable):
                    raise _Refused(line, "a key must be a plain value, not a list or a mapping")
                if key in lines:
                    raise _Refused(
                        line, f"duplicate key '{_name(key)}' (first at line {lines[key]}): each key may appear once"
                    )
                lines[key] = line
                mapping[key] = self.construct_object(value_node, deep=deep)
            return mapping

    class StrictPython(Strict, yaml.SafeLoader):
        pass

    strict_c = None
    if getattr(yaml, "__with_libyaml__", False):

        class StrictC(Strict, yaml.CSafeLoader):
            pass

        strict_c = StrictC
    return strict_c, StrictPython
