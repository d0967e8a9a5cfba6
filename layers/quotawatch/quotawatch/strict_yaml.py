"""The one YAML reader of every file a user writes: one size cap, one parse, one error type
(ConfigError: a file that cannot be read as a whole). Anchors, aliases and merge keys work; a
mistake inside one entry (a monitor, a channel, a declaration: a repeated key, an odd tag, an
alias that expands too far) is read as a `Broken`, reported as that entry's problem.

Hand-written on PyYAML's parser events: no YAML library bounds what aliases expand to or
scopes an error to one entry, and libyaml's composer recurses in C without a depth limit.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

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
MAX_ENTRY_PROBLEMS = 20  # lines of one entry: a hostile one (10,000 unknown fields) cannot flood a log
# Characters YAML 1.1 allows in a stream (PyYAML and libyaml refuse the others).
_NOT_YAML_CHAR = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CORE = "tag:yaml.org,2002:"
_BROKEN_TAG = "tag:quotawatch,2026:broken"


@dataclass(frozen=True)
class Broken:
    """An entry that cannot be read: what its validator reports instead of checking it."""

    line: int
    message: str
    name: str | None  # its `id` or `name`, when written plainly

    def problem(self, source: str, what: str) -> str:
        """The one line its reader reports: "monitors.yaml: line 7: monitor 'a': ..."."""
        return bounded(f"{source}: line {self.line}: {what}: {self.message}")


class Lined(dict[Any, Any]):
    """A mapping as read, with the line of each key (1-based), for errors that name one."""

    line = 0
    key_lines: dict[Any, int]


def field_line(source: str, entry: Any, what: str | None, wrong: InvalidField) -> str:
    """The line reporting a wrong field of an entry (`what`; None: of the file itself), at its
    deepest key's line: "monitors.yaml: line 7: monitor 'a': field 'thresholds.warning': ..."."""
    data, line = entry, entry.line if isinstance(entry, Lined) and entry.line else None
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
    if isinstance(entry, Broken):
        return [entry.problem(source, str(what))]
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
    on a cold start (tests read each one with the composer below as well).
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

    loader: Any = (yaml.CSafeLoader if shipped and yaml.__with_libyaml__ else default_loader())(text)
    loader.quotawatch_entry_depth = entry_depth
    try:
        return loader.get_single_data()
    except _Refused as exc:
        raise ConfigError(bounded(f"{source}: line {exc.line}: {exc}")) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}: not valid YAML{where}") from None
    except yaml.YAMLError:
        raise ConfigError(f"{source}: not valid YAML") from None
    finally:
        loader.dispose()


