"""How every monitor stands, as data: a row per meter, what needs attention first. Read by
`quotawatch status` (local/quotawatch_view) and by the daily digest (core/digest.py).

Pure: from what the table holds about each monitor (its alert states, its window of recent
readings and its newest snapshots) and the monitors file (thresholds), with the core's own
forecast, as the check computes it. Nothing here reads a clock: every time shown is one
that was stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from quotawatch.core.alerts import SignalState
from quotawatch.core.burn import Burn
from quotawatch.core.forecast import Forecast, period_forecast
from quotawatch.core.record import StoredMonitor
from quotawatch.core.rules import (
    CHECK_KEY,
    AlertPolicy,
    Level,
    Thresholds,
    burn_signal_key,
    condition_signal_key,
    forecast_signal_key,
    meter_burn,
    meter_signal_key,
)
from quotawatch.core.silences import Silence, hold_of, in_force
from quotawatch.core.snapshot import CheckError, ErrorKind, Meter, Snapshot, format_time, plain_number
from quotawatch.core.window import WINDOW_SIZE, Window

_CONDITION = condition_signal_key("")


class Monitor(Protocol):
    """What a row needs of a monitor of the monitors file (quotawatch.config.Monitor)."""

    @property
    def id(self) -> str: ...

    @property
    def provider(self) -> str: ...

    @property
    def policy(self) -> AlertPolicy: ...

    def thresholds_for(self, meter: str) -> Thresholds: ...


@dataclass(frozen=True)
class CheckStatus:
    """A monitor's last check: when, and its error if it failed."""

    at: datetime | None  # None: never checked
    error: CheckError | None
    level: Level  # of the `check` signal: raised after repeated failures, at once for a revoked key
    failing_since: datetime | None

    @property
    def waiting(self) -> bool:
        """Waiting for its key (the secret has no field for it yet): not a failure."""
        return self.error is not None and self.error.kind is ErrorKind.NO_KEY

    @property
    def failed(self) -> bool:
        return self.error is not None and not self.waiting


@dataclass(frozen=True)
class MeterStatus:
    """One row: a meter as of the newest reading that worked, with its level and forecast."""

    monitor: str
    provider: str
    check: CheckStatus
    meter: str | None = None  # None: the monitor has no reading that worked yet
    unit: str = ""
    used: float | None = None
    limit: float | None = None
    remaining: float | None = None
    percent: float | None = None
    level: Level = Level.OK  # the meter's or its forecast's, whichever is higher
    level_signal: str | None = None  # the signal that sets it: meter:<name> or forecast:<name>
    since: datetime | None = None
    trend: Forecast | None = None
    period_end: datetime | None = None
    read_at: datetime | None = None  # the reading these figures come from
    condition: str | None = None  # a raised condition's row: what the provider said (meter: condition:<name>)
    # Until when a silence holds this row's signal (`quotawatch status` shows it in a column).
    silenced_until: datetime | None = None
    # The burn verdict at the newest reading (core/burn.py); None: burn is off for the meter.
    burn: Burn | None = None

    @property
    def runs_out_at(self) -> datetime | None:
        return self.trend.runs_out_at if self.trend else None

    @property
    def runs_out_this_period(self) -> bool:
        at = self.runs_out_at
        return at is not None and (self.period_end is None or at <= self.period_end)

    @property
    def attention(self) -> tuple[Any, ...]:
        """Sort key: raised first (critical, then warning, a failing check too; then by the
        row's own level), then what runs out soonest, then the fullest meter."""
        raised = max(self.level, self.check.level, Level.WARNING if self.check.failed else Level.OK)
        runs_out = self.runs_out_at.timestamp() if self.runs_out_this_period and self.runs_out_at else float("inf")
        return (-raised, -self.level, runs_out, -(self.percent or 0.0), self.monitor, self.meter or "")

    def to_dict(self) -> dict[str, Any]:
        trend = self.trend
        return {
            "monitor": self.monitor,
            "provider": self.provider,
            "meter": self.meter,
            "unit": self.unit,
            "used": plain_number(self.used),
            "limit": plain_number(self.limit),
            "remaining": plain_number(self.remaining),
            "percent": None if self.percent is None else round(self.percent, 2),
            "level": self.level.label,
            "level_signal": self.level_signal,
            "since": format_time(self.since),
            "trend_per_day": None if trend is None else round(trend.per_day, 4),
            "runs_out_at": format_time(self.runs_out_at),
            "runs_out_by": None if self.runs_out_at is None else ("limit" if self.limit is not None else "zero"),
            "period_end": format_time(self.period_end),
            "read_at": format_time(self.read_at),
            "last_check": {
                "at": format_time(self.check.at),
                "ok": self.check.error is None,
                "waiting_for_key": self.check.waiting,
                "error": None
                if self.check.error is None
                else {"kind": self.check.error.kind.value, "message": self.check.error.message},
                "level": self.check.level.label,
                "failing_since": format_time(self.check.failing_since),
            },
            "condition": self.condition,
            "silenced_until": format_time(self.silenced_until),
            "burn": _burn_dict(self.burn),
        }


