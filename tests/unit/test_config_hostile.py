"""The monitors file as hostile input: whatever its bytes, loading it ends in a MonitorsConfig
or a ConfigError, and every message is one line of bounded length.

Each test runs with both strict loaders: on libyaml (what Lambda runs) and pure Python (the
fallback without libyaml).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from quotawatch import config, echo, models, strict_yaml
from quotawatch.config import ConfigError, MonitorsConfig, load_monitors

FILE = "team-monitors.yaml"
GOOD = "  - {id: good, provider: cloudlayer, secret_field: good}\n"
LOADERS = ["libyaml", "python"] if yaml.__with_libyaml__ else ["python"]
BOUND = 400


@contextmanager
def using(loader: str) -> Iterator[None]:
    """Load with libyaml's parser or PyYAML's pure-Python one (without monkeypatch: hypothesis)."""
    before = strict_yaml.PREFER_LIBYAML
    strict_yaml.PREFER_LIBYAML = loader == "libyaml"
    try:
        yield
    finally:
        strict_yaml.PREFER_LIBYAML = before


@pytest.fixture(params=LOADERS)
def loader(request: pytest.FixtureRequest) -> Iterator[str]:
    with using(request.param):
        yield request.param


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


def one_monitor(fields: str) -> str:
    """A file with monitor 'a', good but for the extra flow-style fields given."""
    return f"monitors:\n  - {{id: a, provider: cloudlayer, secret_field: a, {fields}}}\n"


def attempt(folder: Path, data: bytes | str) -> MonitorsConfig | ConfigError:
    """Load the bytes; return the config or the ConfigError (anything else fails the test)."""
    path = folder / FILE
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    try:
        return load_monitors(path)
    except ConfigError as exc:
        return exc


def messages(outcome: MonitorsConfig | ConfigError) -> list[str]:
    if isinstance(outcome, ConfigError):
        return [str(outcome)]
    return [*(p.message for p in outcome.problems), *(p.monitor for p in outcome.problems)]


def assert_well_formed(outcome: MonitorsConfig | ConfigError) -> None:
    for message in messages(outcome):
        assert message.isprintable(), message  # so no line break of any kind: one line
        assert len(message) <= BOUND, message
        assert "internal error" not in message, message  # the last-resort guard never fires on these


def checked(outcome: MonitorsConfig | ConfigError) -> None:
    """assert_well_formed, and a note of what came out (pytest --hypothesis-show-statistics)."""
    assert_well_formed(outcome)
    if isinstance(outcome, ConfigError):
        detail = str(outcome).split(": ", 2)[1:]
        event("error: " + (detail[1][:25] if detail and detail[0].startswith("line ") else detail[0][:25]))
    else:
        event(
            f"config: {'some' if outcome.monitors else 'no'} monitors, {'some' if outcome.problems else 'no'} problems"
        )


def error(folder: Path, data: bytes | str) -> str:
    outcome = attempt(folder, data)
    assert isinstance(outcome, ConfigError), outcome
    assert_well_formed(outcome)
    return str(outcome)


def problems(folder: Path, data: bytes | str) -> list[str]:
    outcome = attempt(folder, data)
    assert isinstance(outcome, MonitorsConfig), outcome
    assert_well_formed(outcome)
    return [line for p in outcome.problems for line in p.lines]


def test_each_loader_is_a_strict_subclass_of_pyyamls_safe_loader(loader: str) -> None:
    chosen = strict_yaml.default_loader()
    assert issubclass(chosen, yaml.CSafeLoader if loader == "libyaml" else yaml.SafeLoader)
    assert issubclass(chosen, yaml.SafeLoader if loader == "python" else yaml.CSafeLoader)


# --- the defects, one by one ------------------------------------------------------------------


def billion_laughs(levels: int = 9) -> str:
    """A monitor whose params hold 9**9 "lol"s once its aliases are expanded, then a good one."""
    lines = ["monitors:", "  - id: bomb", "    provider: cloudlayer", "    secret_field: bomb", "    params:"]
    lines.append('      a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]')
    for level in range(1, levels):
        previous, name = chr(ord("a") + level - 1), chr(ord("a") + level)
        lines.append(f"      {name}: &{name} [{','.join([f'*{previous}'] * 9)}]")
    return "\n".join(lines) + "\n" + GOOD


def test_an_alias_bomb_is_refused_as_its_monitors_problem(loader: str, folder: Path) -> None:
    bomb = billion_laughs()
    assert len(bomb) < 900  # 9**9 "lol"s if expanded
    outcome = attempt(folder, bomb)
    assert isinstance(outcome, MonitorsConfig), outcome
    assert [m.id for m in outcome.monitors] == ["good"]
    assert [p.message for p in outcome.problems] == [
        f"{FILE}: line 2: monitor 'bomb': its aliases expand to more than 10,000 values"
    ]


def test_a_bomb_outside_any_monitor_refuses_the_file(loader: str, folder: Path) -> None:
    # The anchors are under an unknown top-level key; `monitors:` itself is the bomb.
    laughs = billion_laughs().removesuffix(GOOD).split("    params:\n")[1]
    assert error(folder, f"x:\n{laughs}monitors: *i\n") == (
        f"{FILE}: line 1: its aliases expand to more than 1,000,000 values"
    )


def test_anchors_aliases_and_merge_keys_work(loader: str, folder: Path) -> None:
    text = "defaults:\n  thresholds: &t {warning: 70}\n" + (
        "monitors:\n"
        "  - &first {id: a, provider: cloudlayer, secret_field: a, hysteresis: 2, thresholds: *t}\n"
        "  - <<: *first\n    id: b\n    hysteresis: 3\n"
        "  - {<<: [*first], id: c, secret_field: c}\n"
    )
    outcome = attempt(folder, text)
    assert isinstance(outcome, MonitorsConfig), outcome
    assert outcome.problems == ()
    assert [(m.id, m.secret_field, m.policy.hysteresis) for m in outcome.monitors] == [
        ("a", "a", 2),
        ("b", "a", 3),
        ("c", "c", 2),
    ]
    assert {m.thresholds.warning for m in outcome.monitors} == {70}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"monitors:\n  - *undefined\n{GOOD}", "line 2: monitor '#1': the alias *undefined names no anchor above it"),
        (f"monitors:\n  - {{<<: 5, id: a}}\n{GOOD}", "line 2: monitor 'a': '<<' merges a mapping (*name) or a list"),
        (f"monitors:\n  - &m {{id: a, provider: [*m]}}\n{GOOD}", "line 2: monitor 'a': the alias *m names no anchor"),
    ],
)
def test_an_alias_a_monitor_cannot_use_is_its_problem(loader: str, folder: Path, text: str, message: str) -> None:
    outcome = attempt(folder, text)
    assert isinstance(outcome, MonitorsConfig), outcome
    assert [m.id for m in outcome.monitors] == ["good"]
    [problem] = outcome.problems
    assert problem.message.startswith(f"{FILE}: {message}")


def test_a_recursive_alias_names_no_anchor(loader: str, folder: Path) -> None:
    assert problems(folder, "monitors: &loop [*loop]\n") == [
        f"{FILE}: line 1: monitor '#1': the alias *loop names no anchor above it"
    ]
    assert error(folder, "monitors: []\ndefaults: &loop {x: *loop}\n") == (
        f"{FILE}: line 2: field 'defaults': the alias *loop names no anchor above it"
    )


@pytest.mark.parametrize(
    ("data", "byte", "line", "offset"),
    [
        (b"monitors:\n  - id: caf\xe9\n", "0xe9", 2, 21),  # Latin-1
        (b"\xff\xfem\x00o\x00", "0xff", 1, 0),  # UTF-16 with its byte-order mark
        (b"monitors: []\n# \xed\xa0\x80\n", "0xed", 2, 15),  # an encoded surrogate
        (b"monitors: []\n\n\n# \xc0\xaf", "0xc0", 4, 17),  # an overlong encoding
        (b"monitors: []  # \xe2\x82", "0xe2", 1, 16),  # cut off in the middle of a character
    ],
)
def test_a_byte_that_is_not_utf8_is_named_with_its_line_and_offset(
    loader: str, folder: Path, data: bytes, byte: str, line: int, offset: int
) -> None:
    assert error(folder, data) == (
        f"{FILE}: not UTF-8 text: byte {byte} at line {line} (byte offset {offset}); save the file as UTF-8"
    )


def test_a_utf8_byte_order_mark_is_fine(loader: str, folder: Path) -> None:
    assert problems(folder, b"\xef\xbb\xbfmonitors:\n" + GOOD.encode()) == []


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\ufffe"])
def test_a_control_character_in_the_file_is_named_with_its_line(loader: str, folder: Path, char: str) -> None:
    message = error(folder, f"monitors:\n  - id: a{char}b\n")
    assert message.startswith(f"{FILE}: line 2: the character U+{ord(char):04X} is not allowed in YAML")


HUGE = "x" * 1_000_000


# YAML allows an implicit key of at most 1024 characters; a longer one needs "? ".
MONITOR = "monitors:\n  - id: a\n    provider: cloudlayer\n    secret_field: a\n"
HUGE_CASES = {
    "value": f"monitors:\n  - {{id: a, provider: '{HUGE}', secret_field: a}}\n",
    "monitor name": f"monitors:\n  - {{id: '{HUGE}', provider: cloudlayer, secret_field: a}}\n",
    "field name": f"{MONITOR}    ? '{HUGE}'\n    : 1\n",
    "meter name": f"{MONITOR}    meters:\n      ? '{HUGE}'\n      : {{}}\n",
    "policy value": one_monitor(f"hysteresis: '{HUGE}'"),
    "secret field": f"monitors:\n  - {{id: a, provider: cloudlayer, secret_field: '{HUGE}'}}\n",
    "base url": one_monitor(f"base_url: 'https://{HUGE}'"),
    "monitor": f"monitors:\n  - '{HUGE}'\n",
    "list": f"monitors:\n  - [{'1, ' * 30_000}1]\n",  # a structure is summarised, never repr'd
}


@pytest.mark.parametrize("text", list(HUGE_CASES.values()), ids=list(HUGE_CASES))
def test_a_megabyte_value_is_never_echoed_whole(loader: str, folder: Path, text: str) -> None:
    [message] = problems(folder, text + GOOD)  # the good monitor still loads
    assert "x" * 80 not in message
    assert len(message) <= BOUND


def test_a_megabyte_top_level_key_or_default_is_never_echoed_whole(loader: str, folder: Path) -> None:
    for text in (f"monitors: []\n? '{HUGE}'\n: 1\n", f"monitors: []\ndefaults: {{hysteresis: '{HUGE}'}}\n"):
        message = error(folder, text)
        assert "x" * 80 not in message
        assert message.endswith(("…'", "…"))


def test_an_echoed_value_is_cut_at_80_characters_with_an_ellipsis(loader: str, folder: Path) -> None:
    [message] = problems(folder, f"monitors:\n  - {{id: a, provider: '{'p' * 100}', secret_field: a}}\n")
    assert f"unknown provider '{'p' * 79}…' (" in message
    [message] = problems(folder, f"monitors:\n  - {{id: a, provider: '{'p' * 80}', secret_field: a}}\n")
    assert f"unknown provider '{'p' * 80}' (" in message


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ('monitors:\n  - {id: a, provider: cloudlayer, secret_field: a, "bad\\nfield": 1}\n', "field 'bad\\nfield'"),
        ('monitors:\n  - {id: a, provider: cloudlayer, secret_field: a, "x\\ry": 1}\n', "field 'x\\ry'"),
        ('monitors:\n  - {id: a, provider: cloudlayer, secret_field: a, "\\e[31mred": 1}\n', "field '\\x1b[31mred'"),
        ('monitors:\n  - {id: a, provider: cloudlayer, secret_field: a, "a\\Lb": 1}\n', "field 'a\\u2028b'"),
        ('monitors:\n  - {id: a, provider: cloudlayer, secret_field: a, "a\\0b": 1}\n', "field 'a\\x00b'"),
        ('monitors:\n  - {id: a, provider: cloudlayer, secret_field: a, "a\\\\nb": 1}\n', "field 'a\\\\nb'"),
        ('monitors:\n  - {id: a, provider: cloudlayer, secret_field: a, meters: {"c\\nd": {}}}\n', "'meters.c\\nd'"),
        ('monitors:\n  - {id: "x\\ny", provider: cloudlayer, secret_field: a}\n', "monitor 'x\\ny': field 'id'"),
        ('monitors:\n  - {id: a, provider: "cloud\\nlayer", secret_field: a}\n', "provider 'cloud\\nlayer'"),
        ('monitors:\n  - {id: a, provider: cloudlayer, secret_field: "a\\nb"}\n', "got 'a\\nb'"),
    ],
)
def test_a_line_break_or_control_character_in_a_name_or_value_is_escaped(
    loader: str, folder: Path, text: str, shown: str
) -> None:
    [message] = problems(folder, text)
    assert shown in message


def test_a_line_break_in_a_top_level_key_is_escaped(loader: str, folder: Path) -> None:
    assert error(folder, 'monitors: []\n"extra\\nfield": 1\n') == f"{FILE}: unknown top-level field 'extra\\nfield'"


DUPLICATE = "duplicate key '{key}' (first at line {first}): each key may appear once"


@pytest.mark.parametrize(
    ("text", "line", "key", "first"),
    [
        ("monitors: []\nmonitors:\n" + GOOD, 2, "monitors", 1),
        ("defaults: {}\nmonitors: []\ndefaults: {hysteresis: 1}\n", 3, "defaults", 1),
        ("defaults:\n  hysteresis: 1\n  hysteresis: 2\nmonitors: []\n", 3, "hysteresis", 2),
        # Two spellings of one key are one key.
        ("monitors: []\ndefaults:\n  1: a\n  0x1: b\n", 4, "1", 3),
        ('monitors: []\n"monitors": []\n', 2, "monitors", 1),
    ],
)
def test_a_key_twice_outside_monitors_refuses_the_file_naming_both_lines(
    loader: str, folder: Path, text: str, line: int, key: str, first: int
) -> None:
    assert error(folder, text) == f"{FILE}: line {line}: " + DUPLICATE.format(key=key, first=first)


@pytest.mark.parametrize(
    ("text", "line", "key", "first"),
    [
        ("monitors:\n  - id: a\n    provider: cloudlayer\n    secret_field: a\n    id: b\n", 5, "id", 2),
        ("monitors:\n  - {id: a, provider: cloudlayer, secret_field: a, provider: tornado}\n", 2, "provider", 2),
        ("monitors:\n  - id: a\n    meters:\n      calls: {warning: 1}\n      calls: {warning: 2}\n", 5, "calls", 4),
        ("monitors:\n  - {id: a, thresholds: {warning: 1, critical: 2, warning: 3}}\n", 2, "warning", 2),
    ],
)
def test_a_key_twice_in_a_monitor_disables_that_monitor_only(
    loader: str, folder: Path, text: str, line: int, key: str, first: int
) -> None:
    assert problems(folder, text + GOOD) == [
        f"{FILE}: line {line}: monitor 'a': " + DUPLICATE.format(key=key, first=first)
    ]


def test_a_monitor_id_twice_is_a_problem_of_the_second(loader: str, folder: Path) -> None:
    text = "monitors:\n" + GOOD + "  - {id: good, provider: tornado, secret_field: other}\n"
    outcome = attempt(folder, text)
    assert isinstance(outcome, MonitorsConfig)
    assert [(m.id, m.provider) for m in outcome.monitors] == [("good", "cloudlayer")]
    assert [p.message for p in outcome.problems] == [
        f"{FILE}: line 3: monitor 'good': field 'id': another monitor (#1) already has this id"
    ]


def test_a_monitor_id_twice_is_a_problem_even_when_the_first_is_broken(loader: str, folder: Path) -> None:
    # Otherwise fixing the first monitor would quietly break the second.
    text = "monitors:\n  - {id: good, provider: nope, secret_field: good}\n" + GOOD
    outcome = attempt(folder, text)
    assert isinstance(outcome, MonitorsConfig)
    assert outcome.monitors == ()
    assert [p.message.split(": ")[3] for p in outcome.problems] == ["field 'provider'", "field 'id'"]


# --- what else the parser could throw -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("monitors: !!python/object/apply:os.system ['touch pwned']\n", "line 1: the tag '!!python/object/apply"),
        ("monitors: !!python/name:os.system\n", "line 1: the tag '!!python/name:os.system' is not allowed"),
        ("monitors: []\ndefaults: !!binary aGVsbG8=\n", "line 2: the tag '!!binary' is not allowed"),
        ("monitors: !!set {a: null}\n", "line 1: the tag '!!set' is not allowed"),
        ("monitors: !custom [1]\n", "line 1: the tag '!custom' is not allowed"),
        ("monitors: !!map [1]\n", "line 1: the tag '!!map' is not allowed"),
        ("monitors:\n  ? [a, b]\n  : 1\n", "line 2: a key must be a plain value"),
        ("monitors: []\n---\nmonitors: []\n", "line 2: a second YAML document"),
        ("monitors: " + "[" * 200_000, "line 1: nested more than 20 levels deep"),
        ("monitors: " + "{a: " * 50_000, "line 1: nested more than 20 levels deep"),
        ("".join(" " * i + "a:\n" for i in range(40)), "line 20: nested more than 20 levels deep"),
    ],
)
def test_whatever_the_parser_could_throw_is_a_config_error_at_a_line(
    loader: str, folder: Path, text: str, detail: str
) -> None:
    assert error(folder, text).startswith(f"{FILE}: {detail}")
    assert not Path("pwned").exists()


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ("hysteresis: !!int 'five'", "cannot read this value as a whole number"),
        ("hysteresis: !!float ''", "cannot read this value as a number"),
        ("enabled: !!bool 'maybe'", "cannot read this value as true or false"),
        (f"hysteresis: {'9' * 5000}", "cannot read this value as a whole number"),
        ("params: {day: 2026-02-30}", "cannot read this value as a date"),
        ("params: {at: 2026-01-01 10:00:00 +99:00}", "cannot read this value as a date"),
        ("base_url: =", "'=' has a special meaning in YAML"),
        ("params: !!python/object/apply:os.system ['touch pwned']", "the tag '!!python/object/apply:os.system'"),
        ("params: {x: !!binary aGVsbG8=}", "the tag '!!binary' is not allowed here"),
    ],
)
def test_a_value_the_parser_cannot_read_disables_its_monitor_only(
    loader: str, folder: Path, fields: str, detail: str
) -> None:
    [message] = problems(folder, one_monitor(fields) + GOOD)
    assert message.startswith(f"{FILE}: line 2: monitor 'a': {detail}")
    assert not Path("pwned").exists()


@pytest.mark.parametrize(
    "text",
    ["", "# only a comment\n", "null\n", "just text\n", "- a\n- b\n", "42\n", "monitors:\n", "monitors: 5\n"],
)
def test_a_document_that_is_not_a_monitors_mapping_is_a_config_error(loader: str, folder: Path, text: str) -> None:
    assert error(folder, text) == f"{FILE}: expected a top-level 'monitors:' list"


@pytest.mark.parametrize(
    ("text", "line"),
    [("monitors: [\n", 2), ("monitors:\n  - {id: a\n", 3), ("a: b: c\n", 1), ("monitors:\n\t- a\n", 2)],
)
def test_yaml_syntax_errors_keep_their_one_line_form(loader: str, folder: Path, text: str, line: int) -> None:
    assert error(folder, text) == f"{FILE}: not valid YAML at line {line}"


def test_big_whole_numbers_are_summarised(loader: str, folder: Path) -> None:
    # Hexadecimal has no digit limit in Python; such a number cannot even be printed.
    [message] = problems(folder, one_monitor(f"hysteresis: 0x{'f' * 5000}"))
    assert message.endswith("must be a number from 0 to 50, got a whole number of about 6,021 digits")
    text = one_monitor(f"meters: {{credit: {{min_remaining: 0x{'f' * 400}}}}}")
    [message] = problems(folder, text)
    assert message.endswith(
        "'meters.credit.min_remaining': must be an amount of 0 or more, got a whole number of about 482 digits"
    )


@pytest.mark.parametrize("floor", [".nan", ".inf", "-.inf"])
def test_a_floor_must_be_a_finite_amount(loader: str, folder: Path, floor: str) -> None:
    [message] = problems(
        folder,
        one_monitor(f"meters: {{credit: {{min_remaining: {floor}}}}}"),
    )
    assert "field 'meters.credit.min_remaining': must be an amount of 0 or more" in message


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ("defaults: []", "defaults"),
        ("defaults: 0", "defaults"),
        ("defaults: ''", "defaults"),
    ],
)
def test_empty_but_wrong_defaults_are_not_taken_for_none(loader: str, folder: Path, fields: str, field: str) -> None:
    message = error(folder, f"{fields}\nmonitors: []\n")
    assert message.startswith(f"{FILE}: line 1: field '{field}': must be a mapping of fields, got ")


@pytest.mark.parametrize(("entry", "shown"), [("5", "5"), ("[a, b]", "a list of 2 items"), ("'a'", "'a'")])
def test_an_entry_that_is_no_mapping_is_named_with_its_line(loader: str, folder: Path, entry: str, shown: str) -> None:
    outcome = attempt(folder, f"{one_monitor('')}  - {entry}\nchannels:\n  - {entry}\n")
    assert isinstance(outcome, MonitorsConfig)
    assert [m.id for m in outcome.monitors] == ["a"]
    assert [line for p in outcome.problems for line in p.lines] == [
        f"{FILE}: line 3: monitor '#2': must be a mapping of fields, got {shown}"
    ]
    assert outcome.channel_problems == (f"{FILE}: line 5: channel '#1': must be a mapping of fields, got {shown}",)


@pytest.mark.parametrize("meters", ["[]", "0", "''", "false"])
def test_empty_but_wrong_meters_are_not_taken_for_none(loader: str, folder: Path, meters: str) -> None:
    [message] = problems(folder, one_monitor(f"meters: {meters}"))
    assert message.startswith(f"{FILE}: line 2: monitor 'a': field 'meters': must be a mapping, got ")


@pytest.mark.parametrize(
    ("meters", "field"),
    [("{1: {}}", "meters.1"), ("{null: {}}", "meters.None"), ("{2026-01-01: {}}", "meters.the date 2026-01-01")],
)
def test_a_meter_name_must_be_text(loader: str, folder: Path, meters: str, field: str) -> None:
    [message] = problems(folder, one_monitor(f"meters: {meters}"))
    assert message == f"{FILE}: line 2: monitor 'a': field '{field}': a name must be text (quote it)"


@pytest.mark.parametrize(
    ("base_url", "detail"),
    [
        ("'http://[::1'", "must be https://"),  # urllib raises ValueError on this one
        ("'https://example.com/a b'", "without spaces"),
        ('"https://example.com/\\r\\nX-Injected: 1"', "without spaces"),
        (f"'https://{'a' * 3000}.example'", "at most 2048 characters"),
    ],
)
def test_a_base_url_that_urllib_or_a_header_would_choke_on_is_a_problem(
    loader: str, folder: Path, base_url: str, detail: str
) -> None:
    [message] = problems(folder, one_monitor(f"base_url: {base_url}"))
    assert message.startswith(f"{FILE}: line 2: monitor 'a': field 'base_url': ")
    assert detail in message


def test_a_secret_field_must_be_one_short_printable_line(loader: str, folder: Path) -> None:
    for secret_field in ('"a\\nb"', "'" + "k" * 257 + "'", '"tab\\there"'):
        [message] = problems(folder, f"monitors:\n  - {{id: a, provider: cloudlayer, secret_field: {secret_field}}}\n")
        assert message.startswith(f"{FILE}: line 2: monitor 'a': field 'secret_field': must be one line of printable")
    assert problems(folder, f"monitors:\n  - {{id: a, provider: cloudlayer, secret_field: '{'k' * 256}'}}\n") == []


def test_mixed_kinds_of_unknown_keys_are_named_without_sorting_them_together(loader: str, folder: Path) -> None:
    assert error(folder, "monitors: []\n1: a\nb: c\n") == f"{FILE}: unknown top-level field '1'"
    messages = problems(folder, "monitors:\n  - {id: a, provider: cloudlayer, secret_field: a, 1: x, null: y, z: 2}\n")
    assert [m.split(": ")[3] for m in messages] == ["field '1'", "field 'None'", "field 'z'"]  # each, once
    assert messages[0] == f"{FILE}: line 2: monitor 'a': field '1': a name must be text (quote it)"


# --- the caps -----------------------------------------------------------------------------------


def test_a_file_over_4_mib_is_refused_before_it_is_parsed(loader: str, folder: Path) -> None:
    data = b"monitors: []\n" + b"#" * strict_yaml.MAX_FILE_BYTES
    assert error(folder, data) == f"{FILE}: larger than 4 MiB"
    if loader == "libyaml":  # (the pure-Python scanner takes seconds over 4 MiB of comment)
        assert problems(folder, data[: strict_yaml.MAX_FILE_BYTES]) == []  # exactly at the cap still loads


def test_more_values_than_the_cap_are_refused(loader: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(strict_yaml, "MAX_VALUES", 100)
    assert problems(folder, "monitors: [" + "1, " * 96 + "1]\n") != []  # 1 + 1 + 1 + 97 values: at the cap
    assert error(folder, "monitors: [" + "1, " * 97 + "1]\n") == f"{FILE}: line 1: more than 100 values in the file"


def test_more_monitors_than_the_cap_are_refused(loader: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "MAX_MONITORS", 3)
    three = "monitors:\n" + "".join(f"  - {{id: m{i}, provider: cloudlayer, secret_field: k}}\n" for i in range(3))
    assert problems(folder, three) == []
    four = three + "  - {id: m3, provider: cloudlayer, secret_field: k}\n"
    assert error(folder, four) == f"{FILE}: 4 monitors, more than the 3 one file may hold"


def test_ten_thousand_monitors_as_the_benchmark_writes_them_load(folder: Path) -> None:
    # What yaml.safe_dump writes in bench/run.py (by hand here: dumping 10,000 takes seconds).
    text = "monitors:\n" + "".join(
        f"- base_url: http://127.0.0.1:54321\n  id: bench-10000-{i:04d}\n"
        "  provider: cloudlayer\n  secret_field: bench\n"
        for i in range(10_000)
    )
    with using(LOADERS[0]):
        outcome = attempt(folder, text)
    assert isinstance(outcome, MonitorsConfig)
    assert outcome.problems == ()
    assert len(outcome.enabled) == 10_000


def test_every_message_is_one_line_within_the_bound_even_when_all_parts_are_long(loader: str, folder: Path) -> None:
    long = "é\\n" * 300  # escaped in YAML: a line break in each name; 900 characters, under YAML's 1024 for a key
    (folder / ("n" * 200 + "\n.yaml")).write_text(
        f'monitors:\n  - {{id: "{long}", provider: cloudlayer, secret_field: a, "{long}": 1}}\n', encoding="utf-8"
    )
    [problem] = load_monitors(folder / ("n" * 200 + "\n.yaml")).problems
    assert len(problem.lines) == 2  # the id, the unknown field
    for line in problem.lines:
        assert line.isprintable()
        assert len(line) <= BOUND
    assert len(problem.monitor) <= echo.ECHO_CHARS


# --- property-based: any input ------------------------------------------------------------------

# Pieces of text YAML gives meaning to, characters it refuses, and some that print oddly.
YAML_PIECES = st.sampled_from(
    [
        *"-:?,[]{}#&*!|>'\"%@`\\ \n\t\r.0123456789aeiknoprstuxyz<=~",
        "\x00",
        "\x1b",
        "\x85",
        "\u2028",
        "\ufeff",
        "é",
        "😀",
        "0x",
        "!!",
        "---",
        "...",
        "<<",
        "monitors",
        "id",
    ]
)
yaml_like = st.lists(YAML_PIECES, max_size=120).map("".join)
# Keys and values a careless or hostile author might write.
odd_text = st.text(max_size=12) | st.sampled_from(["", "\n", "\r\n", "\x00", "\u2028", "\x1b[2J", "'", "\\", "…"])
huge_text = st.builds(
    lambda char, count: char * count, st.sampled_from(["x", "\n", "é", "\x07"]), st.integers(10**4, 2 * 10**5)
)
plain_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**2000), max_value=2**2000)
    | st.floats()
    | odd_text
    | st.sampled_from(["cloudlayer", "tornado", "https://x.example", "http://[::1", 80, 95, 0, 100, 101])
)
# A huge string in about one value of forty: each is dumped and parsed, which takes time.
scalars = st.integers(0, 39).flatmap(lambda n: huge_text if n == 0 else plain_scalars)
FIELDS = {f.name for model in (models.MonitorModel, models.MeterModel) for f in msgspec.structs.fields(model)}
field_names = st.sampled_from(sorted(FIELDS)) | odd_text | st.integers()
structures = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(field_names, children, max_size=5),
    max_leaves=25,
)


def mostly(good: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Good seven times in eight: so that most files get past their first mistake."""
    return st.integers(0, 7).flatmap(lambda n: odd if n == 0 else good)


