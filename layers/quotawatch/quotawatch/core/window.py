"""A monitor's recent readings as columns of numbers: what the rules read from history.

Every run reads the window together with the alert state (a key lookup, not a query over
the snapshots) and writes it back with the new reading, in the same batch as the snapshot.
The snapshots stay the full record. Per reading the window keeps the time, whether the
check failed (and how), the billing period and each meter's used, limit and remaining.
Units, conditions and messages stay out: no rule reads them from earlier readings.

In memory a window is a `Window`: one list per column (times, failure kinds, periods, and
used, limit and remaining for each meter), newest first. The rules (core/rules.py) and the
forecasts (core/forecast.py) walk the first 48 rows; the burn rule (core/burn.py) all of
them, 8 days, and only `used` (a balance's `remaining`): past 48 rows the others are None.
No snapshot object is made per reading. Stored (format 4), it is the same columns as JSON
with whole figures as steps from the newer reading, compressed with zlib, which folds the
repeats: 48 rows of a cloudlayer monitor with every figure moving are 0.4 to 0.9 KB, one
write unit (format 1, the same JSON as text without steps, was 2 to 2.2 KB, three); the
meters' figures of the rows past 48 follow, compressed apart, so that the runs between their
hourly changes write them as read, and a run that does not ask for them never decodes them
(8 days with every figure moving: about 2.8 KB, three units; a steady burn stays in one);
with them, per meter, the shapes of the hours whose use was lopsided (core/hour_shape.py:
where in its hour a batch fell, which hourly rows cannot say). Last comes the burn rule's
floors of the hour (`floors`), plain JSON.
Windows in formats 1 to 3 are still read (format 3 folded runs itself and marked derived
and absent figures in the columns; 1 and 2 held every row with every figure); the run that
reads one writes it back in format 4.

This is the one module that reads, rolls and writes windows. `roll`, `encode` and
`decode` on snapshot lists remain for the cold paths (`quotawatch status`, the bench).
"""

from __future__ import annotations

import json
import zlib
from bisect import bisect_left
from datetime import UTC, datetime
from itertools import accumulate, pairwise
from math import isfinite
from operator import attrgetter, gt, itemgetter, sub
from typing import Any

import msgspec

from quotawatch.core.hour_shape import QUARTERS, SLACK, shape_of
from quotawatch.core.snapshot import CheckError, ErrorKind, Meter, Period, Snapshot, plain_number

WINDOW_SIZE = 48  # rows the rules and forecasts read: about two days at the default 15 minutes
RECENT = 4  # the newest readings are all kept; older ones one per clock hour
# Past WINDOW_SIZE rows, the burn rule's baseline (7 days of the same time of day,
# core/burn.py): still one reading an hour, back to HISTORY_SECONDS. Hourly, not every two
# or six hours: the year's replay (bench/burn_replay.py) gives 5 times fewer false burn
# alerts than at two hours (a usual rate averaged over two hours is not the half hour's),
# for the same write units.
HISTORY_SECONDS = 8 * 86_400 + 3_600
FORMAT = 4
# 1: JSON text, figures as they are; 2: every row with used, limit and remaining; 3: runs and
# markers in the columns (read, never written; a format 2 window's hourly rows are trimmed by
# the run that reads it)
_FORMATS = (1, 2, 3, 4)
_LEVEL = 1  # zlib's fastest: a full window compresses to one write unit at it already
# The rows past WINDOW_SIZE are written once or twice an hour, not every run: compressed
# harder, they take about 140 B less (the random figures of bench/burn_cost.py), as much
# as compressing them apart from the first rows costs.
_TIER_LEVEL = 6

# Markers in the figure columns; strings, so that no number is ever equal to them.
ABSENT = "-"  # in `used`: this reading did not have the meter (a failed reading has none)
_DERIVED = "="  # stored in `remaining`: limit minus used

Epochs = tuple[int | None, int | None]  # a billing period's start and end, POSIX seconds
_ENCODE = msgspec.json.Encoder().encode
_DECODE = msgspec.json.Decoder().decode


class _Meter4(msgspec.Struct, forbid_unknown_fields=True):
    """One meter's columns as format 4 stores them (`Window.encode`)."""

    used: list[int | float | None]
    limit: list[int | float | None] | int | float | None  # one figure: the same in every row
    remaining: list[int | float | None] | None = None  # None: limit minus used in every row
    absent: list[int] = []


class _Stored4(msgspec.Struct):
    """The rows the rules read, as format 4 stores them (`Window.encode`)."""

    format: int
    provider: str
    readings: int
    newest: int
    steps: list[int]
    failed: list[tuple[int, str]]
    periods: list[tuple[int | None, int | None]]
    period: list[int | None]
    meters: dict[str, _Meter4]


_FORMAT_4 = b'{"format":4,'
_READ_4 = msgspec.json.Decoder(_Stored4).decode


class BadWindow(ValueError):
    """A stored window that cannot be read; the snapshots it summarises are still there."""


