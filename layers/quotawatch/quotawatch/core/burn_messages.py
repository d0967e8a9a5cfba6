"""What a burn alert says: one line for the email and the digest, and an SMS.

"spending $41/h (last 30 min), 23x the usual $1.80/h; at this pace the limit is reached
in 9 h, 6 days before the period ends". Pure: the verdict carries every figure.
"""

from __future__ import annotations

import math

from quotawatch.core.burn import HOUR, Burn
from quotawatch.core.formatting import number, quantity, sms_line
from quotawatch.core.level import Level


def burn_line(meter: str, verdict: Burn) -> str:
    """The burn of one meter in a sentence; says so when there is too little history to judge."""
    if not verdict.enough_history or verdict.short_rate is None:
        return f"{meter}: fewer than {verdict.settings.baseline_days} days of readings, burn not judged yet"
    window = duration(verdict.settings.short)
    line = f"{meter}: {_rate(verdict.short_rate, verdict.unit)} (last {window}), {_times(verdict)} the usual"
    line += f" {_rate(verdict.usual, verdict.unit)}"
    run_out = _run_out(verdict)
    return f"{line}; at this pace {run_out}" if run_out else line


def burn_headline(meter: str, verdict: Burn | None) -> str:
    """A subject's few words: 'openrouter spend burning 23x faster than usual'."""
    if verdict is None or verdict.level is Level.OK:
        return f"{meter} burning at its usual pace again"
    return f"{meter} burning {_times(verdict)} faster than usual".replace("far above faster", "far faster")


def burn_sms(monitor: str, meter: str, verdict: Burn) -> str:
    """At most 160 GSM-7 characters: level, where, the rate against the usual, when it runs out."""
    head = f"QuotaWatch {verdict.level.label.upper()} {monitor} {meter} burn:"
    if verdict.short_rate is None:
        return sms_line(f"{head} not judged yet")
    usual = _rate(verdict.usual, verdict.unit)
    text = f"{head} {_rate(verdict.short_rate, verdict.unit)}, {_times(verdict)} usual {usual}"
    if verdict.hours_left is not None:
        text += f"; gone in {duration(verdict.hours_left * HOUR)}"
        if verdict.spare is not None and verdict.spare > 0 and verdict.period_end is not None:
            text += f", {duration(verdict.spare)} early"
    return sms_line(text)


def duration(seconds: float) -> str:
    """'20 min', '9 h', '6 days': as precise as a person needs at a glance."""
    if seconds < HOUR:
        return f"{max(round(seconds / 60), 1)} min"
    if seconds < 48 * HOUR:
        return f"{round(seconds / HOUR)} h"
    return f"{round(seconds / (24 * HOUR))} days"


def _rate(per_hour: float | None, unit: str) -> str:
    if per_hour is None:
        return "?"
    return f"{quantity(per_hour, unit)}/h"


def _times(verdict: Burn) -> str:
    ratio = verdict.ratio
    if ratio is None or math.isinf(ratio):
        return "far above"
    return f"{number(round(ratio, 1) if ratio < 10 else round(ratio))}x"


def _run_out(verdict: Burn) -> str | None:
    if verdict.hours_left is None:
        return None
    what = "the limit is reached" if verdict.limited else "the credit is gone"
    text = f"{what} in {duration(verdict.hours_left * HOUR)}"
    if verdict.spare is None or verdict.spare <= 0 or verdict.period_end is None:
        return text
    return f"{text}, {duration(verdict.spare)} before the period ends"
