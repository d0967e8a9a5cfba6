"""Figures that cannot be true: a broken answer, not a reading.

A provider's answer can parse and still say something no account can have: a negative
count, a figure past any plausible range, a use a thousand times the limit. Such an answer
is a `bad_response` check error: it is never a breach, and never a clear. What a real
account can show stays a reading, however odd:

- used over the limit: over quota, critical;
- a limit of 0: no allowance; critical once anything is used, otherwise the meter keeps
  its level (it never reads as back to normal);
- a negative `remaining`: an overdrawn balance, under any floor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from quotawatch.core.snapshot import Meter

# No account counts to a quadrillion; providers use such figures to mean "unlimited".
PLAUSIBLE_MAX = 1e15
# Use this many times the limit is a misread unit (MB as GB), not an overage.
OVER_LIMIT_FACTOR = 1000


def check_figures(meters: Iterable[Meter]) -> str | None:
    """Why these meters cannot be a true reading (naming the meter and figure), or None.

    The check stores a snapshot with such meters as a `bad_response` check error instead.
    """
    for meter in meters:
        problem = meter_problem(meter)
        if problem is not None:
            return f"meter '{meter.name}': {problem}"
    return None


def meter_problem(meter: Meter) -> str | None:
    """What makes one meter's figures impossible, or None when they can be a reading."""
    for name, value in (("used", meter.used), ("limit", meter.limit), ("remaining", meter.remaining)):
        if value is None:
            continue
        if value.__class__ is int or (value.__class__ is float and value - value == 0):
            # The usual figure, in one test: an int, or a float that is finite (inf - inf
            # and NaN - NaN are NaN); every reading of every run is checked.
            if not -PLAUSIBLE_MAX <= value <= PLAUSIBLE_MAX:
                return f"{name} is beyond any plausible figure ({_short(value)})"
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{name} is not a number"
        if isinstance(value, float) and not math.isfinite(value):
            return f"{name} is not a finite number"
        if not plausible(value):
            return f"{name} is beyond any plausible figure ({_short(value)})"
    used, cap = meter.used, meter.limit
    if used is not None and used < 0:
        return f"used is negative ({_short(used)})"
    if cap is not None and cap < 0:
        return f"limit is negative ({_short(cap)})"
    if cap is None:
        return None
    if used is None and meter.remaining is not None:  # the use the percent is computed from
        if meter.remaining > cap:
            return f"remaining ({_short(meter.remaining)}) is more than the limit ({_short(cap)})"
        used = cap - meter.remaining
    if used is not None and cap > 0 and used > cap * OVER_LIMIT_FACTOR:
        return f"used ({_short(used)}) is more than {OVER_LIMIT_FACTOR:,} times the limit ({_short(cap)})"
    return None


def plausible(value: float) -> bool:
    """A finite figure within what any account can show (either sign).

    One chained comparison: NaN and the infinities fail it, and an integer past float range
    is compared exactly. Forecasts ask this of every reading in a window.
    """
    return -PLAUSIBLE_MAX <= value <= PLAUSIBLE_MAX


def _short(value: float) -> str:
    """A figure for an error message: exact when small, scientific when not."""
    try:
        if abs(value) < 1e9:
            return f"{float(value):.15g}"
        return f"{float(value):.3g}"
    except OverflowError:
        return "beyond float range"
