"""The rules' forecast over a window's columns is the general one, to the last bit.

`window_forecast` walks the columns once; `forecast` over the same readings as snapshots,
picked by the plain reference walk below, must give the same Forecast (the same float sums)
for any window, odd ones included: gaps, failures, resets, balances, periods, repeated times.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from quotawatch.core.forecast import Forecast, forecast, window_forecast
from quotawatch.core.snapshot import ErrorKind, Meter, Period, Snapshot
from quotawatch.core.window import Window

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
PERIODS = (
    None,
    Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
    Period(datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)),
)
figures = st.one_of(
    st.none(),
    st.integers(min_value=0, max_value=5000),
    st.floats(min_value=-10.0, max_value=5000.0, allow_nan=False),
    st.sampled_from([2e15, 1e300]),
)
meters = st.builds(
    lambda used, limit, remaining: Meter("calls", used, limit, remaining, "calls"),
    figures,
    st.one_of(st.none(), st.sampled_from([0, 1000, 1000.5, 5000])),
    figures,
)
readings = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=4 * 48 * 900),  # seconds before NOW
        st.one_of(st.none(), meters),  # None: a failed check
        st.sampled_from(PERIODS),
    ),
    max_size=60,
)


def reference(meter: Meter, snapshot: Snapshot, window: Window, rows: list[int]) -> Forecast | None:
    """`forecast` over the period's earlier readings, picked from the rows as snapshots: skip
    failures and readings without the meter; stop at another period, a fall in use or a rise
    in a balance."""
    readings: list[tuple[datetime, Meter]] = []
    start = snapshot.period.start if snapshot.period else None
    newer = snapshot.meter(meter.name)
    for earlier in (window.reading(row, "m") for row in rows):
        reading = earlier.meter(meter.name)
        if earlier.error is not None or reading is None:
            continue
        if start is not None and (earlier.period is None or earlier.period.start != start):
            break
        if newer is not None and dropped(reading, newer):
            break
        readings.append((earlier.checked_at, reading))
        newer = reading
    return forecast(meter, readings[::-1], snapshot.checked_at)


def dropped(before: Meter, after: Meter) -> bool:
    """Usage fell, or a balance rose: a reset or a top-up, after which the old rate is void."""
    if before.used is not None and after.used is not None:
        return after.used < before.used
    if before.remaining is not None and after.remaining is not None:
        return after.remaining > before.remaining
    return False


def _snapshot(at: datetime, meter: Meter | None, period: Period | None) -> Snapshot:
    if meter is None:
        return Snapshot.failed("m", "p", at, ErrorKind.UNAVAILABLE, "down")
    return Snapshot("m", "p", at, period=period, meters=(meter,))


@settings(max_examples=400, deadline=None)
@given(readings, meters, st.sampled_from(PERIODS), st.booleans())
def test_window_forecast_is_the_series_forecast(
    earlier: list[tuple[int, Meter | None, Period | None]], meter: Meter, period: Period | None, rolled: bool
) -> None:
    history = [_snapshot(NOW - timedelta(seconds=s), m, p) for s, m, p in earlier]
    window = Window.of(history)
    if rolled:  # stored and read back, as a run reads it
        window = Window.decode(window.encode(), "m")
    snapshot = Snapshot("m", "p", NOW, period=period, meters=(meter,))
    rows = window.before(NOW.timestamp())
    expected = reference(meter, snapshot, window, rows)
    assert window_forecast(meter, snapshot, window, rows) == expected


def test_rows_out_of_order_are_read_as_the_series_does() -> None:
    """A window whose times repeat (a hand-edited item) takes the general way."""
    at = NOW.timestamp()
    window = Window.of([])
    window.times = [at - 3600, at - 3600, at - 7200, at - 10800]
    window.kinds = [None] * 4
    window.periods = [None] * 4
    window.meters = Window.of([Snapshot("m", "p", NOW, meters=(Meter("calls", 1, 1000, 999, "calls"),))]).meters
    column = window.meters["calls"]
    column.used, column.limit, column.remaining = [40, 30, 20, 10], [1000] * 4, [None] * 4
    meter = Meter("calls", 50, 1000, 950, "calls")
    snapshot = Snapshot("m", "p", NOW, meters=(meter,))
    rows = [0, 1, 2, 3]
    expected = reference(meter, snapshot, window, rows)
    assert expected is not None
    assert window_forecast(meter, snapshot, window, rows) == expected


steady = st.lists(st.one_of(st.integers(min_value=0, max_value=40), st.floats(min_value=0, max_value=40)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(
    steady,
    st.booleans(),
    st.sampled_from(PERIODS),
    st.sampled_from([None, 5000, 1e6]),
    st.sampled_from([None, 2e15, float("nan")]),
    st.integers(min_value=0, max_value=59),
)
def test_steady_windows_are_read_as_the_series_does(
    moves: list[float], balance: bool, period: Period | None, limit: float | None, odd: float | None, at: int
) -> None:
    """The usual window (every row counts) and its near misses: a figure past the bounds or
    NaN somewhere, a meter without a limit, a balance."""
    figure = 100.0 if balance else 10.0
    history = []
    for i, move in enumerate(moves):  # newest first: use falls going back, a balance rises
        figure = figure + move if balance else max(figure - move, 0)
        value = odd if odd is not None and i == at else figure
        meter = (
            Meter("credit", None, None, value, "USD")
            if balance
            else Meter("credit", value, limit, None if limit is None else limit - figure, "USD")
        )
        history.append(_snapshot(NOW - timedelta(seconds=900 * (i + 1)), meter, period))
    window = Window.decode(Window.of(history).encode(), "m")
    meter = Meter("credit", None, None, 90.0, "USD") if balance else Meter("credit", 20, limit, None, "USD")
    snapshot = Snapshot("m", "p", NOW, period=period, meters=(meter,))
    rows = window.before(NOW.timestamp())
    expected = reference(meter, snapshot, window, rows)
    assert window_forecast(meter, snapshot, window, rows) == expected
