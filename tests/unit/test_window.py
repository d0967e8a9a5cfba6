"""The compact window of recent readings: what it keeps, its size, and that rules read it as history."""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quotawatch.core import window
from quotawatch.core.rules import DEFAULT_THRESHOLDS, evaluate
from quotawatch.core.snapshot import CheckError, Condition, ErrorKind, Meter, Period, Severity, Snapshot

T0 = datetime(2026, 11, 24, tzinfo=UTC)
NOVEMBER = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


def reading(minutes: int, used: float | None = 100, *, error: ErrorKind | None = None, **extra: Meter) -> Snapshot:
    at = T0 + timedelta(minutes=minutes)
    if error is not None:
        return Snapshot.failed("acme", "cloudlayer", at, error, "acme: the provider did not answer")
    meters = (Meter("calls", used, 1000, None if used is None else 1000 - used, "calls"), *extra.values())
    return Snapshot(
        "acme", "cloudlayer", at, NOVEMBER, meters, (Condition("plan_inactive", Severity.INFO, "Plan: Pro"),)
    )


def round_trip(readings: list[Snapshot]) -> list[Snapshot]:
    return window.decode(window.encode(readings), "acme")


def test_roll_puts_the_new_reading_first_and_keeps_what_rules_read() -> None:
    rolled = window.roll(reading(30, 300), [reading(0, 100), reading(15, error=ErrorKind.UNAVAILABLE)])

    assert [r.checked_at for r in rolled] == [T0 + timedelta(minutes=m) for m in (30, 15, 0)]
    newest = rolled[0]
    assert newest.meters == (Meter("calls", 300, 1000, 700, ""),)  # units are the current reading's business
    assert newest.period == NOVEMBER
    assert newest.conditions == ()
    assert rolled[1].error == CheckError(ErrorKind.UNAVAILABLE, "")  # the kind counts failures; the text is gone


def test_roll_keeps_the_recent_readings_then_the_first_of_each_hour() -> None:
    history = [reading(-15 * n, 100) for n in range(1, 400)]

    rolled = window.roll(reading(0, 150), history)

    ages = [(T0 - r.checked_at) / timedelta(minutes=1) for r in rolled]
    assert ages[: window.RECENT] == [0, 15, 30, 45]
    hourly = window.WINDOW_SIZE - window.RECENT
    assert ages[window.RECENT : window.WINDOW_SIZE] == [60 * h for h in range(1, hourly + 1)]  # the first of each
    # Past the rows the rules read: the first reading of each hour still, back to the oldest.
    assert ages[window.WINDOW_SIZE :] == [60 * h for h in range(hourly + 1, 100)] + [399 * 15]


def test_the_window_reaches_eight_days_and_stays_small() -> None:
    history = [reading(-15 * n, 100_000 - 7 * n) for n in range(1, 4 * 24 * 10)]  # ten days, a steady burn

    rolled = window.roll(reading(0, 100_000), history)

    oldest = T0 - rolled[-1].checked_at
    assert timedelta(days=8) <= oldest <= timedelta(days=8, hours=1)
    assert len(rolled) == window.RECENT + 8 * 24 + 1
    assert len(window.encode(rolled)) < 1024  # one write unit on a steady burn
    rules_read = window.Window.of(rolled).before(T0.timestamp() + 1)
    assert rules_read == list(range(window.WINDOW_SIZE))  # the rules read the first rows only


@pytest.mark.parametrize(("minutes", "carried"), [(30, True), (60, False)])
def test_the_rows_past_the_first_48_are_carried_over_while_they_do_not_change(minutes: int, carried: bool) -> None:
    """They change about once an hour (a row enters them, the oldest leaves); the runs
    between write their stored form as read."""
    history = [reading(minutes - 15 * n, 100_000 - 7 * n) for n in range(1, 4 * 24 * 10)]
    stored = window.Window.of(history[1:]).rolled(history[0]).encode()

    rolled = window.Window.decode(stored, "acme").rolled(reading(minutes, 100_010))

    assert (rolled.tier is not None) is carried
    again = window.Window.decode(rolled.encode(), "acme")
    assert again.snapshots("acme") == window.roll(reading(minutes, 100_010), history)


