"""The catalogue: provider declarations shipped in the layer, one YAML file per provider.

Declarations are data, read once per container when a provider is first asked for. A file
that cannot be used is reported (`problems`) and left out; the others are still there.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quotawatch import strict_yaml
from quotawatch.providers import imagerouter, openrouter
from quotawatch.providers.base import Provider
from quotawatch.providers.declaration import CodedReading, DeclarationError, declare

DIRECTORY = Path(__file__).parent / "catalogue"
MAX_FILE_BYTES = 64 * 1024  # a declaration is a few dozen lines

# What declarations may name under `code:`: readers that a declaration cannot express.
CODED: dict[str, CodedReading] = {
    "imagerouter": CodedReading(
        imagerouter.parse, imagerouter.METER_NAMES, imagerouter.CONDITION_NAMES, imagerouter.read_refusal
    ),
    "openrouter": CodedReading(openrouter.parse, openrouter.METER_NAMES),
}


@dataclass(frozen=True)
class Catalogue:
    providers: dict[str, Provider]
    problems: tuple[str, ...]


@functools.cache
def shipped() -> Catalogue:
    """Every declaration in the catalogue directory, by name."""
    return read_directory(DIRECTORY, "catalogue/", trusted=True)


def read_directory(directory: Path, prefix: str, trusted: bool = False) -> Catalogue:
    providers: dict[str, Provider] = {}
    problems: list[str] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            provider = read_file(path, prefix + path.name, trusted)
        except DeclarationError as exc:
            problems.append(str(exc))
            continue
        if provider.name in providers:
            problems.append(f"{prefix}{path.name}: provider '{provider.name}' is declared twice")
            continue
        providers[provider.name] = provider
    return Catalogue(providers, tuple(problems))


def read_file(path: Path, source: str, trusted: bool = False) -> Provider:
    """The one declaration in a file; DeclarationError (one line) when it cannot be used.

    `trusted`: a file shipped in the layer, read by libyaml's safe loader (C speed at a cold
    start); tests check each one with the strict reader as well. A user's file is read strictly.
    """
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise DeclarationError(f"{source}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise DeclarationError(f"{source}: larger than {MAX_FILE_BYTES // 1024} KiB")
    try:
        data = _fast_yaml(raw) if trusted else strict_yaml.parse_yaml(raw, source)
    except strict_yaml.YamlRefused as exc:
        raise DeclarationError(str(exc)) from None
    return declare(data, source, coded=CODED)


def _fast_yaml(raw: bytes) -> Any:
    import yaml

    return yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 (a safe loader)