class _Refused(Exception):
    """Something a file may not hold, at a line (1-based)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def default_loader() -> Any:
    """libyaml's parser when PyYAML has it (fast); PyYAML's pure-Python one otherwise."""
    strict_c, strict_python = strict_loaders()
    return strict_c if PREFER_LIBYAML and strict_c is not None else strict_python


@functools.cache
def strict_loaders() -> tuple[Any, Any]:
    """PyYAML's safe loaders, C (None without libyaml) and Python, with the composer below.

    Construction is PyYAML's safe constructor (merge keys included), with any failure of a
    value turned into its entry's problem at the value's line.
    """
    import yaml
    from yaml import events, nodes

    # Typed loosely: the composer gives each node a size and its problems.
    MappingNode: Any = nodes.MappingNode  # noqa: N806
    ScalarNode: Any = nodes.ScalarNode  # noqa: N806
    SequenceNode: Any = nodes.SequenceNode  # noqa: N806

    scalar_tags = {f"{_CORE}{name}" for name in ("str", "int", "float", "bool", "null", "merge")}
    implicit_tags = scalar_tags | {f"{_CORE}timestamp"}
    seq_tags, map_tags, merge_tag = {f"{_CORE}seq"}, {f"{_CORE}map"}, f"{_CORE}merge"
    kinds = {f"{_CORE}{name}": name for name in ("int", "float", "bool", "timestamp")}
    words = {"int": "a whole number", "float": "a number", "bool": "true or false", "timestamp": "a date"}

    def line(mark_holder: Any) -> int:
        return int(mark_holder.start_mark.line) + 1

    def entry_name(node: Any) -> str | None:
        """An entry's `id` or `name` as written plainly, to name it in its problem."""
        for key, value in node.value if isinstance(node, MappingNode) else ():
            if key.value in ("id", "name") and isinstance(value, ScalarNode) and value.value:
                return str(value.value)
        return None

    class Composer:
        """Events to nodes. Each node carries `size` (values after aliases are expanded) and
        `problems` (lines to report); an entry with problems becomes a Broken."""

        def __init__(self, loader: Any) -> None:
            self.loader = loader
            self.values = 0
            self.entry_depth = loader.quotawatch_entry_depth
            self.anchors: dict[str, Any] = {}

        def document(self) -> Any:
            loader = self.loader
            loader.get_event()  # stream start
            node = None
            if not loader.check_event(events.StreamEndEvent):
                loader.get_event()  # document start
                node = self.node(loader.get_event(), 1)
                loader.get_event()  # document end
            if not loader.check_event(events.StreamEndEvent):
                raise _Refused(line(loader.peek_event()), "a second YAML document ('---'): the file holds one")
            loader.get_event()
            if node is not None and node.problems:
                raise _Refused(*node.problems[0])
            if node is not None and node.size > MAX_EXPANDED_VALUES:
                raise _Refused(1, f"its aliases expand to more than {MAX_EXPANDED_VALUES:,} values")
            return node

        def node(self, event: Any, depth: int) -> Any:
            """The node that starts with this event (already taken from the parser)."""
            if depth > MAX_DEPTH:
                raise _Refused(line(event), f"nested more than {MAX_DEPTH} levels deep")
            if isinstance(event, events.AliasEvent):
                node = self.anchors.get(event.anchor or "")
                if node is None:
                    node = self.leaf(event, f"the alias *{clip(event.anchor or '')} names no anchor above it")
            else:
                self.values += 1
                if self.values > MAX_VALUES:
                    raise _Refused(line(event), f"more than {MAX_VALUES:,} values in the file")
                node = self.compose(event, depth)
                if event.anchor is not None:
                    self.anchors[event.anchor] = node
            if depth == self.entry_depth and (not isinstance(node, ScalarNode) or node.problems):
                return self.entry(node)
            return node

        def entry(self, node: Any) -> Any:
            """The entry as read, or a Broken in its place (its id or name kept to name it)."""
            problems = list(node.problems)
            if node.size > MAX_ENTRY_VALUES:
                problems.append((line(node), f"its aliases expand to more than {MAX_ENTRY_VALUES:,} values"))
            if not problems:
                return node
            leaf = ScalarNode(_BROKEN_TAG, "", node.start_mark, node.end_mark)
            (first_line, message), name = min(problems), entry_name(node)
            leaf.size, leaf.problems, leaf.broken = 1, (), Broken(first_line, message, name)
            return leaf

        def compose(self, event: Any, depth: int) -> Any:
            problems: list[tuple[int, str]] = []
            if isinstance(event, events.ScalarEvent):
                if event.tag is None:  # most values: no tag written, nothing to refuse
                    tag = self.loader.resolve(ScalarNode, event.value, event.implicit)
                else:
                    tag = self.tag(event, ScalarNode, scalar_tags, event.value, problems)
                if tag not in implicit_tags:  # '=', the "value" key of YAML 1.1
                    problems.append((line(event), f"{show(event.value)} has a special meaning in YAML; quote it"))
                    tag = f"{_CORE}str"
                node: Any = ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
                node.size, node.problems = 1, tuple(problems) if problems else ()
                return node
            get_event = self.loader.get_event
            children: list[Any] = []
            if isinstance(event, events.SequenceStartEvent):
                tag = self.tag(event, SequenceNode, seq_tags, None, problems)
                item: Any = get_event()
                while not isinstance(item, events.SequenceEndEvent):
                    children.append(self.node(item, depth + 1))
                    item = get_event()
                node = SequenceNode(tag, children, event.start_mark, item.end_mark, flow_style=event.flow_style)
            else:
                tag = self.tag(event, MappingNode, map_tags, None, problems)
                pairs = []
                key: Any = get_event()
                while not isinstance(key, events.MappingEndEvent):
                    pairs.append((self.node(key, depth + 1), self.node(get_event(), depth + 1)))
                    children += pairs[-1]
                    key = get_event()
                node = MappingNode(tag, pairs, event.start_mark, key.end_mark, flow_style=event.flow_style)
            size = 1
            for child in children:  # a loop, not generators: this runs for every list and mapping
                size += child.size
                if child.problems:
                    problems += child.problems
            node.size, node.problems = size, tuple(problems)
            if depth == self.entry_depth:
                node.entry = True
            return node

        def leaf(self, event: Any, problem: str) -> Any:
            node = ScalarNode(f"{_CORE}null", "", event.start_mark, event.end_mark)
            node.size, node.problems = 1, ((line(event), problem),)
            return node

        def tag(self, event: Any, kind: type[Any], allowed: set[str], value: Any, problems: list[Any]) -> str:
            """The node's tag; a tag beyond plain values, lists and mappings is a problem (and
            the node is read as a plain one, never constructed: its entry is a Broken)."""
            tag = event.tag
            if tag is None or tag == "!":
                resolved: str = self.loader.resolve(kind, value, event.implicit)
                return resolved
            if tag not in allowed:
                shown = "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag
                problems.append((line(event), f"the tag '{clip(shown)}' is not allowed here"))
                return next(iter(sorted(allowed)))
            return str(tag)

    class Strict(yaml.constructor.SafeConstructor):
        def get_single_node(self) -> Any:
            return Composer(self).document()

        def construct_document(self, node: Any) -> Any:
            return self.construct_object(node, deep=True)  # deep: a value's error is raised in its entry

        def construct_object(self, node: Any, deep: bool = False) -> Any:
            if node.tag == _BROKEN_TAG:
                return node.broken
            try:
                try:
                    return super().construct_object(node, deep=True)
                except _Refused:
                    raise
                except Exception:  # int("9" * 5000), date(2026, 2, 30)...: the value's line
                    what = words.get(kinds.get(node.tag, ""), "")
                    raise _Refused(line(node), f"cannot read this value{' as ' + what if what else ''}") from None
            except _Refused as exc:
                if getattr(node, "entry", False):  # the entry's problem, not the file's
                    return Broken(exc.line, str(exc), entry_name(node))
                raise

        def construct_yaml_map(self, node: Any) -> Any:
            mapping = Lined()
            mapping.line = line(node)
            mapping.key_lines = {}
            if not any(key_node.tag == merge_tag for key_node, _ in node.value):
                for key_node, value_node in node.value:
                    mapping[self.own_key(key_node, mapping)] = self.construct_object(value_node)
                return mapping
            for key_node, _ in node.value:  # the keys written here, each once (merged ones may be replaced)
                if key_node.tag != merge_tag:
                    self.own_key(key_node, mapping)
            try:
                self.flatten_mapping(node)  # merged keys first, so that the keys written here win
            except yaml.constructor.ConstructorError as exc:
                where = exc.problem_mark.line + 1 if exc.problem_mark else line(node)
                raise _Refused(where, "'<<' merges a mapping (*name) or a list of them") from None
            for key_node, value_node in node.value:
                key = self.construct_object(key_node)
                mapping[key] = self.construct_object(value_node)
                mapping.key_lines.setdefault(key, line(key_node))
            return mapping

        def own_key(self, key_node: Any, mapping: Lined) -> Any:
            """A key written in this mapping: a plain value, and not written before in it."""
            key = self.construct_object(key_node)
            if not isinstance(key, Hashable):
                raise _Refused(line(key_node), "a key must be a plain value, not a list or a mapping")
            if key in mapping.key_lines:
                first = mapping.key_lines[key]
                message = f"duplicate key '{show_key(key)}' (first at line {first}): each key may appear once"
                raise _Refused(line(key_node), message)
            mapping.key_lines[key] = line(key_node)
            return key

    Strict.add_constructor(f"{_CORE}map", Strict.construct_yaml_map)  # type: ignore[type-var]

    class StrictPython(Strict, yaml.SafeLoader):
        pass

    strict_c = None
    if getattr(yaml, "__with_libyaml__", False):

        class StrictC(Strict, yaml.CSafeLoader):
            pass

        strict_c = StrictC
    return strict_c, StrictPython
