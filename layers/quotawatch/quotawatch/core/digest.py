"""The daily digest: one message saying how every monitor stands, and that QuotaWatch runs.

Its first line says whether anything needs attention, so the email is skimmed in two
seconds; below it, every monitor with each meter's use, trend per day and forecast date,
what is raised and since when, what is silenced, and the checks that failed in the last
day, and the spend against each budget a monitor sets. It is a heartbeat too: it comes every
day while QuotaWatch runs, all well or not.

Pure: from the status rows (core/status.py), the failed checks the store counted and the
raised signals of "QuotaWatch itself"; times are shown in the digest's zone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from quotawatch.core import formatting as fmt
from quotawatch.core.alerts import SignalState
from quotawatch.core.burn import Burn
from quotawatch.core.burn_messages import burn_line
from quotawatch.core.formatting import sms_line, subject_line
from quotawatch.core.messages import Message
from quotawatch.core.record import QueuedMessage
from quotawatch.core.rules import Level
from quotawatch.core.self_messages import SELF_MONITOR
from quotawatch.core.silences import Silence
from quotawatch.core.status import MeterStatus

DIGEST_SIGNAL = "digest"
DIGEST_KIND = "digest"
FAILURES_OVER = timedelta(days=1)  # failed checks are counted over the last day
# Each section lists this many at most, then says how many more: a digest of thousands of
# monitors stays far under SNS's 256 KB (and DynamoDB's 400 KB item), and readable.
LISTED_UP_TO = 100
# No line longer than this (names are the user's, conditions the provider's): a phrase
# list stops where it would pass it and says how many more; a single line is cut.
LINE_MAX = 160


@dataclass(frozen=True)
class FailedChecks:
    """A monitor's checks that failed in the last day."""

    count: int
    last_at: datetime


@dataclass(frozen=True)
class DigestInput:
    at: datetime  # the digest's time: the schedule's tick
    zone: ZoneInfo
    rows: Sequence[MeterStatus]  # every monitor's rows, as `status_rows` sorts them
    failures: Mapping[str, FailedChecks]  # by monitor; those without failures are absent
    itself: Mapping[str, SignalState]  # the raised signals of "QuotaWatch itself"
    # The silences in force, one line each (silence_lines), or none.
    silences: Sequence[str] = ()
    schedule: str = ""  # as the stack's DigestSchedule says it, for the footer
    # The limits monitors set of their own (`meters: {cost_this_month: {limit: 200}}`), by
    # (monitor, meter): a meter read against one of them is spend against a budget.
    budgets: Mapping[tuple[str, str], float] = field(default_factory=dict)


def queued_digest(data: DigestInput) -> QueuedMessage:
    """The digest as a message item of "QuotaWatch itself", keyed by its day in its zone: one
    digest a day, so a second event for the same day (a duplicate delivery, a retry, a manual
    invoke) finds it stored and adds nothing."""
    local_day = data.at.astimezone(data.zone).date()
    start = datetime.combine(local_day, time(0), data.zone)
    return QueuedMessage.for_decision(SELF_MONITOR, DIGEST_SIGNAL, 0, start, render_digest(data))


