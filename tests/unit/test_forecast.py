"""Forecasts: a least-squares burn rate over the current period's readings, and when it runs out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quotawatch.core.forecast import MIN_READINGS, MIN_SPAN, Forecast, forecast, period_forecast, period_points
from quotawatch.core.snapshot import ErrorKind, Meter, Period, Snapshot
from quotawatch.core.window import Window

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
NOVEMBER = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
DECEMBER = Period(datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def calls(used: float, limit: float | None = 1000) -> Meter:
    return Meter("calls", used, limit, None if limit is None else limit - used, "calls")


def credit(remaining: float) -> Meter:
    return Meter("credit", None, None, remaining, "credits")


def readings(step: timedelta, *meters: Meter) -> list[tuple[datetime, Meter]]:
    """Earlier readings ending one `step` before NOW, oldest first."""
    return [(NOW - step * (len(meters) - i), m) for i, m in enumerate(meters)]


def snap(at: datetime, *meters: Meter, period: Period | None = NOVEMBER) -> Snapshot:
    return Snapshot("m", "cloudlayer", at, period=period, meters=meters)


def failed(at: datetime) -> Snapshot:
    return Snapshot.failed("m", "cloudlayer", at, ErrorKind.UNAVAILABLE, "down")


def period_readings(name: str, current: Snapshot, history: list[Snapshot]) -> list[tuple[datetime, float]]:
    """The earlier readings `period_points` keeps, newest first: (time, used, else the balance)."""
    window = Window.of(history)
    rows = [row for row, at in enumerate(window.times) if at < current.checked_at.timestamp()]
    times, values = period_points(name, current, window, rows, by_limit=name != "credit")
    return [(datetime.fromtimestamp(at, UTC), value) for at, value in zip(times, values, strict=True)]


# --- the burn rate -------------------------------------------------------------------------------


def test_a_steady_climb_gives_its_rate_and_the_day_it_reaches_the_limit() -> None:
    trend = forecast(calls(300), readings(DAY, calls(100), calls(200)), NOW)

    assert trend is not None
    assert trend.meter == "calls"
    assert trend.unit == "calls"
    assert trend.per_day == pytest.approx(100)
    assert trend.runs_out_at == NOW + timedelta(days=7)  # 700 left at 100 a day


def test_the_rate_is_a_least_squares_line_so_one_odd_reading_does_not_swing_it() -> None:
    # 100 a day, with one reading 60 high: the fit stays near 100, far from the last step's 40.
    history = readings(DAY, calls(100), calls(200), calls(360), calls(400))
    trend = forecast(calls(500), history, NOW)

    assert trend is not None
    assert 90 < trend.per_day < 110


def test_readings_may_come_in_any_order() -> None:
    history = readings(DAY, calls(100), calls(200), calls(250))
    assert forecast(calls(300), history, NOW) == forecast(calls(300), list(reversed(history)), NOW)


def test_a_reading_at_the_current_time_counts_once() -> None:
    """The current reading is one of the points: an earlier copy of it at NOW is not a second."""
    history = [(NOW - DAY, calls(100)), (NOW, calls(150))]
    assert forecast(calls(200), history, NOW) is None  # two distinct times only


@pytest.mark.parametrize("earlier", [0, 1])
def test_too_few_readings_give_no_forecast(earlier: int) -> None:
    history = readings(DAY, *[calls(100 * (i + 1)) for i in range(earlier)])
    assert MIN_READINGS == 3
    assert forecast(calls(500), history, NOW) is None


def test_too_short_a_span_gives_no_forecast() -> None:
    step = timedelta(minutes=29, seconds=59)  # three readings over 59:58
    assert forecast(calls(300), readings(step, calls(100), calls(200)), NOW) is None


def test_a_span_of_exactly_the_minimum_is_enough() -> None:
    assert MIN_SPAN == HOUR
    trend = forecast(calls(300), readings(HOUR / 2, calls(100), calls(200)), NOW)
    assert trend is not None
    assert trend.per_day == pytest.approx(200 * 24)


def test_readings_without_the_figure_do_not_count() -> None:
    unknown = Meter("calls", None, 1000, None, "calls")
    assert forecast(calls(300), readings(DAY, unknown, calls(200)), NOW) is None


def test_flat_usage_is_not_burning() -> None:
    trend = forecast(calls(500), readings(DAY, calls(500), calls(500)), NOW)
    assert trend == Forecast("calls", 0.0, None, "calls")
    assert not trend.runs_out_before(NOW + timedelta(days=10_000))


def test_falling_usage_is_not_burning() -> None:
    trend = forecast(calls(300), readings(DAY, calls(500), calls(400)), NOW)
    assert trend is not None
    assert trend.per_day == pytest.approx(-100)
    assert trend.runs_out_at is None


def test_already_over_the_limit_runs_out_now() -> None:
    trend = forecast(calls(1100), readings(DAY, calls(900), calls(1000)), NOW)
    assert trend is not None
    assert trend.runs_out_at == NOW


def test_a_rate_too_slow_to_matter_within_ten_years_has_no_run_out_date() -> None:
    big = 10**9
    trend = forecast(calls(2, big), readings(DAY, calls(0, big), calls(1, big)), NOW)
    assert trend is not None
    assert trend.per_day == pytest.approx(1)
    assert trend.runs_out_at is None


def test_an_unlimited_meter_has_nothing_to_run_out_of() -> None:
    assert forecast(calls(300, None), readings(DAY, calls(100, None), calls(200, None)), NOW) is None


def test_a_limit_with_only_remaining_known_burns_by_remaining() -> None:
    def left(remaining: float) -> Meter:
        return Meter("calls", None, 1000, remaining, "calls")

    trend = forecast(left(600), readings(DAY, left(800), left(700)), NOW)
    assert trend is not None
    assert trend.per_day == pytest.approx(100)
    assert trend.runs_out_at == NOW + timedelta(days=6)


# --- balances ------------------------------------------------------------------------------------


def test_a_balance_burns_as_it_falls_and_runs_out_at_zero() -> None:
    trend = forecast(credit(800), readings(DAY, credit(1000), credit(900)), NOW)

    assert trend is not None
    assert trend.per_day == pytest.approx(100)
    assert trend.unit == "credits"
    assert trend.runs_out_at == NOW + timedelta(days=8)


def test_a_growing_balance_does_not_run_out() -> None:
    trend = forecast(credit(1200), readings(DAY, credit(1000), credit(1100)), NOW)
    assert trend is not None
    assert trend.per_day == pytest.approx(-100)
    assert trend.runs_out_at is None


def test_an_empty_balance_still_burning_runs_out_now() -> None:
    trend = forecast(credit(0), readings(DAY, credit(200), credit(100)), NOW)
    assert trend is not None
    assert trend.runs_out_at == NOW


def test_runs_out_before_includes_the_horizon_itself() -> None:
    trend = Forecast("calls", 100, NOW + DAY, "calls")
    assert trend.runs_out_before(NOW + DAY)
    assert not trend.runs_out_before(NOW + DAY - timedelta(seconds=1))
    assert not Forecast("calls", 0, None, "calls").runs_out_before(NOW + DAY * 10_000)


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(min_value=0.5, max_value=10_000),
    start=st.floats(min_value=0, max_value=1_000),
    count=st.integers(min_value=2, max_value=12),
    hours=st.integers(min_value=1, max_value=24),
)
def test_a_straight_line_is_recovered_exactly(rate: float, start: float, count: int, hours: int) -> None:
    """Whatever the rate and spacing, readings on a line give that line's rate and run-out."""
    step = timedelta(hours=hours)
    limit = start + rate * (count + 1) * hours / 24 * 3  # well ahead of the last reading
    points = [calls(start + rate * i * hours / 24, limit) for i in range(count + 1)]
    trend = forecast(points[-1], readings(step, *points[:-1]), NOW)

    assert trend is not None
    assert trend.per_day == pytest.approx(rate, rel=1e-6)
    assert trend.runs_out_at is not None
    used = points[-1].used
    assert used is not None
    expected = NOW + timedelta(days=(limit - used) / rate)
    assert abs((trend.runs_out_at - expected).total_seconds()) < 60


