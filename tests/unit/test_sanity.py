"""Figures that cannot be true are a broken answer; odd figures a real account can show are readings."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quotawatch.core.sanity import OVER_LIMIT_FACTOR, PLAUSIBLE_MAX, check_figures, meter_problem, plausible
from quotawatch.core.snapshot import Meter
from quotawatch.providers import parsing as p

NAN, INF = math.nan, math.inf


@pytest.mark.parametrize(
    ("meter", "problem"),
    [
        (Meter("calls", -5, 1000, 1005, "calls"), "used is negative (-5)"),
        (Meter("calls", -0.4, 1000, None, "calls"), "used is negative (-0.4)"),
        (Meter("calls", 5, -3, None, "calls"), "limit is negative (-3)"),
        (Meter("calls", NAN, 1000, None, "calls"), "used is not a finite number"),
        (Meter("calls", 5, INF, None, "calls"), "limit is not a finite number"),
        (Meter("credit", None, None, -INF, "USD"), "remaining is not a finite number"),
        (Meter("calls", 1e308, 1000, 0, "calls"), "used is beyond any plausible figure (1e+308)"),
        (Meter("credit", None, None, -2e15, "USD"), "remaining is beyond any plausible figure (-2e+15)"),
        (Meter("calls", 10**400, None, None, "calls"), "used is beyond any plausible figure (beyond float range)"),
        (Meter("calls", 1_000_001, 1000, 0, "calls"), "used (1000001) is more than 1,000 times the limit (1000)"),
        (Meter("calls", None, 1000, 1200, "calls"), "remaining (1200) is more than the limit (1000)"),
        (Meter("calls", None, 1e-300, -1e15, "calls"), "used (1e+15) is more than 1,000 times the limit (1e-300)"),
        (Meter("calls", True, 1000, None, "calls"), "used is not a number"),
    ],
)
def test_figures_that_cannot_be_true(meter: Meter, problem: str) -> None:
    assert meter_problem(meter) == problem
    assert check_figures([Meter("ok", 1, 2, 1, "calls"), meter]) == f"meter '{meter.name}': {problem}"


@pytest.mark.parametrize(
    "meter",
    [
        Meter("calls", 842, 1000, 158, "calls"),
        Meter("calls", 1500, 1000, 0, "calls"),  # over the limit: a real overage, critical
        Meter("calls", 1000 * OVER_LIMIT_FACTOR, 1000, 0, "calls"),  # the factor itself is still a reading
        Meter("calls", 5, 0, 0, "calls"),  # use against no allowance: critical
        Meter("calls", 0, 0, 0, "calls"),  # no allowance, unused
        Meter("credit", None, None, -12.5, "USD"),  # an overdrawn balance
        Meter("credit", 105, 100, -5, "USD"),  # overdrawn against the deposits
        Meter("credit", None, None, None, "credits"),  # nothing known is not impossible
        Meter("calls", PLAUSIBLE_MAX, None, None, "calls"),
        Meter("calls", 0.0, 1e-9, None, "calls"),
    ],
)
def test_odd_figures_a_real_account_can_show_are_readings(meter: Meter) -> None:
    assert meter_problem(meter) is None
    assert check_figures([meter]) is None


def test_no_meters_is_no_problem() -> None:
    assert check_figures([]) is None


def test_plausible_never_raises() -> None:
    assert all(plausible(v) for v in (0, -PLAUSIBLE_MAX, PLAUSIBLE_MAX, 10**15))
    assert not any(plausible(v) for v in (NAN, INF, -INF, 10**400, -(10**400)))


def test_the_unlimited_sentinel_and_the_plausible_bound_agree() -> None:
    assert p.UNLIMITED_AT == PLAUSIBLE_MAX


def test_require_plausible_raises_a_bad_response_naming_the_meter() -> None:
    good = (Meter("calls", 842, 1000, 158, "calls"),)
    assert p.require_plausible(good) is good
    with pytest.raises(p.BadResponse, match=r"figures that cannot be true: meter 'calls': used is negative \(-5\)"):
        p.require_plausible((Meter("calls", -5, 1000, 1005, "calls"),))


figures = st.none() | st.floats() | st.integers() | st.sampled_from([10**400, -(10**400), PLAUSIBLE_MAX, -1e-300])


@settings(max_examples=300, deadline=None)
@given(used=figures, limit=figures, remaining=figures)
def test_any_figures_give_a_reason_or_none_and_never_raise(
    used: float | None, limit: float | None, remaining: float | None
) -> None:
    meter = Meter("calls", used, limit, remaining, "calls")
    problem = meter_problem(meter)
    assert problem is None or (problem and "nan" not in problem and "inf)" not in problem)
    if problem is None:  # what passes is finite, within range and never negative use
        for value in (used, limit, remaining):
            assert value is None or plausible(value)
        assert used is None or used >= 0
        assert limit is None or limit >= 0
        pct = meter.percent_used
        assert pct is None or 0 <= pct <= 100 * OVER_LIMIT_FACTOR
