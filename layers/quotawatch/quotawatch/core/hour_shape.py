"""Where an hour's use fell, in a few bytes: the quarter hours the window no longer keeps.

Past its newest readings the window keeps one reading an hour (core/window.py), and the
burn rule reads the usual rate of a half hour as the line between two of them: the hour's
use spread evenly over it. Beside a nightly batch that is wrong by an order of magnitude:
an hour holding one quarter of a batch reads its three quiet quarters at a quarter of the
batch's rate, and a 10x burn in them reads as a 2x. So when a clock hour's four quarter
hours were all read and their use was lopsided, the window keeps its *shape*: each
quarter's use against the hour's largest, on a scale of half-powers of two (1, 0.71,
0.5, ... down to 1/181), one hex digit each. The rule then reads the hour's quarters as
readings placed along the line between the hour's two readings (`place`), the hour's
total unchanged. A shape is kept only where the line misreads a half hour that touches
the hour by `LOPSIDED` times or more, so that an even hour, or a noisy one, costs nothing.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from functools import cache
from itertools import accumulate

QUARTERS = 4
_LEVELS = 15  # the last level: a quarter at 1/181 of the largest or less (read as that)
LOPSIDED = 8.0  # the least misreading of a half hour (the line against the quarters) kept
SLACK = 120.0  # seconds: how far from an hour apart two hourly readings may be to be placed


def shape_of(steps: Sequence[float], before: float | None, after: float) -> int | None:
    """The shape of an hour from the use of its four quarters in time order (each >= 0), as
    an int of four hex digits (the first quarter's the highest); None when the line misreads
    no half hour touching the hour by LOPSIDED times (nothing worth keeping).

    `before` is the previous hour's use (None: not known), `after` the next hour's first
    quarter's. The line reads a half hour inside the hour as half the hour's use, and one
    across its start or end as a quarter of each hour's: with the shape, this hour's edge
    quarter is read as it was (and the next hour's first quarter is taken as it was too)."""
    if len(steps) != QUARTERS or not all(s >= 0 and math.isfinite(s) for s in (*steps, after)):
        return None
    total = sum(steps)
    if not total > 0:
        return None
    bar = total / (2 * LOPSIDED)
    quiet = min(steps[0] + steps[1], steps[1] + steps[2], steps[2] + steps[3]) <= bar
    quiet = quiet or (total / 4 + after) >= LOPSIDED * (steps[3] + after)
    if before is not None and before >= 0:
        quiet = quiet or (before + total) / 4 >= LOPSIDED * (before / 4 + steps[0])
    if not quiet:
        return None
    largest = max(steps)
    code = 0
    for step in steps:
        level = _LEVELS if step <= 0 else min(_LEVELS, round(2 * math.log2(largest / step)))
        code = code << 4 | level
    return code


def shares(code: int) -> list[float]:
    """The share of the hour's use of each quarter, as the shape keeps it (summing to 1)."""
    weights = [2.0 ** (-((code >> 4 * (QUARTERS - 1 - q)) & 0xF) / 2) for q in range(QUARTERS)]
    total = sum(weights)
    return [w / total for w in weights]


@cache
def _done(code: int) -> tuple[float, ...]:
    """The share of the hour's use done at each quarter's end but the last (a handful of
    shapes recur day after day: each is worked out once)."""
    return tuple(accumulate(shares(code)[:-1]))


def place(
    times: list[float], values: list[float | None], shapes: Mapping[int, int], *, balance: bool
) -> tuple[list[float], list[float | None]]:
    """The readings (oldest first) with each shaped hour's quarters placed between its two
    readings: where the window holds a reading in the hour and the next one about an hour
    later, with nothing between, and the meter moved as use does across them (no reset, no
    top-up). The lists are returned as given when no hour is placed."""
    placed_times: list[float] = []
    placed_values: list[float | None] = []
    last, count = 0, len(times)
    for hour in sorted(shapes):
        i = bisect_left(times, hour * 3_600.0, last)
        if i + 1 >= count:
            break
        t0, t1, v0, v1 = times[i], times[i + 1], values[i], values[i + 1]
        if t0 >= (hour + 1) * 3_600.0 or v0 is None or v1 is None or abs(t1 - t0 - 3_600.0) > SLACK:
            continue
        if v1 > v0 if balance else v1 < v0:
            continue
        placed_times += times[last : i + 1]
        placed_values += values[last : i + 1]
        step, rise = (t1 - t0) / QUARTERS, v1 - v0
        for q, done in enumerate(_done(shapes[hour]), start=1):
            placed_times.append(t0 + step * q)
            placed_values.append(v0 + rise * done)
        last = i + 1
    if not last:
        return times, values
    return placed_times + times[last:], placed_values + values[last:]