def _burn_dict(verdict: Burn | None) -> dict[str, Any] | None:
    if verdict is None:
        return None
    ratio = verdict.ratio
    return {
        "level": verdict.level.label,
        "judged": verdict.enough_history,  # False: fewer than the baseline's days of readings
        "rate_per_hour": None if verdict.short_rate is None else round(verdict.short_rate, 4),
        "usual_per_hour": None if verdict.usual is None else round(verdict.usual, 4),
        "ratio": None if ratio is None or ratio == float("inf") else round(ratio, 2),
    }


def status_rows(monitors: Sequence[Monitor], stored: dict[str, StoredMonitor]) -> list[MeterStatus]:
    """Every meter of every monitor, sorted by what needs attention first."""
    rows: list[MeterStatus] = []
    for monitor in monitors:
        rows += monitor_rows(monitor, stored.get(monitor.id) or StoredMonitor({}, []))
    return sorted(rows, key=lambda row: row.attention)


def monitor_rows(monitor: Monitor, stored: StoredMonitor) -> list[MeterStatus]:
    check = _check_status(stored)
    good = stored.last_good or (stored.latest if stored.latest and stored.latest.error is None else None)
    trimmed = next((r for r in stored.window if r.error is None), None)
    reading = good or trimmed
    conditions = _raised_conditions(monitor, stored, check)
    if reading is None or not reading.meters:
        return [_row(monitor, None, reading, stored, check), *conditions]
    return [*(_row(monitor, meter, reading, stored, check) for meter in reading.meters), *conditions]


def _raised_conditions(monitor: Monitor, stored: StoredMonitor, check: CheckStatus) -> list[MeterStatus]:
    """A row per raised condition (a subscription inactive, a key expiring): facts without a
    figure that need attention all the same. Its text comes from the newest reading with it."""
    rows = []
    for key, state in sorted(stored.states.items()):
        if not key.startswith(_CONDITION) or state.level is Level.OK:
            continue
        name = key.removeprefix(_CONDITION)
        said = next(
            (c.message for s in (stored.latest, stored.last_good) if s for c in s.conditions if c.name == name), ""
        )
        provider = stored.latest.provider if stored.latest else monitor.provider
        rows.append(
            MeterStatus(
                monitor.id, provider, check, key, level=state.level, level_signal=key, since=state.since, condition=said
            )
        )
    return rows


def _check_status(stored: StoredMonitor) -> CheckStatus:
    newest = stored.window[0] if stored.window else stored.latest
    state = stored.states.get(CHECK_KEY)
    raised = state is not None and state.level is not Level.OK
    error = None
    if newest is not None and newest.error is not None:
        # The window keeps only the kind of a failure; the snapshot has its message.
        full = stored.latest if stored.latest and stored.latest.checked_at == newest.checked_at else None
        error = full.error if full and full.error else newest.error
    return CheckStatus(
        at=newest.checked_at if newest else None,
        error=error,
        level=state.level if state else Level.OK,
        failing_since=state.since if raised and state else None,
    )


def _row(
    monitor: Monitor, meter: Meter | None, reading: Snapshot | None, stored: StoredMonitor, check: CheckStatus
) -> MeterStatus:
    provider = reading.provider if reading else (stored.latest.provider if stored.latest else monitor.provider)
    if meter is None or reading is None:
        return MeterStatus(monitor.id, provider, check)
    state = _raised(stored.states, meter.name)
    history = [r for r in stored.window if r.checked_at < reading.checked_at]
    # The forecast reads the rows the check reads; the burn every row, back to 8 days.
    recent = [r for r in stored.window[:WINDOW_SIZE] if r.checked_at < reading.checked_at]
    trend = period_forecast(meter, reading, recent)
    burn_state = stored.states.get(burn_signal_key(meter.name))
    was = burn_state.level if burn_state else Level.OK
    settings = monitor.thresholds_for(meter.name).burn
    burning = meter_burn(meter, reading, Window.of(history), settings, was, monitor.policy.hysteresis / 100)
    return MeterStatus(
        monitor=monitor.id,
        provider=provider,
        meter=meter.name,
        unit=meter.unit,
        used=meter.used,
        limit=meter.limit,
        remaining=meter.remaining,
        percent=meter.percent_used,
        level=state.level if state else Level.OK,
        level_signal=state.key if state else None,
        since=state.since if state else None,
        trend=trend,
        period_end=reading.period.end if reading.period else None,
        read_at=reading.checked_at,
        check=check,
        burn=burning,
    )


def _raised(states: dict[str, SignalState], meter: str) -> SignalState | None:
    """The meter's state, or its forecast's or burn's when that one is higher (a run-out ahead,
    a pace far above the usual)."""
    found = None
    for key in (meter_signal_key(meter), forecast_signal_key(meter), burn_signal_key(meter)):
        state = states.get(key)
        if state is not None and (found is None or state.level > found.level):
            found = state
    return found


def with_silences(rows: list[MeterStatus], silences: Iterable[Silence], at: datetime) -> list[MeterStatus]:
    """The rows with `silenced_until` set where a silence holds their signal at `at`."""
    held = in_force(silences, at)
    if not held:
        return rows
    marked = []
    for row in rows:
        signal = row.level_signal
        if signal is None and row.meter is not None:
            # A condition's row is named by its signal (condition:<name>); a meter's is not.
            signal = row.meter if row.condition is not None else meter_signal_key(row.meter)
        hold = hold_of(held, row.monitor, signal, at) if signal else None
        marked.append(replace(row, silenced_until=hold.until) if hold is not None else row)
    return marked
