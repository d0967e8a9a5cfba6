"""Rules: from a snapshot, its history and the previous levels to a level per signal.

Signals and their keys:
- `meter:<name>`     usage against percent thresholds and absolute floors (balances)
- `forecast:<name>`  the meter will reach its limit (a balance zero) too soon at this rate
- `burn:<name>`      the meter burns many times faster than it usually does (core/burn.py)
- `condition:<name>` a provider's fact with its own severity (subscription inactive ...)
- `check`            the monitor cannot be checked (a revoked key, repeated failures)

Levels fall only with a margin (hysteresis), so a value hovering at a threshold does not
flap; a new billing period drops a meter without that margin, as a reset.

Figures that cannot be true (core/sanity.py) make the reading a `bad_response` check
error here too, so they never raise or clear a meter. A meter with no figure to judge by
(a limit of 0, no usage figure, a floor but no balance) keeps its level rather than
reading as back to normal; use against a limit of 0 with nothing left is critical.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from math import isfinite
from typing import Any

from quotawatch.core.bounds import TRUNCATED
from quotawatch.core.burn import (
    DEFAULT_BURN,
    Burn,
    BurnSettings,
    MeterFacts,
    Readings,
    burn,
    could_burn,
    floor_spans,
    usual_floor,
)
from quotawatch.core.forecast import Forecast, window_forecast
from quotawatch.core.hour_shape import place
from quotawatch.core.level import Level as Level  # re-exported: where the signals are
from quotawatch.core.sanity import check_figures
from quotawatch.core.snapshot import CheckError, Condition, ErrorKind, Meter, Snapshot
from quotawatch.core.window import ABSENT, WINDOW_SIZE, Column, Window

CHECK_KEY = "check"
_NUMBERS = frozenset((int, float))


@dataclass(frozen=True)
class Thresholds:
    """When one meter is raised: percent of its limit used, and floors under what remains."""

    warning: float = 80.0
    critical: float = 95.0
    floor_warning: float | None = None  # remaining at or below this: warning
    floor_critical: float | None = None  # remaining at or below this: critical
    burn: BurnSettings = DEFAULT_BURN  # `burn:` of the meter, the monitor or the defaults
    # The monitor's own limit for a meter the API reports without one (`meters.<name>.limit`,
    # a spend budget): messages speak of a budget to keep, not credit to add.
    budget: float | None = None

    def level(self, percent_used: float) -> Level:
        """The percent level alone, without a previous level (no hysteresis)."""
        return self.percent_level(percent_used, Level.OK, 0.0)

    def percent_level(self, percent: float, previous: Level, margin: float) -> Level:
        raw = Level.CRITICAL if percent >= self.critical else Level.WARNING if percent >= self.warning else Level.OK
        if raw >= previous:
            return raw
        if previous is Level.CRITICAL and percent >= self.critical - margin:
            return Level.CRITICAL
        if percent >= self.warning - margin:
            return Level.WARNING
        return raw

    def floor_level(self, remaining: float, previous: Level, margin_fraction: float) -> Level:
        def below(floor: float | None, margin: float) -> bool:
            return floor is not None and remaining <= floor * (1 + margin)

        raw = (
            Level.CRITICAL
            if below(self.floor_critical, 0)
            else Level.WARNING
            if below(self.floor_warning, 0)
            else Level.OK
        )
        if raw >= previous:
            return raw
        if previous is Level.CRITICAL and below(self.floor_critical, margin_fraction):
            return Level.CRITICAL
        if below(self.floor_warning, margin_fraction) or below(self.floor_critical, margin_fraction):
            return Level.WARNING
        return raw

    def budgets(self, meter: Meter) -> bool:
        """The meter's limit is this budget (fetching.py sets it only where the API gives none)."""
        return self.budget is not None and meter.limit == self.budget

    @property
    def has_floor(self) -> bool:
        return self.floor_warning is not None or self.floor_critical is not None


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class AlertPolicy:
    """How a monitor's alerts behave over time; `monitors.yaml` sets these per monitor."""

    remind_every: timedelta | None = timedelta(hours=24)  # None: never remind
    hysteresis: float = 5.0  # percentage points below a threshold, or percent of a floor
    failures_before_alert: int = 3  # consecutive failed checks before "cannot check"
    forecast_days: float = 7.0  # how far ahead a run-out is worth a warning


DEFAULT_POLICY = AlertPolicy()


