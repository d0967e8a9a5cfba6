"""Numbers and dates as a person reads them, never wider than a person reads at a glance.

Whatever a figure is, its text is short: large figures are abbreviated ("4.2 billion") or
in scientific form ("1.0e+18"), percentages stop at ">999%", and a figure that is not a
number at all (nan, infinity) or a negative percent reads "?".
"""

from __future__ import annotations

import math
import unicodedata
from datetime import UTC, datetime

_BYTE_UNITS = ("B", "KB", "MB", "GB", "TB", "PB", "EB")
_WORDS = ((1e9, "billion"), (1e12, "trillion"))
PERCENT_SHOWN_MAX = 999  # beyond this a percentage reads ">999%"
UNKNOWN = "?"


def quantity(value: float | None, unit: str) -> str:
    """842 calls, 1.5 GB, 384,200 ms, $4.50."""
    if value is None or not _finite(value):
        return UNKNOWN
    if unit == "bytes":
        return _bytes(value)
    if unit == "USD":
        sign = "-" if value < 0 else ""
        return f"{sign}${abs(value):,.2f}" if abs(value) < _WORDS[0][0] else f"{sign}${number(abs(value))}"
    return f"{number(value)} {unit}".rstrip()


def fraction(used: float | None, limit: float | None, unit: str) -> str:
    """'820 of 1,000 calls', '1.0 GB of 5.0 GB', '$1.20 of $5.00'."""
    if unit in ("bytes", "USD"):
        return f"{quantity(used, unit)} of {quantity(limit, unit)}"
    shown = number(used) if used is not None else "?"
    return f"{shown} of {quantity(limit, unit)}"


def number(value: float) -> str:
    """842, 384,200, 1.5, 4.2 billion, 1.0e+18; '?' for nan and infinity."""
    if not _finite(value):
        return UNKNOWN
    value = float(value)
    if abs(value) >= _WORDS[0][0]:
        for scale, word in reversed(_WORDS):
            shown = round(value / scale, 1)
            if 1 <= abs(shown) < 1000:  # 999.96 billion reads 1 trillion
                return f"{shown:.1f}".removesuffix(".0") + f" {word}"
        return f"{value:.1e}"
    if value.is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _bytes(value: float) -> str:
    size = float(value)
    for unit in _BYTE_UNITS:
        if abs(size) < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{float(value):.1e} B"


def percent(value: float) -> str:
    """Whole percent, except just under a limit where 99.6% must not read as 100%.

    Past 999% it reads ">999%"; a negative or unknown percentage is no reading: "?".
    """
    if not _finite(value):
        return f">{PERCENT_SHOWN_MAX}%" if value == math.inf else UNKNOWN
    value += 0.0  # -0.0 (nothing used of a negative-zero figure) reads as 0%, never "-0%"
    if value < 0:
        return UNKNOWN
    if value > PERCENT_SHOWN_MAX:
        return f">{PERCENT_SHOWN_MAX}%"
    if 99 < value < 100:
        return f"{value:.1f}%"
    return f"{value:.0f}%"


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer past float range
        return False


def day(value: datetime) -> str:
    """'Dec 1' - short enough for a subject line and an SMS."""
    value = value.astimezone(UTC)
    return f"{value:%b} {value.day}"


def timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


# --- subjects and texts as SNS and phones take them ---------------------------------------

SMS_MAX = 160
SUBJECT_MAX = 99  # SNS: "must be less than 100 characters"

# GSM 03.38 basic set: anything else forces UCS-2 and cuts an SMS to 70 characters.
_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)


def subject_line(text: str) -> str:
    """A subject as SNS takes it: printable ASCII on one line, under 100 characters."""
    return _ascii(text)[:SUBJECT_MAX]


def sms_line(text: str) -> str:
    """An SMS text: GSM-7 characters only, at most 160 of them."""
    return _gsm7(text)[:SMS_MAX]


def _ascii(text: str) -> str:
    """Subjects must be printable ASCII with no line breaks or other control characters."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join("".join(ch if ch.isprintable() else " " for ch in folded).split())


def _gsm7(text: str) -> str:
    folded = _ascii(text)
    return "".join(ch if ch in _GSM7 else "?" for ch in folded)
