"""The `quotawatch` command: `fetch`, `providers`, `check-config`.

`fetch` is how a user tries a key (and a declaration of their own) before deploying, and
how a bug gets reported: the same adapters and parsers as the Lambda function, printed as
a table or as schema-1 JSON. `providers` lists the catalogue; `check-config` validates a
monitors file and its provider declarations offline, for a fork's CI.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

from quotawatch.adapters.clock import SystemClock
from quotawatch.adapters.http import HttpClient, HttpPolicy
from quotawatch.config import ConfigError, Monitor, load_monitors
from quotawatch.core import formatting as fmt
from quotawatch.core.errors import CheckFailed
from quotawatch.core.snapshot import ErrorKind, Snapshot
from quotawatch.fetching import fetch_snapshot
from quotawatch.providers import PROVIDERS
from quotawatch.providers.base import Provider
from quotawatch.providers.declaration import DeclarationError
from quotawatch.providers.registry import read_declarations

DEFAULT_MONITORS = "functions/check_usage/monitors.yaml"
# One exit code per check error kind, so scripts can tell them apart (2 is argparse's).
EXIT_CODES = {
    ErrorKind.AUTH: 3,
    ErrorKind.RATE_LIMITED: 4,
    ErrorKind.UNAVAILABLE: 5,
    ErrorKind.BAD_RESPONSE: 6,
    ErrorKind.CONFIG: 7,
    ErrorKind.INTERNAL: 8,
}


class EnvironmentKeys:
    """The key from an environment variable, so it never appears on a command line."""

    def __init__(self, variable: str) -> None:
        self.variable = variable

    def get(self, field: str) -> str:
        value = os.environ.get(self.variable, "").strip()
        if not value:
            raise CheckFailed(ErrorKind.CONFIG, f"environment variable {self.variable} is not set or empty")
        return value

    def where(self, field: str) -> str:
        return f"the key in environment variable {self.variable}"

    def refresh(self, field: str, run: datetime) -> str | None:
        return None  # the environment does not change under a running command


class CommandSet(Protocol):
    """More subcommands, added where the layer cannot hold them (status, history and report
    read the table and draw charts on a person's machine: local/quotawatch_view)."""

    def register(self, commands: Any) -> None: ...

    def run(self, args: argparse.Namespace, out: TextIO) -> int | None:
        """The exit code of a subcommand of this set; None when `args` names another."""


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout, extensions: Sequence[CommandSet] = ()) -> int:
    parser = argparse.ArgumentParser(prog="quotawatch", description="QuotaWatch command line.")
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser(
        "fetch",
        help="read one provider's usage now",
        description="Read one provider's usage with the key in an environment variable. "
        "Exit codes: 0 ok, " + ", ".join(f"{code} {kind.value}" for kind, code in EXIT_CODES.items()) + ".",
    )
    fetch.add_argument("provider", help="a catalogue provider (see `quotawatch providers`) or one of --providers")
    fetch.add_argument("--key-env", required=True, metavar="VAR", help="environment variable holding the API key")
    fetch.add_argument("--base-url", help="another address for the provider's API (https, or http on loopback)")
    fetch.add_argument("--providers", metavar="FILE", help="a file of your own provider declarations")
    fetch.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="a value the provider's URL needs"
    )
    fetch.add_argument("--json", action="store_true", help="print the schema-1 snapshot as JSON")
    fetch.add_argument(
        "--timeout", type=float, default=HttpPolicy.read_timeout, metavar="SECONDS", help="read timeout per attempt"
    )
    listing = commands.add_parser("providers", help="list the providers of the catalogue")
    listing.add_argument("--providers", metavar="FILE", help="also list the declarations in this file")
    check = commands.add_parser(
        "check-config",
        help="validate a monitors file and its provider declarations, offline",
        description="Print every problem of the monitors file (and of provider declarations in it or beside it, "
        "in providers/*.yaml), one line each. Exit 0 when there is none, 1 otherwise.",
    )
    check.add_argument("monitors", nargs="?", default=DEFAULT_MONITORS, help=f"default: {DEFAULT_MONITORS}")
    for extension in extensions:
        extension.register(commands)
    args = parser.parse_args(argv)
    for extension in extensions:
        code = extension.run(args, out)
        if code is not None:
            return code

    if args.command == "check-config":
        return check_config(Path(args.monitors), out)
    try:
        known = _known_providers(args.providers)
    except DeclarationError as exc:
        out.write(f"{exc}\n")
        return EXIT_CODES[ErrorKind.CONFIG]
    if args.command == "providers":
        out.write(provider_table(known.values()))
        return 0
    provider = known.get(args.provider)
    if provider is None:
        out.write(f"unknown provider '{args.provider}' (known: {', '.join(sorted(known))})\n")
        return EXIT_CODES[ErrorKind.CONFIG]
    params, problem = _params(provider, args.param)
    if problem:
        out.write(problem + "\n")
        return EXIT_CODES[ErrorKind.CONFIG]
    monitor = Monitor(
        id=provider.name,
        provider=provider.name,
        secret_field=args.key_env,
        base_url=args.base_url,
        params=params,
        spec=provider,
    )
    client = HttpClient(HttpPolicy(read_timeout=args.timeout))
    snapshot = fetch_snapshot(monitor, provider, EnvironmentKeys(args.key_env), client, SystemClock().now())
    out.write(json.dumps(snapshot.to_dict(), indent=2) + "\n" if args.json else render_table(snapshot, provider))
    return 0 if snapshot.error is None else EXIT_CODES[snapshot.error.kind]


