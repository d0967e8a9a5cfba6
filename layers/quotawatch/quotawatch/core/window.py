"""A monitor's recent readings in compact form: what the rules read from history, nothing more.

Every run reads the window together with the alert state (a key lookup, not a query over
the snapshots) and writes it back with the new reading, in the same batch as the snapshot.
The snapshots stay the full record. Per reading the window keeps the time, whether the
check failed (and how), the billing period and each meter's used, limit and remaining.
Units, conditions and messages stay out: no rule reads them from earlier readings.

It is stored column by column with runs of equal values folded, so two days of readings
of one meter fit in under 1 KB, one write unit.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import accumulate, pairwise
from operator import attrgetter
from typing import Any

from quotawatch.core.snapshot import CheckError, ErrorKind, Meter, Period, Snapshot, plain_number

WINDOW_SIZE = 48  # readings kept at most: about two days at the default 15 minutes
RECENT = 4  # the newest readings are all kept; older ones one per clock hour
FORMAT = 1


class BadWindow(ValueError):
    """A stored window that cannot be read; the snapshots it summarises are still there."""


def roll(snapshot: Snapshot, history: list[Snapshot], *, trimmed: bool = False) -> list[Snapshot]:
    """The window after `snapshot`, newest first.

    Kept: the RECENT newest readings, every failure since the last good reading (failures
    are counted) and that good reading, then the oldest reading of each clock hour, up to
    WINDOW_SIZE in all. On a steady burn the line through hourly readings is the line
    through every reading, for a quarter of the work; and whatever the schedule, the
    window spans hours.
    A reading at the same time as the new one is replaced by it, as the snapshot is.
    `trimmed` says the history is already in window form (it came from `decode`).
    """
    readings = {s.checked_at: s for s in history}
    readings[snapshot.checked_at] = snapshot
    newest = sorted(readings.values(), key=attrgetter("checked_at"), reverse=True)
    kept = _thinned(newest)[:WINDOW_SIZE]
    if trimmed:
        return [_trimmed(s) if s is snapshot else s for s in kept]
    return [_trimmed(s) for s in kept]


def _thinned(newest_first: list[Snapshot]) -> list[Snapshot]:
    head = RECENT
    while head < len(newest_first) and newest_first[head - 1].error is not None:
        head += 1  # up to and including the last good reading
    hours: dict[int, Snapshot] = {}
    for reading in reversed(newest_first[head:]):  # oldest first: the first of an hour stays
        hours.setdefault(int(reading.checked_at.timestamp()) // 3600, reading)
    return newest_first[:head] + sorted(hours.values(), key=attrgetter("checked_at"), reverse=True)


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


# Markers in the figure columns; strings, so that no number is ever equal to them.
_ABSENT = "-"  # in `used`: this reading did not have the meter
_DERIVED = "="  # in `remaining`: limit minus used


def encode(window: list[Snapshot]) -> str:
    """JSON of a window (newest first, as `roll` returns it), column by column.

    Each column holds one value per reading, and a run of equal values as [count, value]:
    the times are steps back from the newest reading (one run on a steady schedule); a
    limit or a flat meter is one run; "=" in `remaining` means limit minus used, and "-"
    in `used` that the reading had no such meter. Failed readings are listed apart, with
    their kind, and have no figures.
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
    by_name = [{m.name: m for m in r.meters} for r in good]
    meters = {}
    for name in sorted({name for found in by_name for name in found}):
        column = [found.get(name) for found in by_name]
        meters[name] = {
            "used": _runs([_ABSENT if m is None else plain_number(m.used) for m in column]),
            "limit": _runs([None if m is None else plain_number(m.limit) for m in column]),
            "remaining": _runs([None if m is None else _remaining(m) for m in column]),
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
        newest = datetime.fromtimestamp(data["newest"], UTC)
        ages = list(accumulate(_steps(_values(data["steps"], count - 1)), initial=0.0))
        times = [newest - timedelta(seconds=age) for age in ages]
        failed = {int(i): ErrorKind(kind) for i, kind in data["failed"]}
        good = [i for i in range(count) if i not in failed]
        periods = [Period(_time(start), _time(end)) for start, end in data["periods"]]
        period_column = [None if p is None else periods[p] for p in _values(data["period"], len(good))]
        rows: list[list[Meter]] = [[] for _ in good]
        for name, figures in sorted(data["meters"].items()):
            used = _numbers(_values(figures["used"], len(good)), _ABSENT)
            limit = _numbers(_values(figures["limit"], len(good)))
            remaining = _numbers(_values(figures["remaining"], len(good)), _DERIVED)
            for row, (u, lim, rem) in enumerate(zip(used, limit, remaining, strict=True)):
                if u is _ABSENT:
                    continue
                if rem is _DERIVED:
                    rem = lim - u if lim is not None and u is not None else None
                rows[row].append(_meter(name, u, lim, rem))
        window = {i: Snapshot.failed(monitor, provider, times[i], kind, "") for i, kind in failed.items()}
        for row, i in enumerate(good):
            window[i] = Snapshot(monitor, provider, times[i], period_column[row], tuple(rows[row]))
        return [window[i] for i in range(count)]
    except BadWindow:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        raise BadWindow(f"window of {monitor} is unreadable ({type(exc).__name__}: {exc})") from exc


def _remaining(meter: Meter) -> float | int | str | None:
    used, limit, remaining = meter.used, meter.limit, meter.remaining
    if limit is not None and used is not None and remaining == limit - used:
        return _DERIVED
    return plain_number(remaining)


def _runs(values: list[Any]) -> list[Any]:
    """Consecutive equal values as [count, value]; values are never lists themselves."""
    runs: list[Any] = []
    if not values:
        return runs
    current, count = values[0], 0
    for value in values:  # one pass, no groupby: every window of every run is encoded
        if value == current:
            count += 1
            continue
        runs.append([count, current] if count > 1 else current)
        current, count = value, 1
    runs.append([count, current] if count > 1 else current)
    return runs


def _values(runs: list[Any], expected: int) -> list[Any]:
    values: list[Any] = []
    for run in runs:
        if run.__class__ is list:
            count, value = run
            if count.__class__ is not int or count < 1:
                raise ValueError(f"run of {count!r} readings")
            values += [value] * count
        else:
            values.append(run)
    if len(values) != expected:
        raise ValueError(f"{len(values)} values for {expected} readings")
    return values


_NUMBER_CLASSES = (int, float)


def _numbers(values: list[Any], marker: str | None = None) -> list[Any]:
    """The column as read, once every value is checked: a number, None, or the column's marker.

    JSON's ints stay ints (what the rules compute with either way); the marker comes back
    as the module's own string, so that callers can test it with `is`.
    """
    for i, value in enumerate(values):  # the list is the caller's own, fresh from _values
        if value is None or value.__class__ in _NUMBER_CLASSES:
            continue
        if marker is not None and value == marker:
            values[i] = marker
            continue
        raise TypeError(f"{value!r} is not a number")
    return values


def _steps(values: list[Any]) -> list[float]:
    steps = [step for step in _numbers(values) if step is not None]
    if len(steps) != len(values):
        raise ValueError("a reading without a time")
    return steps


_new_object = object.__new__


def _meter(name: str, used: float | None, limit: float | None, remaining: float | None) -> Meter:
    """Meter(name, used, limit, remaining, "") for figures `decode` has checked.

    A frozen dataclass sets each field through object.__setattr__; a window holds a few
    hundred meters and every run decodes one per monitor, so the checked figures go into
    the instance's fields directly, at a third of the cost. Same class, same equality.
    """
    meter = _new_object(Meter)
    fields = meter.__dict__
    fields["name"], fields["used"], fields["limit"], fields["remaining"], fields["unit"] = (
        name,
        used,
        limit,
        remaining,
        "",
    )
    return meter


def _epoch(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def _time(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)