def render_digest(data: DigestInput) -> Message:
    monitors = list(dict.fromkeys(row.monitor for row in data.rows))
    by_monitor: dict[str, list[MeterStatus]] = {}
    for row in data.rows:
        by_monitor.setdefault(row.monitor, []).append(row)
    attention = _attention(data)
    day = f"{data.at.astimezone(data.zone):%a %b} {data.at.astimezone(data.zone).day}"
    count = f"{len(monitors)} monitor{'s' if len(monitors) != 1 else ''}"
    waiting = [m for m in monitors if by_monitor[m][0].check.waiting]
    if attention:
        first = _listed(f"{len(attention)} need{'s' if len(attention) == 1 else ''} attention: ", attention, most=3)
        need = f"{len(attention)} need{'s' if len(attention) == 1 else ''} attention"
        subject = f"[DIGEST] QuotaWatch {day}: {need}, {attention[0]}"
        sms = f"QuotaWatch digest {day}: {need}, {attention[0]}"
    else:
        first = f"All is well: {count}, nothing raised, no failed check in the last day."
        if waiting:
            first = f"All is well: {count} ({len(waiting)} waiting for a key), nothing raised, no failed check."
        subject = f"[DIGEST] QuotaWatch {day}: all is well ({count})"
        sms = f"QuotaWatch digest {day}: all is well ({count})."
    lines = [first, ""]
    lines += _capped(_raised_section(data), 1 + LISTED_UP_TO)
    burning = [f"  {row.monitor} {burn_line(row.meter or '', b)}" for row in data.rows if (b := _burning(row))]
    lines += ["", "Burning faster than usual:", *_capped(burning or ["  none"], LISTED_UP_TO)]
    silenced = [f"  {line}" for line in data.silences] or ["  none"]
    lines += ["", "Silenced:", *_capped(silenced, LISTED_UP_TO)]
    lines += ["", "Failed checks in the last day:", *_capped(_failures_section(data, monitors), LISTED_UP_TO)]
    budgets = _budget_section(data)
    if budgets:
        lines += ["", "Spend against budget:", *_capped(budgets, LISTED_UP_TO)]
    if waiting:
        lines += ["", _listed("Waiting for their key (not checked until it is in the secret): ", waiting)]
    lines += ["", f"Every monitor ({_moment(data.at, data.zone)}):"]
    for monitor in monitors[:LISTED_UP_TO]:
        lines += _monitor_section(monitor, by_monitor[monitor], data.zone)
    if len(monitors) > LISTED_UP_TO:
        lines += ["", f"and {len(monitors) - LISTED_UP_TO} more monitors: `quotawatch status` lists them all."]
    when = f" ({data.schedule}, {data.zone.key})" if data.schedule else ""
    lines += [
        "",
        f"This digest comes once a day{when} while QuotaWatch runs.",
        "If a day passes without it, QuotaWatch is not running: look at the stack's alarms and logs.",
        "",
        "-- QuotaWatch",
    ]
    return Message(
        subject=subject_line(subject),
        email="\n".join(_cut(line) for line in lines),
        sms=sms_line(sms),
        severity="info",  # never critical: the SMS subscription's filter leaves it out
        monitor=SELF_MONITOR,
        provider="quotawatch",
        kind=DIGEST_KIND,
    )


def silence_lines(silences: Sequence[Silence], at: datetime, zone: ZoneInfo) -> list[str]:
    """Each silence in force, one line: what it matches, until when, who set it and why."""
    lines = []
    for silence in silences:
        until = silence.holds_until(at)
        when = f"until {_moment(until, zone)}" if until is not None else "until unmuted"
        every = f" (every {silence.every.text()})" if silence.every is not None else ""
        lines.append(f"{silence.pattern} {when}{every}, by {silence.author}: {silence.reason} [{silence.id}]")
    return lines


def _listed(head: str, items: list[str], most: int = LISTED_UP_TO) -> str:
    """`head` and as many of `items` as fit in LINE_MAX (`most` at most), then how many more."""
    line, shown = head, 0
    for item in items[:most]:
        more = len(items) - shown - 1
        tail = f"; and {more} more" if more else ""
        if shown and len(line) + 2 + len(item) + len(tail) > LINE_MAX:
            break
        line += ("; " if shown else "") + item
        shown += 1
    return line + (f"; and {len(items) - shown} more" if shown < len(items) else "")


def _cut(line: str) -> str:
    return line if len(line) <= LINE_MAX else line[: LINE_MAX - 3] + "..."


def _capped(lines: list[str], most: int) -> list[str]:
    if len(lines) <= most:
        return lines
    return [*lines[:most], f"  and {len(lines) - most} more"]


