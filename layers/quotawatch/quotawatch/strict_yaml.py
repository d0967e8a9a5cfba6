"""YAML read strictly: UTF-8 only, no anchors or aliases, no merge keys, no tags beyond
plain values, lists and mappings, no key twice in one mapping, bounded size and depth.

Shared by the monitors file and provider declarations: both are hostile input, and both
are read as written (an alias may stand for a whole tree, and it hides what a reviewer reads).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Hashable
from typing import Any

from quotawatch.echo import _bounded, _name, _show, _text

# Bounds on what a file may hold (the monitors file's, which are the largest).
MAX_VALUES = 250_000  # scalars, lists and mappings: each costs memory while the file is read
MAX_DEPTH = 20  # levels, each value one: meters.<name>.min_remaining.warning of a monitor is at 7
# Characters YAML 1.1 allows in a stream (PyYAML and libyaml refuse the others).
_NOT_YAML_CHAR = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class YamlRefused(Exception):
    """The text is not YAML this reader accepts; the message is one line, with a line number."""


class _Refused(Exception):
    """Something the file may not hold, at a line (1-based)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def parse_yaml(
    raw: bytes, source: str, loader_class: Any = None, max_values: int = MAX_VALUES, max_depth: int = MAX_DEPTH
) -> Any:
    """The one document in `raw`; YamlRefused saying what and at which line (`source` names the file)."""
    source = _text(source)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise YamlRefused(
            f"{source}: not UTF-8 text: byte 0x{raw[exc.start]:02x} at line {line} (byte offset {exc.start}); "
            "save the file as UTF-8"
        ) from None
    bad = _NOT_YAML_CHAR.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        raise YamlRefused(
            f"{source}: line {line}: the character U+{ord(bad.group()):04X} is not allowed in YAML "
            "(inside double quotes, write it as an escape)"
        )

    import yaml  # only when a file is read: keeps the handler's cold import light

    loader = (loader_class or default_loader())(text)
    loader.quotawatch_caps = (max_values, max_depth)
    try:
        return loader.get_single_data()
    except _Refused as exc:
        raise YamlRefused(_bounded(f"{source}: line {exc.line}: {exc}")) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise YamlRefused(f"{source}: not valid YAML{where}") from None
    except yaml.YAMLError:
        raise YamlRefused(f"{source}: not valid YAML") from None
    finally:
        loader.dispose()


def default_loader() -> Any:
    """libyaml's parser when PyYAML has it (fast); PyYAML's pure-Python one otherwise."""
    strict_c, strict_python = strict_loaders()
    return strict_c if strict_c is not None else strict_python


@functools.cache
def strict_loaders() -> tuple[Any, Any]:
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
            self.max_values, self.max_depth = loader.quotawatch_caps

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
            if self.values > self.max_values:
                raise _Refused(_line(event), f"more than {self.max_values:,} values in the file")
            if depth > self.max_depth:
                raise _Refused(_line(event), f"nested more than {self.max_depth} levels deep")
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