@dataclass(frozen=True)
class Signal:
    """One thing that can be raised, with what the message about it needs."""

    key: str
    level: Level
    meter: Meter | None = None
    condition: Condition | None = None
    thresholds: Thresholds | None = None
    forecast: Forecast | None = None
    burn: Burn | None = None
    error: CheckError | None = None
    failures: int = 0  # consecutive failed checks, for `check`
    reset: bool = False  # the level fell because a new billing period began
    silent: bool = False  # a fall that needs no message (another signal says it all)

    @property
    def subject(self) -> str:
        """What the signal is about, as a person names it."""
        if self.meter is not None:
            return self.meter.name
        if self.key == CHECK_KEY:
            return "checks"
        name = self.condition.name if self.condition is not None else self.key.split(":", 1)[-1]
        # "key_expiring:my_key" reads "key expiring: my_key": only the vocabulary part is ours.
        kind, _, detail = name.partition(":")
        return kind.replace("_", " ") + (f": {detail}" if detail else "")

    @property
    def family(self) -> str:
        return self.key.split(":", 1)[0]


def meter_signal_key(meter_name: str) -> str:
    return f"meter:{meter_name}"


def forecast_signal_key(meter_name: str) -> str:
    return f"forecast:{meter_name}"


def burn_signal_key(meter_name: str) -> str:
    return f"burn:{meter_name}"


def condition_signal_key(condition_name: str) -> str:
    return f"condition:{condition_name}"


@dataclass(frozen=True)
class Evaluation:
    signals: list[Signal]
    trends: dict[str, Forecast]  # meter name -> burn rate, for messages
    speaks_for: frozenset[str]  # signal families this snapshot can raise or clear


def evaluate(
    snapshot: Snapshot,
    history: Window | list[Snapshot],
    thresholds_for: Callable[[str], Thresholds],
    previous: dict[str, Level] | None = None,
    policy: AlertPolicy = DEFAULT_POLICY,
) -> Evaluation:
    """Levels of every signal the snapshot can speak for.

    A failed check speaks only for `check`: its missing meters are not zero and not a
    breach. A reading without meters (a refusal that is news, such as a quota reached)
    speaks for conditions, not for meters.
    """
    previous = previous or {}
    if snapshot.waiting:  # no key yet: nothing to say about any signal, not even `check`
        return Evaluation([], {}, frozenset())
    snapshot = as_read(snapshot)
    past = history if isinstance(history, Window) else Window.of(history)
    earlier = past.before(snapshot.checked_at.timestamp())  # rows, newest first
    prior = _Past(past, earlier, snapshot.monitor)
    check = _check_signal(snapshot, prior, policy, previous.get(CHECK_KEY, Level.OK))
    if snapshot.error is not None:
        return Evaluation([check], {}, frozenset({"check"}))

    signals = [check]
    trends: dict[str, Forecast] = {}
    reset = _new_period(snapshot, prior)
    for meter in snapshot.meters:
        thresholds = thresholds_for(meter.name)
        key = meter_signal_key(meter.name)
        was = Level.OK if meter.name in reset else previous.get(key, Level.OK)
        level = _meter_level(meter, thresholds, was, policy)
        trend = window_forecast(meter, snapshot, past, earlier)
        if trend is not None:
            trends[meter.name] = trend
        if meter.limit is not None or thresholds.has_floor:
            signals.append(
                Signal(
                    key,
                    level,
                    meter=meter,
                    thresholds=thresholds,
                    forecast=trend,
                    reset=meter.name in reset and level < previous.get(key, Level.OK),
                )
            )
        forecast_level = _forecast_level(
            meter, trend, snapshot, level, previous.get(forecast_signal_key(meter.name)), policy
        )
        if forecast_level is not None:
            # A forecast stands down without a message when the usage alert takes over or the
            # period starts again: "no longer on track to run out" would be untrue or noise.
            silent = level is not Level.OK or meter.name in reset
            signals.append(
                Signal(
                    forecast_signal_key(meter.name),
                    forecast_level,
                    meter=meter,
                    thresholds=thresholds,
                    forecast=trend,
                    silent=silent,
                )
            )
        burning = _burn_signal(meter, snapshot, past, thresholds_for, previous.get(burn_signal_key(meter.name)), policy)
        if burning is not None:
            signals.append(burning)
    for condition in snapshot.conditions:
        signals.append(
            Signal(condition_signal_key(condition.name), Level.of_severity(condition.severity), condition=condition)
        )
    families = {"check", "condition"} | ({"meter", "forecast", "burn"} if snapshot.meters else set())
    if any(c.name == TRUNCATED for c in snapshot.conditions):
        # A reading cut to fit storage (core/bounds.py) does not list everything: what it
        # left out may still be raised, so it clears nothing it does not list.
        families = {"check"}
    return Evaluation(signals, trends, frozenset(families))


