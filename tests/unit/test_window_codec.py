"""The window's stored form gives back, for the rows the rules read, every figure as it was:
whatever mix of ints, floats, None, absent meters, failures and derived balances a window holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from quotawatch.core.snapshot import ErrorKind, Meter, Period, Snapshot
from quotawatch.core.window import WINDOW_SIZE, Window

T0 = datetime(2026, 11, 24, tzinfo=UTC)
PERIOD = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
figures = st.one_of(st.none(), st.integers(-5, 10**12), st.floats(-1e6, 1e12, allow_nan=False), st.just(2**60))


@st.composite
def meters(draw: st.DrawFn, name: str) -> Meter | None:
    if draw(st.integers(0, 9)) == 0:
        return None  # this reading has no such meter
    used, limit = draw(figures), draw(st.sampled_from([None, 1000, 10**9, 2.5]))
    if limit is not None and used is not None and draw(st.booleans()):
        return Meter(name, used, limit, limit - used, "u")  # stored as "=": limit minus used
    return Meter(name, used, limit, draw(figures), "u")


@st.composite
def readings(draw: st.DrawFn) -> list[Snapshot]:
    out = []
    for n in range(draw(st.integers(0, 60))):
        at = T0 - timedelta(seconds=900 * n + draw(st.integers(0, 899)))
        if draw(st.integers(0, 7)) == 0:
            out.append(Snapshot.failed("m", "p", at, ErrorKind.UNAVAILABLE, "down"))
            continue
        found = tuple(m for name in ("a", "b", "c") if (m := draw(meters(name))) is not None)
        out.append(Snapshot("m", "p", at, draw(st.sampled_from([None, PERIOD])), found))
    return out


@settings(max_examples=120, deadline=None)  # 60 readings of 3 meters each: slow to draw
@given(readings())
def test_the_rows_the_rules_read_come_back_as_they_were(history: list[Snapshot]) -> None:
    window = Window.of(history)
    back = Window.decode(window.encode(), "m")
    head = min(len(window), WINDOW_SIZE)
    assert back.times == [float(int(t)) for t in window.times] or back.times == [int(t) for t in window.times]
    assert back.kinds == window.kinds
    assert back.periods == window.periods
    for name, column in window.meters.items():
        if name not in back.meters:  # only in rows past the first 48, which keep `used` alone
            assert all(u == "-" for u in column.used[:head])
            continue
        got = back.meters[name]
        assert got.used[:head] == column.used[:head]
        assert got.limit[:head] == column.limit[:head]
        assert got.remaining[:head] == column.remaining[:head]
        assert [type(v) for v in got.used[:head]] == [type(v) for v in column.used[:head]]
