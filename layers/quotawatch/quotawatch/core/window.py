"""A monitor's recent readings in compact form: what the rules read from history, nothing more.

Every run reads the window together with the alert state (a key lookup, not a query over
the snapshots) and writes it back with the new reading, in the same batch as the snapshot.
The snapshots stay the full record. Per reading the window keeps the time, whether the
check failed (and how), the billing period and each meter's used, limit and remaining.
Units, conditions and messages stay out: no rule reads them from earlier readings.

It is stored column by column with runs of equal values folded, so a day of readings of
one meter fits in well under 1 KB, one write unit.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from quotawatch.core.snapshot import CheckError, ErrorKind, Meter, Period, Snapshot, plain_number

WINDOW_SIZE = 96  # a day at the default 15 minutes: what forecasts and failure counts look at
FORMAT = 1


class BadWindow(ValueError):
    """A stored window that cannot be read; the snapshots it summarises are still there."""


def roll(snapshot: Snapshot, history: list[Snapshot]) -> list[Snapshot]:
    """The window after `snapshot`: newest first, one reading per time, at most WINDOW_SIZE.

    A reading at the same time as the new one is replaced by it, as the snapshot is.
    """
    readings = {s.checked_at: s for s in history}
    readings[snapshot.checked_at] = snapshot
    newest = sorted(readings.values(), key=lambda s: s.checked_at, reverse=True)
    return [_trimmed(s) for s in newest[:WINDOW_SIZE]]


def _trimmed(snapshot: Snapshot) -> Snapshot:
    """What the window keeps of a snapshot: an encode-decode round trip leaves it unchanged."""
    error = None if snapshot.error is None else CheckError(snapshot.error.kind, "")
    # Rules find an earlier reading's meter by name (the first of that name), so by name it is kept.
    names = [] if error else sorted({m.name for m in snapshot.meters})
    meters = tuple(
        Meter(name, found.used, found.limit, found.remaining, "") for name in names if (found := snapshot.meter(name))
    )
    period = None if error else snapshot.period
    return Snapshot(snapshot.monitor, snapshot.provider, snapshot.checked_at, period, meters, (), error)


def encode(window: list[Snapshot]) -> str:
    """JSON of a window (newest first, as `roll` returns it), column by column.

    Each column holds one value per reading, and a run of equal values as [count, value]:
    the times are steps back from the newest reading (one run on a steady schedule); a
    limit or a flat meter is one run; `true` in `remaining` means "limit minus used".
    Failed readings are listed apart, with their kind, and have no figures.
    """
    if not window:
        return json.dumps({"format": FORMAT, "readings": 0})
    times = [int(r.checked_at.timestamp()) for r in window]  # to the second, as format_time
    good = [r for r in window if r.error is None]
    periods: list[list[int | None]] = []
    period_column: list[int | None] = []
    for reading in good:
        if reading.period is None:
            period_column.append(None)
            continue
        period = [_epoch(reading.period.start), _epoch(reading.period.end)]
        if period not in periods:
            periods.append(period)
        period_column.append(periods.index(period))
    names = sorted({m.name for r in good for m in r.meters})
    meters = {}
    for name in names:
        found = [r.meter(name) for r in good]
        meters[name] = {
            "used": _runs([False if m is None else plain_number(m.used) for m in found]),
            "limit": _runs([None if m is None else plain_number(m.limit) for m in found]),
            "remaining": _runs([None if m is None else _remaining(m) for m in found]),
        }
    return json.dumps(
        {
            "format": FORMAT,
            "provider": window[0].provider,
            "readings": len(window),
            "newest": times[0],
            "steps": _runs([newer - older for newer, older in pairwise(times)]),
            "failed": [[i, r.error.kind.value] for i, r in enumerate(window) if r.error is not None],
            "periods": periods,
            "period": _runs(period_column),
            "meters": meters,
        },
        separators=(",", ":"),
    )


def decode(text: str, monitor: str) -> list[Snapshot]:
    """The window `encode` wrote, as trimmed snapshots newest first; BadWindow when unreadable."""
    try:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise BadWindow(f"window of {monitor}: format {data.get('format')!r}, expected {FORMAT}")
        count = data["readings"]
        if not count:
            return []
        provider = str(data["provider"])
        at = datetime.fromtimestamp(data["newest"], UTC)
        times = [at]
        for step in _values(data["steps"], count - 1):
            at -= timedelta(seconds=step)
            times.append(at)
        failed = {int(i): ErrorKind(kind) for i, kind in data["failed"]}
        good = [i for i in range(count) if i not in failed]
        periods = [Period(_time(start), _time(end)) for start, end in data["periods"]]
        period_column = _values(data["period"], len(good))
        columns = {
            name: [_values(columns[figure], len(good)) for figure in ("used", "limit", "remaining")]
            for name, columns in data["meters"].items()
        }
        window: dict[int, Snapshot] = {
            i: Snapshot.failed(monitor, provider, times[i], kind, "") for i, kind in failed.items()
        }
        for row, i in enumerate(good):
            meters = []
            for name, (used, limit, remaining) in columns.items():
                if used[row] is False:
                    continue  # this reading did not have the meter
                meter_used, meter_limit = _number(used[row]), _number(limit[row])
                if remaining[row] is True and meter_used is not None and meter_limit is not None:
                    meter_remaining: float | None = meter_limit - meter_used
                else:
                    meter_remaining = _number(remaining[row])
                meters.append(Meter(str(name), meter_used, meter_limit, meter_remaining, ""))
            index = period_column[row]
            period = None if index is None else periods[index]
            window[i] = Snapshot(monitor, provider, times[i], period, tuple(sorted(meters, key=lambda m: m.name)))
    except BadWindow:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        raise BadWindow(f"window of {monitor} is unreadable ({type(exc).__name__}: {exc})") from exc
    return [window[i] for i in range(count)]


def _remaining(meter: Meter) -> float | int | bool | None:
    derived = meter.limit is not None and meter.used is not None and meter.remaining == meter.limit - meter.used
    return True if derived else plain_number(meter.remaining)


def _runs(values: list[Any]) -> list[Any]:
    """Consecutive equal values as [count, value]; values are never lists themselves."""
    runs: list[Any] = []
    index = 0
    while index < len(values):
        value, end = values[index], index + 1
        while end < len(values) and _same(values[end], value):
            end += 1
        runs.append([end - index, value] if end - index > 1 else value)
        index = end
    return runs


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b  # True == 1 in Python, but not here


def _values(runs: list[Any], expected: int) -> list[Any]:
    values: list[Any] = []
    for run in runs:
        if isinstance(run, list):
            count, value = run
            if not isinstance(count, int) or count < 1:
                raise ValueError(f"run of {count!r} readings")
            values += [value] * count
        else:
            values.append(run)
    if len(values) != expected:
        raise ValueError(f"{len(values)} values for {expected} readings")
    return values


def _epoch(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{value!r} is not a number")
    return float(value)


def _time(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)