def test_every_failure_since_the_last_good_reading_is_kept() -> None:
    failures = [reading(-15 * n, error=ErrorKind.UNAVAILABLE) for n in range(1, 12)]
    good = [reading(-15 * n, 100) for n in range(12, 40)]

    rolled = window.roll(reading(0, error=ErrorKind.UNAVAILABLE), failures + good)

    assert [r.ok for r in rolled[:13]] == [False] * 12 + [True]  # so failures are counted in full
    assert rolled[12].checked_at == T0 - timedelta(minutes=180)


steps = st.lists(st.tuples(st.integers(1, 180), st.booleans()), min_size=1, max_size=150)


@settings(deadline=None)  # up to 150 runs over 8 days of rows: a loaded machine takes over 200 ms
@given(steps)
def test_rolling_run_by_run_keeps_what_rolling_the_whole_history_keeps(checks: list[tuple[int, bool]]) -> None:
    """The window a monitor ends up with does not depend on how many runs built it."""
    minutes = 0
    readings: list[Snapshot] = []
    rolled = window.Window.of([])
    for gap, ok in checks:
        minutes += gap
        new = reading(minutes, 100 + minutes) if ok else reading(minutes, error=ErrorKind.UNAVAILABLE)
        rolled = window.Window.decode(rolled.rolled(new).encode(), "acme")  # as run after run does
        readings.append(new)

    assert rolled.snapshots("acme") == window.roll(readings[-1], readings[:-1])


def test_a_reading_at_the_same_time_replaces_the_stored_one() -> None:
    rolled = window.roll(reading(0, 200), [reading(0, 100)])

    assert [m.used for r in rolled for m in r.meters] == [200]


def test_a_window_round_trips_through_its_json() -> None:
    rolled = window.roll(
        reading(45, 400, storage=Meter("storage", 1.5, None, None, "GB")),
        [
            reading(30, error=ErrorKind.AUTH),
            reading(15, None),
            Snapshot("acme", "cloudlayer", T0, None, (Meter("calls", 0.25, None, 12.75, "USD"),)),
        ],
    )

    assert round_trip(rolled) == rolled


def test_an_empty_window_round_trips() -> None:
    assert round_trip([]) == []


def test_two_days_of_one_climbing_meter_fit_in_one_write_unit() -> None:
    day = window.roll(reading(0, 500), [reading(-15 * n, 500 - n) for n in range(1, 200)])

    stored = window.encode(day)
    text = zlib.decompress(stored).decode()

    # One write unit per KB: the window is rewritten every run, so its size is its cost.
    assert len(stored) <= 1024, len(stored)
    assert len(day) == 54  # 48 rows, then still one an hour back to the oldest reading
    # A limit is stored for the rows the rules read only (past them the burn rule reads
    # `used` alone), and remaining not at all: it is limit minus used in every row.
    assert '"limit":1000}' in text  # the same in every row: once
    assert '"remaining"' not in text
    assert '"steps":[' + ",".join(["900"] * 4 + ["3600"] * 48 + ["2700"]) + "]" in text  # thinned to hours
    assert '"used":[500,' + ",".join(["1"] * 4 + ["4"] * 43) + "]" in text  # a steady burn: steps from the newer one
    # The rows past them, compressed apart (a run carries them over while they do not change).
    tier = zlib.decompressobj()
    tier.decompress(stored)
    assert zlib.decompress(tier.unused_data) == b'{"calls":{"used":[320,[4,4],3]}}'


def test_a_window_of_format_1_is_read_as_it_was_written() -> None:
    """Windows stored before format 2 (JSON text, figures as they are): read once, then the
    run writes format 2."""
    history = [reading(-15 * n, 900 - 4 * n) for n in range(1, 60)]
    history[5] = reading(-90, error=ErrorKind.UNAVAILABLE)
    rolled = window.Window.of(history[1:]).rolled(history[0])
    old = _format_1(rolled.snapshots("acme"))

    assert window.decode(old, "acme") == window.decode(rolled.encode(), "acme")
    again = window.Window.decode(old, "acme").rolled(reading(0, 900)).encode()
    assert json.loads(zlib.decompress(again))["format"] == window.FORMAT


