"""The burn signal wired in: evaluated from 8 days of the window, raised once and cleared
once through the alert state machine, in its messages and its PagerDuty incident."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from quotawatch.config import Monitor
from quotawatch.core import rules
from quotawatch.core.alerts import Notice, SignalState, decide
from quotawatch.core.bounds import TRUNCATED
from quotawatch.core.burn import DEFAULT_BURN, BurnSettings
from quotawatch.core.channels import dedup_key
from quotawatch.core.digest import DigestInput, render_digest
from quotawatch.core.messages import SMS_MAX, render
from quotawatch.core.record import StoredMonitor
from quotawatch.core.rules import DEFAULT_POLICY, DEFAULT_THRESHOLDS, Level, Thresholds, evaluate
from quotawatch.core.snapshot import Condition, Meter, Period, Severity, Snapshot
from quotawatch.core.status import MeterStatus, status_rows
from quotawatch.core.window import WINDOW_SIZE, Window

START = datetime(2026, 11, 16, tzinfo=UTC)  # a Monday
TICK = timedelta(minutes=15)
PERIOD = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
USUAL = 2.0  # dollars an hour
KEY = "burn:spend"


def spend(at: datetime, used: float) -> Snapshot:
    return Snapshot("acme", "openrouter", at, PERIOD, (Meter("spend", round(used, 2), None, None, "USD"),))


@dataclass
class Run:
    """Check runs one after another, as the check function makes them: evaluate, decide, roll."""

    thresholds: Thresholds = DEFAULT_THRESHOLDS
    window: Window = field(default_factory=lambda: Window.of([]))
    states: dict[str, SignalState] = field(default_factory=dict)
    notices: list[tuple[int, Notice, str, str]] = field(default_factory=list)  # tick, notice, subject, sms
    used: float = 0.0
    tick: int = 0

    def at(self) -> datetime:
        return START + self.tick * TICK

    def step(self, rate: float = USUAL, snapshot: Snapshot | None = None) -> None:
        self.used += rate * TICK.total_seconds() / 3600
        snapshot = snapshot or spend(self.at(), self.used)
        previous = {key: state.level for key, state in self.states.items()}
        evaluation = evaluate(snapshot, self.window, lambda _: self.thresholds, previous, DEFAULT_POLICY)
        at, families = snapshot.checked_at, evaluation.speaks_for
        for decision in decide(evaluation.signals, self.states, at, DEFAULT_POLICY, families):
            self.states[decision.state.key] = decision.state
            if decision.notice is not None and decision.state.key == KEY:
                message = render(decision, snapshot, "OpenRouter", evaluation.trends)
                self.notices.append((self.tick, decision.notice, message.subject, message.sms))
                assert len(message.sms) <= SMS_MAX
                assert "burn" in message.email.lower() or decision.notice is not Notice.RAISED
        self.window = self.window.rolled(snapshot)
        self.tick += 1

    def steady(self, days: float) -> None:
        for _ in range(round(days * 96)):
            self.step()

    def level(self) -> Level | None:
        state = self.states.get(KEY)
        return None if state is None else state.level


@pytest.fixture(scope="module")
def week() -> Run:
    run = Run()
    run.steady(8)
    return run


def test_a_steady_week_has_no_burn_signal_and_a_window_of_eight_days(week: Run) -> None:
    assert week.level() is None  # nothing raised, nothing stored
    assert WINDOW_SIZE < len(week.window) <= 4 + 8 * 24 + 1
    assert week.window.times[0] - week.window.times[-1] >= 7.5 * 86_400


def test_a_leak_of_two_ticks_raises_once_and_clears_once(week: Run) -> None:
    run = replace(week, notices=[], states=dict(week.states))
    run.step(20 * USUAL)
    run.step(20 * USUAL)
    for _ in range(8):
        run.step()

    raised, cleared = run.notices  # exactly two messages
    assert raised[:2] == (week.tick + 1, Notice.RAISED)  # the second run of the leak
    assert raised[2] == "[WARNING] acme: spend burning 20x faster than usual"
    assert raised[3].startswith("QuotaWatch WARNING acme spend burn: $40.00/h, 20x usual $2.00/h")
    assert cleared[1] is Notice.CLEARED
    assert cleared[2] == "[OK] acme: spend burning at its usual pace again"
    assert run.level() is Level.OK


def test_a_single_blip_says_nothing(week: Run) -> None:
    run = replace(week, notices=[], states=dict(week.states))
    run.step(40 * USUAL)
    for _ in range(4):
        run.step()
    assert run.notices == []


def test_the_first_week_never_alerts_on_burn() -> None:
    run = Run()
    run.steady(3)
    for _ in range(8):
        run.step(20 * USUAL)
    assert run.notices == []
    assert run.level() is None


def test_burn_off_says_nothing_and_clears_what_was_raised(week: Run) -> None:
    run = replace(week, notices=[], states=dict(week.states))
    run.step(20 * USUAL)
    run.step(20 * USUAL)
    assert run.level() is Level.WARNING
    run.thresholds = replace(DEFAULT_THRESHOLDS, burn=BurnSettings(off=True))
    run.step(20 * USUAL)
    assert [n[1] for n in run.notices] == [Notice.RAISED, Notice.CLEARED]


def test_a_truncated_reading_clears_no_burn(week: Run) -> None:
    run = replace(week, notices=[], states=dict(week.states))
    run.step(20 * USUAL)
    run.step(20 * USUAL)
    cut = Snapshot("acme", "openrouter", run.at(), PERIOD, (), (Condition(TRUNCATED, Severity.WARNING, "cut"),))
    run.step(snapshot=cut)
    assert run.level() is Level.WARNING


def test_a_higher_factor_set_for_the_meter_is_obeyed(week: Run) -> None:
    run = replace(week, notices=[], states=dict(week.states))
    run.thresholds = replace(DEFAULT_THRESHOLDS, burn=replace(DEFAULT_BURN, factor=30))
    run.step(20 * USUAL)
    run.step(20 * USUAL)
    assert run.notices == []


def test_the_other_signals_read_only_the_first_rows(week: Run) -> None:
    """Forecasts and meters read the 48 newest rows, as before the window kept 8 days."""
    snapshot = spend(week.at(), week.used + 1)
    full = evaluate(snapshot, week.window, lambda _: DEFAULT_THRESHOLDS)
    first = Window.of(week.window.snapshots("acme")[:WINDOW_SIZE])
    assert evaluate(snapshot, first, lambda _: DEFAULT_THRESHOLDS).trends == full.trends


def test_a_burn_has_its_own_pagerduty_incident() -> None:
    assert dedup_key("acme", KEY) == "quotawatch/acme/burn:spend"
    assert dedup_key("acme", KEY) != dedup_key("acme", "meter:spend")


def test_the_email_says_the_window_the_rate_the_usual_and_what_to_do(week: Run) -> None:
    run = replace(week, notices=[], states=dict(week.states))
    run.step(20 * USUAL)
    snapshot = spend(run.at(), run.used + 20 * USUAL / 4)
    previous = {key: state.level for key, state in run.states.items()}
    evaluation = evaluate(snapshot, run.window, lambda _: DEFAULT_THRESHOLDS, previous)
    [decision] = [d for d in decide(evaluation.signals, run.states, snapshot.checked_at, DEFAULT_POLICY) if d.notice]
    email = render(decision, snapshot, "OpenRouter").email

    assert "acme (OpenRouter) is WARNING: spend burning 20x faster than usual." in email
    assert "spend: $40.00/h (last 30 min), 20x the usual $2.00/h." in email
    assert "leaked key or a job in a loop" in email
    reminder = replace(decision, notice=Notice.REMINDER, previous=Level.WARNING)
    assert render(reminder, snapshot, "OpenRouter").sms.startswith("QuotaWatch Reminder: WARNING acme spend burn:")


def status_of(run: Run, monitor: Monitor | None = None) -> MeterStatus:
    window = run.window.snapshots("acme")
    newest = spend(window[0].checked_at, run.used)  # as stored in full: with its unit
    stored = StoredMonitor(dict(run.states), window, newest, newest)
    [row] = status_rows([monitor or Monitor("acme", "openrouter", "acme")], {"acme": stored})
    return row


def leaked(week: Run) -> Run:
    run = replace(week, notices=[], states=dict(week.states))
    run.step(20 * USUAL)
    run.step(20 * USUAL)
    return run


def test_status_shows_the_pace_against_the_usual_and_a_burn_raises_the_row(week: Run) -> None:
    from quotawatch_view.text import Painter, status_text
    from quotawatch_view.times import Zone

    steady, burning = status_of(week), status_of(leaked(week))
    assert steady.to_dict()["burn"] == {
        "level": "ok",
        "judged": True,
        "rate_per_hour": 2.0,
        "usual_per_hour": 2.0,
        "ratio": 1.0,
    }
    assert (burning.level, burning.level_signal) == (Level.WARNING, KEY)
    [line] = [
        line
        for line in status_text([burning], Zone.named("UTC"), Painter(False), "here").splitlines()
        if "acme" in line
    ]
    assert "warning (burn)" in line
    assert " 20x " in line


def test_status_says_when_a_meter_is_too_new_or_burn_is_off() -> None:
    from quotawatch_view.text import _burn

    young = Run()
    young.steady(2)
    assert _burn(status_of(young)) == "needs 7 days"
    assert status_of(young).to_dict()["burn"]["judged"] is False
    off = replace(DEFAULT_THRESHOLDS, burn=BurnSettings(off=True))
    assert _burn(status_of(young, Monitor("acme", "openrouter", "acme", thresholds=off))) == "off"


def test_the_digest_lists_what_burns_faster_than_usual(week: Run) -> None:
    def digest(run: Run) -> list[str]:
        data = DigestInput(run.at(), UTC, [status_of(run)], {}, {}, (), "")  # type: ignore[arg-type]
        return render_digest(data).email.splitlines()

    lines = digest(leaked(week))
    at = lines.index("Burning faster than usual:")
    assert lines[at + 1] == "  acme spend: $40.00/h (last 30 min), 20x the usual $2.00/h"
    assert "  WARNING acme spend (burn) since" in "\n".join(lines)
    quiet = digest(week)
    assert quiet[quiet.index("Burning faster than usual:") + 1] == "  none"


def test_the_report_marks_burn_alerts_and_shades_the_windows_they_burned_in(week: Run) -> None:
    from quotawatch_view.charts import chart_png
    from quotawatch_view.history import History
    from quotawatch_view.report import _series
    from quotawatch_view.times import Zone

    from quotawatch.core.messages import Message
    from quotawatch.core.record import SentMessage

    run = leaked(week)
    for _ in range(4):
        run.step()
    readings = [spend(START + tick * TICK, USUAL * tick / 4) for tick in range(run.tick - 96, run.tick)]

    def sent(tick: int, kind: str, severity: str) -> SentMessage:
        at = START + tick * TICK
        return SentMessage(KEY, at, Message("s", "e", "sms", severity, "acme", "openrouter", kind), at)

    (raised, _, _, _), (cleared, _, _, _) = run.notices
    history = History(
        "acme", readings[0].checked_at, readings, [sent(raised, "alert", "warning"), sent(cleared, "recovery", "info")]
    )
    series, legend, alt = _series(
        Monitor("acme", "openrouter", "acme"), history.only("spend"), "spend", Zone.named("UTC")
    )

    assert series.burns == [(START + raised * TICK - timedelta(minutes=30), START + cleared * TICK)]
    assert [at for at, _ in series.burn_alerts] == [START + raised * TICK]
    assert [(at, severity) for at, _, severity in series.messages] == [(START + cleared * TICK, "info")]  # the clear
    assert ("legend-burn", "burning faster than usual 1 time") in legend
    assert "burning faster than usual" in alt
    assert chart_png(series, UTC).startswith(b"\x89PNG")


def test_the_usual_floor_kept_in_the_window_changes_no_verdict() -> None:
    """Each run reads the stored window and writes it back, as the check does. A run that
    skips the baseline for the floor the window keeps decides as one that builds it."""
    stored = Window.of([]).encode()
    used, kept = 0.0, 0
    for tick in range(8 * 96 + 16):
        at = START + tick * TICK
        used += USUAL * (10 if 8 * 96 + 4 <= tick < 8 * 96 + 10 else 1) * TICK.total_seconds() / 3600
        snapshot = spend(at, used)
        past, bare = Window.decode(stored, "acme"), Window.decode(stored, "acme")
        bare.floors = None
        kept += past.floors is not None and past.floors[0] == int(at.timestamp() // 3600)
        levels = [
            {s.key: s.level for s in evaluate(snapshot, w, lambda _: DEFAULT_THRESHOLDS, {}, DEFAULT_POLICY).signals}
            for w in (past, bare)
        ]
        assert levels[0] == levels[1], at
        stored = past.rolled(snapshot).encode()
        if tick == 8 * 96 + 6:
            assert levels[0][KEY] is not Level.OK  # the burn is seen
    assert kept > 2 * 24  # most runs after the first week read the floor kept


def test_meters_standing_still_are_skipped_and_change_no_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    """A meter that stands still keeps no floor and builds no readings for `could_burn`
    (core/rules.py: `_still`, `_quiet`). Run by run through the stored form, with a meter
    that stands still for 8 days and then burns from nothing in the middle of an hour, and
    a spend that burns: the same signals as without those skips."""
    stored = [Window.of([]).encode(), Window.of([]).encode()]
    previous: list[dict[str, Level]] = [{}, {}]
    used = jobs = 0.0
    raised = set()
    for tick in range(8 * 96 + 16):
        at = START + tick * TICK
        used += USUAL * (10 if 8 * 96 + 4 <= tick < 8 * 96 + 10 else 1) * TICK.total_seconds() / 3600
        jobs += 150 if tick >= 8 * 96 + 1 else 0  # from :15, 600 an hour after none
        meters = (
            Meter("spend", round(used, 2), None, None, "USD"),
            Meter("jobs", int(jobs), None, None, "jobs"),
            Meter("seats", 40, 50, 10, "seats"),
        )
        snapshot = Snapshot("acme", "openrouter", at, PERIOD, meters)
        levels = []
        for skip in (True, False):
            past = Window.decode(stored[skip], "acme")
            with monkeypatch.context() as patch:
                if not skip:
                    patch.setattr(rules, "_still", lambda *_: False)
                    patch.setattr(rules, "_quiet", lambda *_: False)
                evaluation = evaluate(snapshot, past, lambda _: DEFAULT_THRESHOLDS, previous[skip], DEFAULT_POLICY)
            burns = {s.key: s.level for s in evaluation.signals if s.key.startswith("burn:")}
            previous[skip] = {**previous[skip], **burns}
            levels.append(burns)
            stored[skip] = past.rolled(snapshot).encode()
        assert levels[0] == levels[1], at
        raised |= {key for key, level in levels[0].items() if level is not Level.OK}
    assert raised == {"burn:spend", "burn:jobs"}  # both burns are seen


def _batch(at: datetime) -> float:
    """The rate of the quarter hour before a reading: a nightly batch from 04:45 to 05:45 at 50x."""
    minutes = at.hour * 60 + at.minute
    return 50 * USUAL if 4 * 60 + 45 < minutes <= 5 * 60 + 45 else USUAL


@pytest.mark.parametrize(
    ("first", "spike"),
    [
        ((4, 15), 2),  # 04:00 to 04:30, in the quiet quarters of the hour the batch starts in
        ((6, 0), 2),  # 05:45 to 06:15, across the hour after the batch ends
        ((3, 45), 3),  # 03:30 to 04:15, across the hour before
        ((4, 30), 2),  # 04:15 to 04:45, ending where the batch starts: not held to its rate
    ],
)
def test_a_burn_beside_the_nightly_batch_is_caught_at_its_second_run(first: tuple[int, int], spike: int) -> None:
    """Past its newest readings the window keeps one an hour, and an hour holding a quarter
    of the batch would read its quiet quarters at a quarter of the batch's rate (a 10x burn
    there as 2x). The hour's shape, kept in the stored window, reads them as they were."""
    run = Run()
    start = datetime(2026, 11, 24, *first, tzinfo=UTC)  # the ninth day, a Tuesday: the weekdays before
    while run.at() < start:
        run.step(_batch(run.at()))
        run.window = Window.decode(run.window.encode(), "acme")  # through the stored form, as a run
    assert run.notices == []  # the batch, every night, is usual
    assert run.window.shapes()["spend"]  # the hours it starts and ends in keep their shape
    tick = run.tick
    for _ in range(spike):
        run.step(10 * _batch(run.at()))
        run.window = Window.decode(run.window.encode(), "acme")

    assert [notice[:2] for notice in run.notices] == [(tick + 1, Notice.RAISED)]