def _attention(data: DigestInput) -> list[str]:
    """One short phrase per thing that needs attention, the most urgent first."""
    found: list[str] = []
    for signal, state in sorted(data.itself.items()):
        found.append(f"QuotaWatch itself {state.level.label} ({signal.removeprefix('self:')})")
    checks: dict[str, str] = {}
    for row in data.rows:  # sorted by what needs attention first
        if row.check.level is not Level.OK:
            kind = f" ({row.check.error.kind.value})" if row.check.error else ""
            checks.setdefault(row.monitor, f"{row.monitor} cannot be checked{kind}")
        elif row.check.failed and row.check.error is not None:
            checks.setdefault(row.monitor, f"{row.monitor}: last check failed ({row.check.error.kind.value})")
        # A silenced signal is known to someone: it stays under Raised, marked, not here.
        if row.meter is not None and row.level is not Level.OK and row.silenced_until is None:
            found.append(f"{row.monitor} {_signal_name(row)} {row.level.label}" + _percent(row))
    for monitor, failed in data.failures.items():
        plural = "s" if failed.count != 1 else ""
        checks.setdefault(monitor, f"{monitor}: {failed.count} failed check{plural} in the last day")
    # A monitor that cannot be checked first: its figures are old.
    raised = [phrase for phrase in checks.values() if "cannot be checked" in phrase]
    found[len(data.itself) : len(data.itself)] = raised
    found += [phrase for phrase in checks.values() if "cannot be checked" not in phrase]
    return found


def _signal_name(row: MeterStatus) -> str:
    name = (row.meter or "").removeprefix("condition:")
    family = row.level_signal.split(":", 1)[0] if row.level_signal else ""
    return f"{name} ({family})" if family in ("forecast", "burn") else name


def _burning(row: MeterStatus) -> Burn | None:
    """The burn verdict when, at the digest's last reading, the meter burns at its alert's pace."""
    return row.burn if row.meter is not None and row.burn is not None and row.burn.level is not Level.OK else None


def _percent(row: MeterStatus) -> str:
    return f" ({fmt.percent(row.percent)})" if row.percent is not None and row.condition is None else ""


def _raised_section(data: DigestInput) -> list[str]:
    lines = ["Raised:"]
    for signal, state in sorted(data.itself.items()):
        lines.append(
            f"  {state.level.label.upper()} QuotaWatch itself: {signal} since {_moment(state.since, data.zone)}"
        )
    for row in data.rows:
        if row.check.level is not Level.OK and row.check.failing_since is not None:
            line = f"  {row.check.level.label.upper()} {row.monitor}: cannot be checked since "
            line += _moment(row.check.failing_since, data.zone)
            if line not in lines:
                lines.append(line)
        if row.meter is not None and row.level is not Level.OK:
            since = f" since {_moment(row.since, data.zone)}" if row.since else ""
            what = f": {row.condition}" if row.condition else _percent(row)
            held = f", silenced until {_moment(row.silenced_until, data.zone)}" if row.silenced_until else ""
            lines.append(f"  {row.level.label.upper()} {row.monitor} {_signal_name(row)}{what}{since}{held}")
    return lines if len(lines) > 1 else ["Raised: none"]


def _failures_section(data: DigestInput, monitors: list[str]) -> list[str]:
    lines = []
    for monitor in monitors:
        failed = data.failures.get(monitor)
        if failed is None:
            continue
        plural = "s" if failed.count != 1 else ""
        lines.append(
            f"  {monitor}: {failed.count} failed check{plural}, the last at {_moment(failed.last_at, data.zone)}"
        )
    return lines or ["  none"]