def nine_days() -> list[Snapshot]:
    """Nine days of readings, newest first: failures, a meter now and then missing, a balance in cents."""
    out = []
    for n in range(1, 9 * 24 * 4):
        if n % 37 == 0:
            out.append(reading(-15 * n, error=ErrorKind.UNAVAILABLE))
            continue
        credit = Meter("credit", None, None, 5000 - n * 0.25, "USD")
        out.append(reading(-15 * n, 900 - n // 3) if n % 11 == 0 else reading(-15 * n, 900 - n // 3, credit=credit))
    return out


# What the release before format 4 stored for `nine_days` rolled (format 3: runs, "=" and
# "-" markers in the columns; the same tier of rows past WINDOW_SIZE after them).
FORMAT_3 = base64.b64decode(
    "eAGtkU1ugzAQhe8y62mFAWMcqSexWLjBqSwZiAykqiLu3oeDVEjVXRdoZt78fR7udBliZyc6FUzXONx86yKd6ByGuQ32CwFTdLb1"
    "/cdIJ6EVU+8+3YgOobQslZJZxjRO7oq8MQXrLGvYCF1wUcFtmC7WB9emrGaae3uDYN+DIxSq6pckBGCeyoTElmetBs1Bw7Kri35o"
    "EwsAi1KLHIBwq6wu4K5Aj5oVSOick9S5yUV03elsQ0jOPCZovIcxIH05m5xFw/9tcbYctzjOBmjwnceljSkVi+wBH11nfY//sen0"
    "Rk2zMJ2ja9fiO23gBmfs5xAw54XwR7K/I71LbS371UnCmP3qUmv9qiQnu5n8Ydno9UhrF9J1fYyVOsZV9fNwueuTslmW5Rvy7r9E"
    "eJy1kcEOgjAMht9l55rQrUDHqyw7IHAwWTiInAjvLgOMNFFiRE/N17/d/raDqsoQOlUMqu+aWhWOjQUEDU4D+gMRwRx+Yz+an/h8"
    "HZ0B7f/m/+1u/Aiqujb15ba5iLPQ9iF4UCcFDpMt7Uh79HHbd4X5AhOdy1C2VTNNQTYlcByHjSKQJYptTzbTUrLHgtac1rIGUXKS"
    "CGZm8QfnLPUsl5xm8dTLAWiTp1TWGemVtYlTzn1rBvXi3o/jHeLY2fY="
)


def test_a_window_of_format_3_is_read_as_it_was_written() -> None:
    history = nine_days()
    rolled = window.Window.of(history[1:]).rolled(history[0])

    assert json.loads(zlib.decompressobj().decompress(FORMAT_3))["format"] == 3
    assert window.decode(FORMAT_3, "acme") == window.decode(rolled.encode(), "acme")
    again = window.Window.decode(FORMAT_3, "acme").rolled(reading(15, 900)).encode()
    assert json.loads(zlib.decompressobj().decompress(again))["format"] == window.FORMAT


@pytest.mark.parametrize("rows", [3, 60], ids=["rules-rows", "hourly-rows"])
def test_a_figure_held_once_whole_and_once_with_a_point_reads_back_as_it_was(rows: int) -> None:
    """100 and 100.0 are equal (a balance read back from cents is a float): folded into one
    run of ints (format 3), the second was read back as a step from the first, a balance of 0."""
    balances = [100, 100.0, 99.125, 99, 99.0] * 12
    times = [T0.timestamp() - 3600 * n for n in range(rows)]
    credit = window.Column([None] * rows, [None] * rows, balances[:rows])
    stored = window.Window("cloudlayer", times, [None] * rows, [None] * rows, {"credit": credit}).encode()

    back = window.Window.decode(stored, "acme").full()
    assert back.meters["credit"].remaining == balances[:rows]
    assert 0 not in back.meters["credit"].remaining


def _format_1(readings: list[Snapshot]) -> str:
    """What format 1 stored: the same columns as JSON text, without steps."""
    data = json.loads(zlib.decompress(window.encode(readings)))
    data["format"] = 1
    back = window.Window.decode(window.encode(readings), "acme")
    good = [row for row, kind in enumerate(back.kinds) if kind is None]
    for name, figures in data["meters"].items():
        column = back.meters[name]
        figures["used"] = [column.used[row] for row in good]
        figures["limit"] = [column.limit[row] for row in good]
        figures["remaining"] = [None if column.used[row] is window.ABSENT else column.remaining[row] for row in good]
    return json.dumps(data)


def test_a_failed_reading_and_a_missing_meter_keep_their_place() -> None:
    extra = Meter("storage", 5, 10, 5, "GB")
    rolled = window.roll(
        reading(45, 400, storage=extra), [reading(30, 300), reading(15, error=ErrorKind.UNAVAILABLE), reading(0, 100)]
    )

    back = round_trip(rolled)

    assert [r.meter("storage") is not None for r in back] == [True, False, False, False]
    assert [r.error.kind if r.error else None for r in back] == [None, None, ErrorKind.UNAVAILABLE, None]
    assert [m.used for r in back for m in r.meters if m.name == "calls"] == [400, 300, 100]


def damaged(change: Callable[[dict[str, Any]], object]) -> bytes:
    """A good window's stored form with one part damaged."""
    data = json.loads(zlib.decompress(window.encode(window.roll(reading(15, 200), [reading(0, error=ErrorKind.AUTH)]))))
    change(data)
    return zlib.compress(json.dumps(data).encode())


def damaged_3(change: Callable[[dict[str, Any]], object]) -> bytes:
    """The rows the rules read of FORMAT_3, with one part damaged."""
    data = json.loads(zlib.decompressobj().decompress(FORMAT_3))
    change(data)
    return zlib.compress(json.dumps(data).encode())


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        b"not compressed",
        "[]",
        json.dumps({"format": 99, "readings": 0}),
        damaged(lambda d: d.pop("provider")),
        damaged(lambda d: d.update(steps=[900, 900])),  # more times than readings
        damaged(lambda d: d["meters"]["calls"].update(used=[])),  # a column too short
        damaged(lambda d: d["meters"]["calls"].update(used=["lots"])),
        damaged(lambda d: d.update(failed=[[1, "gone"]])),
        damaged(lambda d: d.update(period=[7])),  # no such period
        damaged(lambda d: d.update(steps=[[0, 900]])),  # a run, which format 4 does not write
        damaged(lambda d: d["meters"]["calls"].update(absent=[-1])),
        damaged(lambda d: d["meters"]["calls"].update(absent=[5])),  # past the rows
        damaged(lambda d: d["meters"]["calls"].update(remaining=[1, 2, 3])),
        damaged(lambda d: d["meters"]["calls"].update(spare=[1])),
        damaged_3(lambda d: d["meters"]["calls"].update(used=[[0, 5], 900])),  # a run of no readings
        damaged_3(lambda d: d["meters"]["calls"].update(used=["lots"])),
        damaged_3(lambda d: d.update(steps=[900])),
    ],
    ids=[
        "empty",
        "not-json",
        "not-compressed",
        "not-an-object",
        "unknown-format",
        "no-provider",
        "too-many-times",
        "short-column",
        "text-figure",
        "unknown-kind",
        "unknown-period",
        "a-run",
        "absent-before",
        "absent-after",
        "remaining-too-long",
        "unknown-column",
        "format-3-empty-run",
        "format-3-text-figure",
        "format-3-too-few-times",
    ],
)
def test_an_unreadable_window_is_a_clear_error_naming_the_monitor(text: str | bytes) -> None:
    with pytest.raises(window.BadWindow, match="window of acme"):
        window.decode(text, "acme")


