"""An hour's shape: kept where the hourly line misreads a half hour beside a batch, placed
back between the hour's two readings with the hour's use unchanged."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quotawatch.core.hour_shape import QUARTERS, place, shape_of, shares

H = 3_600.0
HOUR = 493_000  # a clock hour (POSIX seconds // 3600)


@pytest.mark.parametrize(
    ("steps", "before", "after", "kept"),
    [
        ([20, 20, 20, 20], 80, 20, None),  # even: the line is right
        ([14, 26, 18, 23], 80, 20, None),  # noisy counts: still nothing worth keeping
        ([0, 40, 40, 0], 80, 40, None),  # quiet edges, busy neighbours: the half hours across read well enough
        ([1, 1, 1, 68], 4, 68, 0xCCC0),  # a batch starting in the last quarter
        ([68, 68, 68, 1], 70, 1, 0x000C),  # a batch ending a quarter before the hour does: the half hour after it
        ([1, 68, 1, 1], 4, 1, 0xC0CC),  # a batch of one quarter inside the hour
        ([1, 68, 68, 68], 4, 68, 0xC000),  # a batch starting a quarter into the hour, after a quiet hour
        ([1, 68, 68, 68], 272, 68, None),  # ... after a busy one: the half hour across is busy on both sides
        ([0, 0, 0, 0], 0, 0, None),  # nothing used
        ([5, -1, 5, 5], 20, 5, None),  # a reset or a top-up in the hour: no shape
        ([5, 5, 5], 20, 5, None),  # not four quarters
        ([0, 0, 0, 9], None, 9, 0xFFF0),  # the hour before not known: its half hour across is not judged
    ],
)
def test_a_shape_is_kept_where_the_line_misreads_a_half_hour(
    steps: list[float], before: float | None, after: float, kept: int | None
) -> None:
    assert shape_of(steps, before, after) == kept


def test_shares_keep_each_quarter_within_a_fifth_of_what_it_used() -> None:
    steps = [1.0, 3.0, 40.0, 80.0]
    got = shares(shape_of(steps, 4.0, 1.0) or 0)
    assert math.isclose(sum(got), 1.0)
    for share, step in zip(got, steps, strict=True):
        assert abs(share / (step / sum(steps)) - 1) < 0.2


def test_place_puts_the_quarters_between_the_hours_readings() -> None:
    times = [HOUR * H, (HOUR + 1) * H, (HOUR + 2) * H]
    values: list[float | None] = [100.0, 200.0, 300.0]
    shape = shape_of([1, 1, 1, 97], 100, 97)
    assert shape is not None

    placed_times, placed_values = place(times, values, {HOUR: shape}, balance=False)

    assert placed_times == [times[0], *(times[0] + q * 900.0 for q in (1, 2, 3)), times[1], times[2]]
    assert placed_values[0] == 100.0
    assert placed_values[4:] == [200.0, 300.0]
    quiet = [b - a for a, b in pairwise(placed_values[:4])]  # type: ignore[operator]
    assert all(step < 2.0 for step in quiet)  # the hour's quiet three quarters, not 25 each


@pytest.mark.parametrize(
    ("times", "values", "balance"),
    [
        ([HOUR * H, (HOUR + 1) * H], [100.0, 50.0], False),  # a reset in the hour
        ([HOUR * H, (HOUR + 1) * H], [100.0, 150.0], True),  # a top-up in the hour
        ([HOUR * H, (HOUR + 1) * H], [100.0, None], False),  # a gap
        ([HOUR * H, HOUR * H + 1_800, (HOUR + 1) * H], [100.0, 110.0, 200.0], False),  # a reading between
        ([HOUR * H, (HOUR + 2) * H], [100.0, 200.0], False),  # two hours apart
        ([(HOUR + 1) * H, (HOUR + 2) * H], [100.0, 200.0], False),  # no reading in the hour
    ],
)
def test_place_leaves_an_hour_it_cannot_read_as_the_line(
    times: list[float], values: list[float | None], balance: bool
) -> None:
    shape = 0xCCC0
    assert place(times, values, {HOUR: shape}, balance=balance) == (times, values)


def test_a_balance_is_placed_falling() -> None:
    times = [HOUR * H, (HOUR + 1) * H]
    _, values = place(times, [500.0, 400.0], {HOUR: 0x000C}, balance=True)
    assert values[0] == 500.0
    assert values[-1] == 400.0
    assert all(b is not None and a is not None and b <= a for a, b in pairwise(values))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 10**6), min_size=QUARTERS, max_size=QUARTERS),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
)
def test_a_shape_never_changes_the_hours_use_and_keeps_its_order(steps: list[int], before: int, after: int) -> None:
    shape = shape_of(steps, before, after)
    if shape is None:
        return
    total = sum(steps)
    times = [HOUR * H, (HOUR + 1) * H]
    placed_times, placed_values = place(times, [0.0, float(total)], {HOUR: shape}, balance=False)
    assert placed_values[0] == 0.0
    assert placed_values[-1] == float(total)
    assert placed_times == sorted(placed_times)
    assert len(placed_times) == QUARTERS + 1
    assert all(b >= a for a, b in pairwise(placed_values))  # type: ignore[operator]
    # The quarter read as the largest is the largest, but for the scale's rounding (a fourth root of 2).
    rebuilt = [b - a for a, b in pairwise(placed_values)]  # type: ignore[operator]
    assert steps[rebuilt.index(max(rebuilt))] * 2**0.25 >= max(steps)