percent = st.integers(1, 100) | st.floats(0.5, 100)
thresholds = st.fixed_dictionaries({}, optional={"warning": percent, "critical": percent})
amount = st.integers(0, 10**6) | st.floats(0, 1e6)
floor = amount | st.fixed_dictionaries({}, optional={"warning": amount, "critical": amount})
meter = st.none() | st.fixed_dictionaries(
    {}, optional={"warning": percent, "critical": percent, "min_remaining": mostly(floor, structures)}
)
meter_names = st.sampled_from(["calls", "credit", "storage", "key:Production Key", "jobs"])
policy = {
    "remind_every_hours": mostly(st.integers(0, 8760) | st.floats(0, 8760), scalars),
    "hysteresis": mostly(st.floats(0, 50), scalars),
    "failures_before_alert": mostly(st.integers(1, 48), scalars),
    "forecast_days": mostly(st.integers(0, 366), scalars),
}
monitor_like = st.fixed_dictionaries(
    {
        "id": mostly(st.sampled_from(["a", "b", "c", "bench-0001"]), odd_text),
        "provider": mostly(st.sampled_from(["cloudlayer", "tornado", "converra", "imagerouter"]), scalars),
        "secret_field": mostly(st.sampled_from(["k", "a key"]), scalars),
    },
    optional={
        "enabled": mostly(st.booleans(), scalars),
        "base_url": mostly(st.sampled_from(["https://x.example", "http://127.0.0.1:8080", "http://[::1]:1"]), scalars),
        "thresholds": mostly(thresholds, structures),
        "meters": mostly(
            st.dictionaries(mostly(meter_names, odd_text), mostly(meter, structures), max_size=3), structures
        ),
        **policy,
    },
).flatmap(
    lambda fixed: mostly(st.just({}), st.dictionaries(field_names, structures, max_size=2)).map(
        lambda extra: {**extra, **fixed}
    )
)
documents = st.fixed_dictionaries(
    {"monitors": mostly(st.lists(mostly(monitor_like, structures), max_size=5), structures)},
    optional={"defaults": mostly(st.fixed_dictionaries({}, optional={"thresholds": thresholds, **policy}), structures)},
).flatmap(
    lambda doc: mostly(st.just({}), st.dictionaries(field_names, structures, max_size=1)).map(
        lambda extra: {**extra, **doc}
    )
)