def _burning_then_still(now: datetime) -> list[Snapshot]:
    """Eight days of the usual spend every 15 minutes, then runs every 5 minutes: 10x the
    usual from 25 minutes before `now` to 5 minutes before it, nothing since."""
    times = [START + k * TICK for k in range(round((now - START) / TICK) - 1)]
    times += [now - timedelta(minutes=m) for m in range(30, -1, -5)]
    readings, used = [spend(times[0], 0.0)], 0.0
    for before, at in pairwise(times):
        rate = 0.0 if at == now else 10 * USUAL if at > now - timedelta(minutes=30) else USUAL
        used += rate * (at - before).total_seconds() / 3600
        readings.append(spend(at, used))
    return readings


def test_a_meter_is_quiet_only_if_still_back_past_the_short_windows_start() -> None:
    """`_quiet` (core/rules.py) skips the burn rule for a meter whose figure is this reading's
    in every stored row back past the short window's start. Runs every 5 minutes: a spend
    that burned at 10x until the newest row and stood still since is judged, and raised (a
    `_quiet` reading the newest row alone skips it); one still for the whole window is quiet."""
    now = START + timedelta(days=8, hours=12)
    readings = _burning_then_still(now)
    past, reading = Window.of(readings[:-1]), readings[-1]
    meter, short = reading.meters[0], DEFAULT_BURN.short
    assert past.meters["spend"].used[0] == meter.used  # the newest row holds this figure
    assert not rules._quiet(meter, past, now.timestamp(), short)
    evaluation = evaluate(reading, past, lambda _: DEFAULT_THRESHOLDS, {}, DEFAULT_POLICY)
    assert {s.key: s.level for s in evaluation.signals}.get(KEY) is Level.WARNING

    later = now + timedelta(minutes=35)  # the same figure, read 35 minutes on: still over the window
    figure = meter.used
    assert figure is not None
    held = [*readings, *(spend(later - timedelta(minutes=m), figure) for m in range(30, -1, -5))]
    assert rules._quiet(meter, Window.of(held[:-1]), later.timestamp(), short)
