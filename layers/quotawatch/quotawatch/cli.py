"""`quotawatch fetch`: read one provider's usage with a key from the environment.

How a user tries a key before deploying, and how a bug gets reported: the same adapters
and parsers as the Lambda function, printed as a table or as schema-1 JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TextIO

from quotawatch.adapters.clock import SystemClock
from quotawatch.adapters.http import HttpClient, HttpPolicy
from quotawatch.config import Monitor
from quotawatch.core import formatting as fmt
from quotawatch.core.errors import CheckFailed
from quotawatch.core.snapshot import ErrorKind, Snapshot
from quotawatch.fetching import fetch_snapshot
from quotawatch.providers import PROVIDERS
from quotawatch.view import commands as view

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


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="quotawatch", description="QuotaWatch command line.")
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser(
        "fetch",
        help="read one provider's usage now",
        description="Read one provider's usage with the key in an environment variable. "
        "Exit codes: 0 ok, " + ", ".join(f"{code} {kind.value}" for kind, code in EXIT_CODES.items()) + ".",
    )
    fetch.add_argument("provider", choices=sorted(PROVIDERS))
    fetch.add_argument("--key-env", required=True, metavar="VAR", help="environment variable holding the API key")
    fetch.add_argument("--base-url", help="another address for the provider's API (https, or http on loopback)")
    fetch.add_argument("--json", action="store_true", help="print the schema-1 snapshot as JSON")
    fetch.add_argument(
        "--timeout", type=float, default=HttpPolicy.read_timeout, metavar="SECONDS", help="read timeout per attempt"
    )
    view.register(commands)  # status, history, report: they read the table (quotawatch/view/)
    args = parser.parse_args(argv)
    if getattr(args, "view", None):
        return view.run(args, out)

    snapshot = _fetch(args.provider, args.key_env, args.base_url, HttpPolicy(read_timeout=args.timeout))
    out.write(json.dumps(snapshot.to_dict(), indent=2) + "\n" if args.json else render_table(snapshot))
    return 0 if snapshot.error is None else EXIT_CODES[snapshot.error.kind]


def _fetch(provider_name: str, key_env: str, base_url: str | None, policy: HttpPolicy) -> Snapshot:
    monitor = Monitor(id=provider_name, provider=provider_name, secret_field=key_env, base_url=base_url)
    keys = EnvironmentKeys(key_env)
    return fetch_snapshot(monitor, PROVIDERS[provider_name], keys, HttpClient(policy), SystemClock().now())


def render_table(snapshot: Snapshot) -> str:
    provider = PROVIDERS.get(snapshot.provider)
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