def dumped(document: Any) -> str:
    return yaml.safe_dump(document, allow_unicode=True, width=60)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A dumped document, then one edit: a repeated line, an anchor or alias, deep nesting, ..."""
    text = draw(st.builds(dumped, documents))
    lines = text.splitlines(keepends=True)
    at = draw(st.integers(0, len(lines)))
    edit = draw(st.sampled_from(["none", "repeat", "anchor", "alias", "insert", "truncate", "deep", "merge"]))
    if edit == "repeat" and lines:
        lines.insert(at, lines[min(at, len(lines) - 1)])
    elif edit in ("anchor", "alias", "insert"):
        token = {"anchor": "&a ", "alias": "*a", "insert": draw(st.lists(YAML_PIECES, max_size=5).map("".join))}[edit]
        line = lines[at] if at < len(lines) else ""
        cut = draw(st.integers(0, len(line)))
        lines[at : at + 1] = [line[:cut] + token + line[cut:]]
    elif edit == "truncate":
        lines = lines[:at]
    elif edit == "deep":
        lines.insert(at, "x: " + "[" * draw(st.integers(15, 5000)) + "\n")
    elif edit == "merge":
        lines.insert(at, "  <<: {id: a}\n")
    return "".join(lines)


SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


# What a hostile monitors file can be: any bytes, YAML-like text, any structure dumped as
# YAML, or a valid file with one damaging edit.
INPUTS: dict[str, st.SearchStrategy[Any]] = {
    "bytes": st.binary(max_size=300) | st.binary(max_size=40).map(lambda b: b"monitors:\n  - " + b),
    "yaml-like text": yaml_like,
    "structure": documents.map(dumped),
    "edited structure": mutated(),
}


@pytest.mark.parametrize("chosen", LOADERS)
@pytest.mark.parametrize("kind", list(INPUTS))
@SETTINGS
@given(data=st.data())
def test_any_input_gives_a_config_or_a_config_error(folder: Path, chosen: str, kind: str, data: st.DataObject) -> None:
    content: bytes | str = data.draw(INPUTS[kind], label=kind)
    with using(chosen):
        checked(attempt(folder, content))


@SETTINGS
@given(text=mutated())
def test_both_loaders_agree(folder: Path, text: str) -> None:
    if len(LOADERS) < 2:
        pytest.skip("PyYAML without libyaml")
    outcomes = []
    for chosen in LOADERS:
        with using(chosen):
            outcome = attempt(folder, text)
        outcomes.append(str(outcome) if isinstance(outcome, ConfigError) else outcome)
    libyaml, python = outcomes
    if "not valid YAML" in f"{libyaml}{python}":
        return  # the two parsers may place (or even find) a syntax error differently
    assert libyaml == python


def test_a_path_that_cannot_be_opened_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^bad\\x00name\.yaml: cannot be read \(not a usable path\)$"):
        load_monitors(tmp_path / "bad\x00name.yaml")
    (tmp_path / "folder").mkdir()
    with pytest.raises(ConfigError, match=r"^folder: cannot be read \(Is a directory\)$"):
        load_monitors(tmp_path / "folder")


@st.composite
def nested_aliases(draw: st.DrawFn) -> str:
    """Anchors under a monitor's params, each nesting aliases of earlier ones a few levels deep."""
    lines = []
    for index in range(draw(st.integers(1, 12))):
        names = draw(st.lists(st.integers(0, index - 1), max_size=9)) if index else []
        value = f"[{', '.join([f'*a{n}' for n in names] + ['1'] * draw(st.integers(0, 3)))}]"
        for _ in range(draw(st.integers(0, 4))):
            value = f"[{value}, {value if draw(st.booleans()) else 1}]"
        lines.append(f"      k{index}: &a{index} {value}")
    return "\n".join(lines)