def _known_providers(path: str | None) -> dict[str, Provider]:
    """The catalogue, with the declarations of `path` in place (DeclarationError when one is wrong)."""
    known = dict(PROVIDERS)
    if path is not None:
        known.update(read_declarations(Path(path)))
    return known


def _params(provider: Provider, given: list[str]) -> tuple[dict[str, str], str]:
    params: dict[str, str] = {}
    for item in given:
        name, equals, value = item.partition("=")
        if not equals or name not in provider.params:
            takes = ", ".join(sorted(provider.params)) or "none"
            return {}, f"--param {name}: {provider.name} takes no such parameter (it takes: {takes})"
        params[name] = value
    missing = [name for name in provider.params if name not in params]
    if missing:
        name = missing[0]
        return {}, f"{provider.name} needs --param {name}=VALUE: {provider.params[name]}"
    return params, ""


def provider_table(providers: Iterable[Provider]) -> str:
    """Name, what it measures, how the key is sent and where it is documented: one line each."""
    rows = [("provider", "measures", "auth", "documentation")]
    rows += [
        (p.name, p.measures, p.auth.describe(), p.docs_url or "-") for p in sorted(providers, key=lambda p: p.name)
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)), row[3]]) for row in rows]
    return "\n".join(lines) + f"\n\n{len(rows) - 1} providers\n"


def check_config(path: Path, out: TextIO) -> int:
    """Every problem of the file, one line each; 0 when there is none."""
    try:
        config = load_monitors(path)
    except ConfigError as exc:
        out.write(f"{exc}\n")
        return 1
    lines = list(config.declaration_problems) + [problem.message for problem in config.problems]
    lines += config.channel_problems
    for line in lines:
        out.write(line + "\n")
    count = len(config.monitors) + len(config.problems)
    if lines:
        out.write(f"{path.name}: {len(lines)} problem{'s' if len(lines) != 1 else ''}\n")
        out.write(f"{path.name}: {count} monitor{'s' if count != 1 else ''}, {len(config.problems)} disabled\n")
        return 1
    channels = len(config.channels)
    also = f", {channels} channel{'s' if channels != 1 else ''}" if channels else ""
    out.write(f"{path.name}: {count} monitor{'s' if count != 1 else ''}{also}, no problems\n")
    return 0


def render_table(snapshot: Snapshot, provider: Provider | None = None) -> str:
    provider = provider or PROVIDERS.get(snapshot.provider)
    title = f"{provider.display_name if provider else snapshot.provider}, read {fmt.timestamp(snapshot.checked_at)}"
    if snapshot.error is not None:
        return f"{title}\ncannot check ({snapshot.error.kind.value}): {snapshot.error.message}\n"
    rows = [("meter", "used", "limit", "remaining", "used %")]
    for m in snapshot.meters:
        pct = m.percent_used
        rows.append(
            (
                m.name,
                fmt.quantity(m.used, m.unit) if m.used is not None else "-",
                fmt.quantity(m.limit, m.unit) if m.limit is not None else "no limit",
                fmt.quantity(m.remaining, m.unit) if m.remaining is not None else "-",
                fmt.percent(pct) if pct is not None else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = [title, ""]
    for row in rows:
        cells = [
            cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    if snapshot.period is not None and (snapshot.period.start or snapshot.period.end):
        start = fmt.timestamp(snapshot.period.start) if snapshot.period.start else "?"
        end = fmt.timestamp(snapshot.period.end) if snapshot.period.end else "?"
        lines += ["", f"billing period: {start} to {end}"]
    if snapshot.conditions:
        lines.append("")
        lines.extend(f"{c.severity.value}: {c.message}" for c in snapshot.conditions)
    return "\n".join(lines) + "\n"