def test_rules_read_the_window_as_they_read_the_snapshots() -> None:
    """Levels, resets and failure counts come out the same from the window as from every
    snapshot; on a steady burn, so does the forecast."""
    history = [reading(-15 * n, 900 - 4 * n) for n in range(1, 200)]
    history[3] = reading(-60, error=ErrorKind.UNAVAILABLE)
    streak = [reading(-15 * n, error=ErrorKind.UNAVAILABLE) for n in range(1, 6)] + history[5:]
    cases = [(reading(0, 900), history), (reading(0, error=ErrorKind.RATE_LIMITED), streak), (reading(0, 30), history)]

    for current, snapshots in cases:
        from_window = round_trip(window.roll(snapshots[0], snapshots[1:]))
        columns = window.Window.decode(window.Window.of(snapshots[1:]).rolled(snapshots[0]).encode(), "acme")
        full = evaluate(current, snapshots[:96], lambda _: DEFAULT_THRESHOLDS)
        compact = evaluate(current, from_window, lambda _: DEFAULT_THRESHOLDS)
        assert [(s.key, s.level, s.failures, s.reset) for s in compact.signals] == [
            (s.key, s.level, s.failures, s.reset) for s in full.signals
        ]
        assert evaluate(current, columns, lambda _: DEFAULT_THRESHOLDS) == compact  # as a run reads it
        assert compact.trends.keys() == full.trends.keys()
        for name, trend in full.trends.items():
            assert compact.trends[name].per_day == pytest.approx(trend.per_day)
    failing = round_trip(window.roll(streak[0], streak[1:]))
    [check] = evaluate(reading(0, error=ErrorKind.RATE_LIMITED), failing, lambda _: DEFAULT_THRESHOLDS).signals
    assert check.failures == 6  # the whole streak, even past the hourly thinning