@SETTINGS
@given(params=nested_aliases())
def test_the_alias_bound_holds_for_any_nesting(folder: Path, params: str) -> None:
    text = f"monitors:\n  - id: a\n    provider: cloudlayer\n    secret_field: a\n    params:\n{params}\n{GOOD}"
    outcome = attempt(folder, text)
    assert isinstance(outcome, MonitorsConfig)
    assert [m.id for m in outcome.monitors] == ["good"]  # the other monitor runs, whatever this one holds
    [problem] = outcome.problems  # lists are no params: refused, within the bound or beyond it
    assert problem.monitor == "a"
    assert_well_formed(outcome)


def test_every_mistake_of_a_monitor_is_one_line_in_one_check_config_run(loader: str, folder: Path) -> None:
    data = (
        "monitors:\n"
        "  - id: ok\n    provider: cloudlayer\n    secret_field: a\n"
        "  - id: three\n    provider: cloudlayer\n    thresholds: {warning: 'x'}\n    colour: red\n"
        "  - id: also-ok\n    provider: cloudlayer\n    secret_field: b\n"
    )
    config = attempt(folder, data)
    assert isinstance(config, MonitorsConfig)
    assert [m.id for m in config.monitors] == ["ok", "also-ok"]  # the others still run
    [problem] = config.problems  # one monitor that cannot run, counted once
    assert problem.lines == (
        f"{FILE}: line 7: monitor 'three': field 'thresholds.warning': must be a percentage above 0 and at most 100, "
        "got 'x'",
        f"{FILE}: line 8: monitor 'three': field 'colour': unknown field (allowed: base_url, burn, enabled, "
        "failures_before_alert, forecast_days, hysteresis, id, meters, params, period, provider, remind_every_hours, "
        "secret_field, thresholds)",
        f"{FILE}: line 5: monitor 'three': field 'secret_field': required: one line of printable characters, "
        "at most 256: a field of the API-keys secret",
    )


