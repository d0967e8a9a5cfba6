"""The one YAML reader of every file a user writes: one size cap, one parse, one error type
(ConfigError: a file that cannot be read as a whole). Anchors, aliases and merge keys work; a
mistake inside one entry (a monitor, a channel, a declaration: a repeated key, an odd tag, an
alias that expands too far) is read as a `Broken`, reported as that entry's problem.

Hand-written on PyYAML's parser events: no YAML library bounds what aliases expand to or
scopes an error to one entry, and libyaml's composer recurses in C without a depth limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from quotawatch.echo import ConfigError, InvalidField, bounded, clip, show, show_key

_T = TypeVar("_T")
PREFER_LIBYAML = True  # tests read every file with each parser
MAX_FILE_BYTES = 4 * 1024 * 1024  # 10,000 monitors as bench/run.py writes them take about 1 MB
MAX_VALUES = 250_000  # scalars, lists and mappings as written (about 90,000 for those 10,000)
MAX_DEPTH = 20  # levels, each value one: meters.<name>.min_remaining.warning of a monitor is at 7
# Values after aliases are expanded: in one entry, and in the file. A bomb (a few hundred
# bytes of aliases for billions of values) is refused in time and memory of what is written.
MAX_ENTRY_VALUES = 10_000
MAX_EXPANDED_VALUES = 1_000_000
# Where the entries are: items of `monitors:`/`channels:`, values of `providers:` and
# `defaults:` (the document is depth 1); a declaration file is one entry.
MONITORS_FILE, DECLARATION_FILE = 3, 1
MAX_MONITORS = 20_000  # entries of `monitors:` (config.py)
MAX_CHANNELS = 20
MAX_ENTRY_PROBLEMS = 20  # lines of one entry: a hostile one (10,000 unknown fields) cannot flood a log
# Characters YAML 1.1 allows in a stream (PyYAML and libyaml refuse the others).
_NOT_YAML_CHAR = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CORE = "tag:yaml.org,2002:"


@dataclass(frozen=True)
class Broken:
    """An entry that cannot be read: what its validator reports instead of checking it."""

    line: int
    message: str
    name: str | None  # its `id` or `name`, when written plainly


class Lined(dict[Any, Any]):
    """A mapping as read, with the line of each key (1-based), for errors that name one."""

    line: int
    key_lines: dict[Any, int]


def field_line(source: str, entry: Any, what: str | None, wrong: InvalidField) -> str:
    """The line reporting a wrong field of an entry (`what`; None: of the file itself), at its
    deepest key's line: "monitors.yaml: line 7: monitor 'a': field 'thresholds.warning': ..."."""
    data, line = entry, entry.line if isinstance(entry, Lined) else None
    for step in wrong.field.replace("[", ".").replace("]", "").split("."):
        if isinstance(data, Lined) and step in data.key_lines:
            line = data.key_lines[step]
        try:
            data = data[int(step) if isinstance(data, list) and step.isdigit() else step]
        except (KeyError, IndexError, TypeError, ValueError):
            break
    where = f"{source}: line {line}" if line else source
    return bounded(f"{where}: {what + ': ' if what else ''}field '{wrong.field}': {wrong}")


def shown_name(entry: Any, key: str, otherwise: str) -> str:
    """How to name an entry in its problems: its `key` (id, name) when usable, else `otherwise`."""
    name = entry.name if isinstance(entry, Broken) else entry.get(key) if isinstance(entry, dict) else None
    return clip(name) if isinstance(name, str) and name else otherwise


def read_entry(source: str, entry: Any, what: str | None, read: Callable[[Any], _T]) -> _T | list[str]:
    """The entry as `read` makes it, or its problems, a line each: its unreadable YAML, every
    wrong field, or a bug of ours (which must cost one entry, not the run). `what`: the entry
    as its problems name it (None: the file itself)."""
    if isinstance(entry, Broken):  # "monitors.yaml: line 7: monitor 'a': duplicate key..."
        return [bounded(f"{source}: line {entry.line}: {what}: {entry.message}")]
    where = f"{source}: {what}" if what else source
    try:
        return read(entry)
    except InvalidField as exc:
        lines = [field_line(source, entry, what, wrong) for wrong in exc.every()[:MAX_ENTRY_PROBLEMS]]
        more = len(exc.every()) - MAX_ENTRY_PROBLEMS
        return lines + ([bounded(f"{where}: {more:,} more problems, not shown")] if more > 0 else [])
    except Exception as exc:
        return [bounded(f"{where}: cannot be read (internal error {type(exc).__name__}; please report it)")]