def as_read(snapshot: Snapshot) -> Snapshot:
    """The snapshot as the rules read it: figures that cannot be true make it a `bad_response`."""
    if snapshot.error is not None or not snapshot.meters:
        return snapshot
    problem = check_figures(snapshot.meters)
    if problem is None:
        return snapshot
    message = f"{snapshot.monitor}: the answer has figures that cannot be true: {problem}"
    error = CheckError(ErrorKind.BAD_RESPONSE, message)
    return replace(snapshot, meters=(), conditions=(), error=error)


@dataclass(frozen=True)
class _Past:
    """The readings before the one evaluated: a window and its rows older than it, newest first."""

    window: Window
    rows: list[int]
    monitor: str

    def read_ok(self, row: int) -> bool:
        """A stored reading that counts as a check that worked (not a failure, not impossible figures)."""
        if self.window.kinds[row] is not None:
            return False
        meters = self.window.meters_at(row)
        return not meters or check_figures(meters) is None


def _meter_level(meter: Meter, thresholds: Thresholds, previous: Level, policy: AlertPolicy) -> Level:
    percent = meter.percent_used
    floors = thresholds.has_floor and meter.remaining is not None
    if _used_without_allowance(meter):
        return Level.CRITICAL
    if percent is None and not floors:
        return previous  # no figure to judge by (a limit of 0, unknown use): "back to normal" would be a guess
    level = Level.OK
    if percent is not None:
        level = thresholds.percent_level(percent, previous, policy.hysteresis)
    if floors and meter.remaining is not None:
        level = max(level, thresholds.floor_level(meter.remaining, previous, policy.hysteresis / 100))
    return level


def _used_without_allowance(meter: Meter) -> bool:
    """A limit of 0 (no allowance) against use, and nothing left: over the limit."""
    if meter.limit is None or meter.limit > 0:
        return False
    if meter.remaining is not None and meter.remaining > 0:
        return False  # the provider says something is left (credit beyond the allowance)
    used = meter.used if meter.used is not None else None if meter.remaining is None else -meter.remaining
    return used is not None and used > 0


def _forecast_level(
    meter: Meter,
    trend: Forecast | None,
    snapshot: Snapshot,
    usage_level: Level,
    previous: Level | None,
    policy: AlertPolicy,
) -> Level | None:
    """WARNING when the meter runs out before its period ends (or within forecast_days).

    None when the meter cannot run out (unlimited, not a balance). Quiet while the usage
    itself is raised: that alert already says so, with the forecast in its body.
    """
    if meter.limit is None and meter.remaining is None:
        return None
    if trend is None or usage_level is not Level.OK:
        return Level.OK if previous is not None else None
    now = snapshot.checked_at
    within = now + timedelta(days=policy.forecast_days)
    horizon = snapshot.period.end if meter.limit is not None and snapshot.period and snapshot.period.end else within
    if previous is Level.WARNING:
        horizon += timedelta(days=1)  # hysteresis: a projection wobbling around the horizon stays put
    return Level.WARNING if trend.runs_out_before(horizon) else Level.OK