figures = st.none() | st.integers(-(10**12), 10**12).map(float) | st.floats(allow_nan=False, allow_infinity=False)
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)).map(
    lambda t: t.replace(microsecond=0)
)
snapshots = st.builds(
    Snapshot,
    monitor=st.just("acme"),
    provider=st.just("cloudlayer"),
    checked_at=times,
    period=st.none() | st.builds(Period, st.none() | times, st.none() | times),
    meters=st.lists(
        st.builds(Meter, st.text(min_size=1, max_size=12), figures, figures, figures, st.text(max_size=8)), max_size=4
    ).map(tuple),
    conditions=st.just(()),
    error=st.none() | st.builds(CheckError, st.sampled_from(ErrorKind), st.text(max_size=40)),
)


@given(snapshots, st.lists(snapshots, max_size=30))
def test_any_rolled_window_survives_its_json(newest: Snapshot, history: list[Snapshot]) -> None:
    rolled = window.roll(newest, history)

    assert len(rolled) <= window.WINDOW_SIZE
    assert round_trip(rolled) == rolled


def test_the_rows_past_the_first_48_are_decoded_only_when_read() -> None:
    history = [reading(30 - 15 * n, 100_000 - 7 * n) for n in range(1, 4 * 24 * 10)]
    stored = window.Window.of(history[1:]).rolled(history[0]).encode()

    lazy = window.Window.decode(stored, "acme")

    assert len(lazy) > window.WINDOW_SIZE
    assert len(lazy.meters["calls"].used) == window.WINDOW_SIZE  # the rules' rows only, until asked
    assert (
        lazy.rolled(reading(30, 100_010)).encode()
        == window.Window.decode(stored, "acme").full().rolled(reading(30, 100_010)).encode()
    )
    assert lazy.snapshots("acme") == window.roll(history[0], history[1:])


def test_the_burn_rules_floors_are_kept_after_the_rows_and_carried_over() -> None:
    history = [reading(30 - 15 * n, 100_000 - 7 * n) for n in range(1, 4 * 24 * 10)]
    stored = window.Window.of(history[1:]).rolled(history[0])
    stored.floors = (493_000, {"calls": 28.0})

    read = window.Window.decode(stored.encode(), "acme")

    assert read.floors == (493_000, {"calls": 28.0})
    assert read.rolled(reading(30, 100_010)).floors == (493_000, {"calls": 28.0})
    assert read.snapshots("acme") == window.Window.decode(stored.encode(), "acme").snapshots("acme")


def test_unreadable_rows_past_the_first_48_are_dropped_when_read() -> None:
    """They are decoded after the run has started: the burn rule waits for 8 days again
    rather than the run failing."""
    history = [reading(30 - 15 * n, 100_000 - 7 * n) for n in range(1, 4 * 24 * 10)]
    stored = window.Window.of(history[1:]).rolled(history[0]).encode()
    head = zlib.decompressobj()
    head.decompress(stored)
    broken = stored[: len(stored) - len(head.unused_data)] + zlib.compress(b'{"calls":{"used":[1]}}')

    read = window.Window.decode(broken, "acme").full()

    assert len(read) == window.WINDOW_SIZE
    assert read.snapshots("acme") == window.roll(history[0], history[1:])[: window.WINDOW_SIZE]


