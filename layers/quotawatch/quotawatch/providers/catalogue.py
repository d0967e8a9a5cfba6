"""The catalogue: provider declarations shipped in the layer, one YAML file per provider.

Declarations are data, read once per container when a provider is first asked for. A file
that cannot be used is reported (`problems`) and left out; the others are still there.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from quotawatch import strict_yaml
from quotawatch.providers import imagerouter, openrouter
from quotawatch.providers.base import Provider
from quotawatch.providers.declaration import CodedReading, DeclarationError, declare

DIRECTORY = Path(__file__).parent / "catalogue"

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
    return read_directory(DIRECTORY, "catalogue/", shipped=True)


def read_directory(directory: Path, prefix: str, shipped: bool = False) -> Catalogue:
    providers: dict[str, Provider] = {}
    problems: list[str] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            provider = read_file(path, prefix + path.name, shipped)
        except DeclarationError as exc:
            problems.extend(exc.lines)
            continue
        if provider.name in providers:
            problems.append(f"{prefix}{path.name}: provider '{provider.name}' is declared twice")
            continue
        providers[provider.name] = provider
    return Catalogue(providers, tuple(problems))


def read_file(path: Path, source: str, shipped: bool = False) -> Provider:
    """The one declaration in a file; DeclarationError (a line per problem) when it cannot be used."""
    raw = strict_yaml.read_bytes(path, source)
    return declare(strict_yaml.parse_yaml(raw, source, shipped=shipped), source, coded=CODED)