def _budget_section(data: DigestInput) -> list[str]:
    """Each meter read against a budget of its monitor's own: how much of it is spent, and when
    it is reached at the pace of this period. A provider's own limit is not a budget (the
    monitor's applies only to a meter reported without one), so it is not listed here."""
    lines = []
    for row in sorted(data.rows, key=lambda r: (r.monitor, r.meter or "")):
        budget = data.budgets.get((row.monitor, row.meter or ""))
        if budget is None or row.limit != budget or row.condition is not None:
            continue
        spent = f"{fmt.fraction(row.used, row.limit, row.unit)} budget"
        if row.percent is not None:
            spent += f" ({fmt.percent(row.percent)})"
        lines.append(f"  {row.monitor} {row.meter}: {spent}, {_budget_pace(row, data.zone)}")
    return lines


def _budget_pace(row: MeterStatus, zone: ZoneInfo) -> str:
    if row.used is not None and row.limit is not None and row.used >= row.limit:
        return "budget reached"
    if row.trend is None:
        return "too few readings for a pace yet"
    if row.runs_out_at is None:
        return "not reached at this pace"
    if not row.runs_out_this_period and row.period_end is not None:
        return f"not reached at this pace before the reset {_day(row.period_end, zone)}"
    return f"at this pace reached ~{_day(row.runs_out_at, zone)}"


def _monitor_section(monitor: str, rows: list[MeterStatus], zone: ZoneInfo) -> list[str]:
    check = rows[0].check
    if check.at is None:
        last = "never checked"
    elif check.waiting:
        last = "waiting for its key"
    elif check.error is not None:
        last = f"last check {_moment(check.at, zone)} failed: {check.error.kind.value}"
    else:
        last = f"last check {_moment(check.at, zone)}"
    lines = ["", f"{monitor} ({rows[0].provider}), {last}"]
    meters = [r for r in rows if r.meter is not None and r.condition is None]
    if not meters:
        lines.append("  no reading yet")
    table = [_meter_cells(row, zone) for row in meters]
    widths = [max((len(cells[i]) for cells in table), default=0) for i in range(4)]
    for cells in table:
        lines.append("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(cells)).rstrip())
    for row in rows:
        if row.condition is not None:
            lines.append(f"  ! {row.level.label}: {row.condition}")
    return lines


def _meter_cells(row: MeterStatus, zone: ZoneInfo) -> list[str]:
    if row.limit is not None:
        use = fmt.fraction(row.used, row.limit, row.unit)
        use += f" ({fmt.percent(row.percent)})" if row.percent is not None else ""
    elif row.used is not None:
        use = f"{fmt.quantity(row.used, row.unit)} (no limit)"
    else:
        use = f"{fmt.quantity(row.remaining, row.unit)} left"
    trend = "-"
    if row.trend is not None and row.trend.per_day == 0:
        return [row.meter or "", use, "flat", "" if row.level is Level.OK else row.level.label.upper()]
    if row.trend is not None:
        per_day = row.trend.per_day if row.limit is not None or row.used is not None else -row.trend.per_day
        sign = "+" if per_day > 0 else "-" if per_day < 0 else ""
        trend = f"{sign}{fmt.quantity(abs(per_day), row.unit)}/day"
    if row.trend is None:
        forecast = ""
    elif row.runs_out_at is None:
        forecast = "not running out"
    elif not row.runs_out_this_period and row.period_end is not None:
        forecast = f"not before reset {_day(row.period_end, zone)}"
    else:
        forecast = f"{'limit' if row.limit is not None else 'runs out'} ~{_day(row.runs_out_at, zone)}"
    level = "" if row.level is Level.OK else row.level.label.upper()
    return [row.meter or "", use, trend, f"{forecast}  {level}".strip()]


def _moment(at: datetime, zone: ZoneInfo) -> str:
    local = at.astimezone(zone)
    return f"{local:%b} {local.day} {local:%H:%M} {local.tzname()}"


def _day(at: datetime, zone: ZoneInfo) -> str:
    local = at.astimezone(zone)
    return f"{local:%b} {local.day}"