def read_list(
    source: str, entries: list[Any], noun: str, key: str, read: Callable[..., _T]
) -> tuple[list[_T], list[tuple[str, list[str]]]]:
    """Each entry as `read(entry, twin)` makes it, or (its name, its problems). `twin`: the
    earlier entry with its `key` (every entry claims its key, even one wrong elsewhere)."""
    done: list[_T] = []
    problems: list[tuple[str, list[str]]] = []
    first: dict[str, str] = {}
    for index, entry in enumerate(entries, start=1):
        name, own = shown_name(entry, key, f"#{index}"), entry.get(key) if isinstance(entry, dict) else None
        twin = first.setdefault(own, f"#{index}") if isinstance(own, str) else f"#{index}"
        got = read_entry(source, entry, f"{noun} '{name}'", partial(read, twin=None if twin == f"#{index}" else twin))
        if isinstance(got, list):
            problems.append((name, got))
        else:
            done.append(got)
    return done, problems


def read_bytes(path: Path, source: str) -> bytes:
    """The file's bytes, up to one past the size cap; ConfigError saying why not."""
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        why = clip(exc.strerror or type(exc).__name__)
        raise ConfigError(bounded(f"{clip(source)}: cannot be read ({why})")) from None
    except ValueError:  # a path with a NUL character in it
        raise ConfigError(f"{clip(source)}: cannot be read (not a usable path)") from None
    return raw  # parse_yaml refuses it when over the cap


def parse_yaml(raw: bytes, source: str, entry_depth: int = DECLARATION_FILE, shipped: bool = False) -> Any:
    """The one document in `raw`; ConfigError (one line, with a line number) when the file
    cannot be read as a whole, a `Broken` in place of each entry that cannot.

    `shipped`: a catalogue file of the layer, read by libyaml's own safe loader, at C speed
    on a cold start (tests read each one with the reader below as well).
    """
    source = clip(source)
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{source}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
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

    plain = shipped and yaml.__with_libyaml__
    loader: Any = (yaml.CSafeLoader if plain else default_loader())(text)
    try:
        return loader.get_single_data() if plain else _Reader(loader, entry_depth, source).document()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}: not valid YAML{where}") from None
    finally:
        loader.dispose()


def default_loader() -> Any:
    """PyYAML's safe loader on libyaml's parser when it has it (fast), else the pure-Python one."""
    import yaml

    return yaml.CSafeLoader if PREFER_LIBYAML and yaml.__with_libyaml__ else yaml.SafeLoader


_WORDS = {"int": "a whole number", "float": "a number", "bool": "true or false", "timestamp": "a date"}
_SCALARS = {f"{_CORE}{name}": _WORDS.get(name, "") for name in ("str", "null", *_WORDS)}
_MERGE, _SEQ, _MAP = f"{_CORE}merge", f"{_CORE}seq", f"{_CORE}map"
_TAGGED = (*(tag for tag in _SCALARS if not tag.endswith("timestamp")), _MERGE)  # written as !!int...


def _line(event: Any) -> int:
    return int(event.start_mark.line) + 1