# Fields of a right monitor, each with a value of the wrong kind: wherever they sit (a field, a
# field of a struct, of a mapping's entry, an item of a list), each is told, at its own path.
_WRONGS: dict[str, tuple[tuple[str, ...], Any]] = {
    "id": (("id",), "Not An Id"),
    "enabled": (("enabled",), "yes"),
    "base_url": (("base_url",), 443),
    "hysteresis": (("hysteresis",), -1),
    "thresholds.warning": (("thresholds", "warning"), "lots"),
    "meters.calls.limit": (("meters", "calls", "limit"), 0),
    "meters.calls.burn.factor": (("meters", "calls", "burn", "factor"), [10]),
    "meters.calls.min_remaining.critical": (("meters", "calls", "min_remaining", "critical"), {}),
    "meters.credit.unit": (("meters", "credit", "unit"), 5),
    "params.account": (("params", "account"), [1]),
    "period.monthly": (("period", "monthly"), 32),
}


@given(wrong=st.sets(st.sampled_from(sorted(_WRONGS)), min_size=1))
def test_each_field_of_the_wrong_kind_is_told_once_at_its_path(wrong: set[str]) -> None:
    monitor: dict[str, Any] = {
        "id": "a",
        "provider": "p",
        "secret_field": "k",
        "thresholds": {"warning": 70},
        "meters": {"calls": {"limit": 5, "burn": {"factor": 10}, "min_remaining": {"critical": 1}}, "credit": {}},
        "params": {"account": "x"},
        "period": {"monthly": 3},
    }
    for name in wrong:
        *into, last = _WRONGS[name][0]
        place = monitor
        for step in into:
            place = place[step]
        place[last] = _WRONGS[name][1]
    model, found = models.check_fields(monitor, models.MonitorModel)

    assert sorted(problem.field for problem in found) == sorted(wrong)
    assert ("calls" in model.meters) == (not any(name.startswith("meters.calls.") for name in wrong))  # type: ignore[operator]