# --- which readings: the current period ------------------------------------------------------------


def test_period_readings_are_the_earlier_successful_readings_of_the_meter_newest_first() -> None:
    history = [
        snap(NOW - 3 * HOUR, calls(100)),
        failed(NOW - 2 * HOUR),  # a failed check is skipped, not a break
        snap(NOW - HOUR, credit(50)),  # a reading without this meter is skipped
        snap(NOW - HOUR / 2, calls(200)),
        snap(NOW, calls(300)),  # the current one: not an earlier reading
        snap(NOW + HOUR, calls(400)),  # later than the current one: ignored
    ]
    current = snap(NOW, calls(300))

    assert period_readings("calls", current, history) == [(NOW - HOUR / 2, 200), (NOW - 3 * HOUR, 100)]


def test_a_drop_in_usage_ends_the_window() -> None:
    """990 then 120: a reset the provider did not date. Only readings since count."""
    history = [
        snap(NOW - 4 * HOUR, calls(900), period=None),
        snap(NOW - 3 * HOUR, calls(990), period=None),
        snap(NOW - 2 * HOUR, calls(120), period=None),
        snap(NOW - HOUR, calls(150), period=None),
    ]
    current = snap(NOW, calls(180), period=None)

    assert [at for at, _ in period_readings("calls", current, history)] == [NOW - HOUR, NOW - 2 * HOUR]
    assert period_forecast(current.meters[0], current, history) is not None


