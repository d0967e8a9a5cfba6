"""`quotawatch history MONITOR [METER]`: one monitor's readings and what was sent when.

One query of the monitor's snapshots and one of its message items, from `--since` on.
Printed as a table with a sparkline per meter, or as CSV or JSON for other tools.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime

from quotawatch.core import formatting as fmt
from quotawatch.core.record import SentMessage
from quotawatch.core.snapshot import Meter, Snapshot, format_time, plain_number
from quotawatch_view.errors import ViewError
from quotawatch_view.text import Painter, sparkline, table
from quotawatch_view.times import Zone


@dataclass(frozen=True)
class History:
    monitor: str
    since: datetime
    readings: list[Snapshot]  # oldest first
    messages: list[SentMessage]  # oldest first

    def meters(self) -> list[str]:
        """Meter names in the order the readings list them (newest reading's order first)."""
        names: dict[str, None] = {}
        for reading in reversed(self.readings):
            names.update(dict.fromkeys(m.name for m in reading.meters))
        return list(names)

    def only(self, meter: str | None) -> History:
        """This history restricted to one meter (its readings keep only it; failures stay)."""
        if meter is None:
            return self
        if meter not in self.meters():
            known = ", ".join(self.meters()) or "none"
            raise ViewError(f"monitor '{self.monitor}' has no meter '{meter}' since {self.since:%Y-%m-%d}: {known}")
        readings = [
            Snapshot(
                r.monitor,
                r.provider,
                r.checked_at,
                r.period,
                tuple(m for m in r.meters if m.name == meter),
                (),
                r.error,
            )
            for r in self.readings
        ]
        signals = {f"meter:{meter}", f"forecast:{meter}", f"burn:{meter}"}
        return History(self.monitor, self.since, readings, [m for m in self.messages if m.signal in signals])


def shown_value(meter: Meter) -> float | None:
    """What a chart or sparkline follows: use, or what is left of a balance without a limit."""
    if meter.used is None and meter.limit is None:
        return meter.remaining
    return meter.used


def history_text(history: History, zone: Zone, paint: Painter) -> str:
    failed = sum(1 for r in history.readings if r.error)
    lines = [
        f"{history.monitor}: {len(history.readings)} reading{'' if len(history.readings) == 1 else 's'}"
        f" since {zone.moment(history.since)}" + (f", {failed} failed" if failed else "") + f"; {zone.heading()}",
        "",
    ]
    names = history.meters()
    width = max((len(n) for n in names), default=0)
    for name in names:
        values = [shown_value(m) if (m := r.meter(name)) else None for r in history.readings]
        newest = next((m for r in reversed(history.readings) if (m := r.meter(name))), None)
        now = _cell(newest) if newest else "?"
        known = [v for v in values if v is not None]
        unit = newest.unit if newest else ""
        low_high = f"low {fmt.quantity(min(known), unit)}, high {fmt.quantity(max(known), unit)}" if known else ""
        lines.append(f"{name:<{width}}  {sparkline(values)}  now {now}; {low_high}")
    if not names:
        lines.append("no reading with meters in this time")
    rows = [["TIME", *names]] if names else [["TIME", "READING"]]
    styles = [["dim"] * len(rows[0])]
    failures: dict[str, None] = {}  # each distinct error once, under the table
    for reading in history.readings:
        if reading.error is not None:
            failure = f"{reading.error.kind.value}: {reading.error.message}"
            failures[failure] = None
            text = f"failed: {reading.error.kind.value} [{list(failures).index(failure) + 1}]"
            rows.append([zone.moment(reading.checked_at), text, *[""] * (len(rows[0]) - 2)])
            styles.append(["", "failed", *[""] * (len(rows[0]) - 2)])
            continue
        cells = [_cell(m) if (m := reading.meter(n)) else "-" for n in names] or ["no meters"]
        rows.append([zone.moment(reading.checked_at), *cells])
        styles.append([""] * len(rows[0]))
    lines += ["", table(rows, styles, paint, set()).rstrip("\n"), ""]
    if failures:
        lines += [f"  [{n}] {failure}" for n, failure in enumerate(failures, 1)] + [""]
    lines.append("Messages" if history.messages else "No message in this time.")
    for sent in history.messages:
        when = f"sent {zone.moment(sent.sent_at)}" if sent.sent_at else "not sent yet"
        if sent.held_by:
            when = f"held by silence {sent.held_by}, not sent"
        severity = paint(
            f"{sent.message.severity:<8}", sent.message.severity if sent.message.severity != "info" else "ok"
        )
        lines.append(f"  {zone.moment(sent.decided_at)}  {severity}  {sent.message.subject}  ({when})")
    return "\n".join(lines) + "\n"


def _cell(meter: Meter) -> str:
    value = shown_value(meter)
    if meter.limit is not None:
        return f"{fmt.fraction(meter.used, meter.limit, meter.unit)}"
    if meter.used is None and value is not None:
        return f"{fmt.quantity(value, meter.unit)} left"
    return fmt.quantity(value, meter.unit)


CSV_FIELDS = ["time", "kind", "meter", "used", "limit", "remaining", "unit", "severity", "text", "sent_at"]


def history_csv(history: History) -> str:
    """A row per meter of each reading, per failed reading, and per message; times in UTC."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for reading in history.readings:
        at = format_time(reading.checked_at)
        if reading.error is not None:
            text = f"{reading.error.kind.value}: {reading.error.message}"
            writer.writerow({"time": at, "kind": "failed", "text": text})
        for m in reading.meters:
            figures = {"used": plain_number(m.used), "limit": plain_number(m.limit)}
            writer.writerow(
                {
                    "time": at,
                    "kind": "reading",
                    "meter": m.name,
                    **figures,
                    "remaining": plain_number(m.remaining),
                    "unit": m.unit,
                }
            )
    for sent in history.messages:
        writer.writerow(
            {
                "time": format_time(sent.decided_at),
                "kind": "message",
                "meter": sent.signal,
                "severity": sent.message.severity,
                "text": sent.message.subject,
                "sent_at": format_time(sent.sent_at),
            }
        )
    return buffer.getvalue()


def history_json(history: History) -> str:
    data = {
        "monitor": history.monitor,
        "since": format_time(history.since),
        "readings": [r.to_dict() for r in history.readings],
        "messages": [
            {
                "decided_at": format_time(m.decided_at),
                "sent_at": format_time(m.sent_at),
                "held_by": m.held_by,
                "signal": m.signal,
                "severity": m.message.severity,
                "kind": m.message.kind,
                "subject": m.message.subject,
            }
            for m in history.messages
        ],
    }
    return json.dumps(data, indent=2) + "\n"