def _burn_signal(
    meter: Meter,
    snapshot: Snapshot,
    past: Window,
    thresholds_for: Callable[[str], Thresholds],
    previous: Level | None,
    policy: AlertPolicy,
) -> Signal | None:
    """The meter's burn signal; None when off, or not raised and nothing stored."""
    settings = thresholds_for(meter.name).burn
    floors: dict[str, float] | None = None
    hour = 0
    if previous is None:
        if _quiet(meter, past, snapshot.checked_at.timestamp(), settings.short):
            return None  # nothing used in the short window: `could_burn` would say no
        # The newest rows only: a short window that cannot reach min_spend, or `factor` times
        # the least usual rate of this hour (kept in the window), needs no baseline.
        tail = _burn_inputs(meter, snapshot, past, settings, RECENT_ROWS)
        if tail is None:
            return None
        hour = int(tail[1].now // 3600)
        if not past.times or past.times[-1] > tail[1].now - settings.baseline_days * 86_400:
            return None  # a young meter: `burn` would say so, and nothing is stored to say it to
        floors = past.floors_of(hour)
        try:
            if not could_burn(*tail, settings, (floors or {}).get(meter.name, 0.0)):
                return None
            if floors is None or meter.name not in floors:  # the hour's first run: keep them, then judge by them
                floors = _keep_floors(past.full(), snapshot, hour, thresholds_for)
                if not could_burn(*tail, settings, floors.get(meter.name, 0.0)):
                    return None
        except OverflowError:  # a stored figure beyond a float: no verdict, as `_judged` says
            return None
    inputs = _burn_inputs(meter, snapshot, past.full(), settings)
    if inputs is None:
        return None
    readings, facts = inputs
    verdict = _judged(readings, facts, settings, previous or Level.OK, policy.hysteresis / 100)
    if verdict is None or (verdict.level is Level.OK and previous is None):
        return None  # nothing to say, nothing stored: no signal (it would only be one more "ok")
    return Signal(burn_signal_key(meter.name), verdict.level, meter=meter, burn=verdict)


RECENT_ROWS = 8  # newest stored rows read before the burn rule's baseline: over an hour at any schedule


def _keep_floors(
    past: Window, snapshot: Snapshot, hour: int, thresholds_for: Callable[[str], Thresholds]
) -> dict[str, float]:
    """Keep each meter's least usual rate of this hour in the window (written with it): the
    rows past WINDOW_SIZE are decoded now, so that no other run of the hour needs them.

    A meter that stood still over the first WINDOW_SIZE rows and this reading (a limit, a
    storage figure) gets none: it needs none until it moves above `min_spend`, and most such
    meters never do; one that does is kept by the run that sees it (`_burn_signal`).
    """
    kept = dict(past.floors_of(hour) or {})
    hours: dict[BurnSettings, set[int]] = {}
    for meter in snapshot.meters:
        settings = thresholds_for(meter.name).burn
        if meter.name in kept or _still(meter, past):
            continue
        if settings not in hours:
            hours[settings] = _floor_hours(hour, settings)
        inputs = _burn_inputs(meter, snapshot, past, settings, shaped=hours[settings])
        if inputs is None:
            continue
        try:
            floor = usual_floor(inputs[0], hour, settings)
        except OverflowError:
            continue
        kept[meter.name] = 0.0 if floor is None else floor  # 0: no floor, so judged in full
    past.floors = hour, kept
    return kept


def _quiet(meter: Meter, past: Window, now: float, short: float) -> bool:
    """Whether the meter's figure (`used`, or a balance's `remaining`) is this reading's, a
    finite number, in each stored row back to the first older than the short window, among
    the RECENT_ROWS that `could_burn` reads, with times falling from `now`: then that window
    used nothing, and `could_burn` would say no (it is not built)."""
    figure, figures = _followed(meter, past)
    if not figures or figure is None or figure.__class__ not in _NUMBERS or not isfinite(figure):
        return False
    times, later, since = past.times, now, now - short
    for row in range(min(RECENT_ROWS, len(times))):
        if figures[row] != figure or not times[row] < later:
            return False
        if times[row] < since:
            return True
        later = times[row]
    return False


def _still(meter: Meter, past: Window) -> bool:
    """Whether the meter's figure (`used`, or a balance's `remaining`) is this reading's in
    each of the window's first WINDOW_SIZE rows."""
    figure, figures = _followed(meter, past)
    head = figures[:WINDOW_SIZE]
    return figure is not None and bool(head) and head.count(figure) == len(head)


def _followed(meter: Meter, past: Window) -> tuple[float | None, list[Any]]:
    """The figure burn follows (`used`, or a balance's `remaining`) in this reading and in
    the window's rows (None and no rows: the window has no such meter)."""
    column = past.meters.get(meter.name)
    if column is None:
        return None, []
    return (meter.remaining, column.remaining) if meter.used is None else (meter.used, column.used)


def _floor_hours(hour: int, settings: BurnSettings) -> set[int]:
    """The clock hours whose shapes can change `usual_floor` of this hour: those of a pair of
    hourly readings (placed between them, up to an hour and SLACK apart) that reaches into a
    day's span; the others only add readings the floor does not read."""
    return {h for lo, hi in floor_spans(hour, settings) for h in range(int(lo // 3600) - 3, int(hi // 3600) + 1)}


def meter_burn(
    meter: Meter, snapshot: Snapshot, past: Window, settings: BurnSettings, previous: Level, margin: float
) -> Burn | None:
    """The meter's burn (core/burn.py) from every stored reading, the rows past 48 included,
    and this one; None when burn is off or the meter has no figure to follow. `margin` is
    the clearing margin as a fraction."""
    inputs = _burn_inputs(meter, snapshot, past, settings)
    return None if inputs is None else _judged(*inputs, settings, previous, margin)


def _judged(
    readings: Readings, facts: MeterFacts, settings: BurnSettings, previous: Level, margin: float
) -> Burn | None:
    try:
        return burn(readings, facts, settings, previous, margin)
    except OverflowError:  # a stored figure beyond a float: no verdict rather than a wrong one
        return None


def _burn_inputs(
    meter: Meter,
    snapshot: Snapshot,
    past: Window,
    settings: BurnSettings,
    newest: int | None = None,
    shaped: Collection[int] | None = None,
) -> tuple[Readings, MeterFacts] | None:
    """The meter's readings oldest first (this one last) and facts, as `burn` reads them;
    of the stored rows, the `newest` only when given; the shapes of the `shaped` clock hours
    only when given (placing each costs a copy of the readings)."""
    balance = meter.used is None
    if settings.off or (balance and meter.remaining is None):
        return None
    now = snapshot.checked_at.timestamp()
    column = past.meters.get(meter.name)
    stored = past.times if newest is None else past.times[:newest]
    if column is not None and newest is not None:
        column = Column(column.used[:newest], [], column.remaining[:newest])
    if stored and stored[0] < now:  # every run but a late one: the window is older than the reading
        times, figures = stored[::-1], (column.remaining if balance else column.used)[::-1] if column else None
    else:
        rows = [row for row, t in enumerate(stored) if t < now][::-1]  # oldest first
        times = [stored[row] for row in rows]
        figures = [(column.remaining if balance else column.used)[row] for row in rows] if column else None
    # Figures as floats or None: markers (the meter absent) and gaps are None.
    if figures is None:
        values: list[float | None] = [None] * len(times)
    elif _NUMBERS.issuperset(map(type, figures)):
        values = figures  # a list of its own already (a slice or a comprehension)
    else:
        values = [v if v.__class__ is float or v.__class__ is int else None for v in figures]
    shapes = past.shapes().get(meter.name) if newest is None else None
    if shapes and shaped is not None:
        shapes = {h: shapes[h] for h in shaped if h in shapes}
    if shapes:  # where in its hour the use fell, for the hours the window keeps a shape of
        times, values = place(times, values, shapes, balance=balance)
    times.append(now)
    values.append(_figure(meter.remaining if balance else meter.used))
    left = meter.remaining if meter.remaining is not None else _left(meter)
    end = snapshot.period.end.timestamp() if snapshot.period is not None and snapshot.period.end else None
    return Readings(times, values, balance), MeterFacts(now, _figure(left), _figure(meter.limit), end, meter.unit)


def _figure(value: object) -> float | None:
    """A stored figure as the burn rule reads it: None for a gap, a marker or a figure beyond a float."""
    if not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def _left(meter: Meter) -> float | None:
    return None if meter.limit is None or meter.used is None else meter.limit - meter.used


def _check_signal(snapshot: Snapshot, past: _Past, policy: AlertPolicy, previous: Level) -> Signal:
    if snapshot.error is None:
        return Signal(CHECK_KEY, Level.OK)
    failures = 1
    for row in past.rows:
        if past.read_ok(row) or past.window.kinds[row] is ErrorKind.NO_KEY:  # failures count from the key's arrival
            break
        failures += 1
    if snapshot.error.kind is ErrorKind.AUTH:
        level = Level.CRITICAL  # a rejected key will not heal by waiting
    elif failures >= policy.failures_before_alert:
        level = Level.WARNING
    else:
        level = Level.OK
    if previous is not Level.OK:
        level = max(level, Level.WARNING)  # only a check that works clears "cannot check"
    return Signal(CHECK_KEY, level, error=snapshot.error, failures=failures)


def _new_period(snapshot: Snapshot, past: _Past) -> set[str]:
    """Meters that started again since the last good reading: the period moved, or usage fell sharply."""
    row = next((r for r in past.rows if past.window.has_meters(r) and past.read_ok(r)), None)
    if row is None:
        return set()
    window = past.window  # the last good reading read from its columns, not made a snapshot
    last_period = window.periods[row]
    moved = (
        snapshot.period is not None
        and last_period is not None
        and snapshot.period.start is not None
        and last_period[0] is not None
        and snapshot.period.start != datetime.fromtimestamp(last_period[0], UTC)
    )
    # A limit of 0 has nothing to restart: such a meter keeps its level (see _meter_level).
    if moved:  # a new period restarts usage counts; a balance carries over
        return {m.name for m in snapshot.meters if m.limit is not None and m.limit > 0}
    reset: set[str] = set()
    for meter in snapshot.meters:
        column = window.meters.get(meter.name)
        before = None if column is None else column.used[row]  # ABSENT: not in that reading
        if before is None or before is ABSENT or meter.used is None or before <= 0 or meter.limit == 0:
            continue
        # A sharp drop: below half of what it was, and by at least a tenth of the limit.
        significant = meter.limit is None or before - meter.used >= 0.1 * meter.limit
        if meter.used < before / 2 and significant:
            reset.add(meter.name)
    return reset