class Column:
    """One meter across the window's readings, aligned with its times.

    `used` holds ABSENT where a reading has no such meter; `limit` and `remaining` hold
    None there. Figures are as stored (`plain_number`: ints where whole), which the rules
    compute with exactly as with the provider's floats, and which encode as they are.
    """

    __slots__ = ("limit", "remaining", "used")

    def __init__(self, used: list[Any], limit: list[Any], remaining: list[Any]) -> None:
        self.used, self.limit, self.remaining = used, limit, remaining

    def meter(self, name: str, row: int) -> Meter | None:
        used = self.used[row]
        return None if used is ABSENT else Meter(name, used, self.limit[row], self.remaining[row], "")


class Window:
    """Recent readings of one monitor, newest first, column by column."""

    __slots__ = ("_pending", "_shapes", "floors", "kinds", "meters", "periods", "provider", "tier", "times")

    def __init__(
        self,
        provider: str,
        times: list[float],
        kinds: list[ErrorKind | None],
        periods: list[Epochs | None],
        meters: dict[str, Column],
    ) -> None:
        self.provider = provider
        self.times = times  # POSIX seconds
        self.kinds = kinds  # a failed reading's kind; None for one that worked
        self.periods = periods  # None for a failed reading or one without a period
        self.meters = meters  # by name, in name order
        # The stored form of the rows past WINDOW_SIZE when known (read, or carried over from
        # the window rolled): they change once an hour, so most runs write them as read.
        self.tier: bytes | None = None
        # The rows past WINDOW_SIZE as read (their JSON text, already decompressed to find where
        # the floors begin) but not yet in the columns, which then hold the first WINDOW_SIZE
        # rows only: most runs never read those rows, so they are parsed when asked (`full`).
        self._pending: bytes | None = None
        # The burn rule's cache (core/burn.py, `usual_floor`): the clock hour, and per meter
        # the least usual rate any run of that hour can have; stored after the rows.
        self.floors: tuple[int, dict[str, float]] | None = None
        # The hours' shapes (core/hour_shape.py): per meter, clock hour -> shape. Stored with
        # the rows past WINDOW_SIZE, and read with them (None: in `_pending`, or none).
        self._shapes: dict[str, dict[int, int]] | None = None

    def __len__(self) -> int:
        return len(self.times)

    # --- from snapshots, back to snapshots ------------------------------------------------

    @classmethod
    def of(cls, readings: list[Snapshot]) -> Window:
        """The window of these readings (any order), as much of each as a window keeps.

        A reading at the same time as another replaces it, as a snapshot does. Of several
        meters of one name the first is kept: rules find an earlier reading's meter by name.
        """
        by_time = {s.checked_at: s for s in readings}
        newest = sorted(by_time.values(), key=attrgetter("checked_at"), reverse=True)
        rows = len(newest)
        names = sorted({m.name for s in newest if s.error is None for m in s.meters})
        meters = {name: Column([ABSENT] * rows, [None] * rows, [None] * rows) for name in names}
        for row, reading in enumerate(newest):
            if reading.error is not None:
                continue
            for name in {m.name for m in reading.meters}:
                found = reading.meter(name)
                if found is not None:
                    column = meters[name]
                    column.used[row], column.limit[row], column.remaining[row] = (
                        plain_number(found.used),
                        plain_number(found.limit),
                        plain_number(found.remaining),
                    )
        return cls(
            newest[0].provider if newest else "",
            [s.checked_at.timestamp() for s in newest],
            [None if s.error is None else s.error.kind for s in newest],
            [None if s.error is not None else _period_epochs(s.period) for s in newest],
            meters,
        )

    def snapshots(self, monitor: str) -> list[Snapshot]:
        """The readings as (trimmed) snapshots, newest first: for a person's look, not the rules."""
        return [self.reading(row, monitor) for row in range(len(self))]

    def reading(self, row: int, monitor: str) -> Snapshot:
        """One reading as a trimmed snapshot."""
        if row >= WINDOW_SIZE:
            self.full()
        at = datetime.fromtimestamp(self.times[row], UTC)
        kind = self.kinds[row]
        if kind is not None:
            return Snapshot(monitor, self.provider, at, error=CheckError(kind, ""))
        period = self.periods[row]
        meters = tuple(m for name, column in self.meters.items() if (m := column.meter(name, row)) is not None)
        return Snapshot(monitor, self.provider, at, None if period is None else _period(period), meters)

    # --- what the rules ask -------------------------------------------------------------

    def before(self, at: float) -> list[int]:
        """Rows of readings older than `at` among the first WINDOW_SIZE, newest first (the
        hourly rows past them, back to 8 days, are the burn rule's alone)."""
        times = self.times
        rows = [row for row, t in enumerate(times[:WINDOW_SIZE]) if t < at]
        if any(times[a] < times[b] for a, b in pairwise(rows)):  # a window is newest first; a list may not be
            rows.sort(key=times.__getitem__, reverse=True)
        return rows

    def has_meters(self, row: int) -> bool:
        return any(column.used[row] is not ABSENT for column in self.meters.values())

    def meters_at(self, row: int) -> list[Meter]:
        return [m for name, column in self.meters.items() if (m := column.meter(name, row)) is not None]

    # --- rolling -------------------------------------------------------------------------

    def rolled(self, snapshot: Snapshot) -> Window:
        """The window after `snapshot`, newest first (`_rolled`), with the hours' shapes: the
        one of the hour before this reading's, when this reading completes what it needs."""
        after = self._rolled(snapshot)
        if after._pending is None:  # else they are in the rows carried over as stored
            after._shapes = self._shapes
        shaped = self._shape_before(after)
        if shaped:
            shapes = {name: dict(hours) for name, hours in after.full().shapes().items()}  # the old window's stay
            for name, (hour, shape) in shaped.items():
                shapes.setdefault(name, {})[hour] = shape
            after._shapes, after.tier = shapes, None  # the rows past WINDOW_SIZE written anew
        return after

    def shapes(self) -> dict[str, dict[int, int]]:
        """The hours' shapes by meter (clock hour, POSIX seconds // 3600 -> shape)."""
        return self.full()._shapes or {}

    def _shape_before(self, after: Window) -> dict[str, tuple[int, int]]:
        """The shape of the clock hour before `after`'s newest reading's, per meter whose use
        was lopsided in it, when this window (before the roll) holds that hour's four quarter
        readings and the next hour's first, and `after`'s newest is the quarter after that
        (15-minute runs; none otherwise): the readings of the hour that the roll drops."""
        times, kinds = self.times, self.kinds
        if len(times) < QUARTERS + 1 or after.kinds[0] is not None or after.times[0] <= times[0]:
            return {}
        rows = range(QUARTERS, -1, -1)  # the hour's first reading, ..., the next hour's first
        at = [times[row] for row in rows] + [after.times[0]]
        hour = int(at[0]) // 3600
        if int(at[QUARTERS - 1]) // 3600 != hour or int(at[QUARTERS]) // 3600 != hour + 1:
            return {}
        if any(abs(b - a - 900.0) > SLACK / QUARTERS for a, b in pairwise(at)) or any(kinds[r] for r in rows):
            return {}
        previous = QUARTERS + 1  # the row of the hour before, when it is an hour earlier
        known = len(times) > previous and kinds[previous] is None and abs(at[0] - times[previous] - 3600.0) <= SLACK
        shaped: dict[str, tuple[int, int]] = {}
        for name, column in self.meters.items():
            new = after.meters.get(name)
            if new is None:
                continue
            balance = column.used[0] is None
            figures, latest = (column.remaining, new.remaining[0]) if balance else (column.used, new.used[0])
            values = [figures[row] for row in rows] + [latest]
            if not all(v.__class__ is int or v.__class__ is float for v in values):
                continue
            sign = -1 if balance else 1
            steps = [sign * (b - a) for a, b in pairwise(values)]
            before = figures[previous] if known else None
            use = sign * (values[0] - before) if before.__class__ is int or before.__class__ is float else None
            shape = shape_of(steps[:QUARTERS], use, steps[QUARTERS])
            if shape is not None:
                shaped[name] = hour, shape
        return shaped

    def _rolled(self, snapshot: Snapshot) -> Window:
        """The window after `snapshot`, newest first, without the hours' shapes.

        Kept: the RECENT newest readings, every failure since the last good reading (failures
        are counted) and that good reading, then the oldest reading of each clock hour, up to
        WINDOW_SIZE in all. On a steady burn the line through hourly readings is the line
        through every reading, for a quarter of the work; and whatever the schedule, the
        window spans hours. Past those, the same hourly readings back to HISTORY_SECONDS
        before the clock hour (the burn rule's baseline; so they change once an hour). A
        reading at the same time as the new one is replaced by it.
        """
        new = Window.of([snapshot])
        at = new.times[0]
        times = self.times
        if not times or (at > times[0] and all(map(gt, times, times[1:]))):  # every run but a late one
            return self._rolled_on(new, self._kept_after(at, new.kinds[0]))
        # Rows as (window, row): the new reading, then the stored ones by time, newest first.
        by_time: dict[float, tuple[Window, int]] = {t: (self, row) for row, t in enumerate(self.times)}
        by_time[at] = (new, 0)
        order = sorted(by_time, reverse=True)
        head = RECENT
        while head < len(order) and _kind(by_time[order[head - 1]]) is not None:
            head += 1  # up to and including the last good reading
        hours: dict[int, float] = {}
        for t in reversed(order[head:]):  # oldest first: the first of an hour stays
            hours.setdefault(int(t) // 3600, t)
        rows = order[:head] + sorted(hours.values(), reverse=True)
        # Past WINDOW_SIZE rows, only the burn rule reads them; the oldest go at the turn of the
        # hour, with the row that comes in, so that those rows change once an hour.
        oldest = at // 3600 * 3600 - HISTORY_SECONDS
        kept = [by_time[t] for row, t in enumerate(rows) if row < WINDOW_SIZE or t >= oldest]
        if kept[0][0] is new and all(source is self for source, _ in kept[1:]):  # every run but a late one
            return self._rolled_on(new, [row for _, row in kept[1:]])
        # A reading older than the newest stored one (a late run): rare, so rebuilt from readings.
        return Window.of([source.reading(row, snapshot.monitor) for source, row in kept])._trimmed()

    def _rolled_on(self, new: Window, picked: list[int]) -> Window:
        """The new reading, then the `picked` rows of this window, in order."""
        if self.tier is not None and picked[WINDOW_SIZE - 1 :] == list(range(WINDOW_SIZE, len(self))):
            # The same rows past WINDOW_SIZE, already trimmed: carried as stored, and left
            # undecoded when they were.
            if self._pending is None:
                after = self._after(new, picked)
            else:
                after = self._after(new, picked[: WINDOW_SIZE - 1])
                after.times += self.times[WINDOW_SIZE:]
                after.kinds += self.kinds[WINDOW_SIZE:]
                after.periods += self.periods[WINDOW_SIZE:]
            after.tier, after._pending, after.floors = self.tier, self._pending, self.floors
            return after
        self.full()
        after = self._after(new, picked)
        after.floors = self.floors
        return after._trimmed()

    def _kept_after(self, at: float, kind: ErrorKind | None) -> list[int]:
        """The stored rows `rolled` keeps after a reading newer than all of them, the rows in
        order: what its general way finds, by position (0 the new reading, p the row p - 1)
        instead of by time."""
        times, kinds = self.times, self.kinds
        count = len(times) + 1
        head = RECENT
        while head < count and (kind if head == 1 else kinds[head - 2]) is not None:
            head += 1  # up to and including the last good reading
        hours: dict[int, int] = {}
        for position in range(count - 1, head - 1, -1):  # oldest first: the first of an hour stays
            hours.setdefault(int(times[position - 1]) // 3600, position)
        positions = [*range(min(head, count)), *sorted(hours.values())]
        oldest = at // 3600 * 3600 - HISTORY_SECONDS  # past WINDOW_SIZE rows: as `rolled` says
        return [p - 1 for i, p in enumerate(positions) if p and (i < WINDOW_SIZE or times[p - 1] >= oldest)]

    def _trimmed(self) -> Window:
        """The window with its rows past WINDOW_SIZE holding only what the burn rule reads:
        `used`, or a balance's `remaining` where `used` is None (no limit). Fewer figures to
        store, roll and read on every run; the rules and forecasts never read those rows."""
        if len(self) <= WINDOW_SIZE:
            return self
        tier = len(self) - WINDOW_SIZE
        for column in self.meters.values():
            column.limit[WINDOW_SIZE:] = [None] * tier
            column.remaining[WINDOW_SIZE:] = [
                r if u is None else None
                for u, r in zip(column.used[WINDOW_SIZE:], column.remaining[WINDOW_SIZE:], strict=True)
            ]
        return self

    def _after(self, new: Window, rows: list[int]) -> Window:
        """The new reading (a window of one), then these rows of this window."""
        count = len(rows)
        pick = itemgetter(*rows) if count > 1 else (lambda c: (c[rows[0]],)) if count else (lambda c: ())
        meters: dict[str, Column] = {}
        for name in sorted(self.meters.keys() | new.meters.keys()):
            mine, theirs = self.meters.get(name), new.meters.get(name)
            head = (ABSENT, None, None) if theirs is None else (theirs.used[0], theirs.limit[0], theirs.remaining[0])
            if mine is None:
                meters[name] = Column(
                    [head[0]] + [ABSENT] * count, [head[1]] + [None] * count, [head[2]] + [None] * count
                )
                continue
            used = [head[0], *pick(mine.used)]
            if theirs is None and all(u is ABSENT for u in used):
                continue  # only in readings no longer kept
            meters[name] = Column(used, [head[1], *pick(mine.limit)], [head[2], *pick(mine.remaining)])
        return Window(
            new.provider,
            [new.times[0], *pick(self.times)],
            [new.kinds[0], *pick(self.kinds)],
            [new.periods[0], *pick(self.periods)],
            meters,
        )

    # --- stored form ---------------------------------------------------------------------

    def encode(self) -> bytes:
        """The stored form of the window: compressed JSON, column by column (format 4).

        Each column holds one value per reading: the times as steps back from the newest
        reading; per meter `used` and `limit`, and `remaining` only where it is not limit
        minus used in every row; the rows that had no such meter listed in `absent` (null in
        the columns). A whole figure in `used` or `remaining` that follows a whole figure is
        the step from it (newer minus this one). Repeats (a steady schedule, a limit, a
        steady burn's steps) are left to zlib, which folds them as well as runs did (format
        3) for a fraction of the work on both sides. Failed readings are listed apart, with
        their kind, and have no figures.
        """
        if not self.times:
            return _packed({"format": FORMAT, "readings": 0})
        times = [int(t) for t in self.times]  # to the second, as format_time
        good = [row for row, kind in enumerate(self.kinds) if kind is None]
        periods: list[list[int | None]] = []
        period_column: list[int | None] = []
        for row in good:
            epochs = self.periods[row]
            if epochs is None:
                period_column.append(None)
                continue
            period = list(epochs)
            if period not in periods:
                periods.append(period)
            period_column.append(periods.index(period))
        head = bisect_left(good, WINDOW_SIZE)  # good rows the rules read; past them, `used` only
        if self.tier is None:
            self.full()
        rows = good[:head]
        pick = itemgetter(*rows) if len(rows) > 1 else lambda c: [c[row] for row in rows]
        meters: dict[str, dict[str, list[Any]]] = {}
        finite = True  # no NaN or infinity to store: then msgspec writes what json would
        for name, column in self.meters.items():
            used = list(pick(column.used))
            absent = [i for i, u in enumerate(used) if u is ABSENT] if ABSENT in used else []
            if len(absent) == len(used):
                continue  # only in readings no longer kept, or past WINDOW_SIZE
            for i in absent:
                used[i] = None  # limit and remaining are None there already
            limit, remaining = list(pick(column.limit)), list(pick(column.remaining))
            one_limit = _one_or_all(limit)
            figures = meters[name] = {"used": _steps_from(used), "limit": one_limit}
            if one_limit is None:  # no limit in any row (a balance, a count): remaining as it is
                derived = remaining.count(None) == len(remaining)
            else:
                derived = _derived(used, limit, remaining)
            if not derived:
                figures["remaining"] = _steps_from(remaining)
            if absent:
                figures["absent"] = absent
            finite = finite and _finite(used) and _finite(limit) and _finite(remaining)
        return _packed(
            {
                "format": FORMAT,
                "provider": self.provider,
                "readings": len(times),
                "newest": times[0],
                "steps": [newer - older for newer, older in pairwise(times)],
                "failed": [[row, kind.value] for row, kind in enumerate(self.kinds) if kind is not None],
                "periods": periods,
                "period": period_column,
                "meters": meters,
            },
            fast=finite,
        ) + self._tier_and_floors(good[head:])

    def _tier_and_floors(self, good: list[int]) -> bytes:
        tier = self.tier if self.tier is not None else self._tier_form(good)
        floors = _floors_form(self.floors)
        return tier + floors if tier or not floors else _packed({}, _TIER_LEVEL) + floors

    def floors_of(self, hour: int) -> dict[str, float] | None:
        """The burn rule's floors kept for this clock hour (POSIX seconds // 3600), if any."""
        return self.floors[1] if self.floors is not None and self.floors[0] == hour else None

    def full(self) -> Window:
        """The window with every row in its columns: the rows past WINDOW_SIZE decoded, when
        they were left as stored. Unreadable, they are dropped (the burn rule then waits for
        8 days again) rather than failing the run that reads them."""
        pending, self._pending = self._pending, None
        if pending is None:
            return self
        count = len(self.times)
        try:
            tier = _loads(pending)
            tier_rows = [row for row in range(WINDOW_SIZE, count) if self.kinds[row] is None]
            past = len(tier_rows)
            extra: dict[str, tuple[list[Any], list[Any]]] = {}
            shapes: dict[str, dict[int, int]] = {}
            for name, figures in tier.items():
                used = _tier_column(figures, "used", past, ABSENT)
                remaining = _tier_column(figures, "balance", past) if _has(figures, "balance") else [None] * past
                extra[str(name)] = (used, remaining)
                if "shapes" in figures:
                    shapes[str(name)] = _shapes_read(figures["shapes"])
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError):
            del self.times[WINDOW_SIZE:], self.kinds[WINDOW_SIZE:], self.periods[WINDOW_SIZE:]
            self.tier = None
            return self
        self._shapes = shapes
        rest = count - WINDOW_SIZE
        meters: dict[str, Column] = {}
        for name in sorted(self.meters.keys() | extra.keys()):
            column = self.meters.get(name) or Column([ABSENT] * WINDOW_SIZE, [None] * WINDOW_SIZE, [None] * WINDOW_SIZE)
            used, remaining = extra.get(name, ([ABSENT] * past, [None] * past))
            if past == rest:
                column.used += used
                column.remaining += remaining
            else:
                column.used += _spread(used, [r - WINDOW_SIZE for r in tier_rows], rest, ABSENT)
                column.remaining += _spread(remaining, [r - WINDOW_SIZE for r in tier_rows], rest, None)
            column.limit += [None] * rest
            meters[name] = column
        self.meters = meters
        return self

    def _tier_form(self, good: list[int]) -> bytes:
        """The stored form of the good rows past WINDOW_SIZE: per meter `used`, and a
        balance's `remaining` where used is None, as the first rows' figures are stored;
        nothing when there are none. Compressed apart, so that a run can carry it over."""
        if not good:
            return b""
        meters: dict[str, dict[str, list[Any]]] = {}
        pick = itemgetter(*good) if len(good) > 1 else lambda c: (c[good[0]],)
        for name, column in self.meters.items():
            used = list(pick(column.used))
            if all(u is ABSENT for u in used):
                continue
            figures = meters[name] = _tier_figures("used", used)
            if None in used:  # a balance (no used): the burn rule reads its remaining
                remaining = pick(column.remaining)
                balance = [r if u is None else None for u, r in zip(used, remaining, strict=True)]
                figures.update(_tier_figures("balance", balance))
            kept = _shapes_form(self._shapes.get(name) or {}, int(self.times[-1]) // 3600) if self._shapes else []
            if kept:  # the hours the rows still hold
                figures["shapes"] = kept
        return _packed(meters, _TIER_LEVEL)

    @classmethod
    def decode(cls, stored: str | bytes, monitor: str) -> Window:
        """The window `encode` wrote (or format 1's text); BadWindow (naming the monitor) when
        it cannot be read."""
        try:
            if isinstance(stored, str):  # format 1, JSON text
                return cls._read_head(stored.encode(), monitor, lazy=False)
            head = zlib.decompressobj()
            text = head.decompress(stored)
            if not head.eof:
                raise ValueError("the stored window is cut short")
            # Format 3: the rows past WINDOW_SIZE, compressed apart, then the burn rule's cache.
            tier, tier_text, floors = _split(head.unused_data)
            window = cls._read_head(text, monitor, lazy=bool(tier))
            window.tier = tier or None
            window._pending = tier_text if tier else None
            window.floors = _floors(floors)
            if window._pending is not None and len(window) <= WINDOW_SIZE:
                window.full()  # no rows past WINDOW_SIZE: an empty tier, read now
            return window
        except BadWindow:
            raise
        except (
            ValueError,
            TypeError,
            KeyError,
            IndexError,
            AttributeError,
            OverflowError,
            zlib.error,
            msgspec.MsgspecError,
        ) as exc:
            raise BadWindow(f"window of {monitor} is unreadable ({type(exc).__name__}: {exc})") from exc

    @classmethod
    def _read_head(cls, text: bytes, monitor: str, lazy: bool) -> Window:
        """The rows the rules read, from their JSON: format 4 checked by msgspec as it is read."""
        if text.startswith(_FORMAT_4):
            try:
                return cls._decode_4(_READ_4(text), lazy)
            except msgspec.MsgspecError:  # NaN written by json, or damage: read as any JSON below
                pass
        data = _loads(text)
        if isinstance(data, dict) and data.get("format") == 4 and data.get("readings"):
            return cls._decode_4(msgspec.convert(data, _Stored4), lazy)
        return cls._decode(data, monitor, lazy)

    @classmethod
    def _decode_4(cls, stored: _Stored4, lazy: bool) -> Window:
        """A window `encode` wrote, its types checked already."""
        count = stored.readings
        if len(stored.steps) != count - 1:
            raise ValueError(f"{len(stored.steps) + 1} times for {count} readings")
        failed = {row: ErrorKind(kind) for row, kind in stored.failed}
        if failed and not 0 <= min(failed) <= max(failed) < count:
            raise ValueError("a failed reading out of the window")
        times, kinds, good = _rows(stored.newest, stored.steps, failed, count)
        if len(stored.period) != len(good):
            raise ValueError(f"{len(stored.period)} periods for {len(good)} readings")
        known = [(_checked_epoch(start), _checked_epoch(end)) for start, end in stored.periods]
        periods = _spread([None if p is None else known[p] for p in stored.period], good, count, None)
        head = bisect_left(good, WINDOW_SIZE)  # the good rows with figures here; past them, in the tier
        if lazy:  # the columns hold the first WINDOW_SIZE rows until `full`
            count, good = min(count, WINDOW_SIZE), good[:head]
        meters: dict[str, Column] = {}
        for name in sorted(stored.meters):
            figures = stored.meters[name]
            limit = figures.limit if isinstance(figures.limit, list) else [figures.limit] * head
            if not len(figures.used) == len(limit) == head:
                raise ValueError(f"{len(figures.used)} values for {head} readings")
            used = _figures(figures.used)
            if figures.remaining is None:
                remaining = _underived(used, limit)
            elif len(figures.remaining) == head:
                remaining = _figures(figures.remaining)
            else:
                raise ValueError(f"{len(figures.remaining)} values for {head} readings")
            if figures.absent and min(figures.absent) < 0:
                raise ValueError("an absent reading out of the window")
            for row in figures.absent:
                used[row], limit[row], remaining[row] = ABSENT, None, None
            meters[name] = _placed(good, count, used, limit, remaining)
        return cls(stored.provider, times, kinds, periods, meters)

    @classmethod
    def _decode(cls, data: dict[str, Any], monitor: str, lazy: bool = False) -> Window:
        """A window of format 1 to 3 (format 4's empty one too)."""
        stored_format = data.get("format")
        if stored_format not in _FORMATS:
            raise BadWindow(f"window of {monitor}: format {stored_format!r}, expected {FORMAT}")
        figures_of = _as_is if stored_format == 1 else _figures
        count = data["readings"]
        if not count:
            return cls("", [], [], [], {})
        provider = str(data["provider"])
        failed = {int(row): ErrorKind(kind) for row, kind in data["failed"]}
        times, kinds, good = _rows(data["newest"], _steps(_values(data["steps"], count - 1)), failed, count)
        stored_periods = [(_checked_epoch(start), _checked_epoch(end)) for start, end in data["periods"]]
        period_of_good = [None if p is None else stored_periods[p] for p in _values(data["period"], len(good))]
        periods = _spread(period_of_good, good, count, None)
        # Format 3 stores limit and remaining for the good rows the rules read only.
        head = bisect_left(good, WINDOW_SIZE) if stored_format == 3 else len(good)
        if lazy:  # the columns hold the first WINDOW_SIZE rows until `full`
            count, good = min(count, WINDOW_SIZE), good[:head]
        meters: dict[str, Column] = {}
        for name, figures in sorted(data["meters"].items()):
            used = figures_of(_numbers(_values(figures["used"], head), ABSENT))
            limit = _numbers(_values(figures["limit"], head))
            remaining = figures_of(_numbers(_values(figures["remaining"], head), _DERIVED))
            for row in range(head):
                u = used[row]
                if u is ABSENT:
                    limit[row] = remaining[row] = None
                elif remaining[row] is _DERIVED:
                    lim = limit[row]
                    remaining[row] = lim - u if lim is not None and u is not None else None
            meters[str(name)] = _placed(good, count, used, limit, remaining)
        return cls(provider, times, kinds, periods, meters)


# --- on snapshot lists: the cold paths and the tests ------------------------------------------


def _split(stored: bytes) -> tuple[bytes, bytes, bytes]:
    """The rows past WINDOW_SIZE as stored and as text, and the burn rule's cache after them."""
    if not stored:
        return b"", b"", b""
    tier = zlib.decompressobj()
    text = tier.decompress(stored)
    if not tier.eof:
        raise ValueError("the stored window is cut short")
    return stored[: len(stored) - len(tier.unused_data)], text, tier.unused_data


def _tier_figures(key: str, values: list[Any]) -> dict[str, list[Any]]:
    """A column of the rows past WINDOW_SIZE as stored: steps between whole figures, in
    whole hundredths under `key` + "100" when every figure is one exactly (money with its
    cents: steps of a few digits instead of every balance in full, about 230 B less on a
    credit that moves every run)."""
    cents = _hundredths(values)
    if cents is None:
        return {key: _runs(_steps_from(values))}
    return {key + "100": _runs(_steps_from(cents))}


def _tier_column(figures: dict[str, Any], key: str, count: int, marker: str | None = None) -> list[Any]:
    """A column `_tier_figures` wrote, read back (windows before hundredths have `key` only)."""
    if key + "100" not in figures:
        return _figures(_numbers(_values(figures[key], count), marker))
    cents = _figures(_numbers(_values(figures[key + "100"], count), marker))
    return [c / 100 if c.__class__ is int else c for c in cents]


def _has(figures: dict[str, Any], key: str) -> bool:
    return key in figures or key + "100" in figures


def _hundredths(values: list[Any]) -> list[Any] | None:
    """The figures as whole hundredths when at least one is a float and each is exactly
    read back from its hundredths (markers and None kept); None otherwise."""
    if float not in set(map(type, values)):  # counts, the common case: nothing to scale
        return None
    scaled: list[Any] = []
    floats = False
    for value in values:
        if value.__class__ is float:
            if not isfinite(value) or not abs(value) < 2**46:
                return None
            cents = round(value * 100)
            if cents / 100 != value:
                return None
            scaled.append(cents)
            floats = True
        elif value.__class__ is int:
            if not abs(value) < 2**46:
                return None
            scaled.append(value * 100)
        else:
            scaled.append(value)
    return scaled if floats else None


def _shapes_form(shapes: dict[int, int], oldest: int) -> list[int]:
    """A meter's shaped hours from `oldest` on, in order: [first hour, shape, hours since the
    one before, shape, ...]."""
    flat: list[int] = []
    last = 0
    for hour in sorted(h for h in shapes if h >= oldest):
        flat += [hour - last, shapes[hour]]
        last = hour
    return flat


def _shapes_read(flat: list[Any]) -> dict[int, int]:
    """`_shapes_form` read back; ValueError when it is not that."""
    hours: dict[int, int] = {}
    hour = 0
    for gap, shape in zip(flat[::2], flat[1::2], strict=True):
        if gap.__class__ is not int or shape.__class__ is not int or not 0 <= shape <= 0xFFFF:
            raise ValueError("a shape is not an hour and four hex digits")
        hour += gap
        hours[hour] = shape
    return hours


def _floors_form(floors: tuple[int, dict[str, float]] | None) -> bytes:
    """Plain JSON after the compressed rows: a hundred bytes, and compressing them would
    cost more CPU (zlib's set-up) than the rest of the window's tail."""
    if floors is None:
        return b""
    hour, by_meter = floors
    figures = {name: int(floor) if floor.is_integer() else floor for name, floor in by_meter.items()}
    return json.dumps({"hour": hour, "floors": figures}, separators=(",", ":")).encode()


def _floors(stored: bytes) -> tuple[int, dict[str, float]] | None:
    """The burn rule's cache as stored; None when absent or unreadable (it is then rebuilt)."""
    if not stored:
        return None
    try:
        data = json.loads(stored)
        hour, by_meter = int(data["hour"]), data["floors"]
        return hour, {str(name): float(floor) for name, floor in by_meter.items()}
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def _packed(data: dict[str, Any], level: int = _LEVEL, fast: bool = False) -> bytes:
    """Compact JSON, compressed. `fast` when the data holds no NaN or infinity: msgspec
    writes the same JSON ten times faster, but those as null, where json writes NaN."""
    text = _ENCODE(data) if fast else json.dumps(data, separators=(",", ":")).encode()
    return zlib.compress(text, level)


def _finite(values: list[Any]) -> bool:
    """Values msgspec writes as json does: ints, None, markers and finite floats (anything
    else, however unlikely in a window, goes to json as before)."""
    classes = set(map(type, values))
    if not _JSON_ALIKE.issuperset(classes):
        return False
    return float not in classes or all(isfinite(v) for v in values if v.__class__ is float)


_JSON_ALIKE = frozenset((int, float, str, type(None)))


def _steps_from(values: list[Any]) -> list[Any]:
    """Each int that follows an int as the step from it (the older one's difference)."""
    return values[:1] + [
        newer - value if value.__class__ is int and newer.__class__ is int else value
        for newer, value in pairwise(values)
    ]


def _figures(stored: list[Any]) -> list[Any]:
    """The figures `_steps_from` stepped (the list is the caller's own: changed in place)."""
    for i in range(1, len(stored)):
        if stored[i].__class__ is int and stored[i - 1].__class__ is int:
            stored[i] = stored[i - 1] - stored[i]
    return stored


def _as_is(stored: list[Any]) -> list[Any]:
    return stored


def roll(snapshot: Snapshot, history: list[Snapshot]) -> list[Snapshot]:
    """The window after `snapshot` as trimmed snapshots, newest first (see Window.rolled)."""
    return Window.of(history).rolled(snapshot).snapshots(snapshot.monitor)


def encode(window: list[Snapshot]) -> bytes:
    """The stored form of a window of snapshots (see Window.encode)."""
    return Window.of(window).encode()


def decode(stored: str | bytes, monitor: str) -> list[Snapshot]:
    """The window `encode` wrote, as trimmed snapshots newest first; BadWindow when unreadable."""
    return Window.decode(stored, monitor).snapshots(monitor)


# --- helpers ------------------------------------------------------------------------------------


def _kind(source: tuple[Window, int]) -> ErrorKind | None:
    window, row = source
    return window.kinds[row]


def _rows(
    newest: Any, steps: list[Any], failed: dict[int, ErrorKind], count: int
) -> tuple[list[float], list[ErrorKind | None], list[int]]:
    """A stored window's times (from the newest and the steps back), failure kinds and good rows."""
    datetime.fromtimestamp(newest, UTC)  # a time it can be, or it raises
    times: list[float] = [newest - age for age in accumulate(steps, initial=0)]
    return times, [failed.get(row) for row in range(count)], [row for row in range(count) if row not in failed]


def _placed(good: list[int], count: int, used: list[Any], limit: list[Any], remaining: list[Any]) -> Column:
    """A meter's figures of the first good rows, placed among `count` rows: absent in the good
    rows past them (their `used` is in the tier, read by `full`) and in failed readings."""
    past = len(good) - len(used)
    if past:
        used += [ABSENT] * past
        limit += [None] * past
        remaining += [None] * past
    return Column(
        _spread(used, good, count, ABSENT), _spread(limit, good, count, None), _spread(remaining, good, count, None)
    )


def _spread(values: list[Any], rows: list[int], count: int, filler: Any) -> list[Any]:
    """Values of the good readings placed at their rows among `count`, `filler` elsewhere."""
    if len(rows) == count:  # no failed reading: they are every row already
        return values
    spread = [filler] * count
    for row, value in zip(rows, values, strict=True):
        spread[row] = value
    return spread


def _one_or_all(values: list[Any]) -> Any:
    """The column as stored: its one value when every row holds it (a limit, mostly: about 15
    B less a meter than the same figure 48 times, even compressed), else every value."""
    return values[0] if _all_alike(values) else values


def _all_alike(values: list[Any]) -> bool:
    """Every value equal to the first and of its type (5 and 5.0 are equal, but not alike)."""
    return values.count(values[0]) == len(values) and len(set(map(type, values))) == 1


def _derived(used: list[Any], limit: list[Any], remaining: list[Any]) -> bool:
    """Whether every `remaining` is limit minus used (None where either is), as `_underived`
    gives it back."""
    return _underived(used, limit) == remaining


def _underived(used: list[Any], limit: list[Any]) -> list[Any]:
    try:  # every figure there, the common case: in one call
        return list(map(sub, limit, used))
    except TypeError:  # a None among them
        return [None if lim is None or u is None else lim - u for u, lim in zip(used, limit, strict=True)]


def _runs(values: list[Any]) -> list[Any]:
    """Consecutive equal values of one type as [count, value]; values are never lists
    themselves. Of one type: 5 and 5.0 are equal, but a run of 5 reads back as ints, which
    `_figures` would take for steps."""
    runs: list[Any] = []
    if not values:
        return runs
    if _all_alike(values):  # a limit, a still balance: one run
        return [[len(values), values[0]]] if len(values) > 1 else values[:1]
    current, count = values[0], 1  # the first counted as itself: a NaN equals nothing, not even itself
    for value in values[1:]:  # one pass, no groupby: every window of every run is encoded
        if value == current and value.__class__ is current.__class__:
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


def _loads(text: bytes) -> Any:
    """JSON as json reads it: msgspec's reader, three times faster, refuses NaN and
    infinities (json reads them): those, and anything else it refuses, go to json."""
    try:
        return _DECODE(text)
    except msgspec.DecodeError:
        return json.loads(text)


def _numbers(values: list[Any], marker: str | None = None) -> list[Any]:
    """The column as read, once every value is checked: a number, None, or the column's marker.

    The marker comes back as the module's own string, so that callers can test it with `is`.
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


def _period_epochs(period: Period | None) -> Epochs | None:
    return None if period is None else (_epoch(period.start), _epoch(period.end))


def _period(epochs: Epochs) -> Period:
    start, end = epochs
    return Period(_time(start), _time(end))


def _checked_epoch(value: Any) -> int | None:
    _time(value)  # a time it can be, or it raises
    return value  # type: ignore[no-any-return]


def _epoch(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def _time(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)