def test_a_drop_right_before_the_current_reading_leaves_nothing() -> None:
    history = [snap(NOW - 2 * HOUR, calls(900)), snap(NOW - HOUR, calls(990))]
    current = snap(NOW, calls(40))

    assert period_readings("calls", current, history) == []
    assert period_forecast(current.meters[0], current, history) is None


def test_a_top_up_of_a_balance_ends_the_window() -> None:
    history = [
        snap(NOW - 4 * HOUR, credit(100)),
        snap(NOW - 3 * HOUR, credit(50)),  # then topped up to 1000
        snap(NOW - 2 * HOUR, credit(1000)),
        snap(NOW - HOUR, credit(950)),
    ]
    current = snap(NOW, credit(900))

    assert period_readings("credit", current, history) == [(NOW - HOUR, 950), (NOW - 2 * HOUR, 1000)]
    trend = period_forecast(current.meters[0], current, history)
    assert trend is not None
    assert trend.per_day == pytest.approx(50 * 24)


def test_a_new_period_ends_the_window() -> None:
    history = [
        snap(NOW - 3 * HOUR, calls(500), period=NOVEMBER),
        snap(NOW - 2 * HOUR, calls(600), period=NOVEMBER),
        snap(NOW - HOUR, calls(700), period=DECEMBER),
    ]
    current = snap(NOW, calls(800), period=DECEMBER)  # usage did not drop, yet the period moved

    assert [at for at, _ in period_readings("calls", current, history)] == [NOW - HOUR]


def test_a_reading_without_a_period_ends_a_dated_window() -> None:
    history = [snap(NOW - 2 * HOUR, calls(100), period=None), snap(NOW - HOUR, calls(200))]
    current = snap(NOW, calls(300))

    assert [at for at, _ in period_readings("calls", current, history)] == [NOW - HOUR]


def test_without_a_period_all_readings_since_the_last_drop_count() -> None:
    history = [snap(NOW - i * HOUR, calls(1000 - 100 * i), period=DECEMBER if i % 2 else None) for i in (3, 2, 1)]
    current = snap(NOW, calls(1000), period=None)

    assert len(period_readings("calls", current, history)) == 3


def test_a_window_through_period_readings_forecasts_the_meter() -> None:
    history = [snap(NOW - (3 - i) * DAY, calls(200 + 100 * i)) for i in range(3)]
    current = snap(NOW, calls(500))

    trend = period_forecast(current.meters[0], current, history)
    assert trend is not None
    assert trend.per_day == pytest.approx(100)
    assert trend.runs_out_at == NOW + 5 * DAY


def test_a_zero_limit_gives_no_forecast() -> None:
    meter = Meter("optimizations", 3, 0, 0, "optimizations")
    earlier = [
        (NOW - HOUR * 3, Meter("optimizations", 1, 0, 0, "optimizations")),
        (NOW - HOUR * 2, Meter("optimizations", 2, 0, 0, "optimizations")),
    ]
    assert forecast(meter, earlier, NOW) is None


# --- figures that cannot be true ------------------------------------------------------------------


def test_impossible_figures_project_nothing() -> None:
    history = readings(DAY, calls(100), calls(200))
    assert forecast(Meter("calls", 1e308, 1000, 0, "calls"), history, NOW) is None
    assert (
        forecast(Meter("credit", None, None, float("inf"), "credits"), readings(DAY, credit(9), credit(8)), NOW) is None
    )


def test_an_impossible_earlier_reading_is_no_point_of_the_line() -> None:
    odd = Meter("calls", float("nan"), 1000, None, "calls")
    trend = forecast(calls(400), readings(DAY, calls(0), calls(100), odd, calls(300)), NOW)
    assert trend is not None
    assert trend.per_day == pytest.approx(100)


extreme = st.floats() | st.sampled_from([1e308, -1e308, 5e-324, 1e15, -1e15, 0.0])


@settings(max_examples=200, deadline=None)
@given(values=st.lists(extreme, min_size=3, max_size=6), limit=st.none() | extreme)
def test_any_figures_give_a_finite_forecast_or_none(values: list[float], limit: float | None) -> None:
    meters = [Meter("calls", v, limit, v, "calls") for v in values]
    trend = forecast(meters[-1], readings(HOUR, *meters[:-1]), NOW)
    assert trend is None or trend.per_day == trend.per_day  # never nan
