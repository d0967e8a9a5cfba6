"""Which providers a monitors file can use: the catalogue, overlaid with the user's own.

A user declares providers under `providers:` in monitors.yaml, or in files beside it
(`providers/<name>.yaml`); either may replace a catalogue entry of the same name. A
declaration that cannot be used is a problem of its own (one line naming file, provider
and field) and makes its monitors problems; every other provider and monitor still runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from quotawatch import strict_yaml
from quotawatch.echo import ConfigError, bounded, clip, show
from quotawatch.providers.base import Provider
from quotawatch.providers.catalogue import CODED, shipped
from quotawatch.providers.declaration import NAME, DeclarationError, declare

MAX_USER_DECLARATIONS = 200


@dataclass(frozen=True)
class Registry:
    providers: Mapping[str, Provider]
    # Names whose user declaration cannot be used, with why: their monitors cannot run.
    broken: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


def declared_providers(inline: Any, source: str, beside: tuple[tuple[str, bytes], ...] = ()) -> Registry:
    """The catalogue with the user's declarations from files beside (name, bytes) and `inline`
    (the `providers:` mapping of the monitors file, None when absent) in place."""
    catalogue = shipped()
    providers: dict[str, Provider] = dict(catalogue.providers)
    broken: dict[str, str] = {}
    problems: list[str] = list(catalogue.problems)
    own: dict[str, str] = {}  # name -> where the user declared it

    def take(name: str, where: str, data: Any) -> None:
        if name in own:
            problems.append(bounded(f"{where}: provider '{clip(name)}' is also declared in {own[name]}"))
            broken[name] = f"it is declared twice ({own[name]} and {where})"
            return
        own[name] = where
        try:
            providers[name] = declare(data, where, name, CODED)
        except DeclarationError as exc:
            problems.extend(exc.lines)  # every wrong field; its monitors carry the first
            broken[name] = str(exc)
            providers.pop(name, None)

    for file_name, raw in beside[:MAX_USER_DECLARATIONS]:
        where = f"{PurePath(source).parent / 'providers' / file_name}".removeprefix("./")
        name = PurePath(file_name).stem
        try:
            data = strict_yaml.parse_yaml(raw, where)
        except ConfigError as exc:
            problems.append(str(exc))
            broken[name] = str(exc)
            providers.pop(name, None)
            continue
        if isinstance(data, dict) and isinstance(data.get("name"), str) and NAME.fullmatch(data["name"]):
            name = data["name"]
        take(name, where, data)
    if len(beside) > MAX_USER_DECLARATIONS:
        problems.append(f"providers/: more than {MAX_USER_DECLARATIONS} declarations; the rest are not read")

    if inline is not None and not isinstance(inline, dict):
        shown = show(inline)
        problems.append(bounded(f"{source}: field 'providers': must map provider names to declarations, got {shown}"))
    elif inline is not None:
        for name, data in list(inline.items())[:MAX_USER_DECLARATIONS]:
            if not isinstance(name, str) or not NAME.fullmatch(name):
                shown = clip(name) if isinstance(name, str) else show(name)
                why = "a provider's name is lower-case letters, digits, '-' and '_'"
                problems.append(bounded(f"{source}: field 'providers.{shown}': {why}"))
                continue
            take(name, f"{source} (providers.{name})", data)
    return Registry(providers, broken, tuple(problems))


def read_beside(directory: Any) -> tuple[tuple[str, bytes], ...]:
    """The declaration files of a directory, (name, bytes), in name order; none when it is absent."""
    try:
        paths = sorted(p for p in directory.glob("*.yaml") if p.is_file())
    except OSError:
        return ()
    files = []
    for path in paths[: MAX_USER_DECLARATIONS + 1]:
        try:
            files.append((path.name, strict_yaml.read_bytes(path, path.name)))
        except ConfigError:
            files.append((path.name, b"\0"))  # read as a file that is not YAML: its problem names it
    return tuple(files)


def read_declarations(path: Path) -> dict[str, Provider]:
    """The declarations of a file given on the command line: one declaration (as in
    providers/<name>.yaml), or a `providers:` mapping of several (as in monitors.yaml).
    DeclarationError, a line naming file, provider and field for each problem of those that
    cannot be used."""
    source = path.name
    raw = strict_yaml.read_bytes(path, source)
    several = re.search(rb"^providers\s*:", raw, re.MULTILINE) is not None
    data = strict_yaml.parse_yaml(raw, source, strict_yaml.MONITORS_FILE if several else strict_yaml.DECLARATION_FILE)
    if isinstance(data, dict) and "providers" in data:
        registry = declared_providers(data["providers"], source)
        own = [p for p in registry.problems if p not in shipped().problems]
        if own:
            raise DeclarationError(own[0], tuple(own[1:]))
        names = data["providers"] if isinstance(data["providers"], dict) else {}
        return {name: registry.providers[name] for name in names if name in registry.providers}
    provider = declare(data, source, coded=CODED)
    return {provider.name: provider}
