"""Messages a person reads in five seconds: an email and an SMS for each alert decision.

Never raw JSON: a subject with the level, monitor, meter, percent and reset date; a body
with every meter of the monitor, the trend, and what to do; an SMS of at most 160 GSM-7
characters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from quotawatch.core import formatting as fmt
from quotawatch.core.alerts import Decision, Notice
from quotawatch.core.burn_messages import burn_headline, burn_line, burn_sms
from quotawatch.core.forecast import Forecast
from quotawatch.core.formatting import SMS_MAX as SMS_MAX  # re-exported: where messages are
from quotawatch.core.formatting import SUBJECT_MAX as SUBJECT_MAX
from quotawatch.core.formatting import sms_line, subject_line
from quotawatch.core.rules import CHECK_KEY, Level, Signal, as_read
from quotawatch.core.snapshot import ErrorKind, Meter, Snapshot

_CHECK_TROUBLE = {
    ErrorKind.AUTH: "the key was rejected",
    ErrorKind.RATE_LIMITED: "the provider keeps refusing with 429 (rate limited)",
    ErrorKind.UNAVAILABLE: "the provider is not answering",
    ErrorKind.BAD_RESPONSE: "the provider's answer cannot be read",
    ErrorKind.CONFIG: "its configuration needs fixing",
    ErrorKind.INTERNAL: "QuotaWatch itself failed while checking it",
    ErrorKind.NO_KEY: "its key is not in the secret yet",  # never raised (core/rules.py): for completeness
}
_CHECK_ADVICE = {
    ErrorKind.AUTH: "put a valid key where the error says; the next check clears this alert.",
    ErrorKind.RATE_LIMITED: "check less often (ScheduleExpression), or ask the provider for a higher rate limit.",
    ErrorKind.UNAVAILABLE: "nothing, unless it lasts: QuotaWatch keeps trying and says when it can check again.",
    ErrorKind.BAD_RESPONSE: "the provider changed its answer; run `quotawatch fetch --json` and report what it prints.",
    ErrorKind.CONFIG: "fix what the error names; the next check clears this alert.",
    ErrorKind.INTERNAL: "look up the error in the check function's log; QuotaWatch keeps trying.",
    ErrorKind.NO_KEY: "put the key into the secret's field; the next check takes its first reading.",
}


@dataclass(frozen=True)
class Message:
    subject: str
    email: str
    sms: str
    severity: str  # info | warning | critical: subscription filters select on it
    monitor: str
    provider: str
    kind: str  # alert | reminder | recovery | test | digest (core/digest.py)

    def to_dict(self) -> dict[str, str]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Message:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


def render(
    decision: Decision, snapshot: Snapshot, provider_name: str, trends: dict[str, Forecast] | None = None
) -> Message:
    snapshot = as_read(snapshot)  # figures that cannot be true are not listed as a reading
    signal = decision.signal
    notice = decision.notice or Notice.RAISED
    level = decision.current
    shown_level = decision.previous if notice is Notice.REMINDER else level
    headline = _headline(signal, notice, decision.previous, snapshot)
    reset = snapshot.period.end if snapshot.period and snapshot.period.end else None
    dated = reset is not None and signal.family == "meter" and notice in (Notice.RAISED, Notice.REMINDER, Notice.STILL)
    tag = "OK" if level is Level.OK else level.name
    reminder = "Reminder: " if notice is Notice.REMINDER else ""
    if signal.key == CHECK_KEY and level is not Level.OK:
        subject = f"[{tag}] {reminder}Cannot monitor {snapshot.monitor}: {headline}"
        sms_text = f"QuotaWatch {tag}: {reminder}cannot monitor {snapshot.monitor}: {headline}"
    else:
        subject = f"[{tag}] {reminder}{snapshot.monitor}: {headline}" + (
            f", resets {fmt.day(reset)}" if dated and reset else ""
        )
        detail = signal.condition.message if signal.condition and level is not Level.OK else headline
        sms_text = f"QuotaWatch {tag}: {reminder}{snapshot.monitor} {detail}"
        if dated and reset:
            sms_text += f", resets {reset:%Y-%m-%d}"
        if signal.family == "forecast" and level is not Level.OK and _budget(signal):
            sms_text += "; slow down or raise the budget"
    if signal.burn is not None and level is not Level.OK and notice is not Notice.STILL:
        sms_text = burn_sms(snapshot.monitor, signal.subject, signal.burn)
        sms_text = sms_text.replace("QuotaWatch ", "QuotaWatch Reminder: ", 1) if reminder else sms_text
    if notice is Notice.STILL:  # a silence ended on a signal still raised (core/silences.py)
        ended = (decision.silence_ended or decision.state.since).astimezone(UTC)
        # The subject keeps what matters within its 99 characters; SMS and email say it in full.
        subject = f"[{tag}] {snapshot.monitor}: {headline} (still, silence ended {fmt.day(ended)} {ended:%H:%M} UTC)"
        sms_text = (
            f"QuotaWatch {tag}: {snapshot.monitor} still {level.label} after the silence that ended at "
            f"{_ended(decision)}: {headline}"
        )
    context = _EmailContext(decision, notice, shown_level, snapshot, provider_name, headline, trends or {})
    return Message(
        subject=subject_line(subject),
        email=_email(context),
        sms=sms_line(sms_text),
        severity="info" if level is Level.OK else level.label,
        monitor=snapshot.monitor,
        provider=snapshot.provider,
        kind={
            Notice.REMINDER: "reminder",
            Notice.STILL: "reminder",
            Notice.CLEARED: "recovery",
            Notice.RESET: "recovery",
        }.get(notice, "alert"),
    )


def _ended(decision: Decision) -> str:
    return fmt.timestamp(decision.silence_ended or decision.state.since)


def render_test(now: datetime, monitors: int) -> Message:
    """A synthetic message through the real topic, so a user can check the subscriptions."""
    return Message(
        subject="[TEST] QuotaWatch test alert: your subscriptions work",
        email="\n".join(
            [
                "This is a test alert from QuotaWatch. Nothing is wrong; no action is needed.",
                "",
                f"It was sent at {fmt.timestamp(now)} through the same topic as real alerts, so receiving",
                "it means this address (or phone) is subscribed and confirmed. "
                f"QuotaWatch watches {monitors} monitor{'s' if monitors != 1 else ''}.",
                "",
                "-- QuotaWatch",
            ]
        ),
        sms="QuotaWatch TEST: this is a test alert. Your subscription works; no action needed.",
        # Critical, so that it passes the SMS subscription's filter too: the test must reach both.
        severity="critical",
        monitor="test",
        provider="quotawatch",
        kind="test",
    )


def _headline(signal: Signal, notice: Notice, previous: Level, snapshot: Snapshot) -> str:
    meter = signal.meter
    if signal.key == CHECK_KEY:
        if signal.level is Level.OK:
            return "checks work again"
        # Short enough for a subject; the email body gives the count of failed checks.
        return _CHECK_TROUBLE[signal.error.kind if signal.error else ErrorKind.UNAVAILABLE]
    if signal.family == "forecast":
        name = signal.key.split(":", 1)[1]
        budget = _budget(signal)
        if signal.level is Level.OK or signal.forecast is None or signal.forecast.runs_out_at is None:
            return f"{name} no longer on track to " + ("reach its budget" if budget else "run out")
        if budget:
            return f"{name} reaches its {budget} budget around {fmt.day(signal.forecast.runs_out_at)} at this pace"
        verb = "runs out" if meter is None or _is_balance(meter) else "reaches its limit"
        return f"{name} {verb} around {fmt.day(signal.forecast.runs_out_at)} at the current rate"
    if signal.family == "burn":
        return burn_headline(signal.key.split(":", 1)[1], signal.burn)
    if signal.family == "condition":
        return signal.subject if signal.level is not Level.OK else f"{signal.subject}: no longer reported"
    # Meters.
    figure = _figure(meter)
    if notice is Notice.RESET:
        return f"{signal.subject} reset with the new billing period" + (f" ({figure})" if figure else "")
    if signal.level is Level.OK:
        return f"{signal.subject} back to normal" + (f" ({figure})" if figure else "")
    if notice is Notice.EASED:
        return f"{signal.subject} down to {figure} (was {previous.label})"
    if meter is not None and meter.limit is not None and meter.percent_used is None:
        if meter.limit <= 0 and signal.level is Level.CRITICAL:
            return f"{signal.subject} used with no allowance ({figure})"
        return f"{signal.subject} at {figure}"
    if meter is not None and _floor_breached(signal):
        return f"{meter.name} down to {fmt.quantity(meter.remaining, meter.unit)} left"
    budget = _budget(signal)
    return f"{signal.subject} at {figure} of " + (f"its {budget} budget" if budget else "limit")


def _is_balance(meter: Meter) -> bool:
    """Money or credits that run out, rather than a quota that is reached."""
    return meter.limit is None or meter.unit in ("USD", "credits")


def _budget(signal: Signal) -> str | None:
    """The monitor's own budget for the signal's meter, as a figure ("$200.00"); None: none."""
    meter, thresholds = signal.meter, signal.thresholds
    if meter is None or thresholds is None or not thresholds.budgets(meter):
        return None
    return fmt.quantity(meter.limit, meter.unit)


def _figure(meter: Meter | None) -> str:
    if meter is None:
        return ""
    if meter.percent_used is not None:
        return fmt.percent(meter.percent_used)
    if meter.limit is not None:  # a limit of 0, or no usage figure: no percent to give
        return fmt.fraction(meter.used, meter.limit, meter.unit)
    if meter.remaining is not None:
        return f"{fmt.quantity(meter.remaining, meter.unit)} left"
    return ""


def _floor_breached(signal: Signal) -> bool:
    meter, thresholds = signal.meter, signal.thresholds
    if meter is None or thresholds is None or meter.remaining is None:
        return False
    floors = [f for f in (thresholds.floor_warning, thresholds.floor_critical) if f is not None]
    return any(meter.remaining <= f for f in floors) or meter.limit is None


@dataclass(frozen=True)
class _EmailContext:
    """What an email body is written from."""

    decision: Decision
    notice: Notice
    level: Level  # as shown: a reminder shows the level it reminds of
    snapshot: Snapshot
    provider_name: str
    headline: str
    trends: Mapping[str, Forecast]


def _email(context: _EmailContext) -> str:
    decision, notice, level, snapshot = context.decision, context.notice, context.level, context.snapshot
    headline, trends = context.headline, context.trends
    signal = decision.signal
    who = f"{snapshot.monitor} ({context.provider_name})"
    lines: list[str] = []
    if signal.key == CHECK_KEY:
        lines += _check_email(decision, who, headline)
    elif notice in (Notice.CLEARED, Notice.RESET):
        lines.append(f"{who}: {headline}. It was {decision.previous.label}; no action needed.")
    else:
        still = (
            f"still {level.label.upper()}, since {fmt.timestamp(decision.state.since)}"
            if notice in (Notice.REMINDER, Notice.STILL)
            else level.label.upper()
        )
        lines.append(f"{who} is {still}: {headline}.")
        if notice is Notice.STILL:
            lines.append(f"A silence held its alerts; it ended at {_ended(decision)}.")
        lines += _detail(signal)
    if snapshot.meters:
        budgeted = signal.meter.name if signal.meter is not None and _budget(signal) else None
        table = _meter_table(snapshot.meters, trends, budgeted)
        lines += ["", f"All meters at {fmt.timestamp(snapshot.checked_at)}:", *table]
    if snapshot.conditions:
        lines += ["", *(f"  ! {c.severity.value}: {c.message}" for c in snapshot.conditions)]
    if snapshot.period is not None and snapshot.period.end is not None:
        start = f"{fmt.day(snapshot.period.start)} to " if snapshot.period.start else "until "
        lines += ["", f"Billing period: {start}{fmt.day(snapshot.period.end)}."]
    if signal.key != CHECK_KEY and notice not in (Notice.CLEARED, Notice.RESET):
        lines += ["", "What to do: " + _advice(signal)]
    lines += ["", "-- QuotaWatch"]
    return "\n".join(lines)


def _check_email(decision: Decision, who: str, headline: str) -> list[str]:
    signal = decision.signal
    if signal.level is Level.OK:
        return [f"QuotaWatch can check {who} again: {headline}. Alerts about its usage resume."]
    kind = signal.error.kind if signal.error else ErrorKind.UNAVAILABLE
    lines = [f"QuotaWatch cannot check {who}: {headline}.", ""]
    if signal.failures > 1:
        lines.append(f"The last {signal.failures} checks in a row failed.")
    if signal.error is not None:
        lines.append(f"Last error: {signal.error.message}")
    lines += [
        "Its usage is unknown until a check works again; nothing is read as zero or as a breach.",
        "",
        "What to do: " + _CHECK_ADVICE[kind],
    ]
    return lines


def _detail(signal: Signal) -> list[str]:
    meter, thresholds, trend = signal.meter, signal.thresholds, signal.forecast
    lines: list[str] = []
    if signal.condition is not None:
        lines += ["", signal.condition.message.rstrip(".") + "."]
    if signal.burn is not None and meter is not None:
        lines += ["", burn_line(meter.name, signal.burn) + "."]
    if meter is not None and thresholds is not None:
        used = fmt.fraction(meter.used, meter.limit, meter.unit) + " used" if meter.limit is not None else ""
        left = f"{fmt.quantity(meter.remaining, meter.unit)} left" if meter.remaining is not None else ""
        rules = []
        if meter.limit is not None:
            rules.append(
                f"warning at {fmt.number(thresholds.warning)}%, critical at {fmt.number(thresholds.critical)}%"
            )
        if thresholds.floor_warning is not None:
            rules.append(f"warning below {fmt.quantity(thresholds.floor_warning, meter.unit)} left")
        if thresholds.floor_critical is not None:
            rules.append(f"critical below {fmt.quantity(thresholds.floor_critical, meter.unit)} left")
        lines += [
            "",
            f"{meter.name}: " + ", ".join(p for p in (used, left) if p) + ". " + "; ".join(rules).capitalize() + ".",
        ]
    if trend is not None and trend.per_day > 0:
        rate = f"At the current rate ({fmt.quantity(trend.per_day, trend.unit)} a day)"
        if trend.runs_out_at is not None:
            verb = (
                "reaches the budget"
                if _budget(signal)
                else "runs out"
                if meter is None or _is_balance(meter)
                else "reaches the limit"
            )
            lines.append(f"{rate} it {verb} around {fmt.timestamp(trend.runs_out_at)}.")
        else:
            lines.append(f"{rate} it does not run out within ten years.")
    return lines


def _meter_table(meters: tuple[Meter, ...], trends: Mapping[str, Forecast], budgeted: str | None) -> list[str]:
    rows: list[tuple[str, str, str]] = []
    for m in meters:
        if m.limit is not None:
            figure = fmt.fraction(m.used, m.limit, m.unit)
        elif m.used is not None:
            figure = f"{fmt.quantity(m.used, m.unit)} (no limit)"
        else:
            figure = f"{fmt.quantity(m.remaining, m.unit)} remaining"
        pct = m.percent_used
        if pct is not None:
            figure += f" ({fmt.percent(pct)})"
        trend = trends.get(m.name)
        note = ""
        if trend is not None and trend.per_day > 0:
            note = f"+{fmt.quantity(trend.per_day, trend.unit)}/day"
            if trend.runs_out_at is not None:
                what = "budget" if m.name == budgeted else "runs out" if _is_balance(m) else "limit"
                note += f", {what} ~{fmt.day(trend.runs_out_at)}"
        rows.append((m.name, figure, note))
    name_width = max((len(r[0]) for r in rows), default=0)
    figure_width = max((len(r[1]) for r in rows), default=0)
    return [f"  {n:<{name_width}}  {f:<{figure_width}}  {t}".rstrip() for n, f, t in rows]


def _advice(signal: Signal) -> str:
    if signal.condition is not None:
        return "check the account with the provider (billing page, plan, key settings)."
    meter = signal.meter
    balance = meter is not None and _is_balance(meter)
    if signal.family == "burn":
        return (
            "if nobody expects this pace, look for a leaked key or a job in a loop (rotate the key, stop the job). "
            "This alert clears when the pace is back to usual."
        )
    if _budget(signal) and meter is not None:
        return (
            f"slow down or raise the budget (meters.{meter.name}.limit of the monitor). "
            "The budget is QuotaWatch's own: the provider does not stop requests at it."
        )
    if signal.family == "forecast":
        return (
            "add credit before it runs out."
            if balance
            else "upgrade the plan or slow down before the limit is reached; requests are refused after it."
        )
    if balance or _floor_breached(signal):
        return "add credit now; requests are refused when the balance reaches zero."
    if signal.level is Level.CRITICAL:
        return (
            "requests will soon be refused. Upgrade the plan or add credit now, "
            "or pause the heaviest jobs until the period resets."
        )
    return "watch the trend; upgrade the plan or reduce usage before the period resets."