class _Reader:
    """Parser events to values, counting them as written and as aliases expand them. The
    problems of an entry make it a Broken; any other problem refuses the file."""

    def __init__(self, loader: Any, entry_depth: int, source: str) -> None:
        from yaml import events, nodes

        self.loader, self.entry_depth, self.source = loader, entry_depth, source
        self.events, self.node = events, nodes.ScalarNode
        self.values = self.expanded = 0
        self.anchors: dict[str, tuple[Any, int, list[tuple[int, str]]]] = {}  # value, expanded, problems
        self.problems: list[tuple[int, str]] = []  # of the entry being read, else of the file

    def document(self) -> Any:
        get, ends = self.loader.get_event, self.events.StreamEndEvent
        get()  # stream start
        value = None
        if not self.loader.check_event(ends):
            get()  # document start
            value = self.read(get(), 1)
            get()  # document end
        if not self.loader.check_event(ends):
            self.refuse(_line(self.loader.peek_event()), "a second YAML document ('---'): the file holds one")
        if self.problems:
            self.refuse(*self.problems[0])
        if self.expanded > MAX_EXPANDED_VALUES:
            self.refuse(1, f"its aliases expand to more than {MAX_EXPANDED_VALUES:,} values")
        return value

    def refuse(self, line: int, message: str) -> NoReturn:
        """Something the file may not hold, at a line (1-based): the file cannot be used."""
        raise ConfigError(bounded(f"{self.source}: line {line}: {message}"))

    def read(self, event: Any, depth: int, key: bool = False) -> Any:
        """The value that starts with this event (already taken from the parser)."""
        if depth > MAX_DEPTH:
            self.refuse(_line(event), f"nested more than {MAX_DEPTH} levels deep")
        if depth != self.entry_depth:
            return self.value(event, depth, key)
        outer, self.problems, start = self.problems, [], self.expanded
        value = self.value(event, depth, key)
        if self.expanded - start > MAX_ENTRY_VALUES:
            self.problems.append((_line(event), f"its aliases expand to more than {MAX_ENTRY_VALUES:,} values"))
        problems, self.problems = self.problems, outer
        if not problems:
            return value
        self.expanded = start + 1  # in the file: one value
        name = next((value[k] for k in ("id", "name") if isinstance(value, dict) and k in value), None)
        return Broken(*min(problems), name if isinstance(name, str) and name else None)

    def value(self, event: Any, depth: int, key: bool) -> Any:
        if isinstance(event, self.events.AliasEvent):
            if event.anchor not in self.anchors:
                self.problems.append((_line(event), f"the alias *{clip(event.anchor or '')} names no anchor above it"))
                self.expanded += 1
                return None
            value, size, problems = self.anchors[event.anchor]
            self.problems += problems
            self.expanded += size
            return value
        self.values += 1
        if self.values > MAX_VALUES:
            self.refuse(_line(event), f"more than {MAX_VALUES:,} values in the file")
        start, expanded = len(self.problems), self.expanded
        self.expanded += 1
        if isinstance(event, self.events.ScalarEvent):
            value = self.scalar(event)
            if value is _MERGE and not key:
                self.problems.append((_line(event), "cannot read this value"))
                value = None
        elif isinstance(event, self.events.SequenceStartEvent):
            self.tag(event, (_SEQ,))
            value = []
            while not self.loader.check_event(self.events.SequenceEndEvent):
                item_event = self.loader.get_event()
                item = self.read(item_event, depth + 1)
                if depth + 1 == self.entry_depth and not isinstance(item, (dict, Broken)):  # `- 5` for a monitor
                    item = Broken(_line(item_event), f"must be a mapping of fields, got {show(item)}", None)
                value.append(item)
            self.loader.get_event()
        else:
            value = self.mapping(event, depth)
        if event.anchor is not None:
            self.anchors[event.anchor] = (value, self.expanded - expanded, self.problems[start:])
        return value

    def tag(self, event: Any, allowed: tuple[str, ...]) -> str | None:
        """The event's tag, resolved; None (and a problem) for one beyond plain values, lists and mappings."""
        if event.tag is not None and event.tag != "!" and event.tag not in allowed:
            shown = "!!" + event.tag[len(_CORE) :] if event.tag.startswith(_CORE) else event.tag
            self.problems.append((_line(event), f"the tag '{clip(shown)}' is not allowed here"))
            return None
        if event.tag is not None and event.tag != "!":
            return str(event.tag)
        return str(self.loader.resolve(self.node, event.value, event.implicit)) if allowed is _TAGGED else ""

    def scalar(self, event: Any) -> Any:
        tag = self.tag(event, _TAGGED)
        if tag is None or tag == _MERGE:
            return tag and _MERGE  # a key's '<<' (anywhere else, a problem)
        if tag not in _SCALARS:  # '=', the "value" key of YAML 1.1
            self.problems.append((_line(event), f"{show(event.value)} has a special meaning in YAML; quote it"))
            return None
        try:
            node = self.node(tag, event.value, event.start_mark, event.end_mark, style=event.style)
            return self.loader.yaml_constructors[tag](self.loader, node)
        except Exception:  # int("9" * 5000), date(2026, 2, 30)...: the value's line
            what = _SCALARS[tag]
            self.problems.append((_line(event), f"cannot read this value{' as ' + what if what else ''}"))
            return None

    def mapping(self, event: Any, depth: int) -> Lined:
        """A mapping, with merged keys (`<<: *a` or `<<: [*a, *b]`) first; keys written here win."""
        self.tag(event, (_MAP,))
        own, merged = Lined(), Lined()
        own.line, own.key_lines, merged.key_lines = _line(event), {}, {}
        while not self.loader.check_event(self.events.MappingEndEvent):
            key_event = self.loader.get_event()
            key, value = self.read(key_event, depth + 1, key=True), self.read(self.loader.get_event(), depth + 1)
            maps = value if isinstance(value, list) else [value]
            if key is _MERGE and all(isinstance(m, Lined) for m in maps):
                for m in reversed(maps):
                    merged.update(m)
                    merged.key_lines.update(m.key_lines)
            elif key is _MERGE:
                self.problems.append((_line(key_event), "'<<' merges a mapping (*name) or a list of them"))
            elif not isinstance(key, Hashable):
                self.problems.append((_line(key_event), "a key must be a plain value, not a list or a mapping"))
            elif key in own.key_lines:
                first = own.key_lines[key]
                message = f"duplicate key '{show_key(key)}' (first at line {first}): each key may appear once"
                self.problems.append((_line(key_event), message))
            else:
                own[key], own.key_lines[key] = value, _line(key_event)
        self.loader.get_event()
        if not merged:
            return own
        merged.update(own)
        merged.line = own.line
        merged.key_lines.update(own.key_lines)
        return merged
