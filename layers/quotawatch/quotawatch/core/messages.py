"""Messages a person reads in five seconds: an email and an SMS per alert transition."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from quotawatch.core import formatting as fmt
from quotawatch.core.alerts import Transition
from quotawatch.core.rules import Level
from quotawatch.core.snapshot import Meter, Snapshot

SMS_MAX = 160
SUBJECT_MAX = 99  # SNS: "must be less than 100 characters"

# GSM 03.38 basic set: anything else forces UCS-2 and cuts an SMS to 70 characters.
_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)


@dataclass(frozen=True)
class Message:
    subject: str
    email: str
    sms: str
    severity: str
    monitor: str
    provider: str
    kind: str  # "alert" | "recovery"


def render(transition: Transition, snapshot: Snapshot, provider_name: str) -> Message:
    signal = transition.signal
    meter = signal.meter
    level = transition.current
    reset = snapshot.period.end if snapshot.period and snapshot.period.end else None

    if transition.is_clear:
        headline = f"{signal.subject} back to normal"
        if meter is not None and meter.percent_used is not None:
            headline += f" ({fmt.percent(meter.percent_used)})"
        subject = f"[OK] {snapshot.monitor}: {headline}"
    else:
        headline = _headline(signal.subject, meter)
        subject = f"[{level.name}] {snapshot.monitor}: {headline}"
        if reset is not None:
            subject += f", resets {fmt.day(reset)}"

    return Message(
        subject=_ascii(subject)[:SUBJECT_MAX],
        email=_email_body(transition, snapshot, provider_name, headline),
        # A condition's own words say more than its name, when they fit in the SMS.
        sms=_sms(
            level,
            snapshot.monitor,
            signal.condition.message if signal.condition and not transition.is_clear else headline,
            reset.strftime("%Y-%m-%d") if reset else None,
        ),
        severity="info" if level is Level.OK else level.label,
        monitor=snapshot.monitor,
        provider=snapshot.provider,
        kind="recovery" if transition.is_clear else "alert",
    )


def _headline(subject: str, meter: Meter | None) -> str:
    if meter is not None and meter.percent_used is not None:
        return f"{subject} at {fmt.percent(meter.percent_used)} of limit"
    return subject


def _email_body(transition: Transition, snapshot: Snapshot, provider_name: str, headline: str) -> str:
    level = transition.current
    signal = transition.signal
    lines: list[str] = []
    if transition.is_clear:
        lines.append(
            f"{snapshot.monitor} ({provider_name}): {headline}. It was {transition.previous.label}; no action needed."
        )
    else:
        lines.append(f"{snapshot.monitor} ({provider_name}) is {level.label.upper()}: {headline}.")
        if signal.condition is not None:
            lines.append("")
            lines.append(signal.condition.message.rstrip(".") + ".")
        if signal.meter is not None and signal.thresholds is not None:
            m = signal.meter
            lines.append("")
            lines.append(
                f"{m.name}: {fmt.fraction(m.used, m.limit, m.unit)} used"
                + (f", {fmt.quantity(m.remaining, m.unit)} left" if m.remaining is not None else "")
                + f". Warning at {fmt.number(signal.thresholds.warning)}%, "
                f"critical at {fmt.number(signal.thresholds.critical)}%."
            )
    lines.append("")
    lines.append(f"All meters at {fmt.timestamp(snapshot.checked_at)}:")
    lines.extend(_meter_table(snapshot.meters))
    for condition in snapshot.conditions:
        lines.append(f"  ! {condition.severity.value}: {condition.message}")
    if snapshot.period is not None and snapshot.period.end is not None:
        start = f"{fmt.day(snapshot.period.start)} to " if snapshot.period.start else "until "
        lines.append("")
        lines.append(f"Billing period: {start}{fmt.day(snapshot.period.end)}.")
    if not transition.is_clear:
        lines.append("")
        lines.append("What to do: " + _advice(transition))
    lines.append("")
    lines.append("-- QuotaWatch")
    return "\n".join(lines)


def _meter_table(meters: tuple[Meter, ...]) -> list[str]:
    rows: list[str] = []
    width = max((len(m.name) for m in meters), default=0)
    for m in meters:
        if m.limit is not None:
            figure = fmt.fraction(m.used, m.limit, m.unit)
        elif m.used is not None:
            figure = f"{fmt.quantity(m.used, m.unit)} (no limit)"
        else:
            figure = f"{fmt.quantity(m.remaining, m.unit)} remaining"
        pct = m.percent_used
        rows.append(f"  {m.name:<{width}}  {figure}" + (f"  ({fmt.percent(pct)})" if pct is not None else ""))
    return rows


def _advice(transition: Transition) -> str:
    signal = transition.signal
    if signal.condition is not None:
        return "check the account's billing page with the provider."
    if transition.current is Level.CRITICAL:
        return (
            "requests will soon be refused. Upgrade the plan or add credit now, "
            "or pause the heaviest jobs until the period resets."
        )
    return "watch the trend; upgrade the plan or reduce usage before the period resets."


def _sms(level: Level, monitor: str, headline: str, reset: str | None) -> str:
    text = f"QuotaWatch {level.name if level is not Level.OK else 'OK'}: {monitor} {headline}"
    if reset and level is not Level.OK:
        text += f", resets {reset}"
    return _gsm7(text)[:SMS_MAX]


def _ascii(text: str) -> str:
    """Subjects must be printable ASCII with no line breaks or other control characters."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join("".join(ch if ch.isprintable() else " " for ch in folded).split())


def _gsm7(text: str) -> str:
    folded = _ascii(text)
    return "".join(ch if ch in _GSM7 else "?" for ch in folded)