def _batch_history(days: int) -> list[Snapshot]:
    """15-minute readings, oldest first, of a meter whose nightly batch runs from 04:45 to
    05:45 at 50 times its usual 4 calls a quarter hour."""
    out, used = [], 0
    for n in range(days * 96):
        at = T0 + timedelta(minutes=15 * n)
        used += 200 if 4 * 60 + 45 < at.hour * 60 + at.minute <= 5 * 60 + 45 else 4
        out.append(reading(15 * n, used))
    return out


def test_the_hours_a_batch_starts_and_ends_in_keep_their_shape_through_the_stored_form() -> None:
    stored = window.Window.of([]).encode()
    for snapshot in _batch_history(10):
        stored = window.Window.decode(stored, "acme").rolled(snapshot).encode()  # run by run, as the check

    read = window.Window.decode(stored, "acme")
    shapes = read.shapes()["calls"]

    hours = sorted(shapes)
    oldest = int(read.times[-1]) // 3600
    assert hours[0] >= oldest  # none older than the rows
    assert {hour % 24 for hour in hours} == {4, 5}  # the batch's edges, every day the window holds
    assert len(hours) == 2 * 8
    assert {shapes[hour] for hour in hours if hour % 24 == 4} == {0xBBB0}  # 04:45: a quarter at 50x
    assert {shapes[hour] for hour in hours if hour % 24 == 5} == {0x000B}  # 05:00 to 05:45: three quarters
    assert read.rolled(reading(10 * 96 * 15, 10**6)).shapes()["calls"] == shapes  # carried over


def test_no_shape_is_kept_of_an_even_hour_or_without_every_quarter() -> None:
    steady = [reading(15 * n, 7 * n) for n in range(3 * 96)]
    rolled = window.Window.of([])
    for snapshot in steady:
        rolled = rolled.rolled(snapshot)
    assert rolled.shapes() == {}
    # The readings of 05:30 and 05:45 failed: the hour the batch ends in keeps no shape.
    failed = [
        reading((s.checked_at - T0) // timedelta(minutes=1), error=ErrorKind.UNAVAILABLE)
        if s.checked_at.hour == 5 and s.checked_at.minute >= 30
        else s
        for s in _batch_history(3)
    ]
    rolled = window.Window.of([])
    for snapshot in failed:
        rolled = rolled.rolled(snapshot)
    assert {hour % 24 for hour in rolled.shapes()["calls"]} == {4}


def _cents_history() -> list[Snapshot]:
    """Three days of a balance in USD falling 37 cents every 15 minutes."""
    return [
        Snapshot(
            "acme",
            "cloudlayer",
            T0 + timedelta(minutes=15 * n),
            NOVEMBER,
            (Meter("credit", None, None, round(500 - 0.37 * n, 2), "USD"),),
        )
        for n in range(4 * 24 * 3)
    ]


def test_a_balance_with_cents_is_kept_in_whole_hundredths_past_the_first_48() -> None:
    history = _cents_history()
    rolled = window.Window.of([])
    for snapshot in history:
        rolled = rolled.rolled(snapshot)
    stored = rolled.encode()
    head = zlib.decompressobj()
    head.decompress(stored)
    tier = json.loads(zlib.decompressobj().decompress(head.unused_data))

    assert set(tier["credit"]) == {"used", "balance100"}
    assert window.Window.decode(stored, "acme").snapshots("acme") == rolled.snapshots("acme")


def test_a_window_stored_before_shapes_and_hundredths_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its rows past the first 48 hold figures as they are, and no shapes."""
    history = _cents_history()
    monkeypatch.setattr(window, "_hundredths", lambda values: None)  # as it was written
    old = window.Window.of(history)._trimmed()
    stored = old.encode()
    head = zlib.decompressobj()
    head.decompress(stored)
    assert set(json.loads(zlib.decompressobj().decompress(head.unused_data))["credit"]) == {"used", "balance"}
    monkeypatch.undo()

    read = window.Window.decode(stored, "acme")

    assert read.snapshots("acme") == old.snapshots("acme")
    assert read.shapes() == {}
