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
    listing = commands.add_parser("providers", help="list the providers of the catalogue, or describe one")
    listing.add_argument("name", nargs="?", help="one provider: its meters, params, key and a monitors.yaml snippet")
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
        out.write("".join(f"{line}\n" for line in exc.lines))
        return EXIT_CODES[ErrorKind.CONFIG]
    if args.command == "providers":
        if args.name is None:
            out.write(provider_table(known.values()))
            return 0
        if args.name not in known:
            out.write(f"unknown provider '{args.name}' (known: {', '.join(sorted(known))})\n")
            return EXIT_CODES[ErrorKind.CONFIG]
        out.write(provider_help(known[args.name]))
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
    for name in absent_optional_meters(provider, snapshot):
        print(
            f"warning: optional meter '{name}' of {provider.name} is in no answer read: fine when the provider "
            "leaves it out of answers like this one, else check the declaration's paths for a typo",
            file=sys.stderr,
        )
    return 0 if snapshot.error is None else EXIT_CODES[snapshot.error.kind]


def absent_optional_meters(provider: Provider, snapshot: Snapshot) -> list[str]:
    """The optional meters of `provider` a reading that worked does not have (none of a family)."""
    if snapshot.error is not None:
        return []
    names = [m.name for m in snapshot.meters]
    return [
        optional
        for optional in provider.optional_meters
        if not any(name == optional or (optional.endswith("*") and name.startswith(optional[:-1])) for name in names)
    ]


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


LIST_WIDTH = 100  # `quotawatch providers` fits a terminal of this many columns


def provider_table(providers: Iterable[Provider]) -> str:
    """Name, how the key is sent and what it measures, one line each within LIST_WIDTH."""
    rows = [("PROVIDER", "KEY", "MEASURES")]
    rows += [(p.name, p.auth.kind, p.measures) for p in sorted(providers, key=lambda p: p.name)]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    room = LIST_WIDTH - sum(widths) - 4
    lines = [f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {_cut(row[2], room)}".rstrip() for row in rows]
    return "\n".join(lines) + f"\n\n{len(rows) - 1} providers; `quotawatch providers NAME` describes one\n"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def provider_help(provider: Provider) -> str:
    """Everything a person needs to monitor `provider`: meters, params, key, docs, a snippet."""
    lines = [f"{provider.display_name} ({provider.name}): {provider.measures}", ""]
    if provider.docs_url:
        lines.append(f"docs:      {provider.docs_url}")
    lines.append(f"endpoint:  {provider.base_url}{provider.path}")
    lines.append(f"key:       {provider.key_format}, sent as {provider.auth.describe()}")
    if provider.key.where:
        lines.append(f"           create one at: {provider.key.where}")
    lines += ["", "meters:"]
    for name in provider.meter_names:
        optional = " (optional: only when the answer has it)" if name in provider.optional_meters else ""
        family = " (one per item: the name after ':' is the provider's)" if name.endswith("*") else ""
        lines.append(f"  {name:<24} {provider.meter_units.get(name, '-')}{optional}{family}")
    if provider.condition_names:
        lines += ["", "conditions: " + ", ".join(provider.condition_names)]
    lines += ["", "params:" + ("" if provider.params else " none")]
    lines += [f"  {name}: {about}" for name, about in provider.params.items()]
    monitor = f"{provider.name}-prod"
    lines += [
        "",
        "In monitors.yaml (functions/check_usage/monitors.yaml):",
        "",
        "monitors:",
        f"  - id: {monitor}",
        f"    provider: {provider.name}",
        f"    secret_field: {monitor}",
    ]
    if provider.params:
        lines.append("    params:")
        lines += [f"      {name}: <{name}>" for name in provider.params]
    if PROVIDERS.get(provider.name) is not provider:
        lines.append(f"# and {provider.name}'s declaration ({provider.source}) under providers:, or in providers/")
    variable = provider.name.upper().replace("-", "_") + "_KEY"
    lines += [
        "",
        f'The key goes into the API-keys secret as {{"{monitor}": "{provider.key_format}"}}.',
        f"Try it first (paste the key; it is not echoed): read -rs {variable} && export {variable}",
        f"  .venv/bin/quotawatch fetch {provider.name} --key-env {variable}"
        + "".join(f" --param {name}=<{name}>" for name in provider.params),
    ]
    return "\n".join(lines) + "\n"


def check_config(path: Path, out: TextIO) -> int:
    """Every problem of the file, one line each; 0 when there is none."""
    try:
        config = load_monitors(path)
    except ConfigError as exc:
        out.write("".join(f"{line}\n" for line in exc.lines))
        return 1
    declared = list(config.declaration_problems)
    # A monitor of a broken declaration carries the declaration's problem: printed once, above.
    lines = declared + [_once(line, declared) for problem in config.problems for line in problem.lines]
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


def _once(message: str, declared: list[str]) -> str:
    for problem in declared:
        message = message.replace(f": {problem}", " (its problem is above)")
    return message


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
