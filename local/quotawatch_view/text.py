"""Tables for a terminal: colours when it is one (and NO_COLOR is unset), plain when piped."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TextIO

from quotawatch.core import formatting as fmt
from quotawatch.core.rules import Level
from quotawatch.core.status import MeterStatus
from quotawatch_view.times import Zone, span

_RESET = "\033[0m"
_COLOURS = {"critical": "\033[1;31m", "warning": "\033[33m", "ok": "\033[32m", "failed": "\033[31m", "dim": "\033[2m"}
SPARKS = "▁▂▃▄▅▆▇█"


def wants_colour(out: TextIO) -> bool:
    """A terminal gets colours; a pipe or file gets plain text. NO_COLOR and FORCE_COLOR
    (the common conventions) say otherwise."""
    if "NO_COLOR" in os.environ:
        return False
    return "FORCE_COLOR" in os.environ or out.isatty()


class Painter:
    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def __call__(self, text: str, style: str) -> str:
        if not self.colour or style not in _COLOURS:
            return text
        return f"{_COLOURS[style]}{text}{_RESET}"


def table(rows: Sequence[Sequence[str]], styles: Sequence[Sequence[str]], paint: Painter, right: set[int]) -> str:
    """Columns padded to their widest cell (measured before colouring); `right` aligns numbers."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row, style in zip(rows, styles, strict=True):
        cells = []
        for i, cell in enumerate(row):
            padded = cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            cells.append(paint(padded, style[i]))
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def status_text(rows: list[MeterStatus], zone: Zone, paint: Painter, where: str) -> str:
    """The status table and, under it, each failed check's error in full (numbered)."""
    header = ["MONITOR", "METER", "USED", "LIMIT", "%", "LEVEL", "SINCE", "TREND/DAY", "FORECAST", "BURN", "LAST CHECK"]
    silences = any(row.silenced_until for row in rows)
    if silences:
        header.append("SILENCED")
    cells: list[list[str]] = [header]
    styles: list[list[str]] = [["dim"] * len(header)]
    notes: list[str] = []
    for row in rows:
        check = _check_cell(row, zone, notes)
        by = row.level_signal.split(":", 1)[0] if row.level and row.level_signal else "meter"
        level = row.level.label + (f" ({by})" if by in ("forecast", "burn") else "")
        meter = row.meter or ("waiting for its key" if row.check.waiting else "no reading yet")
        if row.condition is not None:  # its text in full under the table, as a failed check's
            notes.append(
                f"  {row.monitor}: {row.meter.removeprefix('condition:') if row.meter else ''}: {row.condition}"
            )
            meter = f"{meter} [{len(notes)}]"
        line = [
            row.monitor,
            meter,
            _amount(row.used, row.remaining, row.limit, row.unit) if row.meter and row.condition is None else "-",
            fmt.quantity(row.limit, row.unit)
            if row.limit is not None
            else ("no limit" if row.meter and row.condition is None else "-"),
            fmt.percent(row.percent) if row.percent is not None else "-",
            level if row.meter else "-",
            zone.moment(row.since) if row.since and row.level is not Level.OK else "-",
            _trend(row),
            _forecast(row, zone),
            _burn(row),
            check,
        ]
        style = ["", "", "", "", "", row.level.label if row.meter else "", "", "", "", "", ""]
        if row.burn is not None and row.burn.level is not Level.OK:
            style[9] = row.burn.level.label
        if row.check.failed:  # a revoked key is critical at once; other failures red
            style[-1] = "critical" if row.check.level is Level.CRITICAL else "failed"
        if row.runs_out_this_period:
            style[8] = "warning"
        if silences:
            line.append(zone.moment(row.silenced_until) if row.silenced_until else "")
            style.append("")
        cells.append(line)
        styles.append(style)
    out = f"QuotaWatch status of {where}, {zone.heading()}\n\n" + table(cells, styles, paint, {2, 3, 4, 7})
    if notes:
        out += "\n" + "\n".join(notes) + "\n"
    return out


def _amount(used: float | None, remaining: float | None, limit: float | None, unit: str) -> str:
    if used is None and remaining is not None and limit is None:
        return f"{fmt.quantity(remaining, unit)} left"
    return fmt.quantity(used, unit) if used is not None else "?"


def _trend(row: MeterStatus) -> str:
    if row.trend is None:
        return "-"
    per_day = row.trend.per_day
    if row.limit is None and row.used is None:  # a balance: its trend is what it loses a day
        per_day = -per_day
    sign = "+" if per_day > 0 else "-" if per_day < 0 else ""
    return sign + fmt.quantity(abs(per_day), row.unit)


def _forecast(row: MeterStatus, zone: Zone) -> str:
    at = row.runs_out_at
    if row.meter is None or row.trend is None:
        return "-"
    if at is None:
        return "not running out"
    what = "limit" if row.limit is not None else "runs out"
    if not row.runs_out_this_period and row.period_end is not None:
        return f"not before reset {zone.day(row.period_end)}"
    ahead = f" (in {span(at - row.read_at)})" if row.read_at else ""
    return f"{what} {zone.day(at)}{ahead}"


def _burn(row: MeterStatus) -> str:
    """The pace against the usual one (core/burn.py): '1.1x', '20x' when burning."""
    verdict = row.burn
    if row.meter is None or row.condition is not None:
        return "-"
    if verdict is None:
        return "off"
    if not verdict.enough_history:
        return f"needs {verdict.settings.baseline_days} days"
    ratio = verdict.ratio
    if ratio is None or verdict.short_rate == 0:
        return "idle"
    return (
        "far above usual"
        if ratio == float("inf")
        else f"{fmt.number(round(ratio, 1) if ratio < 10 else round(ratio))}x"
    )


def _check_cell(row: MeterStatus, zone: Zone, notes: list[str]) -> str:
    check = row.check
    if check.at is None:
        return "never"
    if check.error is None:
        return zone.moment(check.at)
    if check.waiting:  # the secret names where the key goes
        note = f"  {row.monitor}: {check.error.message.removeprefix(f'{row.monitor}: ') or 'waiting for its key'}"
        if note not in notes:
            notes.append(note)
        return f"{zone.moment(check.at)} no key [{notes.index(note) + 1}]"
    message = check.error.message.removeprefix(f"{row.monitor}: ") or "no message kept"  # it names the monitor too
    note = f"{row.monitor}: {check.error.kind.value}: {message}"
    if check.failing_since:
        note += f" (cannot monitor since {zone.moment(check.failing_since)})"
    note = f"  {note}"
    if note not in notes:
        notes.append(note)
    return f"{zone.moment(check.at)} failed [{notes.index(note) + 1}]"


def sparkline(values: Sequence[float | None], width: int = 48) -> str:
    """A line of block characters, a reading each (or the newest of each bucket past `width`);
    a failed reading is a gap."""
    if len(values) > width:
        step = len(values) / width
        values = [values[min(len(values) - 1, int((i + 1) * step) - 1)] for i in range(width)]
    known = [v for v in values if v is not None]
    if not known:
        return ""
    low, high = min(known), max(known)
    scale = (high - low) or 1.0
    return "".join(" " if v is None else SPARKS[round((v - low) / scale * (len(SPARKS) - 1))] for v in values)
