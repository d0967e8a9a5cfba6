"""The `status`, `history` and `report` subcommands of `quotawatch`, added to the layer's
command line (quotawatch/cli.py) by quotawatch_view/cli.py.

Each reads the table of a stack (table.py) and the monitors file (which monitors there
are, and their thresholds); none calls a provider or needs a key. Bad input or an unusable
stack is one line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from quotawatch.config import ConfigError, Monitor, load_monitors
from quotawatch.core.status import MeterStatus, status_rows, with_silences
from quotawatch_view import times
from quotawatch_view.errors import ViewError
from quotawatch_view.history import History, history_csv, history_json, history_text
from quotawatch_view.table import MONITORS_FILE, Table, describe_failure, find_upwards, open_table
from quotawatch_view.text import Painter, status_text, wants_colour

Command = Callable[[argparse.Namespace, TextIO], int]


def register(commands: Any) -> None:
    """Add status, history and report to the `quotawatch` parser's subcommands."""
    status = commands.add_parser("status", help="how every monitor's meters stand, what needs attention first")
    _common(status)
    status.add_argument("--json", action="store_true", help="print the rows as JSON (times in UTC)")
    status.set_defaults(view=_status)

    history = commands.add_parser("history", help="one monitor's readings and the messages sent")
    _common(history)
    history.add_argument("monitor")
    history.add_argument("meter", nargs="?", help="only this meter")
    history.add_argument("--since", default="30d", help="a duration back (30d, 12h, 2w) or a date (default 30d)")
    shape = history.add_mutually_exclusive_group()
    shape.add_argument("--csv", action="store_true", help="CSV: a row per meter reading and per message (UTC)")
    shape.add_argument("--json", action="store_true", help="JSON: the snapshots and messages (UTC)")
    history.set_defaults(view=_history)

    report = commands.add_parser("report", help="an HTML file with a chart per meter of every monitor")
    _common(report)
    report.add_argument("--since", default="90d", help="a duration back (90d, 2w) or a date (default 90d)")
    report.add_argument("--out", default="report.html", type=Path, help="where to write it (default report.html)")
    report.set_defaults(view=_report)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", help="a deployed stack's name (default: the local stack of `make up`)")
    parser.add_argument("--monitors", type=Path, help=f"the monitors file (default: {MONITORS_FILE})")
    parser.add_argument("--tz", help="show times in this zone, e.g. Europe/Berlin (default: this machine's)")


def run(args: argparse.Namespace, out: TextIO) -> int | None:
    """Run the view command `args` names (None for another command); a problem is one line
    on stderr and exit code 1."""
    command: Command | None = getattr(args, "view", None)
    if command is None:
        return None
    try:
        return command(args, out)
    except ViewError as exc:
        print(f"quotawatch {args.command}: {exc}", file=sys.stderr)
    except (ClientError, BotoCoreError) as exc:
        print(f"quotawatch {args.command}: reading the table failed: {describe_failure(exc)}", file=sys.stderr)
    return 1


def monitors_of(path: Path | None) -> list[Monitor]:
    """The monitors a run checks: the enabled ones, and those the file could not describe
    (they are checked as failed readings, so they have rows too)."""
    found = path or find_upwards(MONITORS_FILE)
    if found is None:
        raise ViewError(f"no monitors file found ({MONITORS_FILE}): pass --monitors FILE")
    try:
        config = load_monitors(found)
    except ConfigError as exc:
        raise ViewError(str(exc)) from None
    problems = [Monitor(id=p.monitor, provider="unknown", secret_field="") for p in config.problems]
    return [*config.enabled, *problems]


def status_of(table: Table, monitors: list[Monitor], at: datetime | None = None) -> list[MeterStatus]:
    """Every monitor's rows, each marked with the silence holding its signal now (or `at`)."""
    rows = status_rows(monitors, table.store.read_monitors([m.id for m in monitors]))
    return with_silences(rows, table.store.silences(), at or datetime.now(UTC))


def _status(args: argparse.Namespace, out: TextIO) -> int:
    zone = times.Zone.named(args.tz)
    monitors = monitors_of(args.monitors)
    table = open_table(args.stack)
    rows = status_of(table, monitors)
    if args.json:
        import json

        out.write(json.dumps([row.to_dict() for row in rows], indent=2) + "\n")
    else:
        out.write(status_text(rows, zone, Painter(wants_colour(out)), table.where))
    return 0


def read_history(table: Table, monitor: str, since: datetime, known: list[Monitor]) -> History:
    history = History(
        monitor, since, table.store.snapshots_since(monitor, since), table.store.messages_since(monitor, since)
    )
    if not history.readings and not history.messages and monitor not in {m.id for m in known}:
        names = ", ".join(m.id for m in known) or "none"
        raise ViewError(f"unknown monitor '{monitor}': not in the monitors file and nothing stored (monitors: {names})")
    return history


def _history(args: argparse.Namespace, out: TextIO) -> int:
    zone = times.Zone.named(args.tz)
    since = times.since(args.since, datetime.now(UTC))
    monitors = monitors_of(args.monitors)
    table = open_table(args.stack)
    history = read_history(table, args.monitor, since, monitors).only(args.meter)
    if args.csv:
        out.write(history_csv(history))
    elif args.json:
        out.write(history_json(history))
    else:
        out.write(history_text(history, zone, Painter(wants_colour(out))))
    return 0


def _report(args: argparse.Namespace, out: TextIO) -> int:
    zone = times.Zone.named(args.tz)
    now = datetime.now(UTC)
    since = times.since(args.since, now)
    monitors = monitors_of(args.monitors)
    charts = write_report(open_table(args.stack), monitors, since, zone, args.out)
    out.write(f"Report of {len(monitors)} monitors, {charts} charts, written to {args.out}\n")
    return 0


def write_report(table: Table, monitors: list[Monitor], since: datetime, zone: times.Zone, path: Path) -> int:
    """Write the report of `monitors` from `since` on to `path`; how many charts it has."""
    from quotawatch_view.report import ReportContext, report_html

    histories = {m.id: read_history(table, m.id, since, monitors) for m in monitors}
    now = datetime.now(UTC)
    context = ReportContext(table.where, since, now, zone, status_of(table, monitors, now))
    page, charts = report_html(monitors, histories, context)
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ViewError(f"cannot write {path}: {exc.strerror}") from None
    return charts
